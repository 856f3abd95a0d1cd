import type { Command } from "commander";
import { subscribe } from "../../client/graphql";
import { addCommonOptions, apiClient, directiveIdFrom, type CommonOptions } from "../context";

export type EventRow = { rowId: string; subjectType: string; subjectId: string; kind: string; fromStatus: string | null; toStatus: string | null; detail: Record<string, unknown> | null; actor: string; createdAt: string };
export const EVENT_FIELDS = "rowId subjectType subjectId kind fromStatus toStatus detail actor createdAt";

export function formatEvent(e: EventRow): string {
  const name = typeof e.detail?.name === "string" ? ` "${e.detail.name}"` : typeof e.detail?.kind === "string" ? ` (${e.detail.kind})` : "";
  const change = e.kind === "status_changed" ? `${e.fromStatus} -> ${e.toStatus}` : e.kind === "created" ? `created ${e.toStatus ?? ""}`.trim() : e.kind;
  const error = typeof e.detail?.error === "string" ? `: ${e.detail.error.split("\n").slice(-1)[0]}` : "";
  return `${e.createdAt}  #${e.rowId}  ${e.subjectType} ${e.subjectId.slice(0, 8)}${name}  ${change}${error}`;
}

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("events")
      .description("Print a directive's history of events; --follow keeps printing new ones as they happen.")
      .option("--follow", "keep listening for new events (Ctrl-C to stop)")
      .addHelpText("after", "\nExample:\n  baton directive events --follow --json"),
    { directive: true },
  ).action(async (opts: CommonOptions & { follow?: boolean }) => {
    const id = directiveIdFrom(opts);
    const client = apiClient(opts);
    const print = (e: EventRow) => process.stdout.write((opts.json ? JSON.stringify(e) : formatEvent(e)) + "\n");
    // Ids are not a commit order (a transaction that started earlier can commit later), so events
    // are de-duplicated by id rather than read "after the last id".
    const printed = new Set<string>();
    const ws = opts.follow ? client.websocket() : undefined;
    const seen = (e: EventRow) => {
      if (printed.has(e.rowId)) return;
      printed.add(e.rowId);
      print(e);
    };
    // Subscribe before reading history, so nothing falls between the two.
    const sub = ws
      ? subscribe<{ directiveEvents: { events: EventRow[] } }>(ws, `subscription($d: UUID!) { directiveEvents(directiveId: $d) { events { ${EVENT_FIELDS} } } }`, { d: id }, (data) => {
          for (const e of data.directiveEvents.events) seen(e);
        })
      : undefined;
    const history = await client.request<{ events: { nodes: EventRow[] } }>(
      `query($d: UUID!) { events(condition: { directiveId: $d }, orderBy: ROW_ID_ASC) { nodes { ${EVENT_FIELDS} } } }`,
      { d: id },
    );
    if (history.events.nodes.length === 0) {
      const exists = await client.request<{ directive: { rowId: string } | null }>(`query($d: UUID!) { directive(rowId: $d) { rowId } }`, { d: id });
      if (!exists.directive) throw Object.assign(new Error(`Directive ${id} does not exist. List your directives with \`baton directive list\`.`), { code: "BTNFD" });
    }
    if (opts.json && !opts.follow) {
      process.stdout.write(JSON.stringify(history.events.nodes, null, 2) + "\n");
      return;
    }
    for (const e of history.events.nodes) seen(e);
    if (sub) {
      await sub.done;
      await ws?.dispose();
    }
  });
}
