/*
 * Plan review with real processes (issue 12 point 1): a directive created with --review-plans, a real
 * daemon whose scripted planner adds steps with `baton directive add-step` (its own token). The plan
 * waits: `directive plan` shows the diff, nothing runs; `plan reject --reason` plans again and the new
 * planner's prompt quotes the reason; `plan approve` applies it and the steps run to idle.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { cli, cliJson, cliOk, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

describe("plan review", () => {
  it("holds the planner's plan until the owner approves it; a rejection plans again with the reason", async () => {
    const marks = e2e.tempDir("marks");
    // The planner keeps its prompt; after a rejection it proposes one step, else two (Test after Write).
    const agent = writeAgent(
      e2e,
      `#!/bin/sh
if [ "$BATON_TASK_KIND" = planning ]; then
  cp "$BATON_PROMPT_FILE" "$E2E_MARKS/prompt-$BATON_TASK_ID"
  if grep -q "Your last plan was rejected" "$BATON_PROMPT_FILE"; then
    exec baton directive batch-add-steps --json '[{"name": "All in one"}]'
  fi
  A=$(baton directive add-step "Write" --task-plan "Write it") || exit 1
  exec baton directive add-step "Test" --depends-on "$A"
fi
echo "$BATON_STEP_ID" >> "$E2E_MARKS/ran"
`,
    );
    const server = await startServer(e2e);
    const [created, daemon] = await Promise.all([
      cliJson<{ rowId: string }>(["directive", "create", "--title", "Review me", "--goal", "Something worth reviewing", "--review-plans", "--start"], { env: server.env }),
      startDaemon(e2e, server, { agentCommand: agent, maxTasks: 1, env: { E2E_MARKS: marks } }),
    ]);
    const d = created.rowId;
    const env = { ...server.env, BATON_DIRECTIVE_ID: d };
    const proposed = (n: number) =>
      waitForE2E(
        e2e,
        `proposal ${n} to wait for review`,
        async () => (await e2e.db.pool.query("select id from baton.plan_proposals where directive_id = $1 and status = 'proposed'", [d])).rowCount === 1 &&
          (await e2e.db.pool.query("select 1 from baton.plan_proposals where directive_id = $1", [d])).rowCount === n,
        { unless: daemon.proc },
      );

    await proposed(1);
    assert.equal((await e2e.db.pool.query("select 1 from baton.directive_steps where directive_id = $1", [d])).rowCount, 0, "nothing of the plan is live");
    const shown = await cliOk(["directive", "plan"], { env });
    assert.match(
      shown,
      /^Plan of "Review me" waiting for review: 2 added, 0 removed, 0 re-wired, 0 kept\.\n\n\+ Write \(([0-9a-f]{8})\)  added\n\+ Test \([0-9a-f]{8}\)  added\n    depends on Write \(\1\)\n\nApprove: baton directive plan approve {4}Reject: baton directive plan reject --reason "\.\.\."\n$/,
    );
    const status = await cliOk(["directive", "status"], { env });
    assert.match(status, /\nPlan waiting for review: run `baton directive plan` to see it, then `baton directive plan approve` or `baton directive plan reject --reason "\.\.\."`\.\n/);

    // The directive is idle with nothing live: watch ends at once, says a plan waits, and exits 1 (nothing was done).
    const idle = await cli(["directive", "watch"], { env, timeoutMs: 60_000 });
    assert.equal(idle.code, 1, idle.stdout + idle.stderr);
    assert.match(idle.stdout, /(^|\n)Plan waiting for review: run `baton directive plan` to see it, then `baton directive plan approve` or `baton directive plan reject --reason "\.\.\."`\.\nidle: 0\/0 steps settled, outcome succeeded\n$/);

    const empty = await cli(["directive", "plan", "reject", "--reason", " "], { env });
    assert.deepEqual([empty.code, empty.stderr], [2, 'baton: The reason is empty (or over 16384 characters): say why, e.g. --reason "Split the API step."\n']);
    assert.equal(
      await cliOk(["directive", "plan", "reject", "--reason", "Too fine-grained: do it in one step."], { env }),
      `Plan of directive ${d} rejected; the directive is planned again with your reason.\n`,
    );
    await proposed(2);
    const prompts = fs.readdirSync(marks).filter((f) => f.startsWith("prompt-"));
    assert.equal(prompts.length, 2);
    const second = (await e2e.db.pool.query<{ task_id: string }>("select task_id from baton.plan_proposals where directive_id = $1 and status = 'proposed'", [d])).rows[0]!;
    assert.match(fs.readFileSync(path.join(marks, `prompt-${second.task_id}`), "utf8"), /saying:\n> Too fine-grained: do it in one step\.\n/);
    const plan = await cliJson<{ proposal: { status: string }; changes: { name: string; change: string }[] }>(["directive", "plan"], { env });
    assert.deepEqual([plan.proposal.status, plan.changes.map((c) => [c.name, c.change])], ["proposed", [["All in one", "added"]]]);

    assert.equal(await cliOk(["directive", "plan", "approve"], { env }), `Plan of directive ${d} approved and applied; its ready steps are dispatched.\n`);
    const watched = await cli(["directive", "watch"], { env, timeoutMs: 60_000 });
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.match(watched.stdout, /idle: 1\/1 steps settled, outcome succeeded\n$/);
    assert.equal(fs.readFileSync(path.join(marks, "ran"), "utf8").trim().split("\n").length, 1);

    const again = await cli(["directive", "plan", "approve"], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`^baton: Directive ${d} has no plan waiting for review, so there is nothing to approve\\.`));
  });
});
