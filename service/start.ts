/**
 * `deno task start [--gallery G] [--data DIR] [--max N] [--backend aws --id ID --region R]`:
 * the whole service on one machine — web tier on :8000, controller, embedded queues and blobs
 * under `data/`, and a pool of stopped app instances (local worker processes) that the
 * controller starts on demand. Ctrl-C stops everything, workers included.
 * @module
 */
import { runService } from "./_main.ts";

if (import.meta.main) Deno.exit(await runService("start", Deno.args));
