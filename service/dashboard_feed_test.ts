import assert from "node:assert/strict";
import { join } from "node:path";
import { createGallery, writeGallery } from "../model/gallery/gallery.ts";
import { parseServiceConfig, type ServiceConfig } from "./config.ts";
import { dashboardDecision, readDashboardAbout } from "./dashboard_feed.ts";

const inputs = {
  visible: 9,
  inFlight: 1,
  delayed: 0,
  pending: 0,
  running: 2,
  stopping: 0,
  stopped: 0,
  awaiting: 0,
  busy: 2,
};

Deno.test("dashboardDecision says what the controller did and why, each clamp explained", () => {
  const decision = dashboardDecision({
    event: "decision",
    nowMs: 5_000,
    inputs,
    demand: 10,
    desired: 2,
    target: 2,
    clamps: ["instancesMax", "busy"],
    decisions: [{ action: "start", id: "i-1", name: "app-tier-instance-3" }],
    notReady: null,
    applied: { started: ["app-tier-instance-3"], launched: [], stopped: [] },
    errors: ["start app-tier-instance-3: throttled"],
  }, 9_999);
  assert.deepEqual(decision, {
    atMs: 5_000,
    kind: "decision",
    summary: "start app-tier-instance-3",
    reasons: [
      "demand 10 → desired 2, target 2",
      "instancesMax: capped at instancesMax",
      "busy: busy instances are not stopped",
      "failed: start app-tier-instance-3: throttled",
    ],
    inputs: "queue 9 visible, 1 in flight; instances 2 running, 0 pending, 0 stopping, " +
      "0 stopped, 0 awaited, 2 busy",
  });
  const notReady = dashboardDecision({
    event: "workers_not_ready",
    reason: "model directory is missing",
    instance: "app-tier-instance-1",
    atMs: 7_000,
    failures: 3,
    retryAtMs: 11_000,
    noneReady: true,
    refuseUploads: true,
  }, 9_999);
  assert.equal(notReady?.summary, "workers not ready (3 failures)");
  assert.deepEqual(notReady?.reasons, [
    "app-tier-instance-1: model directory is missing",
    "next try 00:00:11 UTC",
    "uploads refused with 503 meanwhile",
  ]);
});

Deno.test("readDashboardAbout counts the gallery's people and embeddings from its header", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fr-dashboard-feed-" });
  try {
    const path = join(dir, "team.gallery");
    const embedding = [1, 0, 0, 0];
    await writeGallery(
      path,
      createGallery({ modelId: "test/model@1", dims: 4 }, [
        { name: "Ada", embedding },
        { name: "Ada", embedding },
        { name: "Grace", embedding },
      ]),
    );
    const config = (args: string[]) =>
      parseServiceConfig("start", ["--data", dir, ...args], {
        env: () => undefined,
      }) as ServiceConfig;
    const about = await readDashboardAbout(config(["--gallery", path]));
    assert.deepEqual(about.gallery, {
      file: "team.gallery",
      people: 2,
      embeddings: 3,
      modelId: "test/model@1",
    });
    assert.equal(about.threshold, "0.6");
    assert.equal(about.backend, "local");
    await Deno.writeTextFile(join(dir, "bad.gallery"), "not a gallery");
    const bad = await readDashboardAbout(config(["--gallery", join(dir, "bad.gallery")]));
    assert.equal(bad.gallery, null);
    assert.match(bad.galleryError!, /magic bytes/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
