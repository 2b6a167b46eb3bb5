/**
 * The recognizer: bytes in, labelled faces out. Owns the four ONNX sessions (loaded once per
 * process), the detection strategy, and the gallery. The CLI commands, enrollment and the
 * app-tier worker all go through it.
 * @module
 */
import { detectFacesSsd, detectFacesTiny, padToCanvas } from "./detect/mod.ts";
import { detectFacesBlaze, onnxBlazeFaceRun } from "./detect/blazeface_multiscale.ts";
import { BLAZEFACE_SPECS, toSsdLikeBox } from "./detect/blazeface.ts";
import { DETECTOR_DEFAULT, DETECTOR_STRATEGIES, type DetectorStrategy } from "./specs.ts";
import { computeDescriptor, DESCRIPTOR_LENGTH } from "./embed.ts";
import type { Box } from "./face_geometry.ts";
import { type AnalyzedFace, analyzeFaces, type DetectedFace } from "./face_pipeline.ts";
import { type Gallery, readGallery } from "./gallery/gallery.ts";
import { matchEmbedding, type Threshold } from "./gallery/match.ts";
import { decodeImage, type DecodeImageOptions, prepareDecoders } from "./image/decode.ts";
import type { RgbImage } from "./image/rgb_image.ts";
import { detectLandmarks } from "./landmarks.ts";
import { ensureModels } from "./build.ts";
import { loadModel, modelDir } from "./model_store.ts";
import { type Backend, createSession, type Session } from "./runtime/session.ts";

/** What every gallery used with this recognizer must have been made with. */
export const EMBEDDER_MODEL = {
  modelId: "face-api/face_recognition@1.7.15",
  dims: DESCRIPTOR_LENGTH,
} as const;

/** The label for an image in which no face was found. */
export const NO_FACE_LABEL = "NoFace";

/**
 * Detection strategies ({@linkcode DetectorStrategy}, listed in `model/specs.ts`).
 * - `ssd`: face-api's SSD MobileNetV1 at 512×512: exactly face-api's result (parity).
 * - `tiny`: face-api's tiny detector at `tinyInputSize` (about 4× faster, weaker on small faces).
 * - `auto` (default): BlazeFace for ordinary images (see `blaze`). A small image (longest side ≤
 *   {@linkcode SMALL_IMAGE_SIDE_MAX}) goes through a cascade that stops at the first step finding
 *   a face: the tiny detector at an input size fitted to the image (128 for 64×64), then the tiny
 *   detector at 416 on a {@linkcode SMALL_IMAGE_CANVAS_SIDE}-pixel black canvas, then BlazeFace.
 *   Loose face crops like the course's 64×64 images defeat SSD and tiny at their default sizes
 *   (measured with face-api itself: SSD finds 0 of the course's 10 distinct images, tiny at 416
 *   finds 2); the first step finds all 10 in a few milliseconds, at scores just over 0.5, so the
 *   later steps catch what a slightly different image would lose. Measured against `ssd` on real
 *   photos (`docs/blazeface_evaluation.md`): every face SSD finds, LFW 100/100 where SSD finds
 *   95, tight crops from 32 to 6000 px (SSD: none above 160), descriptors within a median 0.094
 *   of SSD's; 5.7× faster on onnxruntime-web. It also finds a face in 7 of 41 face-free texture
 *   patches where SSD finds none.
 * - `blaze`: BlazeFace alone (back, 256×256; `@vladmandic/human`'s weights converted by
 *   `model/convert/tfjs_graph.ts`), 377 MFLOP a pass against SSD's 6.29 GFLOP, through
 *   `detectFacesBlaze`'s views (the whole photo, zoomed out when a face fills it or none is
 *   found), so every face size from 32 to 6000 px is found; its boxes are mapped to SSD-like
 *   boxes (`toSsdLikeBox`) for the landmark crop. Its own score thresholds apply (0.6 on the
 *   whole photo, 0.4 zoomed out: `docs/blazeface_evaluation.md`), not `minConfidence`.
 */
export type { DetectorStrategy } from "./specs.ts";
export { DETECTOR_DEFAULT, DETECTOR_STRATEGIES, DETECTOR_SUMMARIES } from "./specs.ts";

/** Images whose longer side is at most this get the small-image cascade under `auto`. */
export const SMALL_IMAGE_SIDE_MAX = 160;
/** The black canvas a small image is placed on (top-left) for the cascade's later steps. */
export const SMALL_IMAGE_CANVAS_SIDE = 256;

