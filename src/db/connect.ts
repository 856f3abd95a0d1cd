/*
 * Where the database is: DATABASE_URL, else the embedded PostgreSQL in BATON_DATA_DIR.
 */
import type { Config } from "../config";
import type { Logger } from "../logger";
import { startEmbeddedPostgres } from "./embedded";

export type Database = { url: string; embedded: boolean; stop: () => Promise<void> };

export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: false, stop: async () => undefined };
  const db = await startEmbeddedPostgres(config.dataDir, logger);
  logger.info("embedded PostgreSQL running", { data_dir: config.dataDir });
  return { url: db.url, embedded: true, stop: db.stop };
}
