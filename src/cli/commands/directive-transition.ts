import type { Command } from "commander";
import { addCommonOptions, apiClient, directiveIdFrom, output, type CommonOptions } from "../context";
import { DIRECTIVE_FIELDS, type DirectiveRow } from "../fragments";

const TRANSITIONS = {
  start: { mutation: "startDirective", help: "Start a draft directive, or resume a paused one." },
  pause: { mutation: "pauseDirective", help: "Pause a directive: nothing new is dispatched; running tasks finish." },
  archive: { mutation: "archiveDirective", help: "Archive a directive for good: running tasks are interrupted, pending ones cancelled." },
} as const;

export function register(directive: Command): void {
  for (const [verb, { mutation, help }] of Object.entries(TRANSITIONS)) {
    addCommonOptions(
      directive.command(verb).description(help).addHelpText("after", `\nExample:\n  baton directive ${verb} --directive $BATON_DIRECTIVE_ID`),
      { directive: true },
    ).action(async (opts: CommonOptions) => {
      const id = directiveIdFrom(opts);
      const data = await apiClient(opts).request<Record<string, { result: DirectiveRow }>>(
        `mutation($id: UUID!) { ${mutation}(input: { directiveId: $id }) { result { ${DIRECTIVE_FIELDS} } } }`,
        { id },
      );
      const d = data[mutation]!.result;
      output(opts, d, `Directive ${d.rowId} is ${d.status}.`);
    });
  }
}
