import assert from "node:assert/strict";
import * as fc from "fast-check";
import { imageNameProblem, LABELS_CSV_ROWS_MAX, parseLabelsCsv } from "./labels_csv.ts";
import { LabelsCsvError } from "./errors.ts";
import { datasetFile } from "../../testing/datasets.ts";

const LABELS_100 = datasetFile("labels_100.csv");

Deno.test({
  name: "parseLabelsCsv reads the course's labels_100.csv: 100 rows, 8 names",
  ignore: !LABELS_100,
}, async () => {
  const text = await Deno.readTextFile(LABELS_100!);
  const { rows, problems, duplicates } = parseLabelsCsv(text);
  assert.equal(rows.length, 100);
  assert.deepEqual(problems, []);
  assert.deepEqual(duplicates, []);
  assert.deepEqual(rows[0], { line: 2, image: "test_00", label: "Paul" });
  assert.equal(new Set(rows.map((r) => r.label)).size, 8);
});

Deno.test("parseLabelsCsv accepts a BOM, CRLF, CR and blank lines", () => {
  const text = "\ufeffImage,Results\r\ntest_00,Paul\r\n\r\ntest_01,Emily\rtest_02,Bob\n\n";
  assert.deepEqual(parseLabelsCsv(text).rows, [
    { line: 2, image: "test_00", label: "Paul" },
    { line: 4, image: "test_01", label: "Emily" },
    { line: 5, image: "test_02", label: "Bob" },
  ]);
});

Deno.test("parseLabelsCsv unquotes fields and reports what a quoted field smuggles in", () => {
  const text = 'Image,Results\n"test_00","Paul"\n"test_01","Mary ""MK"" Kate"\n' +
    '"test_02","Smith, John"\ntest_03,"Ann\nLee"\ntest_04, Bob \n';
  const { rows, problems } = parseLabelsCsv(text);
  assert.deepEqual(rows.map((r) => [r.image, r.label]), [["test_00", "Paul"], ["test_04", "Bob"]]);
  assert.deepEqual(problems.map((p) => p.line), [3, 4, 5]);
  assert.match(problems[0].message, /label "Mary \\"MK\\" Kate" may only contain/);
  assert.match(problems[1].message, /label "Smith, John"/);
  assert.match(problems[2].message, /label "Ann\\nLee"/);
});

Deno.test("parseLabelsCsv reports wrong field counts, unsafe image names and reserved labels", () => {
  const text = "Image,Results\n" + [
    "test_00",
    "test_01,Paul,extra",
    "../etc/passwd,Paul",
    ".hidden,Paul",
    "a/b,Paul",
    "C:\\x,Paul",
    ",Paul",
    "test_07,",
    "test_08,Unknown",
    "test_09,NoFace",
    "test_10,Pa:ul",
  ].join("\n");
  const { rows, problems } = parseLabelsCsv(text);
  assert.deepEqual(rows, []);
  assert.equal(problems.length, 11);
  assert.match(problems[0].message, /expected 2 fields .* found 1/);
  assert.match(problems[1].message, /found 3/);
  for (const p of problems.slice(2, 6)) assert.match(p.message, /not a plain file name/);
  assert.match(problems[6].message, /image name "" is empty/);
  assert.match(problems[7].message, /label "" is empty/);
  assert.match(problems[8].message, /reserved/);
  assert.match(problems[9].message, /reserved/);
  assert.match(problems[10].message, /may only contain/);
});

Deno.test("parseLabelsCsv keeps a repeated row once and flags a contradicting one", () => {
  const text = "Image,Results\ntest_00,Paul\ntest_00,Paul\ntest_00,Emily\n";
  const { rows, problems, duplicates } = parseLabelsCsv(text);
  assert.deepEqual(rows, [{ line: 2, image: "test_00", label: "Paul" }]);
  assert.deepEqual(duplicates, [{ line: 3, image: "test_00", firstLine: 2 }]);
  assert.equal(problems.length, 1);
  assert.match(problems[0].message, /labelled "Emily" here but "Paul" on line 2/);
});

Deno.test("parseLabelsCsv refuses a wrong header, an empty file and broken quotes", () => {
  assert.throws(() => parseLabelsCsv("File,Label\nx,y\n"), /line 1: expected the header/);
  assert.throws(() => parseLabelsCsv(""), /empty/);
  assert.throws(() => parseLabelsCsv("\n\n"), LabelsCsvError);
  assert.throws(() => parseLabelsCsv('Image,Results\n"test_00,Paul\n'), /line 2: .*never closed/);
  assert.throws(() => parseLabelsCsv('Image,Results\n"test_00"x,Paul\n'), /after a quoted field/);
  assert.throws(() => parseLabelsCsv('Image,Results\ntest"00,Paul\n'), /quote inside/);
  assert.deepEqual(parseLabelsCsv("image , RESULTS\n").rows, []);
});

Deno.test("parseLabelsCsv enforces LABELS_CSV_ROWS_MAX", () => {
  const rows = Array.from({ length: LABELS_CSV_ROWS_MAX + 1 }, (_, i) => `t${i},P`);
  assert.throws(() => parseLabelsCsv("Image,Results\n" + rows.join("\n")), /LABELS_CSV_ROWS_MAX/);
});

Deno.test("parseLabelsCsv reads back any rows written with RFC 4180 quoting", () => {
  const quote = (s: string) => /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  const image = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_ .()+-]{0,8}$/).filter((s) =>
    imageNameProblem(s.trim()) === undefined && s === s.trim()
  );
  const label = fc.stringMatching(/^[A-Za-z][A-Za-z '.-]{0,8}[A-Za-z]$/);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(image, label), { selector: (r) => r[0], maxLength: 20 }),
      fc.constantFrom("\n", "\r\n"),
      fc.boolean(),
      (rows, eol, quoteAll) => {
        const q = quoteAll ? (s: string) => `"${s.replaceAll('"', '""')}"` : quote;
        const text = ["Image,Results", ...rows.map(([i, l]) => `${q(i)},${q(l)}`)].join(eol);
        const parsed = parseLabelsCsv(text);
        const expected = rows.filter(([, l]) => !/^(unknown|noface)$/i.test(l));
        assert.deepEqual(parsed.rows.map((r) => [r.image, r.label]), expected);
      },
    ),
  );
});
