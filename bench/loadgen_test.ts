import assert from "node:assert/strict";
import { join } from "node:path";
import { zipSync } from "fflate";
import { quantileSorted } from "../internal/mod.ts";
import { labelFromImage, openTestStack, runTestWorker } from "../testing/web_stack.ts";
import {
  formatReport,
  type LoadgenArgs,
  loadImages,
  parseLabelsCsv,
  parseLoadgenArgs,
  runLoad,
} from "./loadgen.ts";

const encoder = new TextEncoder();

Deno.test("runLoad posts every image through the real app and counts correct and wrong answers", async () => {
  const stack = await openTestStack();
  const stop = new AbortController();
  const worker = runTestWorker(stack, labelFromImage, stop.signal, 4);
  try {
    const people = ["Paul", "Emily", "Bob", "German", "Salma"];
    const images = people.map((p, i) => ({ name: `test_0${i}.jpg`, bytes: encoder.encode(p) }));
    // One expected label is deliberately not what the worker answers.
    const labels = parseLabelsCsv(
      "Image,Results\n" + people.map((p, i) => `test_0${i},${i === 4 ? "Nobody" : p}`).join("\n"),
    );
    let progressCalls = 0;
    let t = 0;
    const report = await runLoad(
      { url: "http://web.test/", images, labels, concurrency: 10, count: 20 },
      {
        send: (request) => Promise.resolve(stack.app.fetch(request)),
        nowMs: () => (t += 5),
        onProgress: (done, total) => {
          progressCalls++;
          assert.ok(done <= total);
        },
      },
    );
    assert.equal(report.requests, 20);
    assert.equal(report.concurrency, 10);
    assert.equal(report.successes, 20);
    assert.equal(report.failures, 0);
    assert.equal(report.correct, 16);
    assert.equal(report.wrong, 4);
    assert.equal(progressCalls, 20);
    assert.deepEqual(report.statuses, { "200": 20 });
    assert.match(report.samples[0], /test_04.jpg: got test_04:Salma, expected Nobody/);
    assert.ok(report.latencyMs.p50 <= report.latencyMs.p99);
    const text = formatReport(report);
    for (
      const word of [
        "successes",
        "failures",
        "correct",
        "wrong",
        "total",
        "average",
        "p50",
        "p95",
        "p99",
      ]
    ) {
      assert.match(text, new RegExp(`^${word}\\s`, "m"));
    }
  } finally {
    stop.abort();
    await worker;
    await stack.close();
  }
});

Deno.test("runLoad counts error statuses and network errors as failures, without labels", async () => {
  let n = 0;
  const report = await runLoad(
    {
      url: "http://x/",
      images: [{ name: "a.jpg", bytes: encoder.encode("a") }],
      count: 3,
      concurrency: 1,
    },
    {
      send: () => {
        n++;
        if (n === 1) return Promise.resolve(new Response("busy", { status: 503 }));
        if (n === 2) return Promise.reject(new TypeError("connection refused"));
        return Promise.resolve(new Response("a:Paul"));
      },
      nowMs: () => n,
    },
  );
  assert.equal(report.successes, 1);
  assert.equal(report.failures, 2);
  assert.equal(report.correct, null);
  assert.deepEqual(report.statuses, { "503": 1, error: 1, "200": 1 });
  assert.match(formatReport(report), /correct\s+n\/a/);
});

Deno.test("percentile is nearest-rank", () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantileSorted(values, 0.5), 50);
  assert.equal(quantileSorted(values, 0.99), 99);
  assert.equal(quantileSorted(values, 1), 100);
  assert.equal(quantileSorted([7], 0.95), 7);
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
});

Deno.test("parseLabelsCsv reads Image,Results keyed by stem and names a bad line", () => {
  const labels = parseLabelsCsv("\uFEFFImage,Results\r\ntest_000,Paul\r\ntest_001.jpg,Emily\r\n");
  assert.deepEqual([...labels], [["test_000", "Paul"], ["test_001", "Emily"]]);
  assert.throws(() => parseLabelsCsv("name,label\n"), /Image,Results/);
  assert.throws(() => parseLabelsCsv("Image,Results\na,b\nbroken\n"), /line 3/);
});

