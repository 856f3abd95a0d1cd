/*
 * --agent-user: agents run under another uid/gid, so the files and processes of the daemon's user
 * (the data dir, the daemon's state file, /proc/<daemon>/environ and its memory) are out of their reach.
 *
 * Ownership moves with the task: the daemon (root) prepares the worktree, hands it and the prompt
 * directory to the agent's user before the spawn, and takes them back after the agent's process group
 * is gone. The daemon's own git commands (commit, push, worktree remove) therefore run on files the
 * daemon owns, and git's safe.directory check stays on: trusting a worktree the agent owns would let
 * an agent point the daemon's git at a config of its choosing (core.fsmonitor runs commands) and run
 * code as root. The `.git` file of the worktree is restored before it is handed back for the same
 * reason. The clone's git data stays the daemon's: the agent can read history but not commit; the
 * daemon commits what it leaves.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../cli/context";

export type AgentUser = { name: string; uid: number; gid: number; home: string };

/** Resolves USER (a name or a numeric uid) through the system's user database; refuses what cannot work. */
export function resolveAgentUser(user: string, myUid: number | undefined = process.getuid?.()): AgentUser {
  if (myUid !== 0) {
    throw new UsageError(`--agent-user needs the daemon to run as root, to start agents under another uid (this daemon runs as uid ${myUid ?? "unknown"}); run it as root or drop --agent-user.`);
  }
  let line = "";
  try {
    line = execFileSync("getent", ["passwd", user], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0] ?? "";
  } catch {
    line = "";
  }
  const f = line.split(":");
  if (f.length < 7) throw new UsageError(`--agent-user ${user}: there is no such user on this machine (getent passwd ${user} found nothing); create it (useradd) or name another.`);
  const agent = { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || "/" };
  if (agent.uid === 0) throw new UsageError(`--agent-user ${user} is root (uid 0): that isolates nothing; name an unprivileged user.`);
  return agent;
}

/** The work dir must be traversable (not listable) by the agent's user, to reach its worktree and the `baton` shim. */
export function openWorkDirTo(workDir: string): void {
  fs.mkdirSync(workDir, { recursive: true });
  for (const dir of [workDir, path.join(workDir, "worktrees"), path.join(workDir, "prompts")]) {
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o711);
  }
}

/**
 * lchown of a tree, never following symbolic links (an agent's `ln -s /etc x` must not move /etc).
 * Entries that vanish meanwhile are skipped.
 */
function chownTree(root: string, uid: number, gid: number): void {
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
      fs.lchownSync(p, uid, gid);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      try {
        for (const name of fs.readdirSync(p)) stack.push(path.join(p, name));
      } catch {
        // gone or replaced meanwhile
      }
    }
  }
}

/** Before the spawn: the worktree and the prompt directory belong to the agent's user. Returns what `reclaim` needs. */
export function handOver(user: AgentUser, workspaceDir: string, promptDir: string): { gitFile: string | null } {
  const gitPath = path.join(workspaceDir, ".git");
  let gitFile: string | null = null;
  try {
    if (fs.lstatSync(gitPath).isFile()) gitFile = fs.readFileSync(gitPath, "utf8");
  } catch {
    gitFile = null; // a plain directory workspace
  }
  chownTree(workspaceDir, user.uid, user.gid);
  chownTree(promptDir, user.uid, user.gid);
  fs.chmodSync(promptDir, 0o700);
  return { gitFile };
}

/** After the agent's process group is gone: the daemon owns the tree again, with the worktree's `.git` file as git wrote it. */
export function reclaim(workspaceDir: string, promptDir: string, saved: { gitFile: string | null }): void {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  chownTree(workspaceDir, uid, gid);
  chownTree(promptDir, uid, gid);
  if (saved.gitFile !== null) {
    const gitPath = path.join(workspaceDir, ".git");
    fs.rmSync(gitPath, { recursive: true, force: true });
    fs.writeFileSync(gitPath, saved.gitFile);
  }
}
