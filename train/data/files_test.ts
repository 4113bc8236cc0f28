import assert from "node:assert/strict";
import { parquetWriteBuffer } from "hyparquet-writer";
import {
  readAclImdb,
  readCsv,
  readJsonl,
  readLabeledFile,
  readParquet,
} from "./files.ts";

const dir = await Deno.makeTempDir({ prefix: "train_files_" });
const enc = new TextEncoder();

Deno.test("CSV: quotes, commas, newlines, configurable columns, string labels", async () => {
  const p = `${dir}/a.csv`;
  await Deno.writeTextFile(
    p,
    'id,review,sentiment\n1,"great, ""really"" good\nfilm",positive\n2,bad,negative\r\n',
  );
  const rows = await readCsv(p, { labelColumn: "sentiment" });
  assert.deepEqual(rows, [{ text: 'great, "really" good\nfilm', label: 1 }, {
    text: "bad",
    label: 0,
  }]);
});

Deno.test("JSONL and Parquet read text and label columns", async () => {
  const j = `${dir}/a.jsonl`;
  await Deno.writeTextFile(
    j,
    '{"text":"hello","label":1}\n\n{"text":"bye","label":0}\n',
  );
  assert.deepEqual(await readJsonl(j), [{ text: "hello", label: 1 }, {
    text: "bye",
    label: 0,
  }]);
  const q = `${dir}/a.parquet`;
  const buf = parquetWriteBuffer({
    columnData: [
      {
        name: "review",
        data: ["one movie", "two movie", "three"],
        type: "STRING",
      },
      { name: "label", data: [0, 1, 2], type: "INT32" },
    ],
  });
  await Deno.writeFile(q, new Uint8Array(buf));
  assert.deepEqual(await readParquet(q, { classes: 3 }), [
    { text: "one movie", label: 0 },
    { text: "two movie", label: 1 },
    { text: "three", label: 2 },
  ]);
  await assert.rejects(
    readParquet(q),
    /a\.parquet: row 2: field "label": expected an integer in \[0, 2\), received 2/,
  );
});

Deno.test("bad input: each error names the file and the field", async () => {
  const p = `${dir}/b.csv`;
  await Deno.writeTextFile(p, "body,label\nx,1\n");
  await assert.rejects(
    readCsv(p, { textColumn: "text" }),
    /b\.csv: column "text": expected a text column named "text", received columns \["body","label"\]/,
  );
  await Deno.writeTextFile(p, "text,label\nx,1\n ,0\n");
  await assert.rejects(
    readCsv(p),
    /b\.csv: line 3: field "text": expected non-empty text/,
  );
  await Deno.writeTextFile(p, "text,label\nx,7\n");
  await assert.rejects(
    readCsv(p),
    /b\.csv: line 2: field "label": expected an integer in \[0, 2\), received "7"/,
  );
  await Deno.writeFile(
    p,
    new Uint8Array([
      ...enc.encode("text,label\nok,1\nbad "),
      0xff,
      0xfe,
      ...enc.encode(",0\n"),
    ]),
  );
  await assert.rejects(readCsv(p), /b\.csv: line 3 \(byte 20\): invalid UTF-8/);
  const j = `${dir}/b.jsonl`;
  await Deno.writeTextFile(
    j,
    '{"text":"a","label":0}\n{"txt":"b","label":1}\n',
  );
  await assert.rejects(readJsonl(j), /b\.jsonl: line 2: field "text": missing/);
  await assert.rejects(
    readLabeledFile(`${dir}/x.xlsx`),
    /x\.xlsx: expected a \.csv, \.jsonl, \.ndjson or \.parquet file/,
  );
});

Deno.test("aclImdb layout: neg → 0, pos → 1; invalid UTF-8 names the file", async () => {
  const root = `${dir}/aclImdb`;
  for (const s of ["train", "test"]) {
    for (const c of ["neg", "pos"]) {
      await Deno.mkdir(`${root}/${s}/${c}`, { recursive: true });
      await Deno.writeTextFile(`${root}/${s}/${c}/0_1.txt`, `${s} ${c} review`);
    }
  }
  const { train, test } = await readAclImdb(root);
  assert.deepEqual(train, [{ text: "train neg review", label: 0 }, {
    text: "train pos review",
    label: 1,
  }]);
  assert.equal(test.length, 2);
  await Deno.writeFile(
    `${root}/test/pos/1_9.txt`,
    new Uint8Array([0x61, 0xc3, 0x28]),
  );
  await assert.rejects(
    readAclImdb(root),
    /test\/pos\/1_9\.txt: line 1 \(byte 1\): invalid UTF-8/,
  );
  await assert.rejects(
    readAclImdb(`${dir}/nothing`),
    /expected the aclImdb layout/,
  );
});
