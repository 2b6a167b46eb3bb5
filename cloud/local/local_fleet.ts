/**
 * The embedded fleet: each instance is a real worker OS process started with `Deno.Command`.
 * Instance state lives in the SQLite database, so a restarted controller sees the truth: a
 * process that exited (or was killed) is `stopped`, whoever started it.
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { InvalidStateError, NotFoundError, ServiceError } from "../errors.ts";
import {
  byInstanceNumber,
  checkCreateCount,
  type DescribeFilter,
  EXIT_CODE_NOT_READY,
  exitReason,
  type Fleet,
  type Instance,
  INSTANCE_STATES,
  type InstanceExit,
  instanceName,
  type InstanceReporter,
  INSTANCES_MAX_DEFAULT,
  type InstanceState,
  matchesFilter,
  validateInstanceIds,
} from "../fleet.ts";
import { type Database, openDatabase } from "./_database.ts";

/** Options for {@linkcode LocalFleet.open}. */
export interface LocalFleetOptions {
  /**
   * The worker's command line: program then arguments, e.g.
   * `["deno", "run", "-A", "service/worker.ts"]`. Each process also gets `FR_INSTANCE_ID` and
   * `FR_INSTANCE_NAME` in its environment (the id is what {@linkcode LocalFleet.reporter} needs).
   * A worker that cannot become ready exits with `EXIT_CODE_NOT_READY`, after giving its reason
   * through the reporter; the fleet records a `not_ready` exit.
   */
  command: readonly string[];
  /** Extra environment for workers (merged over this process's). @default {{}} */
  env?: Readonly<Record<string, string>>;
  /** Working directory for workers. @default {Deno.cwd()} */
  cwd?: string;
  /** Where workers' stdout/stderr go. @default {"inherit"} */
  output?: "inherit" | "null";
  /** Separates fleets sharing one database (tests, several services). @default {"app-tier"} */
  fleet?: string;
  /** Cap on non-terminated instances. @default {INSTANCES_MAX_DEFAULT} (32) */
  instancesMax?: number;
  /** How long a stopped worker gets between SIGTERM and SIGKILL. @default {10000} */
  stopGraceMs?: number;
  /** @default {systemClock} */
  clock?: Clock;
  /** How long to wait for another process's write lock. @default {10000} */
  busyTimeoutMs?: number;
  /** See `DatabaseOptions.busyBlockMs`: 0 in a process serving many requests. @default {1} */
  busyBlockMs?: number;
}

type ResolvedOptions =
  & Required<Omit<LocalFleetOptions, "busyTimeoutMs" | "busyBlockMs" | "cwd">>
  & {
    cwd?: string;
  };

interface InstanceRow {
  id: string;
  number: number;
  state: InstanceState;
  state_changed_ms: number;
  pid: number | null;
  pid_started: string | null;
  started_ms: number | null;
  ready_ms: number | null;
  run_reason: string | null;
  exit_ms: number | null;
  exit_kind: InstanceExit["kind"] | null;
  exit_reason: string | null;
}

const ROW_COLUMNS = `id, number, state, state_changed_ms, pid, pid_started, started_ms, ready_ms,
  run_reason, exit_ms, exit_kind, exit_reason`;

/** How a worker process ended, as far as this process can tell. */
interface ProcessEnd {
  /** Null when the process was not our child (its status is unknown). */
  readonly code: number | null;
  readonly signal: string | null;
}

/** The states in which a process should exist. */
const LIVE_STATES: readonly InstanceState[] = ["pending", "running", "stopping"];

/**
 * How long {@linkcode LocalFleet.settled} waits, beyond `stopGraceMs` (when the fleet kills a
 * worker that ignored SIGTERM), for a stopped worker it did not start to be recorded stopped by
 * whoever did (its parent learns its exit).
 */
export const SETTLE_SLACK_MS = 10_000;
/** How often `settled` looks at instances it stopped but did not start. */
const SETTLE_POLL_MS = 50;

/**
 * A {@linkcode Fleet} of local worker processes.
 *
 * @example
 * ```ts
 * const fleet = await LocalFleet.open("./data/cloud.db", {
 *   command: ["deno", "run", "-A", "service/worker.ts"],
 * });
 * const [first] = await fleet.create(1);
 * await fleet.start([first.id]);
 * ```
 */
