import assert from "node:assert/strict";
import {
  matchOutput,
  outputLines,
  parseWalkthrough,
  WalkthroughFormatError,
} from "./walkthrough.ts";

const README = [
  "# Title",
  "```sh",
  "$ not in a section",
  "```",
  "<!-- walkthrough:begin first -->",
  "Prose.",
  "```sh",
  "$ echo hi",
  "hi",
  "$ deno task start &",
  '{"event":"listening"}',
  "…",
  "```",
  "More prose.",
  "```sh",
  "$ kill %1",
  "…",
  '{"event":"stopped"}',
  "```",
  "<!-- walkthrough:end -->",
  "<!-- walkthrough:begin course needs=a.zip,b.csv -->",
  "```sh",
  "$ unzip -q a.zip",
  "```",
  "<!-- walkthrough:end -->",
].join("\n");

Deno.test("parseWalkthrough reads commands, outputs, jobs and needs, in order", () => {
  const [first, course, ...rest] = parseWalkthrough(README);
  assert.equal(rest.length, 0);
  assert.equal(first.name, "first");
  assert.deepEqual(first.needs, []);
  assert.deepEqual(first.steps.map((s) => [s.command, s.expected, s.background, s.killsJob]), [
    ["echo hi", ["hi"], false, undefined],
    ["deno task start", ['{"event":"listening"}', "…"], true, undefined],
    ["kill %1", ["…", '{"event":"stopped"}'], false, 1],
  ]);
  assert.equal(first.steps[0].line, 8);
  assert.deepEqual(course.needs, ["a.zip", "b.csv"]);
  assert.deepEqual(course.steps.map((s) => s.command), ["unzip -q a.zip"]);
});

Deno.test("parseWalkthrough names the README line of a malformed walkthrough", () => {
  const cases: [string, RegExp][] = [
    ["<!-- walkthrough:begin x -->\n```sh\nhi\n```\n<!-- walkthrough:end -->", /:3: output before/],
    [
      "<!-- walkthrough:begin x -->\n```sh\n$ kill %1\n```\n<!-- walkthrough:end -->",
      /:3: kill %1/,
    ],
    ["<!-- walkthrough:begin x -->\n", /:1: walkthrough:begin without an end/],
    ["<!-- walkthrough:end -->", /:1: walkthrough:end without a begin/],
  ];
  for (const [markdown, message] of cases) {
    assert.throws(() => parseWalkthrough(markdown), (e: Error) => {
      assert.ok(e instanceof WalkthroughFormatError);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("matchOutput: literal lines, … as any lines and as any text within a line", () => {
  assert.equal(matchOutput(["a", "b"], ["a", "b"]), undefined);
  assert.equal(matchOutput(["a", "…", "z"], ["a", "z"]), undefined);
  assert.equal(matchOutput(["a", "…", "z"], ["a", "b", "c", "z"]), undefined);
  assert.equal(matchOutput(["…"], []), undefined);
  assert.equal(
    matchOutput(["total … s (… s per request)"], ["total 5.9 s (0.99 s per request)"]),
    undefined,
  );
  assert.equal(matchOutput(['{"x":421.27…,"y":1}'], ['{"x":421.2765282354779,"y":1}']), undefined);
  // Regular-expression characters in the README are literal.
  assert.ok(matchOutput(["a.c (x)"], ["abc (x)"]));
});

Deno.test("matchOutput names the first expected line that does not match, and the line found", () => {
  assert.deepEqual(matchOutput(["a", "b", "c"], ["a", "B", "c"]), {
    expectedIndex: 1,
    expectedLine: "b",
    actualLine: "B",
  });
  assert.deepEqual(matchOutput(["a"], ["a", "extra"]), {
    expectedIndex: 1,
    expectedLine: "(end of the expected output)",
    actualLine: "extra",
  });
  assert.deepEqual(matchOutput(["a", "b"], ["a"]), {
    expectedIndex: 1,
    expectedLine: "b",
    actualLine: "(end of the output)",
  });
  // After an elision, the line that never turned up is the one named.
  assert.equal(matchOutput(["…", "stopped"], ["x", "y"])?.expectedLine, "stopped");
  // A number written shorter than printed must still be its start.
  assert.equal(matchOutput(['"x":421.28…'], ['"x":421.2765'])?.expectedLine, '"x":421.28…');
});

Deno.test("outputLines drops deno task's own Task line and the final newline only", () => {
  assert.deepEqual(
    outputLines("Task recognize deno run model/cli/recognize.ts 'a.jpg'\na:Ada\n\nTasks: x\n"),
    ["a:Ada", "", "Tasks: x"],
  );
});
