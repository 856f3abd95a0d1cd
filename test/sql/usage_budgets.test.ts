/*
 * Cost and tokens (sql/000023_usage_budgets.sql): report_task_usage adds a task's usage (an agent for
 * its own live task, its daemon for its tasks), the views roll it up by step, directive and owner,
 * and a directive's budget pauses it once, with the reason, and raises the budget webhook event.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, inSavepoint, useTestDatabase, withRootDb } from "../helpers/db";
import { createOwner, directive, jobs } from "../helpers/fixtures";
import { waitFor } from "../helpers/wait";
import { chain, createDaemon, q, setup, startStep, as, type Token } from "./support";

const db = useTestDatabase();


const fails = (c: PoolClient, sql: string, params: unknown[], code: string, message: string) => assertDbError(inSavepoint(c, () => c.query(sql, params)), code, message);

type Usage = { input_tokens: string | null; output_tokens: string | null; cost_usd: string | null };
const usage = (c: PoolClient, task: string) => q<Usage>(c, "select input_tokens::text, output_tokens::text, cost_usd::text from baton.tasks where id = $1", [task]);
const report = (c: PoolClient, task: string, i: number | null, o: number | null, cost: string | null) =>
  q<Usage>(c, "select input_tokens::text, output_tokens::text, cost_usd::text from baton.report_task_usage($1, $2, $3, $4)", [task, i, o, cost]);

/** A started directive a -> b whose step a runs on the owner's only daemon. */
async function running(c: PoolClient) {
  const { owner, d, s } = await setup(c, chain("a", "b"));
  const daemon = await createDaemon(c, owner);
  const t = await startStep(c, s.a!.id);
  const agent: Token = { role: "baton_agent", owner, directive: d.id, task: t.id };
  return { owner, d: d.id, s, daemon, task: t.id, agent, daemonToken: { role: "baton_daemon", owner, daemon } as Token };
}

describe("report_task_usage", () => {
  it("adds up: several reports accumulate, a null figure adds nothing", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      assert.deepEqual(await usage(c, w.task), { input_tokens: null, output_tokens: null, cost_usd: null });
      assert.deepEqual(await as(c, w.agent, () => report(c, w.task, 1000, 200, "0.05")), { input_tokens: "1000", output_tokens: "200", cost_usd: "0.050000" });
      await as(c, w.agent, () => report(c, w.task, 500, null, "0.010001"));
      await as(c, w.daemonToken, () => report(c, w.task, null, 50, null));
      assert.deepEqual(await usage(c, w.task), { input_tokens: "1500", output_tokens: "250", cost_usd: "0.060001" });
    }));

  it("refuses another task's usage, an ended task's agent, another daemon and the owner", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const other = await running(c);
      await as(c, w.agent, () =>
        fails(c, "select baton.report_task_usage($1, 1)", [other.task], "BTDNY", `This agent token is for task ${w.task}, so it cannot report usage of task ${other.task}.`),
      );
      await as(c, w.daemonToken, () =>
        fails(c, "select baton.report_task_usage($1, 1)", [other.task], "BTDNY", `Task ${other.task} is not assigned to this daemon (${w.daemon}), so it cannot report on it.`),
      );
      await as(c, { role: "baton_user", owner: w.owner }, () =>
        fails(c, "select baton.report_task_usage($1, 1)", [w.task], "42501", "permission denied for function report_task_usage"),
      );
      await c.query("select baton.report_task_status($1, 'completed')", [w.task]);
      await as(c, w.agent, () =>
        fails(c, "select baton.report_task_usage($1, 1)", [w.task], "BTDNY", `This agent token belonged to task ${w.task}, which has ended; agent tokens stop working when their task ends.`),
      );
      // Its daemon still may: it reads the usage once the agent has exited.
      assert.equal((await as(c, w.daemonToken, () => report(c, w.task, 7, null, null))).input_tokens, "7");
      assert.deepEqual(await usage(c, other.task), { input_tokens: null, output_tokens: null, cost_usd: null });
    }));

  it("refuses negative, huge, over-precise and empty reports (BTINV), changing nothing", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await fails(c, "select baton.report_task_usage($1, -5)", [w.task], "BTINV", "input_tokens must be from 0 to 1000000000000 (got -5).");
      await fails(c, "select baton.report_task_usage($1, output_tokens => -1)", [w.task], "BTINV", "output_tokens must be from 0 to 1000000000000 (got -1).");
      await fails(c, "select baton.report_task_usage($1, cost_usd => -0.5)", [w.task], "BTINV", "cost_usd must be from 0 to 1000000 (got -0.5).");
      await fails(c, "select baton.report_task_usage($1, cost_usd => 0.0000001)", [w.task], "BTINV", "cost_usd has at most 6 decimal places (got 0.0000001).");
      await fails(c, "select baton.report_task_usage($1)", [w.task], "BTINV", "Report at least one of input_tokens, output_tokens and cost_usd.");
      await fails(c, "select baton.report_task_usage('00000000-0000-4000-8000-000000000000', 1)", [], "BTNFD", "Task 00000000-0000-4000-8000-000000000000 does not exist.");
      await fails(c, "update baton.tasks set cost_usd = -1 where id = $1", [w.task], "23514", 'new row for relation "tasks" violates check constraint "tasks_usage_not_negative"');
      assert.deepEqual(await usage(c, w.task), { input_tokens: null, output_tokens: null, cost_usd: null });
    }));
});

