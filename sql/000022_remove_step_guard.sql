/*
 * remove_step refuses completed and running steps, for everyone (issue 11 point 7).
 *
 * Before, only agents were refused (BTDNY, "only the directive's owner can"), and an owner's
 * remove-step deleted a completed step's record of accepted work, or cancelled a running attempt in
 * passing. The re-planning prompt says completed and running steps stay; now the state machine says
 * so too, with BTSTS naming the step, its status and what to do instead:
 *   completed  its work is done and the result holds it: add a new step that changes or undoes it;
 *   running    stop it first (fail-step or skip-step, or `baton task cancel`), then remove it.
 * There is no override: `force` keeps its one meaning (re-wire the dependents onto the removed step's
 * own dependencies), and neither the README nor the prompts promise a way to remove finished work.
 *
 * assert_agent_may_change_step keeps its order (the step's state before who added it) but raises the
 * same BTSTS error as remove_step, so agents and owners read one message.
 */

create function baton_private.assert_step_removable(step baton.directive_steps) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if step.status = 'completed' then
    raise exception 'Step % ("%") is completed, so it cannot be removed: completed and running steps stay.', step.id, step.name
      using errcode = 'BTSTS', detail = 'from=completed',
            hint = 'To change or undo its work, add a new step (it may depend on this one).';
  elsif step.status = 'running' then
    raise exception 'Step % ("%") is running, so it cannot be removed: completed and running steps stay.', step.id, step.name
      using errcode = 'BTSTS', detail = 'from=running',
            hint = 'Stop it first with `baton directive fail-step ' || step.id || '` (or skip-step), then remove it; or let it finish and add a new step.';
  end if;
end;
$$;
comment on function baton_private.assert_step_removable(baton.directive_steps) is
  $$Raises BTSTS when the step is completed or running: remove_step refuses those for every caller, with or without force.$$;

create or replace function baton_private.remove_step(step_id uuid, force boolean default false) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_dependents text;
  v_dependent uuid;
  v_live uuid[];
  v_dependents_ids uuid[];
begin
  -- GUARD (everyone, force or not): work that is done or under way stays.
  perform baton_private.assert_step_removable(v_step);
  select string_agg(s.id || ' ("' || s.name || '")', ', ' order by s.order_index, s.id) into v_dependents
    from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id where d.depends_on_step_id = v_step.id;
  if v_dependents is not null and not force then
    raise exception 'Step % ("%") cannot be removed: % depend on it.', v_step.id, v_step.name, v_dependents
      using errcode = 'BTDEP',
            hint = 'Remove or re-wire those steps first (set-deps), or pass force => true (--force) to re-wire them onto this step''s own dependencies.';
  end if;
  -- With force, each dependent inherits this step's dependencies in place of it.
  for v_dependent in select d.step_id from baton.step_dependencies d where d.depends_on_step_id = v_step.id order by d.step_id loop
    insert into baton.step_dependencies (step_id, depends_on_step_id, directive_id, owner_id)
    select v_dependent, d.depends_on_step_id, v_step.directive_id, v_step.owner_id
      from baton.step_dependencies d where d.step_id = v_step.id
    on conflict do nothing;
  end loop;
  select array_agg(d.step_id) into v_dependents_ids from baton.step_dependencies d where d.depends_on_step_id = v_step.id;
  select array_agg(t.id) into v_live from baton.tasks t
   where t.step_id = v_step.id and baton_private.task_is_live(t.status);
  delete from baton.directive_steps s where s.id = v_step.id;
  update baton.tasks t set status = 'cancelled', error = 'The step was removed.' where t.id = any (v_live);
  for v_dependent in select x from unnest(v_dependents_ids) x order by x loop
    perform baton_private.refresh_step(v_dependent);
  end loop;
  perform baton_private.record_event(v_step.owner_id, v_step.directive_id, 'step', v_step.id, 'removed',
    v_step.status::text, null, jsonb_build_object('name', v_step.name));
  -- Dependents freed by removing a failed step (with force) must run: wake an idle directive up.
  perform baton_private.reactivate(v_step.directive_id);
  return v_step;
end;
$$;
comment on function baton_private.remove_step(uuid, boolean) is
  $$Removes a step. Refused (BTSTS) for a completed or running step; refused while other steps depend on it, unless force => true re-wires them onto its own dependencies. A pending or starting task of the step is cancelled.$$;

create or replace function baton_private.assert_agent_may_change_step(step_id uuid, verb text, force boolean default false) returns void
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

  -- GUARD: work that is done or under way stays, for everyone (remove_step checks it again); checked
  -- here first so an agent hears that before who added the step. (Re-wiring such a step is refused
  -- for everyone by set_step_dependencies itself, with BTSTS.)
  if verb = 'remove' then
    perform baton_private.assert_step_removable(v_step);
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
  $$For agent tokens (others pass): raises BTSTS when the step to remove is completed or running (as remove_step does for everyone), and BTDNY when an execution agent may not remove (verb `remove`) or re-wire (`rewire`) the step because its task did not add it (with force, its dependents too).$$;

comment on function baton.remove_step(uuid, boolean) is
  $$Removes a step. Refused (BTSTS) for a completed or running step, for every caller; refused while other steps depend on it, unless force => true re-wires them onto its own dependencies. An execution agent only removes steps its task added.$$;
