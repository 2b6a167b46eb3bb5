import assert from "node:assert/strict";
import { LocalFleet } from "../cloud/local/local_fleet.ts";
import { fetchInstanceId, InstanceMetadataError, stopOwnInstance } from "./instance_metadata.ts";

/** A small IMDSv2 look-alike: tokens from PUT, reads only with a valid token (as v2 requires). */
function serveImds(instanceId: string, counts = { put: 0, get: 0 }) {
  const token = "AQAEAFakeTokenForTests==";
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/latest/api/token" && req.method === "PUT") {
      counts.put++;
      if (!req.headers.get("X-aws-ec2-metadata-token-ttl-seconds")) {
        return new Response("missing ttl", { status: 400 });
      }
      return new Response(token);
    }
    if (path === "/latest/meta-data/instance-id" && req.method === "GET") {
      counts.get++;
      if (req.headers.get("X-aws-ec2-metadata-token") !== token) {
        return new Response("Unauthorized", { status: 401 });
      }
      return new Response(instanceId);
    }
    return new Response("not found", { status: 404 });
  });
  return { server, url: `http://127.0.0.1:${server.addr.port}`, counts };
}

Deno.test("fetchInstanceId takes an IMDSv2 token, then reads the instance id with it", async () => {
  const imds = serveImds("i-0123456789abcdef0");
  try {
    assert.equal(await fetchInstanceId({ baseUrl: imds.url }), "i-0123456789abcdef0");
    assert.deepEqual(imds.counts, { put: 1, get: 1 });
  } finally {
    await imds.server.shutdown();
  }
});

Deno.test("fetchInstanceId refuses an answer that is not an instance id", async () => {
  const imds = serveImds("<html>captive portal</html>");
  try {
    await assert.rejects(fetchInstanceId({ baseUrl: imds.url }), (error) => {
      assert.ok(error instanceof InstanceMetadataError);
      assert.match(error.message, /not an instance id/);
      return true;
    });
  } finally {
    await imds.server.shutdown();
  }
});

Deno.test("fetchInstanceId reports an unreachable metadata service, saying what to check", async () => {
  // A port nothing listens on: take one from a server, then close it.
  const imds = serveImds("i-0123456789abcdef0");
  const url = imds.url;
  await imds.server.shutdown();
  await assert.rejects(
    fetchInstanceId({ baseUrl: url, requestMsMax: 500 }),
    /cannot reach the instance metadata service.*--imds-url/,
  );
});

Deno.test("fetchInstanceId reports a refusing metadata service with its status", async () => {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("Forbidden", { status: 403 }),
  );
  try {
    await assert.rejects(
      fetchInstanceId({ baseUrl: `http://127.0.0.1:${server.addr.port}` }),
      /answered 403 to PUT/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("stopOwnInstance stops the very instance the metadata service names, via the fleet", async () => {
  const dir = await Deno.makeTempDir({ prefix: "self_stop_test_" });
  const fleet = await LocalFleet.open(`${dir}/cloud.db`, {
    command: ["sleep", "60"],
    output: "null",
    stopGraceMs: 1_000,
  });
  try {
    const [me, other] = await fleet.create(2);
    await fleet.start([me.id, other.id]);
    const imds = serveImds(me.id);
    try {
      assert.equal(await stopOwnInstance(fleet, { baseUrl: imds.url }), me.id);
    } finally {
      await imds.server.shutdown();
    }
    for (let k = 0; k < 100; k++) {
      const [mine] = await fleet.describe({ ids: [me.id] });
      if (mine.state === "stopped") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const states = new Map(
      (await fleet.describe()).map((i) => [i.id, i.state]),
    );
    assert.equal(states.get(me.id), "stopped");
    assert.equal(states.get(other.id), "running", "the other instance keeps running");
    await fleet.terminate([other.id]);
    await fleet.settled();
  } finally {
    await fleet.close();
    await Deno.remove(dir, { recursive: true });
  }
});
