import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, parseServiceConfig, type ServiceConfig, workerFlags } from "./config.ts";
import {
  packageUserData,
  SERVE_UNIT,
  SERVE_WRAPPER,
  shellQuote,
  WORKER_UNIT,
  WORKER_WRAPPER,
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
    const script = workerUserData(config, { appDir, user: "fr_worker" });
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
  const good = {
    bucket: "fr-artifacts",
    key: "fr/package.tar.gz",
    sha256: "a".repeat(64),
    command: ["deno", "run", "-A", "worker.js"],
    denoVersion: "2.9.6",
  };
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
    bucket: "fr-demo-artifacts-bucket",
    key: "releases/p.tar.gz",
    sha256: "a".repeat(64),
    denoVersion: "2.9.6",
    command: ["deno", "run", "-A", "--env-file=package.env", "serve.js"],
  };
  const args = ["--backend", "aws", "--launch-template", "fr-demo-app-template", "--max", "3"];
  const script = packageUserData(config, { ...options, program: "serve", args });
  assert.equal((await run("bash", ["-n", "-c", script])).code, 0, "bash -n");
  assert.ok(script.includes(`ExecStart=${SERVE_WRAPPER}\n`));
  assert.ok(script.includes(`cat > /etc/systemd/system/${SERVE_UNIT} <<`));
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
