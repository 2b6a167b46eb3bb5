/**
 * Starts the test-only AWS emulators on 127.0.0.1 ephemeral ports: s3rver (S3) and sqslite
 * (SQS). Prints one JSON line `{"s3Port":N,"sqsPort":N}` when both listen, and exits when its
 * stdin closes (the test that started it ended). Runs as a separate process so the emulators'
 * sockets and timers never trip the test sanitizers.
 * Usage: emulators.ts <s3rver data directory>
 */
import crypto from "node:crypto";
import { Buffer } from "node:buffer";
import S3rver from "s3rver";
import sqslite from "sqslite";

// s3rver encrypts ListObjectsV2 continuation tokens with DES, which neither Deno's node:crypto
// nor Node 20's OpenSSL 3 offers ("Unknown cipher"). The token is opaque to clients, so an
// identity "cipher" keeps pagination working; only this test emulator is patched.
const createCipheriv = crypto.createCipheriv;
const createDecipheriv = crypto.createDecipheriv;
const identity = () => ({
  update: (data: string | Buffer, encoding?: BufferEncoding) =>
    typeof data === "string" ? Buffer.from(data, encoding ?? "utf8") : Buffer.from(data),
  final: () => Buffer.alloc(0),
});
// deno-lint-ignore no-explicit-any
(crypto as any).createCipheriv = (algorithm: string, ...rest: unknown[]) =>
  // deno-lint-ignore no-explicit-any
  algorithm === "des" ? identity() : (createCipheriv as any)(algorithm, ...rest);
// deno-lint-ignore no-explicit-any
(crypto as any).createDecipheriv = (algorithm: string, ...rest: unknown[]) =>
  // deno-lint-ignore no-explicit-any
  algorithm === "des" ? identity() : (createDecipheriv as any)(algorithm, ...rest);

const [directory] = Deno.args;
const s3 = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  // s3rver checks signatures against its own fixed key pair; tests sign with S3RVER/S3RVER.
  allowMismatchedSignatures: false,
  vhostBuckets: false,
});
const { port: s3Port } = await s3.run() as unknown as { port: number };

const sqs = sqslite({ logger: false });
await sqs.listen({ host: "127.0.0.1", port: 0 });
// deno-lint-ignore no-explicit-any
const sqsPort = (sqs.server.address() as any).port;

console.log(JSON.stringify({ s3Port, sqsPort }));

// Wait for the parent to close our stdin, then shut both down.
for await (const _ of Deno.stdin.readable) { /* discard */ }
await Promise.allSettled([s3.close(), sqs.close()]);
Deno.exit(0);
