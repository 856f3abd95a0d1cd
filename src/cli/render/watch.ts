/*
 * The live view of `baton directive watch`: a pure function of a snapshot and the time.
 */
import { BAD_STEP_STATUSES, LIVE_TASK_STATUSES, SETTLED_STEP_STATUSES, STEP_STATUSES, statusIn, type StepStatus } from "../../statuses";
import { pauseAdvice, resultText, usageLines, type DirectiveSnapshot, type DirectiveUsage } from "../commands/directive-status";

const COLOR: Record<StepStatus, string> = {
  pending: "\x1b[90m", ready: "\x1b[34m", running: "\x1b[33m", completed: "\x1b[32m", failed: "\x1b[31m", skipped: "\x1b[35m", blocked: "\x1b[91m",
};
const RESET = "\x1b[0m";

export type WatchOutcome = "running" | "succeeded" | "failed" | "paused";

/** Why the directive is paused, or null when it is not. Nothing runs until someone acts, so watch ends (exit 1) and says why. */
export function pauseReason(d: DirectiveSnapshot, reason: string | null = null): string | null {
  return d.status === "paused" ? pauseAdvice(reason) : null;
}

/**
 * Idle with every step completed or skipped: succeeded; idle (or archived) with failed or blocked
 * steps: failed; paused (by Baton because its planner or integration failed, or by hand): paused (exit 1 too).
 */
export function outcome(d: DirectiveSnapshot): WatchOutcome {
  const bad = d.directiveSteps.nodes.some((s) => statusIn(s.status, BAD_STEP_STATUSES));
  if (d.status === "archived") return "failed";
  if (d.status === "paused") return "paused";
  if (d.status !== "idle") return "running";
  return bad ? "failed" : "succeeded";
}

/** The last `keep` complete or partial lines of a task's output, fed chunk by chunk (what watch shows under a running task). */
export class OutputTail {
  private text = "";
  constructor(private readonly keep = 3) {}
  add(chunk: string): void {
    // Only the end matters: keep a bounded window, cut at a line start.
    this.text = (this.text + chunk).slice(-4000);
  }
  lines(): string[] {
    return this.text
      .split("\n")
      .map((l) => l.replace(/\r$/, ""))
      .filter((l) => l.trim() !== "")
      .slice(-this.keep);
  }
}

export function settledCount(d: DirectiveSnapshot): number {
  return d.directiveSteps.nodes.filter((s) => statusIn(s.status, SETTLED_STEP_STATUSES)).length;
}

function elapsed(since: string | null, now: number): string {
  if (!since) return "";
  const s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

export function renderWatch(d: DirectiveSnapshot, now: number, outputTail: Map<string, string[]>, width = 80, usage: DirectiveUsage | null = null): string {
  const total = d.directiveSteps.nodes.length;
  const settled = settledCount(d);
  const barWidth = Math.max(10, Math.min(40, width - 30));
  const filled = total ? Math.round((settled / total) * barWidth) : 0;
  const lines = [
    `\x1b[1m${d.title}\x1b[0m  ${d.status}`,
    `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${settled}/${total} settled`,
    ...usageLines(usage, "").slice(0, 1), // the usage line (the pause reason follows below)
    "",
  ];
  for (const s of d.directiveSteps.nodes) {
    lines.push(`  ${statusIn(s.status, STEP_STATUSES) ? COLOR[s.status] : ""}${s.status.padEnd(9)}${RESET} g${s.generation}  ${s.name}`);
  }
  if (d.repo) lines.push("", resultText(d));
  const reason = pauseReason(d, usage?.pausedReason ?? null);
  if (reason) lines.push("", `paused: ${reason}`);
  const live = d.tasks.nodes.filter((t) => statusIn(t.status, LIVE_TASK_STATUSES));
  if (live.length) {
    lines.push("", "Running:");
    const names = new Map(d.directiveSteps.nodes.map((s) => [s.rowId, s.name]));
    for (const t of live) {
      const what = t.kind === "planning" ? "planning" : t.kind === "integration" ? "integrating the result" : (names.get(t.stepId ?? "") ?? t.stepId);
      const checking = t.status === "checking" ? `  checking: ${t.checkCommand ?? ""}` : t.status === "waiting" ? "  waiting for an answer (baton directive questions)" : "";
      lines.push(`  ${what}  on ${t.daemon?.name ?? "(waiting for a daemon)"}  ${elapsed(t.startedAt ?? t.createdAt, now)}${checking}`);
      for (const l of outputTail.get(t.rowId) ?? []) lines.push(`    \x1b[90m${l.slice(0, width - 6)}${RESET}`);
    }
  }
  return lines.join("\n");
}
