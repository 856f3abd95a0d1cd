/*
 * Revocable identities (sql/000007, 000011, 000012): a revoked daemon's token and the tokens an owner rotated away
 * resolve to nobody (they see nothing) and are told why when they call a function (BTDNY); a revoked
 * daemon's tasks are retried, its heartbeat refused, and it gets no new token. Each test acts with a
 * token's settings (role, baton.owner_id, baton.daemon_id, baton.token_gen) the way the API sets them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, inSavepoint, useTestDatabase, withRootDb } from "../helpers/db";
import { chain, createDaemon, q, setup, startStep, task } from "./support";

const db = useTestDatabase();

type TokenSettings = { role: "baton_user" | "baton_daemon" | "baton_agent"; owner: string; daemon?: string; directive?: string; task?: string; gen?: number };

/** Runs fn with a token's settings (transaction-local, as PostGraphile sets them), then back to root. */
async function as<T>(c: PoolClient, t: TokenSettings, fn: () => Promise<T>): Promise<T> {
  await c.query(
    `select set_config('baton.owner_id', $1, true), set_config('baton.daemon_id', coalesce($2, ''), true), set_config('baton.directive_id', coalesce($3, ''), true),
            set_config('baton.task_id', coalesce($4, ''), true), set_config('baton.token_gen', $5, true)`,
    [t.owner, t.daemon ?? null, t.directive ?? null, t.task ?? null, String(t.gen ?? 0)],
  );
  await c.query("select set_config('role', $1, true)", [t.role]);
  try {
    return await fn();
  } finally {
    await c.query("reset role");
    await c.query("select set_config('baton.owner_id', '', true), set_config('baton.daemon_id', '', true), set_config('baton.token_gen', '', true)");
  }
}

/** A started directive whose step `a` runs on daemon `daemon` (the only one), as in production. */
async function running(c: PoolClient) {
  const { owner, d, s } = await setup(c, chain("a", "b"));
  const daemon = await createDaemon(c, owner, { name: "first box" });
  const t = await startStep(c, s.a!.id);
  assert.equal(t.daemon_id, daemon);
  return { owner, directive: d.id, stepA: s.a!.id, daemon, task: t.id };
}

/** The call fails with that code and message, inside a savepoint so the test's transaction goes on. */
const fails = (c: PoolClient, sql: string, params: unknown[], code: string, message: string) => assertDbError(inSavepoint(c, () => c.query(sql, params)), code, message);

const REVOKED_DAEMON = (id: string) => `This daemon (${id}) was revoked by its owner, so its token no longer works.`;
const ROTATED = "This token was revoked by `baton token rotate`; ask for a new one.";

