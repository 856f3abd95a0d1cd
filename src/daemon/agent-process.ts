/*
 * One agent process, following the agent protocol: `sh -c CMD` in the workspace, the prompt on stdin
 * and in BATON_PROMPT_FILE, the task's ids and agent token in the environment. Exit 0 means
 * completed, non-zero failed (the tail of stderr is the error: agent-error.ts), stopped by us means interrupted.
 * The process runs in its own process group so an interrupt reaches its children too: SIGTERM, then
 * SIGKILL after the grace period.
 *
 * The command starts only after `onSpawn` has returned: the process first waits at a gate (a line on
 * fd 3) and then execs `sh -c CMD` with the same pid. The daemon records the agent's pid there
 * (leftovers.ts), so an agent never runs unrecorded: if the daemon dies before, the gate reads end of
 * file and exits without running the command, and no agent is left that the next daemon cannot stop.
 *
 * The environment is an allow-list (agent-env.ts), never the daemon's own. With an agent user
 * (agent-user.ts) the process runs under that uid/gid (supplementary groups dropped), owns its
 * workspace and prompt while it runs, and what it leaves running in its process group is killed when
 * it exits, before the daemon takes the workspace back.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Writable } from "node:stream";
import { agentError } from "../agent-error";
import { agentEnvironment } from "./agent-env";
import { handOver, reclaim, type AgentUser } from "./agent-user";

export type AgentResult = { outcome: "completed" | "failed" | "interrupted"; exitCode: number | null; signal: string | null; errorTail: string };

export type AgentOptions = {
  command: string;
  cwd: string;
  prompt: string;
  /** The task's variables (BATON_*, and PATH with the `baton` shim first); added to the allow-list. */
  env: Record<string, string>;
  /** Names of the daemon's variables the operator passes on (--agent-env). */
  passEnv?: readonly string[];
  /** Run the agent as this user (--agent-user). */
  user?: AgentUser;
  promptDir: string;
  graceMs: number;
  onOutput: (stream: "stdout" | "stderr", text: string) => void;
  /** Called with the process's pid (its group's id) before the command may start; if it throws, the command never starts. */
  onSpawn?: (pid: number) => void;
};

/** `sh -c GATE sh CMD`: waits for the daemon's line on fd 3 (end of file: the daemon is gone), closes fd 3, runs CMD. */
const GATE = 'read -r _ <&3 || exit 125; exec 3<&-; exec sh -c "$1"';

const ERROR_TAIL_BYTES = 4000;

export class AgentProcess {
  private interruptedBy: string | null = null;
  private readonly child;
  readonly result: Promise<AgentResult>;

  constructor(opts: AgentOptions) {
    fs.mkdirSync(opts.promptDir, { recursive: true });
    const promptFile = path.join(opts.promptDir, "prompt.md");
    fs.writeFileSync(promptFile, opts.prompt);
    const user = opts.user;
    const owned = user ? handOver(user, opts.cwd, opts.promptDir) : null;
    const env = agentEnvironment(process.env, opts.passEnv ?? [], { ...opts.env, BATON_PROMPT_FILE: promptFile, BATON_DAEMON_DIR: process.cwd(), ...(user ? { HOME: user.home } : {}) });
    this.child = spawn("sh", ["-c", GATE, "sh", opts.command], {
      cwd: opts.cwd,
      env,
      stdio: ["pipe", "pipe", "pipe", "pipe"],
      detached: true,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    let stderrTail = "";
    this.child.stdout.setEncoding("utf8").on("data", (text: string) => opts.onOutput("stdout", text));
    this.child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderrTail = (stderrTail + text).slice(-ERROR_TAIL_BYTES);
      opts.onOutput("stderr", text);
    });
    this.child.stdin.on("error", () => undefined); // an agent that ignores stdin closes it early
    this.child.stdin.end(opts.prompt);
    this.result = new Promise((resolve) => {
      this.child.on("error", (err) => resolve({ outcome: "failed", exitCode: null, signal: null, errorTail: `Could not start the agent: ${err.message}` }));
      this.child.on("close", (code, signal) => {
        clearTimeout(this.killTimer);
        if (user && owned) {
          // Another uid's leftovers could keep writing into the workspace while the daemon commits it.
          this.signal("SIGKILL");
          try {
            reclaim(opts.cwd, opts.promptDir, owned);
          } catch (err) {
            resolve({ outcome: "failed", exitCode: code, signal, errorTail: `Could not take the workspace back from ${user.name}: ${(err as Error).message}` });
            return;
          }
        }
        if (this.interruptedBy) {
          resolve({ outcome: "interrupted", exitCode: code, signal, errorTail: `Interrupted (${this.interruptedBy}).` });
        } else if (code === 0) {
          resolve({ outcome: "completed", exitCode: 0, signal: null, errorTail: "" });
        } else {
          const why = signal ? `The agent was killed by ${signal}` : `The agent exited with status ${code}`;
          resolve({ outcome: "failed", exitCode: code, signal, errorTail: agentError(why, stderrTail) });
        }
      });
    });
    this.graceMs = opts.graceMs;
    const gate = this.child.stdio[3] as Writable | null;
    if (!gate) return; // the spawn failed: `error` reports it
    gate.on("error", () => undefined); // EPIPE: the process is gone already
    try {
      if (this.child.pid) opts.onSpawn?.(this.child.pid);
    } catch (err) {
      gate.destroy(); // end of file at the gate: the command never runs
      throw err;
    }
    gate.end("\n");
  }

  private graceMs: number;
  private killTimer: NodeJS.Timeout | undefined;

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** SIGTERM to the process group, then SIGKILL after the grace period. */
  interrupt(reason: string): void {
    if (this.interruptedBy || this.child.exitCode !== null) return;
    this.interruptedBy = reason;
    this.signal("SIGTERM");
    this.killTimer = setTimeout(() => this.signal("SIGKILL"), this.graceMs);
    this.killTimer.unref();
  }

  private signal(sig: NodeJS.Signals): void {
    try {
      if (this.child.pid) process.kill(-this.child.pid, sig);
    } catch {
      this.child.kill(sig);
    }
  }
}
