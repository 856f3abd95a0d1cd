/*
 * A directive's on-complete command: after an integration pushed the result branch, the daemon runs
 * it in the result's worktree (e.g. `gh pr create --fill --head "$BATON_RESULT_BRANCH"`), like a check:
 * an AgentProcess (`sh -c`, its own process group, the agent's environment allow-list and user, its pid
 * recorded), with BATON_RESULT_BRANCH and BATON_RESULT_COMMIT added. Its output goes to the task's
 * output between marker lines. The first http(s) URL it prints on stdout is the result's URL (a pull
 * request, a deployment). A non-zero exit fails the integration attempt with the command and the
 * tail of its output.
 */
import { agentError } from "../agent-error";
import { AgentProcess, type AgentOptions } from "./agent-process";
import { quoteCommand } from "./check";

export type OnCompleteVerdict = { outcome: "passed"; url: string | null } | { outcome: "failed"; error: string } | { outcome: "interrupted"; error: string };

/** What is kept of stdout to find the URL in, and of both streams for the error's tail. */
const STDOUT_KEPT_CHARS = 64_000;
const OUTPUT_TAIL_CHARS = 8000;
/** The longest URL the server records (tasks.result_url). */
const MAX_URL_BYTES = 2048;

/** The first http(s) URL in a text, without trailing punctuation; null when there is none (or it is too long to record). */
export function firstUrl(text: string): string | null {
  const m = /https?:\/\/[^\s"'<>`]+/.exec(text);
  if (!m) return null;
  const url = m[0].replace(/[).,;:!?\]}]+$/, "");
  return Buffer.byteLength(url) <= MAX_URL_BYTES && /^https?:\/\/\S+$/.test(url) ? url : null;
}

export const onCompleteMarkers = {
  start: (command: string) => `[baton] The result is pushed. Running the on-complete command: ${quoteCommand(command)}\n`,
  passed: (url: string | null) => (url ? `[baton] The on-complete command finished; the result's URL: ${url}\n` : `[baton] The on-complete command finished; it printed no URL.\n`),
  failed: (why: string) => `[baton] The on-complete command failed: ${why}.\n`,
  interrupted: (reason: string) => `[baton] The on-complete command was interrupted (${reason}).\n`,
};

export type OnCompleteOptions = Omit<AgentOptions, "command" | "prompt" | "onOutput"> & {
  command: string;
  onOutput: (stream: "stdout" | "stderr", text: string) => void;
  /** Called with the process as soon as it exists, so an interrupt can reach it. */
  onProcess: (process: AgentProcess) => void;
};

export async function runOnComplete(opts: OnCompleteOptions): Promise<OnCompleteVerdict> {
  const { command, onOutput, onProcess, ...rest } = opts;
  let stdout = "";
  let tail = "";
  onOutput("stdout", onCompleteMarkers.start(command));
  const proc = new AgentProcess({
    ...rest,
    command,
    prompt: "",
    onOutput: (stream, text) => {
      if (stream === "stdout" && stdout.length < STDOUT_KEPT_CHARS) stdout = (stdout + text).slice(0, STDOUT_KEPT_CHARS);
      tail = (tail + text).slice(-OUTPUT_TAIL_CHARS);
      onOutput(stream, text);
    },
  });
  onProcess(proc);
  const result = await proc.result;
  if (result.outcome === "completed") {
    const url = firstUrl(stdout);
    onOutput("stdout", onCompleteMarkers.passed(url));
    return { outcome: "passed", url };
  }
  if (result.outcome === "interrupted") {
    onOutput("stdout", onCompleteMarkers.interrupted(result.errorTail.replace(/^Interrupted \((.*)\)\.$/s, "$1")));
    return { outcome: "interrupted", error: `The on-complete command was interrupted: ${result.errorTail}` };
  }
  if (result.exitCode === null && result.signal === null) {
    onOutput("stdout", onCompleteMarkers.failed(result.errorTail));
    return { outcome: "failed", error: `The on-complete command \`${quoteCommand(command)}\` could not run: ${result.errorTail}` };
  }
  const how = `The on-complete command \`${quoteCommand(command)}\` ${result.signal ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`}`;
  onOutput("stdout", onCompleteMarkers.failed(result.signal ? `killed by ${result.signal}` : `exit status ${result.exitCode}`));
  return { outcome: "failed", error: tail.trim() ? agentError(`${how}; the end of its output`, tail) : `${how} and printed nothing.` };
}
