import type { Command } from "commander";
import { CancelTaskDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, output, parseId, type CommonOptions } from "../context";

export function register(task: Command): void {
  addCommonOptions(
    task
      .command("cancel")
      .argument("<task>", "the task's id (`baton directive status --json` lists them)")
      .description("Stop one attempt: the task is cancelled (its attempt given back) and its daemon kills the agent's process group.")
      .option("--retry", "run the step again at once (without it, the step is failed by hand until `retry-step`)")
      .addHelpText(
        "after",
        `
Without --retry the step does not run again by itself: it is failed by hand, so its dependents wait
(blocked) until you run \`baton directive retry-step STEP_ID\` or \`skip-step STEP_ID\`. With --retry it is
ready again at once and dispatched as a new attempt. Either way the cancelled attempt does not count
towards the step's attempts. Cancelling a planner pauses the directive (\`directive start\` plans
again); with --retry the directive is resumed and planned again at once.

Examples:
  baton task cancel 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f
  baton task cancel 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f --retry`,
      ),
  ).action(async (taskArg: string, opts: CommonOptions & { retry?: boolean }) => {
    const id = parseId(taskArg, "The task id");
    const data = await apiClient(opts).request(CancelTaskDocument, { t: id, retry: Boolean(opts.retry) });
    const t = present(data.cancelTask?.result, "the cancelled task");
    const next =
      t.kind === "planning"
        ? opts.retry
          ? "The directive plans again."
          : "The directive is paused; `baton directive start` plans again."
        : opts.retry
          ? `Step ${t.stepId} runs again.`
          : `Step ${t.stepId} is failed by hand; \`baton directive retry-step ${t.stepId}\` runs it again.`;
    output(opts, t, `Task ${t.rowId} is cancelled. ${next}`);
  });
}
