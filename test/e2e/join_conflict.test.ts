/*
 * A join whose parents conflict, with real processes: a server, a daemon, a git repository and a
 * scripted agent (a node script written by the test). The planner adds "Paint it red" and "Paint it
 * blue", which change the same line of shared.txt differently, and "Mix the colors", which depends on
 * both. The daemon leaves the merge in progress in the join's worktree and puts the conflict first in
 * its prompt. One directive's join agent resolves it (git add, no commit: the daemon concludes the
 * merge); the other's exits 0 leaving the markers, and both its attempts fail with that reason.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { cli, cliJson, git, isAncestor, makeRepo, startDaemon, startServer, useE2E, writeAgent, type CliResult, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();

type Task = { rowId: string; kind: string; status: string; stepId: string | null; attempt: number | null; branch: string | null; commitSha: string | null; error: string | null };
type Step = { rowId: string; name: string; status: string; attempts: number; currentTask: { branch: string | null; commitSha: string | null } | null };
type Status = { directive: { status: string }; steps: Step[]; tasks: Task[] };

/*
 * The agent. Planning: the three steps. "Paint it <color>": writes shared.txt. "Mix the colors":
 * saves its prompt (read from stdin) under E2E_PROMPTS, checks that the prompt opens with the conflict
 * and names shared.txt, then resolves it and `git add`s it, unless the goal says LEAVE THE MARKERS.
 */
const AGENT = `
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const prompt = fs.readFileSync(0, "utf8");
if (process.env.BATON_TASK_KIND === "planning") {
  const steps = [
    { key: "red", name: "Paint it red" },
    { key: "blue", name: "Paint it blue" },
    { key: "mix", name: "Mix the colors", dependsOn: ["red", "blue"] },
  ];
  execFileSync("baton", ["directive", "batch-add-steps", "--json", JSON.stringify(steps)], { stdio: "inherit" });
  process.exit(0);
}
const step = /^# Your step: (.+)$/m.exec(prompt)[1];
const paint = /^Paint it (\\w+)$/.exec(step);
if (paint) {
  fs.writeFileSync("shared.txt", "color = " + paint[1] + "\\n");
  process.exit(0);
}
fs.writeFileSync(require("node:path").join(process.env.E2E_PROMPTS, process.env.BATON_TASK_ID + ".md"), prompt);
if (!prompt.startsWith("# First: resolve a merge conflict\\n") || !/^- shared\\.txt$/m.test(prompt)) {
  console.error("the prompt does not open with the conflict in shared.txt");
  process.exit(1);
}
const text = fs.readFileSync("shared.txt", "utf8");
if (!text.includes("<<<<<<< ")) {
  console.error("shared.txt holds no conflict markers:\\n" + text);
  process.exit(1);
}
fs.writeFileSync("mix.txt", "mixed\\n");
if (prompt.includes("LEAVE THE MARKERS")) process.exit(0);
fs.writeFileSync("shared.txt", "color = purple (red + blue)\\n");
execFileSync("git", ["add", "shared.txt"]);
console.log("resolved shared.txt");
`;

const MARKERS_ERROR =
  "The agent exited 0 but left conflict markers in shared.txt. Resolve every conflict, remove the markers and conclude the merge (git add, git commit) before exiting 0.";

