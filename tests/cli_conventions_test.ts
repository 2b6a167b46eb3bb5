/**
 * The command-line conventions, task by task, as a user meets them through `deno task`: `--help`
 * and `-h` print the command's own usage (exit 0); an unknown flag is one line naming it (exit 2);
 * a batch reports a missing input and goes on (exit 1); progress never reaches a pipe and never
 * shares a line with a result on a terminal; `--json` output parses; `NO_COLOR` leaves no colour;
 * binary output refuses a terminal unless `--output -`; `deno task` lists every task with a
 * description. Terminal behaviour is tested under a real pseudo-terminal (`script` from
 * util-linux); those tests are skipped, saying so, where `script` is missing.
 */
import assert from "node:assert/strict";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { ensureModels } from "../testing/models.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DENO_JSON = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
const TASKS: Record<string, { description?: string; command?: string } | string> = DENO_JSON.tasks;
/** A photo with several faces that ships with face-api (largest face first in its answers). */
const SAMPLE = `${ROOT}node_modules/@vladmandic/face-api/demo/sample1.jpg`;

/**
 * The tasks that take arguments. The rest take none: `test` and `check` are `deno test`/`deno
 * check` themselves, `compile`, `compile:recognize` and `package` build artifacts, and
 * `bench:cloud` runs `bench:cloud:queue` then `bench:cloud:blob` (which take the flags).
 */
const WITH_ARGUMENTS = [
  "serve",
  "start",
  "worker",
  "blobs",
  "aws",
  "settings:readme",
  "model:build",
  "recognize",
  "embed",
  "enroll",
  "loadgen",
  "sim",
  "bench:model",
  "bench:cloud:queue",
  "bench:cloud:blob",
  "bench:detection",
];
const WITHOUT_ARGUMENTS = [
  "test",
  "check",
  "compile",
  "compile:recognize",
  "package",
  "bench:cloud",
];

/** How many `deno task` processes run at once (the machine is small and shared). */
const SPAWNS_AT_ONCE = 4;

interface Run {
  readonly code: number;
  readonly stdout: string;
  /** stderr without `deno task`'s own "Task NAME COMMAND" line. */
  readonly stderr: string;
}

/** `deno task NAME ARGS...` from the repository, NO_COLOR set, stdout and stderr piped. */
async function task(name: string, args: readonly string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const text = new TextDecoder();
  const stderr = text.decode(out.stderr).split("\n").filter((l) => !/^Task \S+ /.test(l))
    .join("\n");
  return { code: out.code, stdout: text.decode(out.stdout), stderr } satisfies Run;
}

/** Runs `fn` over `items`, at most `limit` at once, results in order. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await fn(items[at]);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

/** The lines of a text, without the empty one after the last newline. */
function linesOf(text: string): string[] {
  return text.split("\n").filter((l, i, all) => !(l === "" && i === all.length - 1));
}

Deno.test("every task in deno.json has a description, and the argument-taking list covers them all", () => {
  for (const [name, task] of Object.entries(TASKS)) {
    assert.equal(typeof task, "object", `${name} is a bare command line, without a description`);
    if (typeof task !== "object") continue;
    assert.ok((task.description ?? "").length >= 20, `${name}: a description a reader can use`);
    assert.ok(!task.description!.includes("\n"), `${name}: one line`);
  }
  assert.deepEqual(
    [...WITH_ARGUMENTS, ...WITHOUT_ARGUMENTS].sort(),
    Object.keys(TASKS).sort(),
    "a new task must be added to WITH_ARGUMENTS (and so to these tests) or WITHOUT_ARGUMENTS",
  );
});

Deno.test("deno task lists the tasks with their descriptions", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const listing = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  for (const name of ["recognize", "enroll", "loadgen", "start"]) {
    const description = (TASKS[name] as { description: string }).description;
    assert.ok(listing.includes(description), `deno task shows ${name}'s description`);
  }
});

