/**
 * Web-tier benchmarks over the real embedded adapters (file blob store, SQLite queue in a temp
 * dir), with stand-in workers that answer at once, so what is measured is the web tier and the
 * queues, not recognition.
 *
 * - `overhead`: bursts of `--concurrency` `POST /` requests; per request, the client's latency
 *   minus the time spent inside a worker (receive returned → answer sent). The stand-in workers
 *   run in a child process on the same data dir (as real workers are separate processes), take
 *   batches and answer them concurrently, so no request waits for a free worker. Quotes p50/p99
 *   per round and the median over rounds.
 * - `accept`: `POST /requests` (async) with `--concurrency` clients for `--requests` requests;
 *   quotes accepted requests per second per round and the median.
 * - The client runs in its own process by default (`--client process`), as the course grader
 *   runs on its own machine; `--client inprocess` shares the web process's event loop.
 * - Each request's time is split into steps (see {@linkcode PHASES}), timestamped in the client,
 *   the web process's ports and the stand-in workers.
 *
 * ```sh
 * deno run -A bench/web_overhead.ts [--mode overhead|accept|both] [--transport http|inprocess]
 *   [--client process|inprocess] [--rounds 5] [--concurrency 100] [--requests 2000]
 *   [--worker-loops 4] [--sync-data true|false] [--web-busy-block-ms 0] [--ledger true|false]
 *   [--json]
 * ```
 * @module
 */
import { join } from "node:path";
import { Hono } from "hono";
import { cpuUsage } from "node:process";
import { unzipSync } from "fflate";
import { systemClock } from "../cloud/clock.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { SqliteRecordStore } from "../cloud/local/sqlite_record_store.ts";
import { decodeRequest, encodeResponse, REQUEST_MESSAGE_BYTES_MAX } from "../protocol/mod.ts";
import { createApp, RequestLedger, ResponseRouter, serveWeb, snapshotReader } from "../web/mod.ts";
import { median, quantileSorted } from "../internal/mod.ts";
import { stemOf } from "../web/file_name.ts";
import { COURSE_DATA_DIR } from "../testing/datasets.ts";

const NAMES = {
  inBucket: "bench-in-bucket",
  requestsBucket: "bench-requests-bucket",
  outBucket: "bench-out-bucket",
  requestQueue: "bench-req-queue",
  responseQueue: "bench-resp-queue",
};

interface Settings {
  mode: "overhead" | "accept" | "both";
  transport: "http" | "inprocess";
  rounds: number;
  concurrency: number;
  requests: number;
  workerLoops: number;
  syncData: boolean;
  json: boolean;
  /** The web process's stores' `busyBlockMs` (the service uses 0 for its web tier). */
  webBusyBlockMs: number;
  /** Durable request state, as the service keeps it (`web/request_ledger.ts`). */
  ledger: boolean;
  /** Where the load comes from: its own process (as the grader, on another machine) or this one. */
  client: "process" | "inprocess";
  /** Internal: run as the stand-in worker process on this data dir. */
  standIn?: string;
  /** Internal: run as the client process, reading commands on stdin. */
  clientProcess?: boolean;
}

function parseArgs(args: string[]): Settings {
  const s: Settings = {
    mode: "both",
    transport: "http",
    rounds: 5,
    concurrency: 100,
    requests: 2000,
    workerLoops: 4,
    syncData: true,
    json: false,
    client: "process",
    webBusyBlockMs: 0,
    ledger: true,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, value] = [args[i], args[i + 1]];
    const int = () => {
      i++;
      if (!/^\d+$/.test(value ?? "") || Number(value) < 1) {
        throw new TypeError(`${flag} needs a positive integer, got ${value}`);
      }
      return Number(value);
    };
    if (flag === "--mode" && ["overhead", "accept", "both"].includes(value)) {
      s.mode = value as Settings["mode"];
      i++;
    } else if (flag === "--transport" && ["http", "inprocess"].includes(value)) {
      s.transport = value as Settings["transport"];
      i++;
    } else if (flag === "--client" && ["process", "inprocess"].includes(value)) {
      s.client = value as Settings["client"];
      i++;
    } else if (flag === "--client-process") s.clientProcess = true;
    else if (flag === "--web-busy-block-ms" && /^\d+$/.test(value ?? "")) {
      s.webBusyBlockMs = Number(value);
      i++;
    } else if (flag === "--ledger" && ["true", "false"].includes(value)) {
      s.ledger = value === "true";
      i++;
    } else if (flag === "--sync-data" && ["true", "false"].includes(value)) {
      s.syncData = value === "true";
      i++;
    } else if (flag === "--rounds") s.rounds = int();
    else if (flag === "--concurrency") s.concurrency = int();
    else if (flag === "--requests") s.requests = int();
    else if (flag === "--worker-loops") s.workerLoops = int();
    else if (flag === "--json") s.json = true;
    else if (flag === "--stand-in" && value) {
      s.standIn = value;
      i++;
    } else throw new TypeError(`unknown or bad argument ${flag} ${value ?? ""}`);
  }
  // Without HTTP there is no port for another process to reach.
  if (s.transport === "inprocess") s.client = "inprocess";
  return s;
}

