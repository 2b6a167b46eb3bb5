import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, parseServiceConfig, type ServiceConfig, workerFlags } from "./config.ts";
import {
  BOOT_SCRIPT_NAME,
  DENO_INSTALL_PATH,
  packageBootScript,
  packageUserData,
  perBootUserData,
  RELEASES_SUFFIX,
  SERVE_UNIT,
  SERVE_WRAPPER,
  shellQuote,
  USER_DATA_BYTES_MAX,
  WORKER_UNIT,
  WORKER_WRAPPER,
  workerBootScript,
  workerUserData,
} from "./user_data.ts";

const HOSTILE_GALLERY = '/srv/it\'s a $HOME `id` "dir"/faces.gallery';

const DEPLOYMENT = ["--backend", "aws", "--id", "fr-demo", "--region", "eu-west-1"];

function awsConfig(extra: string[] = []): ServiceConfig {
  return parseServiceConfig("serve", [
    ...DEPLOYMENT,
    "--ami",
    "ami-0123456789abcdef0",
    "--gallery",
    HOSTILE_GALLERY,
    ...extra,
  ], { env: () => undefined }) as ServiceConfig;
}

/** A package's boot settings, as `aws up` passes them (the digest is any well-formed one). */
const PACKAGE = {
  bucket: "fr-demo-artifacts-bucket",
  key: "releases/p.tar.gz",
  sha256: "a".repeat(64),
  denoVersion: "2.9.6",
  command: ["deno", "run", "-A", "worker.js"],
};

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("shellQuote survives quotes, $, backticks and spaces through a real shell", async () => {
  for (const value of ["plain", "it's", '$HOME `id` "x"', "a  b\\c", ""]) {
    const { stdout } = await run("bash", ["-c", `printf %s ${shellQuote(value)}`]);
    assert.equal(stdout, value);
  }
});

Deno.test("workerUserData installs a boot-time systemd unit whose worker gets exactly the serve flags (run for real in a sandbox)", async () => {
  const sandbox = await Deno.makeTempDir({ prefix: "fr-user-data-" });
  try {
    const appDir = join(sandbox, "app dir");
    await Deno.mkdir(appDir);
    const config = awsConfig();
    const script = workerBootScript(config, { appDir, user: "fr_worker" });
    assert.equal(
      workerUserData(config, { appDir, user: "fr_worker" }),
      perBootUserData(script),
      "the user data runs this script at every boot",
    );
    assert.equal((await run("bash", ["-n", "-c", script])).code, 0, "bash -n");
    // The script writes to /usr/local/bin and /etc/systemd/system and calls systemctl: point the
    // first two into the sandbox and put a recording systemctl first on PATH.
    const bin = join(sandbox, "bin");
    const units = join(sandbox, "units");
    await Deno.mkdir(bin);
    await Deno.mkdir(units);
    const calls = join(sandbox, "systemctl.log");
    await Deno.writeTextFile(join(bin, "systemctl"), `#!/bin/bash\necho "$*" >> '${calls}'\n`);
    await Deno.chmod(join(bin, "systemctl"), 0o755);
    const wrapper = join(bin, "fr-worker");
    const sandboxed = script
      .replaceAll(WORKER_WRAPPER, wrapper)
      .replaceAll("/etc/systemd/system/", `${units}/`);
    const installed = await run("bash", ["-c", sandboxed], {
      PATH: `${bin}:${Deno.env.get("PATH")}`,
    });
    assert.equal(installed.code, 0, installed.stderr);
    assert.deepEqual((await Deno.readTextFile(calls)).trim().split("\n"), [
      "daemon-reload",
      `enable --now ${WORKER_UNIT}`,
    ]);
    // It runs at every boot: a second run leaves the same unit and wrapper, enabled again.
    const before = await Deno.readTextFile(join(units, WORKER_UNIT));
    assert.equal(
      (await run("bash", ["-c", sandboxed], { PATH: `${bin}:${Deno.env.get("PATH")}` })).code,
      0,
    );
    assert.equal(await Deno.readTextFile(join(units, WORKER_UNIT)), before);
    assert.deepEqual([...Deno.readDirSync(units)].map((e) => e.name), [WORKER_UNIT], "no .new");
    const unit = await Deno.readTextFile(join(units, WORKER_UNIT));
    assert.match(unit, /^User=fr_worker$/m);
    assert.match(unit, /^WantedBy=multi-user\.target$/m);
    assert.ok(unit.includes(`ExecStart=${wrapper}`));
    assert.ok(script.includes(`ExecStart=${WORKER_WRAPPER}\n`));
    // Run the installed wrapper with a Deno that reports its working directory and arguments.
    const fakeDeno = join(sandbox, "fake-deno");
    await Deno.writeTextFile(
      fakeDeno,
      `#!/bin/bash\npwd\nfor a in "$@"; do printf '%s\\n' "$a"; done\n`,
    );
    await Deno.chmod(fakeDeno, 0o755);
    const worker = await run(wrapper, [], { FR_DENO: fakeDeno, PATH: Deno.env.get("PATH")! });
    assert.equal(worker.code, 0, worker.stderr);
    const [cwd, ...args] = worker.stdout.replace(/\n$/, "").split("\n");
    assert.equal(cwd, appDir);
    assert.deepEqual(args, ["task", "worker", ...workerFlags(config)]);
    assert.ok(args.includes(HOSTILE_GALLERY));
    assert.deepEqual(args.slice(2, 2 + DEPLOYMENT.length), DEPLOYMENT);
  } finally {
    await Deno.remove(sandbox, { recursive: true });
  }
});

