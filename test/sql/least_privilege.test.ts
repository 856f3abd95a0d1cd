/*
 * Least privilege inside PostgreSQL (issue 9): the API role fails closed, API connections run as a
 * restricted role, agents change only what they may, and events name the acting task and daemon.
 * Roles are switched as the API does it: set_config('role', ...) and the token's ids as settings.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Pool, PoolClient } from "pg";
import { assertApiPoolRestricted, createApiPool } from "../../src/db/pool";
import { silentLogger } from "../../src/logger";
import { assertDbError, inSavepoint, useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, report, runStep, type Step } from "../helpers/fixtures";
import { createDaemon, dagCounts, q, setup, startStep } from "./support";

const db = useTestDatabase();

type Settings = Record<string, string>;

/** Switches the transaction to `role` with the token's settings, as PostGraphile does per request. */
async function actAs(c: PoolClient, role: string, settings: Settings = {}): Promise<void> {
  await c.query("select set_config('role', $1, true)", [role]);
  for (const [name, value] of Object.entries(settings)) await c.query("select set_config($1, $2, true)", [name, value]);
}

/** Back to the login with no role set (admin), with the token settings cleared. */
async function actAsAdmin(c: PoolClient): Promise<void> {
  await c.query("select set_config('role', 'none', true)");
  for (const name of ["baton.owner_id", "baton.daemon_id", "baton.directive_id", "baton.task_id"]) {
    await c.query("select set_config($1, '', true)", [name]);
  }
}

async function apiRole(c: PoolClient): Promise<string> {
  return (await q<{ r: string }>(c, "select baton_private.current_api_role() as r")).r;
}

const agent = (owner: string, directive: string, task: string): Settings => ({ "baton.owner_id": owner, "baton.directive_id": directive, "baton.task_id": task });

/**
 * Runs `sql` as the current role in a savepoint that is rolled back, then checks as admin that it
 * wrote nothing (support.ts's writesNothing counts as the caller, which an API role cannot), and
 * passes its outcome on. The role in force before the call is in force after it.
 */
async function refused(c: PoolClient, sql: string, params: unknown[] = []): Promise<unknown> {
  await c.query("savepoint refused");
  const before = await asAdminMeanwhile(c, () => dagCounts(c));
  try {
    return await c.query(sql, params);
  } catch (err) {
    await c.query("rollback to savepoint refused");
    assert.deepEqual(await asAdminMeanwhile(c, () => dagCounts(c)), before, "a refused call must write nothing");
    throw err;
  }
}

/** Runs fn as admin, then restores the role and settings (a savepoint rolled back undoes set_config). */
async function asAdminMeanwhile<T>(c: PoolClient, fn: () => Promise<T>): Promise<T> {
  await c.query("savepoint as_admin");
  try {
    await actAsAdmin(c);
    return await fn();
  } finally {
    await c.query("rollback to savepoint as_admin");
  }
}

describe("the API role", () => {
  it("is admin only when no role was set, and each API role as itself", () =>
    withRootDb(db, async (c) => {
      assert.equal(await apiRole(c), "admin");
      for (const role of ["baton_user", "baton_daemon", "baton_agent", "baton_anonymous"]) {
        await actAs(c, role);
        assert.equal(await apiRole(c), role);
      }
    }));

  it("fails closed: any other role (baton_api, a DBA's own role, a built-in role) counts as baton_anonymous", () =>
    withRootDb(db, async (c) => {
      // A role of the DBA's; each role may call the function (grants in this transaction, rolled back:
      // baton_api holds no grants of its own).
      const stranger = `baton_test_stranger_${process.pid}_${Date.now()}`;
      await c.query(`create role ${stranger} nologin`);
      await c.query(`grant usage on schema baton_private to ${stranger}, pg_monitor, baton_api`);
      await c.query(`grant execute on function baton_private.current_api_role() to ${stranger}, pg_monitor, baton_api`);
      for (const role of ["baton_api", stranger, "pg_monitor"]) {
        await actAs(c, role);
        assert.equal(await apiRole(c), "baton_anonymous", role);
        await actAsAdmin(c);
      }
    }));

  it("a session as baton_api holds no API role's grants, even with an owner's settings", () =>
    withRootDb(db, async (c) => {
      const { owner, d } = await setup(c, [{ name: "a" }]);
      await actAs(c, "baton_api", { "baton.owner_id": owner });
      for (const sql of [
        "select count(*) from baton.directives",
        "select count(*) from baton.directive_steps",
        "select count(*) from baton.events",
      ]) {
        await assertDbError(inSavepoint(c, () => c.query(sql)), "42501", "permission denied for schema baton");
      }
      await assertDbError(
        refused(c, "select baton.create_directive('x', 'y', owner_id => $1)", [owner]),
        "42501",
        "permission denied for schema baton",
      );
      await assertDbError(
        refused(c, `select baton.batch_add_steps($1, '[{"name": "sneaky"}]')`, [d.id]),
        "42501",
        "permission denied for schema baton",
      );
      // Not passing on an empty database: the rows are there.
      await actAsAdmin(c);
      assert.equal((await q<{ n: number }>(c, "select count(*)::int as n from baton.directive_steps where directive_id = $1", [d.id])).n, 1);
    }));
});

