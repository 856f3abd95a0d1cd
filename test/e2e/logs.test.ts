/*
 * Seeing what agents do, with real processes: a server, a daemon started in a project directory of its
 * own with a relative agent script (`node agents/agent.js`, as a user types it), and the CLI.
 *
 * The agent plans two steps. "Talk" prints a line, waits for a gate file the test creates, prints
 * another and exits 0: `task logs` shows the first line while it runs, `task logs --follow` streams
 * the second and ends with the task. "Crash" requires a module that does not exist: Node prints a
 * stack trace and its version banner, and the error users see is the exception message, not the
 * banner. `directive logs --follow`, started before any task, streams every task's lines with their
 * step and attempt and ends when the directive is idle. One story, so its parts are subtests in order.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { BATON_BIN, baseEnv, cli, cliJson, startServer, useE2E, waitForE2E, type CliResult, type Proc } from "../helpers/e2e";

const e2e = useE2E();

const AGENT = String.raw`"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const prompt = fs.readFileSync(process.env.BATON_PROMPT_FILE, "utf8");
if (process.env.BATON_TASK_KIND === "planning") {
  console.log("planning in " + process.cwd());
  console.log("daemon dir " + process.env.BATON_DAEMON_DIR);
  const steps = [{ key: "talk", name: "Talk" }, { key: "crash", name: "Crash" }];
  execFileSync("baton", ["directive", "batch-add-steps", "--json", JSON.stringify(steps)], { encoding: "utf8" });
  console.log("planned 2 steps");
  process.exit(0);
}
const step = (/^# Your step: (.+)$/m.exec(prompt) || [])[1];
if (step === "Crash") {
  console.log("crash: about to load a module");
  require("./no-such-module");
}
console.log("talk: line 1");
console.error("talk: a note on stderr");
const gate = process.env.E2E_GATE;
(function wait() {
  if (!fs.existsSync(gate)) return setTimeout(wait, 50);
  process.stdout.write("talk: line 2\ntalk: no newline at the end");
})();
`;

/** A CLI process whose output the test reads while it runs. */
type Running = { stdout: () => string; stderr: () => string; done: Promise<CliResult> };
function cliRunning(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [BATON_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (t: string) => (stdout += t));
  child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
  const done = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr })));
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  void done.then(() => clearTimeout(timer));
  return { stdout: () => stdout, stderr: () => stderr, done };
}

