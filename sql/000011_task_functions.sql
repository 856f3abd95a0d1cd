/*
 * The task state machine, and how a task's outcome is mirrored into its step or directive.
 *
 * The original orchestrator polled task results every 15 s and copied them into step statuses. Here
 * the mirror is a trigger on the task row: the same transaction that records a daemon's report
 * advances the DAG and enqueues the next dispatch.
 */

create function baton_private.is_live_task(status text) returns boolean
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select status in ('pending', 'starting', 'running') $$;
comment on function baton_private.is_live_task(text) is $$Pending, starting and running tasks are live; the others are terminal and final.$$;

/* The task transitions that are legal, from -> to. */
create function baton_private.task_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select case from_status
    when 'pending' then to_status in ('starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'starting' then to_status in ('running', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'running' then to_status in ('completed', 'failed', 'interrupted', 'cancelled')
    else false end;
$$;
comment on function baton_private.task_transition_allowed(text, text) is $$Whether a task may move from one status to another. Terminal states allow nothing.$$;

/* `merged` and `done` are accepted from agents and daemons and mean completed. */
create function baton_private.normalize_task_status(status text) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select case lower(btrim(status)) when 'merged' then 'completed' when 'done' then 'completed' else lower(btrim(status)) end $$;
comment on function baton_private.normalize_task_status(text) is $$Maps merged and done to completed, and lower-cases.$$;

/* Guards every task update (API or a DBA's direct UPDATE): legal transitions only, version bump, timestamps. */
create function baton_private.tg_tasks__guard() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  new.status := baton_private.normalize_task_status(new.status);
  if new.status is distinct from old.status then
    if not baton_private.task_transition_allowed(old.status, new.status) then
      raise exception 'Task % is %, so it cannot become %; %.', old.id, old.status, new.status,
        case when baton_private.is_live_task(old.status) then 'allowed from ' || old.status || ' are ' ||
               (select string_agg(x, ', ') from unnest(array['starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled']) x
                 where baton_private.task_transition_allowed(old.status, x))
             else 'completed, failed, interrupted and cancelled are final' end
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status);
    end if;
    if new.status in ('starting', 'running') and new.daemon_id is null then
      raise exception 'Task % has no daemon, so it cannot be %; assign it to a daemon first.', old.id, new.status
        using errcode = 'BTSTS';
    end if;
    if new.status = 'starting' then new.assigned_at := now(); end if;
    if new.status = 'running' then new.started_at := now(); new.assigned_at := coalesce(new.assigned_at, now()); end if;
    if not baton_private.is_live_task(new.status) then new.finished_at := now(); end if;
  end if;
  new.version := old.version + 1;
  return new;
end;
$$;
comment on function baton_private.tg_tasks__guard() is $$Rejects illegal task transitions (BTSTS), normalises merged/done, bumps version and stamps times.$$;

create trigger _200_guard before update on baton.tasks
  for each row execute function baton_private.tg_tasks__guard();

/* A task's outcome, mirrored into its step (execution) or its directive (planning). */
create function baton_private.tg_tasks__mirror() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps;
begin
  if new.kind = 'planning' then
    if new.status = 'completed' then
      update baton.directives d
         set orchestrator_task_id = null,
             planned_revision = greatest(coalesce(d.planned_revision, 0), new.goal_revision),
             current_generation = greatest(d.current_generation, new.generation)
       where d.id = new.directive_id and d.orchestrator_task_id = new.id;
      perform baton_private.maybe_enqueue_planning(new.directive_id);
      perform baton_private.maybe_idle(new.directive_id);
    elsif not baton_private.is_live_task(new.status) then
      -- A failed planner pauses the directive: planning again at once would likely fail the same way.
      update baton.directives d set orchestrator_task_id = null
       where d.id = new.directive_id and d.orchestrator_task_id = new.id;
      update baton.directives d set status = 'paused' where d.id = new.directive_id and d.status = 'active';
    end if;
    return null;
  end if;

  select * into v_step from baton.directive_steps s where s.id = new.step_id for update;
  -- A superseded attempt (or a removed step) never moves the step.
  if not found or v_step.current_task_id is distinct from new.id then
    return null;
  end if;
  case
    when new.status in ('starting', 'running') then
      update baton.directive_steps s set status = 'running' where s.id = v_step.id and s.status = 'ready';
    when new.status = 'completed' then
      update baton.directive_steps s set status = 'completed' where s.id = v_step.id and s.status in ('ready', 'running');
    when new.status in ('failed', 'interrupted') then
      update baton.directive_steps s
         set status = case when s.attempts < s.max_attempts then 'ready' else 'failed' end
       where s.id = v_step.id and s.status in ('ready', 'running');
    when new.status = 'cancelled' then
      -- Cancelled through no fault of the agent: the attempt is given back.
      update baton.directive_steps s set status = 'ready', attempts = greatest(s.attempts - 1, 0)
       where s.id = v_step.id and s.status in ('ready', 'running');
    else
      null;
  end case;
  -- A step back to ready for another attempt asks for its dispatch (also when it never left ready).
  if new.status in ('failed', 'interrupted', 'cancelled') then
    perform baton_private.maybe_enqueue_dispatch_step(v_step.id);
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_tasks__mirror() is
  $$Mirrors a task's status into its step (running, completed, ready for another attempt, or failed) or, for planning tasks, into its directive.$$;

