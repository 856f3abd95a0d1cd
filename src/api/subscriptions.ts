/*
 * GraphQL subscriptions over the NOTIFY channels:
 *   daemonCommands(daemonId)      spawn_task / interrupt_task with the task re-fetched through RLS;
 *   directiveEvents(directiveId)  every event of each notifying transaction, with its row.
 * Before listening, the subscribed daemon or directive must be visible to the caller through RLS:
 * NOTIFY channels are global, so this check is what keeps one owner from hearing another's ids.
 * PgSubscriber does not reconnect after PostgreSQL restarts; clients resubscribe (see README).
 */
import { jsonParse } from "postgraphile/@dataplan/json";
import { context, lambda, listen } from "postgraphile/grafast";
import { extendSchema, gql } from "postgraphile/utils";

type WithPgClient = (settings: unknown, fn: (client: { query: (q: { text: string; values: unknown[] }) => Promise<{ rows: readonly unknown[] }> }) => Promise<unknown>) => Promise<unknown>;

/** A step yielding the channel name once the caller is shown to see the row. */
function visibleTopic(table: "daemons" | "directives", $id: ReturnType<typeof lambda>, channel: (id: string) => string, what: string) {
  const $withPgClient = context().get("withPgClient");
  const $pgSettings = context().get("pgSettings");
  return lambda(
    [$id, $withPgClient, $pgSettings],
    async ([id, withPgClient, pgSettings]) => {
      const rows = (await (withPgClient as unknown as WithPgClient)(pgSettings, (client) =>
        client.query({ text: `select 1 from baton.${table} where id = $1`, values: [id] }),
      )) as { rows: readonly unknown[] };
      if (rows.rows.length === 0) {
        throw new Error(`${what} ${String(id)} does not exist or is not yours; you can only subscribe to your own.`);
      }
      return channel(String(id));
    },
  );
}

export const BatonSubscriptionsPlugin = extendSchema((build) => {
  const { tasks, transaction_events } = build.input.pgRegistry.pgResources as Record<string, any>;
  if (!tasks || !transaction_events) throw new Error("BatonSubscriptionsPlugin: the tasks table or transaction_events function is not in the schema.");
  return {
    typeDefs: gql`
      """A command for a daemon: run a task, or stop one."""
      type DaemonCommand {
        """spawn_task or interrupt_task."""
        type: String!
        taskId: UUID!
        """The task, as the subscriber may see it (null if it may not)."""
        task: Task
      }

      """Everything one transaction changed in a directive."""
      type DirectiveEventsPayload {
        """The first event of the transaction."""
        firstEventId: BigInt!
        """The kind of the first event."""
        kind: String!
        """Every event the transaction recorded for this directive, in order."""
        events: [Event!]!
      }

      extend type Subscription {
        """Commands for one daemon (yours, or your own daemon's token). Resubscribe after a server or database restart."""
        daemonCommands(daemonId: UUID!): DaemonCommand
        """Every event of one of your directives, a transaction at a time. Resubscribe after a server or database restart."""
        directiveEvents(directiveId: UUID!): DirectiveEventsPayload
      }
    `,
    plans: {
      Subscription: {
        daemonCommands: {
          subscribePlan(_$root: unknown, args: any) {
            const $topic = visibleTopic("daemons", args.get("daemonId"), (id) => `baton:daemon:${id}`, "Daemon");
            return listen(context().get("pgSubscriber") as any, $topic, jsonParse);
          },
          plan($event: any) {
            return $event;
          },
        },
        directiveEvents: {
          subscribePlan(_$root: unknown, args: any) {
            const $topic = visibleTopic("directives", args.get("directiveId"), (id) => `baton:directive:${id}`, "Directive");
            const $stream = listen(context().get("pgSubscriber") as any, $topic, jsonParse);
            return $stream;
          },
          plan($event: any, args: any) {
            return lambda([$event, args.get("directiveId")], ([event, directiveId]) => ({ ...(event as object), directive_id: directiveId }));
          },
        },
      },
      DaemonCommand: {
        type($event: any) {
          return $event.get("type");
        },
        taskId($event: any) {
          return $event.get("task_id");
        },
        task($event: any) {
          return tasks.get({ id: $event.get("task_id") });
        },
      },
      DirectiveEventsPayload: {
        firstEventId($event: any) {
          return $event.get("event_id");
        },
        kind($event: any) {
          return $event.get("kind");
        },
        events($event: any) {
          return transaction_events.execute([{ step: $event.get("directive_id") }, { step: $event.get("event_id") }]);
        },
      },
    },
  };
});
