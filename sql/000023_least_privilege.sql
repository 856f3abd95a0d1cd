/*
 * Least privilege inside PostgreSQL (issue 9, point 5).
 *
 * 1. The API role of a request fails closed. `admin` is only a session that set no role at all
 *    (direct SQL, the worker, the CLI's admin commands); the four API roles are themselves; any other
 *    role (baton_api, a DBA's own role, a typo) is baton_anonymous and sees and changes nothing.
 *    The API's connections start as baton_anonymous (src/db/pool.ts), so a request that somehow
 *    carried no role setting is anonymous too, never the login's superuser.
 * 2. baton_api holds no privileges of its own: it is only the role PostGraphile introspects as, and
 *    the login's way into the four API roles. A session that switched to it gets nothing.
 * 3. Agents: every agent may add steps; no agent may remove a completed or running step; an
 *    execution agent may remove or re-wire only the steps its own task added
 *    (directive_steps.added_by_task_id). Planning agents keep their planning rights otherwise.
 * 4. Events record the acting task (agent tokens) and daemon (daemon tokens).
 */

/* -- 1. Fail closed ------------------------------------------------------------------------------ */

create or replace function baton_private.current_api_role() returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case coalesce(current_setting('role', true), 'none')
           when 'none' then 'admin'
           when 'baton_user' then 'baton_user'
           when 'baton_daemon' then 'baton_daemon'
           when 'baton_agent' then 'baton_agent'
           else 'baton_anonymous' end;
