/*
 * Database errors as users see them. Baton's SQL raises 5-character BT… codes (docs/error-codes.md)
 * whose messages already say what to do; everything else is summarised without internals.
 */
export const BATON_ERROR_CODES = {
  BTNFD: "not found",
  BTSTS: "illegal status transition",
  BTINV: "invalid input",
  BTCYC: "dependency cycle",
  BTDEP: "step has dependents",
  BTSTL: "stale or late report",
  BTDNY: "permission denied",
} as const;

export type BatonErrorCode = keyof typeof BATON_ERROR_CODES;

type PgLikeError = { code?: unknown; message?: unknown; hint?: unknown };

export function batonErrorCode(err: unknown): BatonErrorCode | undefined {
  const code = (err as PgLikeError | null)?.code;
  return typeof code === "string" && code in BATON_ERROR_CODES ? (code as BatonErrorCode) : undefined;
}

/** One line: the message, then the hint if the database gave one. */
export function describeDbError(err: unknown): string {
  const e = err as PgLikeError;
  const message = typeof e?.message === "string" ? e.message : String(err);
  const hint = typeof e?.hint === "string" && e.hint ? ` ${e.hint}` : "";
  return message + hint;
}
