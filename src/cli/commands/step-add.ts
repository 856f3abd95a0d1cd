import type { Command } from "commander";
import { AddStepDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, output, parseIdList, UsageError, type CommonOptions } from "../context";
import { cliLimit } from "./directive-limits";

type Options = CommonOptions & { description?: string; taskPlan?: string; dependsOn?: string; orderIndex?: string; check?: string; timeout?: string; stall?: string; agent?: string };

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("add-step")
      .argument("<name>", "the step's name (1-200 characters)")
      .description("Add one step; prints its id, which later --depends-on values use.")
      .option("--description <text>", "what the step is for")
      .option("--task-plan <text>", "self-contained instructions for the executing agent")
      .option("--depends-on <ids>", "comma-separated ids of steps it waits for")
      .option("--order-index <n>", "display and dispatch order among ready steps")
      .option("--check <command>", "this step's check, run after its agent exits 0; it replaces the directive's check for this step")
      .option("--timeout <duration>", "the longest one attempt of this step may run, e.g. 30m (overrides the directive's)")
      .option("--stall <duration>", "how long one attempt of this step may go without output, e.g. 5m (overrides the directive's)")
      .option("--agent <label>", "the kind of agent the step needs, e.g. claude or codex: only daemons started with --label <label> take it")
      .addHelpText(
        "after",
        `
A step's check (--check) replaces its directive's check (directive create/update --check) for that
step; without one the directive's applies. The step completes only if its check exits 0.
--timeout and --stall (90s, 30m, 2h, 1h30m; at most 30d) override the directive's limits for this step.

Example:
  A=$(baton directive add-step "Add the users table" --task-plan "Create migration 002..." --check "npm test -- users")
  baton directive add-step "Expose users over the API" --depends-on "$A"`,
      ),
    { directive: true },
  ).action(async (name: string, opts: Options) => {
    const dependsOn = opts.dependsOn ? parseIdList(opts.dependsOn, "Each --depends-on id") : null;
    let orderIndex: number | null = null;
    if (opts.orderIndex !== undefined) {
      orderIndex = Number(opts.orderIndex);
      if (!Number.isInteger(orderIndex)) throw new UsageError(`--order-index must be an integer (got "${opts.orderIndex}").`);
    }
    const data = await apiClient(opts).request(AddStepDocument, {
      d: directiveIdFrom(opts),
      name,
      description: opts.description ?? null,
      plan: opts.taskPlan ?? null,
      deps: dependsOn,
      order: orderIndex,
      check: opts.check ?? null,
      timeoutSeconds: opts.timeout === undefined ? null : cliLimit(opts.timeout, "--timeout"),
      stallSeconds: opts.stall === undefined ? null : cliLimit(opts.stall, "--stall"),
      agent: opts.agent ?? null,
    });
    const s = present(data.addStep?.result, "the new step");
    output(opts, s, s.rowId);
  });
}
