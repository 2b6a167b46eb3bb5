import assert from "node:assert/strict";
import {
  ConfigError,
  parseServiceConfig,
  type ServiceCommand,
  type ServiceConfig,
  serviceNames,
  SETTINGS,
  settingsUsage,
  workerFlags,
} from "./config.ts";
import { SERVICE_COMMANDS } from "./settings.ts";

const noEnv = () => undefined;

Deno.test("parseServiceConfig defaults start's maximum to the CPU cores and serve's to 15", () => {
  const start = parseServiceConfig("start", [], { env: noEnv, cores: 6 });
  const serve = parseServiceConfig("serve", [], { env: noEnv, cores: 6 });
  assert.ok(start !== "help" && serve !== "help");
  assert.equal(start.instancesMax, 6);
  assert.equal(serve.instancesMax, 15);
  assert.equal(start.backend, "local");
  assert.equal(start.port, 8000);
  assert.equal(start.keepAliveMs, 0);
});

Deno.test("parseServiceConfig reads flags and PORT from the environment", () => {
  const config = parseServiceConfig(
    "start",
    ["--max", "15", "--gallery", "g.fgal", "--data", "/tmp/d", "--keep-alive-ms", "2000"],
    { env: (name) => (name === "PORT" ? "9001" : undefined), cores: 2 },
  );
  assert.ok(config !== "help");
  assert.equal(config.instancesMax, 15);
  assert.equal(config.gallery, "g.fgal");
  assert.equal(config.dataDir, "/tmp/d");
  assert.equal(config.port, 9001);
  assert.equal(config.keepAliveMs, 2000);
});

Deno.test("parseServiceConfig fails fast naming the bad setting", () => {
  const bad: [string[], RegExp][] = [
    [["--max", "0"], /^--max: must be an integer in \[1, 32\], got "0"/],
    [["--max", "many"], /^--max/],
    [["--backend", "gcp"], /^--backend: must be one of local, aws/],
    [["--backend", "aws"], /^--id: required with --backend aws/],
    [["--id", "Bad_Id"], /^--id: invalid deployment id/],
    [["--region", "mars"], /^--region/],
    [["--port", "70000"], /^--port/],
    [["--frobnicate"], /^--frobnicate: unknown flag; see --help$/],
    [["--model-backend", "gpu"], /^--model-backend/],
    [["--ami", "ubuntu"], /^--ami: must be an AMI id/],
    [["--security-groups", "sg-12345678,web"], /^--security-groups/],
    [["--sqs-endpoint", "ftp://x"], /^--sqs-endpoint: must be an http\(s\) URL/],
  ];
  for (const [args, pattern] of bad) {
    assert.throws(() => parseServiceConfig("start", args, { env: noEnv }), (error) => {
      assert.ok(error instanceof ConfigError, `${args}: ${error}`);
      assert.match(error.message, pattern);
      return true;
    });
  }
});

Deno.test("serviceNames and workerFlags carry the deployment to the worker", () => {
  const config = parseServiceConfig("start", [
    "--id",
    "demo",
    "--gallery",
    "g",
    "--threshold",
    "none",
  ], { env: noEnv });
  assert.ok(config !== "help");
  assert.deepEqual(serviceNames(config), {
    inBucket: "demo-in-bucket",
    outBucket: "demo-out-bucket",
    requestQueue: "demo-req-queue",
    responseQueue: "demo-resp-queue",
    deadLetterQueue: "demo-req-dlq",
    requestsBucket: "demo-requests-bucket",
  });
  const worker = parseServiceConfig("worker", workerFlags(config), { env: noEnv });
  assert.ok(worker !== "help");
  assert.equal(worker.id, "demo");
  assert.equal(worker.gallery, "g");
  assert.equal(worker.threshold, "none");
  assert.equal(worker.dataDir, config.dataDir);
});

Deno.test("parseServiceConfig uses DIR/faces.gallery when enroll wrote one there, else none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const without = parseServiceConfig("start", ["--data", dir], { env: noEnv, cores: 2 });
    assert.ok(without !== "help");
    assert.equal(without.gallery, undefined);
    assert.equal(without.modelBackend, "web");
    await Deno.writeFile(`${dir}/faces.gallery`, new Uint8Array(1));
    const withGallery = parseServiceConfig("start", ["--data", dir], { env: noEnv, cores: 2 });
    assert.ok(withGallery !== "help");
    assert.equal(withGallery.gallery, `${dir}/faces.gallery`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseServiceConfig takes --web-instance for serve only, 1..99, default 1", () => {
  const noEnv = () => undefined;
  assert.equal((parseServiceConfig("serve", [], { env: noEnv }) as ServiceConfig).webInstance, 1);
  const second = parseServiceConfig("serve", ["--web-instance", "2"], { env: noEnv });
  assert.equal((second as ServiceConfig).webInstance, 2);
  assert.throws(
    () => parseServiceConfig("start", ["--web-instance", "2"], { env: noEnv }),
    /--web-instance: only `deno task serve`/,
  );
  assert.throws(
    () => parseServiceConfig("serve", ["--web-instance", "100"], { env: noEnv }),
    /--web-instance/,
  );
});

