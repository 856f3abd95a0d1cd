/*
 * The two whole-surface snapshots: test/schema.sql and test/schema.graphql, made from a freshly
 * migrated database (a throw-away embedded cluster, or DATABASE_URL's server).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { makePreset } from "../../src/api/preset";
import { startEmbeddedPostgres } from "../../src/db/embedded";
import { describeSchema } from "../../src/db/describe-schema";
import { migrate } from "../../src/db/migrate";
import { createPool } from "../../src/db/pool";
import { silentLogger } from "../../src/logger";

export const SNAPSHOT_SQL = path.join(__dirname, "..", "schema.sql");
export const SNAPSHOT_GRAPHQL = path.join(__dirname, "..", "schema.graphql");

export async function snapshotsOf(url: string): Promise<{ sql: string; graphql: string }> {
  const c = new Client({ connectionString: url });
  await c.connect();
  const sql = await describeSchema(c).finally(() => c.end());
  const pool = createPool(url, silentLogger, 4);
  const { preset, pgService } = makePreset({ pool, jwtSecret: "x".repeat(48), logger: silentLogger });
  const { postgraphile } = await import("postgraphile");
  const { printSchema, lexicographicSortSchema } = await import("postgraphile/graphql");
  const pgl = postgraphile(preset);
  try {
    const schema = await pgl.getSchema();
    return { sql, graphql: printSchema(lexicographicSortSchema(schema)) + "\n" };
  } finally {
    await pgl.release();
    await pgService.release?.();
    await pool.end();
  }
}

export async function writeSnapshots(): Promise<void> {
  let url = process.env.DATABASE_URL;
  let stop = async () => undefined as void;
  if (!url) {
    const db = await startEmbeddedPostgres(fs.mkdtempSync(path.join(os.tmpdir(), "baton-schema-")), silentLogger, { persistent: false, database: "baton_schema" });
    url = db.url;
    stop = db.stop;
  }
  try {
    const pool = createPool(url, silentLogger, 2);
    await migrate(pool, silentLogger);
    await pool.end();
    const { sql, graphql } = await snapshotsOf(url);
    fs.writeFileSync(SNAPSHOT_SQL, sql);
    fs.writeFileSync(SNAPSHOT_GRAPHQL, graphql);
    process.stdout.write(`Wrote ${path.relative(process.cwd(), SNAPSHOT_SQL)} and ${path.relative(process.cwd(), SNAPSHOT_GRAPHQL)}.\n`);
  } finally {
    await stop();
  }
}
