import assert from "node:assert/strict";
import * as fc from "fast-check";
import {
  multipartBoundary,
  MultipartError,
  type MultipartErrorCode,
  type MultipartLimits,
  openFilePart,
  UploadTooLargeError,
} from "./multipart.ts";

const LIMITS: MultipartLimits = { fileBytesMax: 1 << 20, bodyBytesMax: (1 << 20) + 65_536 };
const encoder = new TextEncoder();

/** Splits bytes into a stream of chunks of the given sizes (cycled). */
function chunked(bytes: Uint8Array, sizes: readonly number[] = [bytes.length || 1]) {
  let offset = 0;
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      const size = Math.max(1, sizes[i++ % sizes.length]);
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function formBody(form: FormData): Promise<{ bytes: Uint8Array; boundary: string }> {
  const request = new Request("http://x/", { method: "POST", body: form });
  const boundary = multipartBoundary(request.headers.get("content-type"))!;
  return { bytes: new Uint8Array(await request.arrayBuffer()), boundary };
}

function manual(boundary: string, ...parts: string[]): Uint8Array {
  return encoder.encode(
    parts.map((p) => `--${boundary}\r\n${p}\r\n`).join("") + `--${boundary}--\r\n`,
  );
}

async function readFile(
  stream: ReadableStream<Uint8Array>,
  boundary: string,
  limits = LIMITS,
) {
  const part = await openFilePart(stream, boundary, "inputFile", limits);
  const bytes = new Uint8Array(await new Response(part.body).arrayBuffer());
  await part.finish();
  return { part, bytes };
}

Deno.test("multipartBoundary reads plain and quoted boundaries and ignores other types", () => {
  assert.equal(multipartBoundary("multipart/form-data; boundary=abc"), "abc");
  assert.equal(multipartBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"'), "a b:c");
  assert.equal(multipartBoundary("application/json"), undefined);
  assert.equal(multipartBoundary(undefined), undefined);
});

Deno.test("multipartBoundary refuses a missing, empty, over-long or illegal boundary", () => {
  for (
    const type of [
      "multipart/form-data",
      "multipart/form-data; boundary=",
      `multipart/form-data; boundary=${"a".repeat(71)}`,
      "multipart/form-data; boundary=a<b",
      'multipart/form-data; boundary="abc',
      "multipart/form-data; boundary=a; boundary=b",
    ]
  ) {
    assert.throws(() => multipartBoundary(type), MultipartError, type);
  }
});

Deno.test("openFilePart streams the file field of a FormData body byte for byte", async () => {
  const image = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251);
  const form = new FormData();
  form.append("note", "before the file");
  form.append("inputFile", new Blob([image], { type: "image/jpeg" }), "test_000.jpg");
  form.append("after", "ignored");
  const { bytes, boundary } = await formBody(form);
  const { part, bytes: got } = await readFile(chunked(bytes, [4096]), boundary);
  assert.equal(part.fileName, "test_000.jpg");
  assert.equal(part.contentType, "image/jpeg");
  assert.deepEqual(got, image);
  assert.equal(part.failure(), undefined);
});

Deno.test("openFilePart finds the delimiter wherever chunk edges fall, even with delimiter-like content", () => {
  const boundary = "XyZ";
  return fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.constantFrom(
            ...["\r\n--XyQ", "\r\n--Xy", "\r\n-", "--XyZ", "\r\n\r\n"].map((s) =>
              encoder.encode(s)
            ),
          ),
        ),
        { maxLength: 12 },
      ),
      fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 8 }),
      async (pieces, sizes) => {
        const content = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of pieces) content.set(p, (at += p.length) - p.length);
        // A sender picks a boundary its content does not contain (RFC 2046).
        fc.pre(!new TextDecoder("latin1").decode(content).includes(`\r\n--${boundary}`));
        const head = encoder.encode(
          `--${boundary}\r\nContent-Disposition: form-data; name="inputFile"; filename="a.jpg"\r\n\r\n`,
        );
        const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
        const body = new Uint8Array([...head, ...content, ...tail]);
        const { bytes } = await readFile(chunked(body, sizes), boundary);
        assert.deepEqual(bytes, content);
      },
    ),
    { seed: 4602, numRuns: 300 },
  );
});

