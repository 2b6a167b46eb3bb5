/**
 * Slow and short bodies over real HTTP: a real `Deno.serve` on port 0, raw TCP clients that
 * trickle their bodies a byte a second, and a normal client that must still be answered.
 *
 * Many client addresses are testable here without network namespaces: all of 127.0.0.0/8 is
 * loopback on Linux, and `node:net` binds a client socket to any of them (`localAddress`).
 * `Deno.connect` cannot choose its source address, so the one-address clients use it and the
 * others use `node:net`.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { serveWeb } from "./serve.ts";
import {
  labelFromImage,
  NAMES,
  openTestStack,
  runTestWorker,
  type TestStackOptions,
} from "../testing/web_stack.ts";

const encoder = new TextEncoder();
const BOUNDARY = "slowboundary";

/** A whole multipart upload of `content` as `fileName`. */
function uploadBody(fileName: string, content: string): string {
  return `--${BOUNDARY}\r\nContent-Disposition: form-data; name="inputFile"; ` +
    `filename="${fileName}"\r\nContent-Type: image/jpeg\r\n\r\n${content}\r\n--${BOUNDARY}--\r\n`;
}

function requestHead(contentLength: number): string {
  return `POST / HTTP/1.1\r\nHost: web.test\r\nContent-Type: multipart/form-data; ` +
    `boundary=${BOUNDARY}\r\nContent-Length: ${contentLength}\r\n\r\n`;
}

interface RawAnswer {
  readonly status: number;
  readonly headers: string;
  readonly body: string;
  readonly afterMs: number;
}

function parseAnswer(text: string, startMs: number): RawAnswer {
  const end = text.indexOf("\r\n\r\n");
  const head = text.slice(0, end);
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
    headers: head,
    body: text.slice(end + 4),
    afterMs: performance.now() - startMs,
  };
}

/** A client on 127.0.0.1 (`Deno.connect`) that sends its head, then its body a byte a tick. */
class Trickler {
  readonly answer: Promise<RawAnswer>;
  #conn: Deno.TcpConn;
  #body: Uint8Array;
  #sent = 0;
  #closed = false;

  private constructor(conn: Deno.TcpConn, body: Uint8Array) {
    this.#conn = conn;
    this.#body = body;
    const startMs = performance.now();
    this.answer = (async () => {
      let text = "";
      const buffer = new Uint8Array(4096);
      // The status line and headers are enough: the body of an error is small and sent at once.
      while (!text.includes("\r\n\r\n") || !/\n$/.test(text)) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      return parseAnswer(text, startMs);
    })();
  }

  static async open(port: number, body: Uint8Array, contentLength: number): Promise<Trickler> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(encoder.encode(requestHead(contentLength)));
    return new Trickler(conn, body);
  }

  tick(): void {
    if (this.#closed || this.#sent >= this.#body.length) return;
    const byte = this.#body.subarray(this.#sent, this.#sent + 1);
    this.#sent++;
    this.#conn.write(byte).catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed by the server */ }
  }
}

/**
 * A client bound to `localAddress` (`node:net`): sends the head, then `body` (whole, or a byte
 * per `tick()`), and reads the answer.
 */
class NetClient {
  readonly answer: Promise<RawAnswer>;
  readonly socket: net.Socket;
  #body: Uint8Array;
  #sent = 0;

