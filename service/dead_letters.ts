/**
 * Answers requests that reached the dead-letter queue. A request lands there after
 * `receiveCountMax` deliveries that never finished: its image crashed every worker that took it,
 * or recognising it kept failing. Nobody else will ever answer it, so the waiting client would
 * hang until its timeout; this sweep answers it with an error at once (and logs it, since the
 * message is then deleted: the log line is the record).
 * @module
 */
import type { MessageQueue } from "../cloud/message_queue.ts";
import type { ControllerDeadLetterEvent } from "../controller/log_events.ts";
import {
  decodeRequest,
  encodeResponse,
  PROTOCOL_VERSION,
  ProtocolError,
  replyQueueOf,
} from "../protocol/mod.ts";

/** The error code the waiting client sees for a dead-lettered request. */
export const DEAD_LETTER_CODE = "dead_letter";
/** Most dead letters handled per sweep; keeps one sweep short behind a flood. */
export const DEAD_LETTERS_PER_SWEEP_MAX = 100;

/** Queues the sweep reads and answers on. */
export interface DeadLetterRoutes {
  readonly deadLetterQueue: string;
  readonly responseQueue: string;
}

/**
 * Answers and removes what is in the dead-letter queue now.
 *
 * @param queue the message queue port
 * @param routes the dead-letter and response queues
 * @param log receives one event per dead letter (the service logs it as the controller's)
 * @returns how many dead letters were handled
 * @example
 * ```ts
 * await answerDeadLetters(queue, names, (line) => console.log(JSON.stringify(line)));
 * ```
 */
export async function answerDeadLetters(
  queue: MessageQueue,
  routes: DeadLetterRoutes,
  log: (event: ControllerDeadLetterEvent) => void = () => {},
): Promise<number> {
  let handled = 0;
  while (handled < DEAD_LETTERS_PER_SWEEP_MAX) {
    const batch = await queue.receive(routes.deadLetterQueue, { messagesMax: 10 });
    if (batch.length === 0) break;
    for (const message of batch) {
      handled++;
      try {
        const request = decodeRequest(message.body);
        await queue.send(
          replyQueueOf(request, routes.responseQueue),
          encodeResponse({
            v: PROTOCOL_VERSION,
            id: request.id,
            stem: request.stem,
            ok: false,
            error: {
              code: DEAD_LETTER_CODE,
              message: `the request for ${request.key} failed on every delivery and was ` +
                "dead-lettered; the image may crash the recogniser, check the worker logs",
            },
            worker: "controller",
          }),
        );
        log({ event: "dead_letter", id: request.id, key: request.key });
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        log({ event: "dead_letter", unreadable: error.message, body: message.body.slice(0, 200) });
      }
      await queue.delete(routes.deadLetterQueue, message.receipt);
    }
  }
  return handled;
}
