import assert from "node:assert/strict";
import { SqliteMessageQueue } from "../cloud/local/sqlite_message_queue.ts";
import { decodeResponse, encodeRequest } from "../protocol/mod.ts";
import { answerDeadLetters, DEAD_LETTER_CODE } from "./dead_letters.ts";

const routes = { deadLetterQueue: "t-req-dlq", responseQueue: "t-resp-queue" };

Deno.test("answerDeadLetters answers each dead-lettered request with an error and empties the queue", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dead_letters_test_" });
  const queue = await SqliteMessageQueue.open(`${dir}/cloud.db`);
  try {
    await queue.ensureQueue(routes.deadLetterQueue);
    await queue.ensureQueue(routes.responseQueue);
    for (const id of ["p1", "p2"]) {
      await queue.send(
        routes.deadLetterQueue,
        encodeRequest({ v: 1, id, key: `${id}.jpg`, stem: id, acceptedAtMs: 0 }),
      );
    }
    await queue.send(routes.deadLetterQueue, "garbage");
    const lines: Record<string, unknown>[] = [];
    assert.equal(await answerDeadLetters(queue, routes, (l) => lines.push({ ...l })), 3);
    const answers = (await queue.receive(routes.responseQueue, { messagesMax: 10 }))
      .map((m) => decodeResponse(m.body));
    assert.deepEqual(
      answers.map((a) => [a.id, a.ok, !a.ok && a.error.code]).sort(),
      [["p1", false, DEAD_LETTER_CODE], ["p2", false, DEAD_LETTER_CODE]],
    );
    assert.equal(lines.length, 3, "one log line per dead letter, the unreadable one included");
    assert.deepEqual(await queue.counts(routes.deadLetterQueue), {
      visible: 0,
      inFlight: 0,
      delayed: 0,
    });
  } finally {
    await queue.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("answerDeadLetters answers a request from an extra web process on that process's queue", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dead_letters_test_" });
  const queue = await SqliteMessageQueue.open(`${dir}/cloud.db`);
  try {
    const sibling = `${routes.responseQueue}-2`;
    for (const name of [routes.deadLetterQueue, routes.responseQueue, sibling]) {
      await queue.ensureQueue(name);
    }
    await queue.send(
      routes.deadLetterQueue,
      encodeRequest({
        v: 1,
        id: "p3",
        key: "p3.jpg",
        stem: "p3",
        acceptedAtMs: 0,
        replyTo: sibling,
      }),
    );
    assert.equal(await answerDeadLetters(queue, routes), 1);
    const [answer] = await queue.receive(sibling);
    assert.equal(decodeResponse(answer.body).id, "p3");
    assert.deepEqual(await queue.receive(routes.responseQueue), []);
  } finally {
    await queue.close();
    await Deno.remove(dir, { recursive: true });
  }
});
