/*
 * The daemon's questions about a merge in progress (src/daemon/git.ts), asked of real temp repositories.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { filesWithConflictMarkers, hasConflictMarkers, isAncestor, mergeHead, unmergedPaths } from "../../src/daemon/git";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const sh = (dir: string, ...args: string[]) =>
  execFileSync("git", ["-C", dir, "-c", "user.name=T", "-c", "user.email=t@localhost", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/** A repository on `main` with shared.txt, and branches red and blue that change its one line differently. */
function conflictingRepo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-git-"));
  dirs.push(dir);
  sh(dir, "init", "--quiet", "--initial-branch=main");
  fs.writeFileSync(path.join(dir, "shared.txt"), "color = none\n");
  sh(dir, "add", ".");
  sh(dir, "commit", "--quiet", "-m", "base");
  for (const color of ["red", "blue"]) {
    sh(dir, "checkout", "--quiet", "-b", color, "main");
    fs.writeFileSync(path.join(dir, "shared.txt"), `color = ${color}\n`);
    sh(dir, "commit", "--quiet", "-am", color);
  }
  sh(dir, "checkout", "--quiet", "red");
  return dir;
}

describe("hasConflictMarkers", () => {
  it("finds each marker line git writes", () => {
    for (const text of ["<<<<<<< HEAD\n", "a\n=======\nb\n", ">>>>>>> 0123abc (blue)\n", "||||||| base\n", "x\r\n=======\r\ny\r\n"]) {
      assert.equal(hasConflictMarkers(text), true, JSON.stringify(text));
    }
  });

  it("ignores underlines and markers that do not start a line", () => {
    for (const text of ["Title\n========\n", "Title\n======\n", "see <<<<<<< HEAD in the docs\n", "<<<<<<<HEAD\n", "a ======= b\n", ""]) {
      assert.equal(hasConflictMarkers(text), false, JSON.stringify(text));
    }
  });
});

describe("the merge state of a worktree", () => {
  it("is clean before a merge: no MERGE_HEAD, no unmerged path", async () => {
    const dir = conflictingRepo();
    assert.equal(await mergeHead(dir), null);
    assert.deepEqual(await unmergedPaths(dir), []);
  });

  it("names MERGE_HEAD, the unmerged paths and the files with markers while a conflicted merge is in progress", async () => {
    const dir = conflictingRepo();
    const blue = sh(dir, "rev-parse", "blue");
    assert.throws(() => sh(dir, "merge", "--no-edit", "blue"));
    assert.equal(await mergeHead(dir), blue);
    assert.deepEqual(await unmergedPaths(dir), ["shared.txt"]);
    assert.deepEqual(filesWithConflictMarkers(dir, ["shared.txt"]), ["shared.txt"]);
  });

  it("counts a file as unmerged until it is added, even once its markers are gone", async () => {
    const dir = conflictingRepo();
    assert.throws(() => sh(dir, "merge", "--no-edit", "blue"));
    fs.writeFileSync(path.join(dir, "shared.txt"), "color = purple\n");
    assert.deepEqual(filesWithConflictMarkers(dir, ["shared.txt"]), []);
    assert.deepEqual(await unmergedPaths(dir), ["shared.txt"]);
    sh(dir, "add", "shared.txt");
    assert.deepEqual(await unmergedPaths(dir), []);
    assert.notEqual(await mergeHead(dir), null, "added but not committed: the merge is still in progress");
  });

  it("reads only regular files for markers: a missing path, a directory and a symbolic link hold none", () => {
    const dir = conflictingRepo();
    fs.writeFileSync(path.join(dir, "real.txt"), "<<<<<<< HEAD\n");
    fs.symlinkSync(path.join(dir, "real.txt"), path.join(dir, "link.txt"));
    fs.mkdirSync(path.join(dir, "sub"));
    assert.deepEqual(filesWithConflictMarkers(dir, ["gone.txt", "sub", "link.txt", "real.txt"]), ["real.txt"]);
  });

  it("isAncestor says whether a commit is in another's history", async () => {
    const dir = conflictingRepo();
    const [main, red, blue] = ["main", "red", "blue"].map((b) => sh(dir, "rev-parse", b));
    assert.equal(await isAncestor(dir, main!, red!), true);
    assert.equal(await isAncestor(dir, red!, red!), true);
    assert.equal(await isAncestor(dir, blue!, red!), false);
  });
});
