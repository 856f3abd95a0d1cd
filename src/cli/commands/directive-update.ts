import type { Command } from "commander";
import { DirectiveUsageDocument, SetDirectiveCheckDocument, SetDirectiveReviewPlansDocument, SetDirectiveOnCompleteDocument, SetDirectiveTargetBranchDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, output, UsageError, type CommonOptions } from "../context";
import { cliLimit, LIMITS_HELP, updateLimits } from "./directive-limits";
import { BUDGET_HELP, budgetFlags, updateBudget } from "./task-usage";
import { FAIRNESS_HELP, fairnessFlags, hasFairness, updateFairness } from "./directive-fairness";

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
    if (opts.reviewPlans !== undefined) {
      // Plan review (sql/000024): its own call, before the other settings (each is one call).
      const on = reviewFlag(opts.reviewPlans);
      const data = await apiClient(opts).request(SetDirectiveReviewPlansDocument, { d: directiveIdFrom(opts), on });
      const d = present(data.setDirectiveReviewPlans?.result, "the updated directive");
      const line = on ? `Plans of ${d.rowId} now wait for your review (\`baton directive plan\`).` : `Plans of ${d.rowId} now run without review.`;
      const rest = opts.check !== undefined || opts.timeout !== undefined || opts.stall !== undefined || opts.targetBranch !== undefined || opts.onComplete !== undefined || opts.budgetUsd !== undefined || opts.budgetTokens !== undefined || opts.maxParallel !== undefined || opts.priority !== undefined;
      if (!rest) return output(opts, d, line);
      if (!opts.json) process.stdout.write(line + "\n");
    }
    const limits = opts.timeout !== undefined || opts.stall !== undefined;
    const result = opts.targetBranch !== undefined || opts.onComplete !== undefined;
    const budget = budgetFlags(opts); // checked before anything is sent
    const budgets = budget.usd !== undefined || budget.tokens !== undefined;
    const fairness = fairnessFlags(opts); // checked before anything is sent
    if (opts.check === undefined && !limits && !result && !budgets && !hasFairness(fairness)) {
      throw new UsageError(
        'Nothing to update: give --check "COMMAND", --no-check, --target-branch BRANCH, --no-target-branch, --on-complete "COMMAND", --no-on-complete, --timeout DURATION, --stall DURATION, --budget-usd AMOUNT, --budget-tokens N, --max-parallel N, --priority N or --review-plans on|off.',
      );
    }
    if (hasFairness(fairness)) {
      // Limits and priority (sql/000026): their own calls, before the other settings.
      if (opts.timeout !== undefined) cliLimit(opts.timeout, "--timeout", { allowNone: true });
      if (opts.stall !== undefined) cliLimit(opts.stall, "--stall", { allowNone: true });
      const { directive: d, line } = await updateFairness(apiClient(opts), directiveIdFrom(opts), fairness);
      if (opts.check === undefined && !limits && !result && !budgets) return output(opts, d, line);
      if (!opts.json) process.stdout.write(line + "\n");
    }
    if (budgets) {
      if (opts.timeout !== undefined) cliLimit(opts.timeout, "--timeout", { allowNone: true });
      if (opts.stall !== undefined) cliLimit(opts.stall, "--stall", { allowNone: true });
      const api = apiClient(opts);
      const id = directiveIdFrom(opts);
      const now = (await api.request(DirectiveUsageDocument, { id })).directiveUsages?.nodes[0];
      if (!now) throw Object.assign(new Error(`Directive ${id} does not exist. List your directives with \`baton directive list\`.`), { code: "BTNFD" });
      const { directive: d, line } = await updateBudget(api, id, budget, now);
      if (opts.check === undefined && !limits && !result) return output(opts, d, line);
      if (!opts.json) process.stdout.write(line + "\n");
    }
    if (result) {
      // The result options first: each is one call, and the others follow as before.
      const api = apiClient(opts);
      const id = directiveIdFrom(opts);
      const said: string[] = [];
      let d;
      if (opts.targetBranch !== undefined) {
        const data = await api.request(SetDirectiveTargetBranchDocument, { id, branch: opts.targetBranch === false ? null : opts.targetBranch });
        d = present(data.setDirectiveTargetBranch?.result, "the updated directive");
        said.push(`Result of ${d.rowId} goes to ${d.targetBranch}.`);
      }
      if (opts.onComplete !== undefined) {
        const data = await api.request(SetDirectiveOnCompleteDocument, { id, command: opts.onComplete === false ? null : opts.onComplete });
        d = present(data.setDirectiveOnComplete?.result, "the updated directive");
        said.push(d.onCompleteCommand ? `On-complete command of ${d.rowId} set: ${d.onCompleteCommand}` : `On-complete command of ${d.rowId} removed.`);
      }
      if (opts.check === undefined && !limits) return output(opts, d, said.join("\n"));
      if (!opts.json) process.stdout.write(said.join("\n") + "\n");
    }
    // Both flags are checked before anything is sent, so a bad one changes nothing.
    if (opts.timeout !== undefined) cliLimit(opts.timeout, "--timeout", { allowNone: true });
    if (opts.stall !== undefined) cliLimit(opts.stall, "--stall", { allowNone: true });
    if (opts.check === undefined) {
      const { directive, line } = await updateLimits(apiClient(opts), directiveIdFrom(opts), opts);
      return output(opts, directive, line);
    }
    if (limits) await updateLimits(apiClient(opts), directiveIdFrom(opts), opts);
    const data = await apiClient(opts).request(SetDirectiveCheckDocument, { id: directiveIdFrom(opts), check: opts.check === false ? null : opts.check });
    const d = present(data.setDirectiveCheck?.result, "the updated directive");
    output(opts, d, d.checkCommand ? `Check of ${d.rowId} set: ${d.checkCommand}` : `Check of ${d.rowId} removed.`);
  });
}
