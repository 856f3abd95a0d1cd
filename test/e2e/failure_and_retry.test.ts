/*
 * An agent that fails, with real processes: the example agent fails "Write the body" while a flag file
 * exists (EXAMPLE_AGENT_FAIL, set by a wrapper script). The step is attempted twice (max_attempts 2),
 * then fails and blocks the join; `watch` exits 1. With the flag gone, `retry-step` runs it again and
 * the directive completes; `watch` exits 0. One story, so its parts are subtests run in order.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { cli, cliJson, cliOk, EXAMPLE_AGENT, startDaemon, startServer, useE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

type Step = { rowId: string; name: string; status: string; attempts: number; maxAttempts: number; currentTask: { status: string; error: string | null } | null };
type Status = { directive: { status: string }; steps: Step[]; tasks: { kind: string; status: string; stepId: string | null; attempt: number | null; error: string | null }[] };

describe("an agent that fails", () => {
  it("is retried, then fails its step and blocks the dependents, until retry-step runs it again with an agent that succeeds", async (t) => {
    const flag = path.join(e2e.tempDir("flag"), "fail");
    fs.writeFileSync(flag, "");
    const agent = writeAgent(
      e2e,
      `#!/bin/sh\n# Fail "Write the body" while the flag file exists.\nif [ -f "$E2E_FAIL_FLAG" ]; then export EXAMPLE_AGENT_FAIL="Write the body"; fi\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(EXAMPLE_AGENT)}\n`,
    );
    const server = await startServer(e2e);
    const [created] = await Promise.all([
      cliJson<{ rowId: string }>(["directive", "create", "--title", "Failing body", "--goal", "Write a document; the body fails", "--start"], { env: server.env }),
      startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, env: { E2E_FAIL_FLAG: flag } }),
    ]);
    const env = { ...server.env, BATON_DIRECTIVE_ID: created.rowId };
    const status = () => cliJson<Status>(["directive", "status"], { env });
    const byName = (s: Status, name: string) => s.steps.find((x) => x.name === name)!;

    await t.test("watch exits 1 when the directive is idle with a failed step and blocked dependents", async () => {
      const watched = await cli(["directive", "watch"], { env, timeoutMs: 90_000 });
      assert.equal(watched.code, 1, watched.stdout + watched.stderr);
      assert.match(watched.stdout.trim().split("\n").at(-1)!, /^idle: 4\/4 steps settled, outcome failed$/);
    });

    let bodyId = "";
    await t.test("the failing step was attempted twice, each time failed with the agent's stderr, and its dependent is blocked", async () => {
      const s = await status();
      assert.equal(s.directive.status, "idle");
      const body = byName(s, "Write the body");
      bodyId = body.rowId;
      assert.deepEqual([body.status, body.attempts, body.maxAttempts], ["failed", 2, 2]);
      const tasks = s.tasks.filter((x) => x.stepId === body.rowId);
      assert.deepEqual(tasks.map((x) => [x.attempt, x.status]), [[1, "failed"], [2, "failed"]]);
      for (const task of tasks) assert.match(task.error ?? "", /exited with status 1:\nexample agent: failing "Write the body" on purpose/);
      assert.equal(byName(s, "Assemble the document").status, "blocked");
      assert.equal(byName(s, "Write the introduction").status, "completed");
      assert.equal(byName(s, "Write the outline").status, "completed");
    });

    await t.test("retry-step makes the failed step ready and unblocks its dependent", async () => {
      fs.rmSync(flag);
      const out = await cliOk(["directive", "retry-step", bodyId], { env });
      assert.match(out, new RegExp(`^Step ${bodyId} \\("Write the body"\\) is (ready|running)\\.\\n$`));
      const { rows } = await e2e.db.pool.query<{ status: string }>("select status from baton.directive_steps where name = 'Assemble the document'");
      assert.notEqual(rows[0]!.status, "blocked");
    });

    await t.test("watch exits 0 once the retried step and its dependent complete", async () => {
      const watched = await cli(["directive", "watch"], { env, timeoutMs: 90_000 });
      assert.equal(watched.code, 0, watched.stdout + watched.stderr);
      const s = await status();
      assert.equal(s.directive.status, "idle");
      assert.deepEqual(s.steps.map((x) => x.status), ["completed", "completed", "completed", "completed"]);
      assert.equal(s.tasks.filter((x) => x.stepId === bodyId && x.status === "completed").length, 1);
    });
  });
});