/** The course's own images when the dataset is here, else same-sized stand-ins. */
async function images(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const zip = new URL("face_images_100.zip", COURSE_DATA_DIR);
  try {
    const entries = unzipSync(await Deno.readFile(zip), { filter: (f) => f.name.endsWith(".jpg") });
    return Object.entries(entries).map(([n, bytes]) => ({ name: n.split("/").pop()!, bytes }));
  } catch {
    return Array.from({ length: 100 }, (_, i) => ({
      name: `test_${String(i).padStart(2, "0")}.jpg`,
      bytes: new Uint8Array(1600).fill(i),
    }));
  }
}

/** The embedded stores under `root`, shared by the web process and the stand-in worker process. */
async function openStores(root: string, syncData: boolean, busyBlockMs?: number) {
  const blobs = await LocalBlobStore.open(join(root, "blobs"), { syncData, busyBlockMs });
  const queue = await SqliteMessageQueue.open(join(root, "queues.db"), { busyBlockMs });
  await blobs.ensureBucket(NAMES.inBucket);
  await blobs.ensureBucket(NAMES.outBucket);
  await queue.ensureQueue(NAMES.requestQueue, { messageBytesMax: REQUEST_MESSAGE_BYTES_MAX });
  await queue.ensureQueue(NAMES.responseQueue);
  return { blobs, queue };
}

type Stores = Awaited<ReturnType<typeof openStores>>;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const nowAbsMs = () => performance.timeOrigin + performance.now();

/** Per-upload timestamps (keyed by stem, unique within a burst) taken in the web process. */
interface WebMarks {
  putStart?: number;
  putEnd?: number;
  sendStart?: number;
  sendEnd?: number;
  answerReceived?: number;
}

/**
 * Wraps the web process's ports so each step of every request is timestamped: where the time
 * goes is then measured, not guessed. The wrappers add a map write per call.
 */
function markPorts(stores: Stores, marks: Map<string, WebMarks>) {
  const mark = (key: string) => {
    let m = marks.get(key);
    if (!m) marks.set(key, m = {});
    return m;
  };
  const blobs = withOverrides<Stores["blobs"]>(stores.blobs);
  blobs.put = async (bucket, key, body) => {
    const m = mark(stemOf(key));
    m.putStart = nowAbsMs();
    const info = await stores.blobs.put(bucket, key, body);
    m.putEnd = nowAbsMs();
    return info;
  };
  const queue = withOverrides<Stores["queue"]>(stores.queue);
  queue.send = async (name, body, options) => {
    const m = mark(decodeRequest(body).stem);
    m.sendStart = nowAbsMs();
    const sent = await stores.queue.send(name, body, options);
    m.sendEnd = nowAbsMs();
    return sent;
  };
  queue.receive = async (name, options) => {
    const messages = await stores.queue.receive(name, options);
    const at = nowAbsMs();
    for (const message of messages) {
      const stem = JSON.parse(message.body).stem;
      if (typeof stem === "string") mark(stem).answerReceived = at;
    }
    return messages;
  };
  return { blobs, queue };
}