Deno.test("--help and -h print the command's own usage on stdout and exit 0, for every task that takes arguments", async () => {
  const runs = await pool(
    WITH_ARGUMENTS.flatMap((name) => [[name, "--help"], [name, "-h"]] as const),
    SPAWNS_AT_ONCE,
    async ([name, flag]) => ({ name, flag, run: await task(name, [flag]) }),
  );
  for (const { name, flag, run } of runs) {
    const what = `deno task ${name} ${flag}: ${run.stderr}`;
    assert.equal(run.code, 0, what);
    assert.match(run.stdout, /^Usage:/i, what);
    assert.ok(run.stdout.includes(`deno task ${name} `), `${what}: its own usage`);
    assert.equal(run.stderr.trim(), "", what);
  }
});

Deno.test("an unknown flag is one line on stderr naming it, exit 2, for every task that takes arguments", async () => {
  const runs = await pool(
    WITH_ARGUMENTS,
    SPAWNS_AT_ONCE,
    async (name) => ({ name, run: await task(name, ["--no-such-flag"]) }),
  );
  for (const { name, run } of runs) {
    const what = `deno task ${name} --no-such-flag: ${JSON.stringify(run.stderr)}`;
    assert.equal(run.code, 2, what);
    assert.equal(run.stdout, "", what);
    const lines = linesOf(run.stderr);
    assert.equal(lines.length, 1, what);
    assert.ok(lines[0].includes("--no-such-flag"), what);
  }
});

Deno.test("a bad value is one line naming the flag, exit 2", async () => {
  const cases: [string, string[], string][] = [
    ["recognize", ["--threads", "many", SAMPLE], "--threads"],
    ["loadgen", ["--url", "http://h/", "--images", "d", "--count", "0"], "--count"],
    ["sim", ["--seed", "x"], "--seed"],
    ["start", ["--max", "-3"], "--max"],
    ["bench:model", ["--runs", "3"], "--runs"],
  ];
  const runs = await pool(cases, SPAWNS_AT_ONCE, ([name, args]) => task(name, args));
  for (const [i, [name, args, flag]] of cases.entries()) {
    const run = runs[i];
    const what = `deno task ${name} ${args.join(" ")}: ${JSON.stringify(run.stderr)}`;
    assert.equal(run.code, 2, what);
    assert.equal(linesOf(run.stderr).length, 1, what);
    assert.ok(run.stderr.includes(flag), what);
  }
});

