/**
 * `deno task embed [--json] IMAGE...`: one JSON object per image,
 * `{file, faces:[{box, score, embedding:[...]}]}`, largest face first. (Output is JSON either
 * way; `--json` is accepted for symmetry with `recognize`.) An image that cannot be read is
 * `{file, error}` and a line on stderr; the batch goes on and exits 1.
 * @module
 */
import { Recognizer } from "../recognizer.ts";
import {
  expandImageArgs,
  RECOGNIZER_FLAGS,
  RECOGNIZER_USAGE,
  recognizerOptions,
  runImageBatch,
  runModelCommand,
  UsageError,
} from "./_common.ts";

const USAGE = `Usage: deno task embed [--json] [--landmarks] [options] IMAGE|DIR...

Prints one JSON object per image: {file, width, height, faces:[{box, score, embedding:[128
numbers]}]}, largest face first, or {file, error:{code, message}} for an image that cannot be
read (the others go on; the exit code is then 1).

  --json                 JSON output (the only output; accepted for symmetry with recognize)
  --landmarks            also print the 68 landmarks and the aligned crop box per face
${RECOGNIZER_USAGE.split("\n").filter((l) => !l.includes("--threshold")).join("\n")}
  -h, --help             this help`;

/** The recognizer's flags but --threshold: embed matches nothing, so it is an unknown flag. */
const { threshold: _threshold, ...EMBED_RECOGNIZER_FLAGS } = RECOGNIZER_FLAGS;

const SPEC = {
  name: "embed",
  usage: USAGE,
  options: { json: { type: "boolean" }, landmarks: { type: "boolean" }, ...EMBED_RECOGNIZER_FLAGS },
  positionals: true,
} as const;

if (import.meta.main) {
  await runModelCommand(SPEC, async ({ values, positionals }) => {
    if (positionals.length === 0) throw new UsageError("no IMAGE given; see --help");
    const options = recognizerOptions(values);
    const files = await expandImageArgs(positionals);
    const recognizer = await Recognizer.load(options);
    try {
      return await runImageBatch({
        name: "embed",
        files,
        async answer(bytes, file) {
          const analysis = await recognizer.analyze(bytes);
          return JSON.stringify({
            file,
            width: analysis.width,
            height: analysis.height,
            faces: analysis.faces.map((f) => ({
              box: f.box,
              score: f.score,
              ...(values.landmarks ? { landmarks: f.landmarks, alignedBox: f.alignedBox } : {}),
              embedding: Array.from(f.embedding),
            })),
          });
        },
        failureLine: (file, error) => JSON.stringify({ file, error }),
      });
    } finally {
      await recognizer.close();
    }
  });
}
