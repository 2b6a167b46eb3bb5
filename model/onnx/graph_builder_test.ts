import assert from "node:assert/strict";
import { float, GraphBuilder } from "./graph_builder.ts";
import { createSession } from "../runtime/session.ts";

Deno.test("GraphBuilder writes a model onnxruntime runs with the expected values", async () => {
  const g = new GraphBuilder("affine");
  const x = g.input("x", [1, 2]);
  const w = g.constant("w", new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  const b = g.constant("b", new Float32Array([0.5, -0.5, 1]), [3]);
  const y = g.op("Gemm", [x, w, b], { alpha: float(2) });
  g.output(g.op("LeakyRelu", [y], { alpha: float(0.1) }), "y", [1, 3]);
  const session = await createSession(g.toBytes({ source: "test" }));
  const out = await session.run({ x: { data: new Float32Array([1, -1]), dims: [1, 2] } });
  // 2 * ([1,-1] @ [[1,2,3],[4,5,6]]) + b = 2*[-3,-3,-3] + b = [-5.5, -6.5, -5], then leaky 0.1.
  assert.deepEqual(out.y.dims, [1, 3]);
  assert.deepEqual(Array.from(out.y.data, (v) => Math.round(v * 1e5) / 1e5), [-0.55, -0.65, -0.5]);
  await session.release();
});

Deno.test("GraphBuilder refuses a tensor whose dims do not match its data", () => {
  const g = new GraphBuilder("bad");
  assert.throws(() => g.constant("w", new Float32Array(5), [2, 3]), /has 5 elements.*need 6/);
});

Deno.test("GraphBuilder refuses a non-integer plain-number attribute", () => {
  const g = new GraphBuilder("bad");
  const x = g.input("x", [1]);
  g.output(g.op("LeakyRelu", [x], { alpha: 0.1 }), "y", [1]);
  assert.throws(() => g.toBytes(), /wrap non-integers in float\(\)/);
});