/** A view of `target` whose methods can be replaced one by one (the rest stay bound to it). */
function withOverrides<T extends object>(target: T): T {
  const overrides: Record<PropertyKey, unknown> = {};
  return new Proxy(target, {
    get(t, key) {
      if (key in overrides) return overrides[key];
      const value = Reflect.get(t, key, t);
      return typeof value === "function" ? value.bind(t) : value;
    },
    set(_, key, value) {
      overrides[key] = value;
      return true;
    },
  });
}

async function openWeb(s: Settings, root: string) {
  // As the service opens them for its web tier (servesRequests).
  const stores = await openStores(root, s.syncData, s.webBusyBlockMs);
  const marks = new Map<string, WebMarks>();
  const { blobs, queue } = markPorts(stores, marks);
  const ledger = s.ledger
    ? new RequestLedger({
      records: await SqliteRecordStore.open(stores.queue, NAMES.requestsBucket),
      clock: systemClock,
    })
    : undefined;
  const router = new ResponseRouter({ queue, blobs, clock: systemClock, ledger }, {
    responseQueue: NAMES.responseQueue,
    outBucket: NAMES.outBucket,
    pendingRequestsMax: 1_000_000,
  });
  router.start();
  const app = createApp({
    blobs,
    requestQueue: queue,
    responses: router,
    clock: systemClock,
    readState: snapshotReader(undefined, queue, [NAMES.requestQueue, NAMES.responseQueue]),
    ...(ledger ? { newId: () => ledger.newId() } : {}),
  }, { inBucket: NAMES.inBucket, requestQueue: NAMES.requestQueue, waitingRequestsMax: 10_000 });
  const stop = new AbortController();
  let send: Send;
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let base: string | undefined;
  if (s.transport === "http") {
    server = serveWeb(app, { port: 0, hostname: "127.0.0.1", signal: stop.signal });
    base = `http://127.0.0.1:${server.addr.port}`;
    send = httpSender(base);
  } else send = (r) => Promise.resolve(app.fetch(r));
  return {
    ...stores,
    marks,
    send,
    base,
    async close() {
      stop.abort();
      await server?.finished;
      await router.stop();
      await queue.close();
    },
  };
}

interface Body {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly contentType: string;
}

/** Multipart bodies encoded once: the client's own encoding cost is not the web tier's. */
async function encodeBodies(pics: { name: string; bytes: Uint8Array }[]): Promise<Body[]> {
  return await Promise.all(pics.map(async (image) => {
    const form = new FormData();
    form.append("inputFile", new Blob([image.bytes as BlobPart]), image.name);
    const request = new Request("http://bench/", { method: "POST", body: form });
    return {
      name: image.name,
      bytes: new Uint8Array(await request.arrayBuffer()),
      contentType: request.headers.get("content-type")!,
    };
  }));
}

function upload(path: string, body: Body, accept?: string): Request {
  const headers: Record<string, string> = { "content-type": body.contentType };
  if (accept) headers.accept = accept;
  return new Request(`http://bench${path}`, {
    method: "POST",
    body: body.bytes as BodyInit,
    headers,
  });
}

/**
 * The stand-in worker pool (run in its own process, as real workers are): a few receive loops
 * taking batches of ten and answering each message at once and concurrently, so worker capacity
 * never limits the web tier. Each answer carries `timingsMs.inWorker`: receive returned → just
 * before the answer is sent.
 */
