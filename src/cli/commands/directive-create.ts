import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { CreateDirectiveDocument, StartDirectiveDocument, UpdateDirectiveDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, output, UsageError, type CommonOptions } from "../context";
import { cliLimit } from "./directive-limits";
import { BUDGET_HELP, budgetFlags } from "./task-usage";
import { FAIRNESS_HELP, fairnessFlags, hasFairness } from "./directive-fairness";

type Options = CommonOptions & {
  title: string;
  goal: string;
  repo?: string;
  baseBranch?: string;
  start?: boolean;
  check?: string;
  timeout?: string;
  stall?: string;
  targetBranch?: string;
  onComplete?: string;
  budgetUsd?: string;
  budgetTokens?: string;
  reviewPlans?: boolean;
  maxParallel?: string;
  priority?: string;
};

/** A local repository path is made absolute, so daemons anywhere on this machine can clone it. */
export function normalizeRepo(repo: string | undefined, cwd = process.cwd()): string | undefined {
  if (!repo) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/\s]+@[^:\s]+:/.test(repo)) return repo; // URL or scp-like
  const abs = path.resolve(cwd, repo);
  if (!fs.existsSync(abs)) throw new UsageError(`The repository ${repo} does not exist (resolved to ${abs}); give a git URL or the path of a local repository.`);
  return abs;
}

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("create")
      .description("Create a directive: a goal for agents to plan and carry out.")
      .requiredOption("--title <title>", "a short title (1-200 characters)")
      .requiredOption("--goal <goal>", "what you want done, in prose")
      .option("--repo <url-or-path>", "the git repository the agents work on")
      .option("--base-branch <branch>", "the branch root steps start from", "main")
      .option("--check <command>", "a check every step attempt must pass after its agent exits 0, e.g. \"npm test\" (a step's own check replaces it)")
      .option("--timeout <duration>", "the longest one attempt (task) may run, e.g. 30m or 2h; a step's own --timeout overrides it")
      .option("--stall <duration>", "how long one attempt may go without output, e.g. 5m; a step's own --stall overrides it")
      .option("--target-branch <branch>", "the branch the integrated result is pushed to (default baton/<directive-short>/result)")
      .option("--on-complete <command>", "a command run in the result's worktree after it is pushed, e.g. 'gh pr create --fill --head \"$BATON_RESULT_BRANCH\"'; the first URL it prints is recorded")
      .option("--budget-usd <amount>", "pause it when its tasks' cost reaches this many USD, e.g. 25")
      .option("--budget-tokens <n>", "pause it when its tasks' input plus output tokens reach this, e.g. 5000000")
      .option("--review-plans", "hold what its planners write for your review: nothing runs until you approve it (`baton directive plan`)")
      .option("--max-parallel <n>", "at most this many of its tasks run at once, 1 to 10000 (default: no limit)")
      .option("--priority <n>", "its turn among directives that waited equally long for a slot, -1000 to 1000 (higher first; default 0)")
      .option("--start", "start it at once (plan and dispatch)")
      .addHelpText(
        "after",
        `
With --check, the daemon runs the command through \`sh -c\` in each attempt's worktree (with the
agent's environment) after the agent exits 0; the task is \`checking\` meanwhile. The step completes
only if the check exits 0; otherwise the attempt fails and the next attempt's prompt quotes the
check's command and the end of its output. Change it later with \`baton directive update --check\`.

--timeout and --stall take durations (90s, 30m, 2h, 1h30m, 1d; at most 30d). The server checks every few
seconds: an attempt running longer than its timeout, or writing no output for its stall limit, is
interrupted (its daemon kills the agent's process group) with the reason as its error, and its step is
retried under the usual rules. Change them later with \`baton directive update --timeout/--stall\`.

With --repo, when every step is completed or skipped (none failed), Baton integrates: a daemon merges
the branches of the last steps (those no other step builds on) onto the base branch, runs the check
on the result, and pushes it to the target branch (a merge conflict goes to the agent); then it runs
--on-complete there with BATON_RESULT_BRANCH, BATON_RESULT_COMMIT and BATON_DIRECTIVE_ID set. Only
then is the directive idle; \`baton directive status\` shows the result branch, commit and URL.
${BUDGET_HELP}
${FAIRNESS_HELP}

With --review-plans, each plan (and re-plan) waits as a proposal: \`baton directive plan\` shows it as a
diff against the current plan, \`baton directive plan approve\` applies it, and
\`baton directive plan reject --reason "..."\` plans again with your reason. Switch it later with
\`baton directive update --review-plans on|off\`.

Example:
  baton directive create --title "Add login" --goal "Users can log in with email" --repo . --check "npm test" --start`,
      ),
  ).action(async (opts: Options) => {
    const repo = normalizeRepo(opts.repo);
    const timeoutSeconds = opts.timeout === undefined ? null : cliLimit(opts.timeout, "--timeout");
    const stallSeconds = opts.stall === undefined ? null : cliLimit(opts.stall, "--stall");
    const budget = budgetFlags(opts);
    if (budget.usd === null || budget.tokens === null) throw new UsageError("A new directive has no budget to remove: leave out --budget-usd none / --budget-tokens none.");
    const budgets = budget.usd !== undefined || budget.tokens !== undefined;
    const fairness = fairnessFlags(opts); // checked before anything is sent
    if (fairness.maxParallel === null) throw new UsageError("A new directive has no limit to remove: leave out --max-parallel none.");
    const api = apiClient(opts);
    const data = await api.request(CreateDirectiveDocument, {
      title: opts.title,
      goal: opts.goal,
      repo: repo ?? null,
      baseBranch: opts.baseBranch ?? "main",
      start: Boolean(opts.start) && !budgets && !opts.reviewPlans && !hasFairness(fairness), // with a budget, review or limits: started once they are set
      check: opts.check ?? null,
      timeoutSeconds,
      stallSeconds,
      targetBranch: opts.targetBranch ?? null,
      onComplete: opts.onComplete ?? null,
    });
    let d = present(data.createDirective?.result, "the created directive");
    // Budget, review and limits in one all-or-nothing call (sql/000029), before the start, so the
    // first plan already waits for review and nothing runs unbudgeted.
    const settings: Record<string, unknown> = {};
    if (budget.usd !== undefined) settings.budget_usd = Number(budget.usd);
    if (budget.tokens !== undefined) settings.budget_tokens = Number(budget.tokens);
    if (opts.reviewPlans) settings.review_plans = true;
    if (fairness.maxParallel !== undefined) settings.max_parallel = fairness.maxParallel;
    if (fairness.priority !== undefined) settings.priority = fairness.priority;
    if (Object.keys(settings).length > 0) {
      d = present((await api.request(UpdateDirectiveDocument, { id: d.rowId, settings })).updateDirective?.result, "the updated directive");
      if (opts.start) d = present((await api.request(StartDirectiveDocument, { id: d.rowId })).startDirective?.result, "the started directive");
    }
    output(opts, d, `${d.rowId}\nCreated directive "${d.title}" (${d.status}). Use it with: export BATON_DIRECTIVE_ID=${d.rowId}`);
  });
}