describe("revoke_daemon", () => {
  it("interrupts the daemon's running task, so its step is ready again and goes to another daemon", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const revoked = await as(c, { role: "baton_user", owner: w.owner }, () => q<{ status: string; revoked_at: Date | null }>(c, "select * from baton.revoke_daemon($1)", [w.daemon]));
      assert.equal(revoked.status, "disconnected");
      assert.ok(revoked.revoked_at instanceof Date);
      const t = await task(c, w.task);
      assert.deepEqual([t.status, t.error], ["interrupted", "The daemon was revoked by its owner."]);
      assert.equal((await q<{ status: string }>(c, "select status from baton.directive_steps where id = $1", [w.stepA])).status, "ready");
      const other = await createDaemon(c, w.owner, { name: "second box" });
      const retry = await startStep(c, w.stepA);
      assert.equal(retry.daemon_id, other);
    }));

  it("keeps the first revocation time when a daemon is revoked twice", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const first = await q<{ revoked_at: Date }>(c, "select revoked_at from baton.revoke_daemon($1)", [w.daemon]);
      const second = await q<{ revoked_at: Date }>(c, "select revoked_at from baton.revoke_daemon($1)", [w.daemon]);
      assert.deepEqual(second.revoked_at, first.revoked_at);
    }));

  it("answers another owner's daemon as not existing (BTNFD) and leaves it alone", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const other = (await setup(c, [], { start: false })).owner;
      await as(c, { role: "baton_user", owner: other }, () =>
        fails(c, "select baton.revoke_daemon($1)", [w.daemon], "BTNFD", `Daemon ${w.daemon} does not exist.`),
      );
      assert.equal((await q<{ revoked_at: Date | null }>(c, "select revoked_at from baton.daemons where id = $1", [w.daemon])).revoked_at, null);
    }));

  it("makes the daemon's token see nothing: not its tasks, not itself, not its owner", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const token: TokenSettings = { role: "baton_daemon", owner: w.owner, daemon: w.daemon };
      const visible = () => as(c, token, () => q<{ tasks: number; daemons: number; owners: number; directives: number }>(c, `select
          (select count(*) from baton.tasks)::int as tasks, (select count(*) from baton.daemons)::int as daemons,
          (select count(*) from baton.owners)::int as owners, (select count(*) from baton.directives)::int as directives`));
      assert.deepEqual(await visible(), { tasks: 1, daemons: 1, owners: 1, directives: 1 });
      await c.query("select baton.revoke_daemon($1)", [w.daemon]);
      assert.deepEqual(await visible(), { tasks: 0, daemons: 0, owners: 0, directives: 0 });
      assert.deepEqual(await as(c, token, () => q(c, "select baton_private.current_daemon_id() as d, baton_private.current_owner_id() as o")), { d: null, o: null });
    }));

  it("refuses the revoked daemon's heartbeat, report and output with a message that says it was revoked (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.revoke_daemon($1)", [w.daemon]);
      const token: TokenSettings = { role: "baton_daemon", owner: w.owner, daemon: w.daemon };
      await as(c, token, () => fails(c, "select baton.heartbeat($1, $2)", [w.daemon, [w.task]], "BTDNY", REVOKED_DAEMON(w.daemon)));
      await as(c, token, () => fails(c, "select baton.report_task_status($1, 'completed')", [w.task], "BTDNY", REVOKED_DAEMON(w.daemon)));
      await as(c, token, () =>
        fails(c, `select baton.append_task_output($1, '[{"stream": "stdout", "text": "late"}]')`, [w.task], "BTDNY", REVOKED_DAEMON(w.daemon)),
      );
      await as(c, token, () => fails(c, "select baton.daemon_token($1)", [w.daemon], "BTDNY", REVOKED_DAEMON(w.daemon)));
    }));

  it("does not let a heartbeat revive the daemon, even one sent as an admin", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.revoke_daemon($1)", [w.daemon]);
      await fails(c, "select baton.heartbeat($1, '{}')", [w.daemon],
        "BTDNY",
        `Daemon ${w.daemon} was revoked by its owner, so its heartbeat is refused.`,
      );
      // Whatever path tries (a function body redefined later, direct SQL), the row stays disconnected.
      await fails(c, "update baton.daemons set status = 'connected', disconnected_at = null where id = $1", [w.daemon],
        "BTDNY",
        `Daemon ${w.daemon} was revoked by its owner, so it cannot connect again.`,
      );
      await fails(c, "update baton.daemons set revoked_at = null where id = $1", [w.daemon], "BTDNY", `Daemon ${w.daemon} was revoked; a revocation cannot be undone.`);
      assert.equal((await q<{ status: string }>(c, "select status from baton.daemons where id = $1", [w.daemon])).status, "disconnected");
    }));

  it("mints no new token for a revoked daemon, even for its owner (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.revoke_daemon($1)", [w.daemon]);
      await as(c, { role: "baton_user", owner: w.owner }, () =>
        fails(c, "select baton.daemon_token($1)", [w.daemon], "BTDNY", `Daemon ${w.daemon} was revoked by its owner, so it gets no new token.`),
      );
    }));

  it("leaves the owner's other daemons working", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const sibling = await createDaemon(c, w.owner, { name: "sibling" });
      await c.query("select baton.revoke_daemon($1)", [w.daemon]);
      const beat = await as(c, { role: "baton_daemon", owner: w.owner, daemon: sibling }, () => q<{ status: string }>(c, "select * from baton.heartbeat($1, '{}')", [sibling]));
      assert.equal(beat.status, "connected");
    }));
});

