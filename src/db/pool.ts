/*
 * The one pg.Pool per process, shared by migrations, graphile-worker and the API (STACK.md: size it
 * for worker concurrency + LISTEN clients + requests). Errors on idle clients are logged instead of
 * crashing the process when PostgreSQL restarts.
 */
import { Pool } from "pg";
import type { Logger } from "../logger";

export function createPool(connectionString: string, logger: Logger, max = 20): Pool {
  const pool = new Pool({ connectionString, max, application_name: "baton" });
  pool.on("error", (err) => logger.warn("idle database client failed", { error: err.message }));
  pool.on("connect", (client) => {
    client.on("error", (err) => logger.warn("database client failed", { error: err.message }));
  });
  return pool;
}
