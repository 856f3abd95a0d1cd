/*
 * The whole day (issue 11, "Done when"), with real processes: a `baton server` whose sweep runs every
 * 200 ms (BATON_SWEEP_MS), one `baton daemon run`, a git repository made by the test and a scripted
 * agent (a node script written by the test). One directive, "Colors", with a directive check and an
 * --on-complete command, goes from its plan to its result:
 *
 *   the planner adds a diamond: "Lay the ground" -> "Paint it blue", "Paint it red" -> "Mix the colors";
 *   "Paint it blue" has a check of its own that fails on its first attempt (the agent writes "pale")
 *     and passes on the retry, whose prompt quotes the failure (the agent then writes "blue");
 *   "Paint it red" has a 1s stall limit: its first attempt prints a line and then hangs silently, the
 *     server's sweep interrupts it, the daemon kills it, and the retry completes;
 *   blue and red write the same line of shared.txt, so the join's parents conflict: the join's agent
 *     gets the merge in progress and resolves it;
 *   integration merges the only sink into baton/<d>/result, runs the directive's check there, pushes it
 *     and runs --on-complete, which prints a URL that is recorded; `watch` ends with the result;
 *   `baton task logs` shows what an agent printed.
 *
 * The directive's check (it applies to every step without its own, and to the integration) records the
 * kind of task that ran it and fails on a conflict marker in shared.txt. Nothing waits on a sleep.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { running } from "../helpers/faults";
import { cli, cliJson, cliOk, git, isAncestor, makeRepo, startDaemon, startServer, useE2E, waitForE2E, writeAgent, type CliResult, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();

type Task = { rowId: string; kind: string; status: string; stepId: string | null; attempt: number | null; branch: string | null; commitSha: string | null; checkCommand: string | null; error: string | null };
type Step = { rowId: string; name: string; status: string; attempts: number; checkCommand: string | null; currentTask: { commitSha: string | null } | null };
type Status = {
  directive: { rowId: string; status: string; checkCommand: string | null; resultBranch: string | null; resultCommit: string | null; resultUrl: string | null };
  steps: Step[];
  tasks: Task[];
};

const BLUE_CHECK = `grep -q '^color = blue$' shared.txt || { echo "shared.txt says: $(cat shared.txt)"; exit 4; }`;
const CHECK = `echo "$BATON_TASK_KIND" >> "$E2E_MARKS/checks" && ! grep -q '^<<<<<<< ' shared.txt`;
const ON_COMPLETE = `echo "Opened https://example.test/colors/pull/11 for $BATON_RESULT_BRANCH"`;

/*
 * The agent keeps every prompt (E2E_MARKS/<task>.md), then: planning adds the diamond; "Lay the
 * ground" writes ground.txt; "Paint it blue" writes "pale" unless its prompt quotes its failed check;
 * "Paint it red" hangs silently on its first attempt (a mark file remembers it); "Mix the colors"
 * resolves the conflict the daemon left in shared.txt and `git add`s it.
 */
const AGENT = String.raw`
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const marks = process.env.E2E_MARKS;
const prompt = fs.readFileSync(0, "utf8");
fs.writeFileSync(path.join(marks, process.env.BATON_TASK_ID + ".md"), prompt);
if (process.env.BATON_TASK_KIND === "planning") {
  const steps = [
    { key: "ground", name: "Lay the ground" },
    { key: "blue", name: "Paint it blue", dependsOn: ["ground"], check: process.env.E2E_BLUE_CHECK },
    { key: "red", name: "Paint it red", dependsOn: ["ground"], stall: "1s" },
    { key: "mix", name: "Mix the colors", dependsOn: ["blue", "red"] },
  ];
  execFileSync("baton", ["directive", "batch-add-steps", "--json", JSON.stringify(steps)], { stdio: "inherit" });
  console.log("planned a diamond of 4 steps");
  process.exit(0);
}
const step = /^# Your step: (.+)$/m.exec(prompt)[1];
if (step === "Lay the ground") {
  fs.writeFileSync("ground.txt", "ground\n");
  console.log("ground: laid ground.txt");
} else if (step === "Paint it blue") {
  const quoted = prompt.includes("The previous attempt failed with:") && prompt.includes("shared.txt says: color = pale");
  fs.writeFileSync("shared.txt", "color = " + (quoted ? "blue" : "pale") + "\n");
  console.log("blue: painted " + (quoted ? "blue" : "pale"));
} else if (step === "Paint it red") {
  const ran = path.join(marks, "red-ran");
  if (!fs.existsSync(ran)) {
    fs.writeFileSync(ran, String(process.pid));
    console.log("red: thinking very hard");
    setInterval(() => undefined, 60_000); // silent until the sweep interrupts it
    return;
  }
  fs.writeFileSync("shared.txt", "color = red\n");
  console.log("red: painted red");
} else {
  const text = fs.readFileSync("shared.txt", "utf8");
  if (!text.includes("<<<<<<< ")) { console.error("no conflict markers in shared.txt"); process.exit(1); }
  fs.writeFileSync("shared.txt", "color = purple (blue + red)\n");
  execFileSync("git", ["add", "shared.txt"]);
  fs.writeFileSync("mix.txt", "mixed\n");
  console.log("mix: resolved shared.txt");
}
`;

