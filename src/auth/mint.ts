/*
 * Tokens signed outside GraphQL (the server's credentials.json, the admin commands): the claims are
 * minted in SQL (baton_private.owner_token, daemon_token_claims), where the rules and the owner's
 * token generation live, and signed here with the server's secret.
 */
import { signJwt } from "./jwt";

type Queryable = { query: <R extends Record<string, any>>(text: string, values?: unknown[]) => Promise<{ rows: R[] }> };

/** One row of baton.jwt_token as pg returns it (exp is a bigint, so text). */
type ClaimsRow = { role: string; owner_id: string; daemon_id: string | null; directive_id: string | null; task_id: string | null; exp: string; aud: string; gen: number | null };

export type MintedToken = { token: string; claims: Record<string, unknown> };

export function signClaimsRow(row: ClaimsRow, secret: string): MintedToken {
  const claims: Record<string, unknown> = { iss: "baton" };
  for (const [key, value] of Object.entries(row)) if (value !== null) claims[key] = key === "exp" || key === "gen" ? Number(value) : value;
  return { token: signJwt(claims, secret), claims };
}

/** An owner token valid for ttlSeconds (default: the server's owner_token_ttl, 30 days). */
export async function mintOwnerToken(db: Queryable, ownerId: string, secret: string, ttlSeconds?: number): Promise<MintedToken> {
  const { rows } = await db.query<ClaimsRow>("select * from baton_private.owner_token($1, make_interval(secs => $2))", [ownerId, ttlSeconds ?? null]);
  return signClaimsRow(rows[0]!, secret);
}

/** A daemon token valid for ttlSeconds (default: the server's daemon_token_ttl, 1 hour). */
export async function mintDaemonToken(db: Queryable, daemonId: string, secret: string, ttlSeconds?: number): Promise<MintedToken> {
  const { rows } = await db.query<ClaimsRow>("select * from baton_private.daemon_token_claims($1, make_interval(secs => $2))", [daemonId, ttlSeconds ?? null]);
  return signClaimsRow(rows[0]!, secret);
}
