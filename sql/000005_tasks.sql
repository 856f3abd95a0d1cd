/*
 * Tasks: one attempt of one step (execution) or one planning run of a directive (planning), assigned
 * to a daemon.
 *
 * Two partial unique indexes are the database's promise that a step never has two live attempts and a
 * directive never has two planners, whatever number of workers race to create them. `version` is
 * bumped by a trigger on every change so a daemon's report can carry the version it saw (optimistic
 * concurrency): a stale report never overwrites a newer state.
 *
 * `ready_at` is when the work a task does became ready to dispatch. For an execution task, when its
 * step last became ready, or the directive was last activated if that was later (steps of a draft or
 * paused directive are not dispatched); for a planning task, when the directive was last activated or
 * its goal last updated. Dispatch latency is assigned_at - ready_at. Set once, at insert.
 *
 * The original orchestrator polled task results every 15 s and copied them into step statuses. Here
 * the mirror is a trigger on the task row: the same transaction that records a daemon's report
 * advances the DAG and enqueues the next dispatch.
 *
 * This file holds the task's state machine and what each transition causes: the step or directive
 * mirrors it, the daemon is told, a freed slot is offered to waiting tasks. The functions that create
 * tasks and record reports are in 000009_task_functions.sql; assignment is in
 * 000011_daemons_and_dispatch.sql.
 */
create type baton.task_status as enum ('pending', 'starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled');
comment on type baton.task_status is $$A task's status: pending, starting, running, completed, failed, interrupted or cancelled (the state machine is in the table's comment).$$;

create table baton.tasks (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  directive_id uuid not null references baton.directives (id) on delete cascade,
  step_id uuid references baton.directive_steps (id) on delete set null,
  kind text not null,
  status baton.task_status not null default 'pending',
  version integer not null default 1,
  attempt integer,
  generation integer,
  goal_revision integer,
  daemon_id uuid references baton.daemons (id) on delete set null,
  prompt text,
  error text,
  branch text,
  commit_sha text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  assigned_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  ready_at timestamptz,
  constraint kind_is_valid check (kind in ('planning', 'execution')),
  constraint execution_has_step check ((kind = 'execution') = (attempt is not null)),
  constraint planning_has_generation check ((kind = 'planning') = (generation is not null and goal_revision is not null)),
  constraint prompt_is_valid check (prompt is null or octet_length(prompt) <= 1048576),
  constraint error_is_valid check (error is null or octet_length(error) <= 65536),
  constraint daemon_when_assigned check (status not in ('starting', 'running') or daemon_id is not null),
  constraint finished_at_only_when_terminal check ((status in ('completed', 'failed', 'interrupted', 'cancelled')) = (finished_at is not null))
);

-- At most one live attempt per step, and one planner per directive: enforced, not hoped for.
create unique index tasks_one_live_per_step on baton.tasks (step_id)
  where kind = 'execution' and status in ('pending', 'starting', 'running');
create unique index tasks_one_live_planner_per_directive on baton.tasks (directive_id)
  where kind = 'planning' and status in ('pending', 'starting', 'running');
-- One task per step attempt, ever.
create unique index tasks_one_per_step_attempt on baton.tasks (step_id, attempt) where kind = 'execution';
create index tasks_directive_idx on baton.tasks (directive_id, created_at);
create index tasks_owner_idx on baton.tasks (owner_id);
create index tasks_daemon_live_idx on baton.tasks (daemon_id) where status in ('starting', 'running');
-- A daemon's directives (daemon_works_on, daemon_directive_ids: what its token may read).
create index tasks_daemon_directive_idx on baton.tasks (daemon_id, directive_id) where daemon_id is not null;
create index tasks_pending_idx on baton.tasks (owner_id, created_at) where status = 'pending';

alter table baton.directives
  add constraint directives_orchestrator_task_fkey
  foreign key (orchestrator_task_id) references baton.tasks (id) on delete set null;
alter table baton.directive_steps
  add constraint directive_steps_current_task_fkey
  foreign key (current_task_id) references baton.tasks (id) on delete set null;
create index directive_steps_current_task_idx on baton.directive_steps (current_task_id);
create index directives_orchestrator_task_idx on baton.directives (orchestrator_task_id);

