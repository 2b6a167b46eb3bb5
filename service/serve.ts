/**
 * `deno task serve [--backend aws --id ID] ...`: the web tier and the controller, what runs on
 * `web-instance`. Unlike `start` it leaves the fleet as it finds it when it stops: app instances
 * finish their requests and stop themselves, and the next `serve` adopts whatever still runs.
 * @module
 */
import { runService } from "./_main.ts";

if (import.meta.main) Deno.exit(await runService("serve", Deno.args));
