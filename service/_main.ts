/**
 * What `start` and `serve` share: read the settings (failing fast), start the stack, stop it
 * on SIGINT/SIGTERM.
 * @module
 */
import { ConfigError, parseServiceConfig, USAGE } from "./config.ts";
import { startStack } from "./stack.ts";

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
    console.log(`Usage: deno task ${command} [settings]\n\n${USAGE}`);
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
  let signals = 0;
  const onSignal = () => {
    // The first signal drains (waiting clients get their answers for --drain-ms); a second one
    // ends the drain at once, but still stops the workers in order rather than orphaning them.
    if (++signals === 1) stopped.resolve();
    else stack.endDrain();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);
  await stopped.promise;
  // The local fleet starts workers in their own session, so a terminal's Ctrl-C (sent to its
  // whole foreground process group) reaches only this process: the workers go on serving the
  // drain and are stopped after it.
  await stack.close();
  return 0;
}