comment on table baton.tasks is $$@behavior -insert -update -delete
One run of a coding agent on a daemon: an attempt at a step (kind `execution`) or a planning run of a directive (kind `planning`).
Status: pending (waiting for a daemon) -> starting (assigned) -> running -> completed | failed | interrupted; pending, starting or running -> cancelled. Terminal states are final.$$;
comment on column baton.tasks.id is $$The task's id.$$;
comment on column baton.tasks.owner_id is $$The owner (copied from the directive for row-level security).$$;
comment on column baton.tasks.directive_id is $$The directive the task works for.$$;
comment on column baton.tasks.step_id is $$The step this task attempts (execution tasks only).$$;
comment on column baton.tasks.kind is $$`planning` (plan or re-plan the directive) or `execution` (do one step).$$;
-- Conditions on daemon_id and status (a daemon catching up reads its tasks still `starting`; an owner lists
-- tasks by status): PostGraphile offers conditions only on indexed columns, and these have partial
-- indexes only. Row-level security already limits a daemon to its own tasks.
comment on column baton.tasks.status is $$@behavior +filterBy
pending, starting, running, completed, failed, interrupted or cancelled.$$;
comment on column baton.tasks.version is $$Bumped on every change. Reports may carry the version they saw; a stale one is rejected.$$;
comment on column baton.tasks.attempt is $$For execution tasks: which attempt of the step this is (1, 2, ...), counted over the step's whole life.$$;
comment on column baton.tasks.generation is $$For planning tasks: the generation number the plan's new steps get.$$;
comment on column baton.tasks.goal_revision is $$For planning tasks: the goal revision being planned.$$;
comment on column baton.tasks.daemon_id is $$@behavior +filterBy
The daemon the task is assigned to; null while pending.$$;
comment on column baton.tasks.prompt is $$The prompt given to the agent on stdin (at most 1 MB).$$;
comment on column baton.tasks.error is $$Why the task failed or was interrupted (the tail of the agent's stderr, or the server's reason).$$;
comment on column baton.tasks.branch is $$The git branch the task worked on, if the directive has a repository.$$;
comment on column baton.tasks.commit_sha is $$The final commit of the task's branch, recorded when it completed.$$;
comment on column baton.tasks.created_at is $$When the task was created.$$;
comment on column baton.tasks.updated_at is $$When this row last changed.$$;
comment on column baton.tasks.assigned_at is $$When the task was assigned to a daemon.$$;
comment on column baton.tasks.started_at is $$When the agent process started.$$;
comment on column baton.tasks.finished_at is $$When the task reached a terminal state.$$;
comment on column baton.tasks.ready_at is $$When the task's work became ready to dispatch (its step became ready, or the directive was activated or its goal updated); dispatch latency is assigned_at - ready_at. Null for tasks created before Baton recorded it.$$;

/*
 * THE STATE MACHINE. Every task update, whatever wrote it (a daemon's report, the dispatcher, an
 * override, a DBA's direct UPDATE), passes the _200_guard trigger, which refuses any move that
 * task_transition_allowed does not list (BTSTS), bumps the version and stamps the times.
 *
 *   pending  -> starting    assigned to a daemon (assign_task)
 *   pending, starting -> running           the agent process started
 *   pending, starting, running -> completed | failed | interrupted | cancelled
 *   completed, failed, interrupted and cancelled are final.
 *
 * The helpers below replace literal status lists. They are immutable one-expression SQL functions
 * without a SET clause, so the planner inlines them (a partial index on the same list still
 * applies); they use nothing that a search_path could redirect.
 */

/* The statuses, in the order messages list them. */
create function baton_private.task_statuses() returns text[]
language sql immutable
as $$ select array['pending', 'starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled'] $$;
comment on function baton_private.task_statuses() is $$Every task status, in the order messages list them.$$;

create function baton_private.task_is_live(status baton.task_status) returns boolean
language sql immutable
as $$ select status in ('pending', 'starting', 'running') $$;
comment on function baton_private.task_is_live(baton.task_status) is $$Pending, starting and running tasks are live; the others are terminal and final.$$;

create function baton_private.task_occupies_slot(status baton.task_status) returns boolean
language sql immutable
as $$ select status in ('starting', 'running') $$;
comment on function baton_private.task_occupies_slot(baton.task_status) is $$Starting and running tasks occupy one of their daemon's max_tasks slots.$$;

create function baton_private.task_attempt_failed(status baton.task_status) returns boolean
language sql immutable
as $$ select status in ('failed', 'interrupted') $$;
comment on function baton_private.task_attempt_failed(baton.task_status) is $$Failed and interrupted tasks used up an attempt of their step (a cancelled one gives it back).$$;

create function baton_private.task_is_stopped(status baton.task_status) returns boolean
language sql immutable
as $$ select status in ('interrupted', 'cancelled') $$;
comment on function baton_private.task_is_stopped(baton.task_status) is $$Interrupted and cancelled tasks were stopped from outside: their daemon is told to stop the agent.$$;
-- Views and functions that run with the caller's rights use them (an inlined function still needs EXECUTE).
grant execute on function baton_private.task_is_live(baton.task_status), baton_private.task_occupies_slot(baton.task_status), baton_private.task_attempt_failed(baton.task_status),
  baton_private.task_is_stopped(baton.task_status)
  to baton_anonymous, baton_user, baton_daemon, baton_agent;

/* The task transitions that are legal, from -> to (the diagram above). */
create function baton_private.task_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
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
as $$ select case lower(btrim(status)) when 'merged' then 'completed' when 'done' then 'completed' else lower(btrim(status)) end $$;
comment on function baton_private.normalize_task_status(text) is $$Maps merged and done to completed, and lower-cases.$$;

