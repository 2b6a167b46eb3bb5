import assert from "node:assert/strict";
import * as fc from "fast-check";
import { PATH_PLACEHOLDER, redactPaths } from "./redact.ts";

Deno.test("redactPaths removes the paths store errors carry and keeps the advice", () => {
  const cases: [string, string][] = [
    [
      "writing the object failed with ENOSPC: the disk is full: free space or point the data " +
      "directory elsewhere (/srv/fr/data/blobs/.data/ab12.tmp)",
      "writing the object failed with ENOSPC: the disk is full: free space or point the data " +
      "directory elsewhere (<path>)",
    ],
    [
      "storing the upload failed: Not a directory (os error 20): rename '/tmp/fr-x/data/a' -> " +
      "'/tmp/fr-x/data/b'",
      "storing the upload failed: Not a directory (os error 20): rename '<path>' -> '<path>'",
    ],
    ["at open (file:///work/wt/cloud/local/store.ts:12:3)", "at open (<path>)"],
    ["database C:\\fr\\data\\cloud.db is locked", "database <path> is locked"],
  ];
  for (const [input, expected] of cases) assert.equal(redactPaths(input), expected);
});

Deno.test("redactPaths leaves routes, media types, URLs and numbers alone", () => {
  for (
    const text of [
      "no answer within requestTimeoutMs = 60000; the result stays available at GET /requests/0b0",
      'Content-Type "text/plain" is not multipart/form-data; send the image',
      "no such route; POST / with multipart field inputFile",
      "EC2 metadata at http://169.254.169.254/latest/api/token did not answer",
      "1/2 of the workers, image/jpeg",
      // A worker's not-ready reason cuts paths to their last two segments itself.
      "workers cannot become ready: readfile '…/fr-models-x1/models' failed",
    ]
  ) assert.equal(redactPaths(text), text);
});

Deno.test("redactPaths: no absolute path of two or more segments survives, wherever it sits", () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9._@+-]{1,12}$/);
  fc.assert(
    fc.property(
      fc.array(segment, { minLength: 2, maxLength: 6 }),
      fc.constantFrom("", "failed: ", "open '", "(", " at ", "\n"),
      fc.constantFrom("", "'", ")", ": ENOSPC", " is full", ","),
      (segments, before, after) => {
        fc.pre(segments[0] !== "requests");
        const path = "/" + segments.join("/");
        const out = redactPaths(`${before}${path}${after}`);
        return !out.includes(path) && out.includes(PATH_PLACEHOLDER);
      },
    ),
  );
});
