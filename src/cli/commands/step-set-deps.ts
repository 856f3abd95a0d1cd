import type { Command } from "commander";
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
    const data = await apiClient(opts).request<{ setStepDependencies: { result: { rowId: string; status: string } } }>(
      `mutation($s: UUID!, $deps: [UUID]!) { setStepDependencies(input: { stepId: $s, dependsOn: $deps }) { result { rowId status } } }`,
      { s: parseId(stepId, "STEP_ID"), deps: parseIdList(ids, "Each dependency id") },
    );
    const s = data.setStepDependencies.result;
    output(opts, s, `Step ${s.rowId} now waits for ${ids.trim() || "nothing"}; it is ${s.status}.`);
  });
}
