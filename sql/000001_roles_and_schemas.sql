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
