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
