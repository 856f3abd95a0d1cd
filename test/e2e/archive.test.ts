/*
 * Archiving a directive while its task runs, with real processes: the server tells the daemon to
 * interrupt the task, the daemon sends SIGTERM to the agent's process group, and the agent (a shell
 * script with a TERM trap) leaves a marker file on its way out.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { alive, cliJson, cliOk, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

describe("archive while a task runs", () => {
  it("sends SIGTERM to the agent process and the task ends interrupted", async () => {
    const marks = e2e.tempDir("marks");
    // The planner adds one step; the executor records its pid, then waits for a signal.
    const agent = writeAgent(
      e2e,
      `#!/bin/sh
if [ "$BATON_TASK_KIND" = planning ]; then
  exec baton directive batch-add-steps --json '[{"name": "Wait for a signal"}]'
fi
trap 'echo term > "$E2E_MARKS/term"; exit 143' TERM
echo $$ > "$E2E_MARKS/pid"
sleep 60 &
wait
`,
    );
    const server = await startServer(e2e);
    const [created, daemon] = await Promise.all([
      cliJson<{ rowId: string }>(["directive", "create", "--title", "Archive me", "--goal", "Wait until archived", "--start"], { env: server.env }),
      startDaemon(e2e, server, { agentCommand: agent, maxTasks: 1, env: { E2E_MARKS: marks } }),
    ]);
    const task = await waitForE2E(
      e2e,
      "the execution task to run",
      async () => {
        const { rows } = await e2e.db.pool.query<{ id: string; daemon_id: string }>(
          "select id, daemon_id from baton.tasks where directive_id = $1 and kind = 'execution' and status = 'running'",
          [created.rowId],
        );
        return fs.existsSync(path.join(marks, "pid")) && rows[0];
      },
      { unless: daemon.proc },
    );
    assert.equal(task.daemon_id, daemon.id);
    const pid = Number(fs.readFileSync(path.join(marks, "pid"), "utf8"));
    assert.ok(alive(pid));

    const out = await cliOk(["directive", "archive", "--directive", created.rowId], { env: server.env });
    assert.equal(out, `Directive ${created.rowId} is archived.\n`);

    await waitForE2E(e2e, "the agent's TERM trap to write its marker", () => fs.existsSync(path.join(marks, "term")), { unless: daemon.proc });
    assert.equal(fs.readFileSync(path.join(marks, "term"), "utf8"), "term\n");
    await waitForE2E(e2e, "the agent process to end", () => !alive(pid));
    const { rows } = await e2e.db.pool.query<{ status: string; error: string | null }>("select status, error from baton.tasks where id = $1", [task.id]);
    assert.equal(rows[0]!.status, "interrupted");
    const d = await e2e.db.pool.query<{ status: string }>("select status from baton.directives where id = $1", [created.rowId]);
    assert.equal(d.rows[0]!.status, "archived");
    assert.equal(daemon.proc.child.exitCode, null, "the daemon keeps running");
  });
});
