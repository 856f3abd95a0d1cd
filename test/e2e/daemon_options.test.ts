/*
 * `baton daemon run`'s safety options with real processes: where tokens may come from (never argv, a
 * token file only when private), the work dir (never inside the data dir), --agent-env (exactly the
 * named variables reach the agent), the stored daemon token (a restart needs no owner token), and its
 * renewal before it expires.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { BATON_BIN, baseEnv, cli, cliJson, startServer, useE2E, waitForE2E, type Proc, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { role: string; daemon_id?: string; exp?: number };

describe("baton daemon run options", () => {
  let server: ServerProcess;
  let ownerToken: string;
  let ownerId: string;

  before(async () => {
    server = await startServer(e2e);
    const creds = JSON.parse(fs.readFileSync(path.join(server.dataDir, "credentials.json"), "utf8")) as { token: string; owner_id: string };
    ownerToken = creds.token;
    ownerId = creds.owner_id;
  });

  /** A private file holding `token`. */
  function tokenFile(token: string, mode = 0o600): string {
    const file = path.join(e2e.tempDir("token"), "token");
    fs.writeFileSync(file, token + "\n", { mode });
    fs.chmodSync(file, mode);
    return file;
  }

  /** `baton daemon run` with exactly `env` (plus nothing of this process's), in `cwd`. */
  function spawnDaemon(name: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Proc {
    return e2e.spawn(`daemon:${name}`, [BATON_BIN, "daemon", "run", "--name", name, "--grace", "2", ...args], { BATON_HEARTBEAT_MS: "500", BATON_LOG_LEVEL: "info", ...env }, cwd);
  }

  async function connected(name: string, proc: Proc): Promise<string> {
    return waitForE2E(
      e2e,
      `daemon ${name} to connect`,
      async () => (await e2e.db.pool.query<{ id: string }>("select id from baton.daemons where name = $1 and status = 'connected'", [name])).rows[0]?.id,
      { timeoutMs: 60_000, unless: proc },
    );
  }

  describe("refusals (exit 2, one line)", () => {
    const refuses = async (args: string[], message: string, env: NodeJS.ProcessEnv = server.env, cwd?: string) => {
      const r = await cli(["daemon", "run", "--agent-command", "true", ...args], { env, cwd });
      assert.equal(r.stderr, `baton: ${message}\n`);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
    };

    it("refuses --token: a token on the command line is visible to every process", async () => {
      await refuses(
        ["--token", ownerToken],
        "baton daemon run does not take --token (command lines are visible to every process on the machine); put the token in a file with mode 600 and pass --token-file PATH, or set BATON_TOKEN.",
      );
    });

    it("refuses a --token-file that others can read (mode 0644)", async () => {
      const file = tokenFile(ownerToken, 0o644);
      await refuses(["--token-file", file, "--work-dir", e2e.tempDir("work")], `--token-file ${file} is readable by others (mode 644); a token file must be mode 600: run chmod 600 ${file}.`);
    });

    it("refuses a --work-dir inside BATON_DATA_DIR, also through a symbolic link", async () => {
      const inside = path.join(server.dataDir, "work");
      const message = (given: string) =>
        `--work-dir ${given} is inside the server's data dir ${fs.realpathSync(server.dataDir)} (BATON_DATA_DIR), which holds the JWT secret and the owner's credentials that agents must not reach; choose a directory outside it, such as ./.baton-work.`;
      await refuses(["--work-dir", inside], message(inside));
      await refuses(["--work-dir", server.dataDir], message(server.dataDir));
      const link = path.join(e2e.tempDir("link"), "data");
      fs.symlinkSync(server.dataDir, link);
      await refuses(["--work-dir", path.join(link, "work")], message(path.join(link, "work")));
      assert.equal(fs.existsSync(inside), false, "the refused work dir was created");
    });

    it("refuses the old default: ./.baton/work where the server keeps ./.baton", async () => {
      const project = e2e.tempDir("project");
      fs.symlinkSync(server.dataDir, path.join(project, ".baton"));
      const env = { ...baseEnv() };
      await refuses(
        ["--work-dir", "./.baton/work"],
        `--work-dir ./.baton/work is inside the server's data dir ${fs.realpathSync(server.dataDir)} (BATON_DATA_DIR), which holds the JWT secret and the owner's credentials that agents must not reach; choose a directory outside it, such as ./.baton-work.`,
        env,
        project,
      );
    });

    it("refuses --agent-env naming a variable the daemon does not have, or a BATON_* one", async () => {
      await refuses(["--agent-env", "E2E_NOT_SET_ANYWHERE"], "--agent-env E2E_NOT_SET_ANYWHERE: the daemon's environment has no E2E_NOT_SET_ANYWHERE; set it (export E2E_NOT_SET_ANYWHERE=...) or drop the flag.");
      await refuses(
        ["--agent-env", "BATON_TOKEN"],
        "--agent-env BATON_TOKEN: BATON_* variables are not passed to agents; the daemon sets BATON_API_URL, BATON_TOKEN (a token for the task's directive only) and the task's ids itself.",
      );
    });

    it("refuses --agent-user naming no user, or root", { skip: process.getuid?.() !== 0 ? "needs root (a non-root daemon is refused before the user is looked up)" : false }, async () => {
      await refuses(["--agent-user", "no-such-user-e2e"], "--agent-user no-such-user-e2e: there is no such user on this machine (getent passwd no-such-user-e2e found nothing); create it (useradd) or name another.");
      await refuses(["--agent-user", "root"], "--agent-user root is root (uid 0): that isolates nothing; name an unprivileged user.");
    });

    it("refuses --agent-user when the daemon is not root", { skip: process.getuid?.() !== 0 ? "needs root to start the CLI as another user" : false }, async () => {
      const nobody = Number(execFileSync("id", ["-u", "nobody"], { encoding: "utf8" }).trim());
      const r = execFileSync(
        "sh",
        ["-c", `${JSON.stringify(process.execPath)} ${JSON.stringify(BATON_BIN)} daemon run --agent-command true --agent-user nobody --api http://127.0.0.1:1 2>&1; echo "exit=$?"`],
        { encoding: "utf8", uid: nobody, gid: nobody, cwd: "/", env: { PATH: process.env.PATH, HOME: "/" } },
      );
      assert.equal(r, `baton: --agent-user needs the daemon to run as root, to start agents under another uid (this daemon runs as uid ${nobody}); run it as root or drop --agent-user.\nexit=2\n`);
    });
  });

  it("--agent-env passes exactly the named variable; the rest of the daemon's environment stays behind", async () => {
    const agentDir = e2e.tempDir("agent");
    const agent = path.join(agentDir, "env.sh");
    fs.writeFileSync(agent, "#!/bin/sh\nenv\n", { mode: 0o755 });
    const name = `env-${process.pid}`;
    const proc = spawnDaemon(name, ["--agent-command", `sh ${JSON.stringify(agent)}`, "--work-dir", e2e.tempDir("work"), "--agent-env", "E2E_PASSED"], {
      PATH: process.env.PATH,
      HOME: "/tmp",
      LANG: "C.UTF-8",
      TERM: "dumb",
      LC_ALL: "C.UTF-8",
      BATON_DATA_DIR: server.dataDir,
      E2E_PASSED: "passed-value",
      E2E_WITHHELD: "withheld-value",
      AWS_SECRET_ACCESS_KEY: "aws-secret-value",
    });
    await connected(name, proc);
    const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Env", "--goal", "Print the environment", "--start"], { env: server.env });
    const output = await waitForE2E(
      e2e,
      "the planning agent's output",
      async () => {
        const t = await e2e.db.pool.query<{ status: string; text: string }>(
          "select t.status, (select string_agg(o.text, '' order by o.seq) from baton.task_output o where o.task_id = t.id) as text from baton.tasks t where t.directive_id = $1 and t.kind = 'planning'",
          [d.rowId],
        );
        return t.rows[0]?.status === "completed" && t.rows[0].text;
      },
      { unless: proc },
    );
    const vars = new Map(output.split("\n").filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    const shellAdded = ["PWD", "OLDPWD", "SHLVL", "_"];
    const names = [...vars.keys()].filter((n) => !shellAdded.includes(n)).sort();
    assert.deepEqual(names, ["BATON_API_URL", "BATON_DAEMON_DIR", "BATON_DIRECTIVE_ID", "BATON_PROMPT_FILE", "BATON_TASK_ID", "BATON_TASK_KIND", "BATON_TOKEN", "E2E_PASSED", "HOME", "LANG", "LC_ALL", "PATH", "TERM"]);
    assert.equal(vars.get("E2E_PASSED"), "passed-value");
    assert.equal(claimsOf(vars.get("BATON_TOKEN")!).role, "baton_agent");
    proc.child.kill("SIGTERM");
    await proc.exited;
  });

  describe("the daemon's token", () => {
    let workDir: string;
    let daemonId: string;
    const name = `stored-${process.pid}`;
    const stateFile = () => path.join(workDir, "state", "daemon.json");

    before(async () => {
      workDir = e2e.tempDir("work");
      // No BATON_DATA_DIR: the owner's token comes from the file only, the API from --api.
      const proc = spawnDaemon(name, ["--agent-command", "true", "--work-dir", workDir, "--api", server.url, "--token-file", tokenFile(ownerToken)], { PATH: process.env.PATH });
      daemonId = await connected(name, proc);
      proc.child.kill("SIGTERM");
      assert.equal(await proc.exited, 0);
    });

    it("registers with the owner's token and keeps only its own daemon token, in <work-dir>/state/daemon.json (0600)", () => {
      const text = fs.readFileSync(stateFile(), "utf8");
      assert.equal((fs.statSync(stateFile()).mode & 0o777).toString(8), "600");
      assert.equal((fs.statSync(path.dirname(stateFile())).mode & 0o777).toString(8), "700");
      assert.ok(!text.includes(ownerToken), "the state file holds the owner's token");
      const state = JSON.parse(text) as { api_url: string; daemon_id: string; token: string };
      assert.equal(state.daemon_id, daemonId);
      assert.deepEqual([claimsOf(state.token).role, claimsOf(state.token).daemon_id], ["baton_daemon", daemonId]);
    });

    it("starts again as the same daemon from its state file, with no token given and no --api", async () => {
      const proc = spawnDaemon(name, ["--agent-command", "true", "--work-dir", workDir], { PATH: process.env.PATH });
      await waitForE2E(e2e, "the log line of the stored identity", () => proc.log.join("").includes('"using the stored daemon identity"'), { unless: proc });
      assert.equal(await connected(name, proc), daemonId);
      const rows = await e2e.db.pool.query("select id from baton.daemons where name = $1", [name]);
      assert.equal(rows.rowCount, 1, "a second daemon was registered");
      proc.child.kill("SIGTERM");
      assert.equal(await proc.exited, 0);
    });

    it("refuses to start the stored daemon with another --max-tasks (the server keeps the registered one) unless an owner token is given", async () => {
      const proc = spawnDaemon(name, ["--agent-command", "true", "--work-dir", workDir, "--max-tasks", "3"], { PATH: process.env.PATH });
      assert.equal(await proc.exited, 2);
      assert.equal(
        proc.log.join("").trim().split("\n").pop(),
        `baton: The daemon in ${path.dirname(stateFile())} was registered as --name "${name}" --max-tasks 1, which the server keeps; start it with those, or give an owner token (--token-file PATH or BATON_TOKEN) to register a new daemon with the new ones.`,
      );
    });

    it("renews a short-lived daemon token at half its life, stores it, and keeps working after the first one expired", async () => {
      const short = (
        await cliJson<{ token: string }>(["token", "create", "--owner", ownerId, "--role", "daemon", "--daemon", daemonId, "--ttl", "16s"], {
          env: { ...baseEnv(), DATABASE_URL: e2e.db.url, BATON_DATA_DIR: server.dataDir },
        })
      ).token;
      const firstExp = claimsOf(short).exp!;
      const renewedWork = e2e.tempDir("work");
      const proc = spawnDaemon(name, ["--agent-command", "true", "--work-dir", renewedWork, "--api", server.url, "--token-file", tokenFile(short)], { PATH: process.env.PATH });
      assert.equal(await connected(name, proc), daemonId);
      const renewed = await waitForE2E(
        e2e,
        "a renewed token in the state file",
        () => {
          const t = (JSON.parse(fs.readFileSync(path.join(renewedWork, "state", "daemon.json"), "utf8")) as { token: string }).token;
          return t !== short && (claimsOf(t).exp ?? 0) > firstExp && t;
        },
        { unless: proc },
      );
      assert.equal(claimsOf(renewed).daemon_id, daemonId);
      // Heartbeats still land after the first token expired: they carry the renewed one.
      await waitForE2E(
        e2e,
        "a heartbeat after the first token expired",
        async () =>
          (await e2e.db.pool.query("select 1 from baton.daemons where id = $1 and status = 'connected' and last_heartbeat_at > to_timestamp($2) + interval '1 second'", [daemonId, firstExp]))
            .rowCount,
        { unless: proc },
      );
      assert.ok(!proc.log.join("").includes("heartbeat failed"), "a heartbeat failed:\n" + proc.log.join(""));
      proc.child.kill("SIGTERM");
      assert.equal(await proc.exited, 0);
    });

    it("does not come back from a revoked daemon's stored token: refused without a token, registered anew with the owner's", async () => {
      await cliJson(["daemon", "revoke", daemonId], { env: server.env });
      const alone = spawnDaemon(name, ["--agent-command", "true", "--work-dir", workDir], { PATH: process.env.PATH });
      assert.equal(await alone.exited, 2);
      const said = alone.log.join("").trim().split("\n").pop()!;
      const stateDir = path.dirname(stateFile());
      assert.equal(
        said,
        `baton: The daemon needs a token (the stored daemon token in ${stateDir} was refused: its daemon was revoked or its token is no longer valid): give an owner or daemon token with --token-file PATH (mode 600) or BATON_TOKEN, or run it where \`baton server\` wrote credentials.json (BATON_DATA_DIR).`,
      );
      const again = spawnDaemon(`${name}-again`, ["--agent-command", "true", "--work-dir", workDir, "--token-file", tokenFile(ownerToken)], { PATH: process.env.PATH });
      const newId = await connected(`${name}-again`, again);
      assert.notEqual(newId, daemonId);
      // The new daemon's row is connected as soon as it registers; it stores its identity right after.
      await waitForE2E(
        e2e,
        "the state file to name the newly registered daemon",
        () => (JSON.parse(fs.readFileSync(stateFile(), "utf8")) as { daemon_id: string }).daemon_id === newId,
        { unless: again },
      );
      again.child.kill("SIGTERM");
      assert.equal(await again.exited, 0);
    });
  });
});
