/*
 * A daemon killed with SIGKILL in the middle of a task, with real processes. The server runs with a
 * 3 s lease (daemons heartbeat every 500 ms; 2 s left too little slack on a loaded machine); the
 * worker's liveness sweep (every 5 s, src/worker.ts) disconnects the silent daemon and interrupts
 * its task, which is retried on the other daemon. Nothing here calls baton.expire_daemons itself, and
 * nothing stops the hung agent by hand: it outlives its daemon until the daemon is started again on
 * the same work dir, which stops it first.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { running } from "../helpers/faults";
import { cli, cliJson, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

describe("a daemon killed with SIGKILL mid-task", () => {
  it("loses its lease, and its task is retried on a second daemon until the directive completes", async () => {
    const marks = e2e.tempDir("marks");
    fs.writeFileSync(path.join(marks, "hang"), "");
    // The planner adds a chain of two steps; an executor hangs while the `hang` flag exists.
    const agent = writeAgent(
      e2e,
      `#!/bin/sh
if [ "$BATON_TASK_KIND" = planning ]; then
  exec baton directive batch-add-steps --json '[{"key": "a", "name": "First step"}, {"name": "Second step", "dependsOn": ["a"]}]'
fi
if [ -f "$E2E_MARKS/hang" ]; then
  echo $$ > "$E2E_MARKS/hung-pid"
  exec sleep 60
fi
echo "$BATON_STEP_ID" > done.txt
`,
    );
    const server = await startServer(e2e, { leaseSeconds: 3 });
    const [created, ...daemons] = await Promise.all([
      cliJson<{ rowId: string }>(["directive", "create", "--title", "Crash", "--goal", "Survive a daemon crash", "--start"], { env: server.env }),
      startDaemon(e2e, server, { agentCommand: agent, maxTasks: 1, env: { E2E_MARKS: marks } }),
      startDaemon(e2e, server, { agentCommand: agent, maxTasks: 1, env: { E2E_MARKS: marks } }),
    ]);
    const hung = await waitForE2E(e2e, "the first step's task to run", async () => {
      const { rows } = await e2e.db.pool.query<{ id: string; daemon_id: string; step_id: string }>(
        "select id, daemon_id, step_id from baton.tasks where directive_id = $1 and kind = 'execution' and status = 'running'",
        [created.rowId],
      );
      return fs.existsSync(path.join(marks, "hung-pid")) && rows[0];
    });
    const victim = daemons.find((d) => d.id === hung.daemon_id)!;
    const survivor = daemons.find((d) => d.id !== hung.daemon_id)!;
    assert.ok(victim && survivor);

    fs.rmSync(path.join(marks, "hang"));
    await victim.kill();
    // The agent runs in its own process group, so it outlives its daemon.
    const agentPid = Number(fs.readFileSync(path.join(marks, "hung-pid"), "utf8"));
    after(() => running(agentPid) && process.kill(agentPid, "SIGKILL")); // only if the test failed
    assert.ok(running(agentPid), "the hung agent outlived its daemon");

    const watched = await cli(["directive", "watch", "--directive", created.rowId], { env: server.env, timeoutMs: 60_000 });
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);

    const tasks = await e2e.db.pool.query<{ attempt: number; status: string; daemon_id: string; error: string | null }>(
      "select attempt, status, daemon_id, error from baton.tasks where step_id = $1 order by attempt",
      [hung.step_id],
    );
    assert.deepEqual(
      tasks.rows.map((t) => [t.attempt, t.status, t.daemon_id, t.error]),
      [
        [1, "interrupted", victim.id, "The daemon stopped heartbeating (its lease expired)."],
        [2, "completed", survivor.id, null],
      ],
    );
    const steps = await e2e.db.pool.query<{ name: string; status: string }>("select name, status from baton.directive_steps where directive_id = $1 order by name", [created.rowId]);
    assert.deepEqual(steps.rows, [{ name: "First step", status: "completed" }, { name: "Second step", status: "completed" }]);
    const d = await e2e.db.pool.query<{ id: string; status: string }>("select id, status from baton.daemons order by status, id");
    assert.deepEqual(
      d.rows.map((r) => [r.id, r.status]),
      [[survivor.id, "connected"], [victim.id, "disconnected"]],
    );

    // Started again on its work dir, the daemon first stops the agent its previous run left behind.
    assert.ok(running(agentPid), "the hung agent still runs");
    await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 1, env: { E2E_MARKS: marks }, name: victim.name, workDir: victim.workDir });
    await waitForE2E(e2e, "the restarted daemon to stop the agent left behind", () => !running(agentPid));
  });
});