describe("usage views", () => {
  it("roll usage up by step, directive and owner, each seeing only its own rows", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await report(c, w.task, 100, 10, "1.5");
      await c.query("select baton.report_task_status($1, 'failed', error => 'boom')", [w.task]);
      const second = await startStep(c, w.s.a!.id);
      await report(c, second.id, 50, 5, "0.25");
      const other = await running(c);
      await report(c, other.task, 9, 9, "9");

      const steps = await c.query("select step_name, reported_tasks, input_tokens::text, output_tokens::text, cost_usd::text from baton.step_usage where directive_id = $1 order by step_name", [w.d]);
      assert.deepEqual(steps.rows, [
        { step_name: "a", reported_tasks: 2, input_tokens: "150", output_tokens: "15", cost_usd: "1.750000" },
        { step_name: "b", reported_tasks: 0, input_tokens: "0", output_tokens: "0", cost_usd: "0.000000" },
      ]);
      assert.deepEqual(
        await q(c, "select reported_tasks, input_tokens::text, output_tokens::text, cost_usd::text from baton.directive_usage where directive_id = $1", [w.d]),
        { reported_tasks: 2, input_tokens: "150", output_tokens: "15", cost_usd: "1.750000" },
      );
      assert.deepEqual(await q(c, "select input_tokens::text, cost_usd::text from baton.owner_usage where owner_id = $1", [w.owner]), { input_tokens: "150", cost_usd: "1.750000" });

      const seen = await as(c, { role: "baton_user", owner: w.owner }, async () => ({
        steps: (await c.query("select distinct directive_id from baton.step_usage")).rows.map((r) => r.directive_id),
        directives: (await c.query("select directive_id from baton.directive_usage")).rows.map((r) => r.directive_id),
        owners: (await c.query("select owner_id, cost_usd::text from baton.owner_usage")).rows,
      }));
      assert.deepEqual(seen, { steps: [w.d], directives: [w.d], owners: [{ owner_id: w.owner, cost_usd: "1.750000" }] });
      await as(c, w.daemonToken, () => fails(c, "select * from baton.directive_usage", [], "42501", "permission denied for view directive_usage"));
    }));
});

