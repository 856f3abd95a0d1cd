/*
 * Readiness and propagation: what happens to the rest of the DAG when a step's status changes.
 *
 * Every step status change, whatever function made it, goes through these triggers, so the rules live
 * in one place:
 *   - completed or skipped  -> decrement direct dependents; one reaching 0 becomes ready;
 *   - failed (or blocked)   -> every transitive dependent still waiting becomes blocked;
 *   - leaving failed/blocked -> dependents with no other failed/blocked dependency are unblocked;
 *   - becoming ready        -> the dispatch job is enqueued (if the directive is active);
 *   - open-step counter     -> kept per directive, and the directive goes idle when it reaches 0.
 *
 * Bulk block/unblock runs as one set-based walk; the `baton.propagating` flag stops the nested row
 * triggers of that walk from walking the same subgraph again (chains would otherwise cost O(n^2)
 * and recurse as deep as the chain).
 */

create function baton_private.is_open(status text) returns boolean
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select status in ('pending', 'ready', 'running') $$;
comment on function baton_private.is_open(text) is $$Pending, ready and running steps are open: the directive is not idle while it has one.$$;

create function baton_private.is_satisfied(status text) returns boolean
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select status in ('completed', 'skipped') $$;
comment on function baton_private.is_satisfied(text) is $$Completed and skipped steps satisfy their dependents.$$;

create function baton_private.is_broken(status text) returns boolean
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select status in ('failed', 'blocked') $$;
comment on function baton_private.is_broken(text) is $$Failed and blocked steps block their dependents.$$;

