/*
 * Integration, the completion phase, with real processes: a server, a daemon, a git repository and a
 * scripted agent (a node script written by the test).
 *
 * Directive "Document": the planner adds a diamond (outline -> intro, body -> assemble) and an
 * independent "license" step, so the DAG has two sinks. The directive has a check (it records which
 * kind of task ran it) and an --on-complete command that records its environment and prints a URL.
 * When the last step settles, one integration task merges the two sinks onto main without an agent,
 * runs the check, pushes baton/<d>/result, runs --on-complete, and the directive goes idle with the
 * result recorded.
 *
 * Directive "Colors" (--target-branch colors/result): two independent steps write the same line of
 * shared.txt differently, so merging the two sinks conflicts; the integration's agent gets the
 * conflict with the integration prompt and resolves it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { cli, cliJson, cliOk, git, isAncestor, makeRepo, startDaemon, startServer, useE2E, writeAgent, type CliResult, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();

type Task = { rowId: string; kind: string; status: string; attempt: number | null; branch: string | null; commitSha: string | null; checkCommand: string | null; error: string | null };
type Step = { rowId: string; name: string; status: string; currentTask: { commitSha: string | null } | null };
type Status = {
  directive: { rowId: string; status: string; targetBranch: string; resultBranch: string | null; resultCommit: string | null; resultUrl: string | null; resultAt: string | null };
  steps: Step[];
  tasks: Task[];
};

const AGENT = `
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const prompt = fs.readFileSync(0, "utf8");
const kind = process.env.BATON_TASK_KIND;
if (kind === "planning") {
  const colors = prompt.includes("COLORS");
  const steps = colors
    ? [{ name: "Paint it red" }, { name: "Paint it blue" }]
    : [
        { key: "outline", name: "Write the outline" },
        { key: "intro", name: "Write the introduction", dependsOn: ["outline"] },
        { key: "body", name: "Write the body", dependsOn: ["outline"] },
        { key: "assemble", name: "Assemble the document", dependsOn: ["intro", "body"] },
        { key: "license", name: "Add a license" },
      ];
  execFileSync("baton", ["directive", "batch-add-steps", "--json", JSON.stringify(steps)], { stdio: "inherit" });
  process.exit(0);
}
if (kind === "integration") {
  fs.writeFileSync(path.join(process.env.E2E_MARKS, "integration-" + process.env.BATON_TASK_ID + ".md"), prompt);
  const text = fs.readFileSync("shared.txt", "utf8");
  if (!text.includes("<<<<<<< ")) { console.error("no conflict markers in shared.txt"); process.exit(1); }
  fs.writeFileSync("shared.txt", "color = purple (red + blue)\\n");
  execFileSync("git", ["add", "shared.txt"]);
  console.log("resolved shared.txt during integration");
  process.exit(0);
}
const step = /^# Your step: (.+)$/m.exec(prompt)[1];
const paint = /^Paint it (\\w+)$/.exec(step);
if (paint) fs.writeFileSync("shared.txt", "color = " + paint[1] + "\\n");
else fs.writeFileSync(step.toLowerCase().replace(/[^a-z]+/g, "-") + ".txt", step + "\\n");
`;

// The check records the kind of task that ran it; the on-complete command records its environment and prints a URL.
const CHECK = `echo "$BATON_TASK_KIND" >> "$E2E_MARKS/checks"`;
const ON_COMPLETE = `printf '%s %s %s\\n' "$BATON_RESULT_BRANCH" "$BATON_RESULT_COMMIT" "$BATON_DIRECTIVE_ID" > "$E2E_MARKS/on-complete"; echo "Opened https://example.test/pulls/7."`;

describe("integration", () => {
  let server: ServerProcess;
  let repo: string;
  let marks: string;
  const runs = {} as Record<"document" | "colors", { id: string; watched: CliResult; status: Status; text: string }>;

  before(async () => {
    repo = makeRepo(e2e);
    fs.writeFileSync(path.join(repo, "shared.txt"), "color = none\n");
    git(repo, "add", "shared.txt");
    git(repo, "commit", "--quiet", "-m", "shared.txt");
    marks = e2e.tempDir("marks");
    server = await startServer(e2e);
    const [document, colors] = await Promise.all([
      cliJson<{ rowId: string }>(
        ["directive", "create", "--title", "Document", "--goal", "Write a document and license it", "--repo", repo, "--check", CHECK, "--on-complete", ON_COMPLETE, "--start"],
        { env: server.env },
      ),
      cliJson<{ rowId: string }>(["directive", "create", "--title", "Colors", "--goal", "COLORS: paint red and blue", "--repo", repo, "--target-branch", "colors/result", "--start"], {
        env: server.env,
      }),
      startDaemon(e2e, server, { agentCommand: writeAgent(e2e, AGENT, "agent.js"), maxTasks: 2, env: { E2E_MARKS: marks } }),
    ]);
    for (const [key, created] of [["document", document], ["colors", colors]] as const) {
      const watched = await cli(["directive", "watch", "--directive", created.rowId], { env: server.env, timeoutMs: 120_000 });
      const status = await cliJson<Status>(["directive", "status", "--directive", created.rowId], { env: server.env });
      const text = await cliOk(["directive", "status", "--directive", created.rowId], { env: server.env });
      runs[key] = { id: created.rowId, watched, status, text };
    }
  });

  const step = (s: Status, name: string) => s.steps.find((x) => x.name === name)!;
  const integrations = (s: Status) => s.tasks.filter((t) => t.kind === "integration");

  it("ends a diamond with one pushed result branch holding every sink's work, recorded on the directive", () => {
    const { id, watched, status } = runs.document;
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    const d = status.directive;
    const branch = `baton/${id.replace(/-/g, "").slice(0, 8)}/result`;
    assert.deepEqual([d.status, d.targetBranch, d.resultBranch], ["idle", branch, branch]);
    assert.equal(git(repo, "rev-parse", branch), d.resultCommit, "the branch was pushed at the recorded commit");
    for (const sink of ["Assemble the document", "Add a license"]) assert.ok(isAncestor(repo, step(status, sink).currentTask!.commitSha!, d.resultCommit!), `${sink} is in the result`);
    assert.ok(isAncestor(repo, git(repo, "rev-parse", "main"), d.resultCommit!), "the result starts from main");
    assert.deepEqual(git(repo, "ls-tree", "--name-only", d.resultCommit!).split("\n").sort(), [
      "README.md",
      "add-a-license.txt",
      "assemble-the-document.txt",
      "shared.txt",
      "write-the-body.txt",
      "write-the-introduction.txt",
      "write-the-outline.txt",
    ]);
  });

  it("runs one integration task, without an agent, through the directive's check", () => {
    const { status } = runs.document;
    const [only, ...more] = integrations(status);
    assert.deepEqual(more, []);
    assert.deepEqual([only!.status, only!.attempt, only!.checkCommand, only!.branch, only!.commitSha], ["completed", 1, CHECK, status.directive.resultBranch, status.directive.resultCommit]);
    const checks = fs.readFileSync(path.join(marks, "checks"), "utf8").trim().split("\n");
    assert.deepEqual(checks.filter((k) => k === "integration"), ["integration"], `the checks that ran: ${checks.join(", ")}`);
    assert.equal(checks.filter((k) => k === "execution").length, 5);
  });

  it("runs --on-complete with the result's environment and records the URL it printed", () => {
    const { id, status } = runs.document;
    assert.equal(status.directive.resultUrl, "https://example.test/pulls/7");
    assert.equal(fs.readFileSync(path.join(marks, "on-complete"), "utf8"), `${status.directive.resultBranch} ${status.directive.resultCommit} ${id}\n`);
  });

  it("shows the result in directive status and at the end of watch", async () => {
    const { id, watched, status, text } = runs.document;
    const line = `result: ${status.directive.resultBranch} at ${status.directive.resultCommit!.slice(0, 10)} (https://example.test/pulls/7)`;
    assert.ok(text.includes(`\n${line}\n`), text);
    assert.deepEqual(watched.stdout.trim().split("\n").slice(-2), [line, "idle: 5/5 steps settled, outcome succeeded"]);
    const logs = await cliOk(["task", "logs", integrations(status)[0]!.rowId], { env: { ...server.env, BATON_DIRECTIVE_ID: id } });
    assert.match(logs, /\[baton\] Integrating into baton\/[0-9a-f]{8}\/result from main: merging "Assemble the document" \([0-9a-f]{10}\), "Add a license" \([0-9a-f]{10}\)\.\n\[baton\] Merged without conflict; no agent runs\.\n/);
    assert.match(logs, /\[baton\] The on-complete command finished; the result's URL: https:\/\/example\.test\/pulls\/7\n/);
    const all = await cliOk(["directive", "logs", "--directive", id], { env: server.env });
    assert.match(all, /\nintegration #1 \| \[baton\] Integrating into baton\/[0-9a-f]{8}\/result from main: /);
  });

  it("hands a conflict between two sinks to the integration's agent, whose resolution is the result", () => {
    const { watched, status } = runs.colors;
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    const d = status.directive;
    assert.deepEqual([d.status, d.resultBranch, d.resultUrl], ["idle", "colors/result", null]);
    assert.equal(git(repo, "rev-parse", "colors/result"), d.resultCommit);
    for (const sink of ["Paint it red", "Paint it blue"]) assert.ok(isAncestor(repo, step(status, sink).currentTask!.commitSha!, d.resultCommit!), `${sink} is in the result`);
    assert.equal(git(repo, "show", `${d.resultCommit}:shared.txt`), "color = purple (red + blue)");
    assert.match(git(repo, "log", "-1", "--format=%s", d.resultCommit!), /^Merge "Paint it (red|blue)" \([0-9a-f]{10}\), conflicts resolved by the agent$/);
    const [task] = integrations(status);
    const prompt = fs.readFileSync(path.join(marks, `integration-${task!.rowId}.md`), "utf8");
    assert.match(
      prompt,
      /^# First: resolve a merge conflict\nEvery step of the directive is done, so the daemon is merging the branches of its last steps into one result, starting from the base branch\. Merging "Paint it (red|blue)" \(commit [0-9a-f]{10}\) conflicted, [^\n]*\n- shared\.txt\n\nWhat to do:\n/,
    );
    assert.ok(prompt.includes("\n# Directive: Colors\nCOLORS: paint red and blue\n"), prompt);
    assert.ok(prompt.includes("It is pushed as the branch `colors/result`."), prompt);
  });
});
