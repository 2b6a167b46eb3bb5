/**
 * The dashboard in a real browser: Debian's headless Chromium driven by `playwright-core`, against
 * a whole embedded stack (real workers, the real model, the course gallery) with an API token.
 * The page loads without console errors, its charts and lists update during a burst of 100
 * uploads without the page reloading, and "Try it" draws every face's box and label on the photo
 * (6 on faces-public's multiface.jpg). The screenshots are kept in `test-artifacts/` (gitignored).
 * `.ci/run` installs Chromium when it is missing; where it cannot, this test is skipped and says
 * why in its name.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import {
  courseData,
  E2E_READY,
  E2E_SKIP_NOTE,
  postImage,
  startTestStack,
  waitFor,
} from "../testing/e2e.ts";
import { FACES_PUBLIC_DIR, HAS_FACES_PUBLIC } from "../testing/datasets.ts";

/** Debian's chromium package (`apt-get install chromium`). */
const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const ROOT = new URL("..", import.meta.url).pathname;
/** Where the screenshots are kept (gitignored). */
export const ARTIFACTS_DIR = join(ROOT, "test-artifacts");
const MULTIFACE = new URL("facenet-pytorch/multiface.jpg", FACES_PUBLIC_DIR).pathname;
const TOKEN = "dashboard-test-token-0123456789";

const skip = !HAS_CHROMIUM
  ? ` (skipped: no ${CHROMIUM}; apt-get install chromium)`
  : !E2E_READY
  ? E2E_SKIP_NOTE
  : !HAS_FACES_PUBLIC
  ? ` (skipped: no faces-public at ${FACES_PUBLIC_DIR.pathname})`
  : "";

/** The chart legend's current value of one series, e.g. `answered` of the throughput chart. */
function legendValue(page: Page, chart: string, series: string): Promise<number> {
  return page.locator(`#chart-${chart} [data-series="${series}"] b`).innerText().then((text) =>
    Number.parseFloat(text)
  ).then((v) => (Number.isNaN(v) ? 0 : v));
}

