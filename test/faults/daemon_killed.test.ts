/*
 * A daemon SIGKILLed while its agents run, then started again on the same work dir. A real `baton
 * daemon run` (max_tasks 2) runs the first attempts of two steps of a repository directive; each agent
 * hangs with a child process in its process group. The server runs with a 2 s lease, and its worker's
 * liveness sweep (every 5 s, src/worker.ts) interrupts the killed daemon's tasks (or the restarted
 * daemon's first heartbeat, which does not list them, does). Nothing here calls baton.expire_daemons,
 * and nothing here stops the agents: they outlive the SIGKILL (their own process groups), and the
 * restarted daemon must stop them and remove their worktrees before it runs the retries. Then the dead
 * attempts' late reports, through SQL and through GraphQL with the daemon's token, are refused (BTSTL).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { GraphQLClient, GraphQLRequestError } from "../../src/client/graphql";
import { assertDbError } from "../helpers/db";
import { git, makeRepo, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";
import { assertExactlyOnce, assertNoLiveTasks, killOnExit, running } from "../helpers/faults";
import { createDirective } from "../helpers/orchestrator";

const e2e = useE2E();

type Task = { id: string; step_id: string; attempt: number; status: string; daemon_id: string; error: string | null; branch: string | null; commit_sha: string | null };

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

/** While marks/hang exists, each step's first agent hangs with a child (`sleep`) in its process group. */
const AGENT = `#!/bin/sh
if [ -f "$E2E_MARKS/hang" ] && mkdir "$E2E_MARKS/first-$BATON_STEP_ID" 2>/dev/null; then
  sleep 300 &
  echo "$$ $!" > "$E2E_MARKS/first-$BATON_STEP_ID/pids.tmp"
  mv "$E2E_MARKS/first-$BATON_STEP_ID/pids.tmp" "$E2E_MARKS/first-$BATON_STEP_ID/pids"
  wait
fi
echo "$BATON_TASK_ID" > "work-$BATON_STEP_ID.txt"
`;