describe("budgets", () => {
  const webhook = async (c: PoolClient, owner: string) =>
    c.query("select baton.add_webhook('https://example.com/hook', array['budget', 'paused'], $1)", [owner]);
  const budgetJobs = async (c: PoolClient) =>
    (await jobs(c, "deliver_webhook")).filter((j) => j.payload.event === "budget").map((j) => JSON.parse(j.payload.body as string).data);

  it("pauses the directive once when its cost reaches the budget, with the reason, and running tasks go on", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await webhook(c, w.owner);
      const d = await q<{ budget_usd: string; budget_tokens: string | null }>(c, "select budget_usd::text, budget_tokens::text from baton.set_directive_budget($1, 2)", [w.d]);
      assert.deepEqual(d, { budget_usd: "2.000000", budget_tokens: null });
      await report(c, w.task, 100, 10, "1.5");
      assert.equal((await directive(c, w.d)).status, "active");
      await report(c, w.task, null, null, "0.5");
      const paused = await q(c, "select status, paused_reason, budget_reached_at is not null as reached from baton.directives where id = $1", [w.d]);
      assert.deepEqual(paused, { status: "paused", paused_reason: "Budget reached: it cost $2 of its $2 budget.", reached: true });
      assert.equal((await q<{ status: string }>(c, "select status from baton.tasks where id = $1", [w.task])).status, "running");
      // Exactly once: more usage neither pauses again nor notifies again.
      await report(c, w.task, 1, 1, "3");
      const events = await budgetJobs(c);
      assert.equal(events.length, 1);
      assert.deepEqual(events[0], {
        directive_id: w.d, title: "Demo", reason: "Budget reached: it cost $2 of its $2 budget.", cost_usd: 2, tokens: 110,
        budget_usd: 2, budget_tokens: null, status: "paused",
      });
      // Resumed without a new budget, it runs on (the reason goes with the pause).
      await c.query("select baton.start_directive($1)", [w.d]);
      await report(c, w.task, 1, 1, "1");
      assert.deepEqual(await q(c, "select status, paused_reason from baton.directives where id = $1", [w.d]), { status: "active", paused_reason: null });
      assert.equal((await budgetJobs(c)).length, 1);
    }));

  it("pauses once when two tasks' reports cross the budget at the same time (the directive's lock orders them)", async () => {
    const setupClient = await db.pool.connect();
    let w: Awaited<ReturnType<typeof running>>;
    let second: string;
    try {
      await setupClient.query("begin");
      w = await running(setupClient);
      second = (await startStep(setupClient, (await q<{ id: string }>(setupClient, "select id from baton.add_step($1, 'parallel')", [w.d])).id)).id;
      await webhook(setupClient, w.owner);
      await setupClient.query("select baton.set_directive_budget($1, 1)", [w.d]);
      await setupClient.query("commit");
    } finally {
      setupClient.release();
    }
    const [c1, c2] = [await db.pool.connect(), await db.pool.connect()];
    try {
      await c1.query("begin");
      await c2.query("begin");
      await report(c1, w.task, null, null, "0.6");
      const pid2 = (await q<{ pid: number }>(c2, "select pg_backend_pid() as pid")).pid;
      let done = false;
      const blocked = report(c2, second, null, null, "0.6").finally(() => (done = true)); // waits for c1's lock on the directive
      await waitFor(async () => (await db.pool.query("select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'", [pid2])).rowCount, { what: "the second report to wait for the directive's lock" });
      assert.equal(done, false);
      await c1.query("commit");
      await blocked;
      await c2.query("commit");
    } finally {
      c1.release();
      c2.release();
    }
    await withRootDb(db, async (c) => {
      assert.deepEqual(await q(c, "select status, paused_reason from baton.directives where id = $1", [w.d]), {
        status: "paused", paused_reason: "Budget reached: it cost $1.2 of its $1 budget.",
      });
      assert.equal((await budgetJobs(c)).filter((e) => e.directive_id === w.d).length, 1);
    });
  });

  it("pauses on tokens (input plus output), and a new budget below usage pauses at once", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.set_directive_budget($1, budget_tokens => 1000)", [w.d]);
      await report(c, w.task, 600, 399, null);
      assert.equal((await directive(c, w.d)).status, "active");
      await report(c, w.task, null, 1, null);
      assert.deepEqual(await q(c, "select status, paused_reason from baton.directives where id = $1", [w.d]), {
        status: "paused", paused_reason: "Budget reached: it used 1000 tokens of its 1000-token budget.",
      });
      await c.query("select baton.start_directive($1)", [w.d]);
      await c.query("select baton.set_directive_budget($1, budget_tokens => 5000)", [w.d]);
      assert.equal((await directive(c, w.d)).status, "active");
      await c.query("select baton.set_directive_budget($1, 0.01, 900)", [w.d]);
      assert.deepEqual(await q(c, "select status, paused_reason from baton.directives where id = $1", [w.d]), {
        status: "paused", paused_reason: "Budget reached: it used 1000 tokens of its 900-token budget.",
      });
    }));

  it("refuses bad budgets and budgets from agents (only the owner sets them)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await fails(c, "select baton.set_directive_budget($1, 0)", [w.d], "BTINV", "The USD budget must be more than 0 and at most 1000000, with at most 6 decimal places (got 0).");
      await fails(c, "select baton.set_directive_budget($1, budget_tokens => -3)", [w.d], "BTINV", "The token budget must be a whole number from 1 to 1000000000000 (got -3).");
      await as(c, w.agent, () => fails(c, "select baton.set_directive_budget($1, 5)", [w.d], "42501", "permission denied for function set_directive_budget"));
      const stranger = await createOwner(c, "mallory");
      await as(c, { role: "baton_user", owner: stranger }, () => fails(c, "select baton.set_directive_budget($1, 5)", [w.d], "BTNFD", `Directive ${w.d} does not exist.`));
      assert.deepEqual(await q(c, "select budget_usd, budget_tokens from baton.directives where id = $1", [w.d]), { budget_usd: null, budget_tokens: null });
    }));
});