Deno.test({
  name: "the dashboard in headless Chromium: no console errors, live charts during a burst, " +
    "Try it draws every face's box and label" + skip,
  ignore: skip !== "",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const course = await courseData();
    const { stack, dispose } = await startTestStack([
      "--max",
      "2",
      "--gallery",
      course.gallery,
      "--api-token",
      TOKEN,
    ]);
    const url = stack.localUrl;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox"],
    });
    await Deno.mkdir(ARTIFACTS_DIR, { recursive: true });
    try {
      // Without the token the page is refused; the browser context sends it on every request.
      assert.equal((await fetch(`${url}/`)).status, 401);
      const context = await browser.newContext({
        extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` },
        viewport: { width: 1280, height: 1600 },
      });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") {
          problems.push(`${m.type()}: ${m.text()}`);
        }
      });
      page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
      const response = await page.goto(`${url}/`);
      assert.equal(response?.status(), 200);
      // Waits poll from here through locators: the page's CSP (script-src 'self') refuses the
      // string evaluation page.waitForFunction polls with, as it must.
      await waitFor(
        "the first update",
        async () => (await page.locator("#conn").innerText()).startsWith("Live: updated"),
      );
      // A marker the page would lose if it reloaded.
      await page.evaluate(`globalThis.kept = "still here"`);
      const pointsBefore = Number(
        await page.locator("#chart-throughput").getAttribute("data-points"),
      );

      // The burst: 100 course photos at once, as the grader sends them.
      const burst = Promise.all(
        course.files.map((f) =>
          postImage(url, join(course.imagesDir, f), f, { authorization: `Bearer ${TOKEN}` })
        ),
      );
      await waitFor(
        "the charts to show the burst's answers",
        async () => await legendValue(page, "throughput", "answered") > 0,
        60_000,
        250,
      );
      const answers = await burst;
      assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.slice(0, 3)));
      await waitFor(
        "the recent requests",
        async () => await page.locator("#recent tbody tr").count() >= 20,
      );
      const running = await page.locator("#chart-instances polyline.s1").first()
        .getAttribute("points");
      const chart = {
        points: Number(await page.locator("#chart-throughput").getAttribute("data-points")),
        answeredLine: await page.locator(
          "#chart-throughput polyline.s1, #chart-throughput circle.s1",
        ).count(),
        // Some point of the running-instances line above the zero line (y = 120).
        runningAboveZero: (running ?? "").split(" ").some((p) => Number(p.split(",")[1]) < 120),
        latency: await page.locator('#chart-latency [data-series="p95"] b').innerText(),
        decisions: await page.locator("#decisions li").count(),
        workers: await page.locator("#workers").innerText(),
        kept: await page.evaluate(`globalThis.kept`),
        navigations: await page.evaluate(`performance.getEntriesByType("navigation").length`),
      };
      assert.ok(chart.points > pointsBefore, `points ${pointsBefore} → ${chart.points}`);
      assert.ok(chart.answeredLine > 0, "the answers-per-second line is drawn");
      assert.ok(chart.runningAboveZero, "the running-instances line rose during the burst");
      assert.match(chart.latency ?? "", /^\d+(\.\d+)? ms$/);
      assert.ok(chart.decisions > 0, "the controller's decisions are listed");
      assert.match(chart.workers, /ready: start-up \d+ ms/);
      assert.equal(chart.kept, "still here", "the page updated without reloading");
      assert.equal(chart.navigations, 1);
      await page.screenshot({ path: join(ARTIFACTS_DIR, "dashboard_burst.png"), fullPage: true });

      // Try it: a photo with 6 faces. The chosen file survives the page's updates meanwhile.
      await page.setInputFiles("#try-file", MULTIFACE);
      await new Promise((r) => setTimeout(r, 2_500));
      assert.equal(
        await page.evaluate(`document.getElementById("try-file").files[0]?.name`),
        "multiface.jpg",
        "the chosen file is still chosen after an update",
      );
      await page.click("#try-form button");
      await page.locator("#try-boxes g.face").first().waitFor({ timeout: 60_000 });
      const faces = [];
      for (const g of await page.locator("#try-boxes g.face").all()) {
        faces.push({
          label: await g.getAttribute("data-label"),
          text: await g.locator("text").textContent(),
          width: Number(await g.locator("rect").getAttribute("width")),
        });
      }
      assert.equal(faces.length, 6, JSON.stringify(faces));
      for (const face of faces) {
        assert.ok(face.label && face.text?.includes(face.label), JSON.stringify(face));
        assert.match(face.text!, /\d\.\d{3}$/, "the distance is drawn");
        assert.ok(face.width > 10);
      }
      assert.equal(await page.locator("#try-faces tbody tr").count(), 6);
      assert.match(await page.locator("#try-status").innerText(), /^multiface:/);
      await page.locator("#try").screenshot({ path: join(ARTIFACTS_DIR, "dashboard_try_it.png") });

      // A course photo under a hostile name: its enrolled label is drawn, the name is text.
      const stem = course.files[0].replace(/\.jpg$/, "");
      await page.setInputFiles("#try-file", {
        name: `x'(y)'<b>${stem}.jpg`,
        mimeType: "image/jpeg",
        buffer: Buffer.from(await Deno.readFile(join(course.imagesDir, course.files[0]))),
      });
      await page.click("#try-form button");
      const label = course.labels.get(stem)!;
      await page.locator(`#try-boxes g.face[data-label="${label}"]`).waitFor({ timeout: 30_000 });
      await waitFor(
        "the hostile name in the recent requests",
        async () => (await page.locator("#recent").innerText()).includes("x'(y)'_b_"),
      );
      assert.equal(await page.locator("#recent tbody b").count(), 0, "no markup from a name");
      await page.screenshot({ path: join(ARTIFACTS_DIR, "dashboard.png"), fullPage: true });
      assert.deepEqual(problems, [], "console errors or warnings");
      await context.close();
    } finally {
      await browser.close();
      await dispose();
    }
  },
});
