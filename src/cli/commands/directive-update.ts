import type { Command } from "commander";
import { UpdateDirectiveDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, output, UsageError, type CommonOptions } from "../context";
import { formatDuration } from "../../duration";
import { cliLimit, LIMITS_HELP } from "./directive-limits";
import { BUDGET_HELP, budgetFlags, budgetLine } from "./task-usage";
import { FAIRNESS_HELP, fairnessFlags, hasFairness } from "./directive-fairness";

type Options = CommonOptions & { check?: string | false; timeout?: string; stall?: string; targetBranch?: string | false; onComplete?: string | false;
  budgetUsd?: string;
  budgetTokens?: string;
  reviewPlans?: string;
  maxParallel?: string;
  priority?: string;
};

/** --review-plans on|off (also true/false, yes/no): whether planners' plans wait for the owner's review. */
function reviewFlag(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (["on", "true", "yes"].includes(v)) return true;
  if (["off", "false", "no"].includes(v)) return false;
  throw new UsageError(`--review-plans takes on or off (got ${JSON.stringify(value)}).`);
}

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("update")
      .description("Change a directive's settings (its goal: `update-goal`).")
      .option("--check <command>", "the check every step attempt must pass after its agent exits 0 (a step's own check replaces it)")
      .option("--no-check", "remove the directive's check")
      .option("--timeout <duration>", "the longest one attempt may run, e.g. 30m (none: no limit)")
      .option("--stall <duration>", "how long one attempt may go without output, e.g. 5m (none: no limit)")
      .option("--target-branch <branch>", "the branch the integrated result is pushed to")
      .option("--no-target-branch", "push the result to the default branch, baton/<directive-short>/result")
      .option("--on-complete <command>", "a command run in the result's worktree after each integration pushed it")
      .option("--no-on-complete", "remove the on-complete command")
      .option("--budget-usd <amount>", "pause the directive when its tasks' cost reaches this many USD, e.g. 25 (none: no cost budget)")
      .option("--budget-tokens <n>", "pause the directive when its tasks' input plus output tokens reach this (none: no token budget)")
      .option("--max-parallel <n>", "at most this many of its tasks run at once, 1 to 10000 (none: no limit)")
      .option("--priority <n>", "its turn among directives that waited equally long for a slot, -1000 to 1000 (higher first; default 0)")
      .option("--review-plans <on|off>", "on: what its planners write waits for your review (`baton directive plan`); off: plans run at once")
      .addHelpText(
        "after",
        `
The check runs through \`sh -c\` in the attempt's worktree, with the agent's environment, after the
agent exits 0 and its work is committed; the step completes only if the check exits 0 too. A new check
applies to attempts dispatched from now on; running attempts keep the one they started with.
${LIMITS_HELP}
${BUDGET_HELP}
${FAIRNESS_HELP}

Examples:
  baton directive update --check "npm test"
  baton directive update --no-check
  baton directive update --timeout 30m --stall 5m
  baton directive update --budget-usd 25 --budget-tokens 5000000
  baton directive update --review-plans on
  baton directive update --max-parallel 4 --priority 10
  baton directive update --target-branch feature/login --on-complete 'gh pr create --fill --head "$BATON_RESULT_BRANCH"'`,
      ),
    { directive: true },
  ).action(async (opts: Options) => {
    // Every flag is checked before anything is sent, and all of them go in one call (sql/000029):
    // the server applies them all or, when it refuses one, none.
    const settings: Record<string, unknown> = {};
    if (opts.reviewPlans !== undefined) settings.review_plans = reviewFlag(opts.reviewPlans);
    const fairness = fairnessFlags(opts);
    if (fairness.maxParallel !== undefined) settings.max_parallel = fairness.maxParallel;
    if (fairness.priority !== undefined) settings.priority = fairness.priority;
    const budget = budgetFlags(opts);
    if (budget.usd !== undefined) settings.budget_usd = budget.usd === null ? null : Number(budget.usd);
    if (budget.tokens !== undefined) settings.budget_tokens = budget.tokens === null ? null : Number(budget.tokens);
    if (opts.targetBranch !== undefined) settings.target_branch = opts.targetBranch === false ? null : opts.targetBranch;
    if (opts.onComplete !== undefined) settings.on_complete = opts.onComplete === false ? null : opts.onComplete;
    // `none` is 0 here; the server takes null to remove a limit.
    if (opts.timeout !== undefined) settings.timeout_seconds = cliLimit(opts.timeout, "--timeout", { allowNone: true }) || null;
    if (opts.stall !== undefined) settings.stall_seconds = cliLimit(opts.stall, "--stall", { allowNone: true }) || null;
    if (opts.check !== undefined) settings.check = opts.check === false ? null : opts.check;
    if (Object.keys(settings).length === 0) {
      throw new UsageError(
        'Nothing to update: give --check "COMMAND", --no-check, --target-branch BRANCH, --no-target-branch, --on-complete "COMMAND", --no-on-complete, --timeout DURATION, --stall DURATION, --budget-usd AMOUNT, --budget-tokens N, --max-parallel N, --priority N or --review-plans on|off.',
      );
    }
    const data = await apiClient(opts).request(UpdateDirectiveDocument, { id: directiveIdFrom(opts), settings });
    const d = present(data.updateDirective?.result, "the updated directive");
    const show = (seconds: number | null) => (seconds === null ? "none" : formatDuration(seconds));
    const lines: string[] = [];
    if ("review_plans" in settings) lines.push(d.reviewPlans ? `Plans of ${d.rowId} now wait for your review (\`baton directive plan\`).` : `Plans of ${d.rowId} now run without review.`);
    if (hasFairness(fairness)) lines.push(`Dispatch of ${d.rowId}: max parallel ${d.maxParallel ?? "none"}, priority ${d.priority}.`);
    if ("budget_usd" in settings || "budget_tokens" in settings) lines.push(budgetLine(d));
    if ("target_branch" in settings) lines.push(`Result of ${d.rowId} goes to ${d.targetBranch}.`);
    if ("on_complete" in settings) lines.push(d.onCompleteCommand ? `On-complete command of ${d.rowId} set: ${d.onCompleteCommand}` : `On-complete command of ${d.rowId} removed.`);
    if ("timeout_seconds" in settings || "stall_seconds" in settings) lines.push(`Limits of ${d.rowId}: timeout ${show(d.timeoutSeconds)}, stall ${show(d.stallSeconds)}.`);
    if ("check" in settings) lines.push(d.checkCommand ? `Check of ${d.rowId} set: ${d.checkCommand}` : `Check of ${d.rowId} removed.`);
    output(opts, d, lines.join("\n"));
  });
}
