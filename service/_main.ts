/**
 * What `start` and `serve` share: read the settings (failing fast), start the stack, stop it
 * on SIGINT/SIGTERM.
 * @module
 */
import { ConfigError, parseServiceConfig, settingsUsage } from "./config.ts";
import { startStack } from "./stack.ts";
import { serviceLine, type StackLine } from "./log_events.ts";

/** A signal this soon after the first is a copy of it (see `deno task`), not a second Ctrl-C. */
export const REPEAT_SIGNAL_MS_MIN = 500;

const log = (line: StackLine) => console.log(JSON.stringify(line));

/**
 * Runs `deno task start` or `deno task serve` until SIGINT or SIGTERM.
 * @param command which one
 * @param args the command line
 * @returns the process exit code
 */
export async function runService(
  command: "start" | "serve",
  args: readonly string[],
): Promise<number> {
  let config;
  try {
    config = parseServiceConfig(command, args);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${command}: ${error.message}`);
    return 2;
  }
  if (config === "help") {
    console.log(`Usage: deno task ${command} [settings]\n\n${settingsUsage(command)}`);
    return 0;
  }
  let stack;
  try {
    stack = await startStack(config, { command });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${command}: ${error.message}`);
    return 2;
  }
  const stopped = Promise.withResolvers<void>();
  let firstSignalMs: number | undefined;
  const onSignal = () => {
    // The first signal drains (waiting clients get their answers for --drain-ms); a second one
    // ends the drain at once, but still stops the workers in order rather than orphaning them.
    // `deno task` forwards the terminal's SIGINT to us, and the terminal sends it to us too (same
    // process group): the copy arrives within milliseconds and is not a second Ctrl-C.
    const nowMs = performance.now();
    if (firstSignalMs === undefined) {
      firstSignalMs = nowMs;
      stopped.resolve();
    } else if (nowMs - firstSignalMs >= REPEAT_SIGNAL_MS_MIN) {
      log(serviceLine({ event: "drain_cut_short", reason: "a second signal" }));
      stack.endDrain();
    }
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);
  await stopped.promise;
  // The local fleet starts workers in their own session, so a terminal's Ctrl-C (sent to its
  // whole foreground process group) reaches only this process: the workers go on serving the
  // drain and are stopped after it.
  await stack.close();
  return 0;
}