async function standInWorkers(stores: Stores, loops: number, signal: AbortSignal): Promise<void> {
  const answer = async (m: { body: string; receipt: string }, receivedMs: number) => {
    const request = decodeRequest(m.body);
    const object = await stores.blobs.get(NAMES.inBucket, request.key);
    await object.body.cancel();
    await stores.blobs.put(NAMES.outBucket, request.stem, new TextEncoder().encode("Paul"));
    const body = encodeResponse({
      v: 1,
      id: request.id,
      stem: request.stem,
      ok: true,
      label: "Paul",
      faces: [],
      timingsMs: {
        inWorker: performance.now() - receivedMs,
        receivedAbs: performance.timeOrigin + receivedMs,
        answeredAbs: nowAbsMs(),
      },
      worker: "bench",
    });
    await stores.queue.send(NAMES.responseQueue, body);
    await stores.queue.delete(NAMES.requestQueue, m.receipt);
  };
  const loop = async () => {
    while (!signal.aborted) {
      const messages = await stores.queue.receive(NAMES.requestQueue, {
        waitMs: 1_000,
        messagesMax: 10,
        signal,
      });
      const receivedMs = performance.now();
      await Promise.all(messages.map((m) => answer(m, receivedMs)));
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
}

/** Starts the stand-in workers in a child process on the same data dir. */
async function spawnStandIns(s: Settings, root: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--stand-in",
      root,
      "--worker-loops",
      String(s.workerLoops),
      "--sync-data",
      String(s.syncData),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  if (!value?.includes("ready")) throw new Error(`stand-in workers did not start: ${value}`);
  return {
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await reader.cancel();
      await child.status;
    },
  };
}

type Send = (request: Request) => Promise<Response>;

const httpSender = (base: string): Send => (r) =>
  fetch(new Request(base + new URL(r.url).pathname, r));

/** One request of a burst as the client saw it. */
interface RawSample {
  readonly stem: string;
  readonly sentAbs: number;
  readonly doneAbs: number;
  readonly status: number;
  readonly text: string;
}

/** `concurrency` `POST /` at once, each asking for the JSON answer. */
async function runBurst(send: Send, bodies: Body[], concurrency: number): Promise<RawSample[]> {
  return await Promise.all(Array.from({ length: concurrency }, async (_, i) => {
    const body = bodies[i % bodies.length];
    const sentAbs = nowAbsMs();
    const res = await send(upload("/", body, "application/json"));
    const text = await res.text();
    return { stem: stemOf(body.name), sentAbs, doneAbs: nowAbsMs(), status: res.status, text };
  }));
}

/** `requests` `POST /requests` over `concurrency` clients; accepted requests per second. */
async function runAccept(
  send: Send,
  bodies: Body[],
  concurrency: number,
  requests: number,
): Promise<number> {
  let next = 0;
  const startMs = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < requests) {
      const i = next++;
      const res = await send(upload("/requests", bodies[i % bodies.length]));
      await res.body?.cancel();
      if (res.status !== 202) throw new Error(`accept failed: ${res.status}`);
    }
  }));
  return requests / ((performance.now() - startMs) / 1000);
}

/**
 * CPU time (user + system, all threads) a process has used, in ms, from /proc; undefined where
 * there is no /proc.
 */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticksPerS = 100; // USER_HZ, 100 on every Linux this runs on
    return (Number(fields[11]) + Number(fields[12])) * 1000 / ticksPerS;
  } catch {
    return undefined;
  }
}

/** The load's source: this process, or a child process driven over stdin/stdout. */
interface Client {
  /** The client's own process, when it has one (for its CPU time). */
  readonly pid?: number;
  burst(web: { send: Send; base?: string }): Promise<RawSample[]>;
  accept(web: { send: Send; base?: string }, requests: number): Promise<number>;
  close(): Promise<void>;
}

function inProcessClient(bodies: Body[], concurrency: number): Client {
  return {
    burst: (web) => runBurst(web.send, bodies, concurrency),
    accept: (web, requests) => runAccept(web.send, bodies, concurrency, requests),
    close: () => Promise.resolve(),
  };
}

/** The client in its own process, as the course grader is on its own machine. */
function childProcessClient(s: Settings): Client {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--client-process",
      "--concurrency",
      String(s.concurrency),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const ask = async (command: string): Promise<unknown> => {
    await writer.write(new TextEncoder().encode(command + "\n"));
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`the client process ended while answering ${command}`);
      buffered += value;
    }
    const newline = buffered.indexOf("\n");
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    return JSON.parse(line);
  };
  const baseOf = (web: { base?: string }) => {
    if (!web.base) throw new TypeError("--client process needs --transport http");
    return web.base;
  };
  return {
    pid: child.pid,
    burst: async (web) => await ask(`burst ${baseOf(web)}`) as RawSample[],
    accept: async (web, requests) => await ask(`accept ${baseOf(web)} ${requests}`) as number,
    async close() {
      await writer.close();
      await lines.cancel();
      await child.status;
    },
  };
}

