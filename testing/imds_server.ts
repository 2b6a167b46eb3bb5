/**
 * A stand-in for one EC2 instance's metadata service, IMDSv2 only (what `aws up` launches with:
 * `HttpTokens=required`), on 127.0.0.1: the instance metadata service exists only on an
 * instance, so tests of a worker's self-stop need one. One server per instance, as every instance
 * has its own at 169.254.169.254.
 *
 * It answers what a worker and the AWS SDK ask: `PUT /latest/api/token` (the
 * `X-aws-ec2-metadata-token-ttl-seconds` header, 1–21600, is required; a request with
 * `X-Forwarded-For` is refused 403, as IMDS refuses proxied token requests), then, with the
 * token in `X-aws-ec2-metadata-token`, `GET /latest/meta-data/instance-id` and the instance
 * role's credentials (`/latest/meta-data/iam/security-credentials/[ROLE]`, the SDK's credential
 * chain on an instance). A read without a token, or with an unknown or expired one, is 401.
 * @module
 */

/** Longest token life IMDS grants (6 hours). */
export const IMDS_TOKEN_TTL_S_MAX = 21_600;

/** The credentials IMDS hands out for the instance's role (temporary: a session token). */
export interface ImdsRoleCredentials {
  readonly roleName: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
}

/** Options for {@linkcode startImdsServer}. */
export interface ImdsServerOptions {
  readonly instanceId: string;
  /** The instance profile's role credentials; absent: no role (404, as on an instance without). */
  readonly role?: ImdsRoleCredentials;
  /** @default {Date.now} */
  readonly nowMs?: () => number;
}

/** A running metadata service. */
export interface ImdsServer {
  /** `http://127.0.0.1:<port>`: the worker's `--imds-url` and the SDK's `AWS_EC2_METADATA_SERVICE_ENDPOINT`. */
  readonly url: string;
  /** Requests refused for want of a valid token (a worker falling back to IMDSv1 shows here). */
  readonly refused: () => number;
  close(): Promise<void>;
}

/** Starts one instance's metadata service on an ephemeral port. */
export function startImdsServer(options: ImdsServerOptions): ImdsServer {
  const nowMs = options.nowMs ?? Date.now;
  /** token → expiry (ms). */
  const tokens = new Map<string, number>();
  let refused = 0;
  const text = (status: number, body: string, headers: HeadersInit = {}) =>
    new Response(body, { status, headers: { "content-type": "text/plain", ...headers } });

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/latest/api/token") {
      if (request.method !== "PUT") return text(405, "");
      if (request.headers.has("x-forwarded-for")) return text(403, "");
      const ttl = Number(request.headers.get("x-aws-ec2-metadata-token-ttl-seconds"));
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > IMDS_TOKEN_TTL_S_MAX) return text(400, "");
      for (const [token, expiresAtMs] of tokens) if (expiresAtMs <= nowMs()) tokens.delete(token);
      const token = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(42))));
      tokens.set(token, nowMs() + ttl * 1000);
      return text(200, token, { "x-aws-ec2-metadata-token-ttl-seconds": String(ttl) });
    }
    if (request.method !== "GET") return text(405, "");
    const expiresAtMs = tokens.get(request.headers.get("x-aws-ec2-metadata-token") ?? "");
    if (expiresAtMs === undefined || expiresAtMs <= nowMs()) {
      refused++;
      return text(401, "");
    }
    if (path === "/latest/meta-data/instance-id") return text(200, options.instanceId);
    const role = options.role;
    const credentialsPath = "/latest/meta-data/iam/security-credentials/";
    if (role !== undefined && path === credentialsPath) return text(200, role.roleName);
    if (role !== undefined && path === credentialsPath + role.roleName) {
      return text(
        200,
        JSON.stringify({
          Code: "Success",
          LastUpdated: new Date(nowMs()).toISOString(),
          Type: "AWS-HMAC",
          AccessKeyId: role.accessKeyId,
          SecretAccessKey: role.secretAccessKey,
          Token: role.sessionToken,
          Expiration: new Date(nowMs() + 6 * 3600_000).toISOString(),
        }),
      );
    }
    return text(404, "");
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    refused: () => refused,
    close: () => server.shutdown(),
  };
}