Deno.test("workerUserData refuses a value with a line break instead of writing a broken script", () => {
  assert.throws(
    () => workerUserData(awsConfig(), { appDir: "/opt/x\nFR_WORKER_EOF" }),
    (e: unknown) => e instanceof ConfigError && /line break/.test(e.message),
  );
});

Deno.test("parseServiceConfig checks --app-dir and --app-user, with AMI-friendly defaults", () => {
  const defaults = awsConfig();
  assert.equal(defaults.aws.appDir, "/opt/face-recognition");
  assert.equal(defaults.aws.appUser, "ubuntu");
  assert.equal(
    awsConfig(["--app-dir", "/srv/fr", "--app-user", "ec2-user"]).aws.appUser,
    "ec2-user",
  );
  assert.throws(() => awsConfig(["--app-dir", "relative/dir"]), /--app-dir: .*absolute path/);
  assert.throws(() => awsConfig(["--app-user", "Root;rm"]), /--app-user: .*Linux user name/);
});

Deno.test("packageUserData refuses what it cannot write safely: a line break, a bad digest or Deno version, a command not run by deno", () => {
  const good = PACKAGE;
  assert.match(packageUserData(awsConfig(), good), /sha256sum --check/);
  for (
    const [bad, pattern] of [
      [{ key: "fr/x\nFR_WORKER_EOF" }, /line break/],
      [{ sha256: "A".repeat(64) }, /not a hex sha256/],
      [{ denoVersion: "latest" }, /not a Deno version/],
      [{ command: ["bash", "-c", "x"] }, /starts with deno/],
      [{ user: "Root;rm" }, /Linux user name/],
    ] as const
  ) {
    assert.throws(
      () => packageUserData(awsConfig(), { ...good, ...bad }),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      JSON.stringify(bad),
    );
  }
});