Deno.test("parseServiceConfig binds start to 127.0.0.1 and serve to 0.0.0.0 unless --hostname says otherwise", () => {
  const start = parseServiceConfig("start", [], { env: noEnv }) as ServiceConfig;
  const serve = parseServiceConfig("serve", [], { env: noEnv }) as ServiceConfig;
  assert.equal(start.hostname, "127.0.0.1");
  assert.equal(serve.hostname, "0.0.0.0");
  const open = parseServiceConfig("start", ["--hostname", "0.0.0.0"], { env: noEnv });
  assert.equal((open as ServiceConfig).hostname, "0.0.0.0");
  assert.throws(
    () => parseServiceConfig("start", ["--hostname", "a b"], { env: noEnv }),
    /--hostname: must be an IP address/,
  );
});

Deno.test("parseServiceConfig takes the API token from one of flag, file or FR_API_TOKEN, and checks it", () => {
  const token = "tok-0123456789abcdef";
  const none = parseServiceConfig("serve", [], { env: noEnv }) as ServiceConfig;
  assert.equal(none.apiToken, undefined);
  const flag = parseServiceConfig("serve", ["--api-token", token], { env: noEnv });
  assert.equal((flag as ServiceConfig).apiToken, token);
  const env = parseServiceConfig("serve", [], {
    env: (name) => (name === "FR_API_TOKEN" ? token : undefined),
  });
  assert.equal((env as ServiceConfig).apiToken, token);
  const file = parseServiceConfig("serve", ["--api-token-file", "/run/secrets/fr"], {
    env: noEnv,
    readTextFile: (path) => (path === "/run/secrets/fr" ? `${token}\n` : ""),
  });
  assert.equal((file as ServiceConfig).apiToken, token, "the first line, without its newline");
  assert.throws(
    () => parseServiceConfig("serve", ["--api-token", "short"], { env: noEnv }),
    (e: Error) => e instanceof ConfigError && /^--api-token: .*16\.\.4096/.test(e.message),
  );
  assert.throws(
    () =>
      parseServiceConfig("serve", ["--api-token", token, "--api-token-file", "f"], { env: noEnv }),
    /not both/,
  );
  assert.throws(
    () =>
      parseServiceConfig("serve", ["--api-token-file", "/nonexistent/fr-token"], { env: noEnv }),
    /--api-token-file: cannot read/,
  );
  assert.ok(!workerFlags(flag as ServiceConfig).includes(token), "workers never get the token");
});

Deno.test("parseServiceConfig reads --drain-ms and --uploads-per-client-max", () => {
  const d = parseServiceConfig("start", [], { env: noEnv }) as ServiceConfig;
  assert.equal(d.drainMs, 10_000);
  assert.equal(d.uploadsPerClientMax, 128);
  const c = parseServiceConfig("start", ["--drain-ms", "0", "--uploads-per-client-max", "4"], {
    env: noEnv,
  }) as ServiceConfig;
  assert.equal(c.drainMs, 0);
  assert.equal(c.uploadsPerClientMax, 4);
  assert.throws(
    () => parseServiceConfig("start", ["--drain-ms", "700000"], { env: noEnv }),
    /--drain-ms: must be an integer in \[0, 600000\]/,
  );
});

Deno.test("--threshold defaults to 0.6 and a bad value fails fast naming the flag", () => {
  const config = parseServiceConfig("start", [], { env: noEnv });
  assert.ok(config !== "help");
  assert.equal(config.threshold, 0.6);
  assert.throws(
    () => parseServiceConfig("start", ["--threshold", "-1"], { env: noEnv }),
    (error: Error) => error instanceof ConfigError && /^--threshold: /.test(error.message),
  );
});

Deno.test("--detector defaults to auto, reaches the workers, and a bad value fails naming the flag", () => {
  const config = parseServiceConfig("start", [], { env: noEnv });
  assert.ok(config !== "help");
  assert.equal(config.detector, "auto");
  const ssd = parseServiceConfig("start", ["--detector", "ssd"], { env: noEnv });
  assert.ok(ssd !== "help");
  const worker = parseServiceConfig("worker", workerFlags(ssd), { env: noEnv });
  assert.ok(worker !== "help");
  assert.equal(worker.detector, "ssd");
  assert.throws(
    () => parseServiceConfig("serve", ["--detector", "yolo"], { env: noEnv }),
    (error: Error) =>
      error instanceof ConfigError && /^--detector: .*auto, ssd, tiny, blaze/.test(error.message),
  );
});

