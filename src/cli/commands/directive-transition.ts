import type { Command } from "commander";
import { ArchiveDirectiveDocument, PauseDirectiveDocument, StartDirectiveDocument, type DirectiveFieldsFragment } from "../../client/generated/graphql";
import type { GraphQLClient } from "../../client/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, output, type CommonOptions } from "../context";

type Transition = { help: string; run: (api: GraphQLClient, id: string) => Promise<DirectiveFieldsFragment | null | undefined> };

const TRANSITIONS: Record<"start" | "pause" | "archive", Transition> = {
  start: { help: "Start a draft directive, or resume a paused one.", run: async (api, id) => (await api.request(StartDirectiveDocument, { id })).startDirective?.result },
  pause: {
    help: "Pause a directive: nothing new is dispatched; running tasks finish.",
    run: async (api, id) => (await api.request(PauseDirectiveDocument, { id })).pauseDirective?.result,
  },
  archive: {
    help: "Archive a directive for good: running tasks are interrupted, pending ones cancelled.",
    run: async (api, id) => (await api.request(ArchiveDirectiveDocument, { id })).archiveDirective?.result,
  },
};

export function register(directive: Command): void {
  for (const [verb, { help, run }] of Object.entries(TRANSITIONS)) {
    addCommonOptions(
      directive.command(verb).description(help).addHelpText("after", `\nExample:\n  baton directive ${verb} --directive $BATON_DIRECTIVE_ID`),
      { directive: true },
    ).action(async (opts: CommonOptions) => {
      const id = directiveIdFrom(opts);
      const d = present(await run(apiClient(opts), id), "the directive");
      output(opts, d, `Directive ${d.rowId} is ${d.status}.`);
    });
  }
}