describe("the whole day", () => {
  let server: ServerProcess;
  let repo: string;
  let marks: string;
  let id: string;
  let watched: CliResult;
  let s: Status;

  before(async () => {
    repo = makeRepo(e2e);
    fs.writeFileSync(path.join(repo, "shared.txt"), "color = none\n");
    git(repo, "add", "shared.txt");
    git(repo, "commit", "--quiet", "-m", "shared.txt");
    marks = e2e.tempDir("marks");
    server = await startServer(e2e, { env: { BATON_SWEEP_MS: "200" } });
    const [created] = await Promise.all([
      cliJson<{ rowId: string }>(
        ["directive", "create", "--title", "Colors", "--goal", "Paint blue and red on the ground, then mix them", "--repo", repo, "--check", CHECK, "--on-complete", ON_COMPLETE, "--start"],
        { env: server.env },
      ),
      startDaemon(e2e, server, { agentCommand: writeAgent(e2e, AGENT, "agent.js"), maxTasks: 3, env: { E2E_MARKS: marks, E2E_BLUE_CHECK: BLUE_CHECK } }),
    ]);
    id = created.rowId;
    // watch is the wait: it ends when the directive is idle with its result (or paused, or failed).
    watched = await cli(["directive", "watch", "--directive", id], { env: server.env, timeoutMs: 180_000 });
    s = await cliJson<Status>(["directive", "status", "--directive", id], { env: server.env });
  });

  const step = (name: string) => s.steps.find((x) => x.name === name)!;
  const tasksOf = (name: string) => s.tasks.filter((t) => t.stepId === step(name).rowId).sort((a, b) => a.attempt! - b.attempt!);
  const promptOf = (t: Task) => fs.readFileSync(path.join(marks, `${t.rowId}.md`), "utf8");

  it("plans a diamond under the directive's check, and every step completes", () => {
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.equal(s.directive.checkCommand, CHECK);
    assert.deepEqual(s.steps.map((x) => [x.name, x.status, x.attempts, x.checkCommand]).sort(), [
      ["Lay the ground", "completed", 1, null],
      ["Mix the colors", "completed", 1, null],
      ["Paint it blue", "completed", 2, BLUE_CHECK],
      ["Paint it red", "completed", 2, null],
    ]);
    assert.deepEqual(tasksOf("Lay the ground").map((t) => t.checkCommand), [CHECK], "a step without a check of its own runs the directive's");
  });

  it("fails blue's first attempt at its check, and its retry passes with the failure in its prompt", () => {
    const [one, two] = tasksOf("Paint it blue");
    const failure = `The check \`${BLUE_CHECK}\` exited with status 4; the end of its output:\nshared.txt says: color = pale`;
    assert.deepEqual([one!.status, one!.error], ["failed", failure]);
    assert.equal(two!.status, "completed");
    assert.ok(promptOf(two!).includes(`The previous attempt failed with:\n\`\`\`\n${failure}\n\`\`\``), promptOf(two!));
    assert.equal(git(repo, "show", `${two!.commitSha}:shared.txt`), "color = blue");
  });

  it("interrupts red's stalled first attempt, kills its agent, and its retry completes", async () => {
    const [one, two] = tasksOf("Paint it red");
    assert.deepEqual([one!.status, one!.error], ["interrupted", "Stalled: no output for 1s (the step's stall limit)."]);
    assert.equal(two!.status, "completed");
    const pid = Number(fs.readFileSync(path.join(marks, "red-ran"), "utf8"));
    await waitForE2E(e2e, `the stalled agent (pid ${pid}) to be killed`, () => !running(pid));
    const events = await cliOk(["directive", "events", "--directive", id], { env: server.env });
    assert.match(events, /running -> interrupted: Stalled: no output for 1s \(the step's stall limit\)\./);
  });

  it("hands the join's conflict to its agent, whose resolution is the join's commit", () => {
    const [mix] = tasksOf("Mix the colors");
    assert.match(promptOf(mix!), /^# First: resolve a merge conflict\n[^\n]*Merging "Paint it (blue|red)" \(commit [0-9a-f]{10}\) conflicted, [^\n]*\n- shared\.txt\n/);
    const commit = mix!.commitSha!;
    for (const parent of ["Paint it blue", "Paint it red"]) assert.ok(isAncestor(repo, step(parent).currentTask!.commitSha!, commit), `${parent} is in the join`);
    assert.equal(git(repo, "show", `${commit}:shared.txt`), "color = purple (blue + red)");
    assert.match(git(repo, "log", "-1", "--format=%s", commit), /^Merge "Paint it (blue|red)" \([0-9a-f]{10}\), conflicts resolved by the agent$/);
  });

  it("integrates into one pushed result branch that holds every step's work and passed the directive's check", () => {
    const d = s.directive;
    const branch = `baton/${id.replace(/-/g, "").slice(0, 8)}/result`;
    assert.deepEqual([d.status, d.resultBranch], ["idle", branch]);
    assert.equal(git(repo, "rev-parse", branch), d.resultCommit);
    for (const x of s.steps) assert.ok(isAncestor(repo, x.currentTask!.commitSha!, d.resultCommit!), `${x.name} is in the result`);
    assert.deepEqual(git(repo, "ls-tree", "--name-only", d.resultCommit!).split("\n").sort(), ["README.md", "ground.txt", "mix.txt", "shared.txt"]);
    assert.equal(git(repo, "show", `${d.resultCommit}:shared.txt`), "color = purple (blue + red)");
    const [integration, ...more] = s.tasks.filter((t) => t.kind === "integration");
    assert.deepEqual(more, []);
    assert.deepEqual([integration!.status, integration!.checkCommand, integration!.commitSha], ["completed", CHECK, d.resultCommit]);
    const checks = fs.readFileSync(path.join(marks, "checks"), "utf8").trim().split("\n");
    assert.equal(checks.at(-1), "integration", `the checks that ran: ${checks.join(", ")}`);
  });

  it("records the URL --on-complete printed, and watch ends with the result", () => {
    const d = s.directive;
    assert.equal(d.resultUrl, "https://example.test/colors/pull/11");
    assert.deepEqual(watched.stdout.trim().split("\n").slice(-2), [
      `result: ${d.resultBranch} at ${d.resultCommit!.slice(0, 10)} (https://example.test/colors/pull/11)`,
      "idle: 4/4 steps settled, outcome succeeded",
    ]);
  });

  it("watch, piped, prints each agent's output lines labelled by step and attempt", () => {
    const lines = watched.stdout.split("\n");
    for (const line of ["planner #1 | planned a diamond of 4 steps", "Paint it blue #1 | blue: painted pale", "Paint it blue #2 | blue: painted blue", "Paint it red #1 | red: thinking very hard", "Mix the colors #1 | mix: resolved shared.txt"]) {
      assert.ok(lines.includes(line), `watch printed ${JSON.stringify(line)}:\n${watched.stdout}`);
    }
  });

  it("watch exits 1 on a paused directive and says why", async () => {
    await cliOk(["directive", "pause", "--directive", id], { env: server.env });
    const paused = await cli(["directive", "watch", "--directive", id], { env: server.env });
    assert.equal(paused.code, 1, paused.stdout + paused.stderr);
    assert.deepEqual(paused.stdout.trim().split("\n").slice(-2), ["paused: Paused by hand. `baton directive start` resumes it", "paused: 4/4 steps settled, outcome paused"]);
  });

  it("baton task logs shows what an agent printed", async () => {
    const [mix] = tasksOf("Mix the colors");
    const logs = await cliOk(["task", "logs", mix!.rowId], { env: server.env });
    assert.ok(logs.includes("mix: resolved shared.txt\n"), logs);
    const [stalled] = tasksOf("Paint it red");
    assert.ok((await cliOk(["task", "logs", stalled!.rowId], { env: server.env })).includes("red: thinking very hard\n"));
  });
});
