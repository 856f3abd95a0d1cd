import type { Command } from "commander";
import { CompleteStepDocument, FailStepDocument, RetryStepDocument, SkipStepDocument, type StepSummaryFragment } from "../../client/generated/graphql";
import type { GraphQLClient } from "../../client/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, output, parseId, type CommonOptions } from "../context";

type Override = { help: string; run: (api: GraphQLClient, s: string) => Promise<StepSummaryFragment | null | undefined> };

const OVERRIDES: Record<"complete-step" | "fail-step" | "skip-step" | "retry-step", Override> = {
  "complete-step": {
    help: "Mark a step completed by hand (its task, if any, is cancelled).",
    run: async (api, s) => (await api.request(CompleteStepDocument, { s })).completeStep?.result,
  },
  "fail-step": { help: "Mark a step failed by hand; its dependents become blocked.", run: async (api, s) => (await api.request(FailStepDocument, { s })).failStep?.result },
  "skip-step": { help: "Skip a step: it satisfies its dependents as if completed.", run: async (api, s) => (await api.request(SkipStepDocument, { s })).skipStep?.result },
  "retry-step": {
    help: "Run a failed step again (a blocked one: the failed steps it waits on); dependents are unblocked.",
    run: async (api, s) => (await api.request(RetryStepDocument, { s })).retryStep?.result,
  },
};

export function register(directive: Command): void {
  for (const [name, { help, run }] of Object.entries(OVERRIDES)) {
    addCommonOptions(
      directive.command(name).argument("<step-id>").description(help).addHelpText("after", `\nExample:\n  baton directive ${name} 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f`),
    ).action(async (stepId: string, opts: CommonOptions) => {
      const s = present(await run(apiClient(opts), parseId(stepId, "STEP_ID")), "the step");
      output(opts, s, `Step ${s.rowId} ("${s.name}") is ${s.status}.`);
    });
  }
}
