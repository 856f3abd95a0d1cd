/*
 * A join's workspace (src/daemon/workspace.ts) on a real repository: when its dependencies conflict,
 * the merge is left in progress for the agent, and `finish` concludes a merge the agent resolved
 * without committing, as a merge commit holding both dependencies.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { prepareWorkspace, type WorkspaceInfo } from "../../src/daemon/workspace";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `baton-workspace-${prefix}-`));
  dirs.push(dir);
  return dir;
};
const sh = (dir: string, ...args: string[]) =>
  execFileSync("git", ["-C", dir, "-c", "user.name=T", "-c", "user.email=t@localhost", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/** The "remote": main with shared.txt, and branches red and blue that change its line differently. */
function origin(): { repo: string; info: WorkspaceInfo } {
  const repo = tempDir("origin");
  sh(repo, "init", "--quiet", "--initial-branch=main");
  fs.writeFileSync(path.join(repo, "shared.txt"), "color = none\n");
  sh(repo, "add", ".");
  sh(repo, "commit", "--quiet", "-m", "base");
  const dependencies = ["red", "blue"].map((color, i) => {
    sh(repo, "checkout", "--quiet", "-b", color, "main");
    fs.writeFileSync(path.join(repo, "shared.txt"), `color = ${color}\n`);
    sh(repo, "commit", "--quiet", "-am", color);
    return { step_id: `step-${i}`, name: `Paint it ${color}`, status: "completed", branch: color, commit_sha: sh(repo, "rev-parse", "HEAD") };
  });
  sh(repo, "checkout", "--quiet", "main");
  return { repo, info: { repo, base_branch: "main", directive_title: "Colors", step_name: "Mix the colors", dependencies } };
}

const task = (id: string) => ({ id, kind: "execution" as const, directiveId: "d1d1d1d1-0000-4000-8000-000000000001", stepId: "a1a1a1a1-0000-4000-8000-000000000001" });

describe("a join's workspace whose dependencies conflict", () => {
  it("is handed over with the merge in progress and the conflicted file named", async () => {
    const { info } = origin();
    const ws = await prepareWorkspace(tempDir("work"), task("00000000-0000-4000-8000-000000000001"), info);
    try {
      assert.deepEqual(ws.conflict, { dependency: { name: "Paint it blue", commit: info.dependencies[1]!.commit_sha }, files: ["shared.txt"], pending: [] });
      assert.match(fs.readFileSync(path.join(ws.dir, "shared.txt"), "utf8"), /^<<<<<<< HEAD\ncolor = red\n=======\ncolor = blue\n>>>>>>> /);
      assert.match((await ws.unresolvedConflict()) ?? "", /^The agent exited 0 but left conflict markers in shared\.txt\. /);
    } finally {
      await ws.dispose();
    }
    assert.equal(fs.existsSync(ws.dir), false, "a worktree with a merge in progress is removed too");
  });

  it("finish concludes a merge the agent resolved but did not commit, and pushes a commit holding both dependencies", async () => {
    const { repo, info } = origin();
    const ws = await prepareWorkspace(tempDir("work"), task("00000000-0000-4000-8000-000000000002"), info);
    try {
      fs.writeFileSync(path.join(ws.dir, "shared.txt"), "color = purple\n");
      fs.writeFileSync(path.join(ws.dir, "mix.txt"), "mixed\n");
      assert.equal(await ws.unresolvedConflict(), null);
      const { branch, commit } = await ws.finish("Mix the colors\n\nBaton task 2", async () => undefined);
      assert.equal(sh(repo, "rev-parse", branch!), commit);
      assert.deepEqual(sh(repo, "log", "-1", "--format=%P", commit!).split(" "), info.dependencies.map((d) => d.commit_sha));
      assert.equal(
        sh(repo, "log", "-1", "--format=%B", commit!),
        `Merge "Paint it blue" (${info.dependencies[1]!.commit_sha!.slice(0, 10)}), conflicts resolved by the agent\n\nMix the colors\n\nBaton task 2`,
      );
      assert.equal(sh(repo, "show", `${commit}:shared.txt`), "color = purple");
      assert.equal(sh(repo, "show", `${commit}:mix.txt`), "mixed");
    } finally {
      await ws.dispose();
    }
  });

  it("finish concludes the merge even when the agent kept one side unchanged", async () => {
    const { repo, info } = origin();
    const ws = await prepareWorkspace(tempDir("work"), task("00000000-0000-4000-8000-000000000003"), info);
    try {
      fs.writeFileSync(path.join(ws.dir, "shared.txt"), "color = red\n");
      const { commit } = await ws.finish("Mix the colors", async () => undefined);
      assert.equal(sh(repo, "log", "-1", "--format=%P", commit!).split(" ").length, 2, "a merge commit, though its tree equals the first parent's");
    } finally {
      await ws.dispose();
    }
  });
});
