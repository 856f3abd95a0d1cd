/*
 * `baton server`: wiring only, in order: database, pool, migrations, settings, local owner, worker,
 * HTTP routes; and one shutdown list run in reverse.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import { acceptHeaderUsable, BAD_ACCEPT } from "./api/accept";
import { sendUnauthorized, tokenProblem } from "./api/auth-gate";
import { MAX_REQUEST_BYTES, makePreset } from "./api/preset";
import { serveWeb } from "./api/static-files";
import { createSigninLink, makeAuthRoutes, websocketOriginAllowed, WS_ORIGIN_REFUSED } from "./api/web-session";
import { makeWebsocketHandler } from "./api/websocket";
import { mintOwnerToken } from "./auth/mint";
import { loadJwtSecret } from "./auth/secret";
import type { Config } from "./config";
import { openDatabase } from "./db/connect";
import { migrate } from "./db/migrate";
import { assertApiPoolRestricted, createApiPool, createPool } from "./db/pool";
import type { Logger } from "./logger";
import { createMetrics } from "./metrics";
import { startWorker } from "./worker";

export type RunningServer = { url: string; databaseUrl: string; close: () => Promise<void> };

type ShutdownAction = { name: string; run: () => Promise<unknown> };

const withTimeout = (p: Promise<unknown>, ms: number) =>
  Promise.race([p, new Promise((resolve) => setTimeout(resolve, ms).unref())]);

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const shutdown: ShutdownAction[] = [];
  const close = async () => {
    for (const action of shutdown.reverse()) {
      await withTimeout(action.run(), 10_000).catch((err) => logger.warn("shutdown step failed", { step: action.name, error: String(err) }));
    }
    shutdown.length = 0;
  };
  try {
    const db = await openDatabase(config, logger);
    shutdown.push({ name: "database", run: db.stop });

    const pool = createPool(db.url, logger, config.workerConcurrency + 20);
    shutdown.push({ name: "pool", run: () => pool.end() });

    await migrate(pool, logger);
    await pool.query("update baton_private.settings set daemon_lease = make_interval(secs => $1)", [config.daemonLeaseSeconds]);
    const owner = await ensureLocalOwner(pool);
    logger.info("local owner", { owner_id: owner.id, created: owner.created });

    if (config.worker) {
      const runner = await startWorker(pool, { concurrency: config.workerConcurrency, logger, sweepMs: config.sweepMs });
      shutdown.push({ name: "worker", run: () => runner.stop() });
    }

    const jwtSecret = loadJwtSecret(config.dataDir, config.jwtSecret);
    // PostGraphile gets its own pool, whose connections start as baton_anonymous: requests never run
    // as the (superuser) login, and RLS applies even to one that carried no role (src/db/pool.ts).
    const apiPool = createApiPool(db.url, logger, 20);
    shutdown.push({ name: "api pool", run: () => apiPool.end() });
    await assertApiPoolRestricted(apiPool);
    const { preset, pgService } = makePreset({ pool: apiPool, jwtSecret, logger });
    const pgl = postgraphile(preset);
    shutdown.push({ name: "postgraphile", run: async () => { await pgl.release(); await pgService.release?.(); } });
    const serv = pgl.createServ(grafserv);
    await pgl.getSchema(); // schema errors surface at boot, not at the first request
    const graphqlHandler = serv.createHandler();
    // Our own graphql-ws wiring: grafserv's lets one malformed frame stop the process (websocket.ts).
    const websockets = makeWebsocketHandler(serv, { logger, maxPayload: MAX_REQUEST_BYTES });

    const metrics = createMetrics(pool, logger);
    const authRoutes = makeAuthRoutes({ pool, jwtSecret, logger });
    // Nothing a client sends may throw out of these listeners: an exception there stops the whole
    // process (API and worker). Each answers 400 for a target it cannot read, and 500 as a last resort.
    const server = http.createServer((req, res) => {
      try {
        const url = requestUrl(req);
        if (!url) return void sendJson(res, 400, { error: BAD_TARGET });
        trackSafely(() => metrics.http.track(req, res), logger);
        if (url.pathname === "/healthz") return void healthz(pool, res, logger);
        if (url.pathname === "/metrics") return void metrics.handle(req, res, config.metricsToken);
        if (authRoutes(req, res, url.pathname, (err) => failRequest(res, err, logger))) return;
        if (!servedByGrafserv(url.pathname)) return void serveWeb(req, res, url.pathname); // the dashboard
        if (url.pathname === "/graphql") {
          const problem = tokenProblem(req, jwtSecret);
          if (problem) return void sendUnauthorized(res, problem);
          if (!acceptHeaderUsable(req)) return void sendJson(res, 400, { errors: [{ message: BAD_ACCEPT, extensions: { code: "BAD_REQUEST" } }] });
        }
        const notFound = (err?: unknown) => {
          if (err) return failRequest(res, err, logger);
          sendJson(res, 404, { error: `No route ${url.pathname.slice(0, 200)}. Baton serves /graphql, /graphiql, /healthz and /metrics.` });
        };
        Promise.resolve(graphqlHandler(req, res, notFound)).catch((err: unknown) => failRequest(res, err, logger));
      } catch (err) {
        failRequest(res, err, logger);
      }
    });
    // Upgraded sockets (graphql-ws) are not closed by server.close(): track them so shutdown ends them.
    const upgraded = new Set<import("node:stream").Duplex>();
    server.on("upgrade", (req, socket, head) => {
      // A client that resets the connection mid-handshake must not be an uncaught 'error' event.
      socket.on("error", (err) => logger.debug("upgrade socket error", { error: err.message }));
      try {
        const url = requestUrl(req);
        if (url?.pathname !== "/graphql") {
          socket.end(`HTTP/1.1 ${url ? "404 Not Found" : "400 Bad Request"}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
          return;
        }
        // Browsers send cookies with cross-site websockets: a cookie-authenticated one must be our page's.
        if (!websocketOriginAllowed(req)) {
          socket.end(`HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(WS_ORIGIN_REFUSED)}\r\n\r\n${WS_ORIGIN_REFUSED}`);
          return;
        }
        trackSafely(() => metrics.http.trackUpgrade(url.pathname), logger);
        upgraded.add(socket);
        socket.once("close", () => upgraded.delete(socket));
        websockets.handle(req, socket, head);
      } catch (err) {
        logger.error("websocket upgrade failed", { error: err instanceof Error ? err.message : String(err) });
        socket.destroy();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, resolve);
    });
    shutdown.push({
      name: "http",
      run: () =>
        new Promise((resolve) => {
          server.close(resolve);
          server.closeAllConnections();
          websockets.close();
          for (const socket of upgraded) socket.destroy();
        }),
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    const url = `http://${config.host}:${port}`;
    writeCredentials(config.dataDir, { api_url: `${url}/graphql`, owner_id: owner.id, token: (await mintOwnerToken(pool, owner.id, jwtSecret)).token }); // expires (30 days) and dies with `baton token rotate`
    logger.info("baton server listening", { url, dashboard: url, graphql: `${url}/graphql`, graphiql: `${url}/graphiql` });
    await announceSigninLink(pool, config.dataDir, browserOrigin(config.host, port), owner.id, logger);
    return { url, databaseUrl: db.url, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The owner that a local server's CLI acts for: created on first start. Check and create under a
 * transaction-level advisory lock, so that servers starting together on a fresh database make one
 * owner, not one each (test/api/two_servers_fresh.test.ts).
 */
