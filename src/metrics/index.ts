/*
 * /metrics: Prometheus text for one Baton process, written by prom-client from a registry per server.
 * That registry holds prom-client's process metrics (CPU, RSS, heap, event-loop lag, GC), the HTTP
 * counts and baton_database_up; the database's figures are read at each scrape (counters, not counts:
 * see database.ts) into a second registry, merged in only when the read succeeded. When the database
 * does not answer, the scrape still succeeds with baton_database_up 0, so an outage shows as a metric,
 * not a gap. With BATON_METRICS_TOKEN set, a scrape must carry it (authorize.ts).
 */
import type http from "node:http";
import type { Pool } from "pg";
import { collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { Logger } from "../logger";
import { metricsTokenProblem } from "./authorize";
import { readSnapshot } from "./database";
import { createDatabaseMetrics } from "./database-metrics";
import { HttpMetrics } from "./http";

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

export type Metrics = {
  http: HttpMetrics;
  /** Renders the exposition text (the /metrics body). */
  render: () => Promise<string>;
  /** Serves /metrics; with a token, only to a request that carries it (401 otherwise). */
  handle: (req: http.IncomingMessage, res: http.ServerResponse, token?: string) => void;
};

export function createMetrics(pool: Pool, logger: Logger): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const up = new Gauge({ name: "baton_database_up", help: "1 when the database answered this scrape, else 0.", registers: [registry] });
  const httpMetrics = new HttpMetrics(registry);
  const database = createDatabaseMetrics();
  const render = async (): Promise<string> => {
    let answered = true;
    try {
      database.set(await withTimeout(readSnapshot(pool), 5_000));
    } catch (err) {
      answered = false;
      logger.warn("metrics: the database did not answer", { error: (err as Error).message });
    }
    up.set(answered ? 1 : 0);
    return Registry.merge(answered ? [registry, database.registry] : [registry]).metrics();
  };
  return {
    http: httpMetrics,
    render,
    handle(req, res, token) {
      const problem = token === undefined ? undefined : metricsTokenProblem(req.headers.authorization, token);
      if (problem) {
        res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="baton-metrics"' });
        res.end(JSON.stringify({ error: problem }));
        return;
      }
      render().then(
        (body) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(body);
        },
        (err: Error) => {
          logger.error("metrics failed", { error: err.message });
          res.writeHead(500, { "content-type": "text/plain" });
          res.end("metrics failed; the server log has the details\n");
        },
      );
    },
  };
}
