import assert from "node:assert/strict";
import { loadSamplePhoto } from "../../testing/face_api_reference.ts";
import {
  loadReferenceGraph,
  runReferenceGraph,
  useTfjsBackend,
} from "../../testing/tfjs_graph_reference.ts";
import { toNetInput } from "../image/net_input.ts";
import { createSession } from "../runtime/session.ts";
import {
  BLAZEFACE_INPUT_MEAN,
  BLAZEFACE_INPUT_SIZE,
  BLAZEFACE_INPUT_STD,
  BLAZEFACE_NAMES,
  BLAZEFACE_OUTPUTS,
} from "../specs.ts";
import { blazefaceConverter, HUMAN_MODEL_DIR } from "./blazeface.ts";

/**
 * 1e-4 absolute, relative beyond magnitude 1. The photo drives score logits to |7746|, where one
 * float32 step is 4.9e-4: no second implementation can be within 1e-4 absolute there (tfjs's own
 * cpu and wasm backends differ by 1.2e-3 on that logit). Measured worst: 3.2e-5 of max(1, |v|).
 */
const DIFF_PER_MAGNITUDE_MAX = 1e-4;
/** On random input in [-1, 1) the outputs stay under |117|: 1e-4 absolute holds (measured 3.4e-5). */
const RANDOM_DIFF_MAX = 1e-4;

Deno.test("blazefaceConverter builds the same bytes twice with the contract specs.ts promises", async () => {
  const a = await blazefaceConverter.convert();
  const b = await blazefaceConverter.convert();
  assert.deepEqual(a.onnx, b.onnx);
  assert.equal(a.id, "blazeface");
  assert.deepEqual(a.input.dims, [1, 3, 256, 256]);
  assert.deepEqual(a.input.mean, [127.5, 127.5, 127.5]);
  assert.deepEqual(a.outputs, BLAZEFACE_OUTPUTS);
  assert.match(a.source, /^@vladmandic\/human@3\.3\.6 models\/blazeface$/);
  assert.deepEqual(a.extra?.tfjsOutputs, ["Identity_3", "Identity", "Identity_1", "Identity_2"]);
});

/** The worst |onnx - tfjs| / max(1, |tfjs|) per output, and the worst absolute difference. */
function worstDiffs(
  actual: Record<string, { data: Float32Array; dims: readonly number[] }>,
  expected: { data: Float32Array; shape: readonly number[] }[],
) {
  return BLAZEFACE_OUTPUTS.map((spec, i) => {
    const got = actual[spec.name];
    assert.deepEqual(got.dims, expected[i].shape, `${spec.name} shape`);
    assert.deepEqual(got.dims, spec.dims);
    let scaled = 0, absolute = 0;
    for (let j = 0; j < got.data.length; j++) {
      const want = expected[i].data[j], diff = Math.abs(got.data[j] - want);
      absolute = Math.max(absolute, diff);
      scaled = Math.max(scaled, diff / Math.max(1, Math.abs(want)));
    }
    return { name: spec.name, scaled, absolute };
  });
}

Deno.test("blazeface ONNX on onnxruntime-web equals human's model run by tfjs on a photo and on random input", async () => {
  const converted = await blazefaceConverter.convert();
  await useTfjsBackend("cpu");
  const reference = await loadReferenceGraph(new URL("blazeface.json", HUMAN_MODEL_DIR).pathname);
  const session = await createSession(converted.onnx, { backend: "web" });
  const size = BLAZEFACE_INPUT_SIZE, plane = size * size;
  let seed = 11;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647 * 2 - 1;
  const inputs = {
    photo: toNetInput(await loadSamplePhoto("sample1.jpg"), {
      size,
      centered: false,
      mean: BLAZEFACE_INPUT_MEAN,
      std: BLAZEFACE_INPUT_STD,
    }).data,
    random: Float32Array.from({ length: 3 * plane }, random),
  };
  try {
    for (const [label, nchw] of Object.entries(inputs)) {
      const nhwc = new Float32Array(nchw.length);
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < 3; c++) nhwc[p * 3 + c] = nchw[c * plane + p];
      }
      const expected = runReferenceGraph(reference, { data: nhwc, shape: [1, size, size, 3] });
      const actual = await session.run({
        [BLAZEFACE_NAMES.input]: { data: nchw, dims: [1, 3, size, size] },
      });
      for (const d of worstDiffs(actual, expected)) {
        const message = `${label} ${d.name}: |diff| ${d.absolute}, ${d.scaled} of max(1, |tfjs|)`;
        assert.ok(d.scaled <= DIFF_PER_MAGNITUDE_MAX, message);
        if (label === "random") assert.ok(d.absolute <= RANDOM_DIFF_MAX, message);
      }
    }
  } finally {
    await session.release();
    reference.dispose();
  }
});
