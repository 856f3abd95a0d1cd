/*
 * A join's dependencies merged into its worktree, and the check after its agent (src/daemon/merge.ts),
 * on real temp repositories: a conflict is left in progress for the agent; what the agent leaves
 * undone (markers, unmerged paths, an aborted merge) is named; a resolved merge passes.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { mergeHead } from "../../src/daemon/git";
import { mergeDependencies, pendingMergeTitle, unresolvedMerge } from "../../src/daemon/merge";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const sh = (dir: string, ...args: string[]) =>
  execFileSync("git", ["-C", dir, "-c", "user.name=T", "-c", "user.email=t@localhost", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

type Dep = { name: string; commit: string };

/**
 * A repository on `main` (shared.txt, logo.bin) and one branch per dependency: red, blue and green
 * change shared.txt's one line differently, docs adds a file, pngs changes the binary logo.bin. The
 * worktree is checked out at red, as a join's worktree starts at its first dependency.
 */
function repo(): { dir: string; dep: Record<"red" | "blue" | "green" | "docs" | "pngs", Dep>; read: (f: string) => string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-merge-"));
  dirs.push(dir);
  const write = (f: string, text: string | Buffer) => fs.writeFileSync(path.join(dir, f), text);
  sh(dir, "init", "--quiet", "--initial-branch=main");
  write("shared.txt", "color = none\n");
  write("logo.bin", Buffer.from([0, 1, 2, 3, 0]));
  sh(dir, "add", ".");
  sh(dir, "commit", "--quiet", "-m", "base");
  const branch = (name: string, change: () => void) => {
    sh(dir, "checkout", "--quiet", "-b", name, "main");
    change();
    sh(dir, "add", ".");
    sh(dir, "commit", "--quiet", "-m", name);
    return { name: `Paint it ${name}`, commit: sh(dir, "rev-parse", "HEAD") };
  };
  const dep = {
    red: branch("red", () => write("shared.txt", "color = red\n")),
    blue: branch("blue", () => write("shared.txt", "color = blue\n")),
    green: branch("green", () => write("shared.txt", "color = green\n")),
    docs: branch("docs", () => write("docs.txt", "docs\n")),
    pngs: branch("pngs", () => write("logo.bin", Buffer.from([0, 9, 9, 9, 0]))),
  };
  sh(dir, "checkout", "--quiet", "red");
  return { dir, dep, read: (f) => fs.readFileSync(path.join(dir, f), "utf8") };
}

const contains = (dir: string, commit: string) => {
  try {
    sh(dir, "merge-base", "--is-ancestor", commit, "HEAD");
    return true;
  } catch {
    return false;
  }
};

describe("mergeDependencies", () => {
  it("merges clean dependencies and hands nothing over", async () => {
    const { dir, dep } = repo();
    assert.equal(await mergeDependencies(dir, dep.red, [dep.docs]), null);
    assert.equal(await mergeHead(dir), null);
    assert.ok(contains(dir, dep.docs.commit));
    assert.equal(sh(dir, "log", "-1", "--format=%s"), `Merge "Paint it docs" (${dep.docs.commit.slice(0, 10)})`);
  });

  it("leaves a conflicted merge in progress, with the file's markers, and names the dependency and the file", async () => {
    const { dir, dep, read } = repo();
    const handover = await mergeDependencies(dir, dep.red, [dep.blue]);
    assert.deepEqual(handover, {
      conflict: { dependency: dep.blue, files: ["shared.txt"], pending: [] },
      dependencies: [dep.red, dep.blue],
      textFiles: ["shared.txt"],
    });
    assert.equal(await mergeHead(dir), dep.blue.commit);
    assert.match(read("shared.txt"), /^<<<<<<< HEAD\ncolor = red\n=======\ncolor = blue\n>>>>>>> [0-9a-f]+\n$/);
  });

  it("merges the clean dependencies before handing over the one that conflicts", async () => {
    const { dir, dep } = repo();
    const handover = await mergeDependencies(dir, dep.red, [dep.blue, dep.docs]);
    assert.deepEqual(handover?.conflict, { dependency: dep.blue, files: ["shared.txt"], pending: [] });
    assert.ok(contains(dir, dep.docs.commit), "docs was merged although it came after blue");
  });

  it("hands over the first conflicting merge and lists the others as pending", async () => {
    const { dir, dep } = repo();
    const handover = await mergeDependencies(dir, dep.red, [dep.blue, dep.green]);
    assert.deepEqual(handover?.conflict, { dependency: dep.blue, files: ["shared.txt"], pending: [dep.green] });
    assert.equal(await mergeHead(dir), dep.blue.commit);
  });

  it("fails with git's reason when a merge cannot even start", async () => {
    const { dir, dep } = repo();
    fs.writeFileSync(path.join(dir, "docs.txt"), "untracked in the way\n");
    await assert.rejects(mergeDependencies(dir, dep.red, [dep.docs]), (err: Error) => {
      assert.match(err.message, /^Could not merge dependency "Paint it docs" \([0-9a-f]{10}\) into the worktree: .*untracked working tree files would be overwritten by merge/s);
      return true;
    });
  });
});

