import type { Command } from "commander";
import { errorSummary } from "../../agent-error";
import { DirectiveSnapshotDocument, DirectiveUsageDocument, type DirectiveUsageQuery, type DirectiveFieldsFragment, type StepFieldsFragment, type TaskFieldsFragment } from "../../client/generated/graphql";
import { rows } from "../../client/results";
import { formatDuration } from "../../duration";
import { LIVE_TASK_STATUSES, RETRYABLE_STEP_STATUSES, statusIn } from "../../statuses";
import { addCommonOptions, apiClient, directiveIdFrom, output, type CommonOptions } from "../context";
import { UsageError } from "../context";
import { formatUsage, trimUsd } from "./task-usage";
import { fetchOpenQuestions, questionLines } from "./directive-questions";
import { planWaitingLine } from "./directive-plan";

export type DirectiveUsage = NonNullable<DirectiveUsageQuery["directiveUsages"]>["nodes"][number] & { pausedReason: string | null };

/** The directive's usage and budgets (sql/000023), or null when it is not visible. */
export async function fetchUsage(opts: CommonOptions, id: string): Promise<DirectiveUsage | null> {
  const data = await apiClient(opts).request(DirectiveUsageDocument, { id });
  const u = data.directiveUsages?.nodes[0];
  return u ? { ...u, pausedReason: data.directive?.pausedReason ?? null } : null;
}

/**
 * What a paused directive's reason (directives.paused_reason, recorded by the SQL with every pause:
 * sql/000028) asks of the user: the reason, then where to look and how to go on.
 */
export function pauseAdvice(reason: string | null): string {
  if (!reason) return "paused; `baton directive start` resumes it";
  const raise = reason.startsWith("Budget reached") ? " `baton directive update --budget-usd/--budget-tokens` raises it;" : "";
  const task = /\(task ([0-9a-f-]{36})\)/.exec(reason)?.[1];
  const logs = task ? ` \`baton task logs ${task}\` shows what it printed;` : "";
  return `${reason}${raise}${logs} \`baton directive start\` resumes it`;
}

/** The usage lines of `directive status`: none while nothing was reported and no budget is set. */
export function usageLines(u: DirectiveUsage | null, status: string): string[] {
  if (!u) return [];
  const lines: string[] = [];
  const reported = u.reportedTasks ?? 0;
  const budgets = [u.budgetUsd === null ? "" : `$${trimUsd(u.budgetUsd)}`, u.budgetTokens === null ? "" : `${Number(u.budgetTokens).toLocaleString("en-US")} tokens`].filter(Boolean);
  if (reported > 0 || budgets.length) {
    lines.push(`usage: ${formatUsage(u)} (${reported} task${reported === 1 ? "" : "s"} reported)${budgets.length ? `, budget ${budgets.join(" and ")}` : ""}`);
  }
  if (status === "paused") lines.push(`paused: ${pauseAdvice(u.pausedReason)}`);
  return lines;
}

export type StepRow = Omit<StepFieldsFragment, "stepDependenciesByStepId"> & { stepDependenciesByStepId: { nodes: { dependsOnStepId: string }[] } };
export type DirectiveSnapshot = DirectiveFieldsFragment & { directiveSteps: { nodes: StepRow[] }; tasks: { nodes: TaskFieldsFragment[] } };

export async function fetchDirective(opts: CommonOptions, id: string): Promise<DirectiveSnapshot> {
  const { directive: d } = await apiClient(opts).request(DirectiveSnapshotDocument, { id });
  if (!d) throw Object.assign(new Error(`Directive ${id} does not exist. List your directives with \`baton directive list\`.`), { code: "BTNFD" });
  const steps = rows(d.directiveSteps.nodes).map((s) => ({ ...s, stepDependenciesByStepId: { nodes: rows(s.stepDependenciesByStepId.nodes) } }));
  return { ...d, directiveSteps: { nodes: steps }, tasks: { nodes: rows(d.tasks.nodes) } };
}

/** A step as printed with --json: dependencies flattened to ids. */
export function stepJson(s: StepRow) {
  const { stepDependenciesByStepId, ...rest } = s;
  return { ...rest, dependsOn: stepDependenciesByStepId.nodes.map((n) => n.dependsOnStepId) };
}

export function snapshotJson(d: DirectiveSnapshot) {
  const { directiveSteps, tasks, ...directive } = d;
  return { directive, steps: directiveSteps.nodes.map(stepJson), tasks: tasks.nodes };
}

/** "timeout 30m, stall 5m" (the limits that are set), or "" when none is. */
export function limitsText(l: { timeoutSeconds: number | null; stallSeconds: number | null }): string {
  return [l.timeoutSeconds === null ? "" : `timeout ${formatDuration(l.timeoutSeconds)}`, l.stallSeconds === null ? "" : `stall ${formatDuration(l.stallSeconds)}`]
    .filter(Boolean)
    .join(", ");
}

