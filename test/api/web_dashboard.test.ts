/*
 * The web dashboard's server side (issue 13): its files at / (content types, a self-only CSP, nosniff,
 * page paths, no way out of dist/web), the one-time sign-in link and the session cookie it buys
 * (single use, HttpOnly/SameSite=Strict, the CSRF header, the websocket Origin check), and a second
 * owner's session that sees nothing of the first's. A real server in this process, on the test's
 * database; the dashboard's files as scripts/build.js built them into dist/web.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it, before } from "node:test";
import WebSocket from "ws";
import { mintOwnerToken } from "../../src/auth/mint";
import { useTestServer, type TestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { rawRequest } from "../helpers/raw-http";

const db = useTestDatabase();

const codeOf = (url: string) => new URL(url).hash.replace(/^#code=/, "");

async function signin(server: TestServer, code: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}/auth/signin`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ code }) });
  return { status: res.status, cookie: res.headers.get("set-cookie"), body: (await res.json()) as { error?: string; ownerId?: string } };
}

/** The session cookie's name=value from a Set-Cookie header. */
const cookiePair = (setCookie: string | null) => setCookie!.split(";")[0]!;

async function gqlWithCookie(server: TestServer, cookie: string, query: string, variables: Record<string, unknown> = {}, csrf = true) {
  const res = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", cookie, ...(csrf ? { "x-baton-csrf": "1" } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] } };
}

async function newLink(server: TestServer, token: string) {
  const res = await fetch(`${server.url}/auth/link`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as { url?: string; expiresAt?: string; error?: string } };
}