describe("unresolvedMerge after the agent", () => {
  it("names the files that still hold conflict markers", async () => {
    const { dir, dep } = repo();
    const handover = (await mergeDependencies(dir, dep.red, [dep.blue]))!;
    assert.equal(
      await unresolvedMerge(dir, handover),
      "The agent exited 0 but left conflict markers in shared.txt. Resolve every conflict, remove the markers and conclude the merge (git add, git commit) before exiting 0.",
    );
  });

  it("names markers even in a file the agent added with them", async () => {
    const { dir, dep } = repo();
    const handover = (await mergeDependencies(dir, dep.red, [dep.blue]))!;
    sh(dir, "add", "shared.txt");
    assert.match((await unresolvedMerge(dir, handover)) ?? "", /^The agent exited 0 but left conflict markers in shared\.txt\. /);
  });

  it("accepts a text file cleared of markers but not added, and the merge in progress gets its title", async () => {
    const { dir, dep } = repo();
    const handover = (await mergeDependencies(dir, dep.red, [dep.blue]))!;
    fs.writeFileSync(path.join(dir, "shared.txt"), "color = purple\n");
    assert.equal(await unresolvedMerge(dir, handover), null);
    assert.equal(await pendingMergeTitle(dir), `Merge "Paint it blue" (${dep.blue.commit.slice(0, 10)})`);
  });

  it("accepts a merge the agent resolved and committed", async () => {
    const { dir, dep } = repo();
    const handover = (await mergeDependencies(dir, dep.red, [dep.blue]))!;
    fs.writeFileSync(path.join(dir, "shared.txt"), "color = purple\n");
    sh(dir, "add", "shared.txt");
    sh(dir, "commit", "--quiet", "--no-edit");
    assert.equal(await unresolvedMerge(dir, handover), null);
    assert.equal(await pendingMergeTitle(dir), null);
  });

  it("names a dependency the agent dropped by aborting the merge", async () => {
    const { dir, dep } = repo();
    const handover = (await mergeDependencies(dir, dep.red, [dep.blue]))!;
    sh(dir, "merge", "--abort");
    assert.equal(
      await unresolvedMerge(dir, handover),
      `The agent exited 0 but did not merge "Paint it blue" (commit ${dep.blue.commit.slice(0, 10)}) into its branch (an aborted merge or a reset drops a dependency's work). Resolve every conflict, remove the markers and conclude the merge (git add, git commit) before exiting 0.`,
    );
  });

  it("names a pending dependency the agent did not merge after committing the first", async () => {
    const { dir, dep } = repo();
    const handover = (await mergeDependencies(dir, dep.red, [dep.blue, dep.green]))!;
    fs.writeFileSync(path.join(dir, "shared.txt"), "color = purple\n");
    sh(dir, "commit", "--quiet", "-am", "resolved");
    assert.match((await unresolvedMerge(dir, handover)) ?? "", /^The agent exited 0 but did not merge "Paint it green" \(commit [0-9a-f]{10}\) into its branch /);
    assert.throws(() => sh(dir, "merge", "--no-edit", dep.green.commit));
    assert.match((await unresolvedMerge(dir, handover)) ?? "", /^The agent exited 0 but left conflict markers in shared\.txt\. /, "the pending merge, started and left with markers");
    fs.writeFileSync(path.join(dir, "shared.txt"), "color = brown\n");
    assert.equal(await unresolvedMerge(dir, handover), null, "resolved: the daemon may commit it");
  });

  it("names a conflicted binary file the agent left unmerged, until it is added", async () => {
    const { dir, dep } = repo();
    sh(dir, "checkout", "--quiet", "-b", "pngs2", "main");
    fs.writeFileSync(path.join(dir, "logo.bin"), Buffer.from([0, 7, 7, 7, 0]));
    sh(dir, "commit", "--quiet", "-am", "pngs2");
    const first = { name: "Other logo", commit: sh(dir, "rev-parse", "HEAD") };
    const handover = (await mergeDependencies(dir, first, [dep.pngs]))!;
    assert.deepEqual(handover.conflict.files, ["logo.bin"]);
    assert.deepEqual(handover.textFiles, []);
    assert.equal(
      await unresolvedMerge(dir, handover),
      "The agent exited 0 but left the merge unfinished: logo.bin still unmerged (mark each resolved with git add or git rm). Resolve every conflict, remove the markers and conclude the merge (git add, git commit) before exiting 0.",
    );
    sh(dir, "add", "logo.bin");
    assert.equal(await unresolvedMerge(dir, handover), null);
  });
});
