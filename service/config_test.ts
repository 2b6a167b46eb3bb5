import assert from "node:assert/strict";
import {
  ConfigError,
  parseServiceConfig,
  type ServiceConfig,
  serviceNames,
  workerFlags,
} from "./config.ts";

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
    [["--frobnicate"], /^--frobnicate: Unknown option/],
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