async function ensureLocalOwner(pool: import("pg").Pool): Promise<{ id: string; created: boolean }> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select pg_advisory_xact_lock(7310421002)"); // arbitrary, constant: "baton local owner"
    const existing = await client.query<{ id: string }>("select id from baton.owners order by created_at limit 1");
    const owner = existing.rows[0]
      ? { id: existing.rows[0].id, created: false }
      : { id: (await client.query<{ id: string }>("select id from baton.create_owner('local')")).rows[0]!.id, created: true };
    await client.query("commit");
    return owner;
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** 200 when the database answers; 503 otherwise, with the database's error in the log only (it can name hosts and users). */
function healthz(pool: import("pg").Pool, res: http.ServerResponse, logger: Logger): void {
  pool
    .query("select 1")
    .then(() => sendJson(res, 200, { status: "ok" }))
    .catch((err: Error) => {
      logger.error("healthz: the database did not answer", { error: err.message });
      sendJson(res, 503, { status: "unavailable", error: "The database did not answer; the server log has the details." });
    });
}

/** The request target as a URL (origin-form or absolute-form), or undefined when it is not one. */
function requestUrl(req: http.IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? "/", "http://localhost");
  } catch {
    return undefined;
  }
}

/** Paths PostGraphile's grafserv answers (the API, GraphiQL and its assets); the dashboard gets the rest. */
function servedByGrafserv(pathname: string): boolean {
  return pathname === "/graphql" || pathname.startsWith("/graphql/") || pathname === "/graphiql" || pathname.startsWith("/ruru-static/");
}

