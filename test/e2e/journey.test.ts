/*
 * The README's walkthrough with real processes: a server, a daemon running the example agent, and the
 * CLI. `directive create --start` plans a diamond (outline → intro, body → assemble); each step runs
 * in a git worktree of a repository the test made; `watch` returns when the directive is idle. The
 * tests below read what that one run left behind.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { cli, cliJson, cliOk, EXAMPLE_AGENT, git, isAncestor, makeRepo, startDaemon, startServer, useE2E, type CliResult, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();

type Step = { rowId: string; name: string; status: string; attempts: number; dependsOn: string[]; currentTask: { rowId: string; branch: string | null; commitSha: string | null } | null };
type Status = { directive: { rowId: string; status: string }; steps: Step[]; tasks: { kind: string; status: string; error: string | null }[] };

describe("directive create --start with the example agent", () => {
  let server: ServerProcess;
  let repo: string;
  let created: { rowId: string; status: string; repo: string };
  let watched: CliResult;
  let status: Status;
  const step = (name: string) => {
    const s = status.steps.find((x) => x.name === name);
    assert.ok(s, `no step named "${name}" in ${status.steps.map((x) => x.name).join(", ")}`);
    return s;
  };

  before(async () => {
    repo = makeRepo(e2e);
    server = await startServer(e2e);
    // The directive waits for a daemon to plan it, so the two can start side by side.
    [created] = await Promise.all([
      cliJson(["directive", "create", "--title", "Demo document", "--goal", "Write a short document in four parts", "--repo", repo, "--start"], { env: server.env }),
      startDaemon(e2e, server, { agentCommand: `node ${JSON.stringify(EXAMPLE_AGENT)}`, maxTasks: 2 }),
    ]);
    watched = await cli(["directive", "watch", "--directive", created.rowId], { env: server.env, timeoutMs: 90_000 });
    status = await cliJson(["directive", "status", "--directive", created.rowId], { env: server.env });
  });

  it("creates an active directive on the repository", () => {
    assert.equal(created.status, "active");
    assert.equal(created.repo, repo);
  });

  it("watch exits 0 once the directive is idle with every step completed", () => {
    assert.equal(watched.code, 0, `watch exited ${watched.code}\n${watched.stdout}\n${watched.stderr}`);
    assert.match(watched.stdout.trim().split("\n").at(-1)!, /^idle: 4\/4 steps settled, outcome succeeded$/);
  });

  it("status --json shows the directive idle and every step completed once, with its dependencies", () => {
    assert.equal(status.directive.status, "idle");
    assert.deepEqual(status.steps.map((s) => [s.name, s.status, s.attempts]).sort(), [
      ["Assemble the document", "completed", 1],
      ["Write the body", "completed", 1],
      ["Write the introduction", "completed", 1],
      ["Write the outline", "completed", 1],
    ], `tasks: ${JSON.stringify(status.tasks.filter((t) => t.status !== "completed"))}`);
    const outline = step("Write the outline");
    assert.deepEqual(outline.dependsOn, []);
    assert.deepEqual(step("Write the introduction").dependsOn, [outline.rowId]);
    assert.deepEqual(step("Write the body").dependsOn, [outline.rowId]);
    assert.deepEqual(step("Assemble the document").dependsOn.sort(), [step("Write the introduction").rowId, step("Write the body").rowId].sort());
    assert.deepEqual(status.tasks.map((t) => [t.kind, t.status]).sort(), [
      ["execution", "completed"],
      ["execution", "completed"],
      ["execution", "completed"],
      ["execution", "completed"],
      ["integration", "completed"],
      ["planning", "completed"],
    ]);
  });

  it("pushes one branch per step attempt, baton/<directive>/<step>-<slug>-<task>, to the repository", () => {
    const short = (id: string) => id.replace(/-/g, "").slice(0, 8);
    const branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/baton/").split("\n").sort();
    const expected = status.steps
      .map((s) => `baton/${short(created.rowId)}/${short(s.rowId)}-${s.name.toLowerCase().replace(/ /g, "-")}-${short(s.currentTask!.rowId)}`)
      .sort();
    // ... and the integrated result (sql/000020_integration.sql, test/e2e/integration.test.ts).
    assert.deepEqual(branches, [...expected, `baton/${short(created.rowId)}/result`].sort());
    for (const s of status.steps) {
      assert.equal(s.currentTask?.branch, expected.find((b) => b.includes(short(s.rowId))));
      assert.equal(git(repo, "rev-parse", s.currentTask!.branch!), s.currentTask!.commitSha, `${s.name}: the branch is at the reported commit`);
    }
  });

  it("starts each step from its dependencies' commits: the join's branch contains both parents", () => {
    const commit = (name: string) => step(name).currentTask!.commitSha!;
    const [outline, intro, body, join] = ["Write the outline", "Write the introduction", "Write the body", "Assemble the document"].map(commit);
    assert.ok(isAncestor(repo, outline!, intro!), "the introduction starts from the outline");
    assert.ok(isAncestor(repo, outline!, body!), "the body starts from the outline");
    assert.ok(isAncestor(repo, intro!, join!), "the join contains the introduction");
    assert.ok(isAncestor(repo, body!, join!), "the join contains the body");
    assert.ok(!isAncestor(repo, intro!, body!) && !isAncestor(repo, body!, intro!), "the two parents ran side by side");
    assert.ok(isAncestor(repo, git(repo, "rev-parse", "main"), outline!), "the root step starts from main");
    const files = git(repo, "ls-tree", "--name-only", join!).split("\n").sort();
    assert.deepEqual(files, ["README.md", "assemble-the-document.txt", "write-the-body.txt", "write-the-introduction.txt", "write-the-outline.txt"]);
    assert.equal(git(repo, "rev-parse", "main"), git(repo, "rev-list", "--max-parents=0", "main"), "main is untouched");
    // One last step: the integrated result is the join's commit.
    assert.equal(git(repo, "rev-parse", `baton/${created.rowId.replace(/-/g, "").slice(0, 8)}/result`), join);
  });

  it("graph prints Mermaid with every step name and the four edges", async () => {
    const mermaid = await cliOk(["directive", "graph", "--directive", created.rowId], { env: server.env });
    assert.match(mermaid, /^flowchart TD\n/);
    for (const s of status.steps) assert.ok(mermaid.includes(`["${s.name}<br/>g1 · completed"]:::completed`), `${s.name} in:\n${mermaid}`);
    assert.equal(mermaid.match(/ --> /g)?.length, 4);
  });

  it("graph --format dot prints DOT with every step name and the four edges", async () => {
    const dot = await cliOk(["directive", "graph", "--directive", created.rowId, "--format", "dot"], { env: server.env });
    assert.match(dot, /^digraph directive \{\n[\s\S]*\}\n$/);
    for (const s of status.steps) assert.ok(dot.includes(`"${s.rowId}" [label="${s.name}\\ng1 · completed"`), `${s.name} in:\n${dot}`);
    const join = step("Assemble the document");
    for (const parent of join.dependsOn) assert.ok(dot.includes(`"${parent}" -> "${join.rowId}";`));
    assert.equal(dot.match(/ -> /g)?.length, 4);
  });
});