describe("a daemon SIGKILLed with tasks running, restarted on the same work dir", () => {
  it("stops the agents it left behind and removes their worktrees; the retries succeed and the dead attempts' late reports are refused", async () => {
    const repo = makeRepo(e2e);
    const marks = e2e.tempDir("marks");
    const agent = writeAgent(e2e, AGENT);
    fs.writeFileSync(path.join(marks, "hang"), "");
    const pidsOf = (step: string) => fs.readFileSync(path.join(marks, `first-${step}`, "pids"), "utf8").trim().split(" ").map(Number);
    // Only if the test fails: leave no process behind.
    after(() => {
      for (const d of fs.readdirSync(marks).filter((n) => n.startsWith("first-"))) {
        const file = path.join(marks, d, "pids");
        if (fs.existsSync(file)) for (const pid of fs.readFileSync(file, "utf8").trim().split(" ").map(Number)) if (running(pid)) process.kill(pid, "SIGKILL");
      }
    });
    const server = await startServer(e2e, { leaseSeconds: 2 });
    killOnExit(server.proc.child);
    const victim = await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, env: { E2E_MARKS: marks }, name: "victim" });
    killOnExit(victim.proc.child);
    const owner = (await e2e.db.pool.query<{ id: string }>("select id from baton.owners")).rows[0]!.id;
    const directive = await createDirective(e2e.db, owner, {
      title: "Outlive a daemon",
      repo,
      steps: [{ key: "a", name: "a" }, { key: "b", name: "b" }, { name: "c", dependsOn: ["a", "b"] }],
    });

    const tasksOf = async () =>
      (
        await e2e.db.pool.query<Task>(
          "select id, step_id, attempt, status, daemon_id, error, branch, commit_sha from baton.tasks where directive_id = $1 and kind = 'execution' order by created_at, id",
          [directive.id],
        )
      ).rows;
    const held = await waitForE2E(
      e2e,
      "the victim to run both first steps' agents",
      async () => {
        const t = await tasksOf();
        return t.length === 2 && t.every((x) => x.status === "running" && x.daemon_id === victim.id && fs.existsSync(path.join(marks, `first-${x.step_id}`, "pids"))) && t;
      },
      { unless: victim.proc },
    );
    const leftBehind = held.flatMap((t) => pidsOf(t.step_id));
    const worktrees = held.map((t) => path.join(victim.workDir, "worktrees", t.id));

    await victim.kill();
    fs.rmSync(path.join(marks, "hang"));
    // Nobody stops the agents: they outlive their daemon, each with its child, in their worktrees.
    for (const pid of leftBehind) assert.ok(running(pid), `agent process ${pid} outlived its daemon`);
    for (const dir of worktrees) assert.ok(fs.existsSync(dir), `${dir} is left behind`);

    const restarted = await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, env: { E2E_MARKS: marks }, name: "victim", workDir: victim.workDir });
    killOnExit(restarted.proc.child);
    await waitForE2E(e2e, "the restarted daemon to stop the agents left behind (leaders and children)", () => leftBehind.every((pid) => !running(pid)), {
      unless: restarted.proc,
    });
    await waitForE2E(
      e2e,
      "the directive to complete",
      async () => (await e2e.db.pool.query<{ status: string }>("select status from baton.directives where id = $1", [directive.id])).rows[0]!.status === "idle",
      { timeoutMs: 60_000, unless: server.proc },
    );
    const log = restarted.proc.log.join("");
    for (const t of held) {
      assert.match(log, new RegExp(`"msg":"stopped an agent left running by a previous daemon".*"task_id":"${t.id}"`));
    }

    // The first attempts were interrupted (for the lease, or because the restarted daemon no longer
    // ran them); the retries and the last step completed on the restarted daemon.
    const tasks = await tasksOf();
    const lost = ["The daemon stopped heartbeating (its lease expired).", "The daemon no longer reports this task (it was lost or its process ended)."];
    for (const h of held) {
      const attempts = tasks.filter((t) => t.step_id === h.step_id);
      assert.deepEqual(attempts.map((t) => [t.attempt, t.status, t.daemon_id]), [[1, "interrupted", victim.id], [2, "completed", restarted.id]]);
      assert.ok(lost.includes(attempts[0]!.error!), attempts[0]!.error!);
    }
    const last = tasks.filter((t) => !held.some((h) => h.step_id === t.step_id));
    assert.deepEqual(last.map((t) => [t.attempt, t.status]), [[1, "completed"]]);
    await assertExactlyOnce(e2e.db, owner);
    await assertNoLiveTasks(e2e.db, owner);

    // The dead attempts' worktrees are gone, and so are they from the clone's worktree list.
    for (const dir of worktrees) assert.ok(!fs.existsSync(dir), `${dir} was removed`);
    const [clone] = fs.readdirSync(path.join(victim.workDir, "repos")).map((n) => path.join(victim.workDir, "repos", n));
    assert.deepEqual(git(clone!, "worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree ")), [`worktree ${clone}`]);
    // The repository has the accepted attempts' branches only, and the directive's result branch.
    const branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/baton/").split("\n").sort();
    const result = (await e2e.db.pool.query<{ b: string }>("select result_branch as b from baton.directives where id = $1", [directive.id])).rows[0]!.b;
    assert.deepEqual(branches, [...tasks.filter((t) => t.status === "completed").map((t) => t.branch!), result].sort());

    // Late reports on the dead attempts. Through SQL with the daemon's id:
    for (const t of held) {
      await assertDbError(
        e2e.db.pool.query("select baton.report_task_status(task_id => $1, status => 'completed', daemon_id => $2)", [t.id, victim.id]),
        "BTSTL",
        /already interrupted/,
      );
    }
    // Through GraphQL with a daemon token of its own (minted as its owner, as a daemon does at start):
    const credentials = JSON.parse(fs.readFileSync(path.join(server.dataDir, "credentials.json"), "utf8")) as { api_url: string; token: string };
    const user = new GraphQLClient(credentials.api_url, credentials.token);
    const { daemonToken } = await user.request<{ daemonToken: string }>("query($d: UUID!) { daemonToken(daemonId: $d) }", { d: victim.id });
    const dead = new GraphQLClient(credentials.api_url, daemonToken);
    for (const t of held) {
      const code = await graphqlCode(dead.request('mutation($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "completed" }) { clientMutationId } }', { t: t.id }));
      assert.equal(code, "BTSTL");
    }
    assert.deepEqual(await tasksOf(), tasks, "nothing changed");
  });
});