Deno.test("openFilePart accepts a preamble, transport padding, lower-case headers and filename*", async () => {
  const b = "bnd";
  const body = encoder.encode(
    `preamble text\r\n--${b}  \t\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n--${b}\r\n` +
      `content-disposition: form-data; name="inputFile"; filename*=UTF-8''%74est.png\r\n\r\n` +
      `PNG\r\n--${b}--`,
  );
  const { part, bytes } = await readFile(chunked(body, [3]), b);
  assert.equal(part.fileName, "test.png");
  assert.equal(new TextDecoder().decode(bytes), "PNG");
});

Deno.test("openFilePart refuses broken bodies with a MultipartError that says what is wrong", async () => {
  const b = "bnd";
  const disp = 'Content-Disposition: form-data; name="inputFile"; filename="a.jpg"';
  const cases: [Uint8Array, RegExp, MultipartErrorCode][] = [
    [encoder.encode(""), /no opening boundary/, "bad_boundary"],
    [encoder.encode("no boundary here at all"), /no opening boundary/, "bad_boundary"],
    [manual("other", `${disp}\r\n\r\nx`), /no opening boundary/, "bad_boundary"],
    [encoder.encode(`--${b}--\r\n`), /no field "inputFile"/, "missing_field"],
    [
      manual(b, 'Content-Disposition: form-data; name="other"\r\n\r\nx'),
      /no field "inputFile"/,
      "missing_field",
    ],
    [
      manual(b, 'Content-Disposition: form-data; name="inputFile"\r\n\r\nx'),
      /not a file/,
      "not_a_file",
    ],
    [manual(b, "Content-Type: image/jpeg\r\n\r\nx"), /no Content-Disposition/, "malformed_header"],
    [
      manual(b, 'Content-Disposition: attachment; name="inputFile"\r\n\r\nx'),
      /not form-data/,
      "malformed_header",
    ],
    [manual(b, "no colon here\r\n\r\nx"), /malformed part header/, "malformed_header"],
    [
      manual(b, 'Content-Disposition: form-data; name="inputFile; filename="a"\r\n\r\nx'),
      /quote/,
      "malformed_header",
    ],
    [
      manual(b, `Content-Disposition: form-data; name=inputFile; filename*=latin1''x\r\n\r\nx`),
      /filename\*/,
      "malformed_header",
    ],
    [
      manual(b, `Content-Disposition: form-data; name=inputFile; filename*=UTF-8''%E0%A4\r\n\r\nx`),
      /percent/,
      "malformed_header",
    ],
    [encoder.encode(`--${b}\r\n${disp}`), /headers/, "malformed_header"],
    [encoder.encode(`--${b}junk\r\n${disp}\r\n\r\nx`), /junk/, "bad_boundary"],
    [encoder.encode(`--${b}`), /ended after a boundary/, "truncated"],
    [
      encoder.encode(`--${b}\r\nContent-Disposition: form-data; name=a\r\n\r\nxx`),
      /ended inside a part/,
      "truncated",
    ],
    [
      encoder.encode(
        Array.from(
          { length: 17 },
          (_, k) => `--${b}\r\nContent-Disposition: form-data; name=f${k}\r\n\r\nx\r\n`,
        )
          .join("") + `--${b}--\r\n`,
      ),
      /not found in the first partsMax = 16 parts/,
      "too_many_parts",
    ],
  ];
  for (const [body, message, code] of cases) {
    await assert.rejects(
      () => readFile(chunked(body, [5]), b),
      (e: Error) => {
        assert.ok(e instanceof MultipartError, `${message}: got ${e}`);
        assert.match(e.message, message);
        assert.equal((e as MultipartError).code, code, e.message);
        return true;
      },
    );
  }
});

Deno.test("openFilePart errors the file stream when the body ends inside the file", async () => {
  const b = "bnd";
  const body = encoder.encode(
    `--${b}\r\nContent-Disposition: form-data; name="inputFile"; filename="a.jpg"\r\n\r\n` +
      "x".repeat(1000),
  );
  const part = await openFilePart(chunked(body, [100]), b, "inputFile", LIMITS);
  await assert.rejects(() => new Response(part.body).arrayBuffer(), /ended inside the file/);
  assert.ok(part.failure() instanceof MultipartError);
});

