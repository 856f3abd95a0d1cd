import type { Command } from "commander";
import { z } from "zod";
import { DirectiveListDocument } from "../../client/generated/graphql";
import { present, rows as nodes } from "../../client/results";
import { DIRECTIVE_STATUSES } from "../../statuses";
import { addCommonOptions, apiClient, output, UsageError, type CommonOptions } from "../context";

const Status = z.enum(DIRECTIVE_STATUSES);
const STATUS_LIST = DIRECTIVE_STATUSES.join(", ");

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("list")
      .description("List your directives, newest first.")
      .option("--status <status>", `only directives in this status (${STATUS_LIST})`)
      .addHelpText("after", "\nExample:\n  baton directive list --status active"),
  ).action(async (opts: CommonOptions & { status?: string }) => {
    let status: z.infer<typeof Status> | undefined;
    if (opts.status !== undefined) {
      const parsed = Status.safeParse(opts.status);
      if (!parsed.success) throw new UsageError(`--status must be one of ${STATUS_LIST} (got "${opts.status}").`);
      status = parsed.data;
    }
    // A condition field set to null means "IS NULL" to PostGraphile, so without --status there is no
    // condition at all (`{ status: null }` listed no directive).
    const data = await apiClient(opts).request(DirectiveListDocument, { condition: status ? { status } : {} });
    const rows = nodes(present(data.directives, "the directives").nodes);
    output(opts, rows, () =>
      rows.length === 0
        ? "No directives."
        : rows.map((d) => `${d.rowId}  ${d.status.padEnd(8)}  ${String(d.directiveSteps.totalCount).padStart(4)} steps  ${d.title}`).join("\n"),
    );
  });
}
