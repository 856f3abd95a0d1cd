/*
 * Helpers shared by the state machines: locking in one order, owner resolution, and the bridge into
 * graphile-worker.
 *
 * LOCK ORDER (every function that changes directive-scoped state follows it):
 *   directive row -> daemon rows -> task rows -> step rows (dependents by id).
 * Taking the directive row first serialises all changes inside one directive, so concurrent
 * completions of a join's parents neither lose a counter update nor deadlock.
 */

create function baton_private.try_uuid(value text) returns uuid
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return value::uuid;
exception when invalid_text_representation then
  return null;
end;
$$;
comment on function baton_private.try_uuid(text) is $$The text as a uuid, or null when it is not one.$$;

/* Locks a directive row (the first lock of every directive-scoped change) and returns it. */
create function baton_private.lock_directive(directive_id uuid) returns baton.directives
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
begin
  select * into v_directive from baton.directives d where d.id = lock_directive.directive_id for update;
  if not found then
    raise exception 'Directive % does not exist.', directive_id
      using errcode = 'BTNFD', hint = 'List your directives with `baton directive list`.';
  end if;
  return v_directive;
end;
$$;
comment on function baton_private.lock_directive(uuid) is $$Locks and returns a directive; raises BTNFD when it does not exist.$$;

/* Locks a step's directive, then the step, and returns the step. */
create function baton_private.lock_step(step_id uuid) returns baton.directive_steps
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive_id uuid;
  v_owner_id uuid;
  v_step baton.directive_steps;
