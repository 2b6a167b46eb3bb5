/**
 * The README's walkthrough, run as a reader runs it, so the README cannot drift from what the
 * commands print: every `$ ` line between the `walkthrough:begin`/`end` markers runs in a fresh copy
 * of the repository (its tracked and new files, as a clone has them), and each output must match the
 * lines the README shows under it (the conventions are in `testing/walkthrough.ts`). A failure
 * names the README line of the command and the first line that differs.
 *
 * What differs from a reader's terminal, on purpose:
 * - `node_modules` is a symlink to this checkout's (it stands for the README's `deno install`);
 *   the models are not: the walkthrough's first model command builds them, as on a fresh clone;
 * - the service listens on a free port (env `PORT`), and `:8000` in the README's commands and
 *   outputs is read as that port, so the test does not depend on 8000 being free;
 * - the section marked `needs=` gets the course dataset's files copied in from
 *   `../shared/datasets/cse546` (or `FR_DATASET_DIR`); it is ignored, saying so, where they are
 *   absent;
 * - `NO_COLOR=1`, and the environment is only PATH, HOME, DENO_DIR and TMPDIR (no `FR_*` setting
 *   of the machine leaks in).
 */
import assert from "node:assert/strict";
import { existsSync as exists } from "node:fs";
import { join } from "node:path";
import { COURSE_DATA_DIR, CSE546_DIR } from "../testing/datasets.ts";
import {
  matchOutput,
  outputLines,
  parseWalkthrough,
  type WalkthroughSection,
  type WalkthroughStep,
} from "../testing/walkthrough.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The longest one command of the walkthrough may take (a background job: to print its lines). */
const STEP_TIMEOUT_MS = 60_000;
/** The port the README's commands name; the test uses a free one instead. */
const README_PORT = 8000;

/** What the walkthrough runs besides deno (and `git`, which lists the files to copy). */
const TOOLS = ["bash", "curl", "unzip", "git"];
const MISSING_TOOLS = TOOLS.filter((tool) => !onPath(tool));

const SECTIONS = parseWalkthrough(Deno.readTextFileSync(join(ROOT, "README.md")));

/** Why a section cannot run here (a file it needs is absent), or undefined. */
function missingNeeds(section: WalkthroughSection): string | undefined {
  const missing = section.needs.filter((name) => !exists(new URL(name, COURSE_DATA_DIR).pathname));
  return missing.length ? `${missing.join(", ")} not in ${CSE546_DIR}` : undefined;
}

Deno.test({
  name: "the README walkthrough prints what the README says, command by command" +
    (MISSING_TOOLS.length ? ` (ignored: ${MISSING_TOOLS.join(", ")} not on PATH)` : ""),
  ignore: MISSING_TOOLS.length > 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    assert.ok(SECTIONS.length > 0, "README.md has a walkthrough:begin … end section");
    const clone = await cloneLikeCopy();
    const port = freePort();
    const env: Record<string, string> = { NO_COLOR: "1", PORT: String(port) };
    for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    try {
      for (const section of SECTIONS) {
        const missing = missingNeeds(section);
        await t.step({
          name: `${section.name}${missing ? ` (ignored: ${missing})` : ""}`,
          ignore: missing !== undefined,
          async fn() {
            for (const name of section.needs) {
              await Deno.copyFile(new URL(name, COURSE_DATA_DIR), join(clone, name));
            }
            // Jobs are numbered per section: each starts with none running, as the README does.
            const jobs: Job[] = [];
            try {
              for (const step of section.steps) {
                await runStep(withPort(step, port), { cwd: clone, env, jobs });
              }
            } finally {
              // A job a failed step left running would hold the port the next section needs.
              for (const job of jobs) job.stop();
              await Promise.all(jobs.map((j) => j.done));
            }
          },
        });
      }
    } finally {
      await Deno.remove(clone, { recursive: true });
    }
  },
});

/** A background job (`CMD &`): its process and everything it printed so far. */
interface Job {
  readonly child: Deno.ChildProcess;
  output(): string;
  /** Whether it exited and every process of its group closed its output. */
  finished(): boolean;
  /** Resolves once it is finished. */
  readonly done: Promise<void>;
  /** SIGKILL to its process group, when some process of it may still run. */
  stop(): void;
}

