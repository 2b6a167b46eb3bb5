import assert from "node:assert/strict";
import { ensureModels } from "./build.ts";
import { MODEL_IDS, readManifest } from "./model_store.ts";

const CHILD = new URL("./testdata/ensure_models_child.ts", import.meta.url).pathname;

function runChild(dir: string) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", CHILD],
    env: { FR_MODEL_DIR: dir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test("ensureModels builds once when three processes start together on an empty model dir", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fr-models-" });
  try {
    const outs = await Promise.all([runChild(dir), runChild(dir), runChild(dir)]);
    const decoder = new TextDecoder();
    for (const out of outs) assert.equal(out.code, 0, decoder.decode(out.stderr));
    const built = outs.map((out) => JSON.parse(decoder.decode(out.stdout)).built);
    assert.deepEqual(built.filter(Boolean).length, 1, `built: ${built}`);
    const progress = outs.map((out) => decoder.decode(out.stderr)).join("");
    assert.match(progress, /first use, building/);
    assert.match(progress, /\[5\/5\] blazeface: built/);
    const manifest = await readManifest(new URL(`file://${dir}/`));
    assert.deepEqual(Object.keys(manifest.models).sort(), [...MODEL_IDS].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureModels rebuilds a model whose file was deleted and is a no-op when all are there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fr-models-" });
  const url = new URL(`file://${dir}/`);
  const lines: string[] = [];
  try {
    assert.equal(await ensureModels(url, { log: (line) => lines.push(line) }), true);
    assert.equal(await ensureModels(url, { log: (line) => lines.push(line) }), false);
    await Deno.remove(new URL("tiny_face_detector.onnx", url));
    assert.equal(await ensureModels(url, { log: (line) => lines.push(line) }), true);
    await Deno.stat(new URL("tiny_face_detector.onnx", url));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensureModels rejects (never hangs) when the model folder cannot be created", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fr-models-" });
  try {
    // A folder under a regular file cannot exist, even for root (permission bits would not stop it).
    await Deno.writeTextFile(`${dir}/file`, "not a folder");
    await assert.rejects(() =>
      ensureModels(new URL(`file://${dir}/file/models/`), { log: () => {} })
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
