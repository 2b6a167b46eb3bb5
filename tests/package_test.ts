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
import { dirname, join } from "node:path";
import { buildPackage, type BuiltPackage, type PackageManifest } from "../service/package.ts";
import { parseServiceConfig, type ServiceConfig, workerFlags } from "../service/config.ts";
import {
  DENO_INSTALL_PATH,
  packageBootScript,
  WORKER_UNIT,
  WORKER_WRAPPER,
} from "../service/user_data.ts";
import {
  courseData,
  courseUploadsInFormats,
  E2E_READY,
  E2E_SKIP_NOTE,
  testStackFlags,
} from "../testing/e2e.ts";
import { hasHeifEnc, PHOTO_ENCODERS } from "../testing/photo_encoders.ts";
import { spawnService } from "../testing/service_process.ts";
import { EXIT_CODE_NOT_READY } from "../worker/readiness.ts";
import { startEmulators } from "../testing/aws_emulators.ts";
import { ensureResources, openBackend } from "../service/backend.ts";
import { serviceNames } from "../service/config.ts";
import { decodeResponse, encodeRequest } from "../protocol/mod.ts";
import { sha256Hex } from "../model/model_store.ts";

const DISTINCT_IMAGES = 10;

let built: Promise<BuiltPackage> | undefined;