describe("the API's connections", () => {
  let pool: Pool;
  before(() => {
    pool = createApiPool(db.url, silentLogger, 2);
  });
  after(() => pool.end());

  it("run as baton_anonymous, which is no superuser and owns no table, function or schema of Baton", async () => {
    await assertApiPoolRestricted(pool);
    const r = await pool.query(`
      select current_user::text as role, session_user <> current_user as switched,
             (select rolsuper from pg_roles where rolname = current_user) as superuser,
             (select rolbypassrls from pg_roles where rolname = current_user) as bypassrls,
             (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname in ('baton', 'baton_private') and pg_has_role(current_user, c.relowner, 'usage')) as owned_relations,
             (select count(*)::int from pg_proc p join pg_namespace n on n.oid = p.pronamespace
               where n.nspname in ('baton', 'baton_private') and pg_has_role(current_user, p.proowner, 'usage')) as owned_functions,
             (select count(*)::int from pg_namespace n where n.nspname in ('baton', 'baton_private') and pg_has_role(current_user, n.nspowner, 'usage')) as owned_schemas,
             baton_private.current_api_role() as api_role`);
    assert.deepEqual(r.rows[0], {
      role: "baton_anonymous",
      switched: true,
      superuser: false,
      bypassrls: false,
      owned_relations: 0,
      owned_functions: 0,
      owned_schemas: 0,
      api_role: "baton_anonymous",
    });
  });

  it("without a role setting read nothing and change nothing, even with an owner's id", async () => {
    const { owner, d } = await withCommittedDirective(db.pool);
    const c = await pool.connect();
    try {
      await c.query("begin");
      await c.query("select set_config('baton.owner_id', $1, true)", [owner]);
      for (const table of ["directives", "directive_steps", "owners", "events", "tasks"]) {
        await assertDbError(inSavepoint(c, () => c.query(`select count(*) from baton.${table}`)), "42501", `permission denied for table ${table}`);
      }
      await assertDbError(
        inSavepoint(c, () => c.query(`select baton.batch_add_steps($1, '[{"name": "sneaky"}]')`, [d])),
        "42501",
        "permission denied for function batch_add_steps",
      );
      await assertDbError(
        inSavepoint(c, () => c.query("select baton.create_directive('x', 'y', owner_id => $1)", [owner])),
        "42501",
        "permission denied for function create_directive",
      );
      const identity = await c.query("select baton.current_identity() as i");
      assert.equal(identity.rows[0].i.role, "baton_anonymous");
    } finally {
      await c.query("rollback").catch(() => undefined);
      c.release();
    }
    // As the login, the directive and its step are there and nothing was added.
    const r = await db.pool.query("select (select count(*)::int from baton.directive_steps where directive_id = $1) as steps, (select count(*)::int from baton.directives where owner_id = $2) as directives", [d, owner]);
    assert.deepEqual(r.rows[0], { steps: 1, directives: 1 });
  });

  it("switch to a request's role and back when its transaction ends", async () => {
    const c = await pool.connect();
    try {
      await c.query("begin");
      await c.query("select set_config('role', 'baton_user', true)");
      assert.equal((await c.query("select current_user::text as u")).rows[0].u, "baton_user");
      await c.query("commit");
      assert.equal((await c.query("select current_user::text as u")).rows[0].u, "baton_anonymous");
    } finally {
      c.release();
    }
  });
});

