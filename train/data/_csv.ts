/**
 * RFC 4180 CSV parsing: quoted fields, doubled quotes, CRLF or LF rows.
 *
 * @module
 */

/**
 * Parses CSV text into rows of fields.
 * @param text the CSV text.
 * @param file file name for error messages.
 * @returns rows, each with the line number where it starts.
 * @throws Error naming the file and line of an unterminated quote.
 */
export function parseCsv(
  text: string,
  file: string,
): { fields: string[]; line: number }[] {
  const rows: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = 0;
  let quoteLine = 0;
  const endRow = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === "")) {
      rows.push({ fields, line: rowLine });
    }
    fields = [];
    field = "";
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (c === "\n") line++;
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field === "") {
      quoted = true;
      quoteLine = line;
    } else if (c === ",") {
      fields.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
      line++;
      rowLine = line;
    } else field += c;
    i++;
  }
  if (quoted) {
    throw new Error(
      `${file}: line ${quoteLine}: expected a closing quote, received end of file`,
    );
  }
  if (field !== "" || fields.length > 0) endRow();
  return rows;
}
