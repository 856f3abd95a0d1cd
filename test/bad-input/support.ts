/*
 * What the bad-input corpus shares: one fixture of owner A's directives with steps in every state (and
 * owner B's, for ids of others), built as root through the public SQL functions, and the two ways a
 * case is sent: a GraphQL request (with a token of A) or the real `baton` binary. Every case is
 * refused, so the fixture never changes; each case snapshots the database before and after.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { PoolClient } from "pg";
import { token, type TestServer } from "../helpers/api";
import type { TestDb } from "../helpers/db";
import { baseEnv } from "../helpers/e2e";

export type Fixture = {
  ownerA: string;
  owner: string; // A's token
  daemon: string; // A's daemon's token
  daemonA: string;
  /** Active: steps done (completed by its task), run (running), wait (pending on run), ready, failed. */
  d: string;
  steps: Record<"done" | "run" | "wait" | "ready" | "failed", string>;
  taskDone: string; // completed, version known
  taskRun: string; // running
  /** A's draft directive: q1 <- q2 <- q3 (q2 depends on q1, q3 on q2). */
  d2: string;
  q: Record<"q1" | "q2" | "q3", string>;
  archived: string; // A's archived directive
  dB: string; // owner B's directive
  stepB: string; // a step of it
  /** The CLI's environment: the server and A's token, nothing else of Baton's. */
  env: NodeJS.ProcessEnv;
  /** A temp dir for the CLI's files: the caller removes it (removeFixture). */
  dir: string;
};

const ids = async (c: PoolClient, sql: string, values: unknown[]) => Object.fromEntries((await c.query<{ name: string; id: string }>(sql, values)).rows.map((r) => [r.name, r.id]));
const id = async (c: PoolClient, sql: string, values: unknown[]) => (await c.query<{ id: string }>(sql, values)).rows[0]!.id;

export async function makeFixture(db: TestDb, server: TestServer): Promise<Fixture> {
  const ownerA = server.credentials.owner_id;
  const c = await db.pool.connect();
  try {
    await c.query("begin");
    const daemonA = await id(c, "select id from baton.register_daemon('a-box', max_tasks => 10, owner_id => $1)", [ownerA]);
    const d = await id(c, "select id from baton.create_directive('Corpus', 'Refuse bad input', owner_id => $1)", [ownerA]);
    const steps = (await ids(
      c,
      `select name, id from baton.batch_add_steps($1, '[{"name": "done"}, {"key": "run", "name": "run"}, {"name": "wait", "dependsOn": ["run"]},
                                                        {"name": "ready"}, {"name": "failed"}]')`,
      [d],
    )) as Fixture["steps"];
    await c.query("select baton.start_directive($1)", [d]);
    // The dispatcher's work, as root (the worker is off): tasks go to A's daemon at once.
    const taskDone = await id(c, "select id from baton.create_execution_task($1, 'do it')", [steps.done]);
    await c.query("select baton.report_task_status($1, 'completed')", [taskDone]);
    const taskRun = await id(c, "select id from baton.create_execution_task($1, 'run it')", [steps.run]);
    await c.query("select baton.report_task_status($1, 'running')", [taskRun]);
    await c.query("select baton.fail_step($1)", [steps.failed]);
    const d2 = await id(c, "select id from baton.create_directive('Draft', 'A draft', owner_id => $1)", [ownerA]);
    const q = (await ids(
      c,
      `select name, id from baton.batch_add_steps($1, '[{"key": "q1", "name": "q1"}, {"key": "q2", "name": "q2", "dependsOn": ["q1"]},
                                                        {"name": "q3", "dependsOn": ["q2"]}]')`,
      [d2],
    )) as Fixture["q"];
    const archived = await id(c, "select id from baton.create_directive('Old', 'Done with', owner_id => $1)", [ownerA]);
    await c.query("select baton.archive_directive($1)", [archived]);
    const ownerB = await id(c, "select id from baton.create_owner('bob')", []);
    const dB = await id(c, "select id from baton.create_directive('B', 'B''s goal', owner_id => $1)", [ownerB]);
    const stepB = await id(c, `select id from baton.batch_add_steps($1, '[{"name": "b"}]')`, [dB]);
    await c.query("commit");
    const owner = server.credentials.token;
    const daemon = token(server, { role: "baton_daemon", owner_id: ownerA, daemon_id: daemonA, exp: Math.floor(Date.now() / 1000) + 3600 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-bad-input-"));
    // BATON_DATA_DIR points at an empty dir, so no credentials.json is found by accident.
    const env = { ...baseEnv(), BATON_API_URL: server.graphqlUrl, BATON_TOKEN: owner, BATON_DATA_DIR: dir };
    return { ownerA, owner, daemon, daemonA, d, steps, taskDone, taskRun, d2, q, archived, dB, stepB, env, dir };
  } catch (err) {
    await c.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

export function removeFixture(f: Fixture | undefined): void {
  if (f) fs.rmSync(f.dir, { recursive: true, force: true });
}
