/*
 * The web dashboard's sign-in and session (issue 13).
 *
 * A one-time link /signin#code=CODE (printed by `baton server`, or `baton web link`) is exchanged by
 * the page for a session cookie: POST /auth/signin {"code": CODE}. The code sits in the fragment,
 * which browsers never send, so it reaches no access log; the table keeps only its SHA-256
 * (sql/000027_web_sessions.sql), and a used code fails with a message that says so.
 *
 * The session is a signed owner token (the same claims as `baton token create`, 7 days) in an
 * HttpOnly, SameSite=Strict cookie, rather than a session table: every check an API token gets
 * (signature, expiry, the owner's token generation, RLS by owner) applies unchanged, no request pays a
 * session lookup, and `baton token rotate` ends the sessions with every other token. Signing out
 * clears the cookie; the token in it dies at its expiry or the owner's next rotation.
 *
 * A cookie is sent by the browser on its own, so cookie-authenticated calls need more than the cookie:
 *   - POST /graphql must carry `x-baton-csrf: 1` (a custom header: a cross-site page cannot send one
 *     without a CORS preflight, which Baton never grants), else 403;
 *   - a websocket upgrade carrying the cookie must come from this server's own Origin, else 403
 *     (browsers send cookies with cross-site websockets, and no preflight guards them);
 *   - an Authorization header always wins over the cookie (the CLI and GraphiQL are unaffected).
 */
import { createHash, randomBytes } from "node:crypto";
import type http from "node:http";
import type { Pool } from "pg";
import { z } from "zod";
import { bearerToken, parseToken, type Claims } from "../auth/claims";
import { TokenError } from "../auth/jwt";
import { mintOwnerToken } from "../auth/mint";
import { unverifiedClaims } from "../auth/unverified-claims";
import { describeDbError } from "../db/errors";
import type { Logger } from "../logger";

export const SESSION_COOKIE = "baton_session";
export const CSRF_HEADER = "x-baton-csrf";
export const SESSION_TTL_SECONDS = 7 * 24 * 3600;
/** How long a sign-in link works: long enough to copy it from a terminal into a browser. */
export const SIGNIN_TTL_SECONDS = 15 * 60;

export const CSRF_MISSING = `A request signed in with the Baton session cookie must send the header ${CSRF_HEADER}: 1 (the dashboard does); scripts should send Authorization: Bearer <token> instead.`;
export const WS_ORIGIN_REFUSED = "A websocket signed in with the Baton session cookie must come from a page of this server (its Origin differs).";
const SESSION_EXPIRED_HINT = " Sign in again: run `baton web link` for a new sign-in link.";

/** A new code: 32 random bytes, base64url (43 characters). */
export function newSigninCode(): string {
  return randomBytes(32).toString("base64url");
}

export const hashSigninCode = (code: string) => createHash("sha256").update(code, "utf8").digest("hex");

/** Mints a code for the owner and returns the link and its expiry. `tokenGen`: refuse if the owner rotated since that generation. */
export async function createSigninLink(pool: Pool, origin: string, ownerId: string, tokenGen?: number): Promise<{ url: string; expiresAt: string }> {
  const code = newSigninCode();
  const { rows } = await pool.query<{ expires_at: Date }>(
    "select baton_private.create_signin_code($1, $2, make_interval(secs => $3), $4) as expires_at",
    [ownerId, hashSigninCode(code), SIGNIN_TTL_SECONDS, tokenGen ?? null],
  );
  return { url: `${origin}/signin#code=${code}`, expiresAt: rows[0]!.expires_at.toISOString() };
}

/** The cookies of a request (first value of each name wins; malformed pairs are skipped). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (typeof header !== "string") return cookies;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

export const sessionCookieOf = (req: http.IncomingMessage): string | undefined => parseCookies(req.headers.cookie).get(SESSION_COOKIE) || undefined;

/** The session's claims; a TokenError (its message says to sign in again) when the cookie is forged or expired. */
export function parseSession(token: string, secret: string): Claims {
  let claims: Claims;
  try {
    claims = parseToken(token, secret);
  } catch (err) {
    if (err instanceof TokenError) throw new TokenError(`Your dashboard session is not valid: ${err.message}${SESSION_EXPIRED_HINT}`);
    throw err;
  }
  if (claims.role !== "baton_user") throw new TokenError(`The session cookie does not hold an owner's session.${SESSION_EXPIRED_HINT}`);
  return claims;
}

/** The origin the browser sees this server at (from the Host header, which browsers set themselves). */
export function ownOrigin(req: http.IncomingMessage): string | undefined {
  const host = req.headers.host;
  return typeof host === "string" && /^[A-Za-z0-9.\-:[\]]+$/.test(host) ? `http://${host}` : undefined;
}

/**
 * Whether the request's Origin is a page of this server: the same host and port as the Host header, over
 * http or https (a TLS-terminating proxy in front of Baton forwards https pages' requests as http).
 */
export function sameOrigin(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (typeof origin !== "string" || typeof req.headers.host !== "string") return false;
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && url.host === req.headers.host.toLowerCase();
  } catch {
    return false;
  }
}

/** Whether a websocket upgrade may use the session cookie: only from a page of this server. */
export function websocketOriginAllowed(req: http.IncomingMessage): boolean {
  if (!sessionCookieOf(req) || req.headers.authorization) return true; // not cookie-authenticated
  return sameOrigin(req);
}

