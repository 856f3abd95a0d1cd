/*
 * API requests run as a role that is no superuser and owns nothing of Baton, so row-level security
 * always applies: asked through the real server, per token; and a request whose settings carry no
 * role at all (which the server never sends, but a future bug might) runs as baton_anonymous through
 * the real preset and API pool, and reads and changes nothing.
 *
 * Each file has its own database, so a test-only function is added to the `baton` schema before the
 * server introspects it: it reports what the request's session really is.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Pool } from "pg";
import { postgraphile } from "postgraphile";
import { grafast } from "postgraphile/grafast";
import { makePreset } from "../../src/api/preset";
import { createApiPool } from "../../src/db/pool";
import { silentLogger } from "../../src/logger";
import { gql, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { waitFor } from "../helpers/wait";

const db = useTestDatabase();

const SESSION_FACTS = `
  create function baton.test_session_facts() returns jsonb
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$
    select jsonb_build_object(
      'current_user', current_user::text,
      'session_is_login', session_user <> current_user,
      'superuser', (select r.rolsuper from pg_roles r where r.rolname = current_user),
      'bypassrls', (select r.rolbypassrls from pg_roles r where r.rolname = current_user),
      -- Owned directly or through a role it holds: owners bypass RLS unless FORCE.
      'owned_tables', (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
                        where n.nspname in ('baton', 'baton_private') and c.relkind in ('r', 'p', 'v')
                          and pg_has_role(current_user, c.relowner, 'usage')),
      'api_role', baton_private.current_api_role(),
      'marker', current_setting('baton.test_marker', true));
  $$;
  grant execute on function baton.test_session_facts() to baton_anonymous, baton_user, baton_daemon, baton_agent;`;

const facts = (role: string, marker: string | null = null) => ({ current_user: role, session_is_login: true, superuser: false, bypassrls: false, owned_tables: 0, api_role: role, marker });

describe("an API request", () => {
  before(async () => {
    await waitFor(() => db.url, { what: "the test database" });
    await db.pool.query(SESSION_FACTS);
  });
  const server = useTestServer(db, { worker: false });

  it("runs as its token's role, never as a superuser or an owner of Baton's tables", async () => {
    const owner = server.credentials.owner_id;
    const daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('box', owner_id => $1)", [owner])).rows[0]!.id;
    const directiveId = (await db.pool.query<{ id: string }>("select id from baton.create_directive('D', 'goal', start => true, owner_id => $1)", [owner])).rows[0]!.id;
    const taskId = (await db.pool.query<{ id: string }>("select id from baton.create_planning_task($1, 'plan it')", [directiveId])).rows[0]!.id;
    const daemonToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemonId }, server.credentials.token)).daemonToken;
    const agentToken = (await gql(server, `query ($t: UUID!) { task(rowId: $t) { agentToken } }`, { t: taskId }, daemonToken)).task.agentToken;

    const ask = async (token?: string) => (await gql(server, `{ testSessionFacts }`, {}, token)).testSessionFacts;
    assert.deepEqual(await ask(), facts("baton_anonymous"));
    assert.deepEqual(await ask(server.credentials.token), facts("baton_user"));
    assert.deepEqual(await ask(daemonToken), facts("baton_daemon"));
    assert.deepEqual(await ask(agentToken), facts("baton_agent"));
    // The login the server connects with is the test cluster's superuser: the role switch is what protects.
    const login = await db.pool.query("select rolsuper from pg_roles where rolname = session_user");
    assert.equal(login.rows[0].rolsuper, true);
  });
});

describe("a request whose settings carry no role", () => {
  let pool: Pool;
  let release: () => Promise<void>;
  let run: (source: string) => Promise<{ data?: any; errors?: readonly { message: string }[] }>;
  let owner: string;
  let directiveId: string;

  before(async () => {
    await waitFor(() => db.url, { what: "the test database" });
    owner = (await db.pool.query<{ id: string }>("select id from baton.create_owner('dora')")).rows[0]!.id;
    directiveId = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Hers', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    await db.pool.query(`select baton.batch_add_steps($1, '[{"name": "hers"}]')`, [directiveId]);
    // The server's preset and API pool, with a context that forgets the role (but names the owner, and
    // sets a marker that proves these settings, not the server's, were used).
    pool = createApiPool(db.url, silentLogger, 2);
    const { preset, pgService } = makePreset({ pool, jwtSecret: "s".repeat(40), logger: silentLogger });
    const pgl = postgraphile({ extends: [preset], grafast: { context: () => ({ pgSettings: { "baton.owner_id": owner, "baton.test_marker": "no role" } }) } });
    const schema = await pgl.getSchema();
    const resolvedPreset = pgl.getResolvedPreset();
    run = async (source) => (await grafast({ schema, source, resolvedPreset, requestContext: {} })) as any;
    release = async () => {
      await pgl.release();
      await pgService.release?.();
      await pool.end();
    };
  });
  after(() => release?.());

  it("runs as baton_anonymous", async () => {
    const r = await run(`{ testSessionFacts currentIdentity }`);
    assert.equal(r.errors, undefined);
    assert.deepEqual(r.data.testSessionFacts, facts("baton_anonymous", "no role"));
    assert.equal(r.data.currentIdentity.role, "baton_anonymous");
  });

  it("reads nothing", async () => {
    for (const [query, table] of [
      [`{ directives { nodes { rowId } } }`, "directives"],
      [`{ directiveSteps { nodes { rowId } } }`, "directive_steps"],
      [`{ owners { nodes { rowId } } }`, "owners"],
    ] as const) {
      const r = await run(query);
      assert.deepEqual(r.errors?.map((e) => e.message), [`permission denied for table ${table}`], query);
    }
    // Not passing on an empty database: the rows are there.
    const rows = await db.pool.query("select count(*)::int as n from baton.directive_steps where directive_id = $1", [directiveId]);
    assert.equal(rows.rows[0].n, 1);
  });

  it("changes nothing", async () => {
    const before = await db.pool.query("select (select count(*)::int from baton.directives) as d, (select count(*)::int from baton.directive_steps) as s");
    const add = await run(`mutation { batchAddSteps(input: { directiveId: "${directiveId}", steps: [{ name: "sneaky" }] }) { clientMutationId } }`);
    assert.deepEqual(add.errors?.map((e) => e.message), ["permission denied for function batch_add_steps"]);
    const create = await run(`mutation { createDirective(input: { title: "x", goal: "y", ownerId: "${owner}" }) { clientMutationId } }`);
    assert.deepEqual(create.errors?.map((e) => e.message), ["permission denied for function create_directive"]);
    const afterwards = await db.pool.query("select (select count(*)::int from baton.directives) as d, (select count(*)::int from baton.directive_steps) as s");
    assert.deepEqual(afterwards.rows, before.rows);
  });
});
