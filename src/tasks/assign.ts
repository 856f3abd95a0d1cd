/*
 * Assigning waiting tasks from a job (dispatch_task, dispatch_pending), without holding a lock while
 * waiting for another. Each round is one transaction of baton_private.assign_tasks with SKIP LOCKED:
 * directive, daemon and task rows that other transactions hold are skipped, never waited for (a
 * dispatcher that held a free daemon while waiting for a busy one made every report on the free one
 * wait too). A row another transaction holds is not "no room": while tasks are left and a daemon of
 * theirs has room by the committed counters, the round is tried again after a short backoff; it stops
 * when they are all assigned or no daemon has room (the side that frees a slot queues the next run).
 * After ROUNDS, one last round waits for the locks instead.
 */
import type { PoolClient } from "pg";

const ROUNDS = 12;
const backoffMs = (round: number) => Math.min(2 ** round, 100);

export async function assignWaitingTasks(withClient: <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>, taskIds: string[]): Promise<number> {
  let assigned = 0;
  // Most runs find every daemon full (a slot freed on a full daemon is refilled by the report that
  // freed it): one cheap look first, and no assignment round when there is no room.
  const first = await withClient((c) => c.query<{ pending: number; room: boolean }>("select pending, room from baton_private.pending_with_room($1::uuid[])", [taskIds]));
  if (!first.rows[0]?.room || first.rows[0].pending === 0) return 0;
  for (let round = 0; ; round++) {
    const last = round === ROUNDS;
    const r = await withClient((c) =>
      c.query<{ n: number; pending: number; room: boolean }>(
        "select a.n, p.pending, p.room from baton_private.assign_tasks($1::uuid[], $2) a(n), baton_private.pending_with_room($1::uuid[]) p",
        [taskIds, !last],
      ),
    );
    const { n = 0, pending = 0, room = false } = r.rows[0] ?? {};
    assigned += n;
    if (pending === 0 || !room || last) return assigned;
    await new Promise((resolve) => setTimeout(resolve, backoffMs(round)));
  }
}
