/*
 * /metrics: Prometheus text for one Baton process. HTTP counts come from this process; everything
 * else from the database, read at each scrape (counters, not counts: see database.ts). When the
 * database does not answer, the scrape still succeeds with baton_database_up 0 and the HTTP counts,
 * so an outage shows as a metric, not a gap. With BATON_METRICS_TOKEN set, a scrape must carry it
 * (authorize.ts).
 */
import type http from "node:http";
import type { Pool } from "pg";
import type { Logger } from "../logger";
import { metricsTokenProblem } from "./authorize";
import { databaseFamilies, readSnapshot } from "./database";
import { HttpMetrics } from "./http";
import { CONTENT_TYPE, formatFamilies, type Family } from "./prometheus";

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
  const httpMetrics = new HttpMetrics();
  const render = async (): Promise<string> => {
    let families: Family[] = [];
    let up = 1;
    try {
      families = databaseFamilies(await withTimeout(readSnapshot(pool), 5_000));
    } catch (err) {
      up = 0;
      logger.warn("metrics: the database did not answer", { error: (err as Error).message });
    }
    return formatFamilies([
      { name: "baton_database_up", help: "1 when the database answered this scrape, else 0.", type: "gauge", samples: [{ value: up }] },
      ...families,
      ...httpMetrics.families(),
    ]);
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
          res.writeHead(200, { "content-type": CONTENT_TYPE });
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