Deno.test("packageUserData runs the packaged web tier under its own unit with the given settings", async () => {
  const config = awsConfig();
  const options = {
    ...PACKAGE,
    command: ["deno", "run", "-A", "--env-file=package.env", "serve.js"],
  };
  const args = ["--backend", "aws", "--launch-template", "fr-demo-app-template", "--max", "3"];
  const script = packageBootScript(config, { ...options, program: "serve", args });
  assert.equal((await run("bash", ["-n", "-c", script])).code, 0, "bash -n");
  assert.ok(script.includes(`ExecStart=${SERVE_WRAPPER}\n`));
  assert.ok(script.includes(`cat > /etc/systemd/system/${SERVE_UNIT}.new <<`));
  assert.ok(script.includes(`systemctl enable --now ${SERVE_UNIT}\n`));
  assert.ok(script.includes("Description=face-recognition web tier and controller (fr-demo)"));
  assert.ok(
    script.includes(`'serve.js' ${args.map(shellQuote).join(" ")}\n`),
    "the settings given, not the worker's",
  );
  assert.ok(!script.includes(WORKER_UNIT));
  // Without a program: the worker, as before.
  assert.ok(packageUserData(config, options).includes(`systemctl enable --now ${WORKER_UNIT}`));
});

/**
 * Parses user data with Python's `email` module, as cloud-init does (`email.message_from_string`,
 * then each part's payload decoded by its Content-Transfer-Encoding). Only a real instance runs
 * cloud-init itself.
 */
async function cloudInitParts(userData: string) {
  const parsed = await run("python3", [
    "-c",
    `import email, json, sys
msg = email.message_from_string(sys.argv[1])
print(json.dumps({"multipart": msg.is_multipart(), "parts": [
  {"type": p.get_content_type(), "file": p.get_filename(),
   "payload": p.get_payload(decode=True).decode("ascii")}
  for p in msg.walk() if not p.is_multipart()]}))`,
    userData,
  ], { PATH: Deno.env.get("PATH")! });
  assert.equal(parsed.code, 0, parsed.stderr);
  return JSON.parse(parsed.stdout) as {
    multipart: boolean;
    parts: { type: string; file: string; payload: string }[];
  };
}

Deno.test("the user data is one text/x-shellscript-per-boot part holding the boot script, as cloud-init's parser reads it", async () => {
  const config = awsConfig();
  for (
    const [userData, script] of [
      [packageUserData(config, PACKAGE), packageBootScript(config, PACKAGE)],
      [workerUserData(config), workerBootScript(config)],
    ]
  ) {
    assert.deepEqual(await cloudInitParts(userData), {
      multipart: true,
      parts: [{ type: "text/x-shellscript-per-boot", file: BOOT_SCRIPT_NAME, payload: script }],
    });
    assert.ok(userData.length <= USER_DATA_BYTES_MAX);
  }
  // What cannot be written as 7-bit text, or would end the part early, is refused.
  assert.throws(
    () => workerUserData(awsConfig(), { appDir: "/srv/fräulein" }),
    (e: unknown) => e instanceof ConfigError && /outside ASCII/.test(e.message),
  );
  assert.throws(() => perBootUserData("#!/bin/bash\necho é\n"), /outside 7-bit ASCII/);
  assert.throws(() => perBootUserData("#!/bin/bash\n# --==fr-boot-part==--\n"), /holds/);
  assert.throws(
    () => perBootUserData(`#!/bin/bash\n#${"x".repeat(USER_DATA_BYTES_MAX)}\n`),
    /USER_DATA_BYTES_MAX/,
  );
});

async function writeExecutable(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, 0o755);
}

/** The process group of this test (never to be killed). */
function ownProcessGroup(): string {
  return Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ")[2];
}

/** Where a boot can be cut short: the stand-in that stops there, and what then exists. */
const KILL_POINTS = [
  // Half the artifact copied from S3.
  { at: "download", releaseExisted: false },
  // The artifact checked and unpacked, not yet renamed to its release directory.
  { at: "unpack", releaseExisted: false },
  // The release complete, the new symlink made, not yet switched to.
  { at: "link", releaseExisted: true },
  // The package switched to, the unit written, not yet enabled.
  { at: "systemctl", releaseExisted: true },
] as const;