function cookieHeader(value: string, maxAge: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`;
}

const SigninBody = z.object({ code: z.string().regex(/^[A-Za-z0-9_-]{20,100}$/, "must be the code from the sign-in link") }).strict();

const MAX_AUTH_BODY = 4096;

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_AUTH_BODY) {
        reject(new HttpError(413, `The request body is larger than ${MAX_AUTH_BODY} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("error", reject);
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new HttpError(400, 'The request body must be JSON such as {"code": "..."}.'));
      }
    });
  });
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/**
 * The /auth/* routes:
 *   POST /auth/signin   {"code"} -> sets the session cookie; 401 with the reason for a bad, used or expired code
 *   POST /auth/signout  clears the cookie
 *   GET  /auth/session  {"ownerId", "name", "expiresAt"} of the cookie's session, or 401
 *   POST /auth/link     with `Authorization: Bearer <owner token>`: a new sign-in link for that owner (`baton web link`)
 */
export function makeAuthRoutes(opts: { pool: Pool; jwtSecret: string; logger: Logger }) {
  const { pool, jwtSecret, logger } = opts;

  async function signin(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    requireJson(req);
    requireSameOrigin(req);
    const parsed = SigninBody.safeParse(await readJson(req));
    if (!parsed.success) throw new HttpError(400, `The sign-in request is not valid: ${parsed.error.issues[0]?.message ?? "expected {\"code\": \"...\"}"}.`);
    let ownerId: string;
    try {
      const { rows } = await pool.query<{ owner_id: string }>("select baton_private.redeem_signin_code($1) as owner_id", [hashSigninCode(parsed.data.code)]);
      ownerId = rows[0]!.owner_id;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "BTNFD" || code === "BTDNY") throw new HttpError(401, describeDbError(err));
      throw err;
    }
    const { token, claims } = await mintOwnerToken(pool, ownerId, jwtSecret, SESSION_TTL_SECONDS);
    logger.info("dashboard sign-in", { owner_id: ownerId });
    send(res, 200, { ownerId, expiresAt: new Date(Number(claims.exp) * 1000).toISOString() }, { "set-cookie": cookieHeader(token, SESSION_TTL_SECONDS) });
  }

  async function session(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const token = sessionCookieOf(req);
    if (!token) throw new HttpError(401, "You are not signed in. Open the sign-in link that `baton server` printed, or run `baton web link` for a new one.");
    let claims: Claims;
    try {
      claims = parseSession(token, jwtSecret);
    } catch (err) {
      if (err instanceof TokenError) throw new HttpError(401, err.message);
      throw err;
    }
    const { rows } = await pool.query<{ name: string; token_generation: number }>("select name, token_generation from baton.owners where id = $1", [claims.owner_id]);
    const owner = rows[0];
    if (!owner || owner.token_generation !== (claims.gen ?? 0)) throw new HttpError(401, `Your session was ended by \`baton token rotate\`.${SESSION_EXPIRED_HINT}`);
    const exp = unverifiedClaims(token).exp ?? 0; // verified by parseSession above
    send(res, 200, { ownerId: claims.owner_id, name: owner.name, expiresAt: new Date(exp * 1000).toISOString() });
  }

  async function link(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let claims: Claims;
    try {
      const token = bearerToken(req.headers.authorization); // the API's parser: a malformed value says how it must look
      if (!token) throw new HttpError(401, "A new sign-in link needs your owner token: send Authorization: Bearer <token> (`baton web link` does).");
      claims = parseToken(token, jwtSecret);
    } catch (err) {
      if (err instanceof TokenError) throw new HttpError(401, err.message);
      throw err;
    }
    if (claims.role !== "baton_user") throw new HttpError(403, `Only an owner's token may ask for a sign-in link (this one is a ${claims.role} token).`);
    const origin = ownOrigin(req);
    if (!origin) throw new HttpError(400, "The request has no usable Host header.");
    try {
      send(res, 200, await createSigninLink(pool, origin, claims.owner_id, claims.gen ?? 0));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "BTNFD" || code === "BTDNY") throw new HttpError(401, describeDbError(err));
      throw err;
    }
  }

  const routes: Record<string, { method: string; run: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> }> = {
    "/auth/signin": { method: "POST", run: signin },
    "/auth/signout": {
      method: "POST",
      run: async (req, res) => {
        requireSameOrigin(req);
        send(res, 200, { signedOut: true }, { "set-cookie": cookieHeader("", 0) });
      },
    },
    "/auth/session": { method: "GET", run: session },
    "/auth/link": { method: "POST", run: link },
  };

  /** Handles the request when its path is an /auth route; false otherwise. */
  return function handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, fail: (err: unknown) => void): boolean {
    const route = routes[pathname];
    if (!route) return false;
    if (req.method !== route.method) {
      send(res, 405, { error: `${pathname} accepts ${route.method} only.` }, { allow: route.method });
      return true;
    }
    route.run(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      fail(err);
    });
    return true;
  };
}

/** application/json only: a cross-site form cannot send it without a preflight. */
function requireJson(req: http.IncomingMessage): void {
  const type = req.headers["content-type"];
  if (typeof type !== "string" || !/^application\/json\s*(;|$)/i.test(type)) throw new HttpError(415, "Send the sign-in request as Content-Type: application/json.");
}

/** A browser's request from another site names that site in Origin: refuse it. */
function requireSameOrigin(req: http.IncomingMessage): void {
  if (req.headers.origin !== undefined && !sameOrigin(req)) throw new HttpError(403, "Sign-in and sign-out are accepted only from pages of this server.");
}
