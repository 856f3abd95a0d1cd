/*
 * The limits' side of `baton directive update` (--timeout, --stall) and the duration flags shared with
 * `directive create` and `add-step`. Kept apart from directive-update.ts (the check's side) so the two
 * features stay separate; directive-update.ts sends the limits with its other settings.
 */
import { parseLimit } from "../../duration";
import { UsageError } from "../context";

/** A --timeout or --stall value in seconds (0: `none`, where removing is allowed); a bad one is a usage error. */
export function cliLimit(text: string, flag: string, opts: { allowNone?: boolean } = {}): number {
  try {
    return parseLimit(text, flag, opts);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export const LIMITS_HELP = `
--timeout and --stall take durations (90s, 30m, 2h, 1h30m, 1d; at most 30d), or none to remove the
limit. They apply to every attempt of the directive's steps (a step's own limits override them) and to
attempts already running, from the server's next sweep (every few seconds).`;

