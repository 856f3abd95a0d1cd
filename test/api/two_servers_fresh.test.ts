/*
 * Two `baton server` processes started at once on a fresh database create exactly one local owner.
 *
 * First as it happens: both processes migrate the same EMPTY database at the same time (a few
 * rounds, each on a new database). Then with the dangerous interleaving forced, because start-up
 * jitter between two processes is far wider than the window between "no owner yet?" and "create
 * one": on a migrated database with no owner, the test holds a lock on baton.owners until both
 * servers are waiting at their owner check, then lets them go at the same instant. Select-then-insert
 * makes two owners there; the check under an advisory lock makes one.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { Client } from "pg";
import { databaseUrl } from "../helpers/db";
import { baseEnv, BATON_BIN, freePort, useE2E, waitForE2E, type E2E, type Proc } from "../helpers/e2e";

const e2e = useE2E();

type Booting = { proc: Proc; url: string; credentials: string };

/** Spawns `baton server` on a database without waiting for it. */
async function spawnServer(e: E2E, dbUrl: string): Promise<Booting> {
  const port = await freePort();
  const dataDir = e.tempDir("fresh");
  const env = {
    ...baseEnv(),
    DATABASE_URL: dbUrl,
    BATON_PORT: String(port),
    BATON_DATA_DIR: dataDir,
    BATON_LOG_LEVEL: "warn",
    BATON_WORKER_CONCURRENCY: "2",
  };
  return {
    proc: e.spawn(`server:${port}`, [BATON_BIN, "server"], env),
    url: `http://127.0.0.1:${port}`,
    credentials: path.join(dataDir, "credentials.json"),
  };
}

/** Waits until the server answers /healthz with 200 and has written credentials.json; returns the owner it acts for. */
async function healthy(e: E2E, s: Booting): Promise<string> {
  await waitForE2E(
    e,
    `${s.proc.label} to answer /healthz`,
    async () => (await fetch(`${s.url}/healthz`).catch(() => undefined))?.status === 200 && fs.existsSync(s.credentials),
    { timeoutMs: 120_000, unless: s.proc },
  );
  return (JSON.parse(fs.readFileSync(s.credentials, "utf8")) as { owner_id: string }).owner_id;
}

async function stop(s: Booting): Promise<void> {
  s.proc.child.kill("SIGTERM");
  assert.equal(await s.proc.exited, 0, `${s.proc.label} stopped cleanly`);
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const admin = (fn: (c: Client) => Promise<unknown>) => withClient(process.env.BATON_TEST_ADMIN_URL!, fn);

describe("two servers starting on a fresh database", () => {
  it("migrate the same empty database at once and create exactly one local owner (3 rounds)", async (t) => {
    for (let round = 1; round <= 3; round++) {
      const name = `baton_fresh_${process.pid}_${round}`;
      await admin((c) => c.query(`create database "${name}"`));
      try {
        const servers = await Promise.all([spawnServer(e2e, databaseUrl(name)), spawnServer(e2e, databaseUrl(name))]);
        const owners = await Promise.all(servers.map((s) => healthy(e2e, s)));
        const rows = await withClient(databaseUrl(name), async (c) => (await c.query<{ id: string; name: string }>("select id, name from baton.owners")).rows);
        assert.deepEqual(
          rows.map((r) => r.name),
          ["local"],
          `round ${round}: one local owner`,
        );
        assert.deepEqual(owners, [rows[0]!.id, rows[0]!.id], `round ${round}: both servers act for it`);
        const migrations = await withClient(
          databaseUrl(name),
          async (c) => (await c.query<{ n: number }>("select count(*)::int as n from baton_migrate.migrations")).rows[0]!.n,
        );
        const files = fs.readdirSync(path.join(__dirname, "..", "..", "sql")).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f)).length;
        assert.equal(migrations, files, `round ${round}: every migration applied once`);
        for (const s of servers) assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
        await Promise.all(servers.map(stop));
        t.diagnostic(`round ${round}: one owner, both servers healthy`);
      } finally {
        await admin((c) => c.query(`drop database if exists "${name}" with (force)`));
      }
    }
  });

  it("create one owner when both check for it at the same instant (the interleaving forced with a lock)", async () => {
    assert.equal((await e2e.db.pool.query("select 1 from baton.owners")).rowCount, 0, "the migrated database has no owner yet");
    const gate = await e2e.db.pool.connect();
    const servers: Booting[] = [];
    try {
      await gate.query("begin");
      await gate.query("lock table baton.owners in access exclusive mode");
      servers.push(await spawnServer(e2e, e2e.db.url), await spawnServer(e2e, e2e.db.url));
      // Both at their owner check: one blocked on the table (or both, without the advisory lock).
      let activity: unknown[] = [];
      await Promise.race([
        ...servers.map((s) =>
          s.proc.exited.then((code) => Promise.reject(new Error(`${s.proc.label} exited (${code}) before its owner check\n${e2e.logTails()}`))),
        ),
        waitForE2E(
          e2e,
          "both servers to wait at their owner check",
          async () => {
            const r = await e2e.db.pool.query<{
              wait_event_type: string | null;
              wait_event: string | null;
              query: string;
            }>(
              "select wait_event_type, wait_event, state, left(query, 120) as query from pg_stat_activity where datname = current_database() and pid not in (pg_backend_pid(), $1)",
              [(gate as unknown as { processID: number }).processID],
            );
            activity = r.rows;
            return r.rows.filter((a) => a.wait_event_type === "Lock").length >= 2;
          },
          { timeoutMs: 120_000 },
        ).catch((err: Error) => {
          err.message += `\nsessions on the database: ${JSON.stringify(activity, null, 1)}`;
          throw err;
        }),
      ]);
      await gate.query("commit");
    } finally {
      await gate.query("rollback").catch(() => undefined);
      gate.release();
    }
    const owners = await Promise.all(servers.map((s) => healthy(e2e, s)));
    const rows = (await e2e.db.pool.query<{ id: string }>("select id from baton.owners")).rows;
    assert.equal(rows.length, 1, "exactly one local owner");
    assert.deepEqual(owners, [rows[0]!.id, rows[0]!.id]);
    await Promise.all(servers.map(stop));
  });
});
