import type { Command } from "commander";
import { UpdateGoalDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, output, type CommonOptions } from "../context";

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("update-goal")
      .argument("<goal>", "the new goal")
      .description("Change a directive's goal; an active or idle directive is re-planned.")
      .addHelpText("after", `\nExample:\n  baton directive update-goal "Also support password reset"`),
    { directive: true },
  ).action(async (goal: string, opts: CommonOptions) => {
    const data = await apiClient(opts).request(UpdateGoalDocument, { id: directiveIdFrom(opts), goal });
    const d = present(data.updateGoal?.result, "the updated directive");
    output(opts, d, `Goal of ${d.rowId} updated (revision ${d.goalRevision}); it is ${d.status}.`);
  });
}
