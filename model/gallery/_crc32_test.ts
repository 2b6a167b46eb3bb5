import assert from "node:assert/strict";
import * as fc from "fast-check";
import { crc32 } from "./_crc32.ts";

function crc32Bytewise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

Deno.test("crc32 gives the standard check value for 123456789", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
});

Deno.test("crc32 slice-by-8 agrees with the bit-by-bit definition at every length", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      assert.equal(crc32(bytes), crc32Bytewise(bytes));
    }),
  );
});
