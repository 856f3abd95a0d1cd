/*
 * Budgets with the real daemon: `baton daemon run --agent-output claude-json` reads the result object
 * a scripted agent prints in Claude Code's stream-json format and reports it; when the directive's
 * usage reaches its --budget-usd, it is paused with the reason, the running task finishes, and the
 * next step is not dispatched.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cli, cliJson, cliOk, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

// Claude Code's stream-json: an init line, an assistant message (its own usage is not the total), the result.
const AGENT = `#!/bin/sh
cat > /dev/null
echo '{"type":"system","subtype":"init","session_id":"s1","tools":["Bash"]}'
echo '{"type":"assistant","message":{"role":"assistant","usage":{"input_tokens":7,"output_tokens":7}}}'
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"Done.","session_id":"s1","total_cost_usd":0.6,"usage":{"input_tokens":1000,"cache_read_input_tokens":50,"output_tokens":200}}'
`;

describe("a budget reached from usage the daemon reads in Claude Code's format", () => {
  it("pauses the directive with the reason; the running task finishes and the next step waits", async () => {
    const server = await startServer(e2e);
    await startDaemon(e2e, server, { agentCommand: writeAgent(e2e, AGENT), maxTasks: 1, args: ["--agent-output", "claude-json"] });
    const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Capped", "--goal", "Spend", "--budget-usd", "1"], { env: server.env });
    const a = (await cliOk(["directive", "add-step", "a", "--directive", d.rowId], { env: server.env })).trim();
    const b = (await cliOk(["directive", "add-step", "b", "--directive", d.rowId, "--depends-on", a], { env: server.env })).trim();
    const c = (await cliOk(["directive", "add-step", "c", "--directive", d.rowId, "--depends-on", b], { env: server.env })).trim();
    await cliOk(["directive", "start", "--directive", d.rowId], { env: server.env });

    const paused = await waitForE2E(e2e, "the directive to be paused for its budget", async () => {
      const r = await e2e.db.pool.query("select status, paused_reason from baton.directives where id = $1 and status = 'paused'", [d.rowId]);
      return r.rows[0];
    });
    assert.deepEqual(paused, { status: "paused", paused_reason: "Budget reached: it cost $1.2 of its $1 budget." });
    // b was running when it reached the budget: it finishes; c is not dispatched.
    const steps = await waitForE2E(e2e, "step b to finish", async () => {
      const r = await e2e.db.pool.query<{ name: string; status: string }>("select name, status from baton.directive_steps where directive_id = $1 order by name", [d.rowId]);
      return r.rows.find((s) => s.name === "b")?.status === "completed" && r.rows;
    });
    assert.deepEqual(steps.map((s) => [s.name, s.status]), [["a", "completed"], ["b", "completed"], ["c", "ready"]]);
    const tasks = await e2e.db.pool.query("select s.name, t.input_tokens::int, t.output_tokens::int, t.cost_usd::text from baton.tasks t join baton.directive_steps s on s.id = t.step_id where t.directive_id = $1 order by s.name", [d.rowId]);
    assert.deepEqual(tasks.rows, [
      { name: "a", input_tokens: 1000, output_tokens: 200, cost_usd: "0.600000" },
      { name: "b", input_tokens: 1000, output_tokens: 200, cost_usd: "0.600000" },
    ]);
    assert.equal((await e2e.db.pool.query("select count(*)::int as n from baton.tasks where step_id = $1", [c])).rows[0].n, 0);
    const status = await cliOk(["directive", "status", "--directive", d.rowId], { env: server.env });
    const watch = await cli(["directive", "watch", "--directive", d.rowId], { env: server.env });
    assert.equal(watch.code, 1, watch.stderr);
    assert.deepEqual(watch.stdout.trim().split("\n").slice(-3), [
      "usage: 2,000 input + 400 output tokens, $1.20 (2 tasks reported), budget $1.00",
      "paused: Budget reached: it cost $1.2 of its $1 budget. `baton directive update --budget-usd/--budget-tokens` raises it; `baton directive start` resumes it",
      "paused: 2/3 steps settled, outcome paused",
    ]);
    assert.match(status, /\nusage: 2,000 input \+ 400 output tokens, \$1\.20 \(2 tasks reported\), budget \$1\.00\npaused: Budget reached: it cost \$1\.2 of its \$1 budget\./);
  });
});
