import type { Command } from "commander";
import { SetStepDependenciesDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, output, parseId, parseIdList, type CommonOptions } from "../context";

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("set-deps")
      .argument("<step-id>")
      .argument("<ids>", 'comma-separated ids the step waits for ("" for none)')
      .description("Replace the dependencies of a pending, ready or blocked step; cycles are refused with the cycle printed.")
      .addHelpText("after", `\nExample:\n  baton directive set-deps "$C" "$A,$B"`),
  ).action(async (stepId: string, ids: string, opts: CommonOptions) => {
    const data = await apiClient(opts).request(SetStepDependenciesDocument, { s: parseId(stepId, "STEP_ID"), deps: parseIdList(ids, "Each dependency id") });
    const s = present(data.setStepDependencies?.result, "the step");
    output(opts, s, `Step ${s.rowId} now waits for ${ids.trim() || "nothing"}; it is ${s.status}.`);
  });
}
