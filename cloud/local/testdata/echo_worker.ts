/**
 * A tiny real worker for the fleet tests: receives from `FR_REQ_QUEUE` with long polling,
 * answers `<instance name>:<body>` on `FR_RESP_QUEUE`, deletes the request, and exits after
 * `FR_IDLE_MS` without work. A body of "hang" makes it hold the message and never finish
 * (to test what happens when it is killed). It tells the fleet when it is ready; with
 * `FR_NOT_READY` set it reports that reason instead and exits as not ready.
 */
import { EXIT_CODE_NOT_READY } from "../../fleet.ts";
import { LocalFleet } from "../local_fleet.ts";
import { SqliteMessageQueue } from "../sqlite_message_queue.ts";

const env = (name: string) => {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`echo_worker needs ${name}`);
  return value;
};
// FR_NOT_READY=<reason>: say so through the fleet's reporter and exit as a worker that cannot
// load its model does.
const reporter = LocalFleet.reporter(env("FR_QUEUE_DB"), env("FR_INSTANCE_ID"));
const notReady = Deno.env.get("FR_NOT_READY");
if (notReady) {
  await reporter.notReady(notReady);
  Deno.exit(EXIT_CODE_NOT_READY);
}
const mq = await SqliteMessageQueue.open(env("FR_QUEUE_DB"));
await reporter.ready();
await reporter.close();
const req = env("FR_REQ_QUEUE");
const resp = env("FR_RESP_QUEUE");
const idleMs = Number(env("FR_IDLE_MS"));
const name = env("FR_INSTANCE_NAME");
let idleSinceMs = Date.now();
while (Date.now() - idleSinceMs < idleMs) {
  const waitMs = Math.min(20_000, Math.max(0, idleMs - (Date.now() - idleSinceMs)));
  const [m] = await mq.receive(req, { waitMs });
  if (!m) continue;
  if (m.body === "hang") await new Promise(() => setInterval(() => {}, 60_000)); // held until killed
  await mq.send(resp, `${name}:${m.body}`);
  await mq.delete(req, m.receipt);
  idleSinceMs = Date.now();
}
await mq.close();
