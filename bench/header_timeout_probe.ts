/**
 * Does `Deno.serve` time out a client that never finishes its request headers? Opens three raw
 * TCP connections to a `Deno.serve` on port 0 — one that sends half a request head and stalls,
 * one that trickles a header byte a second, one that sends nothing — and reports when (if ever)
 * the server closes each. The web tier's slow-client limits (web/client_limits.ts) start only
 * once the headers are complete, so this is the part they cannot cover.
 *
 * ```sh
 * deno run -A bench/header_timeout_probe.ts [--seconds 75]
 * ```
 * Measured with Deno 2.9.6: none of the three was closed within 75 s.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({ args: Deno.args, options: { seconds: { type: "string" } } });
const windowMs = Number(values.seconds ?? "75") * 1000;
const server = Deno.serve(
  { port: 0, hostname: "127.0.0.1", onListen() {} },
  () => new Response("ok"),
);
const startMs = performance.now();
const encoder = new TextEncoder();

async function watch(name: string, head: string, trickle: boolean): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  if (head !== "") await conn.write(encoder.encode(head));
  const timer = trickle
    ? setInterval(() => conn.write(encoder.encode("X")).catch(() => {}), 1000)
    : undefined;
  const closed = conn.read(new Uint8Array(1024)).then(
    (n) =>
      `${name}: closed by the server after ${
        Math.round(performance.now() - startMs)
      } ms (read ${n})`,
    (e) => `${name}: error after ${Math.round(performance.now() - startMs)} ms: ${e}`,
  );
  const open = new Promise<string>((r) =>
    setTimeout(() => r(`${name}: still open after ${windowMs} ms`), windowMs)
  );
  const result = await Promise.race([closed, open]);
  clearInterval(timer);
  conn.close();
  return result;
}

const results = await Promise.all([
  watch("partial head, then silence", "POST / HTTP/1.1\r\nHost: x\r\n", false),
  watch("partial head, a byte a second", "POST / HTTP/1.1\r\nHost: x\r\n", true),
  watch("connected, nothing sent", "", false),
]);
for (const line of results) console.log(line);
await server.shutdown();
