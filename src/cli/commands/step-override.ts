import type { Command } from "commander";
import { addCommonOptions, apiClient, output, parseId, type CommonOptions } from "../context";

const OVERRIDES = {
  "complete-step": { mutation: "completeStep", help: "Mark a step completed by hand (its task, if any, is cancelled)." },
  "fail-step": { mutation: "failStep", help: "Mark a step failed by hand; its dependents become blocked." },
  "skip-step": { mutation: "skipStep", help: "Skip a step: it satisfies its dependents as if completed." },
  "retry-step": { mutation: "retryStep", help: "Run a failed step again (a blocked one: the failed steps it waits on); dependents are unblocked." },
} as const;

export function register(directive: Command): void {
  for (const [name, { mutation, help }] of Object.entries(OVERRIDES)) {
    addCommonOptions(
      directive.command(name).argument("<step-id>").description(help).addHelpText("after", `\nExample:\n  baton directive ${name} 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f`),
    ).action(async (stepId: string, opts: CommonOptions) => {
      const data = await apiClient(opts).request<Record<string, { result: { rowId: string; name: string; status: string } }>>(
        `mutation($s: UUID!) { ${mutation}(input: { stepId: $s }) { result { rowId name status } } }`,
        { s: parseId(stepId, "STEP_ID") },
      );
      const s = data[mutation]!.result;
      output(opts, s, `Step ${s.rowId} ("${s.name}") is ${s.status}.`);
    });
  }
}
