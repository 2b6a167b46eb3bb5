import assert from "node:assert/strict";
import { GraphBuilder } from "../onnx/graph_builder.ts";
import { createSession, ortSessionOptions } from "./session.ts";

Deno.test("ortSessionOptions turns spin-waiting off for native pools of several threads", () => {
  const spinning = (o: ReturnType<typeof ortSessionOptions>) =>
    (o.extra as { session?: { intra_op?: { allow_spinning?: string } } } | undefined)?.session
      ?.intra_op?.allow_spinning;
  assert.equal(spinning(ortSessionOptions("native", 2)), "0");
  assert.equal(spinning(ortSessionOptions("native", 2, true)), undefined);
  assert.equal(spinning(ortSessionOptions("native", 1)), undefined);
  assert.equal(spinning(ortSessionOptions("web", 2)), undefined);
  assert.equal(ortSessionOptions("native", 2).intraOpNumThreads, 2);
  assert.deepEqual(ortSessionOptions("web", 1).executionProviders, ["wasm"]);
});

Deno.test("createSession gives a 2-thread native session (no spin-waiting) the 1-thread outputs", async () => {
  const g = new GraphBuilder("conv");
  const x = g.input("x", [1, 8, 32, 32]);
  const w = Float32Array.from({ length: 16 * 8 * 9 }, (_, i) => Math.sin(i) / 8);
  const y = g.op("Conv", [x, g.constant("w", w, [16, 8, 3, 3])], {
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
  });
  g.output(y, "y", [1, 16, 32, 32]);
  const model = g.toBytes();
  const input = {
    data: Float32Array.from({ length: 8 * 32 * 32 }, (_, i) => Math.cos(i)),
    dims: [1, 8, 32, 32],
  };
  const one = await createSession(model, { backend: "native", threads: 1 });
  const two = await createSession(model, { backend: "native", threads: 2 });
  try {
    const a = (await one.run({ x: input })).y.data;
    const b = (await two.run({ x: input })).y.data;
    assert.equal(a.length, 16 * 32 * 32);
    assert.deepEqual(b, a);
  } finally {
    await one.release();
    await two.release();
  }
});
