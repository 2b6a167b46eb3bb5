import assert from "node:assert/strict";
import {
  decodeWeightGroups,
  depthwiseToOihw,
  float16ToFloat32,
  hwioToOihw,
  loadTfjsWeights,
} from "./tfjs_weights.ts";

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

Deno.test("float16ToFloat32 decodes normals, subnormals, zero, infinity and NaN exactly", () => {
  const cases: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x8000, -0],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];
  for (const [bits, value] of cases) assert.equal(float16ToFloat32(bits), value, bits.toString(16));
  assert.ok(Number.isNaN(float16ToFloat32(0x7e00)));
});

Deno.test("decodeWeightGroups reads float16 and uint16-quantised weights and checks the byte count", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fr-weights-" });
  try {
    // float16 [1, -2] then uint16 [0, 2] with scale 0.5, min -1 → [-1, 0].
    await Deno.writeFile(`${dir}/w.bin`, new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0, 0, 2, 0]));
    const groups = [{
      paths: ["w.bin"],
      weights: [
        {
          name: "h",
          shape: [2],
          dtype: "float32" as const,
          quantization: { dtype: "float16" as const },
        },
        {
          name: "q",
          shape: [2],
          dtype: "float32" as const,
          quantization: { dtype: "uint16" as const, scale: 0.5, min: -1 },
        },
      ],
    }];
    const weights = await decodeWeightGroups("t", groups, new URL(`file://${dir}/`));
    assert.deepEqual(Array.from(weights.get("h")!.data), [1, -2]);
    assert.deepEqual(Array.from(weights.get("q")!.data), [-1, 0]);
    const short = [{ paths: ["w.bin"], weights: [{ ...groups[0].weights[0], shape: [5] }] }];
    await assert.rejects(
      () => decodeWeightGroups("t", short, new URL(`file://${dir}/`)),
      /needs bytes/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