/** The client process's side: one JSON line per command read on stdin. */
async function runClientProcess(s: Settings): Promise<void> {
  const bodies = await encodeBodies(await images());
  const input = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const chunk of input) {
    buffered += chunk;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const [command, base, requests] = buffered.slice(0, nl).split(" ");
      buffered = buffered.slice(nl + 1);
      const send = httpSender(base);
      const answer = command === "burst"
        ? await runBurst(send, bodies, s.concurrency)
        : await runAccept(send, bodies, s.concurrency, Number(requests));
      console.log(JSON.stringify(answer));
    }
  }
}

interface OverheadRound {
  latencyP50Ms: number;
  latencyP99Ms: number;
  inWorkerP50Ms: number;
  overheadP50Ms: number;
  overheadP99Ms: number;
  /** The web tier's own upload + enqueue, from its JSON timings (ms resolution). */
  acceptP50Ms: number;
  acceptP99Ms: number;
  burstS: number;
  /** The same burst's latency against {@linkcode openFloor}'s do-nothing server. */
  floorLatencyP50Ms: number;
  floorLatencyP99Ms: number;
  /** CPU time (all threads) the web process spent per request during the burst. */
  webCpuMsPerRequest: number;
  /** The same for the stand-in workers' process and the client's (10 ms ticks: coarse). */
  workersCpuMsPerRequest: number | undefined;
  clientCpuMsPerRequest: number | undefined;
  /** Where a request's time went, step by step (p50 and p99 of each step over the burst). */
  phases: Record<Phase, { p50: number; p99: number }>;
}

/**
 * The steps of one request, in order; they add up to its latency.
 * - `toStore`: client send → the web tier starts storing the upload (HTTP, multipart headers)
 * - `store`: the blob put · `toSend`: put done → send starts · `send`: the request message's send
 * - `toWorker`: sent → a worker's receive returns · `inWorker`: received → answer sent
 * - `toRouter`: answer sent → the web process's response consumer has it
 * - `toClient`: → the client has the whole reply
 */
const PHASES = [
  "toStore",
  "store",
  "toSend",
  "send",
  "toWorker",
  "inWorker",
  "toRouter",
  "toClient",
] as const;
type Phase = typeof PHASES[number];

function phasesOf(
  sentAbs: number,
  doneAbs: number,
  m: WebMarks | undefined,
  worker: Record<string, number>,
): Record<Phase, number> {
  const { putStart, putEnd, sendStart, sendEnd, answerReceived } = m ?? {};
  const { receivedAbs, answeredAbs } = worker;
  const marks = [sentAbs, putStart, putEnd, sendStart, sendEnd, receivedAbs, answeredAbs];
  const all = [...marks, answerReceived, doneAbs];
  if (all.some((x) => typeof x !== "number")) {
    throw new Error(`bench: a request is missing a timestamp: ${JSON.stringify(all)}`);
  }
  const t = all as number[];
  return Object.fromEntries(PHASES.map((phase, i) => [phase, t[i + 1] - t[i]])) as Record<
    Phase,
    number
  >;
}

/**
 * The floor: the same HTTP server and framework with a handler that does nothing but read the
 * upload and answer, so no blob store, queue or worker is involved. No web tier built on this
 * stack can answer a burst faster on this machine.
 */
function openFloor(s: Settings) {
  const app = new Hono();
  app.post("/", async (c) => {
    await c.req.arrayBuffer();
    return c.json({ answer: "floor:Paul" });
  });
  const stop = new AbortController();
  const server = s.transport === "http"
    ? serveWeb(app, { port: 0, hostname: "127.0.0.1", signal: stop.signal })
    : undefined;
  const base = server ? `http://127.0.0.1:${server.addr.port}` : undefined;
  return {
    base,
    send: base ? httpSender(base) : (r: Request) => Promise.resolve(app.fetch(r)),
    async close() {
      stop.abort();
      await server?.finished;
    },
  };
}

