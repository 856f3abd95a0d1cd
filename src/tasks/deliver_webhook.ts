/*
 * deliver_webhook: POSTs one webhook message (queued by baton_private.enqueue_webhooks, sql/000021),
 * signed per the Standard Webhooks specification:
 *   webhook-id         the message id, the same for every attempt (receivers deduplicate on it)
 *   webhook-timestamp  seconds since the epoch, of this attempt
 *   webhook-signature  v1,<base64 HMAC-SHA256 of "id.timestamp.body" keyed with the base64-decoded secret>
 * One attempt waits at most 10 s, follows no redirect (a 3xx is a failure) and never reads the response
 * body. Each attempt's outcome is recorded (baton.webhook_deliveries); a failed one throws, so
 * graphile-worker retries it with its exponential backoff up to the job's max_attempts. A webhook
 * removed meanwhile ends the job quietly.
 */
import { createHmac } from "node:crypto";
import { z } from "zod";
import { defineTask } from "./define";

const Payload = z.object({
  webhook_id: z.uuid(),
  message_id: z.string().min(1).max(100),
  event: z.string().min(1).max(64),
  body: z.string(),
});

export const WEBHOOK_TIMEOUT_MS = 10_000;

/** The webhook-signature value for a message (the Standard Webhooks v1 scheme). */
export function signWebhook(secret: Buffer, messageId: string, timestamp: number, body: string): string {
  return "v1," + createHmac("sha256", secret).update(`${messageId}.${timestamp}.${body}`).digest("base64");
}

/** Why this URL may not be POSTed to, or null: only http and https, checked again at delivery time. */
export function webhookUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url.slice(0, 200)}" is not a URL`;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `the scheme ${parsed.protocol} is not http or https`;
  if (parsed.username || parsed.password) return "the URL carries credentials";
  return null;
}

type Target = { url: string; secret: Buffer };

export const deliverWebhook = defineTask(Payload, async (p, { withClient, logger, helpers }) => {
  const target = await withClient(async (c) => (await c.query<Target>("select url, secret from baton_private.webhook_target($1)", [p.webhook_id])).rows[0]);
  if (!target) {
    logger.info("the webhook was removed; dropping its message");
    return;
  }
  const attempt = helpers.job.attempts;
  const started = Date.now();
  let statusCode: number | null = null;
  let error: string | null = webhookUrlProblem(target.url);
  if (error === null) {
    const timestamp = Math.floor(started / 1000);
    try {
      const res = await fetch(target.url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        headers: {
          "content-type": "application/json",
          "user-agent": "Baton-Webhooks",
          "webhook-id": p.message_id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signWebhook(target.secret, p.message_id, timestamp, p.body),
        },
        body: p.body,
      });
      statusCode = res.status;
      await res.body?.cancel().catch(() => undefined); // the response body is never read
      if (res.status >= 300 && res.status < 400) error = `The receiver answered ${res.status} (a redirect); redirects are not followed.`;
      else if (res.status < 200 || res.status >= 300) error = `The receiver answered ${res.status}.`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      error =
        e.name === "TimeoutError" || e.name === "AbortError"
          ? `No answer within ${WEBHOOK_TIMEOUT_MS / 1000} s.`
          : `The request failed: ${e.cause?.code ?? e.cause?.message ?? e.message}.`;
    }
  } else {
    error = `Not delivered: ${error}.`;
  }
  const durationMs = Date.now() - started;
  await withClient((c) =>
    c.query("select baton_private.record_webhook_delivery($1, $2, $3, $4, $5, $6, $7)", [
      p.webhook_id,
      p.message_id,
      p.event,
      attempt,
      statusCode,
      error,
      durationMs,
    ]),
  );
  if (error !== null) {
    logger.warn("webhook delivery failed", { attempt, status: statusCode, error });
    throw new Error(error);
  }
  logger.info("webhook delivered", { attempt, status: statusCode, ms: durationMs });
});
