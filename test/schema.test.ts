/*
 * Whole-surface snapshots: a fresh migration must match test/schema.sql and test/schema.graphql.
 * When a change is intended, review the diff and regenerate them with `npm run schema:dump`.
 * The same committed text must come out of the embedded PostgreSQL 18 (as `postgres`) and of the
 * machine's PostgreSQL 15 (as another superuser), so it depends on neither version nor login name.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { Client } from "pg";
import { createPool } from "../src/db/pool";
import { migrate } from "../src/db/migrate";
import { silentLogger } from "../src/logger";
import { useTestDatabase } from "./helpers/db";
import { SNAPSHOT_GRAPHQL, SNAPSHOT_SQL, snapshotsOf } from "./helpers/schema-snapshot";
import { startSystemPostgres, SYSTEM_PG_BIN, systemPostgresAvailable, type SystemPostgres } from "./helpers/system-postgres";

const db = useTestDatabase();

function assertMatchesCommitted(snapshot: { sql: string; graphql: string }, where: string) {
  assert.equal(snapshot.sql, fs.readFileSync(SNAPSHOT_SQL, "utf8"), `the database schema on ${where} differs from test/schema.sql: review, then \`npm run schema:dump\``);
  assert.equal(snapshot.graphql, fs.readFileSync(SNAPSHOT_GRAPHQL, "utf8"), `the GraphQL API on ${where} differs from test/schema.graphql: review, then \`npm run schema:dump\``);
}

it("matches the committed schema and API snapshots (regenerate with `npm run schema:dump` after reviewing the diff)", async () => {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  const version = (await c.query<{ v: string }>("select current_setting('server_version_num') as v").finally(() => c.end())).rows[0]!.v;
  assertMatchesCommitted(await snapshotsOf(db.url), `PostgreSQL ${version}`);
});

describe("on the machine's PostgreSQL 15, migrated by a superuser not called postgres", { skip: !systemPostgresAvailable() && `no PostgreSQL at ${SYSTEM_PG_BIN} (set BATON_TEST_PG15_BIN)` }, () => {
  let pg: SystemPostgres;
  before(async () => {
    pg = await startSystemPostgres({ superuser: "baton_dba" });
  });
  after(async () => pg?.stop());

  it("gives the same committed snapshots", async () => {
    const pool = createPool(pg.url, silentLogger, 2);
    try {
      await migrate(pool, silentLogger);
      const version = (await pool.query<{ v: string }>("select current_setting('server_version_num') as v")).rows[0]!.v;
      assert.match(version, /^15/, `expected PostgreSQL 15 at ${SYSTEM_PG_BIN}, got ${version}`);
    } finally {
      await pool.end();
    }
    assertMatchesCommitted(await snapshotsOf(pg.url), "PostgreSQL 15 as baton_dba");
  });
});
