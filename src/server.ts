/*
 * `baton server`: wiring only, in order: database, pool, migrations, settings, local owner, worker,
 * HTTP routes; and one shutdown list run in reverse.
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import { sendUnauthorized, tokenProblem } from "./api/auth-gate";
import { makePreset } from "./api/preset";
import { signJwt } from "./auth/jwt";
import { loadJwtSecret } from "./auth/secret";
import type { Config } from "./config";
import { openDatabase } from "./db/connect";
import { migrate } from "./db/migrate";
import { createPool } from "./db/pool";
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
      const runner = await startWorker(pool, { concurrency: config.workerConcurrency, logger });
      shutdown.push({ name: "worker", run: () => runner.stop() });
    }

    const jwtSecret = loadJwtSecret(config.dataDir, config.jwtSecret);
    const { preset, pgService } = makePreset({ pool, jwtSecret, logger });
    const pgl = postgraphile(preset);
    shutdown.push({ name: "postgraphile", run: async () => { await pgl.release(); await pgService.release?.(); } });
    const serv = pgl.createServ(grafserv);
    await pgl.getSchema(); // schema errors surface at boot, not at the first request
    const graphqlHandler = serv.createHandler();
    const upgradeHandler = await serv.getUpgradeHandler();

    const metrics = createMetrics(pool, logger);
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      metrics.http.track(req, res);
      if (url.pathname === "/healthz") return void healthz(pool, res);
      if (url.pathname === "/metrics") return void metrics.handle(res);
      if (url.pathname === "/graphql") {
        const problem = tokenProblem(req, jwtSecret);
        if (problem) return void sendUnauthorized(res, problem);
      }
      graphqlHandler(req, res, () => {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: `No route ${url.pathname}. Baton serves /graphql, /graphiql, /healthz and /metrics.` }));
      });
    });
    // Upgraded sockets (graphql-ws) are not closed by server.close(): track them so shutdown ends them.
    const upgraded = new Set<import("node:stream").Duplex>();
    server.on("upgrade", (req, socket, head) => {
      const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
      if (upgradeHandler && pathname === "/graphql") {
        metrics.http.trackUpgrade(pathname);
        upgraded.add(socket);
        socket.once("close", () => upgraded.delete(socket));
        upgradeHandler(req, socket, head);
      } else socket.destroy();
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
          for (const socket of upgraded) socket.destroy();
        }),
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    const url = `http://${config.host}:${port}`;
    writeCredentials(config.dataDir, { api_url: `${url}/graphql`, owner_id: owner.id, token: signJwt({ role: "baton_user", owner_id: owner.id, aud: "baton", iss: "baton" }, jwtSecret) });
    logger.info("baton server listening", { url, graphql: `${url}/graphql`, graphiql: `${url}/graphiql` });
    return { url, databaseUrl: db.url, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The owner that a local server's CLI acts for: created on first start. */
async function ensureLocalOwner(pool: import("pg").Pool): Promise<{ id: string; created: boolean }> {
  const existing = await pool.query<{ id: string }>("select id from baton.owners order by created_at limit 1");
  if (existing.rows[0]) return { id: existing.rows[0].id, created: false };
  const created = await pool.query<{ id: string }>("select id from baton.create_owner('local')");
  return { id: created.rows[0]!.id, created: true };
}

function healthz(pool: import("pg").Pool, res: http.ServerResponse): void {
  pool
    .query("select 1")
    .then(() => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "ok" }));
    })
    .catch((err: Error) => {
      res.writeHead(503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "unavailable", error: err.message }));
    });
}

/** The local owner's credentials, for the CLI and daemons on this machine (mode 0600). */
function writeCredentials(dataDir: string, credentials: { api_url: string; owner_id: string; token: string }): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, "credentials.json");
  fs.writeFileSync(file, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}
