/*
 * The README's "Baton for DBAs" session, run statement by statement: it must stay true, on the
 * embedded PostgreSQL 18 and on the machine's PostgreSQL 15.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, type ClientBase } from "pg";
import { migrate } from "../../src/db/migrate";
import { createPool } from "../../src/db/pool";
import { silentLogger } from "../../src/logger";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { startSystemPostgres, SYSTEM_PG_BIN, systemPostgresAvailable, type SystemPostgres } from "../helpers/system-postgres";

const db = useTestDatabase();
const file = path.join(__dirname, "..", "..", "docs", "dba-walkthrough.sql");

function statements(sql: string): string[] {
  return sql
    .split("\n")
    .filter((line) => !line.trim().startsWith("--"))
    .join("\n")
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

async function walkThrough(c: ClientBase): Promise<void> {
  const results: Record<string, unknown>[][] = [];
  for (const sql of statements(fs.readFileSync(file, "utf8"))) results.push((await c.query(sql)).rows);
  const statusesAfter = (i: number) => Object.fromEntries(results[i]!.map((r) => [r.name, r.status]));
  assert.deepEqual(statusesAfter(4), { a: "ready", b: "pending", c: "pending", d: "pending" });
  assert.deepEqual(statusesAfter(8), { a: "completed", b: "ready", c: "ready", d: "pending" });
  assert.deepEqual(statusesAfter(13), { a: "completed", b: "failed", c: "ready", d: "blocked" });
  assert.deepEqual(statusesAfter(17), { a: "completed", b: "ready", c: "completed", d: "pending" });
  assert.deepEqual(results[22]![0], { title: "Diamond", status: "idle", total_steps: 4, completed_steps: 4, percent_done: "100.0" });
  assert.deepEqual(results[24], [
    { status: "pending", may_become: "ready, completed, failed, skipped, blocked" },
    { status: "ready", may_become: "pending, running, completed, failed, skipped, blocked" },
    { status: "running", may_become: "ready, completed, failed, skipped" },
    { status: "failed", may_become: "pending, ready, completed, skipped, blocked" },
    { status: "blocked", may_become: "pending, ready, completed, failed, skipped" },
  ]);
  // The refusal the file shows in a comment.
  await c.query("savepoint refused");
  await assert.rejects(c.query("update baton.directive_steps set status = 'pending' where name = 'a'"), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, "BTSTS");
    assert.match(e.message, /^Step [0-9a-f-]{36} is completed, so it cannot become pending; completed and skipped steps are final\.$/);
    assert.equal(e.hint, "Add a new step (add-step) to do more.");
    return true;
  });
  await c.query("rollback to savepoint refused");
}

it("drives a diamond through readiness, failure, blocking, retry and idle with SQL alone", () => withRootDb(db, walkThrough));

describe("on the machine's PostgreSQL 15", { skip: !systemPostgresAvailable() && `no PostgreSQL at ${SYSTEM_PG_BIN} (set BATON_TEST_PG15_BIN)` }, () => {
  let pg: SystemPostgres;
  before(async () => {
    pg = await startSystemPostgres();
    const pool = createPool(pg.url, silentLogger, 2);
    await migrate(pool, silentLogger).finally(() => pool.end());
  });
  after(async () => pg?.stop());

  it("drives the same diamond with SQL alone", async () => {
    const c = new Client({ connectionString: pg.url });
    await c.connect();
    try {
      assert.match((await c.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]!.v, /^15\./);
      await c.query("begin");
      await walkThrough(c);
    } finally {
      await c.query("rollback").catch(() => undefined);
      await c.end();
    }
  });
});
