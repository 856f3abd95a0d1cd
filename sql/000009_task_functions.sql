/*
 * Creating tasks and recording what daemons report about them.
 *
 * report_task_status is the daemon's one way to move a task. The API name is a thin wrapper that
 * checks the token first: a daemon reporting on a task that is not its own learns nothing about it
 * (the same answer whether the task exists or not, before the body locks the task's directive, which
 * would name it). A task's daemon_id never changes once assigned (a new attempt is a new task), so
 * late reports on a daemon's own tasks still reach the body and get its usual answers (BTSTL).
 * SECURITY DEFINER: daemons have no write grants on tasks.
 *
 * The task's state machine and the effects of its transitions are in 000005_tasks.sql.
 */

/* A new task is assigned at once when a daemon has room; otherwise it waits and a dispatch job is queued. */
create function baton_private.dispatch_new_task(task_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  -- baton.assign_task is defined with the daemon registry (000011_daemons_and_dispatch.sql).
  if baton.assign_task(task_id) is null then
    perform baton_private.enqueue_dispatch_task(task_id);
  end if;
end;
$$;
comment on function baton_private.dispatch_new_task(uuid) is $$Assigns a new task to a daemon with room, or queues dispatch_task so it waits for one.$$;

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
  select * into v_task from baton.tasks t where t.step_id = v_step.id and t.kind = 'execution' and baton_private.task_is_live(t.status);
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

create function baton_private.report_task_status(
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

  if v_status is null or v_status <> all (baton_private.task_statuses()) then
    raise exception 'Unknown task status "%"; report one of running, completed (or merged, done), failed, interrupted.', status
      using errcode = 'BTINV';
  end if;
  if report_task_status.daemon_id is not null and v_task.daemon_id is distinct from report_task_status.daemon_id then
    raise exception 'Task % is assigned to daemon %, not to daemon %; only its daemon may report on it.',
      v_task.id, coalesce(v_task.daemon_id::text, 'none'), report_task_status.daemon_id
      using errcode = 'BTDNY';
  end if;
  -- A finished task is final: a repeat of the same report is harmless, anything else is late.
  if not baton_private.task_is_live(v_task.status) then
    if v_task.status::text = v_status then
      return v_task;
    end if;
    raise exception 'Task % is already % (version %), so this late "%" report was ignored.', v_task.id, v_task.status, v_task.version, v_status
      using errcode = 'BTSTL';
  end if;
  -- Its daemon saying `running` again (a retried report whose first try was recorded): nothing to do.
  if report_task_status.daemon_id is not null and v_task.status = 'running' and v_status = 'running' then
    return v_task;
  end if;
  if expected_version is not null and expected_version <> v_task.version then
    raise exception 'Task % is at version %, but this report was made against version %; it was ignored.', v_task.id, v_task.version, expected_version
      using errcode = 'BTSTL', hint = 'Re-read the task and report again if the report still applies.';
  end if;
  perform baton_private.assert_text('the error', error, 0, 65536);
  update baton.tasks t
     set status = v_status::baton.task_status,
         error = coalesce(report_task_status.error, t.error),
         branch = coalesce(report_task_status.branch, t.branch),
         commit_sha = coalesce(report_task_status.commit_sha, t.commit_sha)
   where t.id = v_task.id
  returning * into v_task;
  return v_task;
end;
$$;
comment on function baton_private.report_task_status(uuid, text, integer, text, text, text, uuid) is
  $$The body of baton.report_task_status: records a task's new status with its error, branch and commit. expected_version rejects a stale report (BTSTL); daemon_id rejects a report from another daemon (BTDNY). A repeat of a finished task's status, or its own daemon's repeated `running`, changes nothing; other reports on a finished task are late (BTSTL).$$;

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
  perform baton_private.assert_token_live();
  -- A daemon reports for itself: its token's daemon id is checked whatever the argument says.
  if baton_private.current_api_role() = 'baton_daemon' then
    if v_daemon is not null and v_daemon is distinct from baton_private.current_daemon_id() then
      raise exception 'This daemon token is for daemon %, so it cannot report as daemon %.', baton_private.setting_uuid('baton.daemon_id'), v_daemon
        using errcode = 'BTDNY';
    end if;
    v_daemon := baton_private.current_daemon_id();
    if v_daemon is null or not exists (select 1 from baton.tasks t where t.id = report_task_status.task_id and t.daemon_id = v_daemon) then
      raise exception 'Task % is not assigned to this daemon (%), so it cannot report on it.', task_id, baton_private.setting_uuid('baton.daemon_id')
        using errcode = 'BTDNY', hint = 'A daemon reports on the tasks it was given (daemonCommands) only.';
    end if;
  end if;
  return baton_private.report_task_status(task_id, status, expected_version, error, branch, commit_sha, v_daemon);
end;
$$;
comment on function baton.report_task_status(uuid, text, integer, text, text, text, uuid) is
  $$Records a task's new status (running, completed/merged/done, failed, interrupted), with its error or its branch and commit. expected_version rejects a stale report (BTSTL); a daemon may report only on tasks assigned to it (BTDNY). Reports on a finished task are ignored with BTSTL unless they repeat its status.$$;
grant execute on function baton.report_task_status(uuid, text, integer, text, text, text, uuid) to baton_daemon;