export class LocalFleet implements Fleet {
  readonly #database: Database;
  readonly #options: ResolvedOptions;
  readonly #children = new Map<string, Deno.ChildProcess>();
  readonly #exits = new Set<Promise<void>>();
  readonly #killTimers = new Map<string, AbortController>();
  /**
   * Instances this handle asked to stop whose process another handle started, each with the
   * number of the stop call (a stop during a wait is not forgotten on an older look).
   */
  readonly #stopsElsewhere = new Map<string, number>();
  #stopCalls = 0;
  #closed = false;

  private constructor(database: Database, options: ResolvedOptions) {
    this.#database = database;
    this.#options = options;
  }

  /**
   * Opens the fleet whose state is kept in the SQLite file at `path`.
   *
   * @param path the database (may be the same file as the queue's)
   * @param options the worker command line and limits
   * @returns the fleet
   * @throws {TypeError} when `command` is empty
   * @throws {RangeError} for a bad limit
   * @throws {CorruptStoreError} when the file is not a usable database
   */
  // deno-lint-ignore require-await -- async so every failure arrives as a rejection
  static async open(path: string, options: LocalFleetOptions): Promise<LocalFleet> {
    if (!Array.isArray(options.command) || options.command.length === 0) {
      throw new TypeError("LocalFleet needs options.command: the worker program and its arguments");
    }
    const instancesMax = options.instancesMax ?? INSTANCES_MAX_DEFAULT;
    if (!Number.isInteger(instancesMax) || instancesMax < 1) {
      throw new RangeError(`instancesMax must be a positive integer, got ${instancesMax}`);
    }
    const stopGraceMs = options.stopGraceMs ?? 10_000;
    if (!Number.isInteger(stopGraceMs) || stopGraceMs < 0) {
      throw new RangeError(`stopGraceMs must be an integer >= 0, got ${stopGraceMs}`);
    }
    const clock = options.clock ?? systemClock;
    const database = openDatabase(path, {
      clock,
      busyTimeoutMs: options.busyTimeoutMs,
      busyBlockMs: options.busyBlockMs,
    });
    return new LocalFleet(database, {
      command: [...options.command],
      env: options.env ?? {},
      cwd: options.cwd,
      output: options.output ?? "inherit",
      fleet: options.fleet ?? "app-tier",
      instancesMax,
      stopGraceMs,
      clock,
    });
  }

