/*
 * PostgreSQL restarted in the middle of a run. The test starts a throw-away cluster of its own (so it
 * may stop it), a `baton server` on it (worker on), and two real `baton daemon run` processes with a
 * short agent. When part of the run is done, PostgreSQL is stopped; once the server reports the
 * outage (/healthz 503) and both daemons have failed a heartbeat, it is started again. Nobody touches
 * the processes: the server's pool, its worker and its GraphQL subscriptions, and the daemons'
 * command subscriptions must all come back on their own, and the directive must complete.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { E2E, startDaemon, startServer, waitForE2E, writeAgent, type DaemonProcess, type ServerProcess } from "../helpers/e2e";
import { assertExactlyOnce, assertNoLiveTasks, chain, fanOut, killOnExit, startOwnCluster, type OwnCluster } from "../helpers/faults";
import { createDirective } from "../helpers/orchestrator";

const e2e = new E2E();
let cluster: OwnCluster | undefined;
before(async () => {
  cluster = await startOwnCluster();
  e2e.db = cluster.db;
});
after(async () => {
  await e2e.cleanup();
  await cluster?.destroy();
});

const count = (log: string[], pattern: RegExp) => (log.join("").match(new RegExp(pattern.source, "g")) ?? []).length;

describe("PostgreSQL restarted during a run", () => {
  it("the server, its worker and the daemons recover without help and the directive completes", async (t) => {
    // A 10 s lease (daemons heartbeat every 500 ms) outlasts the outage, and bounds how long a task
    // that a daemon dropped during it waits before it is counted lost and retried.
    const server: ServerProcess = await startServer(e2e, { leaseSeconds: 10 });
    killOnExit(server.proc.child);
    const agent = writeAgent(e2e, "#!/bin/sh\nsleep 0.3\n");
    const daemons: DaemonProcess[] = [];
    for (let i = 0; i < 2; i++) {
      const d = await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, name: `pg-restart-${i}` });
      killOnExit(d.proc.child);
      daemons.push(d);
    }
    const owner = (await e2e.db.pool.query<{ id: string }>("select id from baton.owners")).rows[0]!.id;
    const steps = [...chain("a", 10), ...fanOut("b", 6)];
    const directive = await createDirective(e2e.db, owner, { title: "Outlive a database restart", steps });

    const completed = async () =>
      (await e2e.db.pool.query<{ n: number }>("select count(*)::int as n from baton.directive_steps where directive_id = $1 and status = 'completed'", [directive.id]))
        .rows[0]!.n;
    await waitForE2E(e2e, "5 steps to complete", async () => (await completed()) >= 5, { timeoutMs: 60_000, unless: server.proc });

    const heartbeatFailures = daemons.map((d) => count(d.proc.log, /"msg":"heartbeat failed"/));
    await cluster!.stop();
    await waitForE2E(e2e, "the server to report the outage on /healthz", async () => (await fetch(`${server.url}/healthz`).catch(() => undefined))?.status === 503, {
      unless: server.proc,
    });
    await waitForE2E(e2e, "both daemons to fail a heartbeat", () => daemons.every((d, i) => count(d.proc.log, /"msg":"heartbeat failed"/) > heartbeatFailures[i]!));
    await cluster!.start();
    await waitForE2E(e2e, "the test's pool to reconnect", async () => (await e2e.db.pool.query("select 1")).rowCount === 1);

    const idle = (id: string) => async () =>
      (await e2e.db.pool.query<{ status: string }>("select status from baton.directives where id = $1", [id])).rows[0]!.status === "idle";
    await waitForE2E(e2e, "the directive to complete after the restart", idle(directive.id), { timeoutMs: 120_000, unless: server.proc });
    // Then new work, wider than one daemon (max_tasks 2 each) and started when both are free: each
    // must hear of its tasks through its command subscription (or the re-sync after resubscribing).
    const later = await createDirective(e2e.db, owner, { title: "After the restart", steps: Array.from({ length: 8 }, (_, i) => ({ name: `y${i}` })) });
    await waitForE2E(e2e, "the second directive to complete", idle(later.id), { timeoutMs: 60_000, unless: server.proc });

    // What the outage cost: attempts cut short (reports that could not be recorded, tasks dropped).
    const lost = await e2e.db.pool.query<{ status: string; error: string | null }>(
      "select status, error from baton.tasks where directive_id = $1 and status <> 'completed' order by created_at",
      [directive.id],
    );
    t.diagnostic(`worker runners replaced by the supervisor (src/worker.ts): ${count(server.proc.log, /"msg":"worker restarted"/)}`);
    t.diagnostic(`attempts lost to the outage: ${lost.rowCount}${lost.rows.map((r) => `; ${r.status}: ${r.error}`).join("")}`);

    // The same processes throughout: nothing was restarted by hand.
    assert.equal(server.proc.child.exitCode, null, "the server kept running");
    for (const d of daemons) assert.equal(d.proc.child.exitCode, null, `daemon ${d.name} kept running`);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);

    const s = await e2e.db.pool.query<{ status: string; n: number }>(
      "select status, count(*)::int as n from baton.directive_steps where owner_id = $1 group by status",
      [owner],
    );
    assert.deepEqual(s.rows, [{ status: "completed", n: steps.length + 8 }]);
    await assertExactlyOnce(e2e.db, owner);
    await assertNoLiveTasks(e2e.db, owner);

    // The work created after the restart ran on both daemons, each task at its first attempt: a deaf
    // subscription would have left its daemon's tasks `starting` until the lease ran out. (How each
    // daemon came back varies: its subscription ended with the server's "pubsub channel interrupted"
    // and it resubscribed, or graphql-ws reconnected and resubscribed by itself; both re-sync.)
    const afterRestart = await e2e.db.pool.query<{ daemon_id: string; status: string; attempt: number }>(
      "select daemon_id, status, attempt from baton.tasks where directive_id = $1",
      [later.id],
    );
    assert.equal(afterRestart.rowCount, 8);
    for (const task of afterRestart.rows) assert.deepEqual([task.status, task.attempt], ["completed", 1]);
    assert.deepEqual([...new Set(afterRestart.rows.map((r) => r.daemon_id))].sort(), daemons.map((d) => d.id).sort(), "both daemons ran tasks created after the restart");
    for (const d of daemons) {
      const row = await e2e.db.pool.query<{ status: string }>("select status from baton.daemons where id = $1", [d.id]);
      assert.equal(row.rows[0]!.status, "connected");
    }
  });
});