/** One package for this file's tests, built on first use and removed when the process ends. */
function sharedPackage(): Promise<BuiltPackage> {
  built ??= (async () => {
    const outDir = await Deno.makeTempDir({ prefix: "fr-package-build-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(outDir, { recursive: true }));
    const gallery = E2E_READY ? (await courseData()).gallery : undefined;
    return await buildPackage({ outDir: join(outDir, "package"), gallery, log: () => {} });
  })();
  return built;
}

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
    const runDir = await Deno.makeTempDir({ prefix: "fr-package-run-" });
    const denoDir = await Deno.makeTempDir({ prefix: "fr-package-denodir-" });
    try {
      const tar = await new Deno.Command("tar", {
        args: ["-xzf", (await sharedPackage()).tarball, "-C", runDir],
      }).output();
      assert.ok(tar.success, "the tarball unpacks");
      const pkg = join(runDir, "package");
      const manifest: PackageManifest = JSON.parse(
        await Deno.readTextFile(join(pkg, "manifest.json")),
      );
      // Nothing else is there: no deno.json, no node_modules, no source.
      const top = [...Deno.readDirSync(pkg)].map((e) => e.name).sort();
      assert.deepEqual(top, [
        "faces.gallery",
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

      // A package missing a file says which and exits "not ready" (the fleet backs off), rather
      // than crashing: here the run-time files' folder is empty (the environment wins over
      // package.env).
      const emptyDir = join(runDir, "empty");
      await Deno.mkdir(emptyDir);
      const missing = await runPackaged(
        manifest.programs.worker.command,
        [
          "--data",
          join(runDir, "data-missing"),
        ],
        pkg,
        { ...env, FR_WASM_DIR: emptyDir },
      );
      assert.equal(missing.code, EXIT_CODE_NOT_READY, missing.stderr);
      const notReady = missing.stdout.trim().split("\n").map((line) => JSON.parse(line))
        .find((line) => line.event === "not_ready");
      assert.match(notReady?.reason ?? "", /empty\/[\w-]+\.(mjs|wasm)/, missing.stdout);

      const course = await courseData();
      const dataDir = join(runDir, "data");
      const [, ...serveArgs] = manifest.programs.serve.command;
      const service = spawnService([
        // The package's own copy of the gallery, found from the package folder (serve's and the
        // workers' working directory), as on an instance.
        ...testStackFlags(dataDir, "faces.gallery"),
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
        const uploads = await courseUploadsInFormats(course, DISTINCT_IMAGES, formats);
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
      for (const dir of [runDir, denoDir]) await Deno.remove(dir, { recursive: true });
    }
  },
});

async function run(
  command: string,
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, {
    args: [...args],
    env,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

async function writeExecutable(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, 0o755);
}

Deno.test({
  name: "packageBootScript installs the package from S3, checks its sha256, and " +
    "runs its worker under systemd (run in a sandbox with stand-ins for aws, curl and systemctl)",
  sanitizeResources: false,
  async fn() {
    // Stand-ins: aws (S3 GetObject from a local file), curl (Deno's release zip), snap, systemctl.
    // Only a real instance checks the real ones: snap's store, dl.deno.land, the role's rights.
    const pkg = await sharedPackage();
    const sandbox = await Deno.makeTempDir({ prefix: "fr-package-boot-" });
    try {
      const bin = join(sandbox, "bin");
      const units = join(sandbox, "units");
      const log = join(sandbox, "calls.log");
      const local = join(sandbox, "usr-local-bin");
      for (const dir of [bin, units, local]) await Deno.mkdir(dir);
      await writeExecutable(
        join(bin, "aws"),
        `#!/bin/bash\necho "aws $*" >> '${log}'\ncp '${pkg.tarball}' "\${@: -1}"\n`,
      );
      await writeExecutable(
        join(bin, "systemctl"),
        `#!/bin/bash\necho "systemctl $*" >> '${log}'\n`,
      );
      await writeExecutable(join(bin, "snap"), `#!/bin/bash\necho "snap $*" >> '${log}'\nexit 1\n`);
      // An old deno first on PATH, so the script installs the wanted one: curl "downloads" a zip
      // holding a stand-in that reports that version.
      await writeExecutable(join(bin, "deno"), `#!/bin/bash\necho "deno 1.46.3 (stable)"\n`);
      const fakeNew = join(sandbox, "deno");
      await writeExecutable(fakeNew, `#!/bin/bash\necho "deno ${Deno.version.deno} (stable)"\n`);
      const zip = join(sandbox, "deno.zip");
      const zipped = await run("python3", [
        "-c",
        "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').write(sys.argv[2], 'deno')",
        zip,
        fakeNew,
      ], { PATH: Deno.env.get("PATH")! });
      assert.equal(zipped.code, 0, zipped.stderr);
      await writeExecutable(
        join(bin, "curl"),
        `#!/bin/bash\necho "curl $*" >> '${log}'\nwhile [ "$1" != -o ]; do shift; done\ncp '${zip}' "$2"\n`,
      );

      const config = parseServiceConfig("serve", [
        "--backend",
        "aws",
        "--id",
        "fr-demo",
        "--region",
        "eu-west-1",
        "--ami",
        "ami-0123456789abcdef0",
      ], { env: () => undefined }) as ServiceConfig;
      const installDir = join(sandbox, "opt dir", "face-recognition");
      const sha256 = await sha256File(pkg.tarball);
      const options = {
        bucket: "fr-demo-artifacts",
        key: "fr-demo/package.tar.gz",
        sha256,
        command: pkg.manifest.programs.worker.command,
        denoVersion: Deno.version.deno,
        installDir,
        user: "fr_worker",
      };
      const sandboxed = (script: string) =>
        script
          .replaceAll(WORKER_WRAPPER, join(bin, "fr-worker"))
          .replaceAll("/etc/systemd/system/", `${units}/`)
          .replaceAll(DENO_INSTALL_PATH, join(local, "deno"))
          .replaceAll(`'${dirname(DENO_INSTALL_PATH)}'`, `'${local}'`);
      const env = { PATH: `${bin}:${Deno.env.get("PATH")}` };

      // A tarball that is not the one the script names is refused: nothing is installed.
      const refused = await run(
        "bash",
        ["-c", sandboxed(packageBootScript(config, { ...options, sha256: "0".repeat(64) }))],
        env,
      );
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /checksum did NOT match/);
      assert.ok(!existsSync(installDir), "nothing installed from a tarball with another digest");

      const script = packageBootScript(config, options);
      assert.equal((await run("bash", ["-n", "-c", script], env)).code, 0, "bash -n");
      await Deno.writeTextFile(log, "");
      const installed = await run("bash", ["-c", sandboxed(script)], env);
      assert.equal(installed.code, 0, installed.stderr);
      const calls = (await Deno.readTextFile(log)).trim().split("\n");
      assert.deepEqual(calls, [
        `curl -fsSL --retry 5 -o ${calls[0].split(" ")[5]} ` +
        `https://dl.deno.land/release/v${Deno.version.deno}/deno-${arch()}-unknown-linux-gnu.zip`,
        `aws s3 cp --only-show-errors --region eu-west-1 ` +
        `s3://fr-demo-artifacts/fr-demo/package.tar.gz ${calls[1].split("package.tar.gz ")[1]}`,
        "systemctl daemon-reload",
        `systemctl enable --now ${WORKER_UNIT}`,
      ]);
      assert.match((await run(join(local, "deno"), ["--version"], env)).stdout, /^deno \d/);

      // The unpacked package is the built one, and its worker runs from there.
      for (const file of pkg.manifest.files) {
        assert.equal(await sha256File(join(installDir, file.path)), file.sha256, file.path);
      }
      const [, ...workerArgs] = pkg.manifest.programs.worker.command;
      const help = await run(Deno.execPath(), [...workerArgs, "--help"], {
        PATH: Deno.env.get("PATH")!,
      }, installDir);
      assert.equal(help.code, 0, help.stderr);
      const unit = await Deno.readTextFile(join(units, WORKER_UNIT));
      assert.match(unit, /^User=fr_worker$/m);

      // The unit's wrapper runs the manifest's command with the deployment's worker flags.
      const fakeDeno = join(sandbox, "args-deno");
      await writeExecutable(
        fakeDeno,
        `#!/bin/bash\npwd\nfor a in "$@"; do printf '%s\\n' "$a"; done\n`,
      );
      const worker = await run(join(bin, "fr-worker"), [], { ...env, FR_DENO: fakeDeno });
      assert.equal(worker.code, 0, worker.stderr);
      const [cwd, ...args] = worker.stdout.replace(/\n$/, "").split("\n");
      assert.equal(cwd, installDir);
      assert.deepEqual(args, [...workerArgs, ...workerFlags(config)]);
    } finally {
      await Deno.remove(sandbox, { recursive: true });
    }
  },
});

/** The hex sha256 of a file, as the package's manifest records it. */
async function sha256File(path: string): Promise<string> {
  return sha256Hex(await Deno.readFile(path));
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function arch(): string {
  return Deno.build.arch; // "x86_64" or "aarch64", as `uname -m` says on Linux
}

Deno.test({
  name: "the packaged worker answers a course photo over the AWS SDK bundled in it (S3 and SQS " +
    "emulators)" + E2E_SKIP_NOTE,
  ignore: !E2E_READY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // No EC2 API or instance metadata here (tests/ of issue 12 item 4 stand in for them): the
    // worker cannot tag or stop its instance, says so, and exits 1 after answering. What this
    // shows is that the bundle's S3 and SQS clients work from the package.
    const pkg = await sharedPackage();
    const emulators = await startEmulators();
    const denoDir = await Deno.makeTempDir({ prefix: "fr-package-denodir-" });
    const flags = [
      "--backend",
      "aws",
      "--id",
      "pkg",
      "--s3-endpoint",
      emulators.s3Endpoint,
      "--sqs-endpoint",
      emulators.sqsEndpoint,
      "--sqs-protocol",
      "query",
      "--ec2-endpoint",
      "http://127.0.0.1:9",
      "--imds-url",
      "http://127.0.0.1:9",
    ];
    const saved = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].map((k) => [k, Deno.env.get(k)]);
    Deno.env.set("AWS_ACCESS_KEY_ID", emulators.credentials.accessKeyId);
    Deno.env.set("AWS_SECRET_ACCESS_KEY", emulators.credentials.secretAccessKey);
    const config = parseServiceConfig("worker", flags, { env: () => undefined }) as ServiceConfig;
    const backend = await openBackend(config, { fleet: false });
    try {
      const names = serviceNames(config);
      await ensureResources(backend, names, config);
      const course = await courseData();
      const stem = "test_07";
      await backend.blobs.put(
        names.inBucket,
        `${stem}.jpg`,
        await Deno.readFile(`${course.imagesDir}/${stem}.jpg`),
      );
      await backend.queue.send(
        names.requestQueue,
        encodeRequest({ v: 1, id: "pkg1", key: `${stem}.jpg`, stem, acceptedAtMs: 0 }),
      );
      const [, ...workerArgs] = pkg.manifest.programs.worker.command;
      const worker = await run(Deno.execPath(), [
        ...workerArgs,
        ...flags,
        "--gallery",
        course.gallery,
      ], {
        DENO_DIR: denoDir,
        NO_COLOR: "1",
        AWS_ACCESS_KEY_ID: emulators.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emulators.credentials.secretAccessKey,
        AWS_EC2_METADATA_DISABLED: "true",
      }, pkg.dir);
      const events = worker.stdout.trim().split("\n").map((line) => JSON.parse(line).event);
      assert.ok(events.includes("ready") && events.includes("answered"), worker.stdout);
      // Idle, it tries to stop its instance through the (absent) metadata service.
      assert.equal(worker.code, 1);
      assert.equal(events.at(-1), "failed");
      assert.match(worker.stdout, /instance metadata service/);
      const [message] = await backend.queue.receive(names.responseQueue);
      const answer = decodeResponse(message.body);
      assert.ok(answer.ok, message.body);
      assert.equal(answer.label, course.labels.get(stem));
    } finally {
      await backend.close();
      await emulators.stop();
      await Deno.remove(denoDir, { recursive: true });
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
    }
  },
});
