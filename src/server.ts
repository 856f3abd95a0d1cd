/*
 * `baton server`: wiring only, in order: database, pool, migrations, settings, local owner, worker,
 * HTTP routes; and one shutdown list run in reverse.
 */
import http from "node:http";
import type { Config } from "./config";
import { openDatabase } from "./db/connect";
import { migrate } from "./db/migrate";
import { createPool } from "./db/pool";
import type { Logger } from "./logger";
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

    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname === "/healthz") {
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
        return;
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `No route ${url.pathname}. Try /healthz.` }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, resolve);
    });
    shutdown.push({ name: "http", run: () => new Promise((resolve) => server.close(resolve)) });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    const url = `http://${config.host}:${port}`;
    logger.info("baton server listening", { url });
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
