/*
 * `baton webhook add|list|remove|deliveries`: notifications (sql/000021_webhooks.sql). The URL and the
 * events are checked here too, so a typo is a usage error (exit 2) before any request; the server
 * checks them again for other clients.
 */
import type { Command } from "commander";
import { z } from "zod";
import { AddWebhookDocument, RemoveWebhookDocument, WebhookDeliveryListDocument, WebhookListDocument } from "../../client/generated/graphql";
import { present, rows as nodes } from "../../client/results";
import { addCommonOptions, apiClient, output, parseId, UsageError, type CommonOptions } from "../context";

export const WEBHOOK_EVENTS = ["idle", "failed", "paused", "question", "budget"] as const;

const EVENTS_HELP = `
Events:
  idle      a directive became idle (its work is done, or nothing left can run)
  failed    a step failed for good (its last attempt failed, or it was failed by hand)
  paused    a directive was paused (by you, by a planner that failed, by a failed integration, by its budget)
  question  an agent asked a question (baton ask)
  budget    a directive reached its budget

Each delivery is a POST with a JSON body {"type": EVENT, "timestamp": ISO-8601, "data": {...ids and facts}},
signed the Standard Webhooks way: headers webhook-id, webhook-timestamp and
webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body, keyed with the base64-decoded secret
after whsec_>". Verify it with any Standard Webhooks library. A non-2xx answer, a redirect or no answer
within 10 s is retried with exponential backoff (8 attempts over about 25 minutes).`;

/** The URL, or a usage error naming what is wrong (the server's wording). */
export function parseWebhookUrl(text: string): string {
  const url = text.trim();
  const hint = " For example https://example.com/hooks/baton.";
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  if (!scheme) throw new UsageError(`A webhook URL must be an http or https URL (got "${url.slice(0, 200)}").${hint}`);
  if (!/^https?$/i.test(scheme[1]!)) throw new UsageError(`A webhook URL must use http or https (got "${scheme[1]}:").${hint}`);
  if (!/^https?:\/\/[^\s/?#@]+([/?#]\S*)?$/i.test(url) || url.length > 2048) {
    throw new UsageError(
      `A webhook URL must be http(s)://host[:port][/path], without spaces, credentials or more than 2048 characters (got "${url.slice(0, 200)}").${hint}`,
    );
  }
  return url;
}

/** The --events list, or a usage error naming the unknown ones and the known ones. */
export function parseWebhookEvents(text: string): string[] {
  const events = [...new Set(text.split(",").map((e) => e.trim().toLowerCase()).filter(Boolean))];
  if (events.length === 0) throw new UsageError(`--events needs at least one event; the events are ${WEBHOOK_EVENTS.join(", ")}.`);
  const unknown = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
  if (unknown.length > 0) {
    throw new UsageError(`Unknown webhook event${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}. The events are ${WEBHOOK_EVENTS.join(", ")}.`);
  }
  return events;
}

const Limit = z.coerce.number().int().min(1).max(1000);

export function register(webhook: Command): void {
  addCommonOptions(
    webhook
      .command("add")
      .argument("<url>", "where to POST (http or https)")
      .requiredOption("--events <list>", `comma-separated: ${WEBHOOK_EVENTS.join(",")}`)
      .description("Register a webhook for your directives' events. Prints its id and its signing secret, shown only this once.")
      .addHelpText("after", `${EVENTS_HELP}\n\nExample:\n  baton webhook add https://example.com/hooks/baton --events idle,failed,paused`),
  ).action(async (url: string, opts: CommonOptions & { events: string }) => {
    const parsedUrl = parseWebhookUrl(url);
    const events = parseWebhookEvents(opts.events);
    const data = await apiClient(opts).request(AddWebhookDocument, { url: parsedUrl, events });
    const w = present(data.addWebhook?.result, "the new webhook");
    output(
      opts,
      w,
      `Webhook ${w.rowId} POSTs ${(w.events ?? []).join(", ")} to ${w.url}.\nSecret (shown only now; verify webhook-signature with it): ${w.secret}`,
    );
  });

  addCommonOptions(
    webhook
      .command("list")
      .description("List your webhooks: id, events and URL (secrets are never shown again).")
      .addHelpText("after", "\nExample:\n  baton webhook list --json"),
  ).action(async (opts: CommonOptions) => {
    const data = await apiClient(opts).request(WebhookListDocument, {});
    const list = nodes(present(data.webhooks, "the webhooks").nodes);
    output(opts, list, () =>
      list.length === 0
        ? "No webhooks. Add one with `baton webhook add URL --events idle,failed`."
        : list.map((w) => [w.rowId, (w.events ?? []).join(",").padEnd(20), w.url].join("  ")).join("\n"),
    );
  });

  addCommonOptions(
    webhook
      .command("remove")
      .argument("<webhook-id>", "the webhook to remove (see `baton webhook list`)")
      .description("Remove a webhook and its delivery history; messages queued for it are dropped.")
      .addHelpText("after", "\nExample:\n  baton webhook remove 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f"),
  ).action(async (id: string, opts: CommonOptions) => {
    const webhookId = parseId(id, "The webhook id");
    const data = await apiClient(opts).request(RemoveWebhookDocument, { id: webhookId });
    const w = present(data.removeWebhook?.result, "the removed webhook");
    output(opts, w, `Webhook ${w.rowId} (${w.url}) is removed.`);
  });

  addCommonOptions(
    webhook
      .command("deliveries")
      .argument("[webhook-id]", "only this webhook's attempts")
      .option("--limit <n>", "how many attempts, newest first (1-1000)", "20")
      .description("Show the latest delivery attempts, newest first: when, event, attempt, HTTP status or error. The newest 100 per webhook are kept.")
      .addHelpText("after", "\nExample:\n  baton webhook deliveries --limit 5"),
  ).action(async (id: string | undefined, opts: CommonOptions & { limit: string }) => {
    const limit = Limit.safeParse(opts.limit);
    if (!limit.success) throw new UsageError(`--limit must be a whole number from 1 to 1000 (got ${JSON.stringify(opts.limit)}).`);
    const condition = id === undefined ? null : { webhookId: parseId(id, "The webhook id") };
    const data = await apiClient(opts).request(WebhookDeliveryListDocument, { condition, first: limit.data });
    const list = nodes(present(data.webhookDeliveries, "the deliveries").nodes);
    output(opts, list, () =>
      list.length === 0
        ? "No deliveries yet."
        : list
            .map((d) =>
              [d.createdAt, d.event.padEnd(8), `attempt ${d.attempt}`, d.error === null ? `delivered (${d.statusCode})` : `failed: ${d.error}`, d.webhookId].join("  "),
            )
            .join("\n"),
    );
  });
}
