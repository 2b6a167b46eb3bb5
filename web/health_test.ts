import assert from "node:assert/strict";
import { HealthBoard } from "./health.ts";
import { openTestStack } from "../testing/web_stack.ts";

Deno.test("HealthBoard keeps one issue per source and the first sinceMs of a repeated code", () => {
  const board = new HealthBoard();
  let changes = 0;
  board.onChange(() => changes++);
  board.report("storage", { code: "disk_full", message: "full", refuseUploads: 507 }, 10);
  board.report("storage", { code: "disk_full", message: "full", refuseUploads: 507 }, 20);
  assert.equal(changes, 1, "an identical repeat is not a change");
  board.report("gallery", { code: "no_gallery", message: "every face is Unknown" }, 15);
  assert.deepEqual(board.issues().map((i) => [i.source, i.sinceMs]), [
    ["storage", 10],
    ["gallery", 15],
  ]);
  assert.equal(board.refusal()?.source, "storage");
  assert.equal(board.refusal(503), undefined, "a 507 is not a 503 refusal");
  board.clear("storage");
  assert.equal(board.refusal(), undefined);
  assert.equal(changes, 3);
});

Deno.test("an issue that refuses uploads makes /healthz degraded and POST / answer its status and message", async () => {
  const health = new HealthBoard();
  const stack = await openTestStack({ health });
  try {
    const ok = await (await stack.app.request("/healthz")).json();
    assert.equal(ok.status, "ok");
    health.report("controller", {
      code: "workers_not_ready",
      message: "app instances exit before they are ready: the model directory is missing",
      refuseUploads: 503,
    }, 0);
    const degraded = await stack.app.request("/healthz");
    assert.equal(degraded.status, 200, "degraded still serves reads");
    const body = await degraded.json();
    assert.equal(body.status, "degraded");
    assert.equal(body.issues[0].code, "workers_not_ready");
    const form = new FormData();
    form.append("inputFile", new File([new Uint8Array([0xff, 0xd8, 0xff])], "a.jpg"));
    const refused = await stack.app.request("/", { method: "POST", body: form });
    assert.equal(refused.status, 503);
    assert.match(await refused.text(), /model directory is missing/);
    assert.equal(refused.headers.get("Retry-After"), "5");
    const page = await (await stack.app.request("/")).text();
    assert.match(page, /data-issue="workers_not_ready"/);
    health.clear("controller");
    assert.equal((await (await stack.app.request("/healthz")).json()).status, "ok");
  } finally {
    await stack.close();
  }
});
