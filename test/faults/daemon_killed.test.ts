/*
 * A daemon SIGKILLed while its agents run. A real `baton daemon run` (max_tasks 2, an agent that
 * sleeps) holds two tasks when it is killed; the server runs with a 2 s lease, and the worker's
 * liveness sweep (every 5 s, src/worker.ts) disconnects the silent daemon and interrupts its tasks,
 * which are retried on a second daemon. Nothing here calls baton.expire_daemons. Then the dead
 * daemon's late reports, through SQL with its id and through GraphQL with its own token, are refused:
 * on its old tasks as stale (BTSTL), on the tasks that replaced them as not its own (BTDNY).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { GraphQLClient, GraphQLRequestError } from "../../src/client/graphql";
import { assertDbError } from "../helpers/db";
import { alive, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";
import { assertExactlyOnce, assertNoLiveTasks, killOnExit } from "../helpers/faults";
import { createDirective } from "../helpers/orchestrator";

const e2e = useE2E();

type Task = { id: string; step_id: string; attempt: number; status: string; daemon_id: string; error: string | null };

/** The GraphQL error code of a request that must fail. */
async function graphqlCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GraphQLRequestError, String(err));
    return err.code;
  }
  assert.fail("the request succeeded");
}

describe("a daemon SIGKILLed with tasks running", () => {
  it("loses its lease, its tasks are retried on another daemon, and its late reports are refused", async () => {
    const marks = e2e.tempDir("marks");
    // The agents run in their own process groups and outlive a SIGKILLed daemon: end them after the file.
    after(() => {
      for (const f of fs.readdirSync(marks)) {
        const pid = Number(fs.readFileSync(path.join(marks, f), "utf8"));
        if (alive(pid)) process.kill(pid, "SIGKILL");
      }
    });
    const sleeper = writeAgent(e2e, `#!/bin/sh\necho $$ > "$E2E_MARKS/$BATON_TASK_ID"\nexec sleep 120\n`);
    const server = await startServer(e2e, { leaseSeconds: 2 });
    killOnExit(server.proc.child);
    const victim = await startDaemon(e2e, server, { agentCommand: sleeper, maxTasks: 2, env: { E2E_MARKS: marks }, name: "victim" });
    killOnExit(victim.proc.child);
    const owner = (await e2e.db.pool.query<{ id: string }>("select id from baton.owners")).rows[0]!.id;
    const directive = await createDirective(e2e.db, owner, {
      title: "Outlive a daemon",
      steps: [{ key: "a", name: "a" }, { key: "b", name: "b" }, { name: "c", dependsOn: ["a", "b"] }],
    });

    const tasksOf = async () =>
      (await e2e.db.pool.query<Task>("select id, step_id, attempt, status, daemon_id, error from baton.tasks where directive_id = $1 order by created_at, id", [directive.id])).rows;
    const held = await waitForE2E(
      e2e,
      "the victim to run both first steps' agents",
      async () => {
        const t = await tasksOf();
        return t.length === 2 && t.every((x) => x.status === "running" && x.daemon_id === victim.id && fs.existsSync(path.join(marks, x.id))) && t;
      },
      { unless: victim.proc },
    );
    const survivor = await startDaemon(e2e, server, { agentCommand: "true", maxTasks: 2, name: "survivor" });
    killOnExit(survivor.proc.child);

    await victim.kill();
    for (const t of held) process.kill(Number(fs.readFileSync(path.join(marks, t.id), "utf8")), "SIGKILL"); // as a reboot would

    await waitForE2E(
      e2e,
      "the directive to complete on the survivor",
      async () => (await e2e.db.pool.query<{ status: string }>("select status from baton.directives where id = $1", [directive.id])).rows[0]!.status === "idle",
      { timeoutMs: 60_000, unless: server.proc },
    );

    // The victim's tasks were interrupted for its lease; the retries and the last step ran on the survivor.
    const tasks = await tasksOf();
    const byStep = (id: string) => tasks.filter((t) => t.step_id === id).map((t) => [t.attempt, t.status, t.daemon_id, t.error]);
    const lease = "The daemon stopped heartbeating (its lease expired).";
    for (const t of held) assert.deepEqual(byStep(t.step_id), [[1, "interrupted", victim.id, lease], [2, "completed", survivor.id, null]]);
    const last = tasks.find((t) => !held.some((h) => h.step_id === t.step_id))!;
    assert.deepEqual(byStep(last.step_id), [[1, "completed", survivor.id, null]]);
    const daemons = await e2e.db.pool.query<{ id: string; status: string }>("select id, status from baton.daemons order by name");
    assert.deepEqual(daemons.rows, [{ id: survivor.id, status: "connected" }, { id: victim.id, status: "disconnected" }]);
    await assertExactlyOnce(e2e.db, owner);
    await assertNoLiveTasks(e2e.db, owner);

    // Late reports from the dead daemon. Through SQL with its id:
    const retries = tasks.filter((t) => t.attempt === 2);
    const report = (taskId: string) =>
      e2e.db.pool.query("select baton.report_task_status(task_id => $1, status => 'completed', daemon_id => $2)", [taskId, victim.id]);
    for (const t of held) await assertDbError(report(t.id), "BTSTL", /already interrupted/);
    for (const t of retries) await assertDbError(report(t.id), "BTDNY", /not to daemon/);

    // Through GraphQL with its own daemon token (minted as its owner, as the daemon did at start):
    const credentials = JSON.parse(fs.readFileSync(path.join(server.dataDir, "credentials.json"), "utf8")) as { api_url: string; token: string };
    const user = new GraphQLClient(credentials.api_url, credentials.token);
    const { daemonToken } = await user.request<{ daemonToken: string }>("query($d: UUID!) { daemonToken(daemonId: $d) }", { d: victim.id });
    const dead = new GraphQLClient(credentials.api_url, daemonToken);
    const reportAs = (taskId: string) =>
      dead.request("mutation($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: \"completed\" }) { clientMutationId } }", { t: taskId });
    for (const t of held) assert.equal(await graphqlCode(reportAs(t.id)), "BTSTL");
    for (const t of retries) assert.equal(await graphqlCode(reportAs(t.id)), "BTDNY");

    // Nothing changed.
    assert.deepEqual(await tasksOf(), tasks);
  });
});
