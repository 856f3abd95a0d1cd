/*
 * What a Baton token says, checked with zod, and how it becomes PostgreSQL settings for a request.
 */
import { z } from "zod";
import { TokenError, verifyJwt } from "./jwt";

const uuid = z.uuid();
const nullableUuid = uuid.nullish();

export const ClaimsSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("baton_user"), owner_id: uuid }),
  z.object({ role: z.literal("baton_daemon"), owner_id: uuid, daemon_id: uuid }),
  z.object({ role: z.literal("baton_agent"), owner_id: uuid, directive_id: uuid, task_id: uuid, daemon_id: nullableUuid }),
]);
export type Claims = z.infer<typeof ClaimsSchema>;
export type Role = Claims["role"] | "baton_anonymous";

export function parseToken(token: string, secret: string): Claims {
  const raw = verifyJwt(token, secret);
  const parsed = ClaimsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new TokenError(`The token's claims are not valid for Baton (role must be baton_user, baton_daemon or baton_agent, with its ids): ${parsed.error.issues[0]?.message}.`);
  }
  return parsed.data;
}

/** The settings a request runs with: the role to switch to and the ids the SQL reads. */
export function pgSettingsFor(claims: Claims | undefined): Record<string, string> {
  if (!claims) return { role: "baton_anonymous" };
  const settings: Record<string, string> = { role: claims.role, "baton.owner_id": claims.owner_id };
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
