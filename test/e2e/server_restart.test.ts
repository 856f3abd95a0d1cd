/*
 * The server restarted under a running daemon, with real processes. The first step's agent is held
 * until the server is down, so the daemon must report its result to a server that is not there; the
 * server then starts again on the same database and port. The daemon keeps running, reconnects with
 * backoff, resubscribes, and the directive completes with no task lost or run twice.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { alive, cli, cliJson, EXAMPLE_AGENT, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

describe("the server restarted while a daemon runs", () => {
  it("the daemon reconnects and resubscribes, its report survives the outage, and the directive completes", async () => {
    const marks = e2e.tempDir("marks");
    // The example agent, except that the first execution task waits for the `go` flag.
    const agent = writeAgent(
      e2e,
      `#!/bin/sh
if [ "$BATON_TASK_KIND" = execution ] && [ ! -f "$E2E_MARKS/go" ]; then
  echo $$ > "$E2E_MARKS/held-pid"
  while [ ! -f "$E2E_MARKS/go" ]; do sleep 0.1; done
fi
exec ${JSON.stringify(process.execPath)} ${JSON.stringify(EXAMPLE_AGENT)}
`,
    );
    const server = await startServer(e2e);
    const [created, daemon] = await Promise.all([
      cliJson<{ rowId: string }>(["directive", "create", "--title", "Restart", "--goal", "Outlive a server restart", "--start"], { env: server.env }),
      startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, env: { E2E_MARKS: marks } }),
    ]);
    await waitForE2E(e2e, "the first execution task to be held", () => fs.existsSync(path.join(marks, "held-pid")), { unless: daemon.proc });
    const heldPid = Number(fs.readFileSync(path.join(marks, "held-pid"), "utf8"));

    assert.equal(await server.stop(), 0, "the server shuts down cleanly on SIGTERM");
    fs.writeFileSync(path.join(marks, "go"), "");
    await waitForE2E(e2e, "the held agent to finish while the server is down", () => !alive(heldPid));
    await waitForE2E(e2e, "the daemon to fail to report the result", () => /"msg":"report failed; retrying"/.test(daemon.proc.log.join("")), { unless: daemon.proc });
    await server.restart();

    const watched = await cli(["directive", "watch", "--directive", created.rowId], { env: server.env, timeoutMs: 60_000 });
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.equal(daemon.proc.child.exitCode, null, "the same daemon process ran throughout");
    const tasks = await e2e.db.pool.query<{ kind: string; status: string; attempt: number | null; daemon_id: string }>(
      "select kind, status, attempt, daemon_id from baton.tasks where directive_id = $1 order by created_at",
      [created.rowId],
    );
    assert.deepEqual(
      tasks.rows.map((t) => [t.kind, t.status, t.attempt, t.daemon_id]),
      [
        ["planning", "completed", null, daemon.id],
        ["execution", "completed", 1, daemon.id],
        ["execution", "completed", 1, daemon.id],
        ["execution", "completed", 1, daemon.id],
        ["execution", "completed", 1, daemon.id],
      ],
    );
    const d = await e2e.db.pool.query<{ status: string }>("select status from baton.daemons where id = $1", [daemon.id]);
    assert.equal(d.rows[0]!.status, "connected");
  });
});
