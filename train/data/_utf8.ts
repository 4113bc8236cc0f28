/**
 * Strict UTF-8 decoding that names the file, line and byte of the first
 * invalid sequence.
 *
 * @module
 */

const strict = new TextDecoder("utf-8", { fatal: true });

/** Byte offset of the first invalid UTF-8 sequence, or -1 (RFC 3629 rules). */
function firstInvalid(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let n = 0;
    let min = 0;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = n === 0 ? c : c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (
      n > 0 && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    ) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * Decodes UTF-8 bytes, failing with the file, line and byte offset of the
 * first invalid sequence.
 * @param bytes file contents.
 * @param file file name for the message.
 * @returns the text (a leading BOM removed).
 * @throws Error `"<file>: line L (byte B): invalid UTF-8"`.
 */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return strict.decode(bytes).replace(/^\uFEFF/, "");
  } catch {
    const at = firstInvalid(bytes);
    let line = 1;
    for (let i = 0; i < Math.max(at, 0); i++) if (bytes[i] === 0x0a) line++;
    throw new Error(
      `${file}: line ${line} (byte ${at}): invalid UTF-8: expected UTF-8 text, received byte 0x${
        bytes[Math.max(at, 0)]?.toString(16).padStart(2, "0")
      }`,
    );
  }
}
