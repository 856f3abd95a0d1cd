import type { Command } from "commander";
import { addCommonOptions, apiClient, directiveIdFrom, output, type CommonOptions } from "../context";
import { DIRECTIVE_FIELDS, type DirectiveRow } from "../fragments";

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("update-goal")
      .argument("<goal>", "the new goal")
      .description("Change a directive's goal; an active or idle directive is re-planned.")
      .addHelpText("after", `\nExample:\n  baton directive update-goal "Also support password reset"`),
    { directive: true },
  ).action(async (goal: string, opts: CommonOptions) => {
    const data = await apiClient(opts).request<{ updateGoal: { result: DirectiveRow } }>(
      `mutation($id: UUID!, $goal: String!) { updateGoal(input: { directiveId: $id, goal: $goal }) { result { ${DIRECTIVE_FIELDS} } } }`,
      { id: directiveIdFrom(opts), goal },
    );
    const d = data.updateGoal.result;
    output(opts, d, `Goal of ${d.rowId} updated (revision ${d.goalRevision}); it is ${d.status}.`);
  });
}
