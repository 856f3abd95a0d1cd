/*
 * CPU time consumed by processes, from /proc (Linux only; undefined elsewhere). CPU per step does not
 * depend on how busy the machine is, unlike steps/s, so it tells whether a throughput target is
 * reachable on a given number of cores. PostgreSQL's share is its postmaster's own time, the time of
 * exited backends (reaped into the postmaster's cutime/cstime) and the time of live backends.
 */
import fs from "node:fs";
import type { Pool } from "pg";

const TICK = 100; // USER_HZ: 100 on every Linux distribution Node supports

function stat(pid: number): number[] | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may contain spaces), counted from field 3 (state) at index 0.
    return s.slice(s.lastIndexOf(")") + 2).split(" ").map(Number);
  } catch {
    return undefined;
  }
}

/** utime + stime (+ cutime + cstime with children) of a process, in seconds. */
export function processCpuSeconds(pid: number, withReapedChildren = false): number | undefined {
  const f = stat(pid);
  if (!f) return undefined;
  const [utime, stime, cutime, cstime] = [f[11]!, f[12]!, f[13]!, f[14]!];
  return (utime + stime + (withReapedChildren ? cutime + cstime : 0)) / TICK;
}

/** The postmaster of the database this pool reaches, if it runs on this machine. */
export async function findPostmaster(pool: Pool): Promise<number | undefined> {
  const r = await pool.query<{ pid: number }>("select pg_backend_pid() as pid");
  const ppid = stat(r.rows[0]!.pid)?.[1];
  return ppid && ppid > 1 ? ppid : undefined;
}

/** All CPU seconds PostgreSQL has used so far: the postmaster, reaped backends and live ones. */
export function postgresCpuSeconds(postmaster: number): number | undefined {
  let total = processCpuSeconds(postmaster, true);
  if (total === undefined) return undefined;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const f = stat(Number(entry));
    if (f && f[1] === postmaster) total += (f[11]! + f[12]!) / TICK;
  }
  return total;
}
