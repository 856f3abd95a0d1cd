/*
 * Running git: one function that returns stdout or throws with git's own stderr, and a per-repository
 * lock (worktree add/remove, fetch and push on one clone must not overlap).
 */
import { execFile } from "node:child_process";

export class GitError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

const IDENTITY = ["-c", "user.name=Baton", "-c", "user.email=baton@localhost", "-c", "commit.gpgsign=false"];

export function git(cwd: string, args: string[], opts: { allowFail?: boolean } = {}): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve, reject) => {
    execFile("git", [...IDENTITY, ...args], { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: "0" } }, (err, stdout, stderr) => {
      const raw = err ? (err as unknown as { code?: unknown }).code : 0;
      const code = typeof raw === "number" ? raw : err ? 1 : 0;
      if (err && !opts.allowFail) {
        reject(new GitError(`git ${args.join(" ")} failed: ${String(stderr).trim() || err.message}`, String(stderr)));
        return;
      }
      resolve({ stdout: String(stdout).trim(), code });
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