describe("daemon_token", () => {
  it("lives one hour and carries the owner's token generation", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const t = await as(c, { role: "baton_daemon", owner: w.owner, daemon: w.daemon }, () =>
        q<{ seconds: number; gen: number; role: string }>(c, "select (exp - extract(epoch from now()))::int as seconds, gen, role from baton.daemon_token($1)", [w.daemon]),
      );
      assert.deepEqual(t, { seconds: 3600, gen: 0, role: "baton_daemon" });
    }));
});

describe("rotate_tokens", () => {
  it("bumps the owner's generation and returns a fresh 30-day owner token of the new generation", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const t = await as(c, { role: "baton_user", owner: w.owner }, () =>
        q<{ role: string; owner_id: string; gen: number; days: number }>(c, "select role, owner_id, gen, round((exp - extract(epoch from now())) / 86400)::int as days from baton.rotate_tokens()"),
      );
      assert.deepEqual(t, { role: "baton_user", owner_id: w.owner, gen: 1, days: 30 });
      assert.equal((await q<{ token_generation: number }>(c, "select token_generation from baton.owners where id = $1", [w.owner])).token_generation, 1);
    }));

  it("kills the owner's, its daemons' and its agents' older tokens: they see nothing", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const old: TokenSettings[] = [
        { role: "baton_user", owner: w.owner },
        { role: "baton_daemon", owner: w.owner, daemon: w.daemon },
        { role: "baton_agent", owner: w.owner, directive: w.directive, task: w.task },
      ];
      const sees = (t: TokenSettings) => as(c, t, () => q<{ n: number }>(c, "select count(*)::int as n from baton.directives")).then((r) => r.n);
      for (const t of old) assert.equal(await sees(t), 1, `${t.role} sees its directive before the rotation`);
      await c.query("select baton.rotate_tokens($1)", [w.owner]);
      for (const t of old) assert.equal(await sees(t), 0, `${t.role}'s old token sees nothing after the rotation`);
      for (const t of old) assert.equal(await sees({ ...t, gen: 1 }), 1, `${t.role}'s token of the new generation works`);
    }));

  it("tells an old token why it is refused when it calls a function (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select baton.rotate_tokens($1)", [w.owner]);
      await as(c, { role: "baton_user", owner: w.owner }, () => fails(c, "select baton.pause_directive($1)", [w.directive], "BTDNY", ROTATED));
      await as(c, { role: "baton_user", owner: w.owner }, () => fails(c, "select baton.create_directive('t', 'g')", [], "BTDNY", ROTATED));
      await as(c, { role: "baton_user", owner: w.owner }, () => fails(c, "select baton.rotate_tokens()", [], "BTDNY", ROTATED));
      await as(c, { role: "baton_daemon", owner: w.owner, daemon: w.daemon }, () =>
        fails(c, "select baton.heartbeat($1, $2)", [w.daemon, [w.task]], "BTDNY", ROTATED),
      );
      await as(c, { role: "baton_agent", owner: w.owner, directive: w.directive, task: w.task }, () =>
        fails(c, "select baton.add_step($1, 'late')", [w.directive], "BTDNY", ROTATED),
      );
    }));

  it("leaves other owners' tokens working", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      const other = await setup(c, chain("x"));
      await c.query("select baton.rotate_tokens($1)", [w.owner]);
      const n = await as(c, { role: "baton_user", owner: other.owner }, () => q<{ n: number }>(c, "select count(*)::int as n from baton.directives"));
      assert.equal(n.n, 1);
    }));

  it("refuses a generation that is not a number (garbage sees nothing)", () =>
    withRootDb(db, async (c) => {
      const w = await running(c);
      await c.query("select set_config('baton.owner_id', $1, true), set_config('baton.token_gen', 'x', true), set_config('role', 'baton_user', true)", [w.owner]);
      assert.equal((await q<{ n: number }>(c, "select count(*)::int as n from baton.directives")).n, 0);
      await c.query("reset role");
    }));
});
