import assert from "node:assert/strict";
import fc from "fast-check";
import {
  INSTANCE_NAME_PREFIX,
  INSTANCE_NUMBER_MAX,
  instanceName,
  instanceNumber,
} from "./fleet.ts";

Deno.test("instanceName gives app-tier-instance-<n> and instanceNumber reads n back", () => {
  assert.equal(instanceName(1), "app-tier-instance-1");
  assert.equal(instanceName(12, "t-"), "t-12");
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: INSTANCE_NUMBER_MAX }),
      fc.constantFrom(INSTANCE_NAME_PREFIX, "p-", "fleet/a-"),
      (n, prefix) => {
        assert.equal(instanceNumber(instanceName(n, prefix), prefix), n);
      },
    ),
  );
});

Deno.test("instanceNumber refuses 0, leading zeros, other prefixes and garbage", () => {
  for (
    const name of [
      "app-tier-instance-0",
      "app-tier-instance-01",
      "app-tier-instance-007",
      "app-tier-instance-",
      "app-tier-instance- 1",
      "app-tier-instance-1 ",
      "app-tier-instance--1",
      "app-tier-instance-+1",
      "app-tier-instance-1.0",
      "app-tier-instance-1e3",
      "app-tier-instance-0x1",
      "app-tier-instance-1a",
      "app-tier-instance-1000000000",
      "web-instance-1",
      "1",
      "",
    ]
  ) {
    assert.equal(instanceNumber(name), undefined, name);
  }
  fc.assert(
    fc.property(fc.string(), (suffix) => {
      const n = instanceNumber(`${INSTANCE_NAME_PREFIX}${suffix}`);
      // Whatever is read back is exactly what instanceName writes.
      if (n !== undefined) assert.equal(instanceName(n), `${INSTANCE_NAME_PREFIX}${suffix}`);
    }),
  );
});

Deno.test("instanceName refuses a number no name carries", () => {
  for (const n of [0, -1, 1.5, NaN, INSTANCE_NUMBER_MAX + 1]) {
    assert.throws(() => instanceName(n), /instance number must be an integer in \[1, 999999999\]/);
  }
});
