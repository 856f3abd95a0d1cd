/*
 * Verification gates (issue 11 point 2): a directive, or one of its steps, carries a `check`, a shell
 * command the daemon runs in the attempt's worktree after the agent exits 0. The step is completed
 * only if the check exits 0 too; a failing check fails the attempt, and its error (the command and
 * the tail of its output) reaches the next attempt's prompt as the previous error.
 *
 * WHERE THE CHECK COMES FROM. directives.check_command and directive_steps.check_command; a step's own
 * check REPLACES its directive's for that step (it does not run both): a step can then ask for a
 * narrower or faster check than the directive's. The task's copy (tasks.check_command) is stamped
 * when the task is created, so an attempt's check never changes under it and the history says which
 * check each attempt ran.
 *
 * THE PHASE. A task gets a status of its own while its check runs:
 *
 *   running  -> checking   the agent exited 0 and the daemon started the check
 *   checking -> completed  the check exited 0
 *            -> failed     the check failed (the error names it and quotes its output's tail)
 *            -> interrupted | cancelled   as from running
 *
 * A checking task is live and occupies its daemon's slot like a running one, so every helper below
 * counts it (task_is_live, task_occupies_slot) and the partial indexes built on them are rebuilt.
 * A daemon that reports `completed` for a task with a check that never reported `checking` (an older
 * daemon that does not know checks) is refused: the gate is the server's, not the daemon's goodwill.
 *
 * ONE CONSTRAINT ON THE SQL BELOW: PostgreSQL refuses to use an enum value in the transaction that
 * added it ("unsafe use of new value"), and this file is one transaction. So nothing parsed here
 * (CHECK constraints, index predicates, `language sql` bodies) names 'checking': the helpers list what
 * a task is NOT (live = not terminal; in a slot = neither pending nor terminal), and the index
 * predicates repeat the helpers' expressions exactly, so the planner still matches them. plpgsql
 * bodies are parsed when first run, after this file committed, so they name 'checking' freely.
 */

alter type baton.task_status add value if not exists 'checking' after 'running';
comment on type baton.task_status is $$A task's status: pending, starting, running, checking, completed, failed, interrupted or cancelled (the state machine is in the table's comment).$$;

-- ---------------------------------------------------------------------------------------------
-- The check commands.
-- ---------------------------------------------------------------------------------------------

/* 4 KiB: a check is a command line; a longer one belongs in a script in the repository. */
alter table baton.directives add column check_command text;
alter table baton.directives add constraint check_command_is_valid
  check (check_command is null or (length(btrim(check_command)) >= 1 and octet_length(check_command) <= 4096));
comment on column baton.directives.check_command is
  $$The directive's check: a shell command (`sh -c`) run in each step attempt's worktree after its agent exits 0, e.g. `npm test`. A failing check fails the attempt. A step with a check of its own runs that one instead. Null: no check. At most 4096 bytes.$$;

alter table baton.directive_steps add column check_command text;
alter table baton.directive_steps add constraint check_command_is_valid
  check (check_command is null or (length(btrim(check_command)) >= 1 and octet_length(check_command) <= 4096));
comment on column baton.directive_steps.check_command is
  $$The step's own check: a shell command run in the attempt's worktree after its agent exits 0; it replaces the directive's check for this step. Null: the directive's check applies (if any). At most 4096 bytes.$$;

alter table baton.tasks add column check_command text;
comment on column baton.tasks.check_command is
  $$The check this attempt runs after its agent exits 0 (its step's check, else its directive's), fixed when the task was created; null when there is none (and for planning tasks). While it runs the task is `checking`.$$;

/* Friendly refusals before the CHECK constraints (which stay as the backstop). */
create function baton_private.assert_check(check_command text, what text default 'The check') returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if check_command is null then
    return;
  end if;
  if length(btrim(check_command)) = 0 then
    raise exception '% is empty; give a shell command such as "npm test", or leave the check out.', what
      using errcode = 'BTINV';
  end if;
  if octet_length(check_command) > 4096 then
    raise exception '% is % bytes; the limit is 4096 bytes.', what, octet_length(check_command)
      using errcode = 'BTINV', hint = 'Put a long check in a script in the repository and give the command that runs it, e.g. "sh scripts/check.sh".';
  end if;