Deno.test("recognize and embed report a missing image in one line and go on with the others (exit 1), no progress in a pipe", async () => {
  await ensureModels();
  const empty = await Deno.makeTempDir({ prefix: "cli_conventions_empty_" });
  const recognized = await task("recognize", ["missing.jpg", empty, SAMPLE]);
  await Deno.remove(empty);
  assert.equal(recognized.code, 1, recognized.stderr);
  assert.match(recognized.stdout, /^sample1:\S+\n$/);
  assert.match(recognized.stderr, /^recognize: missing\.jpg: no such file or directory$/m);
  assert.ok(
    recognized.stderr.includes(`recognize: ${empty}: a folder with no image files in it\n`),
  );
  assert.match(recognized.stderr, /^recognize: 2 of 3 images failed$/m);
  assert.doesNotMatch(recognized.stderr, /os error|\[#|\r/);

  const json = await task("recognize", ["--json", "missing.jpg", SAMPLE]);
  assert.equal(json.code, 1);
  const answers = linesOf(json.stdout).map((l) => JSON.parse(l));
  assert.deepEqual(answers[0], {
    file: "missing.jpg",
    error: { code: "not_found", message: "no such file or directory" },
  });
  assert.ok(answers[1].faces.length >= 2);

  const embedded = await task("embed", [SAMPLE, "missing.jpg"]);
  assert.equal(embedded.code, 1, embedded.stderr);
  const [good, bad] = linesOf(embedded.stdout).map((l) => JSON.parse(l));
  assert.equal(good.faces[0].embedding.length, 128);
  assert.equal(bad.error.code, "not_found");
  assert.match(embedded.stderr, /^embed: missing\.jpg: no such file or directory$/m);
  assert.doesNotMatch(embedded.stderr, /\[#|\r/);
});

Deno.test("enroll goes on past an image that fails and exits 1; --json is its summary; a missing --csv is one line", async () => {
  await ensureModels();
  const dir = await Deno.makeTempDir({ prefix: "cli_conventions_enroll_" });
  try {
    await Deno.mkdir(`${dir}/people/Alice`, { recursive: true });
    await Deno.copyFile(SAMPLE, `${dir}/people/Alice/a.jpg`);
    await Deno.writeTextFile(`${dir}/people/Alice/notes.jpg`, "not a photo\n");
    const enrolled = await task("enroll", [
      "--json",
      "--gallery",
      `${dir}/g.gallery`,
      `${dir}/people`,
    ]);
    assert.equal(enrolled.code, 1, enrolled.stderr);
    const summary = JSON.parse(enrolled.stdout);
    assert.equal(summary.enrolled, 1);
    assert.equal(summary.failed, 1);
    assert.equal(summary.failures[0].file, "Alice/notes.jpg");
    assert.equal(summary.names, 1);
    assert.match(enrolled.stderr, /^enroll: Alice\/notes\.jpg: image_error: /m);
    assert.ok((await Deno.stat(`${dir}/g.gallery`)).size > 0, "the good image is in the gallery");

    const noCsv = await task("enroll", ["--csv", "nope.csv", "--images", `${dir}/people`]);
    assert.equal(noCsv.code, 1);
    assert.equal(noCsv.stderr, "enroll: --csv nope.csv: no such file or directory\n");
    const noDir = await task("enroll", ["--gallery", `${dir}/h.gallery`, `${dir}/nodir`]);
    assert.equal(noDir.code, 1);
    assert.equal(linesOf(noDir.stderr).length, 1, noDir.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadgen: a missing --images is one line, no stack trace; --json parses, no progress in a pipe", async () => {
  const missing = await task("loadgen", ["--url", "http://127.0.0.1:9/", "--images", "nodir"]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, "loadgen: --images nodir: no such file or directory\n");

  const dir = await Deno.makeTempDir({ prefix: "cli_conventions_loadgen_" });
  // The service's answer, as the web tier gives it: `<stem>:<label>`.
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const file = (await req.formData()).get("inputFile") as File;
    return new Response(`${file.name.replace(/\.[^.]+$/, "")}:Paul`);
  });
  try {
    const jpeg = await Deno.readFile(SAMPLE);
    await Deno.writeFile(`${dir}/test_00.jpg`, jpeg);
    await Deno.writeFile(`${dir}/test_01.jpg`, jpeg);
    await Deno.writeTextFile(`${dir}/labels.csv`, "Image,Results\ntest_00,Paul\ntest_01,Paul\n");
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const run = await task("loadgen", [
      "--url",
      url,
      "--images",
      dir,
      "--labels",
      `${dir}/labels.csv`,
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.successes, 2);
    assert.equal(report.correct, 2);
    assert.equal(run.stderr, "", "no progress bar when stderr is not a terminal");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sim --json parses", async () => {
  const run = await task("sim", ["--workload", "burst:5", "--no-svg", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout).outcome, "ok");
});

// ---- on a terminal ----------------------------------------------------------------------------

const HAS_SCRIPT = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
const NO_SCRIPT = "needs `script` (util-linux) for a pseudo-terminal";

/**
 * Runs a command line under a pseudo-terminal (stdout and stderr are both the terminal), with
 * this process's environment but for `NO_COLOR`, which only `env` sets (CI runs the tests with
 * it set).
 */
async function onTerminal(argv: readonly string[], env: Record<string, string> = {}) {
  const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
  const inherited = Deno.env.toObject();
  delete inherited.NO_COLOR;
  const out = await new Deno.Command("script", {
    args: ["-qec", argv.map(quote).join(" "), "/dev/null"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { ...inherited, ...env },
  }).output();
  // The terminal turns "\n" into "\r\n"; undo that so "\r" means what the program wrote.
  return { code: out.code, screen: new TextDecoder().decode(out.stdout).replaceAll("\r\n", "\n") };
}

/** What a terminal shows on each line: "\r" and "erase line" start the line over. */
function visibleLines(screen: string): string[] {
  // deno-lint-ignore no-control-regex -- a terminal's erase-line escape
  return screen.split("\n").map((line) => line.split(/\r(?:\x1b\[2K)?/).at(-1)!);
}

const deno = Deno.execPath();
const RECOGNIZE = [deno, "run", "-A", `${ROOT}model/cli/recognize.ts`];
/** Select Graphic Rendition: the escape sequence that sets colours. */
// deno-lint-ignore no-control-regex -- the escape sequence is what is looked for
const SGR = /\x1b\[[0-9;]*m/;

Deno.test({
  name:
    "on a terminal, recognize's progress bar is cleared before each result: no result shares a line with it",
  ignore: !HAS_SCRIPT,
  async fn() {
    await ensureModels();
    const run = await onTerminal([...RECOGNIZE, SAMPLE, SAMPLE, "missing.jpg"], { NO_COLOR: "1" });
    assert.equal(run.code, 1, run.screen);
    assert.match(run.screen, /recognize \[#+\.*\] 1\/3/, "a bar is drawn on a terminal");
    const visible = visibleLines(run.screen);
    const results = visible.filter((l) => l.includes("sample1:"));
    assert.equal(results.length, 2, JSON.stringify(visible));
    for (const line of results) assert.match(line, /^sample1:\S+$/);
    assert.ok(visible.includes("recognize: missing.jpg: no such file or directory"));
    assert.ok(!visible.some((l) => /\] \d+\/3./.test(l)), "nothing written after a bar");
  },
});

Deno.test({
  name: "NO_COLOR: nothing on a terminal is coloured (deno task's own line included)",
  ignore: !HAS_SCRIPT,
  async fn() {
    const args = [deno, "task", "sim", "--workload", "burst:5", "--no-svg"];
    const plain = await onTerminal(args, { NO_COLOR: "1" });
    assert.equal(plain.code, 0, plain.screen);
    assert.doesNotMatch(plain.screen, SGR);
    // The control: without NO_COLOR the same run on a terminal is coloured, so this test can fail.
    const coloured = await onTerminal(args);
    assert.match(coloured.screen, SGR);
  },
});

Deno.test({
  name: "blobs get refuses to write a photo to a terminal unless --output -",
  ignore: !HAS_SCRIPT,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "cli_conventions_blobs_" });
    try {
      const store = await LocalBlobStore.open(`${dataDir}/blobs`);
      await store.ensureBucket("fr-in-bucket");
      await store.put("fr-in-bucket", "test_00.jpg", await Deno.readFile(SAMPLE));
      await store.close();
      const blobs = [deno, "run", "-A", `${ROOT}service/blobs.ts`, "get", "in", "test_00.jpg"];
      const refused = await onTerminal([...blobs, "--data", dataDir], { NO_COLOR: "1" });
      assert.equal(refused.code, 2, refused.screen);
      assert.match(refused.screen, /binary data; not writing it to a terminal/);
      assert.ok(!refused.screen.includes("JFIF") && !refused.screen.includes("\xff"));
      const forced = await onTerminal([...blobs, "--output", "-", "--data", dataDir], {
        NO_COLOR: "1",
      });
      assert.equal(forced.code, 0, forced.screen.slice(0, 200));
      assert.ok(forced.screen.length > 1000, "the photo's bytes were written");
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

if (!HAS_SCRIPT) console.error(`cli_conventions_test: terminal tests skipped: ${NO_SCRIPT}`);