/** The flags named in a `--help` text's first column. */
function helpFlags(help: string): string[] {
  return help.split("\n").filter((line) => line.startsWith("  --")).flatMap((line) =>
    line.slice(2).split(/ {2,}/)[0].match(/--[a-z0-9-]+/g) ?? []
  );
}

/** A command's flags by the table, `--api-token-file` with `--api-token`. */
function flagsOf(command: ServiceCommand): string[] {
  return Object.values(SETTINGS).filter((row) => row.commands.includes(command))
    .flatMap((row) => [row.flag, ...(row.fileFlag === undefined ? [] : [row.fileFlag])])
    .map((flag) => `--${flag}`);
}

Deno.test("settingsUsage lists exactly the settings each command takes", () => {
  for (const command of SERVICE_COMMANDS) {
    assert.deepEqual(helpFlags(settingsUsage(command)), flagsOf(command), command);
  }
  const worker = helpFlags(settingsUsage("worker"));
  for (const flag of ["--port", "--hostname", "--ami", "--drain-ms", "--max", "--api-token"]) {
    assert.ok(!worker.includes(flag), `worker --help offers ${flag}`);
    assert.ok(helpFlags(settingsUsage("start")).includes(flag), `start --help lacks ${flag}`);
  }
  for (const flag of ["--backend", "--id", "--data", "--keep-alive-ms", "--threshold"]) {
    assert.ok(worker.includes(flag), `worker --help lacks ${flag}`);
  }
  assert.deepEqual(helpFlags(settingsUsage("blobs")), [
    "--backend",
    "--id",
    "--region",
    "--data",
    "--s3-endpoint",
  ]);
  assert.ok(helpFlags(settingsUsage("serve")).includes("--web-instance"));
  assert.ok(!helpFlags(settingsUsage("start")).includes("--web-instance"));
  for (const line of settingsUsage("start").split("\n")) assert.ok(line.length <= 100, line);
  assert.match(settingsUsage("start"), /^ {2}--max N {2,}.*\(CPU cores\)$/m);
  assert.match(settingsUsage("serve"), /^ {2}--max N {2,}.*\(15\)$/m);
});

Deno.test("parseServiceConfig refuses a flag of another command, naming it and who takes it", () => {
  const refused: [ServiceCommand, string[], RegExp][] = [
    ["worker", ["--port", "8001"], /^--port: only `deno task start` and `deno task serve` take it/],
    ["worker", ["--hostname", "0.0.0.0"], /^--hostname: only/],
    ["worker", ["--ami", "ami-0123456789abcdef0"], /^--ami: only/],
    ["worker", ["--drain-ms", "5"], /^--drain-ms: only/],
    ["worker", ["--api-token-file", "f"], /^--api-token-file: only/],
    ["start", ["--web-instance", "1"], /^--web-instance: only `deno task serve` takes it/],
    ["blobs", ["--threads", "2"], /^--threads: only `deno task start`, `deno task serve` and/],
  ];
  for (const [command, args, pattern] of refused) {
    assert.throws(() => parseServiceConfig(command, args, { env: noEnv }), (error) => {
      assert.ok(error instanceof ConfigError, `${command} ${args}: ${error}`);
      assert.match(error.message, pattern);
      return true;
    });
  }
  // A setting a command does not take keeps its default, read from nowhere.
  const worker = parseServiceConfig("worker", [], {
    env: (name) => ({ PORT: "9", FR_API_TOKEN: "tok-0123456789abcdef" })[name],
  }) as ServiceConfig;
  assert.equal(worker.port, 8000);
  assert.equal(worker.apiToken, undefined);
});

/** A value each setting refuses, by flag: every row must have one. */
const BAD: Readonly<Record<string, string>> = {
  backend: "gcp",
  id: "Bad_Id",
  region: "mars",
  data: "",
  port: "65536",
  hostname: "a b",
  "api-token": "short",
  "drain-ms": "600001",
  "uploads-per-client-max": "0",
  max: "33",
  "keep-alive-ms": "86400001",
  "tick-ms": "9",
  "web-instance": "100",
  gallery: "",
  threshold: "-1",
  detector: "yolo",
  "model-backend": "gpu",
  threads: "65",
  "visibility-timeout-ms": "999",
  "receive-count-max": "1001",
  "imds-url": "169.254.169.254",
  "worker-log": "file",
  "disk-free-bytes-min": "-1",
  "launch-template": "a b",
  ami: "ubuntu",
  "instance-type": "micro",
  "web-instance-type": "micro",
  "ingress-cidr": "10.0.0.0/33",
  "key-name": "",
  "security-groups": "sg-12345678,web",
  subnet: "default",
  "iam-profile": "a b",
  "user-data-file": "",
  "app-dir": "relative/dir",
  "app-user": "Root;rm",
  "s3-endpoint": "ftp://x",
  "sqs-endpoint": "localhost:9324",
  "ec2-endpoint": "",
  "sqs-protocol": "xml",
};

