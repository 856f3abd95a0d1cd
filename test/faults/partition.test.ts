/*
 * A network partition between a daemon and the API. A real `baton daemon run` reaches the server
 * through a TCP proxy the test controls (test/helpers/tcp-proxy.ts); the server runs with a 3 s lease.
 * The daemon holds the first attempts of two root steps of a repository directive when the proxy is
 * cut (blackholed: packets dropped, so only the daemon's own timeouts notice). One agent finishes just
 * after the cut (the daemon then has work to publish but cannot confirm it may); the other keeps
 * running until the daemon, its lease run out, stops it (it then "finishes" anyway on SIGTERM).
 * A second daemon, not partitioned, runs the retries and the join. Then the partition heals and the
 * late daemon comes back.
 *
 * What must hold: the partitioned attempts publish nothing (their branches never appear in the
 * repository, their late work is in no commit, and the server never hears of them again), the
 * retries' work survives and is what the join builds on, and each step's work appears once.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { git, makeRepo, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";
import { assertExactlyOnce, assertNoLiveTasks, killOnExit } from "../helpers/faults";
import { createDirective } from "../helpers/orchestrator";
import { TcpProxy } from "../helpers/tcp-proxy";

const e2e = useE2E();

type Task = { id: string; step_id: string; attempt: number; status: string; daemon_id: string; error: string | null; version: number; branch: string | null; commit_sha: string | null };

const short = (id: string) => id.replace(/-/g, "").slice(0, 8);

/*
 * On the partitioned daemon (E2E_HOLD set), each step's first agent does what marks/mode-<step> says:
 * `after-cut` exits 0 once marks/cut exists; `until-stopped` runs until SIGTERM, then exits 0. Both
 * leave `late.txt` behind, which must never be published. Every other run writes work-<step>.txt.
 */
const AGENT = `#!/bin/sh
mode=$(cat "$E2E_MARKS/mode-$BATON_STEP_ID" 2>/dev/null)
if [ -n "$E2E_HOLD" ] && [ -n "$mode" ] && mkdir "$E2E_MARKS/held-$BATON_STEP_ID" 2>/dev/null; then
  echo "$BATON_TASK_ID" > "$E2E_MARKS/held-$BATON_STEP_ID/task"
  if [ "$mode" = until-stopped ]; then
    trap 'echo "late work of $BATON_TASK_ID" > late.txt; touch "$E2E_MARKS/held-$BATON_STEP_ID/stopped"; exit 0' TERM
    while :; do sleep 0.1; done
  fi
  while [ ! -f "$E2E_MARKS/cut" ]; do sleep 0.05; done
  echo "late work of $BATON_TASK_ID" > late.txt
  exit 0
fi
echo "$BATON_TASK_ID" > "work-$BATON_STEP_ID.txt"
`;

