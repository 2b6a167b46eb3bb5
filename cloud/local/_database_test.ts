import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { openDatabase, type Schema } from "./_database.ts";

const SCHEMA: Schema = {
  version: 1,
  create: "CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT;",
};

async function withDatabase(fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "db-" });
  try {
    await fn(join(dir, "t.db"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Database.write undoes only the throwing write of a batch; the others commit", async () => {
  await withDatabase(async (path) => {
    const db = openDatabase(path, { schema: SCHEMA });
    const insert = (n: number) => () => db.prepare("INSERT INTO t VALUES (?, ?)").run(n, `v${n}`);
    const results = await Promise.allSettled([
      db.write(insert(1)),
      db.write(() => {
        insert(2)();
        throw new Error("refused after a change");
      }),
      db.write(insert(1)), // a constraint error: its own failure
      db.write(insert(3)),
    ]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "rejected",
      "fulfilled",
    ]);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /refused after a change/);
    assert.match(String((results[2] as PromiseRejectedResult).reason), /UNIQUE/);
    const rows = db.db.prepare("SELECT n FROM t ORDER BY n").all().map((r) => r.n);
    assert.deepEqual(rows, [1, 3]);
    db.close();
  });
});

Deno.test("Database.write resolves only after COMMIT: another connection already sees the row", async () => {
  await withDatabase(async (path) => {
    const db = openDatabase(path, { schema: SCHEMA });
    const other = new DatabaseSync(path);
    const seen = await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          db.write(() => db.prepare("INSERT INTO t VALUES (?, 'x')").run(i)).then(() =>
            other.prepare("SELECT COUNT(*) AS c FROM t WHERE n = ?").get(i)!.c
          ),
      ),
    );
    assert.deepEqual(seen, Array(50).fill(1));
    other.close();
    db.close();
  });
});

Deno.test("Database.write waits for another process's lock and then commits every write asked for meanwhile, in order", async () => {
  await withDatabase(async (path) => {
    const db = openDatabase(path, { schema: SCHEMA });
    const holder = new DatabaseSync(path);
    holder.exec("BEGIN IMMEDIATE");
    const writes = Array.from(
      { length: 20 },
      (_, i) => db.write(() => db.prepare("INSERT INTO t (v) VALUES (?)").run(`w${i}`)),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(db.db.prepare("SELECT COUNT(*) AS c FROM t").get()!.c, 0);
    holder.exec("COMMIT");
    await Promise.all(writes);
    const order = db.db.prepare("SELECT v FROM t ORDER BY n").all().map((r) => r.v);
    assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => `w${i}`));
    holder.close();
    db.close();
  });
});

/** The longest the event loop went without a timer tick while a write waited 80 ms for a lock. */
async function longestStallMs(path: string, busyBlockMs: number): Promise<number> {
  const db = openDatabase(path, { schema: SCHEMA, busyBlockMs });
  const holder = new DatabaseSync(path);
  holder.exec("BEGIN IMMEDIATE");
  let last = performance.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  const released = new Promise((resolve) => setTimeout(resolve, 80)).then(() =>
    holder.exec("COMMIT")
  );
  const v = `waited-${busyBlockMs}`;
  await db.write(() => db.prepare("INSERT INTO t (v) VALUES (?)").run(v));
  await released;
  clearInterval(ticker);
  assert.equal(db.db.prepare("SELECT COUNT(*) AS c FROM t WHERE v = ?").get(v)!.c, 1);
  holder.close();
  db.close();
  return longest;
}

Deno.test("Database.write with busyBlockMs 0 waits out another connection's lock without stalling the event loop", async () => {
  await withDatabase(async (path) => {
    const blocking = await longestStallMs(path, 100);
    const nonBlocking = await longestStallMs(path, 0);
    assert.ok(blocking >= 40, `busyBlockMs 100 stalled the loop only ${blocking.toFixed(1)} ms`);
    assert.ok(nonBlocking < 30, `busyBlockMs 0 stalled the loop ${nonBlocking.toFixed(1)} ms`);
  });
  assert.throws(() => openDatabase("/nonexistent/x.db", { busyBlockMs: -1 }), /busyBlockMs/);
});

Deno.test("Database.write gives up with StorageError after busyTimeoutMs of another connection's lock", async () => {
  await withDatabase(async (path) => {
    const db = openDatabase(path, { schema: SCHEMA, busyTimeoutMs: 50 });
    const holder = new DatabaseSync(path);
    holder.exec("BEGIN IMMEDIATE");
    await assert.rejects(
      db.write(() => db.prepare("INSERT INTO t (v) VALUES ('x')").run()),
      (e: Error) => e.name === "StorageError" && /busyTimeoutMs = 50/.test(e.message),
    );
    holder.exec("ROLLBACK");
    // The writer is usable again afterwards.
    await db.write(() => db.prepare("INSERT INTO t (v) VALUES ('y')").run());
    holder.close();
    db.close();
  });
});
