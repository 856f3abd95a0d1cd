/*
 * The authorization matrix's fixture: owner A with a started directive, two steps (x running on A's
 * daemon, y waiting for x), a running task with output, and events; owner B with a daemon and a
 * directive of its own (so B's lists are not empty); and a token for every subject. Built as root
 * through the public SQL functions, so each cell that changes state can have a fresh one.
 *
 * Owner A also has: a revoked daemon, which ran x's first attempt until it was revoked (so without
 * the revocation it would still read A's directive); a sibling daemon running a task of A's other
 * directive; that task's agent; and a token of A without `exp`.
 */
import type { PoolClient } from "pg";
import { token, type TestServer } from "../helpers/api";
import type { TestDb } from "../helpers/db";

export const SUBJECTS = [
  "anonymous",
  "ownerA",
  "ownerB",
  "daemonA",
  "daemonB",
  "agentA",
  "expired",
  "siblingDaemonA",
  "agentOtherDirectiveA",
  "revokedDaemonA",
  "noExp",
] as const;
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
  siblingDaemonA: string; // A's other daemon: runs taskA2, nothing of A's directive
  directiveA2: string; // A's other directive, active
  taskA2: string; // its running task, on the sibling daemon
  revokedDaemonA: string; // A's daemon that ran x's first attempt, then was revoked
  webhook: string; // A's webhook
  question: string; // a question A's task asked, answered (so the task runs again)
  openQuestion: string; // an open question of A's other directive's task (taskA2 waits for it)
  proposal: string; // A's directive reviews plans: its planner proposed step w and finished (sql/000024); proposed
  deliveryId: string; // an attempt to deliver to it (bigint as text)
  tokens: Record<Subject, string | undefined>;
};

const one = async <T = { id: string }>(c: PoolClient, sql: string, values: unknown[] = []): Promise<T> => (await c.query(sql, values)).rows[0] as T;

