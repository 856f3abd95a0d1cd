/*
 * The /metrics token (BATON_METRICS_TOKEN): a scrape must send `Authorization: Bearer <token>`.
 * Compared in constant time: both sides are hashed first, so neither the content nor the length of
 * the expected token leaks through timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

/** Why the Authorization header does not carry the metrics token, or undefined when it does. */
export function metricsTokenProblem(authorization: string | undefined, token: string): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "");
  if (!match) return "/metrics requires a token: send the value of BATON_METRICS_TOKEN as 'Authorization: Bearer <token>'.";
  if (!timingSafeEqual(digest(match[1]!), digest(token))) return "The metrics token is wrong: send the value of BATON_METRICS_TOKEN as 'Authorization: Bearer <token>'.";
  return undefined;
}
