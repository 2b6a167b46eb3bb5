import assert from "node:assert/strict";
import * as fc from "fast-check";
import { validateKey } from "../cloud/blob_store.ts";
import { FileNameError, parseUploadName } from "./file_name.ts";

Deno.test("parseUploadName keeps a plain base name as the key and drops the last extension for the stem", () => {
  assert.deepEqual(parseUploadName("test_000.jpg"), { key: "test_000.jpg", stem: "test_000" });
  assert.deepEqual(parseUploadName("a.b.png"), { key: "a.b.png", stem: "a.b" });
  assert.deepEqual(parseUploadName("noext"), { key: "noext", stem: "noext" });
  assert.deepEqual(parseUploadName("(1)!-'*.JPG"), { key: "(1)!-'*.JPG", stem: "(1)!-'*" });
});

Deno.test("parseUploadName refuses paths, hidden names, control characters and odd characters, naming the rule", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["../../x.jpg", /base name only/],
    ["/etc/passwd", /base name only/],
    ["C:\\Users\\x.jpg", /base name only/],
    ["..", /starting with \./],
    [".", /starting with \./],
    [".hidden.jpg", /starting with \./],
    ["a\u0000.jpg", /control/],
    ["a\nb.jpg", /control/],
    ["a\u007f.jpg", /control/],
    ["my photo.jpg", /only letters/],
    ["é.jpg", /only letters/],
    ["a%2F..jpg", /only letters/],
    ["x".repeat(201), /fileNameCharsMax = 200/],
  ];
  for (const [name, rule] of cases) {
    assert.throws(() => parseUploadName(name), (e: Error) => {
      assert.ok(e instanceof FileNameError, `${JSON.stringify(name)}: ${e}`);
      assert.match(e.message, rule, JSON.stringify(name));
      return true;
    });
  }
});

Deno.test("parseUploadName honours a custom length limit and refuses a bad limit setting", () => {
  assert.throws(() => parseUploadName("abcdef.jpg", 5), /fileNameCharsMax = 5/);
  assert.throws(() => parseUploadName("a.jpg", 0), RangeError);
  assert.throws(() => parseUploadName("a.jpg", 1000), /STEM_CHARS_MAX/);
});

Deno.test("parseUploadName accepts only names that are single-segment valid blob keys", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: "binary", maxLength: 260 }),
        fc.stringMatching(/^[A-Za-z0-9!\-_.*'()\/\\ ]{1,210}$/),
      ),
      (name) => {
        let parsed;
        try {
          parsed = parseUploadName(name);
        } catch (error) {
          assert.ok(error instanceof FileNameError);
          return;
        }
        validateKey(parsed.key);
        assert.ok(!parsed.key.includes("/") && !parsed.key.startsWith("."));
        assert.ok(parsed.stem.length > 0 && parsed.key.startsWith(parsed.stem));
      },
    ),
    { seed: 4601, numRuns: 1000 },
  );
});
