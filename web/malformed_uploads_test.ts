/**
 * 1,000 hostile or broken uploads against the app over the real embedded blob store and queue:
 * every one must get a 4xx, nothing may be stored or queued, nothing may be written outside the
 * data directory, and the app must keep serving afterwards.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import * as fc from "fast-check";
import {
  labelFromImage,
  listFiles,
  NAMES,
  openTestStack,
  rawRequest,
  runTestWorker,
  uploadRequest,
} from "../testing/web_stack.ts";

const SEED = 4610;
const UPLOADS = 1_000;
const UPLOAD_BYTES_MAX = 4_096;
/** Every hostile name carries this, so a file that escaped can be searched for by name. */
const MARKER = `frhostile${SEED}`;
const encoder = new TextEncoder();

interface Case {
  readonly kind: string;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
  /** Deliver the body in chunks of these sizes (no Content-Length), or whole. */
  readonly chunkBytes?: number;
}

function part(boundary: string, disposition: string, content: string | Uint8Array): Uint8Array {
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: image/jpeg\r\n\r\n`,
  );
  const data = typeof content === "string" ? encoder.encode(content) : content;
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  return new Uint8Array([...head, ...data, ...tail]);
}

/** Escapes a file name the way a careless client would: quotes and backslashes only. */
const quoted = (name: string) => `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;

const hostileName = fc.oneof(
  fc.constantFrom(
    `../../${MARKER}.jpg`,
    `../../../../../../../../${MARKER}.jpg`,
    `/tmp/${MARKER}.jpg`,
    `/${MARKER}.jpg`,
    `..\\..\\${MARKER}.jpg`,
    `C:\\Windows\\${MARKER}.jpg`,
    `${MARKER}/../../x.jpg`,
    `./${MARKER}.jpg`,
    `.${MARKER}.jpg`,
    "..",
    ".",
    "",
    `${MARKER}\u0000.jpg`,
    `${MARKER}.jpg\u0000.png`,
    `${MARKER}\u001b[31m.jpg`,
    `${MARKER}\u007f.jpg`,
    `${MARKER} photo.jpg`,
    `${MARKER}é.jpg`,
    `${MARKER}%2e%2e%2f.jpg`,
    `${MARKER}<script>.jpg`,
    `${MARKER}|rm.jpg`,
    `${MARKER}$(id).jpg`,
    `${MARKER}${"a".repeat(250)}.jpg`,
  ),
  // Generated: a marker name broken by path separators, dot segments or control characters.
  fc.tuple(
    fc.array(fc.constantFrom("..", ".", "", "a", MARKER), { minLength: 1, maxLength: 6 }),
    fc.constantFrom("/", "\\"),
  ).map(([segments, sep]) => [...segments, `${MARKER}.jpg`].join(sep)),
  fc.tuple(fc.integer({ min: 0, max: 31 }), fc.nat(20)).map(([code, at]) => {
    const name = `${MARKER}_${"b".repeat(at)}.jpg`;
    return name.slice(0, at) + String.fromCharCode(code) + name.slice(at);
  }),
  fc.integer({ min: 201, max: 2_000 }).map((n) => `${MARKER}${"c".repeat(n)}.jpg`),
);

const boundary = fc.stringMatching(/^[A-Za-z0-9]{8,40}$/);

const caseArbitrary: fc.Arbitrary<Case> = fc.oneof(
  // Hostile file names in an otherwise perfect body.
  fc.tuple(hostileName, boundary).map(([name, b]) => ({
    kind: "hostile name",
    contentType: `multipart/form-data; boundary=${b}`,
    body: part(b, `form-data; name="inputFile"; filename=${quoted(name)}`, "JPEGDATA"),
  })),
  fc.tuple(hostileName, boundary).map(([name, b]) => ({
    kind: "hostile filename*",
    contentType: `multipart/form-data; boundary=${b}`,
    body: part(
      b,
      `form-data; name="inputFile"; filename*=UTF-8''${encodeURIComponent(name)}`,
      "JPEGDATA",
    ),
  })),
  // A good body cut off before the file's closing boundary, delivered in small chunks.
  fc.tuple(boundary, fc.nat(200), fc.integer({ min: 1, max: 64 })).map(([b, cut, chunk]) => {
    const whole = part(b, `form-data; name="inputFile"; filename="ok_${cut}.jpg"`, "x".repeat(150));
    // Cut anywhere before the delimiter that ends the file's content.
    const end = whole.length - `\r\n--${b}--\r\n`.length;
    return {
      kind: "truncated",
      contentType: `multipart/form-data; boundary=${b}`,
      body: whole.slice(0, Math.min(cut, end - 1)),
      chunkBytes: chunk,
    };
  }),
  // Garbage bytes under a multipart type.
  fc.tuple(boundary, fc.uint8Array({ maxLength: 300 })).map(([b, bytes]) => ({
    kind: "garbage",
    contentType: `multipart/form-data; boundary=${b}`,
    body: bytes,
  })),
  // A well-formed body whose header block is corrupted at one position.
  fc.tuple(boundary, fc.nat(60), fc.constantFrom(0, 10, 13, 34, 58, 59, 255)).map(
    ([b, at, byte]) => {
      const body = part(b, 'form-data; name="inputFile"; filename="ok.jpg"', "data");
      // Positions inside "--b\r\nContent-Disposition: form-data; name=...".
      const pos = Math.min(at, 2 + b.length + 40);
      const broken = body.slice();
      broken[pos] = byte === broken[pos] ? (byte + 1) % 256 : byte;
      return {
        kind: "corrupted header",
        contentType: `multipart/form-data; boundary=${b}`,
        body: broken,
      };
    },
  ),
  // Missing or malformed boundary parameter.
  fc.constantFrom(
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary=""',
    `multipart/form-data; boundary=${"z".repeat(71)}`,
    "multipart/form-data; boundary=a<>b",
    'multipart/form-data; boundary="unterminated',
    "multipart/form-data; =x",
  ).map((type) => ({
    kind: "bad boundary",
    contentType: type,
    body: part("zz", 'form-data; name="inputFile"; filename="ok.jpg"', "data"),
  })),
  // Content types that are not multipart at all.
  fc.constantFrom(
    undefined,
    "application/json",
    "text/plain",
    "image/jpeg",
    "application/x-www-form-urlencoded",
    "multipart/mixed; boundary=zz",
    "",
  ).map((type) => ({
    kind: "bad content type",
    contentType: type,
    body: part("zz", 'form-data; name="inputFile"; filename="ok.jpg"', "data"),
  })),
  // Missing field, or the field without a filename.
  fc.tuple(
    boundary,
    fc.constantFrom(
      'name="image"; filename="a.jpg"',
      'name="inputFile"',
      "name=inputfile; filename=a.jpg",
    ),
  ).map(
    ([b, params]) => ({
      kind: "missing field",
      contentType: `multipart/form-data; boundary=${b}`,
      body: part(b, `form-data; ${params}`, "data"),
    }),
  ),
  // Too large, streamed without a Content-Length.
  fc.tuple(boundary, fc.integer({ min: UPLOAD_BYTES_MAX + 1, max: 4 * UPLOAD_BYTES_MAX })).map(
    ([b, size]) => ({
      kind: "too large",
      contentType: `multipart/form-data; boundary=${b}`,
      body: part(b, 'form-data; name="inputFile"; filename="big.jpg"', "L".repeat(size)),
      chunkBytes: 1_000,
    }),
  ),
);

function toRequest(c: Case): Request {
  if (c.chunkBytes === undefined) return rawRequest(c.body, c.contentType);
  let offset = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= c.body.length) return controller.close();
      controller.enqueue(c.body.slice(offset, offset + c.chunkBytes!));
      offset += c.chunkBytes!;
    },
  });
  return rawRequest(stream, c.contentType);
}

