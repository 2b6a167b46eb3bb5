/**
 * The IMDSv2 stand-in (testing/imds_server.ts) answers as the instance metadata service does:
 * the worker's own client reads the instance id through it, and reads without a session token
 * are refused (IMDS itself exists only on an EC2 instance).
 */
import assert from "node:assert/strict";
import { fetchInstanceId } from "../worker/instance_metadata.ts";
import { startImdsServer } from "./imds_server.ts";

Deno.test("the IMDSv2 stand-in gives the instance id and role credentials only with a session token", async () => {
  let nowMs = 1_000_000;
  const imds = startImdsServer({
    instanceId: "i-0123456789abcdef0",
    role: { roleName: "app", accessKeyId: "AK", secretAccessKey: "SK", sessionToken: "ST" },
    nowMs: () => nowMs,
  });
  try {
    assert.equal(await fetchInstanceId({ baseUrl: imds.url }), "i-0123456789abcdef0");
    const get = async (path: string, token?: string) => {
      const response = await fetch(`${imds.url}${path}`, {
        headers: token === undefined ? {} : { "x-aws-ec2-metadata-token": token },
      });
      return { status: response.status, body: await response.text() };
    };
    const put = async (headers: Record<string, string>) => {
      const response = await fetch(`${imds.url}/latest/api/token`, { method: "PUT", headers });
      return { status: response.status, body: await response.text() };
    };
    // IMDSv1 (no token) is refused, as on an instance launched with HttpTokens=required.
    assert.equal((await get("/latest/meta-data/instance-id")).status, 401);
    assert.equal((await put({})).status, 400, "the TTL header is required");
    assert.equal((await put({ "x-aws-ec2-metadata-token-ttl-seconds": "21601" })).status, 400);
    assert.equal(
      (await put({ "x-aws-ec2-metadata-token-ttl-seconds": "60", "x-forwarded-for": "10.0.0.1" }))
        .status,
      403,
    );
    const token = (await put({ "x-aws-ec2-metadata-token-ttl-seconds": "60" })).body;
    assert.equal((await get("/latest/meta-data/iam/security-credentials/", token)).body, "app");
    const credentials = JSON.parse(
      (await get("/latest/meta-data/iam/security-credentials/app", token)).body,
    );
    assert.deepEqual(
      [credentials.Code, credentials.AccessKeyId, credentials.SecretAccessKey, credentials.Token],
      ["Success", "AK", "SK", "ST"],
    );
    assert.equal((await get("/latest/meta-data/instance-id", "forged")).status, 401);
    nowMs += 61_000;
    assert.equal((await get("/latest/meta-data/instance-id", token)).status, 401, "expired");
    assert.equal(imds.refused(), 3);
  } finally {
    await imds.close();
  }
});
