/*
 * GraphQL subscriptions over the NOTIFY channels:
 *   daemonCommands(daemonId)      spawn_task / interrupt_task with the task re-fetched through RLS;
 *   directiveEvents(directiveId)  every event of each notifying transaction, with its row.
 * Before listening, the subscribed daemon or directive must be visible to the caller through RLS:
 * NOTIFY channels are global, so this check is what keeps one owner from hearing another's ids. The
 * payloads carry ids only, and everything a subscriber reads with them goes through RLS again.
 * PgSubscriber does not reconnect after PostgreSQL restarts; clients resubscribe (docs/api.md).
 */
import { jsonParse } from "postgraphile/@dataplan/json";
import { context, lambda, listen, object, type FieldArgs, type Step } from "postgraphile/grafast";
import { extendSchema, gql } from "postgraphile/utils";

type QueryClient = { query: (q: { text: string; values: unknown[] }) => Promise<{ rows: readonly unknown[] }> };
type WithPgClient = (settings: unknown, fn: (client: QueryClient) => Promise<{ rows: readonly unknown[] }>) => Promise<{ rows: readonly unknown[] }>;

/** Raised when the subscribed row is not visible; maskError passes it with code BTNFD. */
export class NotVisibleError extends Error {
  override name = "SafeError";
  readonly code = "BTNFD";
}

/** A step yielding the channel name once the caller is shown, through RLS, to see the row. */
function visibleTopic(table: "daemons" | "directives", $id: Step, channel: (id: string) => string, what: string): Step<string> {
  const $withPgClient = context().get("withPgClient");
  const $pgSettings = context().get("pgSettings");
  return lambda([$id, $withPgClient, $pgSettings], async ([id, withPgClient, pgSettings]) => {
    const result = await (withPgClient as unknown as WithPgClient)(pgSettings, (client) =>
      client.query({ text: `select 1 from baton.${table} where id = $1`, values: [id] }),
    );
    if (result.rows.length === 0) {
      throw new NotVisibleError(`${what} ${String(id)} does not exist or is not yours; you can only subscribe to your own.`);
    }
    return channel(String(id));
  });
}

export const BatonSubscriptionsPlugin = extendSchema((build) => {
  const resources = build.input.pgRegistry.pgResources as Record<string, any>;
  const { tasks, transaction_events } = resources;
  if (!tasks || !transaction_events) throw new Error("BatonSubscriptionsPlugin: the tasks table or transaction_events function is not in the schema.");
  return {
    typeDefs: gql`
      """A command for a daemon: run a task, or stop one."""
      type DaemonCommand {
        """spawn_task or interrupt_task."""
        type: String!
        taskId: UUID!
        """The task, as the subscriber may see it (null if it may not). Its agentToken goes to the agent as BATON_TOKEN."""
        task: Task
      }

      """Everything one transaction recorded for a directive."""
      type DirectiveEventsPayload {
        """The first event of the transaction."""
        firstEventId: BigInt!
        """The kind of the first event."""
        kind: String!
        """Every event the transaction recorded for this directive that you may see, in order."""
        events: [Event!]!
      }

      extend type Subscription {
        """Commands for one daemon (with your own token, or the daemon's). Resubscribe after a server or database restart."""
        daemonCommands(daemonId: UUID!): DaemonCommand
        """Every event of one directive you may see, a transaction at a time. Resubscribe after a server or database restart."""
        directiveEvents(directiveId: UUID!): DirectiveEventsPayload
      }
    `,
    plans: {
      Subscription: {
        daemonCommands: {
          subscribePlan(_$root: Step, args: FieldArgs) {
            const $topic = visibleTopic("daemons", args.getRaw("daemonId"), (id) => `baton:daemon:${id}`, "Daemon");
            return listen(context().get("pgSubscriber") as any, $topic, jsonParse);
          },
          plan($event: Step) {
            return $event;
          },
        },
        directiveEvents: {
          subscribePlan(_$root: Step, args: FieldArgs) {
            const $topic = visibleTopic("directives", args.getRaw("directiveId"), (id) => `baton:directive:${id}`, "Directive");
            return listen(context().get("pgSubscriber") as any, $topic, jsonParse);
          },
          plan($event: any, args: FieldArgs) {
            return object({ event_id: $event.get("event_id"), kind: $event.get("kind"), directive_id: args.getRaw("directiveId") });
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
          const [directiveId, firstEventId] = transaction_events.parameters as { codec: unknown }[];
          return transaction_events.execute([
            { step: $event.get("directive_id"), pgCodec: directiveId!.codec },
            { step: $event.get("event_id"), pgCodec: firstEventId!.codec },
          ]);
        },
      },
    },
  };
});
