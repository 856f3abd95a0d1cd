/*
 * The start-up clean-up of a work dir (src/daemon/leftovers.ts), with real processes and a real git
 * clone: what a dead daemon left is settled, what a live daemon holds is not, and a pid is trusted
 * only with its start time (a recycled pid is never signalled). An agent's command starts only once its
 * record names it, so a daemon killed between the spawn and the record leaves no agent behind.
 */
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { AgentProcess } from "../../src/daemon/agent-process";
import { cleanUpLeftovers, TaskRecords } from "../../src/daemon/leftovers";
import { silentLogger } from "../../src/logger";
import { running } from "../helpers/faults";
import { waitFor } from "../helpers/wait";

const ROOT = path.join(__dirname, "..", "..");

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

  it("records the agent before its command runs: the command already finds its own pid in the record", async () => {
    const dir = workDir();
    const records = new TaskRecords(dir);
    records.begin("task-5");
    const record = path.join(dir, "agents", "task-5.json");
    const agent = new AgentProcess({
      command: `echo $$ > pid; cat "$RECORD" > seen.json`,
      cwd: dir,
      prompt: "",
      env: { RECORD: record },
      promptDir: path.join(dir, "prompts", "task-5"),
      graceMs: 2000,
      onOutput: () => undefined,
      onSpawn: (pid) => records.agent("task-5", pid),
    });
    assert.equal((await agent.result).outcome, "completed");
    const seen = JSON.parse(fs.readFileSync(path.join(dir, "seen.json"), "utf8")) as { agent: { pid: number } | null };
    assert.equal(seen.agent?.pid, agent.pid);
    assert.equal(Number(fs.readFileSync(path.join(dir, "pid"), "utf8")), agent.pid, "the command runs as the recorded process, the leader of its group");
    records.end("task-5");
  });

  it("never runs the agent of a daemon killed between spawning it and recording it (the record says agent: null)", async () => {
    const dir = workDir();
    const mark = path.join(dir, "ran");
    // The daemon: begins the task's record, spawns the agent, and is SIGKILLed before it records the agent.
    const script = `require("ts-node").register({ transpileOnly: true, project: ${JSON.stringify(path.join(ROOT, "tsconfig.json"))} });
const fs = require("node:fs");
const { AgentProcess } = require(${JSON.stringify(path.join(ROOT, "src", "daemon", "agent-process"))});
const { TaskRecords } = require(${JSON.stringify(path.join(ROOT, "src", "daemon", "leftovers"))});
const [dir, mark] = process.argv.slice(1);
new TaskRecords(dir).begin("task-6");
new AgentProcess({
  command: 'touch "$MARK"; exec sleep 300', cwd: dir, prompt: "", env: { MARK: mark }, promptDir: dir + "/prompts/task-6", graceMs: 2000,
  onOutput: () => undefined,
  onSpawn: (pid) => { fs.writeSync(1, pid + "\\n"); process.kill(process.pid, "SIGKILL"); },
});`;
    const daemon = spawn(process.execPath, ["-e", script, dir, mark], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    daemon.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const signal = await new Promise((resolve) => daemon.once("close", (_code, sig) => resolve(sig)));
    assert.equal(signal, "SIGKILL");
    const agentPid = Number(out.trim());
    assert.ok(agentPid > 0, `the daemon printed the agent's pid: ${JSON.stringify(out)}`);
    pids.push(agentPid);
    const left = JSON.parse(fs.readFileSync(path.join(dir, "agents", "task-6.json"), "utf8")) as { agent: unknown };
    assert.equal(left.agent, null, "the daemon died before it recorded the agent");
    await waitFor(() => !running(agentPid), { what: "the unreleased agent process to exit" });
    assert.ok(!fs.existsSync(mark), "the agent's command never ran");
    const r = await cleanUpLeftovers(dir, silentLogger, { graceMs: 2000 });
    assert.deepEqual(r, { agents: 0, worktrees: 0 });
    assert.deepEqual(fs.readdirSync(path.join(dir, "agents")), [], "the record is settled");
  });

  it("does not start the agent's command when its record cannot be written", async () => {
    const dir = workDir();
    const mark = path.join(dir, "ran");
    let agentPid = 0;
    assert.throws(
      () =>
        new AgentProcess({
          command: 'touch "$MARK"',
          cwd: dir,
          prompt: "",
          env: { MARK: mark },
          promptDir: path.join(dir, "prompts", "task-7"),
          graceMs: 2000,
          onOutput: () => undefined,
          onSpawn: (pid) => {
            agentPid = pid;
            throw new Error("ENOSPC: no space left on device");
          },
        }),
      /ENOSPC/,
    );
    await waitFor(() => agentPid > 0 && !running(agentPid), { what: "the unreleased agent process to exit" });
    assert.ok(!fs.existsSync(mark), "the agent's command never ran");
  });
});
