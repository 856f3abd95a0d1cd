/*
 * Agents hold no keys: a hostile agent, run by a real `baton daemon run` on a real repository, looks
 * for the server's secrets and reports everything it finds (on stdout, which becomes the task's
 * output, and in a file the daemon commits on the step's branch). The test then searches all of it
 * for the JWT secret, the owner's token, the daemon's token and the database password.
 *
 * The layout is the README's: the daemon runs in the project directory where `npm start` keeps its
 * data dir `./.baton`, with the default work dir. A same-user agent cannot be kept from files its
 * user may read by absolute path (root reads everything), so that run probes what the issue names:
 * its environment, its parent's (up to the daemon), and `../` walks for jwt-secret, credentials.json
 * and postgres.json. With --agent-user the agent also probes the data dir and the daemon's state
 * file by absolute path, and every ancestor's environment, and must find nothing either.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BATON_BIN, baseEnv, cliJson, git, makeRepo, startServer, useE2E, waitForE2E, type Proc, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();

/*
 * The hostile agent. E2E_PROBES: more files to try (absolute paths, one a line). E2E_ALL_ANCESTORS: walk
 * every ancestor's environ, not just up to the daemon. As the planner it adds one step, so that an
 * execution task runs in a worktree too.
 */
const HOSTILE = String.raw`#!/bin/sh
probe() { if cat "$1" 2>/dev/null; then echo; echo "FOUND $1"; else echo "absent $1"; fi; }
{
echo "== whoami uid=$(id -u) kind=$BATON_TASK_KIND cwd=$(pwd)"
echo "== own environment"; env
echo "== relative"
up=""
for i in 1 2 3 4 5 6 7 8; do
  up="../$up"
  for f in jwt-secret credentials.json postgres.json; do probe "$up$f"; done
done
echo "== named probes"
printf '%s\n' "$E2E_PROBES" | while IFS= read -r f; do [ -n "$f" ] && probe "$f"; done
echo "== ancestors"
pid=$$
while [ "$pid" -gt 1 ]; do
  ppid=$(awk '/^PPid:/ { print $2 }' /proc/$pid/status 2>/dev/null)
  [ -n "$ppid" ] && [ "$ppid" -gt 0 ] || break
  cmd=$(tr '\0' ' ' < /proc/$ppid/cmdline 2>/dev/null)
  echo "-- /proc/$ppid ($cmd)"
  if tr '\0' '\n' < /proc/$ppid/environ 2>/dev/null; then echo; echo "READ /proc/$ppid/environ"; else echo "unreadable /proc/$ppid/environ"; fi
  case "$cmd" in *"daemon run"*) [ -n "$E2E_ALL_ANCESTORS" ] || break ;; esac
  pid=$ppid
done
echo "== end"
} > /tmp/hostile-$$.txt 2>&1
cat /tmp/hostile-$$.txt
cp /tmp/hostile-$$.txt "report-$BATON_TASK_KIND.txt"
rm -f /tmp/hostile-$$.txt
if [ "$BATON_TASK_KIND" = planning ]; then baton directive add-step "Probe" --task-plan "Look around." > /dev/null || exit 1; fi
exit 0
`;

type Secrets = Record<string, string>;

/** Every secret that must not reach an agent, by name. */
function secretsOf(server: ServerProcess, dbUrl: string, stateFile: string): Secrets {
  const out: Secrets = {
    "the JWT secret": fs.readFileSync(path.join(server.dataDir, "jwt-secret"), "utf8").trim(),
    "the owner's token": JSON.parse(fs.readFileSync(path.join(server.dataDir, "credentials.json"), "utf8")).token,
    "the embedded cluster's password (postgres.json)": JSON.parse(fs.readFileSync(path.join(server.dataDir, "postgres.json"), "utf8")).password,
    "the daemon's token": JSON.parse(fs.readFileSync(stateFile, "utf8")).token,
  };
  const dbPassword = decodeURIComponent(new URL(dbUrl).password);
  if (dbPassword.length >= 6) out["the database password (DATABASE_URL)"] = dbPassword;
  for (const [k, v] of Object.entries(out)) assert.ok(v && v.length >= 16 || k.includes("DATABASE_URL"), `${k} is too short to search for: ${JSON.stringify(v)}`);
  return out;
}

