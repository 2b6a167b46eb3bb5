/**
 * BlazeFace (MediaPipe's back-camera face detector) as `@vladmandic/human` ships it, a tfjs graph
 * model, converted to ONNX by the general tfjs graph converter. Up to the raw outputs: score logits
 * and regressors per anchor; anchors, sigmoid, box decoding and NMS are the detector's.
 * @module
 */
import { convertTfjsGraph, loadTfjsGraphModel } from "./tfjs_graph.ts";
import type { ConvertedModel, Converter } from "./types.ts";
import {
  BLAZEFACE_FEATURE_MAPS,
  BLAZEFACE_INPUT_MEAN,
  BLAZEFACE_INPUT_SIZE,
  BLAZEFACE_INPUT_STD,
  BLAZEFACE_NAMES,
  BLAZEFACE_OUTPUTS,
  BLAZEFACE_REGRESSOR_SIZE,
} from "../specs.ts";

/** The folder inside the project's node_modules where human ships its models. */
export const HUMAN_MODEL_DIR = new URL(
  "../../node_modules/@vladmandic/human/models/",
  import.meta.url,
);
const MODEL_JSON = new URL("blazeface.json", HUMAN_MODEL_DIR);
const MODEL_BIN = new URL("blazeface.bin", HUMAN_MODEL_DIR);

/** Our output names by the TF nodes tfjs returns (checked against the shapes at conversion). */
const RENAME = {
  input: BLAZEFACE_NAMES.input,
  Identity_3: BLAZEFACE_NAMES.regressors32,
  Identity: BLAZEFACE_NAMES.scores16,
  Identity_1: BLAZEFACE_NAMES.scores32,
  Identity_2: BLAZEFACE_NAMES.regressors16,
} as const;

async function humanVersion(): Promise<string> {
  const pkg = JSON.parse(await Deno.readTextFile(new URL("../package.json", HUMAN_MODEL_DIR)));
  return String(pkg.version);
}

/**
 * Converts human's `models/blazeface` to ONNX.
 * @throws {Deno.errors.NotFound} when `@vladmandic/human` is not installed (`deno install`)
 * @throws {Error} when the graph's inputs or outputs are not the ones `specs.ts` promises
 */
export const blazefaceConverter: Converter = {
  id: "blazeface",
  version: 1,
  weights: "blazeface",
  sourceFiles: [MODEL_JSON, MODEL_BIN],
  async convert(): Promise<ConvertedModel> {
    const source = `@vladmandic/human@${await humanVersion()} models/blazeface`;
    const graph = convertTfjsGraph(await loadTfjsGraphModel(MODEL_JSON), {
      name: "blazeface",
      inputLayout: "nchw",
      rename: RENAME,
      metadata: { source },
    });
    const dims: [1, 3, number, number] = [1, 3, BLAZEFACE_INPUT_SIZE, BLAZEFACE_INPUT_SIZE];
    const got = JSON.stringify({
      inputs: graph.inputs.map((i) => [i.name, i.dims]),
      outputs: graph.outputs.map((o) => [o.name, o.dims]),
    });
    const want = JSON.stringify({
      inputs: [[BLAZEFACE_NAMES.input, dims]],
      outputs: BLAZEFACE_OUTPUTS.map((o) => [o.name, o.dims]),
    });
    if (got !== want) throw new Error(`${source} is not the graph specs.ts describes: ${got}`);
    return {
      id: "blazeface",
      onnx: graph.onnx,
      // human: resizeBilinear to 256×256, then x / 127.5 - 1 on RGB.
      input: {
        name: BLAZEFACE_NAMES.input,
        dims,
        mean: [...BLAZEFACE_INPUT_MEAN],
        std: [...BLAZEFACE_INPUT_STD],
      },
      outputs: BLAZEFACE_OUTPUTS,
      source,
      extra: {
        nodeCount: graph.nodeCount,
        convMacs: graph.convMacs,
        tfjsOutputs: graph.outputs.map((o) => o.tfName),
        featureMaps: BLAZEFACE_FEATURE_MAPS,
        regressorLayout: `${BLAZEFACE_REGRESSOR_SIZE} per anchor: dx, dy, w, h, 6 × (x, y)`,
      },
    };
  },
};
