/*
 * HS256 JSON Web Tokens: sign and verify with node:crypto. Only HS256 is accepted (`alg: none` and
 * every other algorithm are refused), the signature is compared in constant time, and `exp`/`aud`
 * are checked. Tokens minted in SQL (functions returning baton.jwt_token) are signed by PostGraphile
 * with the same secret and verified here.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** A token that is missing its parts, forged, expired or not for Baton. `extensions` reaches GraphQL clients as-is. */
export class TokenError extends Error {
  override name = "TokenError";
  readonly extensions = { code: "UNAUTHENTICATED" };
}

const b64url = (buf: Buffer | string) => Buffer.from(buf).toString("base64url");

export function signJwt(payload: Record<string, unknown>, secret: string): string {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(payload));
  const signature = createHmac("sha256", secret).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${signature}`;
}

export function verifyJwt(token: string, secret: string, now = Date.now()): Record<string, unknown> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new TokenError("The token is not a JWT (expected three dot-separated parts).");
  const [header, body, signature] = parts as [string, string, string];
  let parsedHeader: { alg?: unknown };
  let claims: Record<string, unknown>;
  try {
    parsedHeader = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    throw new TokenError("The token is not a JWT (its header or payload is not JSON).");
  }
  if (parsedHeader.alg !== "HS256") throw new TokenError(`The token uses algorithm ${JSON.stringify(parsedHeader.alg)}; only HS256 is accepted.`);
  const expected = createHmac("sha256", secret).update(`${header}.${body}`).digest();
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new TokenError("The token's signature is invalid (it was not issued by this Baton server).");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw new TokenError("The token's payload is not an object.");
  // An exp that is not a number (a string, say) would otherwise be skipped and the token never expire.
  if (claims.exp != null && (typeof claims.exp !== "number" || !Number.isFinite(claims.exp))) {
    throw new TokenError("The token's exp must be a number of seconds since 1970 (a JWT NumericDate); ask for a new token.");
  }
  if (typeof claims.exp === "number" && claims.exp * 1000 <= now) throw new TokenError("The token has expired; ask for a new one.");
  const aud = claims.aud;
  if (aud !== "baton" && !(Array.isArray(aud) && aud.includes("baton"))) throw new TokenError("The token is not meant for Baton (its audience is not `baton`).");
  return claims;
}