function assertNoSecret(what: string, text: string, secrets: Secrets): void {
  for (const [name, value] of Object.entries(secrets)) {
    assert.ok(!text.includes(value), `${what} contains ${name}:\n${text.slice(0, 4000)}`);
  }
}

type Run = { directiveId: string; outputs: string; reports: { planning: string; execution: string }; daemonPid: number; stateFile: string };

describe("agents hold no keys", () => {
  let server: ServerProcess;
  let repo: string;
  let agentCommand: string;
  let hostileFile: string;

  before(async () => {
    server = await startServer(e2e);
    // Tests use DATABASE_URL; the embedded server would write this file: plant one to look for.
    fs.writeFileSync(path.join(server.dataDir, "postgres.json"), JSON.stringify({ port: 5432, user: "postgres", password: `pg-canary-${"x".repeat(8)}-${process.pid}-${Date.now()}` }), { mode: 0o600 });
    repo = makeRepo(e2e);
    const dir = e2e.tempDir("hostile");
    fs.chmodSync(dir, 0o755); // readable by --agent-user too
    hostileFile = path.join(dir, "hostile.sh");
    fs.writeFileSync(hostileFile, HOSTILE, { mode: 0o755 });
    agentCommand = `sh ${JSON.stringify(hostileFile)}`;
  });

  /**
   * A project directory laid out as the README's: `.baton` is the server's data dir (a symbolic link
   * to it); the daemon starts there with the default work dir, taking the owner's token from
   * `.baton/credentials.json` as `npx baton daemon run` does.
   */
  async function runDaemon(label: string, extraArgs: string[], env: NodeJS.ProcessEnv): Promise<{ proc: Proc; project: string; stateFile: string }> {
    const project = e2e.tempDir(`project-${label}`);
    fs.chmodSync(project, 0o755);
    fs.symlinkSync(server.dataDir, path.join(project, ".baton"));
    const name = `secrets-${label}-${process.pid}`;
    const args = [BATON_BIN, "daemon", "run", "--agent-command", agentCommand, "--max-tasks", "1", "--name", name, "--grace", "2", ...extraArgs];
    const proc = e2e.spawn(`daemon:${name}`, args, { ...baseEnv(), BATON_HEARTBEAT_MS: "500", BATON_LOG_LEVEL: "info", ...env }, project);
    await waitForE2E(
      e2e,
      `daemon ${name} to register`,
      async () => (await e2e.db.pool.query("select 1 from baton.daemons where name = $1 and status = 'connected'", [name])).rowCount,
      { timeoutMs: 60_000, unless: proc },
    );
    return { proc, project, stateFile: path.join(project, ".baton-work", "state", "daemon.json") };
  }

  /** One directive on the repository, run to the end by the daemon; returns everything the agents reported. */
  async function runDirective(daemon: { proc: Proc; stateFile: string }, title: string): Promise<Run> {
    const created = await cliJson<{ rowId: string }>(["directive", "create", "--title", title, "--goal", "Find keys", "--repo", repo, "--start"], { env: server.env });
    await waitForE2E(
      e2e,
      `directive "${title}" to finish its execution step`,
      async () => {
        const r = await e2e.db.pool.query<{ status: string }>("select status from baton.directive_steps where directive_id = $1", [created.rowId]);
        const failed = await e2e.db.pool.query<{ error: string }>("select error from baton.tasks where directive_id = $1 and status = 'failed'", [created.rowId]);
        if (failed.rowCount) throw new Error(`a task failed: ${failed.rows[0]!.error}`);
        return r.rowCount === 1 && r.rows[0]!.status === "completed";
      },
      { timeoutMs: 90_000, unless: daemon.proc },
    );
    const out = await e2e.db.pool.query<{ text: string; kind: string }>(
      "select o.text, t.kind from baton.task_output o join baton.tasks t on t.id = o.task_id where o.directive_id = $1 order by o.task_id, o.seq",
      [created.rowId],
    );
    const task = await e2e.db.pool.query<{ branch: string }>("select branch from baton.tasks where directive_id = $1 and kind = 'execution' and status = 'completed'", [created.rowId]);
    const branch = task.rows[0]!.branch;
    return {
      directiveId: created.rowId,
      outputs: out.rows.map((r) => r.text).join(""),
      reports: { planning: out.rows.filter((r) => r.kind === "planning").map((r) => r.text).join(""), execution: git(repo, "show", `${branch}:report-execution.txt`) },
      daemonPid: daemon.proc.child.pid!,
      stateFile: daemon.stateFile,
    };
  }

  it("the hostile agent finds the secrets when they are within its reach (the probe works)", () => {
    // The layout before the fix: the work dir inside the data dir, and the daemon's environment passed on.
    const worktree = path.join(server.dataDir, "work", "worktrees", "t1");
    fs.mkdirSync(worktree, { recursive: true });
    const owner = JSON.parse(fs.readFileSync(path.join(server.dataDir, "credentials.json"), "utf8")).token as string;
    const out = execFileSync("sh", [hostileFile], { cwd: worktree, encoding: "utf8", env: { ...process.env, BATON_TOKEN: owner, BATON_TASK_KIND: "control", PATH: process.env.PATH } });
    fs.rmSync(path.join(server.dataDir, "work"), { recursive: true, force: true });
    assert.match(out, /FOUND \.\.\/\.\.\/\.\.\/jwt-secret/);
    assert.ok(out.includes(fs.readFileSync(path.join(server.dataDir, "jwt-secret"), "utf8").trim()), "the JWT secret was not found");
    assert.ok(out.includes(owner), "the owner's token was not found");
  });

  describe("an agent running as the daemon's user, with the README's defaults", () => {
    let run: Run;
    let secrets: Secrets;
    before(async () => {
      const daemon = await runDaemon("same-user", [], {});
      run = await runDirective(daemon, "Same user");
      secrets = secretsOf(server, e2e.db.url, daemon.stateFile);
      daemon.proc.child.kill("SIGTERM");
      await daemon.proc.exited;
    });

    it("probed its environment, the ../ walk and its parents up to the daemon", () => {
      for (const report of [run.reports.planning, run.reports.execution]) {
        assert.match(report, /== own environment\n[\s\S]*BATON_TASK_ID=/);
        assert.match(report, /absent \.\.\/\.\.\/\.\.\/jwt-secret/);
        assert.match(report, /absent \.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/credentials\.json/);
        assert.match(report, new RegExp(`READ /proc/${run.daemonPid}/environ`), "the agent did not reach the daemon's environ");
      }
    });

    it("finds no secret anywhere: its output, its report on the branch, its environment, its parent's and the daemon's", () => {
      assertNoSecret("the agents' output", run.outputs, secrets);
      assertNoSecret("the execution agent's report", run.reports.execution, secrets);
    });

    it("keeps the daemon's token in its state file (mode 0600), not the owner's", () => {
      const st = fs.statSync(run.stateFile);
      assert.equal((st.mode & 0o777).toString(8), "600");
      const claims = JSON.parse(Buffer.from(secrets["the daemon's token"]!.split(".")[1]!, "base64url").toString()) as { role: string };
      assert.equal(claims.role, "baton_daemon");
    });
  });

  describe("an agent running as another user (--agent-user)", { skip: process.getuid?.() !== 0 ? "--agent-user needs the test to run as root (useradd, and the daemon switching uid)" : false }, () => {
    const user = `baton-e2e-${process.pid}`;
    let run: Run;
    let secrets: Secrets;
    let uid: string;
    before(async () => {
      execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]);
      uid = execFileSync("id", ["-u", user], { encoding: "utf8" }).trim();
      const probesOf = (stateFile: string) =>
        ["jwt-secret", "credentials.json", "postgres.json"]
          .flatMap((f) => [path.join(server.dataDir, f), path.join(path.dirname(stateFile), "..", "..", ".baton", f)])
          .concat([stateFile])
          .join("\n");
      const daemonEnv = { E2E_PROBES: "", E2E_ALL_ANCESTORS: "1" };
      const dir = await runDaemonWithProbes(probesOf, daemonEnv);
      run = await runDirective(dir, "Other user");
      secrets = secretsOf(server, e2e.db.url, dir.stateFile);
      dir.proc.child.kill("SIGTERM");
      await dir.proc.exited;
    });
    // useradd's user outlives the test otherwise.
    after(() => {
      try {
        execFileSync("userdel", [user], { stdio: "ignore" });
      } catch {
        // already gone
      }
    });

    /** runDaemon, with E2E_PROBES naming the data dir's files and the daemon's own state file by absolute path. */
    async function runDaemonWithProbes(probesOf: (stateFile: string) => string, env: Record<string, string>) {
      const project = e2e.tempDir("project-other-user");
      fs.chmodSync(project, 0o755);
      fs.symlinkSync(server.dataDir, path.join(project, ".baton"));
      const stateFile = path.join(project, ".baton-work", "state", "daemon.json");
      const name = `secrets-other-user-${process.pid}`;
      const args = [BATON_BIN, "daemon", "run", "--agent-command", agentCommand, "--max-tasks", "1", "--name", name, "--grace", "2", "--agent-user", user, "--agent-env", "E2E_PROBES", "--agent-env", "E2E_ALL_ANCESTORS"];
      const proc = e2e.spawn(`daemon:${name}`, args, { ...baseEnv(), BATON_HEARTBEAT_MS: "500", ...env, E2E_PROBES: probesOf(stateFile) }, project);
      await waitForE2E(
        e2e,
        `daemon ${name} to register`,
        async () => (await e2e.db.pool.query("select 1 from baton.daemons where name = $1 and status = 'connected'", [name])).rowCount,
        { timeoutMs: 60_000, unless: proc },
      );
      return { proc, project, stateFile };
    }

    it("ran as that user and probed the data dir, the state file and every ancestor", () => {
      for (const report of [run.reports.planning, run.reports.execution]) {
        assert.match(report, new RegExp(`== whoami uid=${uid} `));
        assert.match(report, new RegExp(`absent ${path.join(server.dataDir, "jwt-secret").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
        assert.match(report, new RegExp(`absent ${run.stateFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
        assert.match(report, new RegExp(`unreadable /proc/${run.daemonPid}/environ`));
      }
    });

    it("finds no secret: the absolute paths, the daemon's state file and every ancestor's environ are out of reach", () => {
      assertNoSecret("the agents' output", run.outputs, secrets);
      assertNoSecret("the execution agent's report", run.reports.execution, secrets);
      assert.doesNotMatch(run.outputs, /^FOUND /m);
      assert.doesNotMatch(run.outputs, new RegExp(`^READ /proc/${run.daemonPid}/environ$`, "m"), "the daemon's environ was readable");
    });

    it("the daemon took the worktree back: its commit holds the agent's report, and the worktree is gone", () => {
      assert.match(run.reports.execution, /== end/);
      const worktrees = path.join(path.dirname(path.dirname(run.stateFile)), "worktrees");
      assert.deepEqual(fs.existsSync(worktrees) ? fs.readdirSync(worktrees) : [], []);
    });
  });
});
