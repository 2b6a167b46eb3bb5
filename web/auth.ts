/**
 * An optional bearer token for the web tier (RFC 6750): a hono middleware factory. Requests
 * without the token, or with another one, get 401 with `WWW-Authenticate: Bearer`.
 *
 * The comparison takes the same time whatever the presented token is: both sides are hashed
 * (SHA-256) and the digests compared byte by byte without stopping early, so neither the
 * token's length nor its first differing byte shows in the response time.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { WebError } from "./errors.ts";

/** Options for {@linkcode bearerAuth}. */
export interface BearerAuthOptions {
  /** The token clients must send as `Authorization: Bearer <token>`. */
  token: string;
  /** Paths that stay open without a token. @default {["/healthz"]} (load balancers' probes) */
  openPaths?: readonly string[];
  /** The realm named in `WWW-Authenticate`. @default {"face-recognition"} */
  realm?: string;
}

/** Shortest token accepted: 16 characters (a guessable token is no protection). */
export const API_TOKEN_CHARS_MIN = 16;
/** Longest token accepted (headers are bounded; a token is not a document). */
export const API_TOKEN_CHARS_MAX = 4096;
/** RFC 6750 `b64token` characters. */
const TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Checks a token's shape.
 * @param token the configured token
 * @throws {RangeError} naming what is wrong (never echoing the token)
 */
export function validateApiToken(token: string): void {
  if (token.length < API_TOKEN_CHARS_MIN || token.length > API_TOKEN_CHARS_MAX) {
    throw new RangeError(
      `the API token must be ${API_TOKEN_CHARS_MIN}..${API_TOKEN_CHARS_MAX} characters, ` +
        `got ${token.length}`,
    );
  }
  if (!TOKEN_PATTERN.test(token)) {
    throw new RangeError(
      "the API token must be RFC 6750 token characters (letters, digits, - . _ ~ + /, then =)",
    );
  }
}

/**
 * A middleware that requires `Authorization: Bearer <token>` on every path but `openPaths`.
 *
 * @param options the token, the open paths, the realm
 * @returns the middleware
 * @throws {RangeError} for a malformed token
 * @example
 * ```ts
 * app.use("*", bearerAuth({ token: Deno.env.get("FR_API_TOKEN")! }));
 * ```
 */
export function bearerAuth(options: BearerAuthOptions): MiddlewareHandler {
  validateApiToken(options.token);
  const openPaths = new Set(options.openPaths ?? ["/healthz"]);
  const realm = options.realm ?? "face-recognition";
  const expected = digest(options.token);
  return async (c, next) => {
    if (openPaths.has(c.req.path)) return await next();
    const header = c.req.header("authorization");
    const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    if (!match) {
      throw new WebError(
        401,
        "unauthorized",
        "this service needs an API token: send Authorization: Bearer <token>",
        { headers: { "WWW-Authenticate": `Bearer realm="${realm}"` } },
      );
    }
    if (!equalDigests(await expected, await digest(match[1]))) {
      throw new WebError(401, "unauthorized", "the API token is not valid; check it", {
        headers: {
          "WWW-Authenticate": `Bearer realm="${realm}", error="invalid_token"`,
        },
      });
    }
    await next();
  };
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
}

/** Constant time for equal-length inputs (digests always are). */
function equalDigests(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i % b.length];
  return difference === 0;
}
