/**
 * The BlazeFace path (`--detector blaze`) against the SSD path (face-api's), with the real
 * models: it finds the faces SSD finds, its descriptors agree with SSD's, and the verification
 * pairs of faces-public keep their answers. Full figures: `bench/descriptor_agreement.ts`.
 * @module
 */
import assert from "node:assert/strict";
import { median } from "../internal/mod.ts";
import { iouBoxes } from "../model/detect/nms.ts";
import { decodeImage } from "../model/image/decode.ts";
import { descriptorDistance } from "../model/embed.ts";
import { Recognizer } from "../model/recognizer.ts";
import { FACES_PUBLIC_DIR, HAS_FACES_PUBLIC } from "../testing/datasets.ts";
import { ensureModels } from "../testing/models.ts";

const OPENFACE = new URL("openface/", FACES_PUBLIC_DIR);
const SAMPLES = new URL("../node_modules/@vladmandic/face-api/demo/", import.meta.url);

async function withRecognizers(
  fn: (ssd: Recognizer, blaze: Recognizer) => Promise<void>,
): Promise<void> {
  await ensureModels();
  const ssd = await Recognizer.load({ detector: "ssd" });
  const blaze = await Recognizer.load({ detector: "blaze" });
  try {
    await fn(ssd, blaze);
  } finally {
    await ssd.close();
    await blaze.close();
  }
}

Deno.test("the blaze path finds every face SSD finds on face-api's samples, with descriptors close to SSD's", async () => {
  await withRecognizers(async (ssd, blaze) => {
    const distances: number[] = [];
    for (const name of ["sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg"]) {
      const image = await decodeImage(await Deno.readFile(new URL(name, SAMPLES)));
      const bySsd = (await ssd.analyzeImage(image)).faces;
      const byBlaze = (await blaze.analyzeImage(image)).faces;
      for (const s of bySsd) {
        const match = byBlaze.find((b) => iouBoxes(s.alignedBox, b.alignedBox) >= 0.5);
        assert.ok(match, `${name}: the SSD face at ${JSON.stringify(s.box)} is not found`);
        distances.push(descriptorDistance(s.embedding, match.embedding));
      }
    }
    assert.ok(distances.length >= 10, `only ${distances.length} faces compared`);
    // Measured 0.094 median over 138 faces (bench/descriptor_agreement.ts); two photos of one
    // person are 0.4-0.5 apart, so agreement means well under that.
    assert.ok(median(distances) < 0.2, `median distance ${median(distances)}`);
  });
});

Deno.test({
  name: "the blaze path keeps faces-public's verification answers: one person under 0.6, two over",
  ignore: !HAS_FACES_PUBLIC,
  async fn() {
    await withRecognizers(async (_ssd, blaze) => {
      const descriptor = async (name: string) => {
        const image = await decodeImage(await Deno.readFile(new URL(name, OPENFACE)));
        const [face] = (await blaze.analyzeImage(image)).faces;
        assert.ok(face, `${name}: no face`);
        return face.embedding;
      };
      // One at a time: onnxruntime-web runs one call of a session at a time.
      const found: Float32Array[] = [];
      for (const n of ["lennon-1", "lennon-2", "clapton-1", "clapton-2", "adams", "carell"]) {
        found.push(await descriptor(`${n}.jpg`));
      }
      const [l1, l2, c1, c2, adams, carell] = found;
      assert.ok(descriptorDistance(l1, l2) < 0.6, `Lennon pair ${descriptorDistance(l1, l2)}`);
      assert.ok(descriptorDistance(c1, c2) < 0.6, `Clapton pair ${descriptorDistance(c1, c2)}`);
      assert.ok(
        descriptorDistance(l1, c1) > 0.6,
        `Lennon vs Clapton ${descriptorDistance(l1, c1)}`,
      );
      assert.ok(
        descriptorDistance(adams, carell) > 0.6,
        `Adams vs Carell ${descriptorDistance(adams, carell)}`,
      );
    });
  },
});
