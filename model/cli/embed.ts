/**
 * `deno task embed [--json] IMAGE...`: one JSON object per image,
 * `{file, faces:[{box, score, embedding:[...]}]}`, largest face first. (Output is JSON either
 * way; `--json` is accepted for symmetry with `recognize`.) An image that cannot be read is
 * `{file, error}` and a line on stderr; the batch goes on and exits 1.
 * @module
 */
import { batchConsole } from "../../internal/cli.ts";
import { Recognizer } from "../recognizer.ts";
import {
  expandImageArgs,
  imageFailure,
  readInput,
  RECOGNIZER_FLAGS,
  RECOGNIZER_USAGE,
  recognizerOptions,
  runModelCommand,
  UsageError,
} from "./_common.ts";

const USAGE = `Usage: deno task embed [--json] [--landmarks] [options] IMAGE|DIR...

Prints one JSON object per image: {file, width, height, faces:[{box, score, embedding:[128
numbers]}]}, largest face first, or {file, error:{code, message}} for an image that cannot be
read (the others go on; the exit code is then 1).

  --json                 JSON output (the only output; accepted for symmetry with recognize)
  --landmarks            also print the 68 landmarks and the aligned crop box per face
  -h, --help             this help
${RECOGNIZER_USAGE.split("\n").filter((l) => !l.includes("--threshold")).join("\n")}`;

const SPEC = {
  name: "embed",
  usage: USAGE,
  options: { json: { type: "boolean" }, landmarks: { type: "boolean" }, ...RECOGNIZER_FLAGS },
  positionals: true,
} as const;

if (import.meta.main) {
  await runModelCommand(SPEC, async ({ values, positionals }) => {
    if (positionals.length === 0) throw new UsageError("no IMAGE given; see --help");
    if (values.threshold !== undefined) throw new UsageError("--threshold does not apply");
    const options = recognizerOptions(values);
    const files = await expandImageArgs(positionals);
    const recognizer = await Recognizer.load(options);
    const io = batchConsole("embed", files.length);
    let failed = 0;
    for (const [i, file] of files.entries()) {
      try {
        const analysis = await recognizer.analyze(await readInput(file));
        io.out(JSON.stringify({
          file,
          width: analysis.width,
          height: analysis.height,
          faces: analysis.faces.map((f) => ({
            box: f.box,
            score: f.score,
            ...(values.landmarks ? { landmarks: f.landmarks, alignedBox: f.alignedBox } : {}),
            embedding: Array.from(f.embedding),
          })),
        }));
      } catch (error) {
        const failure = imageFailure(error);
        if (failure === undefined) throw error;
        failed++;
        io.err(`embed: ${file}: ${failure.message}`);
        io.out(JSON.stringify({ file, error: failure }));
      }
      io.tick(i + 1);
    }
    io.end();
    await recognizer.close();
    if (failed > 0) console.error(`embed: ${failed} of ${files.length} images failed`);
    return failed > 0 ? 1 : 0;
  });
}