describe("a daemon cut from the API by a network partition", () => {
  it("publishes nothing from its cut-off attempts; the retries on another daemon complete the directive, each step's work once", async () => {
    const repo = makeRepo(e2e);
    const marks = e2e.tempDir("marks");
    const agent = writeAgent(e2e, AGENT);
    const server = await startServer(e2e, { leaseSeconds: 3 });
    killOnExit(server.proc.child);
    const proxy = await TcpProxy.start({ port: server.port });
    after(() => proxy.close());

    const cutOff = await startDaemon(e2e, server, {
      agentCommand: agent,
      maxTasks: 2,
      name: "cut-off",
      env: { BATON_API_URL: proxy.url, E2E_HOLD: "1", E2E_MARKS: marks },
    });
    killOnExit(cutOff.proc.child);
    const owner = (await e2e.db.pool.query<{ id: string }>("select id from baton.owners")).rows[0]!.id;
    const directive = await createDirective(e2e.db, owner, {
      title: "Across a partition",
      repo,
      steps: [{ key: "quick", name: "quick" }, { key: "slow", name: "slow" }, { key: "join", name: "join", dependsOn: ["quick", "slow"] }],
      start: false,
    });
    const { quick, slow, join } = directive.steps as Record<string, string>;
    fs.writeFileSync(path.join(marks, `mode-${quick}`), "after-cut");
    fs.writeFileSync(path.join(marks, `mode-${slow}`), "until-stopped");
    await e2e.db.pool.query("select baton.start_directive($1)", [directive.id]);

    const tasksOf = async () =>
      (
        await e2e.db.pool.query<Task>(
          "select id, step_id, attempt, status, daemon_id, error, version, branch, commit_sha from baton.tasks where directive_id = $1 and kind = 'execution' order by created_at, id",
          [directive.id],
        )
      ).rows;
    const held = await waitForE2E(
      e2e,
      "the cut-off daemon to run both root steps' agents",
      async () => {
        const t = await tasksOf();
        return (
          t.length === 2 && t.every((x) => x.status === "running" && x.daemon_id === cutOff.id && fs.existsSync(path.join(marks, `held-${x.step_id}`, "task"))) && t
        );
      },
      { unless: cutOff.proc },
    );

    // The partition: open connections dropped, new ones blackholed. Then the quick agent finishes.
    proxy.cut("blackhole");
    fs.writeFileSync(path.join(marks, "cut"), "");
    const survivor = await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, name: "survivor", env: { E2E_MARKS: marks } });
    killOnExit(survivor.proc.child);

    // The cut-off daemon notices on its own: its lease runs out, it stops the slow agent, and neither
    // attempt is published.
    const logOf = () => cutOff.proc.log.join("");
    const heldId = (step: string) => held.find((t) => t.step_id === step)!.id;
    await waitForE2E(e2e, "the cut-off daemon to give up both attempts", () => {
      const log = logOf();
      return (
        log.includes('"msg":"lease lost: stopping the agents; their attempts publish nothing"') &&
        new RegExp(`"msg":"not published: this attempt may no longer publish".*"task_id":"${heldId(quick)}"`).test(log) &&
        new RegExp(`"msg":"the lease ran out during this attempt: nothing published, nothing reported".*"task_id":"${heldId(slow)}"`).test(log)
      );
    }, { timeoutMs: 60_000, unless: cutOff.proc });
    assert.ok(fs.existsSync(path.join(marks, `held-${slow}`, "stopped")), "the slow agent was stopped (SIGTERM) by its daemon");
    assert.match(logOf(), /"msg":"lease lost[^\n]*"lease_ms":3000/, "the daemon counted the server's lease (leaseExpiresAt - lastHeartbeatAt)");

    // The server expired the cut-off daemon; the retries ran on the survivor.
    await waitForE2E(
      e2e,
      "both root steps to complete on the survivor",
      async () => {
        const t = await tasksOf();
        return [quick, slow].every((s) => t.some((x) => x.step_id === s && x.attempt === 2 && x.status === "completed" && x.daemon_id === survivor.id));
      },
      { timeoutMs: 60_000, unless: server.proc },
    );
    const interrupted = (await tasksOf()).filter((t) => t.attempt === 1 && t.step_id !== join);

    // The partition heals: the late daemon comes back (its heartbeat reconnects it) with nothing to say.
    const healedAt = (await e2e.db.pool.query<{ now: Date }>("select now()")).rows[0]!.now;
    proxy.restore();
    await waitForE2E(
      e2e,
      "the cut-off daemon to heartbeat again after the partition",
      async () =>
        (await e2e.db.pool.query("select 1 from baton.daemons where id = $1 and status = 'connected' and last_heartbeat_at > $2", [cutOff.id, healedAt])).rowCount === 1,
      { timeoutMs: 60_000, unless: cutOff.proc },
    );
    await waitForE2E(
      e2e,
      "the directive to complete",
      async () => (await e2e.db.pool.query<{ status: string }>("select status from baton.directives where id = $1", [directive.id])).rows[0]!.status === "idle",
      { timeoutMs: 60_000, unless: server.proc },
    );
    // One more heartbeat round from the late daemon, so anything it still meant to send has been sent.
    const settled = (await e2e.db.pool.query<{ now: Date }>("select now()")).rows[0]!.now;
    await waitForE2E(e2e, "another heartbeat of the late daemon", async () =>
      (await e2e.db.pool.query("select 1 from baton.daemons where id = $1 and last_heartbeat_at > $2", [cutOff.id, settled])).rowCount === 1,
    );

    const tasks = await tasksOf();
    const attempts = (step: string) => tasks.filter((t) => t.step_id === step).map((t) => [t.attempt, t.status, t.daemon_id, t.error]);
    const lease = "The daemon stopped heartbeating (its lease expired).";
    for (const step of [quick, slow]) assert.deepEqual(attempts(step), [[1, "interrupted", cutOff.id, lease], [2, "completed", survivor.id, null]]);
    assert.deepEqual(attempts(join).map((a) => [a[0], a[1]]), [[1, "completed"]]);
    // The server never heard from the cut-off attempts again: not a report, not a branch.
    assert.deepEqual(
      tasks.filter((t) => t.attempt === 1 && t.step_id !== join),
      interrupted,
      "the interrupted attempts are as they were when the survivor had replaced them",
    );
    for (const t of interrupted) assert.deepEqual([t.branch, t.commit_sha], [null, null]);
    assert.doesNotMatch(logOf(), /"msg":"report (rejected|failed; retrying)"/, "the cut-off daemon sent no report that the server refused or that got lost");

    // The repository: one branch per step, each the accepted attempt's, and the directive's result
    // branch; nothing of the cut-off attempts.
    const branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/baton/").split("\n").sort();
    const accepted = tasks.filter((t) => t.status === "completed");
    const result = (await e2e.db.pool.query<{ b: string }>("select result_branch as b from baton.directives where id = $1", [directive.id])).rows[0]!.b;
    assert.deepEqual(branches, [...accepted.map((t) => t.branch!), result].sort());
    for (const t of accepted) assert.equal(git(repo, "rev-parse", t.branch!), t.commit_sha, `${t.branch} is at the commit the server recorded`);
    for (const t of interrupted) assert.ok(!branches.some((b) => b.endsWith(`-${short(t.id)}`)), `no branch of the cut-off attempt ${t.id}`);
    assert.equal(git(repo, "log", "--all", "--format=%H", "--", "late.txt"), "", "the cut-off agents' late work is in no commit");
    // Each root step's work appears once, by its retry, and the join builds on exactly that.
    const joinCommit = accepted.find((t) => t.step_id === join)!.commit_sha!;
    for (const step of [quick, slow]) {
      const retry = accepted.find((t) => t.step_id === step)!;
      assert.equal(git(repo, "log", "--all", "--format=%H", "--", `work-${step}.txt`), retry.commit_sha, `work-${step}.txt was committed once`);
      assert.equal(git(repo, "show", `${joinCommit}:work-${step}.txt`), retry.id);
    }
    await assertExactlyOnce(e2e.db, owner);
    await assertNoLiveTasks(e2e.db, owner);
    assert.ok(proxy.refused > 0, "the cut-off daemon tried to reach the API during the partition");
    assert.equal(cutOff.proc.child.exitCode, null, "the cut-off daemon kept running");
  });
});
