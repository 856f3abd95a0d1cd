/*
 * A step's verification gate: after the agent exits 0 (and its work is committed), the daemon runs the
 * step's check (its own, else its directive's) in the same worktree. It is an AgentProcess with the
 * check as its command: `sh -c` in its own process group (an interrupt stops the check's children
 * too), the agent's environment allow-list and user, its pid recorded before it starts (leftovers.ts).
 * Its stdin is empty. What it prints goes to the task's output between two marker lines, so `baton
 * task logs` shows where the agent ends and the check begins; a failing check's error names the
 * command and quotes the tail of its output (stdout and stderr: test runners report on stdout), which
 * the next attempt's prompt quotes as the previous error.
 */
import { agentError } from "../agent-error";
import { AgentProcess, type AgentOptions } from "./agent-process";

export type CheckVerdict =
  | { outcome: "passed" }
  | { outcome: "failed"; error: string }
  | { outcome: "interrupted"; error: string };

/** What the output tail keeps (agentError then keeps its last 20 lines, at most 2,000 characters). */
const OUTPUT_TAIL_CHARS = 8000;
/** How much of the command the error's first line quotes (the prompt's check section has all of it). */
const COMMAND_IN_ERROR_CHARS = 200;

export function quoteCommand(command: string, max = COMMAND_IN_ERROR_CHARS): string {
  const one = command.trim().replace(/\s*\n\s*/g, " ");
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}

/** The marker lines written into the task's output around the check's own output. */
export const checkMarkers = {
  start: (command: string) => `\n[baton] The agent exited 0. Running the check: ${quoteCommand(command)}\n`,
  passed: () => `[baton] The check passed.\n`,
  failed: (why: string) => `[baton] The check failed: ${why}.\n`,
  interrupted: (reason: string) => `[baton] The check was interrupted (${reason}).\n`,
};

/** The error of an attempt whose check failed: its first line names the check, then the tail of its output. */
export function checkError(command: string, exit: { exitCode: number | null; signal: string | null }, output: string): string {
  const how = `The check \`${quoteCommand(command)}\` ${exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.exitCode}`}`;
  return output.trim() ? agentError(`${how}; the end of its output`, output) : `${how} and printed nothing.`;
}

export type CheckOptions = Omit<AgentOptions, "command" | "prompt" | "onOutput"> & {
  check: string;
  onOutput: (stream: "stdout" | "stderr", text: string) => void;
  /** Called with the process as soon as it exists, so an interrupt can reach it. */
  onProcess: (process: AgentProcess) => void;
};

export async function runCheck(opts: CheckOptions): Promise<CheckVerdict> {
  const { check, onOutput, onProcess, ...rest } = opts;
  let tail = "";
  onOutput("stdout", checkMarkers.start(check));
  const proc = new AgentProcess({
    ...rest,
    command: check,
    prompt: "",
    onOutput: (stream, text) => {
      tail = (tail + text).slice(-OUTPUT_TAIL_CHARS);
      onOutput(stream, text);
    },
  });
  onProcess(proc);
  const result = await proc.result;
  if (result.outcome === "completed") {
    onOutput("stdout", checkMarkers.passed());
    return { outcome: "passed" };
  }
  if (result.outcome === "interrupted") {
    onOutput("stdout", checkMarkers.interrupted(result.errorTail.replace(/^Interrupted \((.*)\)\.$/s, "$1")));
    return { outcome: "interrupted", error: `The check was interrupted: ${result.errorTail}` };
  }
  // Never started (AgentProcess says why), else the check's own failure.
  if (result.exitCode === null && result.signal === null) {
    onOutput("stdout", checkMarkers.failed(result.errorTail));
    return { outcome: "failed", error: `The check \`${quoteCommand(check)}\` could not run: ${result.errorTail}` };
  }
  const error = checkError(check, result, tail);
  onOutput("stdout", checkMarkers.failed(result.signal ? `killed by ${result.signal}` : `exit status ${result.exitCode}`));
  return { outcome: "failed", error };
}
