import assert from "node:assert/strict";
import { ManualClock } from "../cloud/clock.ts";
import { diskSpace } from "../cloud/local/disk_space.ts";
import { StorageError } from "../cloud/errors.ts";
import { HealthBoard } from "../web/health.ts";
import { StorageMonitor } from "./storage_monitor.ts";

const MIB = 1024 * 1024;

/** A monitor whose file system reports what the test sets (the real one cannot be steered). */
function setUp(options: { diskFreeBytesMin?: number } = {}) {
  const clock = new ManualClock(10_000);
  const health = new HealthBoard();
  const space = { freeBytes: 500 * MIB, totalBytes: 1_000 * MIB } as {
    freeBytes: number;
    totalBytes: number;
    error?: Error;
  };
  const lines: Record<string, unknown>[] = [];
  const monitor = new StorageMonitor({
    diskSpace: () => {
      if (space.error) throw space.error;
      return { freeBytes: space.freeBytes, totalBytes: space.totalBytes };
    },
    health,
    clock,
    log: (line) => lines.push({ ...line }),
  }, { probeMs: 1_000, ...options });
  return { clock, health, space, lines, monitor };
}

Deno.test("StorageMonitor refuses uploads with 507 below diskFreeBytesMin and clears once there is room", () => {
  const { clock, health, space, lines, monitor } = setUp({ diskFreeBytesMin: 10 * MIB });
  monitor.check(clock.nowMs());
  assert.deepEqual(health.issues(), []);
  space.freeBytes = 9 * MIB;
  monitor.check(clock.nowMs());
  const [issue] = health.issues();
  assert.equal(issue.source, "storage");
  assert.equal(issue.code, "disk_full");
  assert.equal(issue.refuseUploads, 507);
  assert.doesNotMatch(issue.message, /\//, "no path in what clients see");
  clock.advanceMs(1_000);
  monitor.check(clock.nowMs());
  assert.equal(health.issues().length, 1, "still short of room");
  space.freeBytes = 10 * MIB;
  clock.advanceMs(1_000);
  monitor.check(clock.nowMs());
  assert.deepEqual(health.issues(), []);
  assert.deepEqual(lines.map((l) => l.event), ["storage_low", "storage_recovered"]);
});

Deno.test("StorageMonitor clears a full-disk report of the web tier no sooner than one probe period after it", () => {
  const { clock, health, monitor } = setUp();
  // An upload hit ENOSPC: the web tier reported it; its own bytes were freed, so there is room.
  health.report("storage", { code: "disk_full", message: "full", refuseUploads: 507 }, 10_000);
  clock.advanceMs(400);
  monitor.check(clock.nowMs());
  assert.equal(health.refusal()?.refuseUploads, 507, "too soon: uploads still back off");
  clock.advanceMs(600);
  monitor.check(clock.nowMs());
  assert.equal(health.refusal(), undefined);
});

Deno.test("StorageMonitor keeps 5 % of the file system free by default, at most 64 MiB", () => {
  const { monitor } = setUp();
  assert.equal(monitor.freeBytesMin(20 * MIB), MIB);
  assert.equal(monitor.freeBytesMin(100_000 * MIB), 64 * MIB);
});

Deno.test("StorageMonitor leaves the board alone while the free space cannot be read", () => {
  const { clock, health, space, lines, monitor } = setUp();
  health.report("storage", { code: "disk_full", message: "full", refuseUploads: 507 }, 0);
  space.error = new StorageError("/x", "reading the free space failed with EIO", { reason: "io" });
  monitor.check(clock.nowMs());
  monitor.check(clock.nowMs());
  assert.equal(health.refusal()?.code, "disk_full");
  assert.deepEqual(lines.map((l) => l.event), ["storage_probe_failed"], "logged once");
  delete space.error;
  monitor.check(clock.nowMs());
  assert.equal(health.refusal(), undefined);
});

Deno.test("StorageMonitor refuses a bad option, naming it", () => {
  const deps = {
    diskSpace: () => ({ freeBytes: 1, totalBytes: 1 }),
    health: new HealthBoard(),
    clock: new ManualClock(0),
  };
  assert.throws(() => new StorageMonitor(deps, { probeMs: 0 }), /probeMs/);
  assert.throws(() => new StorageMonitor(deps, { diskFreeBytesMin: -1 }), /diskFreeBytesMin/);
});

Deno.test("diskSpace reads the free and total bytes of a real directory's file system", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const space = diskSpace(dir);
    assert.ok(space.totalBytes > 0 && space.freeBytes >= 0 && space.freeBytes <= space.totalBytes);
    assert.throws(() => diskSpace(`${dir}/missing`), (e: Error) => e instanceof StorageError);
  } finally {
    await Deno.remove(dir);
  }
});