describe("seeing what agents do", () => {
  it("task logs and directive logs backfill and stream agents' output; a failed agent's error names its cause", async (t) => {
    const server = await startServer(e2e);
    const gate = path.join(e2e.tempDir("gate"), "open");

    // The daemon runs in a project directory; the agent's path is relative to it, and agents run elsewhere (their workspaces).
    const project = e2e.tempDir("project");
    fs.mkdirSync(path.join(project, "agents"));
    fs.writeFileSync(path.join(project, "agents", "agent.js"), AGENT);
    const name = `logs-${process.pid}`;
    const daemonArgs = [BATON_BIN, "daemon", "run", "--agent-command", "node agents/agent.js", "--max-tasks", "2", "--name", name, "--grace", "2", "--work-dir", e2e.tempDir("work"), "--agent-env", "E2E_GATE"];
    const daemonEnv = { ...server.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`, BATON_HEARTBEAT_MS: "500", BATON_LOG_LEVEL: "info", E2E_GATE: gate };
    const daemon: Proc = e2e.spawn(`daemon:${name}`, daemonArgs, daemonEnv, project);
    await waitForE2E(e2e, `daemon ${name} to register`, async () => (await e2e.db.pool.query("select 1 from baton.daemons where name = $1 and status = 'connected'", [name])).rowCount, {
      timeoutMs: 60_000,
      unless: daemon,
    });

    const created = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Logs", "--goal", "Talk, and crash", "--start"], { env: server.env });
    const env = { ...server.env, BATON_DIRECTIVE_ID: created.rowId };
    const followAll = cliRunning(["directive", "logs", "--follow"], env);

    const taskOf = async (step: string, attempt = 1) =>
      (
        await e2e.db.pool.query<{ id: string }>(
          "select t.id from baton.tasks t join baton.directive_steps s on s.id = t.step_id where s.name = $1 and t.attempt = $2 and t.directive_id = $3",
          [step, attempt, created.rowId],
        )
      ).rows[0]?.id;
    const stored = async (taskId: string) =>
      (await e2e.db.pool.query<{ text: string }>("select string_agg(text, '' order by seq) as text from baton.task_output where task_id = $1", [taskId])).rows[0]?.text ?? "";

    let talk = "";
    await t.test("the daemon ran the relative agent script from its own directory, and the agent got BATON_DAEMON_DIR", async () => {
      talk = await waitForE2E(e2e, "the Talk task to print its first line", async () => {
        const id = await taskOf("Talk");
        return id && (await stored(id)).includes("talk: line 1\n") ? id : undefined;
      }, { unless: daemon });
      const planner = (await e2e.db.pool.query<{ id: string }>("select id from baton.tasks where kind = 'planning' and directive_id = $1", [created.rowId])).rows[0]!.id;
      const out = await cli(["task", "logs", planner], { env });
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, new RegExp(`^daemon dir ${fs.realpathSync(project).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`, "m"));
      assert.doesNotMatch(out.stdout, new RegExp(`^planning in ${project}$`, "m"), "the agent ran in the daemon's directory, not a workspace");
      assert.ok(e2e.logTails(400).includes(`node ${project}/agents/agent.js`), "the daemon logs the command it runs");
    });

    await t.test("task logs prints a running task's stored output, and says it is still running", async () => {
      const out = await cli(["task", "logs", talk], { env });
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, "talk: line 1\ntalk: a note on stderr\n");
      assert.equal(out.stderr, `Task ${talk} is running; \`baton task logs ${talk} --follow\` streams the rest.\n`);
    });

    await t.test("task logs --follow prints the stored output, then streams new output until the task ends", async () => {
      const follow = cliRunning(["task", "logs", talk, "--follow"], env);
      await waitForE2E(e2e, "task logs --follow to print the stored output", () => follow.stdout().includes("talk: a note on stderr\n"));
      fs.writeFileSync(gate, "");
      const r = await follow.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "talk: line 1\ntalk: a note on stderr\ntalk: line 2\ntalk: no newline at the end");
      assert.equal(r.stderr, `Task ${talk} is completed.\n`);
    });

    let crash = "";
    await t.test("directive logs --follow streamed every task's lines with their step and attempt, and ended when the directive went idle", async () => {
      const r = await followAll.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, `Directive ${created.rowId} is idle.\n`);
      const lines = r.stdout.split("\n");
      assert.ok(lines.includes("planner #1 | planned 2 steps"), r.stdout);
      assert.deepEqual(lines.filter((l) => l.startsWith("Talk #1 | ")), ["Talk #1 | talk: line 1", "Talk #1 | talk: a note on stderr", "Talk #1 | talk: line 2", "Talk #1 | talk: no newline at the end"]);
      for (const attempt of [1, 2]) {
        assert.ok(lines.includes(`Crash #${attempt} | crash: about to load a module`), r.stdout);
        assert.ok(lines.includes(`Crash #${attempt} | Error: Cannot find module './no-such-module'`), r.stdout);
        assert.ok(lines.includes(`Crash #${attempt} | Node.js ${process.version}`), r.stdout);
      }
      crash = (await taskOf("Crash", 2))!;
    });

    await t.test("directive logs prints the stored output task by task, in the order the tasks were created", async () => {
      const r = await cli(["directive", "logs"], { env });
      assert.equal(r.code, 0, r.stderr);
      const labels = [...new Set(r.stdout.trimEnd().split("\n").map((l) => l.split(" | ")[0]))];
      assert.equal(labels[0], "planner #1");
      assert.deepEqual(labels.slice(1).sort(), ["Crash #1", "Crash #2", "Talk #1"]);
      assert.ok(labels.indexOf("Crash #1") < labels.indexOf("Crash #2"));
      const json = await cliJson<{ label: string; step: string | null; attempt: number | null; kind: string; seq: number; stream: string; text: string; taskId: string }[]>(["directive", "logs", created.rowId], { env });
      const talkChunks = json.filter((c) => c.taskId === talk);
      assert.deepEqual(
        talkChunks.map((c) => [c.label, c.step, c.attempt, c.kind]),
        talkChunks.map(() => ["Talk #1", "Talk", 1, "execution"]),
      );
      assert.equal(talkChunks.map((c) => c.text).join(""), "talk: line 1\ntalk: a note on stderr\ntalk: line 2\ntalk: no newline at the end");
      assert.deepEqual(talkChunks.map((c) => c.seq), talkChunks.map((_, i) => i + 1));
      assert.ok(talkChunks.some((c) => c.stream === "stderr") && talkChunks.some((c) => c.stream === "stdout"));
    });

    await t.test("a crashed agent's error keeps the cause, and status and events show it with where to read the rest", async () => {
      const error = (await e2e.db.pool.query<{ error: string }>("select error from baton.tasks where id = $1", [crash])).rows[0]!.error;
      assert.match(error, /^The agent exited with status 1:\n/);
      assert.match(error, /\nError: Cannot find module '\.\/no-such-module'\n/);
      assert.match(error, new RegExp(`\\nNode\\.js ${process.version.replace(/\./g, "\\.")}$`));
      const hint = `(see \`baton task logs ${crash}\`)`;
      const status = await cli(["directive", "status"], { env });
      assert.ok(status.stdout.includes(`    last error: Error: Cannot find module './no-such-module' ${hint}\n`), status.stdout);
      const events = await cli(["directive", "events"], { env });
      assert.ok(events.stdout.includes(`running -> failed: Error: Cannot find module './no-such-module' ${hint}\n`), events.stdout);
      const logs = await cli(["task", "logs", crash], { env });
      assert.match(logs.stdout, /^crash: about to load a module\n[\s\S]*Error: Cannot find module '\.\/no-such-module'/);
      assert.equal(logs.stderr, `Task ${crash} is failed: Error: Cannot find module './no-such-module'\n`);
    });

    await t.test("task logs --follow on a finished task prints its output and ends at once; --json gives the chunks", async () => {
      const r = await cli(["task", "logs", talk, "--follow"], { env, timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "talk: line 1\ntalk: a note on stderr\ntalk: line 2\ntalk: no newline at the end");
      const json = await cliJson<{ taskId: string; step: string; attempt: number; seq: number; stream: string; text: string }[]>(["task", "logs", talk], { env });
      assert.deepEqual(json.map((c) => [c.taskId, c.step, c.attempt]), json.map(() => [talk, "Talk", 1]));
      assert.equal(json.map((c) => c.text).join(""), "talk: line 1\ntalk: a note on stderr\ntalk: line 2\ntalk: no newline at the end");
      const follow = await cli(["directive", "logs", "--follow", "--json"], { env, timeoutMs: 20_000 });
      assert.equal(follow.code, 0, follow.stderr);
      const ndjson = follow.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as { taskId: string });
      assert.equal(ndjson.length, (await e2e.db.pool.query("select 1 from baton.task_output where directive_id = $1", [created.rowId])).rowCount);
    });

    await t.test("bad ids: not a UUID (exit 2), unknown, or another owner's (exit 1, does not exist)", async () => {
      const notUuid = await cli(["task", "logs", "nope"], { env });
      assert.equal(notUuid.code, 2);
      assert.equal(notUuid.stderr, `baton: The task id must be a UUID such as 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f (got "nope"); \`baton directive status\` lists the ids.\n`);
      const unknown = "00000000-0000-4000-8000-000000000000";
      const missing = `baton: Task ${unknown} does not exist. \`baton directive status --json\` lists a directive's tasks; \`baton directive logs\` prints all their output.\n`;
      for (const args of [["task", "logs", unknown], ["task", "logs", unknown, "--follow"]]) {
        const r = await cli(args, { env });
        assert.deepEqual([r.code, r.stdout, r.stderr], [1, "", missing]);
      }
      const noDirective = await cli(["directive", "logs", unknown], { env });
      assert.deepEqual([noDirective.code, noDirective.stderr], [1, `baton: Directive ${unknown} does not exist. List your directives with \`baton directive list\`.\n`]);
      const twoIds = await cli(["directive", "logs", unknown, "--directive", created.rowId], { env });
      assert.deepEqual([twoIds.code, twoIds.stderr], [2, `baton: Two directives given (${unknown} and --directive ${created.rowId}); pass one.\n`]);
      const noneGiven = await cli(["directive", "logs"], { env: server.env });
      assert.deepEqual([noneGiven.code, noneGiven.stderr], [2, "baton: No directive given: pass --directive ID or set BATON_DIRECTIVE_ID.\n"]);

      // Another owner sees neither the task nor the directive: the same answers as for ids that do not exist.
      const bob = await cliJson<{ token: string }>(["owner", "create", "bob"], { env: { ...server.env, DATABASE_URL: e2e.db.url } });
      const bobEnv = { ...baseEnv(), BATON_API_URL: server.url, BATON_TOKEN: bob.token };
      const theirs = await cli(["task", "logs", talk, "--follow"], { env: bobEnv });
      assert.deepEqual([theirs.code, theirs.stdout, theirs.stderr], [1, "", missing.replace(unknown, talk)]);
      const theirDirective = await cli(["directive", "logs", created.rowId, "--follow"], { env: bobEnv });
      assert.deepEqual([theirDirective.code, theirDirective.stderr], [1, `baton: Directive ${created.rowId} does not exist. List your directives with \`baton directive list\`.\n`]);
    });
  });
});
