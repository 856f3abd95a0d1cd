/*
 * Authorization: who may see and change what, enforced in the database.
 *
 * The API switches to one of four roles per request (from a verified JWT) and passes the token's ids
 * as settings:
 *   baton_user      an owner: its own directives, steps, tasks, daemons and events;
 *   baton_daemon    one daemon: heartbeat, read the tasks assigned to it, report on them;
 *   baton_agent     one task's agent: read its directive; add, remove and re-wire its steps, only while
 *                   the task is live;
 *   baton_anonymous nothing but health.
 * Reads go through row-level security (FORCE, so even a non-superuser table owner is held to it).
 * Writes only go through SECURITY DEFINER functions; those that touch a directive take its lock
 * through lock_directive, which now also checks that the caller may touch that directive. GRANTs
 * decide which role may call which function; PostGraphile shows each role only what it may call.
 */

create function baton_private.current_api_role() returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case when current_setting('role', true) in ('baton_user', 'baton_daemon', 'baton_agent', 'baton_anonymous')
              then current_setting('role', true) else 'admin' end;
$$;
comment on function baton_private.current_api_role() is $$The API role of this request, or `admin` for direct SQL, the worker and the CLI's admin commands.$$;

create function baton_private.setting_uuid(name text) returns uuid
language sql stable
set search_path = pg_catalog, pg_temp
as $$ select baton_private.try_uuid(nullif(current_setting(name, true), '')) $$;
comment on function baton_private.setting_uuid(text) is $$A uuid-valued setting of this request (from the token), or null.$$;

create function baton_private.current_owner_id() returns uuid
language sql stable
set search_path = pg_catalog, pg_temp
as $$ select baton_private.setting_uuid('baton.owner_id') $$;
comment on function baton_private.current_owner_id() is $$The owner of the request's token.$$;

create function baton_private.current_daemon_id() returns uuid
language sql stable
set search_path = pg_catalog, pg_temp
as $$ select case when baton_private.current_api_role() = 'baton_daemon' then baton_private.setting_uuid('baton.daemon_id') end $$;
comment on function baton_private.current_daemon_id() is $$The daemon of a daemon token, else null.$$;

/* The directive an agent token may touch, while its task is live. SECURITY DEFINER: it reads tasks
   whatever the caller's policies, which also keeps the policies below from recursing. */
create function baton_private.current_agent_directive_id() returns uuid
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select t.directive_id from baton.tasks t
   where baton_private.current_api_role() = 'baton_agent'
     and t.id = baton_private.setting_uuid('baton.task_id')
     and t.directive_id = baton_private.setting_uuid('baton.directive_id')
     and t.status in ('pending', 'starting', 'running');
$$;
comment on function baton_private.current_agent_directive_id() is $$For an agent token whose task is still live: its directive. Otherwise null, so the token stops working when the task ends.$$;

