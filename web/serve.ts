/**
 * The one place the web tier meets a socket: `Deno.serve` around the app's fetch handler.
 * @module
 */

/** Options for {@linkcode serveWeb}. */
export interface ServeWebOptions {
  /** The TCP port (DESIGN.md: 8000). 0 picks a free one. @default {8000} */
  port?: number;
  /** The interface to bind. @default {"0.0.0.0"} */
  hostname?: string;
  /**
   * Aborting it stops accepting connections and lets open requests finish (`server.shutdown()`;
   * `Deno.serve`'s own `signal` option would close every connection at once, dropping clients
   * that wait for an answer).
   */
  signal?: AbortSignal;
  /** Called once listening, with the bound address. @default {ignore} */
  onListen?: (addr: Deno.NetAddr) => void;
}

/**
 * Serves a hono app (anything with a `fetch`) over HTTP.
 *
 * @param app the app from `createApp`
 * @param options port, interface, shutdown signal
 * @returns the server; await `finished` after aborting the signal
 * @throws {RangeError} for a port outside 0..65535
 * @example
 * ```ts
 * const stop = new AbortController();
 * const server = serveWeb(app, { port: 8000, signal: stop.signal });
 * // ... later
 * stop.abort();
 * await server.finished;
 * ```
 */
export function serveWeb(
  app: { fetch: (request: Request, env: Deno.ServeHandlerInfo) => Response | Promise<Response> },
  options: ServeWebOptions = {},
): Deno.HttpServer<Deno.NetAddr> {
  const port = options.port ?? 8000;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${port}`);
  }
  // The handler info (remote address) becomes hono's `c.env`: per-client upload limits read it.
  const server = Deno.serve({
    port,
    hostname: options.hostname ?? "0.0.0.0",
    onListen: options.onListen ?? (() => {}),
  }, (request, info) => app.fetch(request, info));
  const signal = options.signal;
  if (signal?.aborted) server.shutdown();
  else signal?.addEventListener("abort", () => server.shutdown(), { once: true });
  return server;
}