/* Guards every task update (API or a DBA's direct UPDATE): legal transitions only, version bump, timestamps. */
create function baton_private.tg_tasks__guard() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.status is distinct from old.status then
    if not baton_private.task_transition_allowed(old.status::text, new.status::text) then
      raise exception 'Task % is %, so it cannot become %; %.', old.id, old.status, new.status,
        case when baton_private.task_is_live(old.status) then 'allowed from ' || old.status || ' are ' ||
               (select string_agg(x, ', ') from unnest(baton_private.task_statuses()) x
                 where baton_private.task_transition_allowed(old.status::text, x))
             else 'completed, failed, interrupted and cancelled are final' end
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status);
    end if;
    if baton_private.task_occupies_slot(new.status) and new.daemon_id is null then
      raise exception 'Task % has no daemon, so it cannot be %; assign it to a daemon first.', old.id, new.status
        using errcode = 'BTSTS';
    end if;
    if new.status = 'starting' then new.assigned_at := now(); end if;
    if new.status = 'running' then new.started_at := now(); new.assigned_at := coalesce(new.assigned_at, now()); end if;
    if not baton_private.task_is_live(new.status) then new.finished_at := now(); end if;
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
    elsif not baton_private.task_is_live(new.status) then
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
    when baton_private.task_occupies_slot(new.status) then
      update baton.directive_steps s set status = 'running' where s.id = v_step.id and s.status = 'ready';
    when new.status = 'completed' then
      update baton.directive_steps s set status = 'completed' where s.id = v_step.id and baton_private.step_is_in_flight(s.status);
    when baton_private.task_attempt_failed(new.status) then
      update baton.directive_steps s
         set status = case when s.attempts < s.max_attempts then 'ready' else 'failed' end::baton.step_status
       where s.id = v_step.id and baton_private.step_is_in_flight(s.status);
    when new.status = 'cancelled' then
      -- Cancelled through no fault of the agent: the attempt is given back.
      update baton.directive_steps s set status = 'ready', attempts = greatest(s.attempts - 1, 0)
       where s.id = v_step.id and baton_private.step_is_in_flight(s.status);
    else
      null;
  end case;
  -- A step back to ready for another attempt asks for its dispatch (also when it never left ready).
  if baton_private.task_attempt_failed(new.status) or new.status = 'cancelled' then
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
  elsif baton_private.task_occupies_slot(old.status) and baton_private.task_is_stopped(new.status) then
    perform pg_notify('baton:daemon:' || new.daemon_id, json_build_object('type', 'interrupt_task', 'task_id', new.id)::text);
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_tasks__notify_daemon() is $$NOTIFYs `baton:daemon:<id>` with spawn_task when a task is assigned and interrupt_task when it is stopped.$$;

create trigger _900_notify_daemon after update of status on baton.tasks
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_tasks__notify_daemon();

/*
 * When a daemon frees a slot, its owner gets a dispatch run if a task may be waiting for it: always
 * when the daemon was full before this task left it (a task that found no room may commit only after
 * this transaction's check: see enqueue_dispatch_pending), else only when a waiting task is visible.
 * A daemon with room before this change cannot have turned a task away, so no job is queued on the
 * common path, and the daemon's dispatch_pending job row is not locked by every completion. The
 * residual race (a daemon filled by an assignment that commits while this check runs) is covered by
 * the daemon's next heartbeat, which checks for waiting tasks.
 */
create function baton_private.tg_tasks__slot_freed() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if (select count(*) from baton.tasks l where l.daemon_id = new.daemon_id and baton_private.task_occupies_slot(l.status)) + 1
     >= (select d.max_tasks from baton.daemons d where d.id = new.daemon_id) then
    perform baton_private.enqueue_dispatch_pending(new.owner_id, new.daemon_id);
  else
    perform baton_private.maybe_enqueue_dispatch_pending(new.owner_id, new.daemon_id);
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_tasks__slot_freed() is $$Queues dispatch_pending when a task leaves a daemon, so a task waiting for room gets it.$$;

create trigger _900_slot_freed after update of status on baton.tasks
  for each row when (baton_private.task_occupies_slot(old.status) and not baton_private.task_occupies_slot(new.status))
  execute function baton_private.tg_tasks__slot_freed();

create function baton_private.tg_tasks__stamp_ready_at() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_activated_at timestamptz;
  v_since timestamptz;
begin
  select max(e.created_at) into v_activated_at from baton.events e
   where e.subject_id = new.directive_id and e.subject_type = 'directive' and e.to_status = 'active';
  if new.kind = 'execution' then
    select s.ready_at into v_since from baton.directive_steps s where s.id = new.step_id;
  else
    select d.goal_updated_at into v_since from baton.directives d where d.id = new.directive_id;
  end if;
  new.ready_at := least(now(), coalesce(greatest(v_since, v_activated_at), now()));
  return new;
end;
$$;
comment on function baton_private.tg_tasks__stamp_ready_at() is $$Stamps tasks.ready_at on insert: when the step became ready (execution) or planning was needed, not before the directive's last activation.$$;

create trigger _100_stamp_ready_at before insert on baton.tasks
  for each row execute function baton_private.tg_tasks__stamp_ready_at();