/* Decrements the direct dependents of a satisfied step. Cost: its own fan-out, nothing else. */
create function baton_private.satisfy_dependents(step_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  -- Dependents are locked in id order (the directive lock already serialises; this is the backstop).
  perform 1 from baton.directive_steps s
   where s.id in (select d.step_id from baton.step_dependencies d where d.depends_on_step_id = satisfy_dependents.step_id)
   order by s.id for update;
  update baton.directive_steps s
     set remaining_deps = s.remaining_deps - 1,
         status = case when s.status = 'pending' and s.remaining_deps = 1 then 'ready' else s.status end
    from baton.step_dependencies d
   where d.depends_on_step_id = satisfy_dependents.step_id
     and s.id = d.step_id
     and s.remaining_deps > 0;
end;
$$;
comment on function baton_private.satisfy_dependents(uuid) is $$Decrements the unmet-dependency counter of each direct dependent; those reaching 0 become ready.$$;

/* Blocks every waiting transitive dependent of a failed or blocked step. */
create function baton_private.block_dependents(step_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform set_config('baton.propagating', 'on', true);
  with recursive down (id) as (
    select d.step_id
      from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id
     where d.depends_on_step_id = block_dependents.step_id and s.status in ('pending', 'ready', 'blocked')
    union
    select d.step_id
      from down join baton.step_dependencies d on d.depends_on_step_id = down.id
      join baton.directive_steps s on s.id = d.step_id
     where s.status in ('pending', 'ready', 'blocked')
  )
  update baton.directive_steps s set status = 'blocked'
   where s.id in (select id from down) and s.status in ('pending', 'ready');
  perform set_config('baton.propagating', '', true);
end;
$$;
comment on function baton_private.block_dependents(uuid) is $$Marks every pending or ready transitive dependent blocked.$$;

/* Unblocks, wave by wave, the dependents that no longer have a failed or blocked dependency. */
create function baton_private.unblock_dependents(step_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_frontier uuid[];
begin
  select array_agg(d.step_id) into v_frontier
    from baton.step_dependencies d where d.depends_on_step_id = unblock_dependents.step_id;
  perform set_config('baton.propagating', 'on', true);
  while v_frontier is not null loop
    with changed as (
      update baton.directive_steps s
         set status = case when s.remaining_deps = 0 then 'ready' else 'pending' end
       where s.id = any (v_frontier)
         and s.status = 'blocked'
         and not exists (
           select 1 from baton.step_dependencies d join baton.directive_steps p on p.id = d.depends_on_step_id
            where d.step_id = s.id and p.status in ('failed', 'blocked'))
      returning s.id
    )
    select array_agg(distinct d.step_id) into v_frontier
      from changed join baton.step_dependencies d on d.depends_on_step_id = changed.id;
  end loop;
  perform set_config('baton.propagating', '', true);
end;
$$;
comment on function baton_private.unblock_dependents(uuid) is $$Returns blocked transitive dependents to pending or ready once nothing they depend on is failed or blocked.$$;

/*
 * Recounts one step's unmet dependencies from scratch and derives its waiting status. Used after its
 * dependencies are re-wired (set_step_dependencies, remove_step --force) or on retry. Cost: its own
 * dependencies.
 */
create function baton_private.refresh_step(step_id uuid, include_failed boolean default false) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  update baton.directive_steps s
     set remaining_deps = c.unmet,
         status = case when c.broken > 0 then 'blocked' when c.unmet = 0 then 'ready' else 'pending' end
    from (select count(*) filter (where not baton_private.is_satisfied(p.status)) as unmet,
                 count(*) filter (where baton_private.is_broken(p.status)) as broken
            from baton.step_dependencies d join baton.directive_steps p on p.id = d.depends_on_step_id
           where d.step_id = refresh_step.step_id) c
   where s.id = refresh_step.step_id
     and (s.status in ('pending', 'ready', 'blocked') or (include_failed and s.status = 'failed'));
end;
$$;
comment on function baton_private.refresh_step(uuid, boolean) is $$Recounts a waiting (or, with include_failed, failed) step's unmet dependencies and sets it pending, ready or blocked accordingly.$$;

/* Sets timestamps that depend on the new status. */
create function baton_private.tg_directive_steps__stamp_status() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.status = 'ready' then new.ready_at := now(); end if;
  if new.status = 'running' then new.started_at := now(); new.remaining_deps := 0; end if;
  if new.status in ('completed', 'failed', 'skipped') then new.finished_at := now(); end if;
  if new.status = 'completed' then new.remaining_deps := 0; end if;
  return new;
end;
$$;
comment on function baton_private.tg_directive_steps__stamp_status() is $$Stamps ready_at, started_at and finished_at as a step changes status.$$;

create trigger _200_stamp_status before update of status on baton.directive_steps
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_directive_steps__stamp_status();

/* Propagates a step's status change through the DAG (the dispatch of steps that became ready is enqueued per statement, below). */
create function baton_private.tg_directive_steps__propagate() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_walking boolean := coalesce(current_setting('baton.propagating', true), '') = 'on';
begin
  if baton_private.is_satisfied(new.status) and not baton_private.is_satisfied(old.status) then
    perform baton_private.satisfy_dependents(new.id);
  end if;
  if not v_walking then
    if baton_private.is_broken(new.status) and not baton_private.is_broken(old.status) then
      perform baton_private.block_dependents(new.id);
    elsif baton_private.is_broken(old.status) and not baton_private.is_broken(new.status) then
      perform baton_private.unblock_dependents(new.id);
    end if;
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_directive_steps__propagate() is $$Satisfies, blocks or unblocks dependents after a step changes status.$$;

create trigger _800_propagate after update of status on baton.directive_steps
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_directive_steps__propagate();

/* Steps that became ready in this statement get their dispatch jobs in one call. */
create function baton_private.tg_directive_steps__enqueue_ready() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.enqueue_dispatch_steps(array(
    select n.id from new_rows n join old_rows o on o.id = n.id where n.status = 'ready' and o.status <> 'ready'));
  return null;
end;
$$;
comment on function baton_private.tg_directive_steps__enqueue_ready() is $$Enqueues dispatch_step, in one call per statement, for every step the statement made ready.$$;

create trigger _900_enqueue_ready after update on baton.directive_steps
  referencing old table as old_rows new table as new_rows
  for each statement execute function baton_private.tg_directive_steps__enqueue_ready();

/*
 * Open-step counters, per statement so that a fan-out updating 2,000 steps touches its directive row
 * once. Then the directive may go idle.
 */
create function baton_private.tg_directive_steps__count_open() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_delta record;
begin
  for v_delta in
    select directive_id, sum(delta)::int as delta from (
      select n.directive_id, 1 as delta from new_rows n where tg_op in ('INSERT', 'UPDATE') and baton_private.is_open(n.status)
      union all
      select o.directive_id, -1 from old_rows o where tg_op in ('DELETE', 'UPDATE') and baton_private.is_open(o.status)
    ) x group by directive_id having sum(delta) <> 0
  loop
    update baton.directives d set open_steps = d.open_steps + v_delta.delta where d.id = v_delta.directive_id;
    if v_delta.delta < 0 then
      perform baton_private.maybe_idle(v_delta.directive_id);
    end if;
  end loop;
  return null;
end;
$$;
comment on function baton_private.tg_directive_steps__count_open() is $$Keeps directives.open_steps in step with step statuses, once per statement, and lets the directive go idle.$$;

-- Transition tables need one trigger per event; the missing side is an empty relation.
create function baton_private.tg_directive_steps__count_open_insert() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_delta record;
begin
  for v_delta in
    select n.directive_id, count(*)::int as delta from new_rows n where baton_private.is_open(n.status) group by 1
  loop
    update baton.directives d set open_steps = d.open_steps + v_delta.delta where d.id = v_delta.directive_id;
  end loop;
  return null;
end;
$$;
comment on function baton_private.tg_directive_steps__count_open_insert() is $$Counts inserted open steps into directives.open_steps.$$;

create function baton_private.tg_directive_steps__count_open_delete() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_delta record;
begin
  for v_delta in
    select o.directive_id, count(*)::int as delta from old_rows o where baton_private.is_open(o.status) group by 1
  loop
    update baton.directives d set open_steps = d.open_steps - v_delta.delta where d.id = v_delta.directive_id;
    perform baton_private.maybe_idle(v_delta.directive_id);
  end loop;
  return null;
end;
$$;
comment on function baton_private.tg_directive_steps__count_open_delete() is $$Removes deleted open steps from directives.open_steps and lets the directive go idle.$$;

create trigger _800_count_open_insert after insert on baton.directive_steps
  referencing new table as new_rows
  for each statement execute function baton_private.tg_directive_steps__count_open_insert();
create trigger _800_count_open_update after update on baton.directive_steps
  referencing old table as old_rows new table as new_rows
  for each statement execute function baton_private.tg_directive_steps__count_open();
create trigger _800_count_open_delete after delete on baton.directive_steps
  referencing old table as old_rows
  for each statement execute function baton_private.tg_directive_steps__count_open_delete();

/* active -> idle when no step is open, no planner is in flight and the current goal has been planned. */
create function baton_private.maybe_idle(directive_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  update baton.directives d
     set status = 'idle', idle_at = now()
   where d.id = maybe_idle.directive_id
     and d.status = 'active'
     and d.open_steps = 0
     and d.orchestrator_task_id is null
     and d.planned_revision is not distinct from d.goal_revision;
$$;
comment on function baton_private.maybe_idle(uuid) is $$Moves an active directive to idle when nothing is left to run or plan.$$;

/*
 * idle -> active when new work appears (steps added, a retry, a re-wiring, a goal update). Only when
 * there is work: a step that can run or wait (open) or a goal to plan. Otherwise the directive would
 * flap idle -> active -> idle (e.g. new steps that are all blocked), with events and NOTIFYs for nothing.
 */
create function baton_private.reactivate(directive_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  update baton.directives d set status = 'active'
   where d.id = reactivate.directive_id and d.status = 'idle'
     and (d.open_steps > 0 or d.planned_revision is distinct from d.goal_revision);
$$;
comment on function baton_private.reactivate(uuid) is $$Moves an idle directive back to active when it has an open step or a goal to plan.$$;