Deno.test("parseLoadgenArgs reads the documented flags and names a bad one", () => {
  assert.deepEqual(
    parseLoadgenArgs([
      "--url",
      "http://h:8000/",
      "--images",
      "d",
      "--labels",
      "l.csv",
      "--concurrency",
      "7",
      "--count",
      "30",
      "--json",
    ]),
    {
      url: "http://h:8000/",
      images: "d",
      labels: "l.csv",
      concurrency: 7,
      count: 30,
      timeoutMs: 120_000,
      json: true,
    },
  );
  assert.throws(() => parseLoadgenArgs(["--images", "d"]), /--url is required/);
  assert.throws(() => parseLoadgenArgs(["--url", "nope", "--images", "d"]), /not a URL/);
  assert.throws(
    () => parseLoadgenArgs(["--url", "http://h/", "--images", "d", "--count", "0"]),
    /--count: must be an integer in 1\.\.1000000, got "0"/,
  );
  assert.throws(
    () => parseLoadgenArgs(["--url", "http://h/", "--images", "d", "--bogus"]),
    /--bogus: unknown flag/,
  );
});

Deno.test("loadImages reads image files from a directory or a zip, sorted, skipping other files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fr-loadgen-test-" });
  try {
    await Deno.writeFile(join(dir, "b.png"), encoder.encode("B"));
    await Deno.writeFile(join(dir, "a.JPG"), encoder.encode("A"));
    await Deno.writeFile(join(dir, "notes.txt"), encoder.encode("x"));
    assert.deepEqual((await loadImages(dir)).map((i) => i.name), ["a.JPG", "b.png"]);
    const zip = join(dir, "set.zip");
    await Deno.writeFile(
      zip,
      zipSync({
        "set/test_1.jpg": encoder.encode("1"),
        "set/test_0.jpg": encoder.encode("0"),
        "__MACOSX/set/._test_0.jpg": encoder.encode("junk"),
        "set/readme.md": encoder.encode("r"),
      }),
    );
    const fromZip = await loadImages(zip);
    assert.deepEqual(fromZip.map((i) => i.name), ["test_0.jpg", "test_1.jpg"]);
    assert.equal(new TextDecoder().decode(fromZip[0].bytes), "0");
    await Deno.remove(join(dir, "a.JPG"));
    await Deno.remove(join(dir, "b.png"));
    await assert.rejects(() => loadImages(dir), /no .jpg/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runLoad sends the API token, and a service that requires one counts its absence as failures", async () => {
  const token = "loadgen-token-0123456789";
  const stack = await openTestStack({ web: { apiToken: token } });
  const stop = new AbortController();
  const worker = runTestWorker(stack, labelFromImage, stop.signal, 2);
  try {
    const images = [{ name: "test_00.jpg", bytes: encoder.encode("Paul") }];
    const deps = { send: (r: Request) => Promise.resolve(stack.app.fetch(r)), nowMs: () => 0 };
    const ok = await runLoad({ url: "http://web.test/", images, count: 4, apiToken: token }, deps);
    assert.equal(ok.successes, 4);
    const refused = await runLoad({ url: "http://web.test/", images, count: 2 }, deps);
    assert.equal(refused.failures, 2);
    assert.deepEqual(refused.statuses, { "401": 2 });
    assert.deepEqual(
      (parseLoadgenArgs([
        "--url",
        "http://h/",
        "--images",
        "d",
        "--api-token-file",
        "t",
      ]) as LoadgenArgs).apiTokenFile,
      "t",
    );
    assert.throws(
      () =>
        parseLoadgenArgs([
          "--url",
          "http://h/",
          "--images",
          "d",
          "--api-token",
          "a",
          "--api-token-file",
          "t",
        ]),
      /not both/,
    );
  } finally {
    stop.abort();
    await worker;
    await stack.close();
  }
});