/**
 * The tiny detector's input size for a small image: the smallest multiple of 32 at least twice
 * the longer side, so the net sees the face at a scale it was trained on (64 px → 128).
 */
export function tinyInputSizeForSmallImage(image: { width: number; height: number }): number {
  const side = Math.max(image.width, image.height);
  return Math.max(32, Math.ceil((2 * side) / 32) * 32);
}

/** Options for {@linkcode Recognizer.load}. */
export interface RecognizerOptions {
  /** @default {"web"} */
  backend?: Backend;
  /** Intra-op threads per session. @default {1} */
  threads?: number;
  /** @default {"auto"} */
  detector?: DetectorStrategy;
  /** Tiny detector input size when `detector` is `tiny`. @default {416} */
  tinyInputSize?: number;
  /** Minimum detection score. @default {0.5} */
  minConfidence?: number;
  /** A gallery file; without one every face is `Unknown`. */
  galleryPath?: string;
  /** Match threshold, or `none` for closed-set nearest neighbour. @default {0.6} */
  threshold?: Threshold;
  /** Progress of a first-use model build. @default {console.error} */
  log?: (line: string) => void;
  /** Where the built models are; built there on first use. @default {modelDir()} */
  modelDir?: URL;
  /** Decoding limits. */
  decode?: DecodeImageOptions;
  /** Monotonic milliseconds, for timings. @default {performance.now} */
  nowMs?: () => number;
}

/** One face in a recognition result. */
export interface RecognizedFace {
  readonly box: Box;
  readonly score: number;
  readonly label: string;
  /** Distance to the matched entry; null without a gallery. */
  readonly distance: number | null;
}

/** A recognition result. */
export interface Recognition {
  /** The plain-text answer's label: the largest face's, or `NoFace`. */
  readonly label: string;
  readonly faces: readonly RecognizedFace[];
  readonly width: number;
  readonly height: number;
  /** decode, detect, landmarks, embed, match, total. */
  readonly timingsMs: Readonly<Record<string, number>>;
}

/** An analysis: faces with embeddings, largest first. */
export interface Analysis {
  readonly faces: readonly AnalyzedFace[];
  readonly width: number;
  readonly height: number;
  readonly timingsMs: Readonly<Record<string, number>>;
}

interface Sessions {
  /** SSD: opened at load under the `ssd` strategy only. */
  ssd?: Session;
  /** BlazeFace: opened at load under `auto` and `blaze` only. */
  blaze?: Session;
  tiny: Session;
  landmarks: Session;
  recognition: Session;
}
type Specs = Awaited<ReturnType<typeof loadSpecs>>;

/** Loads models once and recognises faces in image bytes. */
export class Recognizer {
  readonly #sessions: Sessions;
  readonly #specs: Specs;
  readonly #options: Required<
    Pick<RecognizerOptions, "detector" | "tinyInputSize" | "minConfidence" | "threshold">
  >;
  readonly #decode: DecodeImageOptions;
  readonly #nowMs: () => number;
  /**
   * The model calls in progress: onnxruntime-web runs one call of a session at a time (a second
   * concurrent one fails with "failed to call OrtRun()"), so concurrent callers take turns.
   */
  #turn: Promise<unknown> = Promise.resolve();
  readonly gallery: Gallery | undefined;

