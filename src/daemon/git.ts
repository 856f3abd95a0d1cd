/*
 * Running git: one function that returns stdout or throws with git's own stderr, a per-repository
 * lock (worktree add/remove, fetch and push on one clone must not overlap), and the few questions the
 * daemon asks about a merge in progress (merge.ts).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export class GitError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

const IDENTITY = ["-c", "user.name=Baton", "-c", "user.email=baton@localhost", "-c", "commit.gpgsign=false"];

export function git(cwd: string, args: string[], opts: { allowFail?: boolean } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    execFile("git", [...IDENTITY, ...args], { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } }, (err, stdout, stderr) => {
      const raw = err ? (err as unknown as { code?: unknown }).code : 0;
      const code = typeof raw === "number" ? raw : err ? 1 : 0;
      if (err && !opts.allowFail) {
        reject(new GitError(`git ${args.join(" ")} failed: ${String(stderr).trim() || err.message}`, String(stderr)));
        return;
      }
      resolve({ stdout: String(stdout).trim(), stderr: String(stderr).trim(), code });
    });
  });
}

const locks = new Map<string, Promise<unknown>>();

/** Runs fn while holding the lock of one repository clone. */
export function withRepoLock<T>(repoDir: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(repoDir) ?? Promise.resolve();
  const next = previous.then(fn, fn);
  locks.set(
    repoDir,
    next.catch(() => undefined),
  );
  return next;
}

/** The paths git still holds as unmerged (conflicted and not yet marked resolved with `git add`/`git rm`), sorted. */
export async function unmergedPaths(dir: string): Promise<string[]> {
  const { stdout } = await git(dir, ["diff", "--name-only", "--diff-filter=U"]);
  return [...new Set(stdout.split("\n").filter(Boolean))].sort();
}

/** The commit being merged while a merge is in progress (MERGE_HEAD), else null. */
export async function mergeHead(dir: string): Promise<string | null> {
  const { code, stdout } = await git(dir, ["rev-parse", "--verify", "--quiet", "MERGE_HEAD"], { allowFail: true });
  return code === 0 && stdout ? stdout : null;
}

/** True when commit `a` is `b` or one of its ancestors. */
export async function isAncestor(dir: string, a: string, b: string): Promise<boolean> {
  const { code } = await git(dir, ["merge-base", "--is-ancestor", a, b], { allowFail: true });
  return code === 0;
}

/*
 * The lines git writes around a conflict: `<<<<<<< ours`, `||||||| base` (diff3), `=======` and
 * `>>>>>>> theirs`. The separator counts only as a whole line, so a Markdown or reST underline of
 * eight or more `=` is not taken for one.
 */
const MARKER = /^(?:<{7} |\|{7} |>{7} |={7}\r?$)/m;

/** Does this text hold a conflict marker line? */
export function hasConflictMarkers(text: string): boolean {
  return MARKER.test(text);
}

/**
 * Of these paths (relative to dir), the ones whose file holds a conflict marker line. Only regular
 * files are read: a missing path, a directory or a symbolic link (which an agent could point at a FIFO
 * to hang the daemon) holds none.
 */
export function filesWithConflictMarkers(dir: string, files: readonly string[]): string[] {
  return files.filter((file) => {
    const full = path.join(dir, file);
    try {
      return fs.lstatSync(full).isFile() && hasConflictMarkers(fs.readFileSync(full, "latin1"));
    } catch {
      return false;
    }
  });
}