create trigger _800_mirror after update of status on baton.tasks
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_tasks__mirror();

/* A new task is assigned at once when a daemon has room; otherwise it waits and a dispatch job is queued. */
create function baton_private.dispatch_new_task(task_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  -- baton.assign_task is defined with the daemon registry (000013_dispatch.sql).
  if baton.assign_task(task_id) is null then
    perform baton_private.enqueue_dispatch_task(task_id);
  end if;
end;
$$;
comment on function baton_private.dispatch_new_task(uuid) is $$Assigns a new task to a daemon with room, or queues dispatch_task so it waits for one.$$;

/* Tells a daemon, by id only, to spawn a task assigned to it or to stop one it runs. */
create function baton_private.tg_tasks__notify_daemon() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.daemon_id is null then
    return null;
  end if;
  if new.status = 'starting' and old.status = 'pending' then
    perform pg_notify('baton:daemon:' || new.daemon_id, json_build_object('type', 'spawn_task', 'task_id', new.id)::text);
  elsif old.status in ('starting', 'running') and new.status in ('cancelled', 'interrupted') then
    perform pg_notify('baton:daemon:' || new.daemon_id, json_build_object('type', 'interrupt_task', 'task_id', new.id)::text);
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_tasks__notify_daemon() is $$NOTIFYs `baton:daemon:<id>` with spawn_task when a task is assigned and interrupt_task when it is stopped.$$;

create trigger _900_notify_daemon after update of status on baton.tasks
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_tasks__notify_daemon();

create function baton.create_execution_task(step_id uuid, prompt text default null, attempt integer default null)
returns baton.tasks
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_directive baton.directives;
  v_task baton.tasks;
begin
  -- Idempotent for the dispatcher: the task of an attempt that already exists is returned as it is.
  if attempt is not null and v_step.total_attempts >= attempt then
    select * into v_task from baton.tasks t where t.step_id = v_step.id and t.kind = 'execution' and t.attempt = create_execution_task.attempt;
    return v_task;
  end if;
  select * into v_directive from baton.directives d where d.id = v_step.directive_id;
  if v_directive.status <> 'active' then
    raise exception 'Directive % is %, so its steps are not dispatched; only active directives are.', v_directive.id, v_directive.status
      using errcode = 'BTSTS', hint = 'Start it with `baton directive start`.';
  end if;
  if v_step.status <> 'ready' then
    raise exception 'Step % is %, so no task can be created for it; only ready steps can be dispatched.', v_step.id, v_step.status
      using errcode = 'BTSTS';
  end if;
  select * into v_task from baton.tasks t where t.step_id = v_step.id and t.kind = 'execution' and baton_private.is_live_task(t.status);
  if found then
    return v_task;
  end if;
  perform baton_private.assert_text('the prompt', prompt, 0, 1048576);
  insert into baton.tasks (owner_id, directive_id, step_id, kind, attempt, prompt)
  values (v_step.owner_id, v_step.directive_id, v_step.id, 'execution', v_step.total_attempts + 1, prompt)
  returning * into v_task;
  update baton.directive_steps s
     set attempts = s.attempts + 1, total_attempts = s.total_attempts + 1, current_task_id = v_task.id
   where s.id = v_step.id;
  perform baton_private.dispatch_new_task(v_task.id);
  select * into v_task from baton.tasks t where t.id = v_task.id;
  return v_task;
end;
$$;
comment on function baton.create_execution_task(uuid, text, integer) is
  $$Creates the next attempt's task for a ready step of an active directive, pending until a daemon takes it. With attempt, returns the existing task of that attempt instead of creating one (safe to call twice).$$;

create function baton.create_planning_task(directive_id uuid, prompt text default null) returns baton.tasks
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
  v_task baton.tasks;
  v_generation integer;
begin
  if v_directive.orchestrator_task_id is not null then
    select * into v_task from baton.tasks t where t.id = v_directive.orchestrator_task_id;
    return v_task;
  end if;
  if v_directive.status <> 'active' then
    raise exception 'Directive % is %, so it cannot be planned now; only active directives are planned.', v_directive.id, v_directive.status
      using errcode = 'BTSTS',
            hint = case v_directive.status when 'archived' then 'Archiving is final; create a new directive instead.'
                                           when 'idle' then 'Update its goal to re-plan it.'
                                           else 'Start or resume it with `baton directive start`; it is planned then.' end;
  end if;
  if not baton_private.needs_planning(v_directive) then
    raise exception 'Directive % does not need planning: goal revision % is already planned.', v_directive.id, v_directive.goal_revision
      using errcode = 'BTSTS', hint = 'Update its goal to re-plan it.';
  end if;
  perform baton_private.assert_text('the prompt', prompt, 0, 1048576);
  select greatest(v_directive.current_generation, coalesce(max(s.generation), 0)) + 1 into v_generation
    from baton.directive_steps s where s.directive_id = v_directive.id;
  insert into baton.tasks (owner_id, directive_id, kind, generation, goal_revision, prompt)
  values (v_directive.owner_id, v_directive.id, 'planning', v_generation, v_directive.goal_revision, prompt)
  returning * into v_task;
  update baton.directives d set orchestrator_task_id = v_task.id where d.id = v_directive.id;
  perform baton_private.dispatch_new_task(v_task.id);
  select * into v_task from baton.tasks t where t.id = v_task.id;
  return v_task;
end;
$$;
comment on function baton.create_planning_task(uuid, text) is
  $$Creates the planning task of a directive that needs (re-)planning and records it as the directive's orchestrator task. Returns the planner already in flight if there is one.$$;

create function baton.report_task_status(
  task_id uuid, status text, expected_version integer default null, error text default null,
  branch text default null, commit_sha text default null, daemon_id uuid default null
) returns baton.tasks
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive_id uuid;
  v_task baton.tasks;
  v_status text := baton_private.normalize_task_status(status);
begin
  -- LOCK ORDER: the directive first, then the task.
  select t.directive_id into v_directive_id from baton.tasks t where t.id = report_task_status.task_id;
  if not found then
    raise exception 'Task % does not exist.', task_id using errcode = 'BTNFD';
  end if;
  perform baton_private.lock_directive(v_directive_id);
  select * into v_task from baton.tasks t where t.id = report_task_status.task_id for update;

  if v_status is null or v_status not in ('pending', 'starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled') then
    raise exception 'Unknown task status "%"; report one of running, completed (or merged, done), failed, interrupted.', status
      using errcode = 'BTINV';
  end if;
  if report_task_status.daemon_id is not null and v_task.daemon_id is distinct from report_task_status.daemon_id then
    raise exception 'Task % is assigned to daemon %, not to daemon %; only its daemon may report on it.',
      v_task.id, coalesce(v_task.daemon_id::text, 'none'), report_task_status.daemon_id
      using errcode = 'BTDNY';
  end if;
  -- A finished task is final: a repeat of the same report is harmless, anything else is late.
  if not baton_private.is_live_task(v_task.status) then
    if v_task.status = v_status then
      return v_task;
    end if;
    raise exception 'Task % is already % (version %), so this late "%" report was ignored.', v_task.id, v_task.status, v_task.version, v_status
      using errcode = 'BTSTL';
  end if;
  if expected_version is not null and expected_version <> v_task.version then
    raise exception 'Task % is at version %, but this report was made against version %; it was ignored.', v_task.id, v_task.version, expected_version
      using errcode = 'BTSTL', hint = 'Re-read the task and report again if the report still applies.';
  end if;
  perform baton_private.assert_text('the error', error, 0, 65536);
  update baton.tasks t
     set status = v_status,
         error = coalesce(report_task_status.error, t.error),
         branch = coalesce(report_task_status.branch, t.branch),
         commit_sha = coalesce(report_task_status.commit_sha, t.commit_sha)
   where t.id = v_task.id
  returning * into v_task;
  return v_task;
end;
$$;
comment on function baton.report_task_status(uuid, text, integer, text, text, text, uuid) is
  $$Records a task's new status (running, completed/merged/done, failed, interrupted), with its error or its branch and commit. expected_version rejects a stale report (BTSTL); daemon_id rejects a report from another daemon (BTDNY). Reports on a finished task are ignored with BTSTL unless they repeat its status.$$;