begin
  select s.directive_id, s.owner_id into v_directive_id, v_owner_id from baton.directive_steps s where s.id = lock_step.step_id;
  -- Another owner's step is answered like a missing one, before lock_directive could name its directive.
  if not found or (baton_private.current_api_role() <> 'admin' and v_owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Step % does not exist.', step_id
      using errcode = 'BTNFD', hint = 'See the steps of a directive with `baton directive status`.';
  end if;
  perform baton_private.lock_directive(v_directive_id);
  select * into v_step from baton.directive_steps s where s.id = lock_step.step_id for update;
  return v_step;
end;
$$;
comment on function baton_private.lock_step(uuid) is $$Locks a step's directive, then the step; raises BTNFD when the step does not exist.$$;

/*
 * The owner on whose behalf the caller acts: the `baton.owner_id` setting that the API sets from the
 * token, else (direct SQL by a DBA) the explicit argument, else the only owner if there is one.
 */
create function baton_private.resolve_owner(requested uuid) returns uuid
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_setting uuid := baton_private.try_uuid(nullif(current_setting('baton.owner_id', true), ''));
  v_owners uuid[];
begin
  if v_setting is not null then
    if requested is not null and requested <> v_setting then
      raise exception 'You act as owner %, so you cannot act for owner %.', v_setting, requested
        using errcode = 'BTDNY', hint = 'Leave owner_id out; it comes from your token.';
    end if;
    if not exists (select 1 from baton.owners o where o.id = v_setting) then
      raise exception 'Owner % (the owner of your token) does not exist, so nothing can be created for it.', v_setting
        using errcode = 'BTNFD', hint = 'Use a token of an existing owner; `baton owner create NAME` prints one.';
    end if;
    return v_setting;
  end if;
  if requested is not null then
    if not exists (select 1 from baton.owners o where o.id = requested) then
      raise exception 'Owner % does not exist.', requested
        using errcode = 'BTNFD', hint = 'Create one with `baton owner create NAME`, or see `select * from baton.owners`.';
    end if;
    return requested;
  end if;
  select array_agg(o.id) into v_owners from (select id from baton.owners limit 2) o;
  if cardinality(v_owners) = 1 then
    return v_owners[1];
  end if;
  raise exception 'No owner given, and there is not exactly one owner to default to.'
    using errcode = 'BTINV', hint = 'Pass owner_id => ''<uuid>'' (see `select id, name from baton.owners`).';
end;
$$;
comment on function baton_private.resolve_owner(uuid) is $$The owner the caller acts for: from the token, else the argument, else the only owner.$$;

/*
 * The one bridge into graphile-worker. SECURITY DEFINER because API roles have no rights on the
 * graphile_worker schema (STACK.md); the search_path is fixed so it cannot be hijacked.
 * Job keys use `replace`: a key that is queued is updated in place (one job), a key whose job is
 * running gets one more job, and a key whose job failed for good is revived. (`unsafe_dedupe` would
 * leave such a key blocked forever, and the reconcile sweep could never re-enqueue it.) A duplicate
 * run is harmless: every task is idempotent, and the database's unique indexes allow one task per
 * step attempt and one live planner per directive.
 */
create function baton_private.enqueue(task_identifier text, payload json, job_key text, job_key_mode text default 'replace')
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker.add_job(
    identifier => task_identifier,
    payload => payload,
    max_attempts => 10,
    job_key => job_key,
    job_key_mode => job_key_mode
  );
end;
$$;
comment on function baton_private.enqueue(text, json, text, text) is $$Adds a graphile-worker job in the caller's transaction, deduplicated by job key.$$;

/* Does this directive need a (re-)plan now? */
create function baton_private.needs_planning(d baton.directives) returns boolean
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select d.status = 'active' and d.orchestrator_task_id is null and d.planned_revision is distinct from d.goal_revision;
$$;
comment on function baton_private.needs_planning(baton.directives) is
  $$True for an active directive with no planner in flight whose goal revision has not been planned yet.$$;

/* Enqueues plan_directive (never planned) or replan_directive (goal changed since the last plan). */
create function baton_private.maybe_enqueue_planning(directive_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
begin
  select * into v_directive from baton.directives d where d.id = maybe_enqueue_planning.directive_id;
  if baton_private.needs_planning(v_directive) then
    perform baton_private.enqueue(
      case when v_directive.planned_revision is null then 'plan_directive' else 'replan_directive' end,
      json_build_object('directive_id', v_directive.id, 'goal_revision', v_directive.goal_revision),
      'plan:' || v_directive.id || ':' || v_directive.goal_revision);
  end if;
end;
$$;
comment on function baton_private.maybe_enqueue_planning(uuid) is $$Enqueues a planning job when the directive needs (re-)planning.$$;

/*
 * Enqueues dispatch_step for each of these steps that is ready, in an active directive and without a
 * live task, keyed by (step, next attempt), in ONE add_jobs call: a fan-out that readies 2,000 steps
 * pays for one call, not 2,000. SECURITY DEFINER for graphile_worker, as enqueue.
 */
create function baton_private.enqueue_dispatch_steps(step_ids uuid[]) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_specs graphile_worker.job_spec[];
begin
  select array_agg(row('dispatch_step', json_build_object('step_id', s.id, 'attempt', s.total_attempts + 1), null, null, 10,
                       'dispatch_step:' || s.id || ':' || (s.total_attempts + 1), null, null)::graphile_worker.job_spec
                   order by s.order_index, s.id)
    into v_specs
    from baton.directive_steps s join baton.directives d on d.id = s.directive_id
   where s.id = any (step_ids) and s.status = 'ready' and d.status = 'active'
     and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.kind = 'execution'
                     and t.status in ('pending', 'starting', 'running'));
  if v_specs is not null then
    perform graphile_worker.add_jobs(v_specs);
  end if;
end;
$$;
comment on function baton_private.enqueue_dispatch_steps(uuid[]) is $$Enqueues, in one call, the dispatch of the next attempt of each given step that is ready in an active directive and has no live task.$$;

create function baton_private.maybe_enqueue_dispatch_step(step_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$ select baton_private.enqueue_dispatch_steps(array[step_id]) $$;
comment on function baton_private.maybe_enqueue_dispatch_step(uuid) is $$Enqueues the dispatch of a ready step's next attempt when its directive is active.$$;

/* Asks the dispatcher to look for a daemon for one pending task. */
create function baton_private.enqueue_dispatch_task(task_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  select baton_private.enqueue('dispatch_task', json_build_object('task_id', task_id), 'dispatch_task:' || task_id);
$$;
comment on function baton_private.enqueue_dispatch_task(uuid) is $$Enqueues the assignment of a pending task to a daemon.$$;