Deno.test("every setting parses its default and refuses a bad value with a message naming its flag", () => {
  const rows = Object.entries(SETTINGS);
  assert.deepEqual(rows.map(([, row]) => row.flag).sort(), Object.keys(BAD).sort());
  for (const command of SERVICE_COMMANDS) {
    const defaults = parseServiceConfig(command, [], { env: noEnv, cores: 3 }) as ServiceConfig;
    for (const [path, row] of rows) {
      if (!row.commands.includes(command)) continue;
      const at = (config: ServiceConfig) =>
        path.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], config);
      const value = at(defaults);
      if (value !== undefined) {
        // The default, given as a flag, is the same value: the table's default is valid.
        const format = row.value.format as (v: unknown) => string;
        const given = parseServiceConfig(command, [`--${row.flag}`, format(value)], {
          env: noEnv,
          cores: 3,
        });
        assert.deepEqual(at(given as ServiceConfig), value, `${command} --${row.flag}`);
      }
      const args = [`--${row.flag}`, BAD[row.flag]];
      assert.throws(() => parseServiceConfig(command, args, { env: noEnv }), (error) => {
        assert.ok(error instanceof ConfigError, `${command} ${args}: ${error}`);
        assert.ok(
          error.message.startsWith(`--${row.flag}: `) && error.setting === `--${row.flag}`,
          `${command} ${args}: ${error.message}`,
        );
        return true;
      });
    }
  }
});

Deno.test("a bad PORT or FR_API_TOKEN from the environment is named as such", () => {
  assert.throws(
    () => parseServiceConfig("start", [], { env: (name) => (name === "PORT" ? "http" : "") }),
    /PORT: must be an integer in \[0, 65535\], got "http"/,
  );
  assert.throws(
    () => parseServiceConfig("serve", [], { env: (n) => (n === "FR_API_TOKEN" ? "x" : "") }),
    /ConfigError: FR_API_TOKEN: /,
  );
});

Deno.test("workerFlags round-trips: the worker parses the inherited settings to the parent's values", () => {
  const parents = [
    parseServiceConfig("start", [], { env: noEnv }),
    parseServiceConfig("serve", [
      ...["--backend", "aws", "--id", "demo", "--region", "eu-west-1", "--data", "/tmp/d"],
      ...["--keep-alive-ms", "5000", "--gallery", "/srv/g b.gallery", "--threshold", "none"],
      ...["--model-backend", "auto", "--threads", "2", "--visibility-timeout-ms", "20000"],
      ...["--imds-url", "http://127.0.0.1:1", "--s3-endpoint", "http://127.0.0.1:2"],
      ...["--sqs-endpoint", "http://127.0.0.1:3", "--ec2-endpoint", "http://127.0.0.1:4/"],
      ...["--sqs-protocol", "query", "--port", "9000", "--max", "3", "--ami"],
      ...["ami-0123456789abcdef0", "--api-token", "tok-0123456789abcdef"],
    ], { env: noEnv }),
  ] as ServiceConfig[];
  const inherited = Object.entries(SETTINGS).filter(([, row]) => row.inherit);
  const worker = Object.entries(SETTINGS).filter(([, row]) => row.commands.includes("worker"));
  // The worker takes exactly what it inherits: no flag of its command line is refused, and none
  // of its settings is left to a default its parent does not share.
  assert.deepEqual(worker.map(([path]) => path), inherited.map(([path]) => path));
  for (const parent of parents) {
    const child = parseServiceConfig("worker", workerFlags(parent), { env: noEnv });
    assert.ok(child !== "help");
    for (const [path] of inherited) {
      const at = (config: ServiceConfig) =>
        path.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], config);
      assert.deepEqual(at(child), at(parent), path);
    }
  }
  assert.equal(
    (parseServiceConfig("worker", workerFlags(parents[1])) as ServiceConfig).aws.sqsProtocol,
    "query",
  );
});

Deno.test("--disk-free-bytes-min is the storage monitor's threshold; unset, the monitor's share", () => {
  const unset = parseServiceConfig("start", [], { env: noEnv }) as ServiceConfig;
  assert.equal(unset.diskFreeBytesMin, undefined);
  const set = parseServiceConfig("start", ["--disk-free-bytes-min", "1048576"], { env: noEnv });
  assert.equal((set as ServiceConfig).diskFreeBytesMin, 1_048_576);
  assert.match(settingsUsage("start"), /--disk-free-bytes-min N .*\n.*5 % of the file system/);
});
