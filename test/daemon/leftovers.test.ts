/*
 * The start-up clean-up of a work dir (src/daemon/leftovers.ts), with real processes and a real git
 * clone: what a dead daemon left is settled, what a live daemon holds is not, and a pid is trusted
 * only with its start time (a recycled pid is never signalled).
 */
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { cleanUpLeftovers, TaskRecords } from "../../src/daemon/leftovers";
import { silentLogger } from "../../src/logger";
import { running } from "../helpers/faults";
import { waitFor } from "../helpers/wait";

const dirs: string[] = [];
const pids: number[] = [];
after(() => {
  for (const pid of pids) if (running(pid)) process.kill(pid, "SIGKILL");
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function workDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-leftovers-"));
  dirs.push(dir);
  return dir;
}

/** `sh -c 'sleep 300 & wait'` in a process group of its own, as agents run: returns [leader, child]. */
async function fakeAgent(): Promise<[number, number]> {
  const child = spawn("sh", ["-c", "sleep 300 & echo $!; wait"], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
  child.unref();
  const sleeper = await new Promise<number>((resolve) => child.stdout!.once("data", (b: Buffer) => resolve(Number(b.toString().trim()))));
  pids.push(child.pid!, sleeper);
  return [child.pid!, sleeper];
}

const startTime = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
};
const bootId = () => fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();

/** A record as a daemon that has died (pid 1's start time differs from the one recorded) left it. */
function deadDaemonRecord(dir: string, taskId: string, agent: { pid: number; start: string } | null): void {
  fs.mkdirSync(path.join(dir, "agents"), { recursive: true });
  const record = { task_id: taskId, boot_id: bootId(), daemon: { pid: 1, start: "not-its-start-time" }, agent };
  fs.writeFileSync(path.join(dir, "agents", `${taskId}.json`), JSON.stringify(record));
}

describe("cleanUpLeftovers", () => {
  it("stops the process group of an agent a dead daemon left running, leader and children", async () => {
    const dir = workDir();
    const [leader, sleeper] = await fakeAgent();
    deadDaemonRecord(dir, "task-1", { pid: leader, start: startTime(leader) });
    const r = await cleanUpLeftovers(dir, silentLogger, { graceMs: 2000 });
    assert.equal(r.agents, 1);
    await waitFor(() => !running(leader) && !running(sleeper), { what: "the group to end" });
    assert.deepEqual(fs.readdirSync(path.join(dir, "agents")), [], "the record is settled");
  });

  it("does not signal a pid whose start time is not the recorded one (a recycled pid)", async () => {
    const dir = workDir();
    const [leader, sleeper] = await fakeAgent();
    deadDaemonRecord(dir, "task-2", { pid: leader, start: String(Number(startTime(leader)) + 1) });
    const r = await cleanUpLeftovers(dir, silentLogger, { graceMs: 2000 });
    assert.equal(r.agents, 0);
    assert.ok(running(leader) && running(sleeper), "the process was left alone");
    assert.deepEqual(fs.readdirSync(path.join(dir, "agents")), [], "the record is settled");
  });

  it("leaves alone the agents and worktrees of a live daemon on the same work dir", async () => {
    const dir = workDir();
    const [leader] = await fakeAgent();
    const records = new TaskRecords(dir); // this process is the live daemon
    records.begin("task-3");
    records.agent("task-3", leader);
    fs.mkdirSync(path.join(dir, "worktrees", "task-3"), { recursive: true });
    const r = await cleanUpLeftovers(dir, silentLogger, { graceMs: 2000 });
    assert.deepEqual(r, { agents: 0, worktrees: 0 });
    assert.ok(running(leader));
    assert.ok(fs.existsSync(path.join(dir, "worktrees", "task-3")));
    records.end("task-3");
    assert.deepEqual(fs.readdirSync(path.join(dir, "agents")), []);
  });

  it("removes worktrees no live daemon claims and prunes them from the clone, so their branch can be checked out again", async () => {
    const dir = workDir();
    const clone = path.join(dir, "repos", "repo-0123456789");
    fs.mkdirSync(clone, { recursive: true });
    const g = (...args: string[]) => execFileSync("git", ["-C", clone, "-c", "user.name=T", "-c", "user.email=t@localhost", ...args], { encoding: "utf8" }).trim();
    g("init", "--quiet", "--initial-branch=main");
    g("commit", "--quiet", "--allow-empty", "-m", "initial");
    const stale = path.join(dir, "worktrees", "task-4");
    g("worktree", "add", "--quiet", "-b", "baton/x/y-step-task4", stale);
    deadDaemonRecord(dir, "task-4", null);
    const r = await cleanUpLeftovers(dir, silentLogger, { graceMs: 2000 });
    assert.deepEqual(r, { agents: 0, worktrees: 1 });
    assert.ok(!fs.existsSync(stale));
    assert.deepEqual(g("worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree ")), [`worktree ${clone}`]);
    g("worktree", "add", "--quiet", path.join(dir, "again"), "baton/x/y-step-task4"); // the branch is free again
  });
});
