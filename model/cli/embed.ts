/**
 * `deno task embed [--json] IMAGE...`: one JSON object per image,
 * `{file, faces:[{box, score, embedding:[...]}]}`, largest face first. (Output is JSON either
 * way; `--json` is accepted for symmetry with `recognize`.)
 * @module
 */
import { parseArgs } from "node:util";
import { ImageError } from "../image/errors.ts";
import { Recognizer } from "../recognizer.ts";
import {
  expandImageArgs,
  progressReporter,
  RECOGNIZER_FLAGS,
  RECOGNIZER_USAGE,
  recognizerOptions,
  runCommand,
  UsageError,
} from "./_common.ts";

const USAGE = `usage: deno task embed [--json] [--landmarks] [options] IMAGE|DIR...
  --landmarks            also print the 68 landmarks and the aligned crop box per face
${RECOGNIZER_USAGE}`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { json: { type: "boolean" }, landmarks: { type: "boolean" }, ...RECOGNIZER_FLAGS },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError("embed: no IMAGE given");
  if (values.threshold !== undefined) throw new UsageError("embed: --threshold does not apply");
  const options = recognizerOptions(values);
  const files = await expandImageArgs(positionals);
  const recognizer = await Recognizer.load(options);
  const progress = progressReporter("embed", files.length);
  const encoder = new TextEncoder();
  let failed = 0;
  for (const [i, file] of files.entries()) {
    let out: unknown;
    try {
      const analysis = await recognizer.analyze(await Deno.readFile(file));
      out = {
        file,
        width: analysis.width,
        height: analysis.height,
        faces: analysis.faces.map((f) => ({
          box: f.box,
          score: f.score,
          ...(values.landmarks ? { landmarks: f.landmarks, alignedBox: f.alignedBox } : {}),
          embedding: Array.from(f.embedding),
        })),
      };
    } catch (error) {
      if (!(error instanceof ImageError) && !(error instanceof Deno.errors.NotFound)) throw error;
      failed++;
      const code = error instanceof ImageError ? `image_${error.code}` : "not_found";
      console.error(`embed: ${file}: ${error.message}`);
      out = { file, error: { code, message: error.message } };
    }
    await Deno.stdout.write(encoder.encode(JSON.stringify(out) + "\n"));
    progress.tick(i + 1);
  }
  await recognizer.close();
  return failed > 0 ? 1 : 0;
}

if (import.meta.main) await runCommand(USAGE, main);