  private constructor(
    sessions: Sessions,
    specs: Specs,
    options: RecognizerOptions,
    gallery: Gallery | undefined,
  ) {
    this.#sessions = sessions;
    this.#specs = specs;
    this.#options = {
      detector: options.detector ?? DETECTOR_DEFAULT,
      tinyInputSize: options.tinyInputSize ?? 416,
      minConfidence: options.minConfidence ?? 0.5,
      threshold: options.threshold ?? 0.6,
    };
    this.#decode = options.decode ?? {};
    this.#nowMs = options.nowMs ?? (() => performance.now());
    this.gallery = gallery;
  }

  /**
   * Loads the four models (and the gallery, if given).
   * Builds the models first when they are missing (a fresh clone), under a lock.
   * @throws {Deno.errors.NotFound} when the models are missing and cannot be built (no weights)
   * @throws {GalleryFileError|GalleryMismatchError} for a missing, corrupt or foreign gallery
   * @throws {RangeError} for a bad option, naming it
   */
  static async load(options: RecognizerOptions = {}): Promise<Recognizer> {
    const detector = options.detector ?? DETECTOR_DEFAULT;
    if (!DETECTOR_STRATEGIES.includes(detector)) {
      throw new RangeError(
        `detector "${detector}" is not one of ${DETECTOR_STRATEGIES.join(", ")}`,
      );
    }
    const minConfidence = options.minConfidence ?? 0.5;
    if (!(minConfidence > 0 && minConfidence < 1)) {
      throw new RangeError(`minConfidence must be in (0, 1), got ${minConfidence}`);
    }
    const dir = options.modelDir ?? modelDir();
    await ensureModels(dir, { log: options.log });
    const gallery = options.galleryPath
      ? await readGallery(options.galleryPath, EMBEDDER_MODEL)
      : undefined;
    // WebAssembly compilation of the decoders proceeds while the sessions are created.
    const decoders = prepareDecoders();
    // Awaited after the sessions: a decoder that fails to load meanwhile (a file missing from
    // node_modules or a package) must surface there, not as an unhandled rejection that kills
    // the process before it can say why.
    decoders.catch(() => {});
    const specs = await loadSpecs(dir);
    const sessionOptions = { backend: options.backend, threads: options.threads };
    const [tiny, landmarks, recognition] = await Promise.all(
      [specs.tiny, specs.landmarks, specs.recognition].map((m) =>
        createSession(m.onnx, sessionOptions)
      ),
    );
    // The strategy's detector is opened now, so a missing or bad model file fails the start, not
    // a request; the other detectors are never opened.
    const open = async (id: "ssd_mobilenetv1" | "blazeface") =>
      createSession((await loadModel(id, dir)).onnx, sessionOptions);
    const ssd = detector === "ssd" ? await open("ssd_mobilenetv1") : undefined;
    const blaze = detector === "auto" || detector === "blaze" ? await open("blazeface") : undefined;
    await decoders;
    return new Recognizer({ ssd, blaze, tiny, landmarks, recognition }, specs, options, gallery);
  }

  /**
   * Runs the always-loaded networks a few times on a blank image, so the first real request is
   * not the one that pays for onnxruntime's first runs (its memory arena grows over the first
   * runs; measured: a worker's first answer took ~1.2 s against ~75 ms warm). A worker calls
   * this before it reports ready.
   * @param runs passes over each network @default {2}
   */
  warmUp(runs = 2): Promise<void> {
    return this.#inTurn(() => this.#warmUp(runs));
  }

  async #warmUp(runs: number): Promise<void> {
    const blank: RgbImage = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(128) };
    const { landmarks, recognition } = this.#specs;
    const blazeBlank = new Float32Array(BLAZEFACE_SPECS.back.inputSize ** 2 * 3);
    for (let i = 0; i < runs; i++) {
      await detectFacesTiny(this.#sessions.tiny, blank, {
        inputSize: tinyInputSizeForSmallImage(blank),
      });
      const { blaze } = this.#sessions;
      // One pass on a blank input, not detectFacesBlaze's views: a blank photo has no face, so it
      // would take all three views, tripling what the worker's start-up pays.
      if (blaze) await onnxBlazeFaceRun(blaze)(blazeBlank, BLAZEFACE_SPECS.back.inputSize);
      await detectLandmarks(this.#sessions.landmarks, landmarks.entry.input, blank);
      await computeDescriptor(this.#sessions.recognition, recognition.entry.input, blank);
    }
  }

  /** Releases the sessions. */
  async close(): Promise<void> {
    const { ssd, blaze, tiny, landmarks, recognition } = this.#sessions;
    const opened = [tiny, landmarks, recognition, ssd, blaze].filter((s) => s !== undefined);
    await Promise.all(opened.map((s) => s.release()));
  }

  /** Runs `fn` after the model calls already asked for, so no session runs twice at once. */
  #inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(fn, fn);
    this.#turn = run.catch(() => {});
    return run;
  }

  /** Runs the configured detection strategy on a decoded image. */
  detect(image: RgbImage): Promise<readonly DetectedFace[]> {
    return this.#inTurn(() => this.#detect(image));
  }

  async #detect(image: RgbImage): Promise<readonly DetectedFace[]> {
    const { detector, tinyInputSize, minConfidence } = this.#options;
    if (detector === "blaze") return this.#detectBlaze(image);
    if (detector === "tiny") {
      return detectFacesTiny(this.#sessions.tiny, image, {
        inputSize: tinyInputSize,
        scoreThreshold: minConfidence,
      });
    }
    if (detector === "ssd") {
      return detectFacesSsd(this.#opened("ssd"), image, { minConfidence });
    }
    if (Math.max(image.width, image.height) > SMALL_IMAGE_SIDE_MAX) return this.#detectBlaze(image);
    const tiny = (img: RgbImage, inputSize: number) =>
      detectFacesTiny(this.#sessions.tiny, img, { inputSize, scoreThreshold: minConfidence });
    const steps = [
      () => tiny(image, tinyInputSizeForSmallImage(image)),
      // The canvas keeps the image at (0, 0), so boxes found on it are already in image pixels.
      () => tiny(padToCanvas(image, SMALL_IMAGE_CANVAS_SIDE), 416),
      () => this.#detectBlaze(image),
    ];
    for (const step of steps) {
      const faces = await step();
      if (faces.length > 0) return faces;
    }
    return [];
  }

  /** A detector's session, which `load` opened because the strategy runs it. */
  #opened(name: "ssd" | "blaze"): Session {
    const session = this.#sessions[name];
    if (!session) {
      throw new Error(`the ${name} session is not open under detector "${this.#options.detector}"`);
    }
    return session;
  }

  /** BlazeFace through its views, boxes mapped to what SSD would give for the landmark crop. */
  async #detectBlaze(image: RgbImage): Promise<readonly DetectedFace[]> {
    const run = onnxBlazeFaceRun(this.#opened("blaze"));
    const faces = await detectFacesBlaze(image, run, { layout: "nchw" });
    return faces.map((f) => ({ box: toSsdLikeBox(f.box), score: f.score }));
  }

  /** Detects, aligns and embeds every face of a decoded image. */
  analyzeImage(image: RgbImage): ReturnType<typeof analyzeFaces> {
    const { landmarks, recognition } = this.#specs;
    return this.#inTurn(() =>
      analyzeFaces(image, {
        detect: (img) => this.#detect(img),
        landmarks: (crop) => detectLandmarks(this.#sessions.landmarks, landmarks.entry.input, crop),
        embed: (crop) =>
          computeDescriptor(this.#sessions.recognition, recognition.entry.input, crop),
      }, { nowMs: this.#nowMs })
    );
  }

  /**
   * Decodes and analyses image bytes.
   * @throws {ImageError} when the bytes are not a usable image
   */
  async analyze(bytes: Uint8Array): Promise<Analysis> {
    const t0 = this.#nowMs();
    const image = await decodeImage(bytes, this.#decode);
    const decodeMs = this.#nowMs() - t0;
    const { faces, timingsMs } = await this.analyzeImage(image);
    return {
      faces,
      width: image.width,
      height: image.height,
      timingsMs: { decode: decodeMs, ...timingsMs, total: this.#nowMs() - t0 },
    };
  }

  /**
   * Decodes, analyses and labels image bytes.
   * @throws {ImageError} when the bytes are not a usable image
   */
  async recognize(bytes: Uint8Array): Promise<Recognition> {
    const t0 = this.#nowMs();
    const analysis = await this.analyze(bytes);
    const t1 = this.#nowMs();
    const faces = analysis.faces.map((face): RecognizedFace => {
      if (!this.gallery) {
        return { box: face.box, score: face.score, label: "Unknown", distance: null };
      }
      const match = matchEmbedding(this.gallery, face.embedding, {
        threshold: this.#options.threshold,
      });
      const distance = Number.isFinite(match.distance) ? match.distance : null;
      return { box: face.box, score: face.score, label: match.label, distance };
    });
    const t2 = this.#nowMs();
    return {
      label: faces[0]?.label ?? NO_FACE_LABEL,
      faces,
      width: analysis.width,
      height: analysis.height,
      timingsMs: { ...analysis.timingsMs, match: t2 - t1, total: t2 - t0 },
    };
  }
}

async function loadSpecs(dir: URL) {
  const [tiny, landmarks, recognition] = await Promise.all([
    loadModel("tiny_face_detector", dir),
    loadModel("face_landmark_68", dir),
    loadModel("face_recognition", dir),
  ]);
  return { tiny, landmarks, recognition };
}
