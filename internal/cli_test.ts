import assert from "node:assert/strict";
import {
  batchConsole,
  checkedUsage,
  EXIT_USAGE,
  integerFlag,
  parseCommandLine,
  readFailureReason,
  runCli,
  type TerminalStream,
  UsageError,
} from "./cli.ts";

const FLAGS = { json: { type: "boolean" }, gallery: { type: "string" } } as const;

Deno.test("parseCommandLine reads flags and positionals; --help and -h win over a mistake", () => {
  const line = parseCommandLine(["--json", "a.jpg", "--gallery", "g"], FLAGS, {
    positionals: true,
  });
  assert.notEqual(line, "help");
  if (line === "help") return;
  assert.deepEqual({ ...line.values }, { json: true, gallery: "g" });
  assert.deepEqual(line.positionals, ["a.jpg"]);
  assert.equal(parseCommandLine(["-h"], FLAGS), "help");
  assert.equal(parseCommandLine(["--bogus", "--help"], FLAGS), "help");
  // After "--" everything is a positional, even "--help".
  const after = parseCommandLine(["--", "--help"], FLAGS, { positionals: true });
  assert.deepEqual(after !== "help" && after.positionals, ["--help"]);
});

Deno.test("parseCommandLine names the flag in one line for each kind of mistake", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /^--bogus: unknown flag; see --help$/],
    [["-z"], /^-z: unknown flag; see --help$/],
    [["--gallery"], /^--gallery: needs a value$/],
    [["--json=yes"], /^--json: takes no value$/],
    [["x.jpg"], /^"x\.jpg": unexpected argument; see --help$/],
    [["--gallery", "--json"], /^--gallery: needs a value \(write --gallery=VALUE/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseCommandLine(args, FLAGS), (error: Error) => {
      assert.ok(error instanceof UsageError, args.join(" "));
      assert.match(error.message, message);
      assert.ok(!error.message.includes("\n"), `one line: ${JSON.stringify(error.message)}`);
      return true;
    });
  }
});

Deno.test("integerFlag takes integers in range and names the flag otherwise", () => {
  assert.equal(integerFlag("--n", "7", 1, 10), 7);
  for (const text of ["0", "11", "2.5", "seven", ""]) {
    assert.throws(() => integerFlag("--n", text, 1, 10), /^UsageError: --n: must be an integer/);
  }
});

Deno.test("runCli prints the usage on stdout for --help (exit 0), one line on stderr for a mistake (exit 2)", async () => {
  const usage = "Usage: demo [--json] [--gallery G]";
  const spec = { name: "demo", usage, options: FLAGS } as const;
  const run = async (args: string[], body = () => 0) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(spec, args, body, {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    return { code, out, err };
  };
  assert.deepEqual(await run(["--help"]), { code: 0, out: [usage], err: [] });
  assert.deepEqual(await run(["-h"]), { code: 0, out: [usage], err: [] });
  assert.deepEqual(await run(["--nope"]), {
    code: EXIT_USAGE,
    out: [],
    err: ["demo: --nope: unknown flag; see --help"],
  });
  const thrown = await run([], () => {
    throw new UsageError("no IMAGE given");
  });
  assert.deepEqual(thrown, { code: EXIT_USAGE, out: [], err: ["demo: no IMAGE given"] });
  assert.equal((await run(["--json"], () => 1)).code, 1);
  await assert.rejects(() =>
    run([], () => {
      throw new TypeError("a bug keeps its stack");
    }), TypeError);
});

/** A stream that records what was written, a terminal or not. */
function fakeStream(terminal: boolean): TerminalStream & { text(): string } {
  const chunks: Uint8Array[] = [];
  return {
    isTerminal: () => terminal,
    writeSync(bytes) {
      chunks.push(bytes.slice());
      return bytes.length;
    },
    text: () => new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
  };
}

/** Writes three results with an error between them, ticking after each. */
function runBatch(stderrTerminal: boolean) {
  const stdout = fakeStream(false);
  const stderr = fakeStream(stderrTerminal);
  const io = batchConsole("recognize", 3, { stdout, stderr, barChars: 6 });
  io.out("test_00:Paul");
  io.tick(1);
  io.err("recognize: nope.jpg: no such file or directory");
  io.tick(2);
  io.out("test_02:Emily");
  io.tick(3);
  io.end();
  return { stdout: stdout.text(), stderr: stderr.text() };
}

Deno.test("batchConsole shows no progress at all when stderr is not a terminal", () => {
  const { stdout, stderr } = runBatch(false);
  assert.equal(stdout, "test_00:Paul\ntest_02:Emily\n");
  assert.equal(stderr, "recognize: nope.jpg: no such file or directory\n");
});

Deno.test("batchConsole draws the bar on a terminal's stderr and clears it before every other line", () => {
  const { stdout, stderr } = runBatch(true);
  assert.equal(stdout, "test_00:Paul\ntest_02:Emily\n");
  const CLEAR = "\r\x1b[2K";
  const bar = (n: number) => `recognize [${"#".repeat(n * 2)}${".".repeat(6 - n * 2)}] ${n}/3`;
  // Each redraw starts with a clear; the error line is written on a cleared line and the bar is
  // drawn again below it; the end clears the bar.
  assert.equal(
    stderr,
    `${CLEAR}${bar(1)}` +
      `${CLEAR}recognize: nope.jpg: no such file or directory\n${bar(1)}` +
      `${CLEAR}${bar(2)}` +
      `${CLEAR}${bar(2)}` + // around the second result: cleared, result on stdout, redrawn
      `${CLEAR}${bar(3)}` +
      CLEAR,
  );
});

Deno.test("batchConsole on a terminal clears the bar before each stdout line (shared screen)", () => {
  // One stream for both, as when stdout and stderr are the same terminal.
  const screen = fakeStream(true);
  const io = batchConsole("embed", 2, { stdout: screen, stderr: screen, barChars: 4 });
  io.tick(1);
  io.out("{}");
  io.tick(2);
  io.end();
  const text = screen.text();
  // The bar, then a clear, then the result at column 0: never "…1/2{}".
  // deno-lint-ignore no-control-regex -- the terminal's erase-line escape is what is checked
  assert.match(text, /embed \[##\.\.\] 1\/2\r\x1b\[2K\{\}\n/);
  assert.doesNotMatch(text, /\d\/\d\{/);
});

Deno.test("readFailureReason says why a read failed in a few words, without the OS error", () => {
  const reasonOf = (path: string) => {
    try {
      Deno.readFileSync(path);
    } catch (error) {
      return readFailureReason(error);
    }
    return "read";
  };
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/file`, "x");
    assert.equal(reasonOf(`${dir}/missing`), "no such file or directory");
    assert.equal(reasonOf(dir), "is a directory, not a file");
    assert.equal(reasonOf(`${dir}/file/inside`), "not a directory");
    assert.equal(reasonOf(`${dir}/file`), "read");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("checkedUsage refuses a usage text that leaves a flag out, and --help then fails loudly", async () => {
  const options = { json: { type: "boolean" }, "min-score": { type: "string" } } as const;
  const spec = { name: "x", usage: "Usage: x [--json] [--min-score S]", options };
  assert.equal(checkedUsage(spec), spec.usage);
  // `--min` does not count as mentioning `--min-score`, nor `--json-lines` `--json`.
  const slipped = { name: "x", usage: "Usage: x [--json-lines] [--min]", options };
  assert.throws(
    () => checkedUsage(slipped),
    /x: the usage text does not mention --json, --min-score/,
  );
  await assert.rejects(() => runCli(slipped, ["--help"], () => 0), /does not mention/);
});
