/*
 * What a Baton token says, checked with zod, and how it becomes PostgreSQL settings for a request.
 * Every token Baton mints carries `exp` (owner tokens 30 days by default, daemon tokens 1 hour, agent
 * tokens at most 7 days), so a token without one is refused here. `gen` is the owner's token
 * generation at minting time; SQL compares it with the owner's current one (baton.token_gen), so
 * `baton token rotate` revokes every older token.
 */
import { z } from "zod";
import { TokenError, verifyJwt } from "./jwt";

const uuid = z.uuid();
const nullableUuid = uuid.nullish();
/** Absent in tokens minted before generations existed: those are generation 0. */
const generation = z.number().int().min(0).max(999_999_999).nullish();

export const ClaimsSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("baton_user"), owner_id: uuid, gen: generation }),
  z.object({ role: z.literal("baton_daemon"), owner_id: uuid, daemon_id: uuid, gen: generation }),
  z.object({ role: z.literal("baton_agent"), owner_id: uuid, directive_id: uuid, task_id: uuid, daemon_id: nullableUuid, gen: generation }),
]);
export type Claims = z.infer<typeof ClaimsSchema>;
export type Role = Claims["role"] | "baton_anonymous";

export const NO_EXPIRY_MESSAGE = "The token has no expiry (exp); Baton refuses tokens that never expire. Ask for a new token (`baton token create` or `baton token rotate`).";

export function parseToken(token: string, secret: string): Claims {
  const raw = verifyJwt(token, secret);
  // verifyJwt checks an exp that is present; one that is absent would make the token live forever.
  if (raw.exp === undefined || raw.exp === null) throw new TokenError(NO_EXPIRY_MESSAGE);
  const parsed = ClaimsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` (${issue.path.join(".")})` : "";
    throw new TokenError(`The token's claims are not valid for Baton (role must be baton_user, baton_daemon or baton_agent, with its ids): ${issue?.message}${where}.`);
  }
  return parsed.data;
}

/** The settings a request runs with: the role to switch to and the ids the SQL reads. */
export function pgSettingsFor(claims: Claims | undefined): Record<string, string> {
  if (!claims) return { role: "baton_anonymous" };
  const settings: Record<string, string> = { role: claims.role, "baton.owner_id": claims.owner_id, "baton.token_gen": String(claims.gen ?? 0) };
  if (claims.role === "baton_daemon") settings["baton.daemon_id"] = claims.daemon_id;
  if (claims.role === "baton_agent") {
    settings["baton.directive_id"] = claims.directive_id;
    settings["baton.task_id"] = claims.task_id;
  }
  return settings;
}

/** `Bearer <token>` from a header value (HTTP) or a connection param (websockets). */
export function bearerToken(value: unknown): string | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
  if (!match) throw new TokenError("The Authorization value must be `Bearer <token>`.");
  return match[1];
}
