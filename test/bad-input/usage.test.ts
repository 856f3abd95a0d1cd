/*
 * `baton task usage` and the budget flags of `directive create`/`update`, through the real binary
 * against a real server: what they accept and print (reports add up; a budget reached pauses the
 * directive with its reason) and the bad input they refuse, with one line on stderr saying what was
 * wrong, changing nothing. The API refuses the same input (BTINV) for other clients.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { post, token, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { cli } from "../helpers/e2e";
import { assertUnchanged, snapshot } from "../helpers/snapshot";
import { makeFixture, removeFixture, type Fixture } from "./support";

const db = useTestDatabase();

describe("baton task usage and budgets", () => {
  const server = useTestServer(db, { worker: false });
  let f: Fixture;
  let agentEnv: NodeJS.ProcessEnv;
  before(async () => {
    f = await makeFixture(db, server);
    const agent = token(server, { role: "baton_agent", owner_id: f.ownerA, directive_id: f.d, task_id: f.taskRun, exp: Math.floor(Date.now() / 1000) + 3600 });
    agentEnv = { ...f.env, BATON_TOKEN: agent, BATON_TASK_ID: f.taskRun, BATON_DIRECTIVE_ID: f.d };
  });
  after(() => removeFixture(f));

  const refusals: { name: string; args: () => string[]; env?: () => NodeJS.ProcessEnv; exit: 1 | 2; stderr: () => string }[] = [
    { name: "a negative token count", args: () => ["task", "usage", "--input-tokens", "-5"], exit: 2, stderr: () => '--input-tokens must be a whole number from 0 to 1000000000000 (got "-5").' },
    { name: "a fractional token count", args: () => ["task", "usage", "--output-tokens", "1.5"], exit: 2, stderr: () => '--output-tokens must be a whole number from 0 to 1000000000000 (got "1.5").' },
    { name: "a negative cost", args: () => ["task", "usage", "--cost-usd", "-0.1"], exit: 2, stderr: () => '--cost-usd must be an amount in USD from 0 to 1000000, with at most 6 decimal places, such as 0.42 (got "-0.1").' },
    { name: "a cost that is not a number", args: () => ["task", "usage", "--cost-usd", "cheap"], exit: 2, stderr: () => '--cost-usd must be an amount in USD from 0 to 1000000, with at most 6 decimal places, such as 0.42 (got "cheap").' },
    { name: "nothing to report", args: () => ["task", "usage"], exit: 2, stderr: () => "Nothing to report: pass --input-tokens, --output-tokens and/or --cost-usd." },
    {
      name: "no task",
      args: () => ["task", "usage", "--cost-usd", "1"],
      env: () => ({ ...agentEnv, BATON_TASK_ID: "" }),
      exit: 2,
      stderr: () => "No task given: pass --task ID or set BATON_TASK_ID (the daemon sets it for the agent).",
    },
    {
      name: "another task's usage",
      args: () => ["task", "usage", "--task", f.taskDone, "--cost-usd", "1"],
      exit: 1,
      stderr: () => `This agent token is for task ${f.taskRun}, so it cannot report usage of task ${f.taskDone}.`,
    },
    {
      name: "usage reported with the owner's token",
      args: () => ["task", "usage", "--cost-usd", "1"],
      env: () => ({ ...f.env, BATON_TASK_ID: f.taskRun }),
      exit: 1,
      stderr: () => "Permission denied: your token's role may not do that (without a token you are anonymous and may only check health; send `Authorization: Bearer <token>`).",
    },
    { name: "a zero USD budget", args: () => ["directive", "update", "--directive", f.d, "--budget-usd", "0"], exit: 2, stderr: () => '--budget-usd must be an amount in USD more than 0 and at most 1000000, with at most 6 decimal places, such as 0.42 (got "0").' },
    { name: "a token budget of words", args: () => ["directive", "update", "--directive", f.d, "--budget-tokens", "lots"], exit: 2, stderr: () => '--budget-tokens must be a whole number from 1 to 1000000000000 (got "lots").' },
    {
      name: "removing a budget on create",
      args: () => ["directive", "create", "--title", "T", "--goal", "G", "--budget-usd", "none"],
      exit: 2,
      stderr: () => "A new directive has no budget to remove: leave out --budget-usd none / --budget-tokens none.",
    },
    { name: "an unknown --agent-output", args: () => ["daemon", "run", "--agent-command", "true", "--agent-output", "claude-xml"], exit: 2, stderr: () => '--agent-output: use text, claude-json or codex-json (got "claude-xml").' },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name} (exit ${c.exit}), changing nothing`, async () => {
      const before = await snapshot(db);
      const r = await cli(c.args(), { env: c.env?.() ?? agentEnv });
      assert.equal(r.code, c.exit, `exit ${r.code}; stderr: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, `baton: ${c.stderr()}\n`);
      await assertUnchanged(db, before, c.name);
    });
  }

  it("the API refuses negative usage and bad budgets with the same checks (BTINV)", async () => {
    const agent = agentEnv.BATON_TOKEN!;
    const usage = await post(server, "mutation ($t: UUID!) { reportTaskUsage(input: { taskId: $t, inputTokens: \"-5\" }) { result { rowId } } }", { t: f.taskRun }, agent);
    assert.equal(usage.errors?.[0]?.message, "input_tokens must be from 0 to 1000000000000 (got -5). Report what one or more model calls used; reports add up.");
    assert.equal(usage.errors?.[0]?.extensions?.code, "BTINV");
    const budget = await post(server, "mutation ($d: UUID!) { setDirectiveBudget(input: { directiveId: $d, budgetUsd: \"-1\" }) { result { rowId } } }", { d: f.d }, f.owner);
    assert.equal(budget.errors?.[0]?.message, "The USD budget must be more than 0 and at most 1000000, with at most 6 decimal places (got -1). For example 25 or 2.50; leave it out for no cost budget.");
    assert.equal(budget.errors?.[0]?.extensions?.code, "BTINV");
  });

  it("reports add up, and reaching the budget pauses the directive with the reason", async () => {
    const set = await cli(["directive", "update", "--directive", f.d, "--budget-usd", "1", "--budget-tokens", "1_000_000"], { env: f.env });
    assert.equal(set.stdout, `Budget of ${f.d}: $1.00, 1,000,000 tokens.\n`, set.stderr);
    const tokensOnly = await cli(["directive", "update", "--directive", f.d, "--budget-tokens", "none"], { env: f.env });
    assert.equal(tokensOnly.stdout, `Budget of ${f.d}: $1.00, no token budget.\n`, tokensOnly.stderr);

    const first = await cli(["task", "usage", "--input-tokens", "1200", "--output-tokens", "300", "--cost-usd", "0.25"], { env: agentEnv });
    assert.equal(first.stdout, `Task ${f.taskRun} has used 1,200 input + 300 output tokens, $0.25 so far.\n`, first.stderr);
    const second = await cli(["task", "usage", "--cost-usd", "$0.75", "--json"], { env: agentEnv });
    assert.deepEqual(JSON.parse(second.stdout), { rowId: f.taskRun, inputTokens: "1200", outputTokens: "300", costUsd: "1.000000" });
    assert.deepEqual((await db.pool.query("select status, paused_reason from baton.directives where id = $1", [f.d])).rows[0], {
      status: "paused", paused_reason: "Budget reached: it cost $1 of its $1 budget.",
    });
    const status = await cli(["directive", "status", "--directive", f.d], { env: f.env });
    assert.deepEqual(status.stdout.split("\n").slice(1, 4), [
      "status paused, goal revision 1, generation 0",
      "usage: 1,200 input + 300 output tokens, $1.00 (1 task reported), budget $1.00",
      "paused: Budget reached: it cost $1 of its $1 budget. `baton directive update --budget-usd/--budget-tokens` raises it; `baton directive start` resumes it",
    ]);
    const json = JSON.parse((await cli(["directive", "status", "--directive", f.d, "--json"], { env: f.env })).stdout);
    assert.deepEqual(json.usage, {
      pausedReason: "Budget reached: it cost $1 of its $1 budget.", reportedTasks: 1, inputTokens: "1200", outputTokens: "300", costUsd: "1.000000",
      budgetUsd: "1.000000", budgetTokens: null, budgetReachedAt: json.usage.budgetReachedAt,
    });
  });

  it("/metrics shows the usage reported, ever, over all owners", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const lines = text.split("\n").filter((l) => l.startsWith("baton_usage_"));
    assert.deepEqual(lines, ['baton_usage_tokens{direction="input"} 1200', 'baton_usage_tokens{direction="output"} 300', "baton_usage_cost_usd 1"]);
  });

  it("directive create --budget-usd --start sets the budget before it starts", async () => {
    const r = await cli(["directive", "create", "--title", "Capped", "--goal", "G", "--budget-usd", "2.5", "--start", "--json"], { env: f.env });
    assert.equal(r.code, 0, r.stderr);
    const id = JSON.parse(r.stdout).rowId;
    assert.deepEqual((await db.pool.query("select status, budget_usd::text, budget_tokens from baton.directives where id = $1", [id])).rows[0], {
      status: "active", budget_usd: "2.500000", budget_tokens: null,
    });
  });
});