/* Directives a daemon works on (it has a task of theirs assigned). */
create function baton_private.daemon_works_on(directive_id uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select exists (select 1 from baton.tasks t where t.directive_id = daemon_works_on.directive_id
                   and t.daemon_id = baton_private.current_daemon_id());
$$;
comment on function baton_private.daemon_works_on(uuid) is $$Whether the current daemon has a task of this directive assigned to it.$$;

/* May the caller read rows of this directive? The one rule the policies below share. */
create function baton_private.can_see_directive(directive_id uuid, owner_id uuid) returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case baton_private.current_api_role()
    when 'admin' then true
    when 'baton_user' then can_see_directive.owner_id = baton_private.current_owner_id()
    when 'baton_agent' then can_see_directive.directive_id = baton_private.current_agent_directive_id()
    when 'baton_daemon' then baton_private.daemon_works_on(can_see_directive.directive_id)
    else false end;
$$;
comment on function baton_private.can_see_directive(uuid, uuid) is $$Whether the request may read the rows of a directive: its owner, its live agent, or a daemon working on it.$$;

/*
 * lock_directive, now with the access check: every function that changes a directive takes this
 * lock first, so this is the single place that decides whether the caller may change it. Others'
 * directives are reported as not existing, so their ids do not leak.
 */
create or replace function baton_private.lock_directive(directive_id uuid) returns baton.directives
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_role text := baton_private.current_api_role();
begin
  select * into v_directive from baton.directives d where d.id = lock_directive.directive_id for update;
  if found and v_role = 'baton_agent' and v_directive.id is distinct from baton_private.current_agent_directive_id() then
    if v_directive.id = baton_private.setting_uuid('baton.directive_id') then
      raise exception 'This agent token belonged to task %, which has ended; agent tokens stop working when their task ends.',
        baton_private.setting_uuid('baton.task_id') using errcode = 'BTDNY';
    end if;
    raise exception 'This agent token is for directive %, so it cannot change directive %.',
      baton_private.setting_uuid('baton.directive_id'), v_directive.id using errcode = 'BTDNY';
  end if;
  if not found
     or (v_role = 'baton_user' and v_directive.owner_id is distinct from baton_private.current_owner_id())
     or (v_role = 'baton_daemon' and not baton_private.daemon_works_on(v_directive.id))
     or v_role = 'baton_anonymous' then
    raise exception 'Directive % does not exist.', directive_id
      using errcode = 'BTNFD', hint = 'List your directives with `baton directive list`.';
  end if;
  return v_directive;
end;
$$;

/* A daemon token acts only for its own daemon; an owner only for its own daemons. */
create function baton_private.assert_daemon_access(daemon_id uuid) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if baton_private.current_api_role() = 'baton_daemon' and daemon_id is distinct from baton_private.current_daemon_id() then
    raise exception 'This daemon token is for daemon %, so it cannot act for daemon %.', baton_private.current_daemon_id(), daemon_id
      using errcode = 'BTDNY';
  end if;
  if baton_private.current_api_role() in ('baton_user', 'baton_agent', 'baton_anonymous')
     and not exists (select 1 from baton.daemons d where d.id = daemon_id and d.owner_id = baton_private.current_owner_id()
                     and baton_private.current_api_role() = 'baton_user') then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD';
  end if;
end;
$$;
comment on function baton_private.assert_daemon_access(uuid) is $$Raises unless the caller is that daemon, its owner, or an admin.$$;

/*
 * Daemon-facing functions get a thin authorising wrapper: the body moves to baton_private and the API
 * name checks the token first (a daemon acts only for itself, an owner only for its own daemons).
 */
alter function baton.heartbeat(uuid, uuid[]) set schema baton_private;
create function baton.heartbeat(daemon_id uuid, active_task_ids uuid[] default '{}') returns baton.daemons
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_daemon_access(daemon_id);
  return baton_private.heartbeat(daemon_id, active_task_ids);
end;
$$;
comment on function baton.heartbeat(uuid, uuid[]) is
  $$Renews a daemon's lease and reconciles: tasks it no longer reports are interrupted, tasks it reports that are over get an interrupt_task command, and waiting tasks are dispatched if it has room. Call it every 10 s with the ids of the tasks you run.$$;

alter function baton.disconnect_daemon(uuid) set schema baton_private;
create function baton.disconnect_daemon(daemon_id uuid) returns baton.daemons
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_daemon_access(daemon_id);
  return baton_private.disconnect_daemon(daemon_id);
end;
$$;
comment on function baton.disconnect_daemon(uuid) is $$Disconnects a daemon on purpose (it is shutting down); its live tasks are interrupted and retried elsewhere.$$;

alter function baton.report_task_status(uuid, text, integer, text, text, text, uuid) set schema baton_private;
create function baton.report_task_status(
  task_id uuid, status text, expected_version integer default null, error text default null,
  branch text default null, commit_sha text default null, daemon_id uuid default null
) returns baton.tasks
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon uuid := report_task_status.daemon_id;
begin
  -- A daemon reports for itself: its token's daemon id is checked whatever the argument says.
  if baton_private.current_api_role() = 'baton_daemon' then
    if v_daemon is not null and v_daemon is distinct from baton_private.current_daemon_id() then
      raise exception 'This daemon token is for daemon %, so it cannot report as daemon %.', baton_private.current_daemon_id(), v_daemon
        using errcode = 'BTDNY';
    end if;
    v_daemon := baton_private.current_daemon_id();
  end if;
  return baton_private.report_task_status(task_id, status, expected_version, error, branch, commit_sha, v_daemon);
end;
$$;
comment on function baton.report_task_status(uuid, text, integer, text, text, text, uuid) is
  $$Records a task's new status (running, completed/merged/done, failed, interrupted), with its error or its branch and commit. expected_version rejects a stale report (BTSTL); a report from a daemon the task is not assigned to is rejected (BTDNY). Reports on a finished task are ignored with BTSTL unless they repeat its status.$$;

/*
 * Row-level security. FORCE holds even the tables' owner to the policies; the definer policy lets
 * the SECURITY DEFINER functions (owned by the migrating role) work whether or not that role is a
 * superuser.
 */
do $$
declare
  v_table text;
begin
  foreach v_table in array array['owners', 'daemons', 'directives', 'directive_steps', 'step_dependencies', 'tasks', 'events'] loop
    execute format('alter table baton.%I enable row level security', v_table);
    execute format('alter table baton.%I force row level security', v_table);
    execute format('create policy definer_all on baton.%I for all to %I using (true) with check (true)', v_table, current_user);
  end loop;
end
$$;

create policy select_own on baton.owners for select
  using (id = baton_private.current_owner_id() and baton_private.current_api_role() <> 'baton_anonymous');
create policy select_visible on baton.directives for select using (baton_private.can_see_directive(id, owner_id));
create policy select_visible on baton.directive_steps for select using (baton_private.can_see_directive(directive_id, owner_id));
create policy select_visible on baton.step_dependencies for select using (baton_private.can_see_directive(directive_id, owner_id));
create policy select_visible on baton.events for select
  using (baton_private.current_api_role() = 'baton_user' and owner_id = baton_private.current_owner_id()
         or baton_private.current_api_role() = 'baton_agent' and directive_id = baton_private.current_agent_directive_id());
create policy select_visible on baton.tasks for select
  using (case baton_private.current_api_role()
           when 'baton_user' then owner_id = baton_private.current_owner_id()
           when 'baton_daemon' then daemon_id = baton_private.current_daemon_id()
           when 'baton_agent' then directive_id = baton_private.current_agent_directive_id()
           else false end);
create policy select_visible on baton.daemons for select
  using (case baton_private.current_api_role()
           when 'baton_user' then owner_id = baton_private.current_owner_id()
           when 'baton_daemon' then id = baton_private.current_daemon_id()
           else false end);

grant select on baton.owners, baton.daemons, baton.directives, baton.directive_steps, baton.step_dependencies,
  baton.tasks, baton.events to baton_user, baton_daemon, baton_agent;
grant select on baton.directive_progress, baton.step_waits to baton_user, baton_agent;

/*
 * Functions: SECURITY DEFINER for every state change (API roles have no write grants on tables),
 * then EXECUTE only where the role may call it.
 */
alter function baton.create_directive(text, text, text, text, boolean, uuid) security definer;
alter function baton.start_directive(uuid) security definer;
alter function baton.pause_directive(uuid) security definer;
alter function baton.archive_directive(uuid) security definer;
alter function baton.update_goal(uuid, text) security definer;
alter function baton.batch_add_steps(uuid, jsonb) security definer;
alter function baton.add_step(uuid, text, text, text, uuid[], integer) security definer;
alter function baton.set_step_dependencies(uuid, uuid[]) security definer;
alter function baton.remove_step(uuid, boolean) security definer;
alter function baton.complete_step(uuid) security definer;
alter function baton.fail_step(uuid) security definer;
alter function baton.skip_step(uuid) security definer;
alter function baton.retry_step(uuid) security definer;
alter function baton.register_daemon(text, text, integer, uuid) security definer;

grant execute on function
  baton.create_directive(text, text, text, text, boolean, uuid), baton.start_directive(uuid), baton.pause_directive(uuid),
  baton.archive_directive(uuid), baton.update_goal(uuid, text), baton.complete_step(uuid), baton.fail_step(uuid),
  baton.skip_step(uuid), baton.retry_step(uuid), baton.register_daemon(text, text, integer, uuid)
  to baton_user;
grant execute on function
  baton.batch_add_steps(uuid, jsonb), baton.add_step(uuid, text, text, text, uuid[], integer),
  baton.set_step_dependencies(uuid, uuid[]), baton.remove_step(uuid, boolean)
  to baton_user, baton_agent;
grant execute on function
  baton.heartbeat(uuid, uuid[]), baton.disconnect_daemon(uuid), baton.report_task_status(uuid, text, integer, text, text, text, uuid)
  to baton_daemon;
grant execute on function baton.disconnect_daemon(uuid) to baton_user;

-- The internals the policies and functions call run with the caller's rights.
grant usage on schema baton_private to baton_anonymous, baton_user, baton_daemon, baton_agent;
grant execute on function baton_private.current_api_role(), baton_private.setting_uuid(text), baton_private.current_owner_id(),
  baton_private.current_daemon_id(), baton_private.current_agent_directive_id(), baton_private.daemon_works_on(uuid),
  baton_private.can_see_directive(uuid, uuid), baton_private.try_uuid(text)
  to baton_anonymous, baton_user, baton_daemon, baton_agent;

/*
 * Tokens. Functions returning baton.jwt_token are signed by the API (PostGraphile's JWT support, HS256
 * with BATON_JWT_SECRET), so tokens are minted where the rules are.
 */
create type baton.jwt_token as (
  role text, owner_id uuid, daemon_id uuid, directive_id uuid, task_id uuid, exp bigint, aud text
);
comment on type baton.jwt_token is $$A JWT's claims; the API returns it signed.$$;

create function baton.daemon_token(daemon_id uuid) returns baton.jwt_token
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon baton.daemons;
begin
  select * into v_daemon from baton.daemons d where d.id = daemon_token.daemon_id;
  if not found or (baton_private.current_api_role() <> 'admin' and v_daemon.owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD';
  end if;
  return row('baton_daemon', v_daemon.owner_id, v_daemon.id, null, null, null, 'baton')::baton.jwt_token;
end;
$$;
comment on function baton.daemon_token(uuid) is $$A token for one of your daemons (after registerDaemon): it can heartbeat, read its tasks and report on them, and nothing else.$$;
grant execute on function baton.daemon_token(uuid) to baton_user;

/* The agent token of a task, for the daemon that runs it: minted on read, valid while the task is live. */
create function baton.tasks_agent_token(t baton.tasks) returns baton.jwt_token
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select row('baton_agent', r.owner_id, null, r.directive_id, r.id,
             extract(epoch from now() + interval '7 days')::bigint, 'baton')::baton.jwt_token
    from baton.tasks r  -- the stored row, not the argument, decides
   where r.id = t.id
     and r.status in ('pending', 'starting', 'running')
     and (baton_private.current_api_role() = 'admin'
          or (baton_private.current_api_role() = 'baton_daemon' and r.daemon_id = baton_private.current_daemon_id()));
$$;
comment on function baton.tasks_agent_token(baton.tasks) is
  $$The token the daemon gives the agent process as BATON_TOKEN: it can read this task's directive and add, remove and re-wire its steps, and stops working when the task ends. Only the task's daemon gets it.$$;
grant execute on function baton.tasks_agent_token(baton.tasks) to baton_daemon;

/* Who am I: the current token's identity, for clients to check their credentials. */
create function baton.current_identity() returns jsonb
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_strip_nulls(jsonb_build_object('role', baton_private.current_api_role(), 'owner_id', baton_private.current_owner_id(),
    'daemon_id', baton_private.current_daemon_id(), 'directive_id', baton_private.setting_uuid('baton.directive_id'),
    'task_id', baton_private.setting_uuid('baton.task_id')));
$$;
comment on function baton.current_identity() is $$The role and ids of the token this request carries.$$;
grant execute on function baton.current_identity() to baton_anonymous, baton_user, baton_daemon, baton_agent;

/*
 * Events of one transaction. A directive's channel is notified once per transaction with the first
 * event's id; subscribers read the whole transaction's events with this (through RLS).
 */
alter table baton.events add column transaction_id xid8 not null default pg_current_xact_id();
comment on column baton.events.transaction_id is $$The transaction that recorded the event; one NOTIFY covers all events of a transaction.$$;

create function baton.transaction_events(directive_id uuid, first_event_id bigint) returns setof baton.events
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select e.* from baton.events e
   where e.directive_id = transaction_events.directive_id
     and e.id >= first_event_id
     and e.transaction_id = (select f.transaction_id from baton.events f where f.id = first_event_id)
   order by e.id;
$$;
comment on function baton.transaction_events(uuid, bigint) is $$The events of the directive recorded by the same transaction as first_event_id, in order (what one NOTIFY on `baton:directive:<id>` stands for).$$;
grant execute on function baton.transaction_events(uuid, bigint) to baton_user, baton_agent;

/*
 * The API's schema is introspected as baton_api, a role holding every API role, so PostGraphile
 * shows exactly what some role may use: internals (create_execution_task, assign_task, reconcile,
 * create_owner, ...) stay callable from SQL but are not in the API.
 */
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'baton_api') then
    create role baton_api nologin inherit;
  end if;
  execute format('grant baton_api to %I', current_user);
exception when duplicate_object or invalid_grant_operation then
  null;
end
$$;
grant baton_anonymous, baton_user, baton_daemon, baton_agent to baton_api;