$$;
comment on function baton_private.current_api_role() is
  $$The API role of this request. `admin` only when no role was set at all (direct SQL, the worker, the CLI's admin commands); any role other than the four API roles (baton_api included) counts as baton_anonymous.$$;

/* -- 2. baton_api holds nothing ------------------------------------------------------------------ */

/*
 * baton_api was INHERIT, so a session that switched to it held every API role's grants at once
 * (select on every table, execute on every mutation) and only RLS stood between it and the data.
 * PostGraphile's introspection counts memberships whether or not they inherit (PgRBACPlugin passes
 * includeNoInherit), so the API it builds is unchanged. From PostgreSQL 16 inheritance is a property
 * of each grant, so the grants are made again without it; before 16 it is the role's attribute.
 * Roles are cluster-wide and altering one needs CREATEROLE: a login without it gets a warning.
 * Each change is made only when still needed, so the databases of a cluster migrated later (tests
 * clone many at once) do not update the same catalog rows concurrently ("tuple concurrently updated").
 */
do $$
declare
  v_inheriting boolean;
begin
  if (select r.rolinherit from pg_catalog.pg_roles r where r.rolname = 'baton_api') then
    alter role baton_api noinherit;
  end if;
  if current_setting('server_version_num')::int >= 160000 then
    execute $q$select exists (select 1 from pg_catalog.pg_auth_members m
                               where m.member = 'baton_api'::regrole and m.inherit_option)$q$ into v_inheriting;
    if v_inheriting then
      execute 'grant baton_anonymous, baton_user, baton_daemon, baton_agent to baton_api with inherit false';
    end if;
  end if;
exception when insufficient_privilege then
  raise warning 'Could not make baton_api NOINHERIT (%); a session that sets role baton_api keeps the API roles'' grants. Run this migration as a role with CREATEROLE to fix it.', sqlerrm;
end
$$;

/* -- 3. Who added a step, and what an agent may do with it --------------------------------------- */

/*
 * Filled by a default from the request's settings, so every path that inserts steps records it and
 * batch_add_steps needs no change. No foreign key: a step never outlives its directive's tasks (both
 * go with the directive), and a key lookup per inserted step would slow 10,000-step batches.
 * The uuid is matched by pattern, not cast in a plpgsql exception block (try_uuid), which would open
 * a subtransaction per row.
 */
alter table baton.directive_steps add column added_by_task_id uuid
  default (case when pg_catalog.current_setting('role', true) = 'baton_agent'
                 and pg_catalog.current_setting('baton.task_id', true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then pg_catalog.current_setting('baton.task_id', true)::uuid end);
comment on column baton.directive_steps.added_by_task_id is
  $$The task whose agent added this step (null when an owner, a DBA or Baton added it). An execution agent may remove or re-wire only the steps its task added.$$;

/*
 * The one check of an agent's right to change an existing step, called by remove_step and
 * set_step_dependencies before they do anything. Order: the token's directive and live task
 * (lock_step, which locks the directive, then the step), then the step's state, then who added it.
 * Other callers (owners, daemons, admin) pass straight through.
 */
create function baton_private.assert_agent_may_change_step(step_id uuid, verb text, force boolean default false) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps;
  v_task_id uuid;
  v_kind text;
  v_other record;
  v_action text := case verb when 'remove' then 'remove' else 're-wire' end;
begin
  if baton_private.current_api_role() <> 'baton_agent' then
    return;
  end if;
  v_step := baton_private.lock_step(step_id);
  v_task_id := baton_private.setting_uuid('baton.task_id');
  select t.kind into v_kind from baton.tasks t where t.id = v_task_id;

  -- GUARD (every agent): work that is done or under way stays. (Re-wiring such a step is refused for
  -- everyone by set_step_dependencies itself, with BTSTS.)
  if verb = 'remove' and v_step.status in ('completed', 'running') then
    raise exception 'Step % ("%") is %, so an agent cannot remove it; only the directive''s owner can. Add a new step instead.',
      v_step.id, v_step.name, v_step.status
      using errcode = 'BTDNY', hint = 'The owner can remove it with `baton directive remove-step ' || v_step.id || '`.';
  end if;

  if v_kind is distinct from 'execution' then
    return;
  end if;
  -- GUARD (execution agents): only the steps this task added.
  if v_step.added_by_task_id is distinct from v_task_id then
    raise exception 'Step % ("%") was not added by this task, so an execution agent cannot % it; ask the owner, or add a new step.',
      v_step.id, v_step.name, v_action using errcode = 'BTDNY';
  end if;
  -- Removing with force re-wires the dependents onto this step's dependencies.
  if verb = 'remove' and force then
    select s.id, s.name into v_other
      from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id
     where d.depends_on_step_id = v_step.id and s.added_by_task_id is distinct from v_task_id
     order by s.id limit 1;
    if found then
      raise exception 'Removing step % ("%") with force would re-wire step % ("%"), which was not added by this task, so an execution agent cannot do it; ask the owner, or add a new step.',
        v_step.id, v_step.name, v_other.id, v_other.name using errcode = 'BTDNY';
    end if;
  end if;
end;
$$;
comment on function baton_private.assert_agent_may_change_step(uuid, text, boolean) is
  $$For agent tokens (others pass): raises BTDNY when the agent may not remove (verb `remove`) or re-wire (`rewire`) the step: no agent removes a completed or running step, and an execution agent touches only steps its task added (with force, their dependents too).$$;

/*
 * remove_step and set_step_dependencies get a thin authorising wrapper, as heartbeat and
 * report_task_status did in 000014: the body moves to baton_private, the API name checks first.
 * The moved bodies keep their grants; nobody calls them but the wrappers.
 */
alter function baton.remove_step(uuid, boolean) set schema baton_private;
revoke execute on function baton_private.remove_step(uuid, boolean) from baton_user, baton_agent;
create function baton.remove_step(step_id uuid, force boolean default false) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_agent_may_change_step(remove_step.step_id, 'remove', remove_step.force);
  return baton_private.remove_step(remove_step.step_id, remove_step.force);
end;
$$;
comment on function baton.remove_step(uuid, boolean) is
  $$Removes a step. Refused while other steps depend on it, unless force => true re-wires them onto its own dependencies. A running task of the step is cancelled. Agents cannot remove completed or running steps; an execution agent only removes steps its task added.$$;
grant execute on function baton.remove_step(uuid, boolean) to baton_user, baton_agent;

alter function baton.set_step_dependencies(uuid, uuid[]) set schema baton_private;
revoke execute on function baton_private.set_step_dependencies(uuid, uuid[]) from baton_user, baton_agent;
create function baton.set_step_dependencies(step_id uuid, depends_on uuid[]) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_agent_may_change_step(set_step_dependencies.step_id, 'rewire');
  return baton_private.set_step_dependencies(set_step_dependencies.step_id, set_step_dependencies.depends_on);
end;
$$;
comment on function baton.set_step_dependencies(uuid, uuid[]) is
  $$Replaces the dependencies of a pending, ready or blocked step. Rejects nulls, unknown steps (another owner's steps are unknown), steps of your other directives and cycles (the message prints the cycle). An execution agent only re-wires steps its task added.$$;
grant execute on function baton.set_step_dependencies(uuid, uuid[]) to baton_user, baton_agent;

comment on function baton.tasks_agent_token(baton.tasks) is
  $$The token the daemon gives the agent process as BATON_TOKEN: it can read this task's directive and add steps to it, and stops working when the task ends. A planning agent may also remove and re-wire steps that are not completed or running; an execution agent only the steps its task added. Only the task's daemon gets it.$$;

/* -- 4. Who acted -------------------------------------------------------------------------------- */

/*
 * Defaults, like added_by_task_id: every event goes through one insert (record_event), and the
 * defaults make any other insert record its actor as well, at the cost of reading two settings.
 */
alter table baton.events add column actor_task_id uuid
  default (case when pg_catalog.current_setting('role', true) = 'baton_agent'
                 and pg_catalog.current_setting('baton.task_id', true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then pg_catalog.current_setting('baton.task_id', true)::uuid end);
alter table baton.events add column actor_daemon_id uuid
  default (case when pg_catalog.current_setting('role', true) = 'baton_daemon'
                 and pg_catalog.current_setting('baton.daemon_id', true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then pg_catalog.current_setting('baton.daemon_id', true)::uuid end);
comment on column baton.events.actor_task_id is
  $$The task whose agent made the change (agent tokens); null for owners, daemons, DBAs and Baton itself. The daemon that ran it is the task's daemon.$$;
comment on column baton.events.actor_daemon_id is
  $$The daemon that made the change (daemon tokens, e.g. a status report); null for owners, agents, DBAs and Baton itself.$$;