/** The directive's latest integration task, if any. */
export function lastIntegration(d: DirectiveSnapshot): TaskFieldsFragment | undefined {
  return d.tasks.nodes.filter((t) => t.kind === "integration").at(-1);
}

/** "result: BRANCH at COMMIT (URL)", or where the result will go before the first integration. */
export function resultText(d: Pick<DirectiveSnapshot, "resultBranch" | "resultCommit" | "resultUrl" | "targetBranch">): string {
  if (!d.resultBranch || !d.resultCommit) return `result: not integrated yet (it goes to ${d.targetBranch} when every step is settled)`;
  return `result: ${d.resultBranch} at ${d.resultCommit.slice(0, 10)}${d.resultUrl ? ` (${d.resultUrl})` : ""}`;
}

export function renderStatus(d: DirectiveSnapshot, usage: DirectiveUsage | null = null): string {
  const byId = new Map(d.directiveSteps.nodes.map((s) => [s.rowId, s]));
  const lines = [`${d.title} (${d.rowId})`, `status ${d.status}, goal revision ${d.goalRevision}, generation ${d.currentGeneration}`];
  lines.push(...usageLines(usage, d.status));
  if (d.checkCommand) lines.push(`check: ${d.checkCommand}`);
  if (limitsText(d)) lines.push(`limits per attempt: ${limitsText(d)}`);
  if (d.repo) lines.push(resultText(d));
  if (d.onCompleteCommand) lines.push(`on complete: ${d.onCompleteCommand}`);
  lines.push("");
  // A pause says why in the usage lines above (its reason names a failed planner or integration).
  // A failed planner of a directive resumed since: say so, and where its output is.
  const planner = d.tasks.nodes.filter((t) => t.kind === "planning").at(-1);
  if (d.status !== "paused" && planner?.error && statusIn(planner.status, ["failed", "interrupted"])) {
    lines.push(`planning ${planner.status}: ${errorSummary(planner.error)} (see \`baton task logs ${planner.rowId}\`)`, "");
  }
  if (d.directiveSteps.nodes.length === 0) lines.push("No steps yet.");
  for (const s of d.directiveSteps.nodes) {
    const deps = s.stepDependenciesByStepId.nodes.map((n) => byId.get(n.dependsOnStepId)?.name ?? n.dependsOnStepId);
    lines.push(`${s.rowId}  ${s.status.padEnd(9)} g${s.generation}  ${s.name}${deps.length ? `  <- ${deps.join(", ")}` : ""}`);
    if (s.checkCommand) lines.push(`    check: ${s.checkCommand}`);
    if (limitsText(s)) lines.push(`    limits: ${limitsText(s)}`);
    if (s.currentTask?.error && statusIn(s.status, RETRYABLE_STEP_STATUSES)) lines.push(`    last error: ${errorSummary(s.currentTask.error)} (see \`baton task logs ${s.currentTask.rowId}\`)`);
  }
  const live = d.tasks.nodes.filter((t) => statusIn(t.status, LIVE_TASK_STATUSES));
  if (live.length) {
    lines.push("", "Tasks in flight:");
    for (const t of live) {
      const checking = t.status === "checking" && t.checkCommand ? `  running its check: ${t.checkCommand}` : t.status === "waiting" ? "  its agent asked a question (below)" : "";
      lines.push(`${t.rowId}  ${t.kind.padEnd(9)} ${t.status.padEnd(8)} ${t.daemon?.name ?? "(waiting for a daemon)"}${checking}`);
    }
  }
  return lines.join("\n");
}

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("status")
      .description("Show a directive, every step with its status and dependencies, and its tasks.")
      .addHelpText("after", "\nExample:\n  baton directive status --directive $BATON_DIRECTIVE_ID --json"),
    { directive: true },
  ).action(async (opts: CommonOptions) => {
    const d = await fetchDirective(opts, directiveIdFrom(opts));
    const usage = await fetchUsage(opts, d.rowId);
    const questions = await fetchOpenQuestions(apiClient(opts), d.rowId);
    const asked = questions.length ? ["", `Open questions (answer with \`baton directive answer QUESTION_ID "TEXT"\`):`, ...questionLines(questions)] : [];
    const planWaiting = await planWaitingLine(apiClient(opts), d.rowId);
    output(opts, { ...snapshotJson(d), usage, questions, ...(planWaiting ? { planWaiting } : {}) }, () =>
      [renderStatus(d, usage), ...(planWaiting ? ["", planWaiting] : []), ...asked].join("\n"),
    );
  });
}
export { UsageError };
