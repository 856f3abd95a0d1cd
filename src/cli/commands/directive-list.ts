import type { Command } from "commander";
import { z } from "zod";
import { addCommonOptions, apiClient, output, UsageError, type CommonOptions } from "../context";
import { DIRECTIVE_FIELDS, type DirectiveRow } from "../fragments";

const Status = z.enum(["draft", "active", "paused", "idle", "archived"]);

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("list")
      .description("List your directives, newest first.")
      .option("--status <status>", "only directives in this status (draft, active, paused, idle, archived)")
      .addHelpText("after", "\nExample:\n  baton directive list --status active"),
  ).action(async (opts: CommonOptions & { status?: string }) => {
    let status: string | undefined;
    if (opts.status !== undefined) {
      const parsed = Status.safeParse(opts.status);
      if (!parsed.success) throw new UsageError(`--status must be one of draft, active, paused, idle, archived (got "${opts.status}").`);
      status = parsed.data;
    }
    // A condition field set to null means "IS NULL" to PostGraphile, so without --status there is no
    // condition at all (`{ status: null }` listed no directive).
    const data = await apiClient(opts).request<{ directives: { nodes: (DirectiveRow & { directiveSteps: { totalCount: number } })[] } }>(
      `query($condition: DirectiveCondition) { directives(condition: $condition, orderBy: CREATED_AT_DESC) { nodes { ${DIRECTIVE_FIELDS} directiveSteps { totalCount } } } }`,
      { condition: status ? { status } : {} },
    );
    const rows = data.directives.nodes;
    output(opts, rows, () =>
      rows.length === 0
        ? "No directives."
        : rows.map((d) => `${d.rowId}  ${d.status.padEnd(8)}  ${String(d.directiveSteps.totalCount).padStart(4)} steps  ${d.title}`).join("\n"),
    );
  });
}
