/*
 * --max-parallel and --priority of `baton directive create` and `update` (sql/000026): how many of a
 * directive's tasks may run at once, and its place among directives that have waited equally long.
 * Kept apart from the other flags' files so the features stay separate; create and update call in here.
 */
import { UsageError } from "../context";

export const FAIRNESS_HELP = `
--max-parallel N: at most N of the directive's tasks run at once (none: no limit); the others wait and
get the directive's next freed slot. --priority N (-1000 to 1000, default 0): free slots go round-robin
to the directive served least recently; among directives that waited equally long, higher goes first.`;

/** A --max-parallel value: 1 to 10000, or none (null); a bad one is a usage error. */
export function parseMaxParallel(text: string, max = 10000): number | null {
  if (text === "none") return null;
  const n = /^[+-]?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new UsageError(`--max-parallel must be a whole number from 1 to ${max}, or none for no limit (got "${text}").`);
  }
  return n;
}

/** A --priority value: a whole number from -1000 to 1000; a bad one is a usage error. */
export function parsePriority(text: string): number {
  const n = /^[+-]?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < -1000 || n > 1000) {
    throw new UsageError(`--priority must be a whole number from -1000 to 1000 (got "${text}").`);
  }
  return n;
}

export type FairnessFlags = { maxParallel?: number | null; priority?: number };

/** The flags given, checked before anything is sent. */
export function fairnessFlags(opts: { maxParallel?: string; priority?: string }): FairnessFlags {
  const flags: FairnessFlags = {};
  if (opts.maxParallel !== undefined) flags.maxParallel = parseMaxParallel(opts.maxParallel);
  if (opts.priority !== undefined) flags.priority = parsePriority(opts.priority);
  return flags;
}

export const hasFairness = (f: FairnessFlags) => f.maxParallel !== undefined || f.priority !== undefined;

