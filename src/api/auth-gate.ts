/*
 * The HTTP token gate in front of /graphql. The preset's context callback also verifies the token
 * (it is what sets the role), but an error thrown there reaches clients without a code and is
 * printed with its stack by grafserv. Checking first answers a missing-parts, forged, expired or
 * wrong-role token with a plain 401: {"errors": [{"message": ..., "extensions": {"code": "UNAUTHENTICATED"}}]}.
 * Websockets carry the token in connectionParams; there the context's TokenError reaches the
 * subscriber through maskError with the same code.
 *
 * Without an Authorization header, the dashboard's session cookie authenticates instead
 * (web-session.ts): a POST must then carry the CSRF header (403 otherwise), and a forged or expired
 * cookie gets the same 401.
 */
import type http from "node:http";
import { bearerToken, parseToken } from "../auth/claims";
import { TokenError } from "../auth/jwt";
import { CSRF_HEADER, CSRF_MISSING, parseSession, sessionCookieOf } from "./web-session";

/** The reason the request's Authorization header is unusable, or undefined when it is absent or valid. */
export function tokenProblem(req: http.IncomingMessage, secret: string): TokenError | undefined {
  try {
    const token = bearerToken(req.headers.authorization);
    if (token) parseToken(token, secret);
    else if (sessionCookieOf(req) && req.method !== "GET" && req.method !== "HEAD") {
      if (!req.headers[CSRF_HEADER]) return new CsrfError(CSRF_MISSING);
      parseSession(sessionCookieOf(req)!, secret);
    }
    return undefined;
  } catch (err) {
    if (err instanceof TokenError) return err;
    throw err;
  }
}

/** A cookie-authenticated request without the CSRF header: 403, not 401 (the session itself may be fine). */
export class CsrfError extends TokenError {
  override readonly extensions = { code: "FORBIDDEN" };
}

export function sendUnauthorized(res: http.ServerResponse, err: TokenError): void {
  if (err instanceof CsrfError) {
    res.writeHead(403, { "content-type": "application/json; charset=utf-8" });
    return void res.end(JSON.stringify({ errors: [{ message: err.message, extensions: err.extensions }] }));
  }
  res.writeHead(401, { "content-type": "application/json; charset=utf-8", "www-authenticate": 'Bearer error="invalid_token"' });
  res.end(JSON.stringify({ errors: [{ message: err.message, extensions: err.extensions }] }));
}
