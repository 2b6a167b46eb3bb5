/**
 * `deno task package` end to end: the package is built, its tarball unpacked into an empty
 * temporary folder outside the repository, and its programs run from there with the commands its
 * manifest gives, under an empty `DENO_DIR` (so neither node_modules nor Deno's npm cache can
 * stand in for a missing file). The packaged web tier (`serve --backend local`) starts packaged
 * workers, which must answer the course's photos, in every format the web tier accepts, with
 * their CSV labels from a gallery.
 *
 * What only a real image can add: a stock Ubuntu's Deno, its CPU (the WASM build needs SIMD) and
 * the AWS backend (the packaged worker's S3/SQS/EC2/IMDS calls are the same bundled SDK code the
 * repository's AWS tests run, but not run from the package here).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildPackage, type PackageManifest } from "../service/package.ts";
import { decodeImage } from "../model/image/decode.ts";
import { courseData, E2E_READY, E2E_SKIP_NOTE, testStackFlags } from "../testing/e2e.ts";
import { hasHeifEnc, PHOTO_ENCODERS } from "../testing/photo_encoders.ts";
import { spawnService } from "../testing/service_process.ts";

const DISTINCT_IMAGES = 10;

/** Runs a packaged program's manifest command with `args`, from `cwd`, and returns its output. */
async function runPackaged(
  command: readonly string[],
  args: readonly string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [, ...rest] = command; // "deno": this test's own Deno
  const result = await new Deno.Command(Deno.execPath(), {
    args: [...rest, ...args],
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    stdout: decoder.decode(result.stdout),
    stderr: decoder.decode(result.stderr),
  };
}

Deno.test({
  name: "the package runs from an empty folder with only deno: --help of each program, and its " +
    "web tier's workers answer course photos in every accepted format with their labels" +
    E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const outDir = await Deno.makeTempDir({ prefix: "fr-package-build-" });
    const runDir = await Deno.makeTempDir({ prefix: "fr-package-run-" });
    const denoDir = await Deno.makeTempDir({ prefix: "fr-package-denodir-" });
    try {
      const built = await buildPackage({ outDir: join(outDir, "package"), log: () => {} });
      const tar = await new Deno.Command("tar", {
        args: ["-xzf", built.tarball, "-C", runDir],
      }).output();
      assert.ok(tar.success, "the tarball unpacks");
      const pkg = join(runDir, "package");
      const manifest: PackageManifest = JSON.parse(
        await Deno.readTextFile(join(pkg, "manifest.json")),
      );
      // Nothing else is there: no deno.json, no node_modules, no source.
      const top = [...Deno.readDirSync(pkg)].map((e) => e.name).sort();
      assert.deepEqual(top, [
        "manifest.json",
        "models",
        "package.env",
        "serve.js",
        "wasm",
        "worker.js",
      ]);
      for (const file of manifest.files) {
        const bytes = await Deno.readFile(join(pkg, file.path));
        assert.equal(bytes.length, file.bytes, file.path);
      }
      for (const name of ["ort-wasm-simd-threaded.wasm", "jpeg.wasm", "libheif.wasm"]) {
        assert.ok(manifest.files.some((f) => f.path === `wasm/${name}`), name);
      }

      const env = { DENO_DIR: denoDir, NO_COLOR: "1" };
      for (const [name, program] of Object.entries(manifest.programs)) {
        const help = await runPackaged(program.command, ["--help"], pkg, env);
        assert.equal(help.code, 0, `${name} --help: ${help.stderr}`);
        assert.match(help.stdout, /--backend local\|aws/, name);
      }

      const course = await courseData();
      const dataDir = join(runDir, "data");
      const [, ...serveArgs] = manifest.programs.serve.command;
      const service = spawnService([
        ...testStackFlags(dataDir, course.gallery),
        "--max",
        "2",
        // The CSV labels are closed-set answers (see tests/e2e_formats_test.ts).
        "--threshold",
        "none",
        "--drain-ms",
        "2000",
        "--worker-log",
        "inherit", // the workers' "ready" lines say which runtime they loaded
      ], { command: [Deno.execPath(), ...serveArgs], cwd: pkg, env });
      try {
        const url = await service.listening();
        const formats = PHOTO_ENCODERS.filter(([format]) => format !== "heic" || hasHeifEnc());
        const uploads: { name: string; bytes: Uint8Array; want: string }[] = [];
        for (const file of course.files.slice(0, DISTINCT_IMAGES)) {
          const stem = file.replace(/\.jpg$/, "");
          const jpeg = await Deno.readFile(`${course.imagesDir}/${file}`);
          const want = `${stem}:${course.labels.get(stem)}`;
          uploads.push({ name: file, bytes: jpeg, want });
          const pixels = await decodeImage(jpeg);
          for (const [format, encode] of formats) {
            uploads.push({ name: `${stem}.${format}`, bytes: await encode(pixels), want });
          }
        }
        const answers = await Promise.all(uploads.map(async ({ name, bytes, want }) => {
          const form = new FormData();
          form.append("inputFile", new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
          const response = await fetch(`${url}/`, { method: "POST", body: form });
          return { name, status: response.status, body: await response.text(), want };
        }));
        const wrong = answers.filter((a) => a.status !== 200 || a.body !== a.want);
        assert.deepEqual(wrong, [], service.stderr());
        assert.equal(answers.length, DISTINCT_IMAGES * (1 + formats.length));
        const ready = service.lines.filter((l) => l.event === "ready");
        assert.ok(ready.length > 0 && ready.every((l) => l.modelBackend === "web"));
      } finally {
        service.child.kill("SIGTERM");
        await service.child.status;
        await service.drained;
      }
    } finally {
      for (const dir of [outDir, runDir, denoDir]) await Deno.remove(dir, { recursive: true });
    }
  },
});
