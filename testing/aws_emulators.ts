/**
 * Test harness: runs s3rver and sqslite in a child process on 127.0.0.1 ephemeral ports and
 * stops them (closing the child's stdin) when the test is done.
 * @module
 */

/** Running emulators and how to reach them. */
export interface Emulators {
  /** s3rver, path-style: `http://127.0.0.1:<port>`. */
  readonly s3Endpoint: string;
  /** sqslite: `http://localhost:<port>` (its queue URLs must say localhost; see DEVELOPERS.md). */
  readonly sqsEndpoint: string;
  /** The fixed credentials s3rver checks signatures against. */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** The settings that point a command's S3 and SQS at them (`--s3-endpoint`, `--sqs-endpoint`…). */
  readonly flags: readonly string[];
  stop(): Promise<void>;
}

/** Starts both emulators; resolves once they listen. */
export async function startEmulators(): Promise<Emulators> {
  const directory = await Deno.makeTempDir({ prefix: "s3rver-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("./aws_emulators_process.ts", import.meta.url).pathname,
      directory,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await lines.read();
    if (done) {
      await child.status;
      throw new Error("the emulator process exited before listening; run it by hand to see why");
    }
    text += value;
  }
  const { s3Port, sqsPort } = JSON.parse(text.slice(0, text.indexOf("\n")));
  const s3Endpoint = `http://127.0.0.1:${s3Port}`;
  const sqsEndpoint = `http://localhost:${sqsPort}`;
  return {
    s3Endpoint,
    sqsEndpoint,
    // sqslite speaks only SQS's query protocol (DEVELOPERS.md).
    flags: ["--s3-endpoint", s3Endpoint, "--sqs-endpoint", sqsEndpoint, "--sqs-protocol", "query"],
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    async stop() {
      await stdin.close();
      await lines.cancel();
      await child.status;
      await Deno.remove(directory, { recursive: true });
    },
  };
}
