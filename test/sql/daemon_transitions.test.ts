/*
 * The daemon state machine (sql/000002_owners_and_daemons.sql): connected <-> disconnected, both ways,
 * through a DBA's direct UPDATE as through the functions; a revoked daemon stays disconnected and
 * revoked (BTDNY); any other status is refused by the guard (BTSTS) before the CHECK constraint.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { createOwner } from "../helpers/fixtures";
import { andUndo, createDaemon, q, transitionMatrix, writesNothing } from "./support";

const db = useTestDatabase();

const ALL = ["connected", "disconnected"] as const;
type DaemonStatus = (typeof ALL)[number];
const LEGAL: Record<DaemonStatus, DaemonStatus[]> = { connected: ["disconnected"], disconnected: ["connected"] };

async function daemonIn(c: PoolClient, status: DaemonStatus): Promise<string> {
  const id = await createDaemon(c, await createOwner(c));
  if (status === "disconnected") await c.query("select baton.disconnect_daemon($1)", [id]);
  assert.equal((await q<{ status: string }>(c, "select status from baton.daemons where id = $1", [id])).status, status);
  return id;
}

/** The row stays consistent: disconnected_at goes with the status. */
const move = (c: PoolClient, id: string, to: string) =>
  c.query(
    `update baton.daemons set status = $2::baton.daemon_status, disconnected_at = case when $2 = 'disconnected' then now() end
      where id = $1 returning status`,
    [id, to],
  );

describe("a DBA's direct UPDATE of a daemon's status", () => {
  for (const { from, to, legal } of transitionMatrix(ALL, LEGAL)) {
    it(`${legal ? "accepts" : "refuses"} ${from} -> ${to}`, () =>
      withRootDb(db, async (c) => {
        const id = await daemonIn(c, from);
        await andUndo(c, async () => assert.equal((await move(c, id, to)).rows[0]!.status, to));
      }));
  }

  it("refuses a status that is neither connected nor disconnected (the column is the enum baton.daemon_status)", () =>
    withRootDb(db, async (c) => {
      const id = await daemonIn(c, "connected");
      await assertDbError(writesNothing(c, () => move(c, id, "asleep")), "22P02", 'invalid input value for enum baton.daemon_status: "asleep"');
    }));

  it("keeps a revoked daemon disconnected and revoked (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const id = await daemonIn(c, "connected");
      await c.query("select baton.revoke_daemon($1)", [id]);
      await assertDbError(writesNothing(c, () => move(c, id, "connected")), "BTDNY", `Daemon ${id} was revoked by its owner, so it cannot connect again.`);
      await assertDbError(
        writesNothing(c, () => c.query("update baton.daemons set revoked_at = null where id = $1", [id])),
        "BTDNY",
        `Daemon ${id} was revoked; a revocation cannot be undone.`,
      );
    }));
});