/** Files named with the marker in `dir` and its ancestors (direct children only) and below `dir`. */
async function escapedFiles(dir: string): Promise<string[]> {
  const found = (await listFiles(dir)).filter((f) => f.includes(MARKER)).map((f) => join(dir, f));
  for (let d = dirname(dir);; d = dirname(d)) {
    try {
      for await (const entry of Deno.readDir(d)) {
        if (entry.name.includes(MARKER)) found.push(join(d, entry.name));
      }
    } catch {
      // An unreadable ancestor cannot have received our files either.
    }
    if (d === dirname(d)) break;
  }
  return found;
}

Deno.test(`the app answers ${UPLOADS} malformed uploads each with a 4xx, stores nothing, writes nothing outside the data dir, and keeps serving`, async () => {
  const cases = fc.sample(caseArbitrary, { seed: SEED, numRuns: UPLOADS });
  const stack = await openTestStack({ web: { uploadBytesMax: UPLOAD_BYTES_MAX } });
  const stop = new AbortController();
  const cwd = Deno.cwd();
  try {
    const outsideBefore = (await listFiles(stack.root)).filter((f) => !f.startsWith("data/"));
    const statusesByKind = new Map<string, Set<number>>();
    let next = 0;
    // Ten clients at once, as a small burst would.
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (next < cases.length) {
        const i = next++;
        const c = cases[i];
        const res = await stack.app.request(toRequest(c));
        const text = await res.text();
        assert.ok(
          res.status >= 400 && res.status < 500,
          `case ${i} (${c.kind}, seed ${SEED}) got ${res.status}: ${text}\nbody: ${
            JSON.stringify(new TextDecoder().decode(c.body.slice(0, 200)))
          }`,
        );
        assert.ok(text.length > 0, `case ${i}: a 4xx must say why`);
        const set = statusesByKind.get(c.kind) ?? new Set();
        set.add(res.status);
        statusesByKind.set(c.kind, set);
      }
    }));
    // Every category was exercised, and each maps to the statuses it should.
    assert.deepEqual([...statusesByKind.keys()].sort(), [
      "bad boundary",
      "bad content type",
      "corrupted header",
      "garbage",
      "hostile filename*",
      "hostile name",
      "missing field",
      "too large",
      "truncated",
    ]);
    assert.deepEqual([...statusesByKind.get("too large")!], [413]);
    assert.deepEqual([...statusesByKind.get("bad content type")!], [415]);
    assert.deepEqual([...statusesByKind.get("hostile name")!], [400]);

    // Nothing stored, nothing queued, no partial temp files, nothing tracked.
    assert.deepEqual((await stack.blobs.list(NAMES.inBucket)).items, []);
    assert.deepEqual(await listFiles(join(stack.dataDir, "blobs", ".tmp")), []);
    assert.deepEqual(await stack.queue.counts(NAMES.requestQueue), {
      visible: 0,
      inFlight: 0,
      delayed: 0,
    });
    assert.equal(stack.router.stats().pending, 0);
    // Nothing written outside the data dir: not beside it, not above it, not in the cwd.
    const outsideAfter = (await listFiles(stack.root)).filter((f) => !f.startsWith("data/"));
    assert.deepEqual(outsideAfter, outsideBefore);
    assert.deepEqual(await escapedFiles(stack.dataDir), []);
    assert.deepEqual(
      (await listFiles(cwd).catch(() => [])).filter((f) => f.includes(MARKER)),
      [],
    );

    // And the app still serves a good upload.
    const worker = runTestWorker(stack, labelFromImage, stop.signal);
    const res = await stack.app.request(uploadRequest("after_all.jpg", "Paul"));
    assert.equal(`${res.status} ${await res.text()}`, "200 after_all:Paul");
    stop.abort();
    await worker;
  } finally {
    stop.abort();
    await stack.close();
  }
});