  constructor(port: number, localAddress: string, body: Uint8Array, contentLength: number) {
    this.#body = body;
    const startMs = performance.now();
    this.socket = net.connect({ host: "127.0.0.1", port, localAddress });
    this.socket.write(requestHead(contentLength));
    this.answer = new Promise((resolve) => {
      let text = "";
      const done = () => resolve(parseAnswer(text, startMs));
      this.socket.on("data", (chunk) => {
        text += chunk.toString("latin1");
        // Whole once the head is in and the body is as long as its Content-Length says.
        const end = text.indexOf("\r\n\r\n");
        const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? -1);
        if (end >= 0 && length >= 0 && text.length - end - 4 >= length) done();
      });
      this.socket.on("close", done);
      this.socket.on("error", done);
    });
  }

  sendAll(): void {
    this.socket.write(this.#body);
  }

  tick(): void {
    if (this.socket.destroyed || this.#sent >= this.#body.length) return;
    this.socket.write(this.#body.subarray(this.#sent, ++this.#sent));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Posts a whole upload from `localAddress`, as a normal client would. */
function normalUpload(port: number, localAddress: string, stem: string): Promise<RawAnswer> {
  const body = encoder.encode(uploadBody(`${stem}.jpg`, "Paul"));
  const client = new NetClient(port, localAddress, body, body.length);
  client.sendAll();
  return client.answer.finally(() => client.close());
}

async function healthz(port: number): Promise<{ uploading: number; waiting: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return await res.json();
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  while (!await check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A web tier on a real socket, with a stand-in worker answering through the real queues. */
async function serveStack(options: TestStackOptions) {
  const stack = await openTestStack(options);
  const stop = new AbortController();
  const worker = runTestWorker(stack, labelFromImage, stop.signal);
  const server = serveWeb(stack.app, { port: 0, hostname: "127.0.0.1", signal: stop.signal });
  return {
    stack,
    port: server.addr.port,
    async close() {
      stop.abort();
      await server.finished;
      await worker;
      await stack.close();
    },
  };
}

const SLOW_CLIENTS = 1_000;

Deno.test({
  name: "1,000 bodies trickling from one address take only uploadsPerClientMax places, " +
    "and a client from another address is answered meanwhile",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const perClient = 128;
    // waitingRequestsMax far below the slow uploads: they must not count against it.
    const served = await serveStack({
      web: { uploadsPerClientMax: perClient, waitingRequestsMax: 10, uploadRateGraceMs: 60_000 },
    });
    const body = encoder.encode(uploadBody("slow.jpg", "x".repeat(2_000)));
    const slow: Trickler[] = [];
    const ticker = setInterval(() => slow.forEach((t) => t.tick()), 1_000);
    try {
      for (let i = 0; i < SLOW_CLIENTS; i++) {
        slow.push(await Trickler.open(served.port, body, body.length));
        slow[i].tick();
      }
      await until("the capped slow uploads", async () => {
        return (await healthz(served.port)).uploading === perClient;
      }, 20_000);
      // Those over the cap were answered at once, and told to come back.
      const refused = await Promise.all(slow.slice(perClient).map((t) => t.answer));
      assert.equal(refused.filter((a) => a.status === 429).length, SLOW_CLIENTS - perClient);
      assert.match(refused[0].headers, /retry-after: 1/i);
      assert.match(refused[0].body, /uploadsPerClientMax = 128/);

      const startMs = performance.now();
      const other = await normalUpload(served.port, "127.0.0.2", "test_07");
      assert.equal(other.status, 200, other.body);
      assert.equal(other.body, "test_07:Paul");
      assert.ok(performance.now() - startMs < 5_000, "answered while the slow bodies trickle");
      // The cap is per address: the slow clients' own address has no room left.
      const same = await new Promise<RawAnswer>((resolve, reject) => {
        const b = encoder.encode(uploadBody("same.jpg", "Paul"));
        Trickler.open(served.port, b, b.length).then((t) => {
          for (let i = 0; i < b.length; i++) t.tick();
          t.answer.then(resolve, reject).finally(() => t.close());
        }, reject);
      });
      assert.equal(same.status, 429);
      assert.equal((await healthz(served.port)).uploading, perClient, "still trickling");
    } finally {
      clearInterval(ticker);
      slow.forEach((t) => t.close());
      await until("the slow uploads to end", async () => {
        return (await healthz(served.port)).uploading === 0;
      }, 10_000).catch(() => {});
      await served.close();
    }
  },
});

Deno.test({
  name: "1,000 bodies trickling from 1,000 addresses are cut off with 408 at " +
    "uploadBytesPerSecondMin, and a client from another address is answered",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const graceMs = 4_000;
    const served = await serveStack({
      web: { uploadRateGraceMs: graceMs, uploadBytesPerSecondMin: 1_024 },
    });
    const body = encoder.encode(uploadBody("slow.jpg", "x".repeat(2_000)));
    const slow: NetClient[] = [];
    const ticker = setInterval(() => slow.forEach((c) => c.tick()), 1_000);
    try {
      const startMs = performance.now();
      for (let i = 0; i < SLOW_CLIENTS; i++) {
        // 127.0.1.1 … 127.0.4.250: one address each.
        const address = `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
        const client = new NetClient(served.port, address, body, body.length);
        client.tick();
        slow.push(client);
      }
      // Meanwhile a normal client is answered: uploads in progress never take waiting places,
      // and once uploadsMax is full (a thousand addresses can fill it) the minimum rate frees it
      // within the grace period. Retry-After says when to come back.
      let other: RawAnswer;
      for (;;) {
        other = await normalUpload(served.port, "127.0.0.2", "test_08");
        if (other.status !== 503) break;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      assert.equal(other.status, 200, other.body);
      assert.equal(other.body, "test_08:Paul");
      const answers = await Promise.all(slow.map((c) => c.answer));
      const elapsedMs = performance.now() - startMs;
      assert.deepEqual(
        Object.entries(Object.groupBy(answers, (a) => String(a.status))).map(([s, l]) => [
          s,
          l!.length,
        ]),
        [["408", SLOW_CLIENTS]],
      );
      assert.match(answers[0].body, /uploadBytesPerSecondMin = 1024/);
      assert.ok(elapsedMs < graceMs + 15_000, `all cut off in ${Math.round(elapsedMs)} ms`);
      const { items } = await served.stack.blobs.list(NAMES.inBucket);
      assert.deepEqual(items.map((i) => i.key), ["test_08.jpg"], "no slow upload was stored");
    } finally {
      clearInterval(ticker);
      slow.forEach((c) => c.close());
      await served.close();
    }
  },
});

Deno.test({
  name: "a body shorter than its Content-Length is answered 408 after uploadIdleMsMax, " +
    "and nothing is stored or queued",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const served = await serveStack({ web: { uploadIdleMsMax: 1_000 } });
    try {
      const body = encoder.encode(uploadBody("short.jpg", "Paul"));
      // The whole multipart body, but a Content-Length 50 bytes longer: the server waits for
      // bytes that never come (this used to hold the upload until uploadTimeoutMs, then 200).
      const client = await Trickler.open(served.port, body, body.length + 50);
      for (let i = 0; i < body.length; i++) client.tick();
      const answer = await client.answer;
      client.close();
      assert.equal(answer.status, 408, answer.body);
      assert.match(answer.body, /uploadIdleMsMax = 1000/);
      assert.ok(answer.afterMs < 5_000, `answered after ${Math.round(answer.afterMs)} ms`);
      const { items } = await served.stack.blobs.list(NAMES.inBucket);
      assert.deepEqual(items, [], "nothing stored");
      const counts = await served.stack.queue.counts(NAMES.requestQueue);
      assert.equal(counts.visible + counts.inFlight, 0, "nothing queued");
      // And a whole upload right after is answered as usual.
      const ok = await normalUpload(served.port, "127.0.0.1", "test_09");
      assert.equal(ok.status, 200);
    } finally {
      await served.close();
    }
  },
});

Deno.test({
  name: "part headers of 17 and 60 KB over HTTP are refused at partHeaderBytesMax = 16384",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const served = await serveStack({});
    try {
      for (const headerBytes of [17 * 1024, 60 * 1024]) {
        const body = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="inputFile"; ` +
          `filename="a.jpg"\r\nX-Pad: ${
            "h".repeat(headerBytes)
          }\r\n\r\nPaul\r\n--${BOUNDARY}--\r\n`;
        const res = await fetch(`http://127.0.0.1:${served.port}/`, {
          method: "POST",
          headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
          body,
        });
        assert.equal(res.status, 400, `${headerBytes}-byte header`);
        assert.match(await res.text(), /partHeaderBytesMax = 16384/);
      }
    } finally {
      await served.close();
    }
  },
});