  async create(count: number): Promise<Instance[]> {
    this.#open();
    const fleet = this.#options.fleet;
    const ids = await this.#database.write(() => {
      const live = this.#database.prepare(
        "SELECT COUNT(*) AS n FROM instances WHERE fleet = ? AND state != 'terminated'",
      ).get(fleet) as { n: number };
      checkCreateCount(count, live.n, this.#options.instancesMax);
      const top = this.#database.prepare("SELECT MAX(number) AS n FROM instances WHERE fleet = ?")
        .get(fleet) as { n: number | null };
      const nowMs = this.#options.clock.nowMs();
      const created: string[] = [];
      for (let i = 1; i <= count; i++) {
        const id = newInstanceId();
        this.#database.prepare(
          `INSERT INTO instances (id, fleet, number, state, state_changed_ms)
           VALUES (?, ?, ?, 'stopped', ?)`,
        ).run(id, fleet, (top.n ?? 0) + i, nowMs);
        created.push(id);
      }
      return created;
    });
    return this.describe({ ids });
  }

  async start(ids: readonly string[]): Promise<void> {
    const rows = await this.#rows(ids);
    for (const row of rows) {
      if (row.state === "running" || row.state === "pending") continue;
      if (row.state !== "stopped") {
        throw new InvalidStateError(
          `instance ${row.id} is ${row.state} and cannot be started; ` +
            (row.state === "stopping" ? "retry once it is stopped" : "create a new instance"),
        );
      }
      // Claim the start in the database first, so two controllers never both spawn it.
      const claimed = await this.#transition(row.id, ["stopped"], "pending", null, null, {
        started: true,
      });
      if (claimed) await this.#spawn(row);
    }
  }

  async stop(ids: readonly string[]): Promise<void> {
    const rows = await this.#rows(ids);
    for (const row of rows) {
      if (row.state === "stopped" || row.state === "stopping") continue;
      if (row.state === "terminated") {
        throw new InvalidStateError(`instance ${row.id} is terminated and cannot be stopped`);
      }
      const claimed = await this.#transition(
        row.id,
        ["running", "pending"],
        "stopping",
        row.pid,
        row.pid_started,
      );
      if (claimed && row.pid !== null) {
        // Our own child's exit handler records its end; another's, a later reconcile.
        if (!this.#children.has(row.id)) this.#stopsElsewhere.set(row.id, ++this.#stopCalls);
        this.#signalStop(row.id, row.pid, row.pid_started);
      } else if (claimed) await this.#transition(row.id, ["stopping"], "stopped", null, null);
    }
  }

  async terminate(ids: readonly string[]): Promise<void> {
    const rows = await this.#rows(ids);
    for (const row of rows) {
      if (row.state === "terminated") continue;
      if (row.pid !== null && isAlive(row.pid, row.pid_started)) kill(row.pid, "SIGKILL");
      await this.#transition(row.id, INSTANCE_STATES, "terminated", null, null);
    }
  }

  async describe(filter: DescribeFilter = {}): Promise<Instance[]> {
    this.#open();
    if (filter.ids) validateInstanceIds(filter.ids);
    await this.#reconcile();
    const rows = this.#database.read(() =>
      this.#database.prepare(`SELECT ${ROW_COLUMNS} FROM instances WHERE fleet = ?`)
        .all(this.#options.fleet) as unknown as InstanceRow[]
    );
    return rows.map(toInstance).filter((i) => matchesFilter(i, filter)).sort(byInstanceNumber);
  }

  /**
   * Stops watching; processes keep running (as EC2 instances outlive a controller) and a new
   * LocalFleet on the same file takes over. Waits for nothing but pending bookkeeping.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#killTimers.values()) timer.abort();
    this.#killTimers.clear();
    this.#database.close();
    await Promise.resolve();
  }

  /**
   * The OS process id of a live instance (local fleets only; for operators' tools and tests).
   * @returns the pid, or null when the instance has no process
   */
  async processId(id: string): Promise<number | null> {
    const [row] = await this.#rows([id]);
    return LIVE_STATES.includes(row.state) ? row.pid : null;
  }

  /**
   * Resolves when every worker process this object started has exited and been recorded, and
   * every worker it stopped that another handle started is no longer `stopping` (see
   * {@linkcode Fleet.settled}).
   * @throws {ServiceError} (`Timeout`) when such a worker is still stopping `stopGraceMs` +
   *   {@linkcode SETTLE_SLACK_MS} after the call
   */
  async settled(): Promise<void> {
    const { clock, stopGraceMs } = this.#options;
    const startMs = clock.nowMs();
    for (;;) {
      while (this.#exits.size > 0) await Promise.all([...this.#exits]);
      if (this.#stopsElsewhere.size === 0 || this.#closed) return;
      const looked = new Map(this.#stopsElsewhere);
      const stopping = new Set(
        (await this.describe({ ids: [...looked.keys()] }))
          .filter((i) => i.state === "stopping").map((i) => i.id),
      );
      for (const [id, call] of looked) {
        if (!stopping.has(id) && this.#stopsElsewhere.get(id) === call) {
          this.#stopsElsewhere.delete(id);
        }
      }
      if (this.#stopsElsewhere.size === 0) continue;
      if (clock.nowMs() - startMs > stopGraceMs + SETTLE_SLACK_MS) {
        throw new ServiceError(
          "Timeout",
          `instances ${[...this.#stopsElsewhere.keys()].join(", ")} are still stopping ` +
            `${stopGraceMs + SETTLE_SLACK_MS} ms into the wait; the process that started them ` +
            "records their end: is it still running?",
        );
      }
      await clock.sleepMs(SETTLE_POLL_MS);
    }
  }

  /**
   * What a worker process of this fleet uses to say it is ready, or why it cannot be: writes to
   * its own instance row in the fleet's database (the instance id comes from `FR_INSTANCE_ID`).
   *
   * @param path the fleet's database (the same file the fleet was opened on)
   * @param instanceId the worker's `FR_INSTANCE_ID`
   * @param options the clock and lock waiting
   * @returns a reporter; close it when done
   * @throws {CorruptStoreError|StorageError} when the database cannot be opened
   * @example
   * ```ts
   * const reporter = LocalFleet.reporter("./data/cloud.db", Deno.env.get("FR_INSTANCE_ID")!);
   * await reporter.notReady("model not built: run deno task model:build");
   * Deno.exit(EXIT_CODE_NOT_READY);
   * ```
   */
  static reporter(
    path: string,
    instanceId: string,
    options: { clock?: Clock; busyTimeoutMs?: number } = {},
  ): InstanceReporter {
    validateInstanceIds([instanceId]);
    const clock = options.clock ?? systemClock;
    const database = openDatabase(path, { clock, busyTimeoutMs: options.busyTimeoutMs });
    const update = (sql: string, ...values: (string | number)[]) =>
      database.write(() => {
        database.prepare(sql).run(...values, instanceId);
      });
    return {
      ready: () => update("UPDATE instances SET ready_ms = ? WHERE id = ?", clock.nowMs()),
      notReady: (reason) =>
        update("UPDATE instances SET run_reason = ? WHERE id = ?", exitReason(reason)),
      close: () => Promise.resolve(database.close()),
    };
  }

  async #spawn(row: InstanceRow): Promise<void> {
    const name = instanceName(row.number);
    const [program, ...args] = this.#options.command;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args,
        cwd: this.#options.cwd,
        env: { ...this.#options.env, FR_INSTANCE_ID: row.id, FR_INSTANCE_NAME: name },
        stdin: "null",
        stdout: this.#options.output,
        stderr: this.#options.output,
        // A session of its own: a terminal's Ctrl-C goes to the whole foreground process group,
        // and would stop the workers mid-request while the web tier drains. The fleet stops
        // them itself (SIGTERM, then SIGKILL after stopGraceMs).
        detached: true,
      }).spawn();
    } catch (error) {
      await this.#transition(row.id, ["pending"], "stopped", null, null, {
        exit: {
          kind: "not_ready",
          reason: exitReason(
            `the worker program could not be started: ${(error as Error).message}`,
          ),
        },
      });
      throw new InvalidStateError(
        `instance ${row.id} could not start ${JSON.stringify(program)}: ` +
          `${(error as Error).message}; check LocalFleetOptions.command`,
        { cause: error },
      );
    }
    this.#children.set(row.id, child);
    const started = processStartTime(child.pid);
    // Supervise before recording: the exit must be seen even if the record below fails.
    const exit: Promise<void> = child.status.then(async (status) => {
      this.#children.delete(row.id);
      this.#killTimers.get(row.id)?.abort();
      if (!this.#closed) {
        await this.#transition(row.id, LIVE_STATES, "stopped", null, null, {
          onlyPid: child.pid,
          end: { code: status.code, signal: status.signal },
        });
      }
    }).catch(() => {
      // The disk refused the record (full, read-only): the row keeps the dead pid, and the next
      // describe's reconcile marks it stopped. Nobody awaits this promise to hear of it, and an
      // unhandled rejection would kill the web tier.
    }).finally(() => this.#exits.delete(exit));
    this.#exits.add(exit);
    try {
      await this.#transition(row.id, ["pending"], "running", child.pid, started);
    } catch (error) {
      // Unrecorded, the process would run outside the fleet's bookkeeping: stop it and give the
      // slot back (best effort; the start fails either way).
      kill(child.pid, "SIGKILL");
      await exit;
      await this.#transition(row.id, ["pending"], "stopped", null, null).catch(() => false);
      throw error;
    }
  }

  #signalStop(id: string, pid: number, started: string | null): void {
    kill(pid, "SIGTERM");
    const timer = new AbortController();
    this.#killTimers.set(id, timer);
    this.#options.clock.sleepMs(this.#options.stopGraceMs, timer.signal).then(() => {
      if (timer.signal.aborted) return;
      this.#killTimers.delete(id);
      if (isAlive(pid, started)) kill(pid, "SIGKILL");
    });
  }

  /** Marks instances whose process is gone as stopped (covers processes another controller started). */
  async #reconcile(): Promise<void> {
    const rows = this.#database.read(() =>
      this.#database.prepare(
        `SELECT ${ROW_COLUMNS} FROM instances
         WHERE fleet = ? AND state IN ('pending', 'running', 'stopping')`,
      ).all(this.#options.fleet) as unknown as InstanceRow[]
    );
    for (const row of rows) {
      if (this.#children.has(row.id)) continue; // ours: its exit handler records it
      // A pending row without a pid is a start in progress elsewhere; leave it. An exited
      // process not yet reaped is its parent's to record: only the parent learns its exit code.
      if (row.pid === null || isAlive(row.pid, row.pid_started)) continue;
      if (isUnreaped(row.pid, row.pid_started)) continue;
      await this.#transition(row.id, LIVE_STATES, "stopped", null, null, {
        onlyPid: row.pid,
        end: { code: null, signal: null },
      });
    }
  }

  async #rows(ids: readonly string[]): Promise<InstanceRow[]> {
    this.#open();
    validateInstanceIds(ids);
    await this.#reconcile();
    return ids.map((id) => {
      const row = this.#database.read(() =>
        this.#database.prepare(`SELECT ${ROW_COLUMNS} FROM instances WHERE fleet = ? AND id = ?`)
          .get(this.#options.fleet, id) as InstanceRow | undefined
      );
      if (!row) throw new NotFoundError("instance", id, "list instances with describe()");
      return row;
    });
  }

  /**
   * Moves an instance to `to` if it is in one of `from` (and has `onlyPid`, when given). A start
   * (`started`) stamps the run and forgets the last run's readiness; a process end (`end`)
   * records how the run ended.
   */
  #transition(
    id: string,
    from: readonly InstanceState[],
    to: InstanceState,
    pid: number | null,
    pidStarted: string | null,
    how: {
      onlyPid?: number;
      started?: boolean;
      end?: ProcessEnd;
      exit?: Omit<InstanceExit, "atMs">;
    } = {},
  ): Promise<boolean> {
    return this.#database.write(() => {
      const row = this.#database.prepare(
        "SELECT state, pid, run_reason FROM instances WHERE id = ?",
      ).get(id) as
        | { state: InstanceState; pid: number | null; run_reason: string | null }
        | undefined;
      if (!row || !from.includes(row.state)) return false;
      if (how.onlyPid !== undefined && row.pid !== how.onlyPid) return false;
      const nowMs = this.#options.clock.nowMs();
      this.#database.prepare(
        `UPDATE instances SET state = ?, state_changed_ms = ?, pid = ?, pid_started = ?
         WHERE id = ?`,
      ).run(to, nowMs, pid, pidStarted, id);
      if (how.started) {
        this.#database.prepare(
          `UPDATE instances SET started_ms = ?, ready_ms = NULL, run_reason = NULL WHERE id = ?`,
        ).run(nowMs, id);
      }
      if (how.end || how.exit) {
        const exit = how.exit ?? classifyEnd(row.state, row.run_reason, how.end!);
        this.#database.prepare(
          `UPDATE instances SET exit_ms = ?, exit_kind = ?, exit_reason = ? WHERE id = ?`,
        ).run(nowMs, exit.kind, exit.reason ?? null, id);
      }
      return true;
    });
  }

  #open(): void {
    if (this.#closed) throw new TypeError("the fleet was closed; open a new one");
  }
}

