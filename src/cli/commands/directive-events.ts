import type { Command } from "commander";
import { DirectiveEventsDocument, DirectiveEventsFeedDocument, DirectiveExistsDocument, type EventFieldsFragment } from "../../client/generated/graphql";
import { errorSummary } from "../../agent-error";
import { subscribe } from "../../client/graphql";
import { present, rows } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, type CommonOptions } from "../context";

export type EventRow = EventFieldsFragment;

/** An event's `detail` (JSON): an object whose fields depend on the kind of event. */
export function eventDetail(e: EventRow): Record<string, unknown> {
  return typeof e.detail === "object" && e.detail !== null && !Array.isArray(e.detail) ? (e.detail as Record<string, unknown>) : {};
}

export function formatEvent(e: EventRow): string {
  const detail = eventDetail(e);
  const name = typeof detail.name === "string" ? ` "${detail.name}"` : typeof detail.kind === "string" ? ` (${detail.kind})` : "";
  const change = e.kind === "status_changed" ? `${e.fromStatus} -> ${e.toStatus}` : e.kind === "created" ? `created ${e.toStatus ?? ""}`.trim() : e.kind;
  // A task's check phase: the agent is done, the step's verification gate runs.
  const phase = e.subjectType === "task" && e.kind === "status_changed" && e.toStatus === "checking" ? " (the agent exited 0; its check runs)" : "";
  // The error's most useful line, and where the whole output is (a task's event keeps 2,000 characters of its error).
  const error = typeof detail.error === "string" ? `: ${errorSummary(detail.error)}${e.subjectType === "task" ? ` (see \`baton task logs ${e.subjectId}\`)` : ""}` : "";
  return `${e.createdAt}  #${e.rowId}  ${e.subjectType} ${e.subjectId.slice(0, 8)}${name}  ${change}${phase}${error}`;
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
      ? subscribe(ws, DirectiveEventsFeedDocument, { d: id }, (data) => {
          for (const e of data.directiveEvents?.events ?? []) seen(e);
        })
      : undefined;
    const history = rows(present((await client.request(DirectiveEventsDocument, { d: id })).events, "the events").nodes);
    if (history.length === 0) {
      const exists = await client.request(DirectiveExistsDocument, { d: id });
      if (!exists.directive) throw Object.assign(new Error(`Directive ${id} does not exist. List your directives with \`baton directive list\`.`), { code: "BTNFD" });
    }
    if (opts.json && !opts.follow) {
      process.stdout.write(JSON.stringify(history, null, 2) + "\n");
      return;
    }
    for (const e of history) seen(e);
    if (sub) {
      await sub.done;
      await ws?.dispose();
    }
  });
}