export async function makeWorld(db: TestDb, server: TestServer, tag: string): Promise<World> {
  const c = await db.pool.connect();
  try {
    await c.query("begin");
    const ownerA = (await one(c, "select id from baton.create_owner($1)", [`alice ${tag}`])).id;
    const ownerB = (await one(c, "select id from baton.create_owner($1)", [`bob ${tag}`])).id;
    // The revoked daemon registers first, so x's first attempt goes to it; revoking it interrupts that
    // attempt, and x's retry goes to A's daemon, registered after.
    const revokedDaemonA = (await one(c, "select id from baton.register_daemon('a-old-box', max_tasks => 4, owner_id => $1)", [ownerA])).id;
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
    // What the dispatcher does (the worker is off): each task goes to a daemon of A at once.
    const first = await one<{ id: string; daemon_id: string }>(c, "select id, daemon_id from baton.create_execution_task($1, 'do x')", [stepX]);
    if (first.daemon_id !== revokedDaemonA) throw new Error(`x's first attempt went to ${first.daemon_id}, not to the daemon to revoke ${revokedDaemonA}`);
    await c.query("select baton.report_task_status($1, 'running')", [first.id]);
    await c.query("select baton.revoke_daemon($1)", [revokedDaemonA]);
    const daemonA = (await one(c, "select id from baton.register_daemon('a-box', max_tasks => 4, owner_id => $1)", [ownerA])).id;
    const task = await one<{ id: string; daemon_id: string }>(c, "select id, daemon_id from baton.create_execution_task($1, 'do x')", [stepX]);
    if (task.daemon_id !== daemonA) throw new Error(`the fixture's task went to ${task.daemon_id}, not to A's daemon ${daemonA}`);
    await c.query("select baton.report_task_status($1, 'running')", [task.id]);
    await c.query(`select baton.append_task_output($1, '[{"stream": "stdout", "text": "A''s output"}]')`, [task.id]);
    const outputId = (await one(c, "select id::text from baton.task_output where task_id = $1", [task.id])).id;
    const eventId = (await one(c, "select id::text from baton.events where directive_id = $1 order by id limit 1", [directive])).id;
    // A's directive reviews plans (sql/000024): after a goal update its planner (on A's daemon) proposed
    // one more step, w after y, with its agent token, and finished; the proposal waits for review.
    await c.query("select baton.set_directive_review_plans($1, true)", [directive]);
    await c.query("select baton.update_goal($1, 'A''s revised goal')", [directive]);
    const planner = (await one(c, "select id from baton.create_planning_task($1, 'plan it')", [directive])).id;
    await c.query("select baton.report_task_status($1, 'running')", [planner]);
    await c.query(
      "select set_config('baton.owner_id', $1, true), set_config('baton.directive_id', $2, true), set_config('baton.task_id', $3, true), set_config('baton.token_gen', '0', true), set_config('role', 'baton_agent', true)",
      [ownerA, directive, planner],
    );
    await c.query("select baton.add_step($1, 'w', depends_on => $2)", [directive, [stepY]]);
    await c.query("reset role");
    await c.query("select set_config('baton.owner_id', '', true), set_config('baton.directive_id', '', true), set_config('baton.task_id', '', true)");
    await c.query("select baton.report_task_status($1, 'completed')", [planner]);
    const proposal = (await one(c, "select id from baton.plan_proposals where task_id = $1 and status = 'proposed'", [planner])).id;
    // A's sibling daemon, idle until A's other directive gives it a task (the least loaded daemon).
    const siblingDaemonA = (await one(c, "select id from baton.register_daemon('a-sibling-box', max_tasks => 4, owner_id => $1)", [ownerA])).id;
    const directiveA2 = (await one(c, "select id from baton.create_directive('A''s other directive', 'A''s other goal', owner_id => $1)", [ownerA])).id;
    const stepZ = (await one(c, `select id from baton.batch_add_steps($1, '[{"name": "z"}]')`, [directiveA2])).id;
    await c.query("select baton.start_directive($1)", [directiveA2]);
    const taskA2 = await one<{ id: string; daemon_id: string }>(c, "select id, daemon_id from baton.create_execution_task($1, 'do z')", [stepZ]);
    if (taskA2.daemon_id !== siblingDaemonA) throw new Error(`A's other task went to ${taskA2.daemon_id}, not to the sibling daemon ${siblingDaemonA}`);
    await c.query("select baton.report_task_status($1, 'running')", [taskA2.id]);
    // A's task asked a question and was answered; taskA2's question is still open (sql/000025).
    const question = (await one(c, "select id from baton.ask_question($1, 'Which database?', array['Postgres', 'SQLite'])", [task.id])).id;
    await c.query("select baton.answer_question($1, 'Postgres')", [question]);
    const openQuestion = (await one(c, "select id from baton.ask_question($1, 'May I delete legacy/?')", [taskA2.id])).id;
    const directiveB = (await one(c, "select id from baton.create_directive('B''s directive', 'B''s goal', owner_id => $1)", [ownerB])).id;
    await c.query(`select baton.batch_add_steps($1, '[{"name": "b"}]')`, [directiveB]);
    // A webhook each (B's lists are not empty), and an attempt to deliver A's.
    const webhook = (await one(c, "select id from baton.add_webhook('https://a.example/hook', '{idle}', owner_id => $1)", [ownerA])).id;
    await c.query("select baton.add_webhook('https://b.example/hook', '{idle}', owner_id => $1)", [ownerB]);
    await c.query("select baton_private.record_webhook_delivery($1, 'msg_a', 'idle', 1, 200, null, 5)", [webhook]);
    const deliveryId = (await one(c, "select id::text from baton.webhook_deliveries where webhook_id = $1", [webhook])).id;
    await c.query("commit");
    const now = Math.floor(Date.now() / 1000);
    const tokens: Record<Subject, string | undefined> = {
      anonymous: undefined,
      ownerA: token(server, { role: "baton_user", owner_id: ownerA }),
      ownerB: token(server, { role: "baton_user", owner_id: ownerB }),
      daemonA: token(server, { role: "baton_daemon", owner_id: ownerA, daemon_id: daemonA, exp: now + 3600, gen: 0 }),
      daemonB: token(server, { role: "baton_daemon", owner_id: ownerB, daemon_id: daemonB, exp: now + 3600, gen: 0 }),
      agentA: token(server, { role: "baton_agent", owner_id: ownerA, directive_id: directive, task_id: task.id, exp: now + 7 * 86400, gen: 0 }),
      expired: token(server, { role: "baton_user", owner_id: ownerA, exp: now - 60 }),
      siblingDaemonA: token(server, { role: "baton_daemon", owner_id: ownerA, daemon_id: siblingDaemonA, exp: now + 3600, gen: 0 }),
      agentOtherDirectiveA: token(server, { role: "baton_agent", owner_id: ownerA, directive_id: directiveA2, task_id: taskA2.id, exp: now + 7 * 86400, gen: 0 }),
      revokedDaemonA: token(server, { role: "baton_daemon", owner_id: ownerA, daemon_id: revokedDaemonA, exp: now + 3600, gen: 0 }),
      noExp: token(server, { role: "baton_user", owner_id: ownerA, gen: 0, exp: undefined }),
    };
    return {
      ownerA, ownerB, daemonA, daemonB, directive, stepX, stepY, task: task.id, outputId, eventId, directiveB,
      siblingDaemonA, directiveA2, taskA2: taskA2.id, revokedDaemonA, webhook, deliveryId, question, openQuestion, proposal, tokens,
    };
  } catch (err) {
    await c.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