interface StepContext {
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly jobs: Job[];
}

async function runStep(step: WalkthroughStep, context: StepContext): Promise<void> {
  if (step.killsJob !== undefined) {
    const job = context.jobs[step.killsJob - 1];
    // An interactive shell's `kill %N`: SIGTERM to the job's process group.
    Deno.kill(-job.child.pid, "SIGTERM");
    await finish(step, job, "to stop after SIGTERM");
    return check(step, job.output(), "the job's output to its end");
  }
  const job = startJob(step.command, context);
  if (step.background) {
    context.jobs.push(job);
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    // Its first lines: wait until they have all appeared (or it ended, or time ran out).
    while (matchOutput(step.expected, outputLines(job.output())) && !job.finished()) {
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return check(step, job.output(), "the start of the job's output");
  }
  await finish(step, job, "to finish");
  const { code } = await job.child.status;
  assert.equal(
    code,
    0,
    `README.md:${step.line}: \`${step.command}\` exited ${code} (the README shows a failing ` +
      `command as \`CMD; echo "exit $?"\`); it printed:\n${job.output()}`,
  );
  check(step, job.output(), "its output");
}

/** Waits for a job to finish; past STEP_TIMEOUT_MS, kills its process group and fails. */
async function finish(step: WalkthroughStep, job: Job, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    job.done.then(() => false),
    new Promise<boolean>((r) => timer = setTimeout(() => r(true), STEP_TIMEOUT_MS)),
  ]);
  clearTimeout(timer);
  if (!timedOut) return;
  job.stop();
  await job.done;
  assert.fail(
    `README.md:${step.line}: \`${step.command}\`: waited ${STEP_TIMEOUT_MS} ms for it ${what}; ` +
      `it printed:\n${job.output()}`,
  );
}

/** Fails naming the README line, the command and the first line that differs. */
function check(step: WalkthroughStep, text: string, what: string): void {
  const mismatch = matchOutput(step.expected, outputLines(text));
  if (!mismatch) return;
  assert.fail(
    `README.md:${step.line}: \`${step.command}\`: ${what} differs from the README at its line ` +
      `${step.line + 1 + mismatch.expectedIndex}:\n` +
      `  README: ${mismatch.expectedLine}\n  actual: ${mismatch.actualLine}\n` +
      `--- the whole output ---\n${text}`,
  );
}

/** Runs one command line in bash, stdout and stderr in one pipe, as a job of its own. */
function startJob(command: string, context: StepContext): Job {
  const child = new Deno.Command("bash", {
    args: ["-c", `exec 2>&1\n${command}`],
    cwd: context.cwd,
    env: context.env,
    clearEnv: true,
    // Its own process group, as a job of an interactive shell, so it can be stopped whole.
    detached: true,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let text = "";
  let finished = false;
  const read = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  const done = Promise.all([read, child.status]).then(() => {
    finished = true;
  });
  return {
    child,
    output: () => text,
    finished: () => finished,
    done,
    stop() {
      // Once finished, no process of the group is left and its id may be another's by now.
      if (finished) return;
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* the whole group exited meanwhile */ }
    },
  };
}

/** The step with the README's port replaced by the one the test's service listens on. */
function withPort(step: WalkthroughStep, port: number): WalkthroughStep {
  const replace = (s: string) => s.replaceAll(`:${README_PORT}`, `:${port}`);
  return { ...step, command: replace(step.command), expected: step.expected.map(replace) };
}

/** A folder holding the repository's files as a clone has them (tracked and new, not ignored). */
async function cloneLikeCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fr-walkthrough-" });
  const listed = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  assert.equal(listed.code, 0, "git ls-files lists the repository's files");
  const files = new TextDecoder().decode(listed.stdout).split("\0").filter((f) => f !== "");
  for (const file of files) {
    const from = join(ROOT, file);
    if (!exists(from)) continue; // deleted in the working tree, not committed yet
    await Deno.mkdir(join(dir, file, ".."), { recursive: true });
    await Deno.copyFile(from, join(dir, file));
  }
  await Deno.symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/** A port nothing listens on right now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Whether an executable of that name is in a folder of PATH. */
function onPath(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(join(dir, name)).isFile;
    } catch {
      return false;
    }
  });
}
