/**
 * `deno task start` as a real child process for end-to-end tests: its JSON log lines (the web
 * tier's, the controller's and, with `--worker-log inherit`, every worker's), its stderr, the URL
 * it listens on, its worker processes, and a way to run it inside a private mount namespace on a
 * small tmpfs (so a full disk is a real ENOSPC that nothing outside the namespace sees).
 * @module
 */
import { waitFor } from "./e2e.ts";
export { mountNamespacePrefix } from "./mount_namespace.ts";

/** The service entry point `deno task start` runs. */
export const START = new URL("../service/start.ts", import.meta.url).pathname;

/** A running `deno task start`. */
export interface ServiceProcess {
  readonly child: Deno.ChildProcess;
  /** Every JSON line it (and its workers) printed so far. */
  readonly lines: Record<string, unknown>[];
  /** Its stderr so far (uncaught errors land here). */
  stderr(): string;
  /** Resolves with the URL once it logs `listening`. */
  listening(timeoutMs?: number): Promise<string>;
  /** Resolves once both output streams are closed (the process and every worker it started exited). */
  readonly drained: Promise<void>;
}

/** Options for {@linkcode spawnService}. */
export interface SpawnServiceOptions {
  /**
   * The program and the arguments before the flags, e.g. a namespace wrapper or `deno task start`.
   * @default {deno run -A --quiet service/start.ts}
   */
  readonly command?: readonly string[];
  /** Environment variables added to this process's. @default {none} */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory. @default {this process's} */
  readonly cwd?: string;
  /**
   * A session of its own, so it leads a process group (as a shell's foreground job does) and a
   * signal can go to the whole group (`Deno.kill(-pid, …)`), as Ctrl-C in a terminal does.
   * @default {false}
   */
  readonly detached?: boolean;
}

/** Spawns `COMMAND... FLAGS` (by default `deno run service/start.ts FLAGS`) and reads its output. */
export function spawnService(
  flags: readonly string[],
  options: SpawnServiceOptions = {},
): ServiceProcess {
  const [program, ...args] = options.command ??
    [Deno.execPath(), "run", "-A", "--quiet", START];
  const child = new Deno.Command(program, {
    args: [...args, ...flags],
    env: { ...options.env },
    cwd: options.cwd,
    detached: options.detached ?? false,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: Record<string, unknown>[] = [];
  let errText = "";
  const out = readJsonLines(child.stdout, (line) => lines.push(line));
  const err = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) errText += chunk;
  })();
  return {
    child,
    lines,
    stderr: () => errText,
    drained: Promise.all([out, err]).then(() => {}),
    async listening(timeoutMs = 60_000) {
      await waitFor(
        "the service to listen",
        () => Promise.resolve(lines.some((l) => l.event === "listening")),
        timeoutMs,
        50,
      );
      return lines.find((l) => l.event === "listening")!.url as string;
    },
  };
}

/**
 * Reads a process's output until it ends, passing each JSON line on (other lines, and a line cut
 * by a killed writer, are skipped); `onText` sees every line.
 */
export async function readJsonLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: Record<string, unknown>) => void,
  onText?: (text: string) => void,
): Promise<void> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onText?.(line);
      if (!line.startsWith("{")) continue;
      try {
        onLine(JSON.parse(line));
      } catch {
        // A line cut by a killed writer: not ours to judge here.
      }
    }
  }
}

/** Pids of the worker processes (`service/worker.ts`) whose parent is `parentPid`. */
export function workerPids(parentPid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parentPid) continue;
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes("service/worker.ts")) pids.push(Number(entry.name));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids.sort((a, b) => a - b);
}

/** Whether a process is alive (and not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * The command line that runs `deno task start` in a private mount namespace where `dataDir` is a
 * tmpfs of `tmpfsBytes`, holding a ballast file of `ballastBytes` that is deleted (freeing that
 * much) as soon as the file `freeTrigger` (outside the tmpfs) exists.
 */
export function onTinyDisk(
  prefix: readonly string[],
  dataDir: string,
  tmpfsBytes: number,
  ballastBytes: number,
  freeTrigger: string,
): string[] {
  const script = [
    'mount -t tmpfs -o size="$1" tmpfs "$2" || exit 1',
    'head -c "$3" /dev/zero > "$2/ballast" || exit 1',
    '(while [ ! -e "$4" ]; do sleep 0.1; done; rm -f "$2/ballast") &',
    "shift 4",
    'exec "$@"',
  ].join("\n");
  return [
    "unshare",
    ...prefix,
    "--propagation",
    "private",
    "sh",
    "-c",
    script,
    "sh",
    String(tmpfsBytes),
    dataDir,
    String(ballastBytes),
    freeTrigger,
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    START,
  ];
}
