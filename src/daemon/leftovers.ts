/*
 * What a daemon leaves behind in its work dir when it dies without cleaning up (SIGKILL, a crash, a
 * power cut), and the clean-up that the next daemon started on that work dir does first.
 *
 * Each task a daemon runs has a record, `<work dir>/agents/<task id>.json`: the daemon's pid and start
 * time, and once the agent is spawned, the agent's process group (its pid: it leads its own group) and
 * start time, with the boot id. The agent's command starts only after that is written (agent-process.ts
 * holds it at a gate until `onSpawn` returns), so a record without an agent means no agent ran: a daemon
 * killed between the spawn and the record takes the gate with it. The record is removed when the
 * task's workspace is gone.
 *
 * On start, every record whose daemon is no longer alive is settled: the agent's process group gets
 * SIGTERM, then SIGKILL after the grace period; the task's worktree and prompt directory are removed;
 * then every clone prunes its worktree list, so the branch the dead attempt had checked out is free
 * again. Worktree directories that no live daemon's record claims (left by a daemon without records)
 * go too.
 *
 * A pid is trusted only with its start time (from /proc/<pid>/stat) and boot id, so a recycled pid is
 * never signalled. A group whose leader is gone may still have members; Linux does not reuse a pid
 * while a process group of that id exists, so a group with that id is still the agent's. Without
 * /proc (not Linux), process groups are not signalled, and the clean-up says so.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "../logger";
import { git } from "./git";
import { clonesIn, taskWorkDir } from "./workspace";

const Proc = z.object({ pid: z.number().int().positive(), start: z.string() });
const TaskRecord = z.object({ task_id: z.string(), boot_id: z.string().nullable(), daemon: Proc, agent: Proc.nullable() });
type TaskRecord = z.infer<typeof TaskRecord>;

/** Field 22 (starttime, clock ticks since boot) and field 3 (state) and 5 (pgrp) of /proc/<pid>/stat. */
function procStat(pid: number): { state: string; pgrp: number; start: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: rest[0]!, pgrp: Number(rest[2]), start: rest[19]! };
}

function bootId(): string | null {
  try {
    return fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return null;
  }
}

const hasProc = () => fs.existsSync("/proc/self/stat");

/** The live (not zombie) members of a process group. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s && s.pgrp === pgid && s.state !== "Z") members.push(Number(name));
  }
  return members;
}

function isAlive(p: z.infer<typeof Proc>, boot: string | null, recordBoot: string | null): boolean {
  if (boot !== recordBoot) return false;
  const s = procStat(p.pid);
  return s !== null && s.state !== "Z" && s.start === p.start;
}

/** The records of one daemon process: begun before a task's workspace is made, ended after it is removed. */
export class TaskRecords {
  private readonly dir: string;
  private readonly self: z.infer<typeof Proc> | null;
  private readonly boot = bootId();

  constructor(workDir: string) {
    this.dir = path.join(workDir, "agents");
    const s = procStat(process.pid);
    this.self = s ? { pid: process.pid, start: s.start } : null;
  }

  private file(taskId: string): string {
    return path.join(this.dir, `${taskId}.json`);
  }

  private write(record: TaskRecord): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file(record.task_id)}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(record));
    fs.renameSync(tmp, this.file(record.task_id)); // atomic: a reader never sees half a record
  }

  begin(taskId: string): void {
    if (this.self) this.write({ task_id: taskId, boot_id: this.boot, daemon: this.self, agent: null });
  }

  /** The agent was spawned as process `pid`, the leader of its own process group; its command has not started yet. */
  agent(taskId: string, pid: number | undefined): void {
    const s = pid ? procStat(pid) : null;
    if (this.self && pid && s) this.write({ task_id: taskId, boot_id: this.boot, daemon: this.self, agent: { pid, start: s.start } });
  }

  end(taskId: string): void {
    fs.rmSync(this.file(taskId), { force: true });
  }
}

export type CleanupResult = { agents: number; worktrees: number };

/** Settles what dead daemons left in the work dir (see the header). Safe beside a live daemon on the same dir. */
export async function cleanUpLeftovers(workDir: string, logger: Logger, opts: { graceMs: number }): Promise<CleanupResult> {
  const result: CleanupResult = { agents: 0, worktrees: 0 };
  const boot = bootId();
  const recordsDir = path.join(workDir, "agents");
  const claimed = new Set<string>();
  const settle: TaskRecord[] = [];
  for (const name of fs.existsSync(recordsDir) ? fs.readdirSync(recordsDir) : []) {
    const file = path.join(recordsDir, name);
    if (!name.endsWith(".json")) {
      fs.rmSync(file, { force: true }); // a temp file of a write cut short
      continue;
    }
    let record: TaskRecord;
    try {
      record = TaskRecord.parse(JSON.parse(fs.readFileSync(file, "utf8")));
    } catch {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (isAlive(record.daemon, boot, record.boot_id)) claimed.add(record.task_id);
    else settle.push(record);
  }
  if (!hasProc() && settle.some((r) => r.agent)) {
    logger.warn("cannot check the agents a previous daemon left running (no /proc); end them by hand", { work_dir: workDir });
  }
  // The agents first: they work in the worktrees that are removed next.
  await Promise.all(
    settle.map(async (r) => {
      if (r.agent && boot === r.boot_id && (await stopGroup(r.agent, opts.graceMs))) {
        result.agents++;
        logger.warn("stopped an agent left running by a previous daemon", { task_id: r.task_id, pgid: r.agent.pid });
      }
    }),
  );
  for (const r of settle) {
    fs.rmSync(path.join(workDir, "prompts", r.task_id), { recursive: true, force: true });
    fs.rmSync(path.join(recordsDir, `${r.task_id}.json`), { force: true });
  }
  const worktrees = path.join(workDir, "worktrees");
  for (const name of fs.existsSync(worktrees) ? fs.readdirSync(worktrees) : []) {
    if (claimed.has(name)) continue;
    fs.rmSync(taskWorkDir(workDir, name), { recursive: true, force: true });
    result.worktrees++;
  }
  for (const clone of clonesIn(workDir)) await git(clone, ["worktree", "prune"], { allowFail: true });
  if (result.agents || result.worktrees) logger.info("cleaned up after a previous daemon", { work_dir: workDir, ...result });
  return result;
}

/** SIGTERM to the agent's group, SIGKILL after graceMs; false when the group was already gone (or not ours). */
async function stopGroup(agent: z.infer<typeof Proc>, graceMs: number): Promise<boolean> {
  if (!hasProc()) return false;
  const leader = procStat(agent.pid);
  // The pid now belongs to another process: the kernel does not reuse it while our group lives.
  if (leader && leader.start !== agent.start) return false;
  if (groupMembers(agent.pid).length === 0) return false;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-agent.pid, sig);
    } catch {
      // ESRCH: the group ended meanwhile
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupMembers(agent.pid).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (groupMembers(agent.pid).length > 0) {
    signal("SIGKILL");
    for (let i = 0; i < 40 && groupMembers(agent.pid).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