/** Where a browser on this machine reaches the server (0.0.0.0 and :: listen everywhere, loopback included). */
function browserOrigin(host: string, port: number): string {
  const h = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/**
 * A one-time sign-in link for the local owner. On a terminal it is printed on stdout, where the
 * person who ran `npm start` sees it. Piped (a service, a container), stdout is usually a log: the
 * link is written to DATA_DIR/signin-link (mode 0600) instead, and the log only says where. Either
 * way it works once and for 15 minutes; `baton web link` mints another.
 */
async function announceSigninLink(pool: import("pg").Pool, dataDir: string, origin: string, ownerId: string, logger: Logger): Promise<void> {
  try {
    const link = await createSigninLink(pool, origin, ownerId);
    const file = path.join(dataDir, "signin-link");
    fs.writeFileSync(file, link.url + "\n", { mode: 0o600 });
    fs.chmodSync(file, 0o600);
    if (process.stdout.isTTY) {
      process.stdout.write(`\nBaton dashboard: open ${link.url}\n(works once, until ${link.expiresAt}; \`baton web link\` prints a new one)\n\n`);
    } else {
      logger.info("dashboard sign-in link written", { file, expires_at: link.expiresAt, hint: "open the link in the file once, or run `baton web link`" });
    }
  } catch (err) {
    logger.warn("no dashboard sign-in link", { error: err instanceof Error ? err.message : String(err) });
  }
}

const BAD_TARGET = "The request target is not a valid URL path. Baton serves /graphql, /graphiql, /healthz and /metrics.";

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Counting a request must never be why it fails. */
function trackSafely(track: () => void, logger: Logger): void {
  try {
    track();
  } catch (err) {
    logger.warn("metrics: a request could not be counted", { error: err instanceof Error ? err.message : String(err) });
  }
}

/** The last resort for a request: 500 with an id to find the logged error by, and nothing of the error itself. */
function failRequest(res: http.ServerResponse, err: unknown, logger: Logger): void {
  const id = randomBytes(6).toString("hex");
  logger.error("request failed", { error_id: id, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  try {
    if (res.headersSent) return void res.destroy();
    sendJson(res, 500, { errors: [{ message: `An unexpected error occurred (error id ${id}); the server log has the details.`, extensions: { code: "INTERNAL", errorId: id } }] });
  } catch {
    res.destroy();
  }
}

/** The local owner's credentials, for the CLI and daemons on this machine (mode 0600). */
function writeCredentials(dataDir: string, credentials: { api_url: string; owner_id: string; token: string }): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, "credentials.json");
  fs.writeFileSync(file, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}
