/*
 * Durations as the CLI takes them (--timeout 30m, --stall 5m): "90s", "30m", "2h", "1h30m", "1d", or a
 * number of seconds. The same grammar as baton_private.try_duration_seconds (sql/000019_timeouts.sql),
 * which reads the "timeout" and "stall" of batch-add-steps entries; both store whole seconds.
 */

/** The longest limit Baton stores: 30 days, in seconds. */
export const MAX_LIMIT_SECONDS = 2_592_000;

/** Seconds in a duration, or null when the text is not one. */
export function durationSeconds(text: string): number | null {
  const v = text.replace(/\s/g, "").toLowerCase();
  if (/^\d{1,9}$/.test(v)) return Number(v);
  if (!/^(\d{1,9}[dhms])+$/.test(v)) return null;
  const unit: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1 };
  let total = 0;
  for (const [, n, u] of v.matchAll(/(\d+)([dhms])/g)) total += Number(n) * unit[u!]!;
  return total;
}

/**
 * A limit given on the command line, in seconds. `none` (or 0) removes a limit where `allowNone` says
 * so, and is 0 then. Throws a message naming the flag, what it got and what it takes.
 */
export function parseLimit(text: string, flag: string, opts: { allowNone?: boolean } = {}): number {
  const none = opts.allowNone && /^\s*(none|0)\s*$/i.test(text);
  if (none) return 0;
  const seconds = durationSeconds(text);
  if (seconds === null || seconds < 1 || seconds > MAX_LIMIT_SECONDS) {
    throw new RangeError(
      `${flag} must be a duration such as 90s, 30m, 2h or 1h30m, from 1s to 30d${opts.allowNone ? ", or none to remove it" : ""} (got ${JSON.stringify(text)}).`,
    );
  }
  return seconds;
}

/** "1h30m", "2s": how the CLI shows a limit. */
export function formatDuration(seconds: number): string {
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86_400], ["h", 3_600], ["m", 60], ["s", 1]] as const) {
    const n = Math.floor((seconds % (unit === "d" ? Infinity : size * (unit === "h" ? 24 : 60))) / size);
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.join("") || "0s";
}
