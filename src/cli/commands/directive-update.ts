import type { Command } from "commander";
import { SetDirectiveCheckDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, output, UsageError, type CommonOptions } from "../context";

type Options = CommonOptions & { check?: string | false };

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("update")
      .description("Change a directive's settings (its goal: `update-goal`).")
      .option("--check <command>", "the check every step attempt must pass after its agent exits 0 (a step's own check replaces it)")
      .option("--no-check", "remove the directive's check")
      .addHelpText(
        "after",
        `
The check runs through \`sh -c\` in the attempt's worktree, with the agent's environment, after the
agent exits 0 and its work is committed; the step completes only if the check exits 0 too. A new check
applies to attempts dispatched from now on; running attempts keep the one they started with.

Examples:
  baton directive update --check "npm test"
  baton directive update --no-check`,
      ),
    { directive: true },
  ).action(async (opts: Options) => {
    if (opts.check === undefined) throw new UsageError('Nothing to update: give --check "COMMAND" or --no-check.');
    const data = await apiClient(opts).request(SetDirectiveCheckDocument, { id: directiveIdFrom(opts), check: opts.check === false ? null : opts.check });
    const d = present(data.setDirectiveCheck?.result, "the updated directive");
    output(opts, d, d.checkCommand ? `Check of ${d.rowId} set: ${d.checkCommand}` : `Check of ${d.rowId} removed.`);
  });
}
