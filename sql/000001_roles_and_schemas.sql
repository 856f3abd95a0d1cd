/*
 * Schemas and roles.
 *
 * `baton` is the public API: the CONTRACT's tables, views and functions. PostGraphile exposes only it.
 * `baton_private` holds trigger functions, helpers and anything a client must never call directly.
 *
 * Roles are cluster-wide, so they are created only when missing (a second Baton database on the same
 * cluster, or a test template, reuses them). They are NOLOGIN: the API server's login switches to them
 * per request, so the login must be a member (granted below to whoever runs the migration).
 */
create extension if not exists pgcrypto;

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'baton_anonymous') then
    create role baton_anonymous nologin;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'baton_user') then
    create role baton_user nologin;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'baton_daemon') then
    create role baton_daemon nologin;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'baton_agent') then
    create role baton_agent nologin;
  end if;
end
$$;

-- The migrating login must be able to `set role` to each API role (a no-op for superusers).
do $$
begin
  execute format('grant baton_anonymous, baton_user, baton_daemon, baton_agent to %I', current_user);
exception when others then
  -- Already granted, or the login is a superuser that needs no grant.
  null;
end
$$;

create schema baton;
create schema baton_private;

comment on schema baton is $$Baton: directives planned into DAGs of steps, dispatched as tasks to daemons running coding agents.$$;
comment on schema baton_private is $$Baton internals: trigger functions, helpers and secrets. Never exposed through the API.$$;

-- Nothing is callable or visible unless granted explicitly below, file by file.
revoke all on schema public from public;
alter default privileges revoke execute on functions from public;
alter default privileges in schema baton revoke execute on functions from public;
alter default privileges in schema baton_private revoke execute on functions from public;

grant usage on schema baton to baton_anonymous, baton_user, baton_daemon, baton_agent;

-- The internals the policies and functions call run with the caller's rights.
grant usage on schema baton_private to baton_anonymous, baton_user, baton_daemon, baton_agent;

/*
 * The API's schema is introspected as baton_api, a role holding every API role, so PostGraphile
 * shows exactly what some role may use: internals (create_execution_task, assign_task, reconcile,
 * create_owner, ...) stay callable from SQL but are not in the API.
 *
 * baton_api holds no privileges of its own (NOINHERIT): a session that switched to it would
 * otherwise hold every API role's grants at once (select on every table, execute on every mutation)
 * and only RLS would stand between it and the data. PostGraphile's introspection counts memberships
 * whether or not they inherit (PgRBACPlugin passes includeNoInherit), so the API it builds is the
 * same. From PostgreSQL 16 inheritance is a property of each grant, so the memberships are granted
 * without it; before 16 it is the role's attribute.
 */
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'baton_api') then
    create role baton_api nologin noinherit;
  end if;
  execute format('grant baton_api to %I', current_user);
exception when duplicate_object or invalid_grant_operation then
  null;
end
$$;

/*
 * Roles are cluster-wide and altering one needs CREATEROLE: a login without it gets a warning. Each
 * change is made only when still needed, so the databases of a cluster migrated later (tests clone
 * many at once) do not update the same catalog rows concurrently ("tuple concurrently updated"), and
 * a cluster whose baton_api was made by an earlier Baton (INHERIT) is put right.
 */
do $$
declare
  v_missing boolean;
begin
  if (select r.rolinherit from pg_catalog.pg_roles r where r.rolname = 'baton_api') then
    alter role baton_api noinherit;
  end if;
  if current_setting('server_version_num')::int >= 160000 then
    execute $q$select count(*) < 4 from pg_catalog.pg_auth_members m
                where m.member = 'baton_api'::regrole and not m.inherit_option
                  and m.roleid in ('baton_anonymous'::regrole, 'baton_user'::regrole, 'baton_daemon'::regrole, 'baton_agent'::regrole)$q$
      into v_missing;
    if v_missing then
      execute 'grant baton_anonymous, baton_user, baton_daemon, baton_agent to baton_api with inherit false';
    end if;
  elsif (select count(*) < 4 from pg_catalog.pg_auth_members m
          where m.member = 'baton_api'::regrole
            and m.roleid in ('baton_anonymous'::regrole, 'baton_user'::regrole, 'baton_daemon'::regrole, 'baton_agent'::regrole)) then
    grant baton_anonymous, baton_user, baton_daemon, baton_agent to baton_api;
  end if;
exception when insufficient_privilege then
  raise warning 'Could not make baton_api NOINHERIT (%); a session that sets role baton_api keeps the API roles'' grants. Run this migration as a role with CREATEROLE to fix it.', sqlerrm;
end
$$;
