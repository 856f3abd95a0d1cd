import type { Command } from "commander";
import { ArchiveDirectiveDocument, PauseDirectiveDocument, PauseDirectiveInterruptDocument, StartDirectiveDocument, type DirectiveFieldsFragment } from "../../client/generated/graphql";
import type { GraphQLClient } from "../../client/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, output, type CommonOptions } from "../context";

type Transition = { help: string; run: (api: GraphQLClient, id: string, opts: { interrupt?: boolean }) => Promise<DirectiveFieldsFragment | null | undefined> };

const TRANSITIONS: Record<"start" | "pause" | "archive", Transition> = {
  start: { help: "Start a draft directive, or resume a paused one.", run: async (api, id) => (await api.request(StartDirectiveDocument, { id })).startDirective?.result },
  pause: {
    help: "Pause a directive: nothing new is dispatched; running tasks finish (--interrupt stops them, and they run again on resume).",
    run: async (api, id, opts) =>
      opts.interrupt
        ? (await api.request(PauseDirectiveInterruptDocument, { id })).pauseDirective?.result
        : (await api.request(PauseDirectiveDocument, { id })).pauseDirective?.result,
  },
  archive: {
    help: "Archive a directive for good: running tasks are interrupted, pending ones cancelled.",
    run: async (api, id) => (await api.request(ArchiveDirectiveDocument, { id })).archiveDirective?.result,
  },
};

export function register(directive: Command): void {
  for (const [verb, { help, run }] of Object.entries(TRANSITIONS)) {
    const cmd = directive.command(verb).description(help);
    if (verb === "pause") {
      cmd
        .option("--interrupt", "also stop the running attempts (interrupted; their daemons kill the agents) and give their attempts back")
        .addHelpText(
          "after",
          `\nWith --interrupt the running attempts are interrupted at once (their daemons kill the agents' process groups)\nand run again when the directive is resumed (\`baton directive start\`); an attempt stopped this way does not\ncount against the step's attempts. A paused directive can be paused again with --interrupt to stop what a\nplain pause let finish.\n\nExamples:\n  baton directive pause --directive $BATON_DIRECTIVE_ID\n  baton directive pause --interrupt`,
        );
    } else cmd.addHelpText("after", `\nExample:\n  baton directive ${verb} --directive $BATON_DIRECTIVE_ID`);
    addCommonOptions(cmd, { directive: true }).action(async (opts: CommonOptions & { interrupt?: boolean }) => {
      const id = directiveIdFrom(opts);
      const d = present(await run(apiClient(opts), id, opts), "the directive");
      output(opts, d, `Directive ${d.rowId} is ${d.status}.`);
    });
  }
}