describe("a join whose parents conflict", () => {
  let server: ServerProcess;
  let repo: string;
  let prompts: string;
  const runs: Record<"resolves" | "leaves", { id: string; watched: CliResult; status: Status }> = {} as never;

  before(async () => {
    repo = makeRepo(e2e);
    fs.writeFileSync(path.join(repo, "shared.txt"), "color = none\n");
    git(repo, "add", "shared.txt");
    git(repo, "commit", "--quiet", "-m", "shared.txt");
    prompts = e2e.tempDir("prompts");
    server = await startServer(e2e);
    const create = (goal: string) => cliJson<{ rowId: string }>(["directive", "create", "--title", "Colors", "--goal", goal, "--repo", repo, "--start"], { env: server.env });
    const [resolves, leaves] = await Promise.all([
      create("Mix red and blue."),
      create("Mix red and blue. LEAVE THE MARKERS."),
      startDaemon(e2e, server, { agentCommand: writeAgent(e2e, AGENT, "agent.js"), maxTasks: 2, env: { E2E_PROMPTS: prompts } }),
    ]);
    for (const [key, created] of [["resolves", resolves], ["leaves", leaves]] as const) {
      const watched = await cli(["directive", "watch", "--directive", created.rowId], { env: server.env, timeoutMs: 120_000 });
      const status = await cliJson<Status>(["directive", "status", "--directive", created.rowId], { env: server.env });
      runs[key] = { id: created.rowId, watched, status };
    }
  });

  const step = (s: Status, name: string) => s.steps.find((x) => x.name === name)!;
  const joinTasks = (s: Status) => s.tasks.filter((t) => t.stepId === step(s, "Mix the colors").rowId);
  const promptOf = (task: Task) => fs.readFileSync(path.join(prompts, `${task.rowId}.md`), "utf8");

  it("hands the conflict to the join's agent: its prompt opens by naming the conflicted file", () => {
    const [task] = joinTasks(runs.resolves.status);
    const prompt = promptOf(task!);
    assert.match(prompt, /^# First: resolve a merge conflict\nYour step depends on several steps, so the daemon merged their branches into your worktree\. Merging "Paint it (red|blue)" \(commit [0-9a-f]{10}\) conflicted, and the merge is still in progress \(`git status` shows it\)\. The conflicted files:\n- shared\.txt\n\n/);
    assert.match(prompt, /\n---\n\nYou are a coding agent carrying out one step of a larger plan/, "then the server's prompt");
    assert.match(prompt, /^# Your step: Mix the colors$/m);
  });

  it("completes the join whose agent resolved the conflict, with a commit holding both parents and no markers", () => {
    const { watched, status } = runs.resolves;
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    assert.deepEqual(status.steps.map((s) => [s.name, s.status, s.attempts]).sort(), [
      ["Mix the colors", "completed", 1],
      ["Paint it blue", "completed", 1],
      ["Paint it red", "completed", 1],
    ]);
    const commit = step(status, "Mix the colors").currentTask!.commitSha!;
    for (const parent of ["Paint it red", "Paint it blue"]) assert.ok(isAncestor(repo, step(status, parent).currentTask!.commitSha!, commit), `${parent} is in the join's commit`);
    assert.equal(git(repo, "show", `${commit}:shared.txt`), "color = purple (red + blue)");
    assert.equal(git(repo, "show", `${commit}:mix.txt`), "mixed");
    const files = git(repo, "ls-tree", "-r", "--name-only", commit).split("\n");
    assert.deepEqual(files.filter((f) => /^(<{7} |={7}$|>{7} )/m.test(git(repo, "show", `${commit}:${f}`))), [], `no file of ${files.join(", ")} holds a marker`);
  });

  it("concludes the merge the agent left uncommitted as a merge commit of both parents", () => {
    const { status } = runs.resolves;
    const commit = step(status, "Mix the colors").currentTask!.commitSha!;
    assert.deepEqual(git(repo, "log", "-1", "--format=%P", commit).split(" ").sort(), [step(status, "Paint it red").currentTask!.commitSha!, step(status, "Paint it blue").currentTask!.commitSha!].sort());
    assert.match(git(repo, "log", "-1", "--format=%s", commit), /^Merge "Paint it (red|blue)" \([0-9a-f]{10}\), conflicts resolved by the agent$/);
  });

  it("fails each attempt of a join whose agent exits 0 leaving the markers, naming the file", () => {
    const { watched, status } = runs.leaves;
    assert.equal(watched.code, 1, watched.stdout + watched.stderr);
    const join = step(status, "Mix the colors");
    assert.deepEqual([join.status, join.attempts], ["failed", 2]);
    assert.deepEqual(joinTasks(status).map((t) => [t.attempt, t.status, t.error]), [
      [1, "failed", MARKERS_ERROR],
      [2, "failed", MARKERS_ERROR],
    ]);
    assert.equal(git(repo, "for-each-ref", "--format=%(refname)", `refs/heads/${joinTasks(status)[0]!.branch}`), "", "an unresolved merge is never pushed");
  });

  it("gives the retry the conflict again, and the previous attempt's reason", () => {
    const retry = promptOf(joinTasks(runs.leaves.status)[1]!);
    assert.match(retry, /^# First: resolve a merge conflict\n/);
    assert.ok(retry.includes(`# This is attempt 2 of 2\nThe previous attempt failed with:\n\`\`\`\n${MARKERS_ERROR}\n\`\`\``), retry);
  });
});
