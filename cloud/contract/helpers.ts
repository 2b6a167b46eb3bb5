/** Small helpers shared by the contract suites. */
import assert from "node:assert/strict";

/** Re-runs `probe` until it returns a truthy value or `timeoutMs` passes; returns that value. */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const startMs = performance.now();
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (performance.now() - startMs > timeoutMs) {
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Deterministic pseudo-random bytes (xorshift), so failures replay and no randomness leaks in. */
export function patternBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stream of `bytes` in chunks of `chunkBytes`, optionally pausing before chunk `pauseAt`. */
export function chunkedStream(
  bytes: Uint8Array,
  chunkBytes: number,
  pause?: { at: number; until: Promise<void> },
): ReadableStream<Uint8Array> {
  let offset = 0;
  let index = 0;
  return new ReadableStream({
    async pull(controller) {
      if (pause && index === pause.at) await pause.until;
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkBytes));
      offset += chunkBytes;
      index++;
    },
  });
}

/** A stream that yields `good` bytes and then fails, like a client that disconnects mid-upload. */
export function failingStream(good: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(good);
      } else controller.error(new Error("client went away"));
    },
  });
}

/** A name unique within this process run, safe for buckets and queues. */
let counter = 0;
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}-${Deno.pid}-${counter}`;
}

/** Asserts two byte arrays are equal without printing megabytes on failure. */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: first difference at byte ${i}`);
  }
}