Deno.test({
  name:
    "packageBootScript, SIGKILLed at each step of a first boot, installs the package exactly once and correctly at the next boot, and never unpacks an unchecked artifact",
  sanitizeResources: false,
  async fn() {
    // Stand-ins for what only an instance has: aws (S3 GetObject from a local file), systemctl,
    // and a Deno of the wanted version already on PATH (the Deno download is tested in
    // tests/package_test.ts). tar and ln are the real ones, wrapped so a boot can stop after them.
    const sandbox = await Deno.makeTempDir({ prefix: "fr-boot-kill-" });
    try {
      const bin = join(sandbox, "bin");
      await Deno.mkdir(bin);
      const log = join(sandbox, "calls.log");
      const reached = join(sandbox, "reached");
      // The artifact: a package folder with a program and a 256 KB model.
      const tree = join(sandbox, "src", "package");
      await Deno.mkdir(join(tree, "models"), { recursive: true });
      await Deno.writeTextFile(join(tree, "worker.js"), "console.log('worker');\n");
      const model = crypto.getRandomValues(new Uint8Array(65_536 * 4).subarray(0, 65_536));
      const modelBytes = new Uint8Array(256 * 1024);
      for (let i = 0; i < 4; i++) modelBytes.set(model, i * 65_536);
      await Deno.writeFile(join(tree, "models", "x.onnx"), modelBytes);
      const artifact = join(sandbox, "package.tar.gz");
      const packed = await run("tar", ["-czf", artifact, "-C", join(sandbox, "src"), "package"], {
        PATH: Deno.env.get("PATH")!,
      });
      assert.equal(packed.code, 0, packed.stderr);
      const bytes = await Deno.readFile(artifact);
      const sha256 = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      const half = Math.floor(bytes.length / 2);
      // Each stand-in stops at its point when the file hang.<point> exists: it says so (with its
      // process group) and sleeps until killed.
      const hang = (point: string) =>
        `if [ -e '${sandbox}/hang.${point}' ]; then ` +
        `cut -d' ' -f5 /proc/$$/stat > '${reached}'; sleep 600; fi\n`;
      const real = (name: string) => `/usr/bin/${name}`;
      await writeExecutable(
        join(bin, "aws"),
        `#!/bin/bash\necho "aws $*" >> '${log}'\n` +
          `if [ -e '${sandbox}/hang.download' ]; then head -c ${half} '${artifact}' > "\${@: -1}"; fi\n` +
          hang("download") + `cp '${artifact}' "\${@: -1}"\n`,
      );
      await writeExecutable(
        join(bin, "tar"),
        `#!/bin/bash\n${real("tar")} "$@"\n${hang("unpack")}`,
      );
      await writeExecutable(join(bin, "ln"), `#!/bin/bash\n${real("ln")} "$@"\n${hang("link")}`);
      await writeExecutable(
        join(bin, "systemctl"),
        `#!/bin/bash\necho "systemctl $*" >> '${log}'\n` +
          `if [ "$1" = daemon-reload ]; then ${hang("systemctl")}fi\n`,
      );
      await writeExecutable(join(bin, "deno"), `#!/bin/bash\necho "deno 2.9.6 (stable)"\n`);
      const env = { PATH: `${bin}:${Deno.env.get("PATH")}` };
      const config = awsConfig();

      for (const point of KILL_POINTS) {
        const root = join(sandbox, point.at);
        const units = join(root, "units");
        const local = join(root, "usr-local-bin");
        for (const dir of [units, local]) await Deno.mkdir(dir, { recursive: true });
        const installDir = join(root, "opt dir", "face-recognition");
        const release = `${installDir}${RELEASES_SUFFIX}/${sha256}`;
        const script = packageBootScript(config, {
          ...PACKAGE,
          sha256,
          installDir,
          user: "fr_worker",
        }).replaceAll(WORKER_WRAPPER, join(root, "fr-worker"))
          .replaceAll("/etc/systemd/system/", `${units}/`)
          .replaceAll(DENO_INSTALL_PATH, join(local, "deno"));
        const boot = async () => {
          const out = await run("bash", ["-c", script], env);
          assert.equal(out.code, 0, `${point.at}: ${out.stderr}`);
        };
        const calls = async () => {
          const text = await Deno.readTextFile(log).catch(() => "");
          await Deno.writeTextFile(log, "");
          return text.trim().split("\n").filter((l) => l !== "");
        };

        // The first boot, killed (SIGKILL to its whole process group: a power cut) at the point.
        await Deno.writeTextFile(join(sandbox, `hang.${point.at}`), "");
        await Deno.remove(reached).catch(() => {});
        const first = new Deno.Command("setsid", {
          args: ["bash", "-c", script],
          env,
          stdout: "null",
          stderr: "null",
        }).spawn();
        const deadline = Date.now() + 30_000;
        let group = "";
        while ((group = await Deno.readTextFile(reached).catch(() => "")).trim() === "") {
          assert.ok(Date.now() < deadline, `${point.at}: the boot never reached its point`);
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.notEqual(group.trim(), ownProcessGroup(), "the boot runs in a group of its own");
        Deno.kill(-Number(group.trim()), "SIGKILL");
        await first.status;
        await Deno.remove(join(sandbox, `hang.${point.at}`));
        const killed = await calls();
        assert.ok(!killed.includes(`systemctl enable --now ${WORKER_UNIT}`), point.at);
        // Whatever the boot left, the install dir is absent or the complete, checked release.
        let linked: string | null = null;
        try {
          linked = await Deno.readLink(installDir);
        } catch { /* absent */ }
        assert.equal(linked, point.at === "systemctl" ? release : null, point.at);
        assert.equal(
          await Deno.stat(release).then(() => true, () => false),
          point.releaseExisted,
          `${point.at}: a release directory exists only once unpacked from a checked artifact`,
        );

        // The next boot finishes the job; the one after finds nothing to do.
        await boot();
        const next = await calls();
        assert.equal(
          next.filter((c) => c.startsWith("aws s3 cp")).length,
          point.releaseExisted ? 0 : 1,
          `${point.at}: downloads at the next boot`,
        );
        assert.ok(next.includes(`systemctl enable --now ${WORKER_UNIT}`), point.at);
        await boot();
        assert.deepEqual(await calls(), [
          "systemctl daemon-reload",
          `systemctl enable --now ${WORKER_UNIT}`,
        ], `${point.at}: a later boot downloads nothing`);
        assert.equal(await Deno.readLink(installDir), release);
        assert.deepEqual(
          [...Deno.readDirSync(`${installDir}${RELEASES_SUFFIX}`)].map((e) => e.name),
          [sha256],
          `${point.at}: one release, no leftovers`,
        );
        assert.deepEqual(await Deno.readFile(join(installDir, "models", "x.onnx")), modelBytes);
        assert.equal(
          await Deno.readTextFile(join(installDir, "worker.js")),
          "console.log('worker');\n",
        );
        assert.deepEqual([...Deno.readDirSync(units)].map((e) => e.name), [WORKER_UNIT]);
        assert.match(await Deno.readTextFile(join(units, WORKER_UNIT)), /^WantedBy=multi-user/m);
        // The installed wrapper runs the package's worker from the install dir.
        const fakeDeno = join(root, "args-deno");
        await writeExecutable(fakeDeno, `#!/bin/bash\npwd\nprintf '%s\\n' "$@"\n`);
        const worker = await run(join(root, "fr-worker"), [], { ...env, FR_DENO: fakeDeno });
        assert.equal(worker.code, 0, worker.stderr);
        const [cwd, ...args] = worker.stdout.trim().split("\n");
        assert.equal(cwd, installDir);
        assert.deepEqual(args, ["run", "-A", "worker.js", ...workerFlags(config)]);
      }
    } finally {
      await Deno.remove(sandbox, { recursive: true });
    }
  },
});
