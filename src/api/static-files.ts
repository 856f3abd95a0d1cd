/*
 * The web dashboard's files (built by scripts/build.js from web/ into dist/web), served at /.
 *
 * - A path is decoded once and must stay inside dist/web: `..` segments, backslashes, NUL bytes and
 *   undecodable escapes are refused with 400 before the file system is touched, and the resolved path
 *   is checked to be under the root (symlinks are not followed out of it: realpath is compared too).
 * - A page path of the dashboard's router (/, /signin, /directives/ID, /daemons...) gets index.html;
 *   any other path that is no file is a 404, with the message the server always gave.
 * - Every answer carries a Content-Security-Policy allowing this origin only (no inline script or
 *   style, no CDN), X-Content-Type-Options: nosniff, and frame-ancestors 'none'. Hashed assets
 *   (/assets/...) are cached for a year; index.html is revalidated every time.
 */
import fs from "node:fs";
import type http from "node:http";
import path from "node:path";

export const WEB_ROOT = path.join(__dirname, "..", "..", "dist", "web"); // from dist/api (and src/api under ts-node)

/** The dashboard's page paths (web/src/router.ts): these get index.html; any other missing path is a 404. */
const PAGE_PATH = /^\/(?:|signin|daemons|directives|directives\/new|directives\/[0-9a-fA-F-]{36})$/;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".woff2": "font/woff2",
};

export const NOT_BUILT = "The web dashboard is not built: run `npm run build` (or `node scripts/build.js --if-stale`), then reload.";

/** The file a request path names under root, or why it cannot name one. */
export function resolveWebPath(root: string, pathname: string): { file: string } | { status: 400; error: string } {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { status: 400, error: "The path has an invalid percent-escape." };
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return { status: 400, error: "The path contains a NUL byte or a backslash." };
  if (decoded.split("/").some((segment) => segment === ".." || segment === ".")) return { status: 400, error: "The path may not contain . or .. segments." };
  const file = path.resolve(root, "." + (decoded.endsWith("/") ? decoded + "index.html" : decoded));
  if (file !== root && !file.startsWith(root + path.sep)) return { status: 400, error: "The path leaves the dashboard's directory." };
  return { file };
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}, head = false): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, "content-length": String(Buffer.byteLength(body)), ...extra });
  res.end(head ? undefined : body);
}

/** A regular file under root (after following symlinks), or undefined. */
function regularFileInside(root: string, file: string): fs.Stats | undefined {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return undefined;
    const real = fs.realpathSync(file);
    const realRoot = fs.realpathSync(root);
    return real.startsWith(realRoot + path.sep) ? stat : undefined;
  } catch {
    return undefined;
  }
}

/** Serves GET/HEAD of the dashboard's files and pages. */
export function serveWeb(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, root = WEB_ROOT): void {
  const head = req.method === "HEAD";
  if (req.method !== "GET" && !head) {
    return send(res, 405, "application/json; charset=utf-8", JSON.stringify({ error: `${pathname.slice(0, 200)} accepts GET and HEAD only.` }), { allow: "GET, HEAD" });
  }
  const resolved = resolveWebPath(root, pathname);
  if ("error" in resolved) return send(res, 400, "application/json; charset=utf-8", JSON.stringify({ error: resolved.error }), {}, head);
  let file = resolved.file;
  let stat = regularFileInside(root, file);
  if (!stat && PAGE_PATH.test(pathname)) {
    file = path.join(root, "index.html"); // a page path: the page's router shows it
    stat = regularFileInside(root, file);
    if (!stat) return send(res, 503, "text/plain; charset=utf-8", NOT_BUILT + "\n", {}, head);
  }
  if (!stat) {
    return send(res, 404, "application/json; charset=utf-8", JSON.stringify({ error: `No route ${pathname.slice(0, 200)}. Baton serves /graphql, /graphiql, /healthz and /metrics.` }), {}, head);
  }
  const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
  const immutable = file.startsWith(path.join(root, "assets") + path.sep);
  send(res, 200, type, fs.readFileSync(file), { "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" }, head);
}
