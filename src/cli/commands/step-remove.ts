import type { Command } from "commander";
import { RemoveStepDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, output, parseId, type CommonOptions } from "../context";

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("remove-step")
      .argument("<step-id>")
      .description("Remove a step. Completed and running steps cannot be removed (fail-step or skip-step a running one first). Refused while others depend on it, unless --force re-wires them onto its own dependencies.")
      .option("--force", "re-wire dependents onto the removed step's dependencies")
      .addHelpText("after", "\nExample:\n  baton directive remove-step 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f --force"),
  ).action(async (stepId: string, opts: CommonOptions & { force?: boolean }) => {
    const data = await apiClient(opts).request(RemoveStepDocument, { s: parseId(stepId, "STEP_ID"), force: Boolean(opts.force) });
    const s = present(data.removeStep?.result, "the removed step");
    output(opts, s, `Removed step ${s.rowId} ("${s.name}").`);
  });
}
