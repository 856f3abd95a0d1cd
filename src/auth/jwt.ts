/*
 * HS256 JSON Web Tokens, signed and verified by `jsonwebtoken` (the library PostGraphile signs
 * baton.jwt_token with, so both sides agree). Verification accepts HS256 only, audience `baton`, and
 * checks `exp` and `nbf` (jsonwebtoken) and `iat` (here: the library does not refuse a token issued in
 * the future). Before the library runs, the token's shape and algorithm are read here only to give a
 * clear message; the library's verdict is the one that counts. Nothing a client sends makes this
 * throw anything but a TokenError.
 */
import jwt from "jsonwebtoken";

/** A token that is missing its parts, forged, expired or not for Baton. `extensions` reaches GraphQL clients as-is. */
export class TokenError extends Error {
  override name = "TokenError";
  readonly extensions = { code: "UNAUTHENTICATED" };
}

/**
 * How far ahead of this server's clock a token's `iat` may be (another machine's `baton token create`,
 * a clock a little fast). `exp` and `nbf` get no tolerance: an issuer that sets them means them.
 */
export const IAT_CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Signs `payload` as given, with `iat` (now) unless the payload names it. The payload goes to
 * jsonwebtoken as JSON text, so its claims are not re-validated here: tests sign deliberately bad
 * claims (an `exp` that is a string) to check that verification refuses them.
 */
export function signJwt(payload: Record<string, unknown>, secret: string, now = Date.now()): string {
  const claims = "iat" in payload ? payload : { iat: Math.floor(now / 1000), ...payload };
  return jwt.sign(JSON.stringify(claims), secret, { algorithm: "HS256", header: { alg: "HS256", typ: "JWT" } });
}

const NOT_JSON = "The token is not a JWT (its header or payload is not a JSON object).";
const SIGNATURE = "The token's signature is invalid (it was not issued by this Baton server).";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function decodePart(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}

/** An `alg` value for a message: short, and never the client's whole object. */
function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === undefined || value === null || typeof value === "number" || typeof value === "boolean") return String(value);
  return Array.isArray(value) ? "a list" : "an object";
}

/** jsonwebtoken's errors, in words that say what to do. */
function translate(err: unknown): TokenError {
  if (err instanceof jwt.TokenExpiredError) return new TokenError("The token has expired; ask for a new one.");
  if (err instanceof jwt.NotBeforeError) return new TokenError("The token is not valid yet (its nbf is in the future); use it later or ask for a new one.");
  const message = err instanceof Error ? err.message : "";
  if (message === "invalid signature" || message === "jwt signature is required") return new TokenError(SIGNATURE);
  if (message === "invalid exp value") return new TokenError("The token's exp must be a number of seconds since 1970 (a JWT NumericDate); ask for a new token.");
  if (message === "invalid nbf value") return new TokenError("The token's nbf must be a number of seconds since 1970 (a JWT NumericDate); ask for a new token.");
  if (message.startsWith("jwt audience invalid")) return new TokenError("The token is not meant for Baton (its audience is not `baton`).");
  if (message === "invalid algorithm") return new TokenError("The token uses an algorithm other than HS256; only HS256 is accepted.");
  return new TokenError("The token is not a JWT (it could not be decoded).");
}

export function verifyJwt(token: string, secret: string, now = Date.now()): Record<string, unknown> {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) throw new TokenError("The token is not a JWT (expected three dot-separated parts).");
  const header = decodePart(parts[0]!);
  if (!isObject(header) || !isObject(decodePart(parts[1]!))) throw new TokenError(NOT_JSON);
  if (header.alg !== "HS256") throw new TokenError(`The token uses algorithm ${describe(header.alg)}; only HS256 is accepted.`);
  const nowSeconds = Math.floor(now / 1000);
  let claims: unknown;
  try {
    claims = jwt.verify(token, secret, { algorithms: ["HS256"], audience: "baton", clockTimestamp: nowSeconds });
  } catch (err) {
    throw translate(err);
  }
  if (!isObject(claims)) throw new TokenError(NOT_JSON);
  if (claims.iat !== undefined) {
    if (typeof claims.iat !== "number" || !Number.isFinite(claims.iat)) {
      throw new TokenError("The token's iat must be a number of seconds since 1970 (a JWT NumericDate); ask for a new token.");
    }
    if (claims.iat > nowSeconds + IAT_CLOCK_TOLERANCE_SECONDS) {
      throw new TokenError(
        `The token was issued in the future (its iat is more than ${IAT_CLOCK_TOLERANCE_SECONDS} s ahead of this server's clock); check the issuing machine's clock and ask for a new token.`,
      );
    }
  }
  return claims;
}