/** A committed owner and directive with one step (for tests through other connections). */
async function withCommittedDirective(pool: Pool): Promise<{ owner: string; d: string }> {
  const owner = (await pool.query<{ id: string }>("select id from baton.create_owner('carol')")).rows[0]!.id;
  const d = (await pool.query<{ id: string }>("select id from baton.create_directive('Hers', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
  await pool.query(`select baton.batch_add_steps($1, '[{"name": "hers"}]')`, [d]);
  return { owner, d };
}

/** An active directive with the owner's steps `owned` and `later` (later depends on owned), and an execution agent on `work`. */
async function executionAgent(c: PoolClient) {
  const { owner, d, s } = await setup(c, [{ key: "work", name: "work" }, { key: "owned", name: "owned" }, { key: "later", name: "later", dependsOn: ["owned"] }]);
  const task = await startStep(c, s.work!.id);
  return { owner, d, s, task, settings: agent(owner, d.id, task.id) };
}

const addAs = async (c: PoolClient, directiveId: string, steps: object[]) =>
  Object.fromEntries((await c.query<Step & { added_by_task_id: string | null }>("select * from baton.batch_add_steps($1, $2)", [directiveId, JSON.stringify(steps)])).rows.map((r) => [r.name, r]));

describe("an execution agent", () => {
  it("adds steps, which record its task, and re-wires and removes them", () =>
    withRootDb(db, async (c) => {
      const { d, s, task, settings } = await executionAgent(c);
      await actAs(c, "baton_agent", settings);
      const mine = await addAs(c, d.id, [{ key: "x", name: "x", dependsOn: [s.owned!.id] }, { key: "y", name: "y" }]);
      assert.equal(mine.x!.added_by_task_id, task.id);
      await c.query("select baton.set_step_dependencies($1, $2)", [mine.y!.id, [mine.x!.id, s.work!.id]]);
      await c.query("select baton.remove_step($1, force => true)", [mine.x!.id]);
      await actAsAdmin(c);
      const deps = await c.query("select depends_on_step_id as d from baton.step_dependencies where step_id = $1 order by 1", [mine.y!.id]);
      assert.deepEqual(deps.rows.map((r) => r.d).sort(), [s.owned!.id, s.work!.id].sort());
    }));

  it("cannot remove a step it did not add (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const { s, settings } = await executionAgent(c);
      await actAs(c, "baton_agent", settings);
      await assertDbError(
        refused(c, "select baton.remove_step($1)", [s.later!.id]),
        "BTDNY",
        `Step ${s.later!.id} ("later") was not added by this task, so an execution agent cannot remove it; ask the owner, or add a new step.`,
      );
    }));

  it("cannot re-wire a step it did not add (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const { s, settings } = await executionAgent(c);
      await actAs(c, "baton_agent", settings);
      await assertDbError(
        refused(c, "select baton.set_step_dependencies($1, '{}')", [s.later!.id]),
        "BTDNY",
        `Step ${s.later!.id} ("later") was not added by this task, so an execution agent cannot re-wire it; ask the owner, or add a new step.`,
      );
    }));

  it("cannot remove its own step with force when that re-wires a step it did not add (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const { d, s, settings } = await executionAgent(c);
      await actAs(c, "baton_agent", settings);
      const mine = await addAs(c, d.id, [{ name: "mine" }]);
      await actAsAdmin(c);
      await c.query("select baton.set_step_dependencies($1, $2)", [s.later!.id, [mine.mine!.id]]);
      await actAs(c, "baton_agent", settings);
      await assertDbError(
        refused(c, "select baton.remove_step($1, force => true)", [mine.mine!.id]),
        "BTDNY",
        `Removing step ${mine.mine!.id} ("mine") with force would re-wire step ${s.later!.id} ("later"), which was not added by this task, so an execution agent cannot do it; ask the owner, or add a new step.`,
      );
    }));

  it("cannot remove the running step it works on, nor a completed step (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { owner, d, s, task, settings } = await executionAgent(c);
      await actAs(c, "baton_agent", settings);
      await assertDbError(
        refused(c, "select baton.remove_step($1)", [s.work!.id]),
        "BTSTS",
        `Step ${s.work!.id} ("work") is running, so it cannot be removed: completed and running steps stay.`,
      );
      // A step it added that has since completed.
      const mine = await addAs(c, d.id, [{ name: "done" }]);
      await actAsAdmin(c);
      await c.query("select baton.complete_step($1)", [mine.done!.id]);
      await actAs(c, "baton_agent", agent(owner, d.id, task.id));
      await assertDbError(
        refused(c, "select baton.remove_step($1)", [mine.done!.id]),
        "BTSTS",
        `Step ${mine.done!.id} ("done") is completed, so it cannot be removed: completed and running steps stay.`,
      );
    }));
});