describe("the web dashboard's server side", () => {
  // scripts/test.js builds dist/web before any test runs (scripts/build.js).
  before(() => assert.ok(fs.existsSync(path.join(__dirname, "..", "..", "dist", "web", "index.html")), "dist/web is built"));
  const server = useTestServer(db, { worker: false });

  it("serves the page at / with a self-only CSP and nosniff, its assets with their content types, and index.html for page paths only", async () => {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    const html = await page.text();
    const script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const style = /<link rel="stylesheet" crossorigin href="(\/assets\/[^"]+\.css)"/.exec(html)?.[1];
    assert.ok(script && style, html);
    assert.doesNotMatch(html, /https?:\/\//, "nothing is loaded from elsewhere");
    const js = await fetch(`${server.url}${script}`);
    assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);
    assert.equal((await fetch(`${server.url}${style}`)).headers.get("content-type"), "text/css; charset=utf-8");
    for (const p of ["/signin", "/daemons", "/directives/new", "/directives/3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f"]) {
      const r = await fetch(`${server.url}${p}`);
      assert.equal(r.status, 200, p);
      assert.equal(await r.text(), html, `${p} is the page`);
    }
    const missing = await fetch(`${server.url}/assets/nope.js`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("x-content-type-options"), "nosniff");
    const post = await fetch(`${server.url}/`, { method: "POST" });
    assert.equal(post.status, 405);
  });

  it("refuses paths that climb out of dist/web, plain or encoded", async () => {
    const secret = fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8").slice(0, 40);
    for (const target of ["/../package.json", "/assets/../../package.json", "/%2e%2e/package.json", "/%2E%2E%2Fpackage.json", "/assets/..%2f..%2fpackage.json", "/..%5cpackage.json", "/%252e%252e/package.json", "/assets/%00.js", "/%"]) {
      const reply = await rawRequest(Number(new URL(server.url).port), `GET ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`);
      assert.ok(reply.status === 400 || reply.status === 404, `${target}: HTTP ${reply.status}`);
      assert.ok(!reply.body.toString("utf8").includes(secret), `${target} must not reach package.json`);
      assert.match(reply.head, /x-content-type-options: nosniff/i, target);
    }
  });

  it("signs in once with the printed link: an HttpOnly, SameSite=Strict session cookie; the link fails a second time", async () => {
    const link = fs.readFileSync(path.join(server.dataDir, "signin-link"), "utf8").trim();
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/signin#code=[A-Za-z0-9_-]{43}$/);
    assert.equal((fs.statSync(path.join(server.dataDir, "signin-link")).mode & 0o077), 0, "the link file is private");
    const first = await signin(server, codeOf(link));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.ownerId, server.credentials.owner_id);
    assert.match(first.cookie ?? "", /^baton_session=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=604800$/);
    const second = await signin(server, codeOf(link));
    assert.equal(second.status, 401);
    assert.match(second.body.error ?? "", /^This sign-in link was already used \(at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)\. A link signs in once: run `baton web link` for a new one\.$/);
    const unknown = await signin(server, "A".repeat(43));
    assert.deepEqual([unknown.status, unknown.body.error], [401, "This sign-in link is not valid. Run `baton web link` for a new one."]);
    const stored = await db.pool.query("select code_hash, used_at from baton_private.signin_codes");
    assert.ok(stored.rows.every((r) => r.code_hash !== codeOf(link) && /^[0-9a-f]{64}$/.test(r.code_hash)), "only hashes are stored");

    const cookie = cookiePair(first.cookie);
    const session = await fetch(`${server.url}/auth/session`, { headers: { cookie } });
    assert.deepEqual(await session.json().then((s: any) => [s.ownerId, s.name]), [server.credentials.owner_id, "local"]);
    const me = await gqlWithCookie(server, cookie, "{ currentIdentity }");
    assert.equal(me.body.data.currentIdentity.role, "baton_user");
    const noCsrf = await gqlWithCookie(server, cookie, "{ currentIdentity }", {}, false);
    assert.equal(noCsrf.status, 403);
    assert.equal(noCsrf.body.errors?.[0]?.message, "A request signed in with the Baton session cookie must send the header x-baton-csrf: 1 (the dashboard does); scripts should send Authorization: Bearer <token> instead.");
    const forged = await gqlWithCookie(server, `${cookie.slice(0, -3)}abc`, "{ currentIdentity }");
    assert.equal(forged.status, 401);
    assert.match(forged.body.errors?.[0]?.message ?? "", /^Your dashboard session is not valid: The token's signature is invalid .* Sign in again: run `baton web link` for a new sign-in link\.$/);
    const signedOut = await fetch(`${server.url}/auth/signout`, { method: "POST", headers: { cookie } });
    assert.match(signedOut.headers.get("set-cookie") ?? "", /^baton_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
  });

  it("refuses sign-in from another site's page, and without JSON", async () => {
    const { body } = await newLink(server, server.credentials.token);
    const foreign = await signin(server, codeOf(body.url!), { origin: "http://evil.example" });
    assert.deepEqual([foreign.status, foreign.body.error], [403, "Sign-in and sign-out are accepted only from pages of this server."]);
    const form = await fetch(`${server.url}/auth/signin`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `code=${codeOf(body.url!)}` });
    assert.equal(form.status, 415);
    assert.equal((await signin(server, codeOf(body.url!))).status, 200, "the refused attempts did not use the code up");
  });

  it("mints links only for a live owner token (`baton web link`'s endpoint)", async () => {
    const ok = await newLink(server, server.credentials.token);
    assert.equal(ok.status, 200);
    assert.match(ok.body.url ?? "", new RegExp(`^${server.url}/signin#code=`));
    const none = await fetch(`${server.url}/auth/link`, { method: "POST" });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: string }).error, "A new sign-in link needs your owner token: send Authorization: Bearer <token> (`baton web link` does).");
  });

  it("websockets: a cookie-authenticated one from another Origin is refused; from the page's own, it acts as the owner", async () => {
    const { body } = await newLink(server, server.credentials.token);
    const cookie = cookiePair((await signin(server, codeOf(body.url!))).cookie);
    const open = (origin: string) =>
      new Promise<{ status: number; socket?: WebSocket }>((resolve) => {
        const socket = new WebSocket(server.wsUrl, "graphql-transport-ws", { headers: { cookie, origin } });
        socket.once("unexpected-response", (_req, res) => resolve({ status: res.statusCode ?? 0 }));
        socket.once("open", () => resolve({ status: 101, socket }));
        socket.once("error", () => undefined);
      });
    assert.equal((await open("http://evil.example")).status, 403);
    assert.equal((await open("http://127.0.0.1:1")).status, 403, "another port is another origin");
    const behindProxy = await open(server.url.replace(/^http:/, "https:")); // a TLS-terminating proxy's page
    assert.equal(behindProxy.status, 101);
    behindProxy.socket!.close();
    const own = await open(server.url);
    assert.equal(own.status, 101);
    const socket = own.socket!;
    const messages: any[] = [];
    const waiting: ((m: any) => void)[] = [];
    socket.on("message", (d) => {
      const m = JSON.parse(String(d));
      const w = waiting.shift();
      if (w) w(m);
      else messages.push(m);
    });
    const next = () => new Promise<any>((resolve) => (messages.length ? resolve(messages.shift()) : waiting.push(resolve)));
    socket.send(JSON.stringify({ type: "connection_init" }));
    assert.equal((await next()).type, "connection_ack");
    socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: "{ currentIdentity }" } }));
    const result = await next();
    assert.equal(result.payload?.data?.currentIdentity?.role, "baton_user", JSON.stringify(result));
    socket.close();
  });

  it("a second owner's session sees none of the first owner's directives", async () => {
    const a = await newLink(server, server.credentials.token);
    const cookieA = cookiePair((await signin(server, codeOf(a.body.url!))).cookie);
    const created = await gqlWithCookie(server, cookieA, 'mutation { createDirective(input: { title: "A only", goal: "secret of A" }) { result { rowId } } }');
    const directiveId = created.body.data.createDirective.result.rowId as string;
    const other = (await db.pool.query<{ id: string }>("select id from baton.create_owner('second')")).rows[0]!.id;
    const tokenB = (await mintOwnerToken(db.pool, other, server.secret)).token;
    const b = await newLink(server, tokenB);
    const cookieB = cookiePair((await signin(server, codeOf(b.body.url!))).cookie);
    const seen = await gqlWithCookie(server, cookieB, "query($id: UUID!) { directives { nodes { rowId } } directive(rowId: $id) { rowId } }", { id: directiveId });
    assert.deepEqual(seen.body.data, { directives: { nodes: [] }, directive: null });
    const seenByA = await gqlWithCookie(server, cookieA, "{ directives { nodes { rowId } } }");
    assert.deepEqual(seenByA.body.data.directives.nodes, [{ rowId: directiveId }]);
  });
});
