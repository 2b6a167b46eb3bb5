import assert from "node:assert/strict";
import { depthwiseToOihw, hwioToOihw, loadTfjsWeights } from "./tfjs_weights.ts";

Deno.test("loadTfjsWeights reads face-api's recognition net with float32 conv64 filters", async () => {
  const weights = await loadTfjsWeights("face_recognition_model");
  assert.equal(weights.size, 117);
  const first = weights.get("conv32_down/conv/filters")!;
  assert.deepEqual(first.shape, [7, 7, 3, 32]);
  // Dequantised values lie in [min, min + 255 * scale] from the manifest.
  const min = -0.07101876902229645, max = min + 255 * 0.0005260649557207145;
  assert.ok(first.data.every((v) => v >= min - 1e-6 && v <= max + 1e-6));
  const conv64 = [...weights.keys()].filter((n) =>
    n.startsWith("conv64_") && n.endsWith("filters")
  );
  assert.ok(conv64.length > 0);
});

Deno.test("loadTfjsWeights names the missing package when the folder is wrong", async () => {
  await assert.rejects(
    () => loadTfjsWeights("face_recognition_model", new URL("file:///nonexistent/")),
    /not found.*deno install/,
  );
});

Deno.test("hwioToOihw and depthwiseToOihw move each element to its ONNX position", () => {
  // HWIO [2,1,2,3]: value encodes (y, x, i, o).
  const shape = [2, 1, 2, 3];
  const data = new Float32Array(12);
  for (let y = 0; y < 2; y++) {
    for (let i = 0; i < 2; i++) {
      for (let o = 0; o < 3; o++) data[(y * 2 + i) * 3 + o] = y * 100 + i * 10 + o;
    }
  }
  const out = hwioToOihw({ name: "f", shape, data });
  assert.deepEqual(out.dims, [3, 2, 2, 1]);
  assert.equal(out.data[((2 * 2 + 1) * 2 + 1) * 1 + 0], 112); // o=2, i=1, y=1, x=0
  const dw = depthwiseToOihw({
    name: "d",
    shape: [1, 2, 3, 1],
    data: new Float32Array([0, 1, 2, 10, 11, 12]),
  });
  assert.deepEqual(dw.dims, [3, 1, 1, 2]);
  assert.deepEqual(Array.from(dw.data), [0, 10, 1, 11, 2, 12]);
});