async function overheadRounds(s: Settings, client: Client) {
  const root = await Deno.makeTempDir({ prefix: "fr-web-bench-" });
  const web = await openWeb(s, root);
  const workers = await spawnStandIns(s, root);
  const floor = openFloor(s);
  const rounds: OverheadRound[] = [];
  try {
    for (let round = 0; round <= s.rounds; round++) {
      // The floor's burst first, in the same round, so both see the same machine load.
      const floorRaw = await client.burst(floor);
      const floorLatency = floorRaw.map((r) => r.doneAbs - r.sentAbs).sort((a, b) => a - b);
      web.marks.clear();
      const cpuBefore = cpuUsage();
      const othersBefore = [workers.pid, client.pid].map((p) => p && processCpuMs(p));
      const raw = await client.burst(web);
      const cpu = cpuUsage(cpuBefore);
      const othersAfter = [workers.pid, client.pid].map((p) => p && processCpuMs(p));
      const webCpuMsPerRequest = (cpu.user + cpu.system) / 1000 / raw.length;
      const [workersCpuMsPerRequest, clientCpuMsPerRequest] = othersAfter.map((after, i) =>
        after !== undefined && othersBefore[i] !== undefined
          ? (after - othersBefore[i]!) / raw.length
          : undefined
      );
      const samples = raw.map((r) => {
        if (r.status !== 200) throw new Error(`bench request failed: ${r.status} ${r.text}`);
        const timings = JSON.parse(r.text).timingsMs;
        const latencyMs = r.doneAbs - r.sentAbs;
        const inWorker = timings.worker.inWorker as number;
        return {
          latencyMs,
          inWorker,
          overhead: latencyMs - inWorker,
          accept: (timings.web.upload + timings.web.enqueue) as number,
          phases: phasesOf(r.sentAbs, r.doneAbs, web.marks.get(r.stem), timings.worker),
        };
      });
      const burstS = (Math.max(...raw.map((r) => r.doneAbs)) -
        Math.min(...raw.map((r) => r.sentAbs))) / 1000;
      if (round === 0) continue; // warm-up: JIT, SQLite page cache, connection pool
      const sorted = (f: (x: typeof samples[0]) => number) => samples.map(f).sort((a, b) => a - b);
      const latency = sorted((x) => x.latencyMs);
      const overhead = sorted((x) => x.overhead);
      const accept = sorted((x) => x.accept);
      rounds.push({
        latencyP50Ms: quantileSorted(latency, 0.5),
        latencyP99Ms: quantileSorted(latency, 0.99),
        inWorkerP50Ms: quantileSorted(sorted((x) => x.inWorker), 0.5),
        overheadP50Ms: quantileSorted(overhead, 0.5),
        overheadP99Ms: quantileSorted(overhead, 0.99),
        acceptP50Ms: quantileSorted(accept, 0.5),
        acceptP99Ms: quantileSorted(accept, 0.99),
        burstS,
        floorLatencyP50Ms: quantileSorted(floorLatency, 0.5),
        floorLatencyP99Ms: quantileSorted(floorLatency, 0.99),
        webCpuMsPerRequest,
        workersCpuMsPerRequest,
        clientCpuMsPerRequest,
        phases: Object.fromEntries(PHASES.map((phase) => {
          const values = sorted((x) => x.phases[phase]);
          return [phase, { p50: quantileSorted(values, 0.5), p99: quantileSorted(values, 0.99) }];
        })) as OverheadRound["phases"],
      });
    }
  } finally {
    await floor.close();
    await workers.stop();
    await web.close();
    await Deno.remove(root, { recursive: true });
  }
  return rounds;
}

async function acceptRounds(s: Settings, client: Client) {
  const rates: number[] = [];
  for (let round = 0; round <= s.rounds; round++) {
    // A fresh stack per round, so the queue and buckets do not grow across rounds.
    const root = await Deno.makeTempDir({ prefix: "fr-web-bench-" });
    const web = await openWeb(s, root);
    try {
      const rate = await client.accept(web, s.requests);
      const counts = await web.queue.counts(NAMES.requestQueue);
      if (counts.visible !== s.requests) {
        throw new Error(`expected ${s.requests} queued requests, found ${counts.visible}`);
      }
      if (round > 0) rates.push(rate); // round 0 warms up
    } finally {
      await web.close();
      await Deno.remove(root, { recursive: true });
    }
  }
  return rates;
}

