/*
 * A JWT's payload read WITHOUT verifying it: for clients that only schedule or display with it (when to
 * renew, when it expires). The server verifies every token it is sent (src/auth/jwt.ts).
 */
export type UnverifiedClaims = { exp?: number; iat?: number; role?: string; daemon_id?: string };

/** The payload of a JWT, not verified; {} when it cannot be read. */
export function unverifiedClaims(token: string): UnverifiedClaims {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as unknown;
    return payload && typeof payload === "object" && !Array.isArray(payload) ? (payload as UnverifiedClaims) : {};
  } catch {
    return {};
  }
}