function toInstance(row: InstanceRow): Instance {
  return {
    id: row.id,
    name: instanceName(row.number),
    state: row.state,
    stateChangedAtMs: row.state_changed_ms,
    lastStartedAtMs: row.started_ms,
    readyAtMs: row.ready_ms,
    lastExit: row.exit_ms === null || row.exit_kind === null ? null : {
      atMs: row.exit_ms,
      kind: row.exit_kind,
      ...(row.exit_reason === null ? {} : { reason: row.exit_reason }),
    },
  };
}

/**
 * How a run ended: asked to stop (it was `stopping`), not ready (the dedicated exit code, or a
 * reason the worker gave), a clean exit, or a crash (any other code, or a signal nobody sent).
 */
function classifyEnd(
  state: InstanceState,
  runReason: string | null,
  end: ProcessEnd,
): Omit<InstanceExit, "atMs"> {
  if (state === "stopping") return { kind: "stopped" };
  if (end.code === EXIT_CODE_NOT_READY || runReason !== null) {
    return {
      kind: "not_ready",
      reason: runReason ??
        `the worker exited with code ${EXIT_CODE_NOT_READY} (not ready) without a reason; ` +
          "see its log",
    };
  }
  if (end.code === null) {
    return { kind: "exited", reason: "the process ended; its status was not seen here" };
  }
  if (end.code === 0 && end.signal === null) return { kind: "exited" };
  return {
    kind: "crashed",
    reason: end.signal !== null ? `killed by ${end.signal}` : `exited with code ${end.code}`,
  };
}

function newInstanceId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return "i-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 17);
}

function kill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Already gone: that is what we wanted.
  }
}

/**
 * The process's start time from /proc (Linux), so a pid reused by an unrelated process is not
 * mistaken for our worker; null where /proc is missing.
 */
function processStartTime(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** True for an exited process whose parent has not yet collected its status (a zombie). */
function isUnreaped(pid: number, started: string | null): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" && (started === null || fields[19] === started);
  } catch {
    return false;
  }
}

function isAlive(pid: number, started: string | null): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return false; // exited, not yet reaped
    return started === null || fields[19] === started;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
  }
  // No /proc (macOS): ask the kernel whether the pid exists by sending a harmless signal.
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}