const f1 = (x: number) => x.toFixed(1);

async function runStandIn(s: Settings, root: string): Promise<void> {
  const stores = await openStores(root, s.syncData);
  const stop = new AbortController();
  Deno.addSignalListener("SIGTERM", () => stop.abort());
  const running = standInWorkers(stores, s.workerLoops, stop.signal);
  console.log("ready");
  await running;
  await stores.queue.close();
}

if (import.meta.main) {
  const s = parseArgs(Deno.args);
  if (s.standIn) {
    await runStandIn(s, s.standIn);
    Deno.exit(0);
  }
  if (s.clientProcess) {
    await runClientProcess(s);
    Deno.exit(0);
  }
  const client = s.client === "process"
    ? childProcessClient(s)
    : inProcessClient(await encodeBodies(await images()), s.concurrency);
  const result: Record<string, unknown> = { settings: s, cpus: navigator.hardwareConcurrency };
  if (s.mode !== "accept") {
    const rounds = await overheadRounds(s, client);
    result.overhead = {
      rounds,
      medianOverheadP50Ms: median(rounds.map((r) => r.overheadP50Ms)),
      medianOverheadP99Ms: median(rounds.map((r) => r.overheadP99Ms)),
      medianLatencyP99Ms: median(rounds.map((r) => r.latencyP99Ms)),
      medianFloorLatencyP50Ms: median(rounds.map((r) => r.floorLatencyP50Ms)),
      medianFloorLatencyP99Ms: median(rounds.map((r) => r.floorLatencyP99Ms)),
    };
    if (!s.json) {
      console.log(
        `overhead: ${s.concurrency} concurrent POST / (${s.transport}, syncData ${s.syncData}, ` +
          `ledger ${s.ledger}), ` +
          `${s.rounds} rounds after a warm-up`,
      );
      for (const r of rounds) {
        console.log(
          `  latency p50 ${f1(r.latencyP50Ms)} p99 ${f1(r.latencyP99Ms)} ms; in worker p50 ` +
            `${f1(r.inWorkerP50Ms)} ms; overhead p50 ${f1(r.overheadP50Ms)} p99 ` +
            `${f1(r.overheadP99Ms)} ms; upload+enqueue p50 ${f1(r.acceptP50Ms)} p99 ` +
            `${f1(r.acceptP99Ms)} ms; burst ${r.burstS.toFixed(3)} s; web CPU ` +
            `${r.webCpuMsPerRequest.toFixed(2)} ms/request (stand-in workers ` +
            `${r.workersCpuMsPerRequest?.toFixed(2)}, client ${
              r.clientCpuMsPerRequest?.toFixed(2)
            })`,
        );
        console.log(
          `    floor (same server, handler reads the upload and answers): latency p50 ` +
            `${f1(r.floorLatencyP50Ms)} p99 ${f1(r.floorLatencyP99Ms)} ms`,
        );
        console.log(
          "    steps p50/p99 ms: " +
            PHASES.map((p) => `${p} ${f1(r.phases[p].p50)}/${f1(r.phases[p].p99)}`).join(", "),
        );
      }
      const o = result.overhead as Record<string, number>;
      console.log(
        `  median over rounds: overhead p50 ${f1(o.medianOverheadP50Ms)} ms, ` +
          `p99 ${f1(o.medianOverheadP99Ms)} ms; floor latency p50 ${
            f1(o.medianFloorLatencyP50Ms)
          }` +
          ` p99 ${f1(o.medianFloorLatencyP99Ms)} ms`,
      );
    }
  }
  if (s.mode !== "overhead") {
    const rates = await acceptRounds(s, client);
    result.accept = { ratesPerS: rates, medianPerS: median(rates) };
    if (!s.json) {
      console.log(
        `accept: ${s.requests} POST /requests, ${s.concurrency} clients (${s.transport}, ` +
          `syncData ${s.syncData}): ${rates.map((r) => r.toFixed(0)).join(", ")} req/s; ` +
          `median ${median(rates).toFixed(0)} req/s`,
      );
    }
  }
  await client.close();
  if (s.json) console.log(JSON.stringify(result));
}