Deno.test("openFilePart stops at fileBytesMax and bodyBytesMax with UploadTooLargeError naming the limit", async () => {
  const b = "bnd";
  const big = manual(
    b,
    `Content-Disposition: form-data; name="inputFile"; filename="a.jpg"\r\n\r\n${"x".repeat(5000)}`,
  );
  const part = await openFilePart(chunked(big, [512]), b, "inputFile", {
    fileBytesMax: 4000,
    bodyBytesMax: 100_000,
  });
  await assert.rejects(() => new Response(part.body).arrayBuffer(), /uploadBytesMax = 4000/);
  assert.ok(part.failure() instanceof UploadTooLargeError);

  const padded = manual(b, `Content-Disposition: form-data; name="pad"\r\n\r\n${"y".repeat(5000)}`);
  await assert.rejects(
    () =>
      openFilePart(chunked(padded, [512]), b, "inputFile", {
        fileBytesMax: 10,
        bodyBytesMax: 2000,
      }),
    (e: Error) => e instanceof UploadTooLargeError && /bodyBytesMax = 2000/.test(e.message),
  );
});

Deno.test("openFilePart bounds part headers and the number of parts", async () => {
  const b = "bnd";
  const longHeader = manual(b, `X-Pad: ${"h".repeat(20_000)}\r\n\r\nx`);
  await assert.rejects(
    () => openFilePart(chunked(longHeader, [1024]), b, "inputFile", LIMITS),
    /partHeaderBytesMax = 16384/,
  );
  const many = manual(
    b,
    ...Array.from({ length: 5 }, () => 'Content-Disposition: form-data; name="f"\r\n\r\nv'),
  );
  await assert.rejects(
    () => openFilePart(chunked(many), b, "inputFile", { ...LIMITS, partsMax: 3 }),
    /partsMax = 3/,
  );
  await assert.rejects(
    () => openFilePart(chunked(many), b, "inputFile", { ...LIMITS, partsMax: 0 }),
    RangeError,
  );
});

Deno.test("openFilePart enforces partHeaderBytesMax however the header block arrives", async () => {
  const b = "bnd";
  const disposition = 'Content-Disposition: form-data; name="inputFile"; filename="a.jpg"';
  /** A file part whose header block (everything before its blank line) is `blockBytes` long. */
  const withHeaderBlock = (blockBytes: number) => {
    const pad = "X-Pad: ";
    const filler = "h".repeat(blockBytes - disposition.length - 2 - pad.length);
    return manual(b, `${disposition}\r\n${pad}${filler}\r\n\r\nx`);
  };
  for (const blockBytes of [17_000, 60_000]) {
    for (const sizes of [[1 << 20], [1024], [7]]) {
      await assert.rejects(
        () => openFilePart(chunked(withHeaderBlock(blockBytes), sizes), b, "inputFile", LIMITS),
        /partHeaderBytesMax = 16384/,
        `a ${blockBytes}-byte header block in chunks of ${sizes[0]} bytes`,
      );
    }
  }
  // The limit itself is allowed, in one chunk as in many.
  for (const sizes of [[1 << 20], [1024]]) {
    const { bytes } = await readFile(chunked(withHeaderBlock(16_384), sizes), b);
    assert.deepEqual(bytes, encoder.encode("x"));
  }
});

Deno.test("openFilePart bounds the preamble by partHeaderBytesMax, in one chunk too", async () => {
  const b = "bnd";
  const body = encoder.encode(`${"p".repeat(20_000)}\r\n`);
  const file = manual(b, 'Content-Disposition: form-data; name="inputFile"; filename="a"\r\n\r\nx');
  const all = new Uint8Array(body.length + file.length);
  all.set(body);
  all.set(file, body.length);
  await assert.rejects(
    () => openFilePart(chunked(all), b, "inputFile", LIMITS),
    /no opening boundary/,
  );
});
