/*
 * `baton task usage`: an agent reports what it spent (issue 12 point 3). It runs inside the agent with
 * the agent's token (BATON_TOKEN) and task (BATON_TASK_ID); each report ADDS to the task's usage, so an
 * agent may report after every model call. Also the budget flags of `directive create`/`update`.
 */
import type { Command } from "commander";
import { ReportTaskUsageDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, output, parseId, UsageError, type CommonOptions } from "../context";

const MAX_TOKENS = 1_000_000_000_000;

/** A token count: a whole number from `min` to 10^12, as text for the BigInt scalar. */
export function parseTokens(text: string, flag: string, min = 0): string {
  const t = text.trim().replace(/_/g, "");
  if (!/^\d{1,13}$/.test(t) || Number(t) < min || Number(t) > MAX_TOKENS) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${MAX_TOKENS} (got ${JSON.stringify(text)}).`);
  }
  return String(Number(t));
}

/** An amount in USD: a plain decimal with at most 6 places, from `min` to `max`, as text for the BigFloat scalar. */
export function parseUsd(text: string, flag: string, opts: { positive?: boolean; max: number }): string {
  const t = text.trim().replace(/^\$/, "");
  const ok = /^\d{1,7}(\.\d{1,6})?$/.test(t) && Number(t) <= opts.max && (!opts.positive || Number(t) > 0);
  if (!ok) {
    const range = opts.positive ? `more than 0 and at most ${opts.max}` : `from 0 to ${opts.max}`;
    throw new UsageError(`${flag} must be an amount in USD ${range}, with at most 6 decimal places, such as 0.42 (got ${JSON.stringify(text)}).`);
  }
  return t;
}

type UsageOptions = CommonOptions & { task?: string; inputTokens?: string; outputTokens?: string; costUsd?: string };

export function register(task: Command): void {
  addCommonOptions(
    task
      .command("usage")
      .description("Report what this task's agent used (tokens and cost); reports add up.")
      .option("--task <id>", "the task (default: BATON_TASK_ID, set in the agent's environment)")
      .option("--input-tokens <n>", "input tokens used since the last report")
      .option("--output-tokens <n>", "output tokens used since the last report")
      .option("--cost-usd <amount>", "cost in USD since the last report, e.g. 0.42")
      .addHelpText(
        "after",
        `
Run it inside the agent: it uses the agent's BATON_TOKEN and BATON_TASK_ID. Each report is ADDED to
what the task reported before, so report what was used since the last report (or report once, at the
end). At least one figure is needed. When the directive's usage reaches its budget
(\`baton directive update --budget-usd\`), the directive is paused; running tasks finish.

Examples:
  baton task usage --input-tokens 12000 --output-tokens 3400 --cost-usd 0.081
  baton task usage --cost-usd 0.02 --json`,
      ),
  ).action(async (opts: UsageOptions) => {
    const raw = opts.task ?? process.env.BATON_TASK_ID;
    if (!raw) throw new UsageError("No task given: pass --task ID or set BATON_TASK_ID (the daemon sets it for the agent).");
    const id = parseId(raw, "The task id");
    const input = opts.inputTokens === undefined ? null : parseTokens(opts.inputTokens, "--input-tokens");
    const out = opts.outputTokens === undefined ? null : parseTokens(opts.outputTokens, "--output-tokens");
    const cost = opts.costUsd === undefined ? null : parseUsd(opts.costUsd, "--cost-usd", { max: 1_000_000 });
    if (input === null && out === null && cost === null) {
      throw new UsageError("Nothing to report: pass --input-tokens, --output-tokens and/or --cost-usd.");
    }
    const data = await apiClient(opts).request(ReportTaskUsageDocument, { t: id, input, output: out, cost });
    const t = present(data.reportTaskUsage?.result, "the task's usage");
    output(opts, t, `Task ${t.rowId} has used ${formatUsage(t)} so far.`);
  });
}

/** "1,200 input + 300 output tokens, $0.25" (a missing figure counts as 0). */
export function formatUsage(u: { inputTokens: string | null; outputTokens: string | null; costUsd: string | null }): string {
  const n = (s: string | null) => Number(s ?? 0).toLocaleString("en-US");
  return `${n(u.inputTokens)} input + ${n(u.outputTokens)} output tokens, $${trimUsd(u.costUsd)}`;
}

export function trimUsd(s: string | null): string {
  return Number(s ?? 0).toFixed(6).replace(/(\.\d\d\d*?)0+$/, "$1"); // 2.00, 0.25, 0.060001
}

export const BUDGET_HELP = `
--budget-usd (USD, e.g. 25) and --budget-tokens (input plus output tokens) cap what the directive's tasks
may report (\`baton task usage\`, or the daemon's --agent-output): when usage reaches one, the directive
is paused with that reason and running tasks finish; \`baton directive start\` resumes it (setting a budget
again re-arms it). none removes a budget.`;

/** The budget flags: undefined when not given, null for none, else the value. */
export function budgetFlags(opts: { budgetUsd?: string; budgetTokens?: string }) {
  const usd = opts.budgetUsd === undefined ? undefined : opts.budgetUsd.trim() === "none" ? null : parseUsd(opts.budgetUsd, "--budget-usd", { positive: true, max: 1_000_000 });
  const tokens = opts.budgetTokens === undefined ? undefined : opts.budgetTokens.trim() === "none" ? null : parseTokens(opts.budgetTokens, "--budget-tokens", 1);
  return { usd, tokens };
}

/** "Budget of D: $25, no token budget." (and why it is paused, when it is). */
export function budgetLine(d: { rowId: string; budgetUsd: string | null; budgetTokens: string | null; pausedReason: string | null }): string {
  return `Budget of ${d.rowId}: ${d.budgetUsd === null ? "no cost budget" : `$${trimUsd(d.budgetUsd)}`}, ${d.budgetTokens === null ? "no token budget" : `${Number(d.budgetTokens).toLocaleString("en-US")} tokens`}.${d.pausedReason ? ` Paused: ${d.pausedReason}` : ""}`;
}
