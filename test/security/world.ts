/*
 * The authorization matrix's fixture: owner A with a started directive, two steps (x running on A's
 * daemon, y waiting for x), a running task with output, and events; owner B with a daemon and a
 * directive of its own (so B's lists are not empty); and a token for every subject. Built as root
 * through the public SQL functions, so each cell that changes state can have a fresh one.
 */
import type { PoolClient } from "pg";
import { token, type TestServer } from "../helpers/api";
import type { TestDb } from "../helpers/db";

export const SUBJECTS = ["anonymous", "ownerA", "ownerB", "daemonA", "daemonB", "agentA", "expired"] as const;
export type Subject = (typeof SUBJECTS)[number];

export type World = {
  ownerA: string;
  ownerB: string;
  daemonA: string;
  daemonB: string;
  directive: string; // A's, active
  stepX: string; // running: the task below runs it
  stepY: string; // pending: depends on x
  task: string; // A's execution task of x, running on A's daemon
  outputId: string; // a chunk of the task's output (bigint as text)
  eventId: string; // the first event of A's directive (bigint as text)
  directiveB: string;
  tokens: Record<Subject, string | undefined>;
};

const one = async <T = { id: string }>(c: PoolClient, sql: string, values: unknown[] = []): Promise<T> => (await c.query(sql, values)).rows[0] as T;

export async function makeWorld(db: TestDb, server: TestServer, tag: string): Promise<World> {
  const c = await db.pool.connect();
  try {
    await c.query("begin");
    const ownerA = (await one(c, "select id from baton.create_owner($1)", [`alice ${tag}`])).id;
    const ownerB = (await one(c, "select id from baton.create_owner($1)", [`bob ${tag}`])).id;
    const daemonA = (await one(c, "select id from baton.register_daemon('a-box', max_tasks => 4, owner_id => $1)", [ownerA])).id;
    const daemonB = (await one(c, "select id from baton.register_daemon('b-box', max_tasks => 4, owner_id => $1)", [ownerB])).id;
    const directive = (await one(c, "select id from baton.create_directive('A''s directive', 'A''s goal', owner_id => $1)", [ownerA])).id;
    const steps = (
      await c.query<{ id: string; name: string }>(
        `select id, name from baton.batch_add_steps($1, '[{"key": "x", "name": "x"}, {"key": "y", "name": "y", "dependsOn": ["x"]}]')`,
        [directive],
      )
    ).rows;
    const stepX = steps.find((s) => s.name === "x")!.id;
    const stepY = steps.find((s) => s.name === "y")!.id;
    await c.query("select baton.start_directive($1)", [directive]);
    // What the dispatcher does (the worker is off): the task goes to A's daemon at once.
    const task = await one<{ id: string; daemon_id: string }>(c, "select id, daemon_id from baton.create_execution_task($1, 'do x')", [stepX]);
    if (task.daemon_id !== daemonA) throw new Error(`the fixture's task went to ${task.daemon_id}, not to A's daemon ${daemonA}`);
    await c.query("select baton.report_task_status($1, 'running')", [task.id]);
    await c.query(`select baton.append_task_output($1, '[{"stream": "stdout", "text": "A''s output"}]')`, [task.id]);
    const outputId = (await one(c, "select id::text from baton.task_output where task_id = $1", [task.id])).id;
    const eventId = (await one(c, "select id::text from baton.events where directive_id = $1 order by id limit 1", [directive])).id;
    const directiveB = (await one(c, "select id from baton.create_directive('B''s directive', 'B''s goal', owner_id => $1)", [ownerB])).id;
    await c.query(`select baton.batch_add_steps($1, '[{"name": "b"}]')`, [directiveB]);
    await c.query("commit");
    const now = Math.floor(Date.now() / 1000);
    const tokens: Record<Subject, string | undefined> = {
      anonymous: undefined,
      ownerA: token(server, { role: "baton_user", owner_id: ownerA }),
      ownerB: token(server, { role: "baton_user", owner_id: ownerB }),
      daemonA: token(server, { role: "baton_daemon", owner_id: ownerA, daemon_id: daemonA, exp: now + 365 * 86400 }),
      daemonB: token(server, { role: "baton_daemon", owner_id: ownerB, daemon_id: daemonB, exp: now + 365 * 86400 }),
      agentA: token(server, { role: "baton_agent", owner_id: ownerA, directive_id: directive, task_id: task.id, exp: now + 7 * 86400 }),
      expired: token(server, { role: "baton_user", owner_id: ownerA, exp: now - 60 }),
    };
    return { ownerA, ownerB, daemonA, daemonB, directive, stepX, stepY, task: task.id, outputId, eventId, directiveB, tokens };
  } catch (err) {
    await c.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
