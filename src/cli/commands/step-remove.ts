import type { Command } from "commander";
import { addCommonOptions, apiClient, output, parseId, type CommonOptions } from "../context";

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("remove-step")
      .argument("<step-id>")
      .description("Remove a step. Refused while others depend on it, unless --force re-wires them onto its own dependencies.")
      .option("--force", "re-wire dependents onto the removed step's dependencies")
      .addHelpText("after", "\nExample:\n  baton directive remove-step 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f --force"),
  ).action(async (stepId: string, opts: CommonOptions & { force?: boolean }) => {
    const data = await apiClient(opts).request<{ removeStep: { result: { rowId: string; name: string } } }>(
      `mutation($s: UUID!, $force: Boolean) { removeStep(input: { stepId: $s, force: $force }) { result { rowId name } } }`,
      { s: parseId(stepId, "STEP_ID"), force: Boolean(opts.force) },
    );
    const s = data.removeStep.result;
    output(opts, s, `Removed step ${s.rowId} ("${s.name}").`);
  });
}