end;
$$;
comment on function baton_private.assert_check(text, text) is $$Raises BTINV when a check command is blank or longer than 4096 bytes; null (no check) passes.$$;

/* A new execution task runs its step's check, else its directive's. */
create function baton_private.tg_tasks__stamp_check_command() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.kind = 'execution' and new.check_command is null then
    select coalesce(s.check_command, d.check_command) into new.check_command
      from baton.directive_steps s join baton.directives d on d.id = s.directive_id
     where s.id = new.step_id;
  end if;
  return new;
end;
$$;
comment on function baton_private.tg_tasks__stamp_check_command() is $$Stamps tasks.check_command on insert: the step's check, else the directive's.$$;

create trigger _110_stamp_check_command before insert on baton.tasks
  for each row execute function baton_private.tg_tasks__stamp_check_command();

-- ---------------------------------------------------------------------------------------------
-- The task state machine, with `checking`.
-- ---------------------------------------------------------------------------------------------

comment on table baton.tasks is $$@behavior -insert -update -delete
One run of a coding agent on a daemon: an attempt at a step (kind `execution`) or a planning run of a directive (kind `planning`).
Status: pending (waiting for a daemon) -> starting (assigned) -> running -> completed | failed | interrupted; running -> checking (the agent exited 0 and the step's check runs) -> completed | failed | interrupted; pending, starting, running or checking -> cancelled. Terminal states are final.$$;
comment on column baton.tasks.status is $$@behavior +filterBy
pending, starting, running, checking (the agent exited 0 and its check runs), completed, failed, interrupted or cancelled.$$;

create or replace function baton_private.task_statuses() returns text[]
language sql immutable
as $$ select array['pending', 'starting', 'running', 'checking', 'completed', 'failed', 'interrupted', 'cancelled'] $$;

-- Written as what a task is not (see the header): the new value cannot be named in this file.
create or replace function baton_private.task_is_live(status baton.task_status) returns boolean
language sql immutable
as $$ select status not in ('completed', 'failed', 'interrupted', 'cancelled') $$;
comment on function baton_private.task_is_live(baton.task_status) is
  $$Pending, starting, running and checking tasks are live (every status but the terminal ones); the others are final.$$;

create or replace function baton_private.task_occupies_slot(status baton.task_status) returns boolean
language sql immutable
as $$ select status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled') $$;
comment on function baton_private.task_occupies_slot(baton.task_status) is
  $$Starting, running and checking tasks (live, and no longer pending) occupy one of their daemon's max_tasks slots.$$;

create or replace function baton_private.task_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
as $$
  select case from_status
    when 'pending' then to_status in ('starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'starting' then to_status in ('running', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'running' then to_status in ('checking', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'checking' then to_status in ('completed', 'failed', 'interrupted', 'cancelled')
    else false end;
$$;
comment on function baton_private.task_transition_allowed(text, text) is
  $$Whether a task may move from one status to another: running -> checking -> completed | failed | interrupted | cancelled besides the moves of 000005_tasks.sql. Terminal states allow nothing.$$;

/* The partial indexes and the constraint that list live statuses, rebuilt with the helpers' expressions. */
drop index baton.tasks_one_live_per_step;
create unique index tasks_one_live_per_step on baton.tasks (step_id)
  where kind = 'execution' and status not in ('completed', 'failed', 'interrupted', 'cancelled');
drop index baton.tasks_one_live_planner_per_directive;
create unique index tasks_one_live_planner_per_directive on baton.tasks (directive_id)
  where kind = 'planning' and status not in ('completed', 'failed', 'interrupted', 'cancelled');
drop index baton.tasks_daemon_live_idx;
create index tasks_daemon_live_idx on baton.tasks (daemon_id)
  where status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled');

alter table baton.tasks drop constraint daemon_when_assigned;
alter table baton.tasks add constraint daemon_when_assigned
  check (status in ('pending', 'completed', 'failed', 'interrupted', 'cancelled') or daemon_id is not null);

/*
 * report_task_status's body, as in 000009 plus `checking`: its daemon repeating `checking` (a retried
 * report whose first try was recorded) changes nothing, and a daemon's `completed` on a task with a
 * check is refused unless the task is checking. The signature and every other answer are unchanged.
 */
create or replace function baton_private.report_task_status(
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
    raise exception 'Unknown task status "%"; report one of running, checking, completed (or merged, done), failed, interrupted.', status
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
  -- Its daemon saying `running` or `checking` again (a retried report whose first try was recorded): nothing to do.
  if report_task_status.daemon_id is not null and v_task.status::text = v_status and v_status in ('running', 'checking') then
    return v_task;
  end if;
  if expected_version is not null and expected_version <> v_task.version then
    raise exception 'Task % is at version %, but this report was made against version %; it was ignored.', v_task.id, v_task.version, expected_version
      using errcode = 'BTSTL', hint = 'Re-read the task and report again if the report still applies.';
  end if;
  -- GUARD: the gate. A daemon completes a task that has a check only from `checking`.
  if report_task_status.daemon_id is not null and v_status = 'completed' and v_task.check_command is not null
     and v_task.status::text <> 'checking' then
    raise exception 'Task % has a check (%), so it can be completed only after its check ran; it is %.', v_task.id, v_task.check_command, v_task.status
      using errcode = 'BTSTS', detail = format('from=%s to=completed', v_task.status),
            hint = 'Report checking, run the check in the worktree, then report completed or failed. A daemon older than the server does not run checks: upgrade it.';
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
  $$The body of baton.report_task_status: records a task's new status with its error, branch and commit. expected_version rejects a stale report (BTSTL); daemon_id rejects a report from another daemon (BTDNY), and a daemon's `completed` on a task with a check that is not checking (BTSTS). A repeat of a finished task's status, or its own daemon's repeated `running` or `checking`, changes nothing; other reports on a finished task are late (BTSTL).$$;

comment on function baton.report_task_status(uuid, text, integer, text, text, text, uuid) is
  $$Records a task's new status (running, checking, completed/merged/done, failed, interrupted), with its error or its branch and commit. A task with a check goes running -> checking -> completed or failed. expected_version rejects a stale report (BTSTL); a daemon may report only on tasks assigned to it (BTDNY). Reports on a finished task are ignored with BTSTL unless they repeat its status.$$;

/* Heartbeat: as in 000016, with a checking task the daemon no longer reports counted lost like a running one. */
create or replace function baton_private.heartbeat(daemon_id uuid, active_task_ids uuid[] default '{}') returns baton.daemons
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon baton.daemons;
  v_task record;
  v_active uuid[] := coalesce(active_task_ids, '{}');
  v_was_available boolean;
begin
  select * into v_daemon from baton.daemons d where d.id = heartbeat.daemon_id;
  if not found then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD', hint = 'Register again with `baton daemon run`.';
  end if;
  -- Whether dispatchers could pick this daemon before this heartbeat (assign_tasks' test).
  v_was_available := v_daemon.status = 'connected' and v_daemon.last_heartbeat_at >= now() - baton_private.daemon_lease();
  -- PHASE 1: tasks the server thinks this daemon runs but it does not report are lost. Spared: a task
  -- only just assigned (starting, within the lease) may not have been spawned yet; a task that became
  -- running after the previous heartbeat may have been spawned after this heartbeat's list was made
  -- (the next heartbeat settles it). A checking task started running before it checked.
  for v_task in
    select t.id, t.directive_id from baton.tasks t
     where t.daemon_id = v_daemon.id
       and ((t.status in ('running', 'checking') and t.started_at <= v_daemon.last_heartbeat_at)
            or (t.status = 'starting' and t.assigned_at < now() - baton_private.daemon_lease()))
       and t.id <> all (v_active)
     order by t.directive_id, t.id
  loop
    perform baton_private.interrupt_task(v_task.id, 'The daemon no longer reports this task (it was lost or its process ended).');
  end loop;
  -- PHASE 2: tasks the daemon runs that are already over on the server must stop.
  for v_task in
    select t.id from baton.tasks t
     where t.id = any (v_active) and (t.daemon_id is distinct from v_daemon.id or not baton_private.task_is_live(t.status))
  loop
    perform pg_notify('baton:daemon:' || v_daemon.id, json_build_object('type', 'interrupt_task', 'task_id', v_task.id)::text);
  end loop;
  -- PHASE 3: the lease is renewed (a disconnected daemon that heartbeats is connected again).
  update baton.daemons d
     set last_heartbeat_at = now(), status = 'connected', disconnected_at = null,
         connected_at = case when d.status = 'disconnected' then now() else d.connected_at end
   where d.id = v_daemon.id
  returning * into v_daemon;
  -- PHASE 4: room on a daemon that dispatchers skipped until now is a new fact: signal it
  -- unconditionally (see enqueue_dispatch_pending); otherwise only when tasks wait.
  if v_daemon.live_tasks < v_daemon.max_tasks then
    if v_was_available then
      perform baton_private.maybe_enqueue_dispatch_pending(v_daemon.owner_id, v_daemon.id);
    else
      perform baton_private.enqueue_dispatch_pending(v_daemon.owner_id, v_daemon.id);
    end if;
  end if;
  return v_daemon;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Setting checks: create_directive, set_directive_check, add_step, batch_add_steps.
-- ---------------------------------------------------------------------------------------------

/* As in 000003, plus check_command (last, so positional callers keep working). */
drop function baton.create_directive(text, text, text, text, boolean, uuid);
create function baton.create_directive(
  title text, goal text, repo text default null, base_branch text default 'main',
  start boolean default false, owner_id uuid default null, check_command text default null
) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner uuid := baton_private.resolve_owner(create_directive.owner_id);
  v_directive baton.directives;
begin
  perform baton_private.assert_name('the title', title);
  perform baton_private.assert_text('the goal', goal, 1, 102400);
  perform baton_private.assert_text('the repository', repo, case when repo is null then 0 else 1 end, 2048);
  perform baton_private.assert_name('the base branch', coalesce(base_branch, 'main'));
  perform baton_private.assert_check(check_command);
  insert into baton.directives (owner_id, title, goal, repo, base_branch, check_command)
  values (v_owner, btrim(title), goal, nullif(btrim(repo), ''), coalesce(nullif(btrim(base_branch), ''), 'main'), check_command)
  returning * into v_directive;
  if start then
    v_directive := baton.start_directive(v_directive.id);
  end if;
  return v_directive;
end;
$$;
comment on function baton.create_directive(text, text, text, text, boolean, uuid, text) is
  $$Creates a directive in `draft` (or `active` with start => true). repo is a git URL or local path; base_branch defaults to main; check_command is the check every step attempt must pass after its agent exits 0 (a step's own check replaces it). owner_id is only for direct SQL; API callers act as the owner in their token.$$;
grant execute on function baton.create_directive(text, text, text, text, boolean, uuid, text) to baton_user;

create function baton.set_directive_check(directive_id uuid, check_command text) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its check cannot be changed.', v_directive.id
      using errcode = 'BTSTS', hint = 'Archiving is final; create a new directive instead.';
  end if;
  perform baton_private.assert_check(check_command);
  update baton.directives d set check_command = set_directive_check.check_command where d.id = v_directive.id
  returning * into v_directive;
  return v_directive;
end;
$$;
comment on function baton.set_directive_check(uuid, text) is
  $$Sets the directive's check (a shell command every step attempt must pass after its agent exits 0; a step's own check replaces it), or removes it with null. Applies to attempts dispatched from now on; attempts already dispatched keep the check they got.$$;
grant execute on function baton.set_directive_check(uuid, text) to baton_user;

/*
 * batch_add_steps takes a "check" field per entry. The 000008 body moves to baton_private unchanged;
 * this wrapper checks the field names and the checks, passes the entries on without "check", and
 * stamps each new step's check (the body returns the steps in input order). The steps' dispatch jobs
 * run after this transaction commits, so no attempt is created before its check is set.
 */
alter function baton.batch_add_steps(uuid, jsonb) set schema baton_private;
revoke execute on function baton_private.batch_add_steps(uuid, jsonb) from baton_user, baton_agent;
comment on function baton_private.batch_add_steps(uuid, jsonb) is
  $$The body of baton.batch_add_steps (000008) without the "check" field: validates and inserts a batch of steps atomically; returns them in input order.$$;

create function baton.batch_add_steps(directive_id uuid, steps jsonb) returns setof baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
  v_bad record;
  v_ids uuid[];
begin
  if steps is not null and jsonb_typeof(steps) = 'array' then
    -- GUARD: field names (the body's own list does not know "check").
    select e.ord, k.k into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord), jsonb_object_keys(e.v) k(k)
     where jsonb_typeof(e.v) = 'object' and k.k not in ('key', 'name', 'description', 'taskPlan', 'dependsOn', 'orderIndex', 'check')
     order by e.ord limit 1;
    if found then
      raise exception 'Entry % has an unknown field "%"; the fields are key, name, description, taskPlan, dependsOn, orderIndex and check.', v_bad.ord, v_bad.k
        using errcode = 'BTINV';
    end if;
    -- GUARD: each check is a string (or null), not blank, at most 4096 bytes.
    select e.ord, e.v -> 'check' as c into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord)
     where jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> 'check') not in ('string', 'null')
     order by e.ord limit 1;
    if found then
      raise exception 'Entry % has an invalid "check": it must be a string, a shell command such as "npm test".', v_bad.ord
        using errcode = 'BTINV';
    end if;
    for v_bad in
      select e.ord, e.v ->> 'check' as c from jsonb_array_elements(steps) with ordinality e(v, ord)
       where jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> 'check') = 'string'
         and (length(btrim(e.v ->> 'check')) = 0 or octet_length(e.v ->> 'check') > 4096)
       order by e.ord limit 1
    loop
      perform baton_private.assert_check(v_bad.c, format('The check of entry %s', v_bad.ord));
    end loop;
  end if;

  select array_agg(s.id order by s.ordinality) into v_ids
    from baton_private.batch_add_steps(v_directive.id,
           case when jsonb_typeof(steps) = 'array'
                -- An empty array stays one (jsonb_agg of no rows is null), so the body says the batch is empty.
                then coalesce((select jsonb_agg(case when jsonb_typeof(e.v) = 'object' then e.v - 'check' else e.v end order by e.ord)
                                 from jsonb_array_elements(steps) with ordinality e(v, ord)), '[]'::jsonb)
                else steps end) with ordinality s;

  update baton.directive_steps s set check_command = e.v ->> 'check'
    from jsonb_array_elements(steps) with ordinality e(v, ord)
   where s.id = v_ids[e.ord] and jsonb_typeof(e.v -> 'check') = 'string';

  return query select s.* from unnest(v_ids) with ordinality i(id, ord) join baton.directive_steps s on s.id = i.id order by i.ord;
end;
$$;
comment on function baton.batch_add_steps(uuid, jsonb) is
  $$Adds steps atomically from a JSON array of {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?}. A dependsOn entry is a step id of this directive or the key of another entry of the batch (earlier or later). "check" is a shell command run after the step's agent exits 0; the step completes only if it passes (it replaces the directive's check for this step). Cycles, unknown ids and bad fields reject the whole batch. Returns the new steps in input order.$$;

/* As in 000008, plus check_command (last). */
drop function baton.add_step(uuid, text, text, text, uuid[], integer);
create function baton.add_step(
  directive_id uuid, name text, description text default null, task_plan text default null,
  depends_on uuid[] default null, order_index integer default null, check_command text default null
) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps;
begin
  perform baton_private.assert_check(check_command);
  select * into v_step from baton.batch_add_steps(add_step.directive_id, jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
    'name', add_step.name, 'description', add_step.description, 'taskPlan', add_step.task_plan,
    'dependsOn', to_jsonb(add_step.depends_on), 'orderIndex', add_step.order_index, 'check', add_step.check_command))));
  return v_step;
end;
$$;
comment on function baton.add_step(uuid, text, text, text, uuid[], integer, text) is
  $$Adds one step that depends on existing steps of the same directive; check_command is its own check (replacing the directive's). Returns the new step (its id is what later dependsOn entries use).$$;

grant execute on function
  baton.batch_add_steps(uuid, jsonb), baton.add_step(uuid, text, text, text, uuid[], integer, text)
  to baton_user, baton_agent;