describe("a planning agent", () => {
  async function planningAgent(c: PoolClient) {
    const { owner, d } = await setup(c, []);
    await createDaemon(c, owner);
    const task = await q<{ id: string }>(c, "select * from baton.create_planning_task($1, 'plan it')", [d.id]);
    await report(c, task.id, "running");
    return { owner, d, task, settings: agent(owner, d.id, task.id) };
  }

  it("re-wires and removes steps it did not add", () =>
    withRootDb(db, async (c) => {
      const { d, settings } = await planningAgent(c);
      const s = await addSteps(c, d.id, [{ key: "a", name: "a" }, { key: "b", name: "b" }, { key: "c", name: "c" }]);
      await actAs(c, "baton_agent", settings);
      await c.query("select baton.set_step_dependencies($1, $2)", [s.b!.id, [s.a!.id]]);
      await c.query("select baton.remove_step($1)", [s.c!.id]);
      await actAsAdmin(c);
      const names = await c.query("select name from baton.directive_steps where directive_id = $1 order by name", [d.id]);
      assert.deepEqual(names.rows.map((r) => r.name), ["a", "b"]);
    }));

  it("cannot remove a completed or running step (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { owner, d, settings } = await planningAgent(c);
      const s = await addSteps(c, d.id, [{ name: "done" }, { name: "busy" }]);
      await runStep(c, s.done!.id);
      await startStep(c, s.busy!.id);
      await actAs(c, "baton_agent", settings);
      for (const [name, status] of [["done", "completed"], ["busy", "running"]] as const) {
        await assertDbError(
          refused(c, "select baton.remove_step($1)", [s[name]!.id]),
          "BTSTS",
          `Step ${s[name]!.id} ("${name}") is ${status}, so it cannot be removed: completed and running steps stay.`,
        );
      }
      // The owner is refused the same way (remove_step, 000022).
      await actAs(c, "baton_user", { "baton.owner_id": owner, "baton.directive_id": "", "baton.task_id": "" });
      await assertDbError(
        refused(c, "select baton.remove_step($1)", [s.done!.id]),
        "BTSTS",
        `Step ${s.done!.id} ("done") is completed, so it cannot be removed: completed and running steps stay.`,
      );
    }));
});

describe("events", () => {
  it("record the acting task for agents and the acting daemon for daemons, and neither for owners and admin", () =>
    withRootDb(db, async (c) => {
      const { owner, d, s, task, settings } = await executionAgent(c);
      const daemon = (await q<{ daemon_id: string }>(c, "select daemon_id from baton.tasks where id = $1", [task.id])).daemon_id;
      await actAs(c, "baton_agent", settings);
      const mine = await addAs(c, d.id, [{ name: "by agent" }]);
      await actAs(c, "baton_user", { "baton.owner_id": owner, "baton.directive_id": "", "baton.task_id": "" });
      const theirs = await addAs(c, d.id, [{ name: "by owner" }]);
      await actAs(c, "baton_daemon", { "baton.owner_id": owner, "baton.daemon_id": daemon });
      await c.query("select baton.report_task_status($1, 'completed')", [task.id]);
      await actAsAdmin(c);
      const ev = await c.query(
        `select subject_id, kind, to_status, actor, actor_task_id, actor_daemon_id from baton.events
          where subject_id = any ($1) and (kind = 'created' and actor <> session_user or to_status = 'completed') order by id`,
        [[mine["by agent"]!.id, theirs["by owner"]!.id, task.id, s.work!.id]],
      );
      assert.deepEqual(ev.rows, [
        { subject_id: mine["by agent"]!.id, kind: "created", to_status: "pending", actor: "baton_agent", actor_task_id: task.id, actor_daemon_id: null },
        { subject_id: theirs["by owner"]!.id, kind: "created", to_status: "pending", actor: "baton_user", actor_task_id: null, actor_daemon_id: null },
        { subject_id: task.id, kind: "status_changed", to_status: "completed", actor: "baton_daemon", actor_task_id: null, actor_daemon_id: daemon },
        { subject_id: s.work!.id, kind: "status_changed", to_status: "completed", actor: "baton_daemon", actor_task_id: null, actor_daemon_id: daemon },
      ]);
      // The directive was created by the login (admin, no role): no actor ids.
      const byLogin = await c.query("select distinct actor = session_user::text as login, actor_task_id, actor_daemon_id from baton.events where subject_id = $1", [d.id]);
      assert.deepEqual(byLogin.rows, [{ login: true, actor_task_id: null, actor_daemon_id: null }]);
    }));
});
