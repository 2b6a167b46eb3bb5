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
 *
 * ```sh
 * deno run -A bench/web_overhead.ts [--mode overhead|accept|both] [--transport http|inprocess]
 *   [--rounds 5] [--concurrency 100] [--requests 2000] [--worker-loops 4]
 *   [--sync-data true|false] [--json]
 * ```
 * @module
 */
import { join } from "node:path";
import { unzipSync } from "fflate";
import { systemClock } from "../cloud/clock.ts";
import { LocalBlobStore } from "../cloud/local/local_blob_store.ts";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { decodeRequest, encodeResponse, REQUEST_MESSAGE_BYTES_MAX } from "../worker/protocol.ts";
import { createApp, ResponseRouter, serveWeb, snapshotReader } from "../web/mod.ts";
import { percentile } from "../web/loadgen.ts";
import { stemOf } from "../web/file_name.ts";

const NAMES = {
  inBucket: "bench-in-bucket",
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
  /** Internal: run as the stand-in worker process on this data dir. */
  standIn?: string;
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
  return s;
}

/** The course's own images when the dataset is here, else same-sized stand-ins. */
async function images(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const zip = new URL("../../shared/datasets/cse546/face_images_100.zip", import.meta.url);
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
async function openStores(root: string, syncData: boolean) {
  const blobs = await LocalBlobStore.open(join(root, "blobs"), { syncData });
  const queue = await SqliteMessageQueue.open(join(root, "queues.db"));
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
  const stores = await openStores(root, s.syncData);
  const marks = new Map<string, WebMarks>();
  const { blobs, queue } = markPorts(stores, marks);
  const router = new ResponseRouter({ queue, blobs, clock: systemClock }, {
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
  }, { inBucket: NAMES.inBucket, requestQueue: NAMES.requestQueue, waitingRequestsMax: 10_000 });
  const stop = new AbortController();
  let send: (request: Request) => Promise<Response>;
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  if (s.transport === "http") {
    server = serveWeb(app, { port: 0, hostname: "127.0.0.1", signal: stop.signal });
    const base = `http://127.0.0.1:${server.addr.port}`;
    send = (r) => fetch(new Request(base + new URL(r.url).pathname, r));
  } else send = (r) => Promise.resolve(app.fetch(r));
  return {
    ...stores,
    marks,
    send,
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
    async stop() {
      child.kill("SIGTERM");
      await reader.cancel();
      await child.status;
    },
  };
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

async function overheadRounds(s: Settings, bodies: Body[]) {
  const root = await Deno.makeTempDir({ prefix: "fr-web-bench-" });
  const web = await openWeb(s, root);
  const workers = await spawnStandIns(s, root);
  const rounds: OverheadRound[] = [];
  try {
    for (let round = 0; round <= s.rounds; round++) {
      const startMs = performance.now();
      web.marks.clear();
      const samples = await Promise.all(
        Array.from({ length: s.concurrency }, async (_, i) => {
          const body = bodies[i % bodies.length];
          const sentMs = performance.now();
          const res = await web.send(upload("/", body, "application/json"));
          const text = await res.text();
          const latencyMs = performance.now() - sentMs;
          if (res.status !== 200) throw new Error(`bench request failed: ${res.status} ${text}`);
          const timings = JSON.parse(text).timingsMs;
          const inWorker = timings.worker.inWorker as number;
          return {
            latencyMs,
            inWorker,
            overhead: latencyMs - inWorker,
            accept: (timings.web.upload + timings.web.enqueue) as number,
            phases: phasesOf(
              performance.timeOrigin + sentMs,
              performance.timeOrigin + sentMs + latencyMs,
              web.marks.get(stemOf(body.name)),
              timings.worker,
            ),
          };
        }),
      );
      const burstS = (performance.now() - startMs) / 1000;
      if (round === 0) continue; // warm-up: JIT, SQLite page cache, connection pool
      const sorted = (f: (x: typeof samples[0]) => number) => samples.map(f).sort((a, b) => a - b);
      const latency = sorted((x) => x.latencyMs);
      const overhead = sorted((x) => x.overhead);
      const accept = sorted((x) => x.accept);
      rounds.push({
        latencyP50Ms: percentile(latency, 50),
        latencyP99Ms: percentile(latency, 99),
        inWorkerP50Ms: percentile(sorted((x) => x.inWorker), 50),
        overheadP50Ms: percentile(overhead, 50),
        overheadP99Ms: percentile(overhead, 99),
        acceptP50Ms: percentile(accept, 50),
        acceptP99Ms: percentile(accept, 99),
        burstS,
        phases: Object.fromEntries(PHASES.map((phase) => {
          const values = sorted((x) => x.phases[phase]);
          return [phase, { p50: percentile(values, 50), p99: percentile(values, 99) }];
        })) as OverheadRound["phases"],
      });
    }
  } finally {
    await workers.stop();
    await web.close();
    await Deno.remove(root, { recursive: true });
  }
  return rounds;
}

async function acceptRounds(s: Settings, bodies: Body[]) {
  const rates: number[] = [];
  for (let round = 0; round <= s.rounds; round++) {
    // A fresh stack per round, so the queue and buckets do not grow across rounds.
    const root = await Deno.makeTempDir({ prefix: "fr-web-bench-" });
    const web = await openWeb(s, root);
    try {
      let next = 0;
      const startMs = performance.now();
      await Promise.all(Array.from({ length: s.concurrency }, async () => {
        while (next < s.requests) {
          const i = next++;
          const res = await web.send(upload("/requests", bodies[i % bodies.length]));
          await res.body?.cancel();
          if (res.status !== 202) throw new Error(`accept failed: ${res.status}`);
        }
      }));
      const rate = s.requests / ((performance.now() - startMs) / 1000);
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

const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);
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
  const pics = await encodeBodies(await images());
  const result: Record<string, unknown> = { settings: s, cpus: navigator.hardwareConcurrency };
  if (s.mode !== "accept") {
    const rounds = await overheadRounds(s, pics);
    result.overhead = {
      rounds,
      medianOverheadP50Ms: median(rounds.map((r) => r.overheadP50Ms)),
      medianOverheadP99Ms: median(rounds.map((r) => r.overheadP99Ms)),
      medianLatencyP99Ms: median(rounds.map((r) => r.latencyP99Ms)),
    };
    if (!s.json) {
      console.log(
        `overhead: ${s.concurrency} concurrent POST / (${s.transport}, syncData ${s.syncData}), ` +
          `${s.rounds} rounds after a warm-up`,
      );
      for (const r of rounds) {
        console.log(
          `  latency p50 ${f1(r.latencyP50Ms)} p99 ${f1(r.latencyP99Ms)} ms; in worker p50 ` +
            `${f1(r.inWorkerP50Ms)} ms; overhead p50 ${f1(r.overheadP50Ms)} p99 ` +
            `${f1(r.overheadP99Ms)} ms; upload+enqueue p50 ${f1(r.acceptP50Ms)} p99 ` +
            `${f1(r.acceptP99Ms)} ms; burst ${r.burstS.toFixed(3)} s`,
        );
        console.log(
          "    steps p50/p99 ms: " +
            PHASES.map((p) => `${p} ${f1(r.phases[p].p50)}/${f1(r.phases[p].p99)}`).join(", "),
        );
      }
      const o = result.overhead as Record<string, number>;
      console.log(
        `  median over rounds: overhead p50 ${f1(o.medianOverheadP50Ms)} ms, ` +
          `p99 ${f1(o.medianOverheadP99Ms)} ms`,
      );
    }
  }
  if (s.mode !== "overhead") {
    const rates = await acceptRounds(s, pics);
    result.accept = { ratesPerS: rates, medianPerS: median(rates) };
    if (!s.json) {
      console.log(
        `accept: ${s.requests} POST /requests, ${s.concurrency} clients (${s.transport}, ` +
          `syncData ${s.syncData}): ${rates.map((r) => r.toFixed(0)).join(", ")} req/s; ` +
          `median ${median(rates).toFixed(0)} req/s`,
      );
    }
  }
  if (s.json) console.log(JSON.stringify(result));
}
