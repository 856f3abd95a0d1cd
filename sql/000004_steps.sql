/*
 * Steps and their dependencies: the DAG.
 *
 * Readiness is kept by counters, not recomputed: `remaining_deps` is the number of dependencies not
 * yet completed or skipped. Satisfying a step decrements its direct dependents only, so the cost of a
 * completion is proportional to that step's fan-out, never to the size of the directive.
 *
 * A step is `blocked` while one of its dependencies is failed or blocked; it keeps its counter, so
 * retrying or skipping the failed ancestor restores `pending`/`ready` without recounting.
 *
 * `attempts` counts attempts in the current round (a retry_step starts a new round);
 * `total_attempts` never goes down and numbers the tasks, which makes (step, attempt) a unique key for
 * both the task and the job that creates it.
 *
 * `added_by_task_id` is filled by a default from the request's settings, so every path that inserts
 * steps records it. No foreign key: a step never outlives its directive's tasks (both go with the
 * directive), and a key lookup per inserted step would slow 10,000-step batches. The uuid is
 * matched by pattern, not cast in a plpgsql exception block (try_uuid), which would open a
 * subtransaction per row.
 *
 * This file holds the step's state machine and what each transition causes: readiness, blocking,
 * dispatch and the directive's open-step count. The functions that edit the DAG and override
 * statuses are in 000008_step_functions.sql.
 */
create type baton.step_status as enum ('pending', 'ready', 'running', 'completed', 'failed', 'skipped', 'blocked');
comment on type baton.step_status is $$A step's status: pending, ready, running, completed, failed, skipped or blocked (the state machine is in the table's comment).$$;

create table baton.directive_steps (
  id uuid primary key default gen_random_uuid(),
  directive_id uuid not null references baton.directives (id) on delete cascade,
  owner_id uuid not null references baton.owners (id) on delete cascade,
  name text not null,
  description text,
  task_plan text,
  status baton.step_status not null default 'pending',
  generation integer not null default 1,
  order_index integer not null default 0,
  remaining_deps integer not null default 0,
  attempts integer not null default 0,
  total_attempts integer not null default 0,
  max_attempts integer not null default 2,
  current_task_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  ready_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  added_by_task_id uuid
    default (case when pg_catalog.current_setting('role', true) = 'baton_agent'
                   and pg_catalog.current_setting('baton.task_id', true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                  then pg_catalog.current_setting('baton.task_id', true)::uuid end),
  constraint name_is_valid check (length(btrim(name)) between 1 and 200),
  constraint description_is_valid check (description is null or octet_length(description) <= 102400),
  constraint task_plan_is_valid check (task_plan is null or octet_length(task_plan) <= 102400),
  constraint generation_is_valid check (generation >= 1),
  constraint remaining_deps_is_not_negative check (remaining_deps >= 0),
  constraint ready_only_without_remaining_deps check (status not in ('ready', 'running', 'completed') or remaining_deps = 0),
  constraint attempts_is_valid check (attempts between 0 and max_attempts and attempts <= total_attempts),
  constraint max_attempts_is_valid check (max_attempts between 1 and 100)
);

create index directive_steps_directive_idx on baton.directive_steps (directive_id, order_index, created_at);
create index directive_steps_owner_idx on baton.directive_steps (owner_id);
-- pgflow's idx_step_states_ready: the reconcile sweep finds ready steps without scanning the rest.
create index directive_steps_ready_idx on baton.directive_steps (directive_id) where status = 'ready';

comment on table baton.directive_steps is $$@behavior -insert -update -delete
One unit of work in a directive's DAG. A step becomes ready when all of its dependencies are completed or skipped, is dispatched as a task to a daemon, and is attempted at most max_attempts times.
Status: pending -> ready (its dependencies are satisfied) or blocked (one failed); ready -> running (its task started), pending (re-wired onto an unmet dependency) or blocked; running -> ready (another attempt); ready or running -> failed (no attempts left); blocked -> pending or ready (unblocked); failed -> pending, ready or blocked (retryStep); any but completed and skipped -> completed, failed or skipped (by hand, or its task completed); completed and skipped are final.$$;
comment on column baton.directive_steps.id is $$The step's id.$$;
comment on column baton.directive_steps.directive_id is $$The directive this step belongs to.$$;
comment on column baton.directive_steps.owner_id is $$The owner (copied from the directive for row-level security).$$;
comment on column baton.directive_steps.name is $$A short name, 1 to 200 characters.$$;
comment on column baton.directive_steps.description is $$What the step is for (at most 100 KB).$$;
comment on column baton.directive_steps.task_plan is $$Self-contained instructions for the executing agent, which has no planning context (at most 100 KB).$$;
comment on column baton.directive_steps.status is $$pending (waiting on dependencies), ready, running, completed, failed, skipped, or blocked (a dependency failed).$$;
comment on column baton.directive_steps.generation is $$Which plan added the step: 1 for the first plan, n+1 for each re-plan.$$;
comment on column baton.directive_steps.order_index is $$Display and dispatch order among steps that are ready at the same time (lower first).$$;
comment on column baton.directive_steps.remaining_deps is $$How many dependencies are not yet completed or skipped. The step is ready when this reaches 0.$$;
comment on column baton.directive_steps.attempts is $$Attempts in the current round. A failed or interrupted attempt below max_attempts makes the step ready again; retry_step starts a new round.$$;
comment on column baton.directive_steps.total_attempts is $$Attempts ever made; numbers the step's tasks and never decreases.$$;
comment on column baton.directive_steps.max_attempts is $$How many attempts a round may make (default 2).$$;
comment on column baton.directive_steps.current_task_id is $$The step's latest execution task.$$;
comment on column baton.directive_steps.created_at is $$When the step was added.$$;
comment on column baton.directive_steps.updated_at is $$When this row last changed.$$;
comment on column baton.directive_steps.ready_at is $$When the step last became ready.$$;
comment on column baton.directive_steps.started_at is $$When the step's latest attempt started running.$$;
comment on column baton.directive_steps.finished_at is $$When the step last reached completed, failed or skipped.$$;
comment on column baton.directive_steps.added_by_task_id is
  $$The task whose agent added this step (null when an owner, a DBA or Baton added it). An execution agent may remove or re-wire only the steps its task added.$$;

create table baton.step_dependencies (
  step_id uuid not null references baton.directive_steps (id) on delete cascade,
  depends_on_step_id uuid not null references baton.directive_steps (id) on delete cascade,
  directive_id uuid not null references baton.directives (id) on delete cascade,
  owner_id uuid not null references baton.owners (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (step_id, depends_on_step_id),
  constraint not_self_dependent check (step_id <> depends_on_step_id)
);

-- Completing a step walks this index to its dependents.
create index step_dependencies_depends_on_idx on baton.step_dependencies (depends_on_step_id);
create index step_dependencies_owner_idx on baton.step_dependencies (owner_id);

comment on table baton.step_dependencies is $$@behavior -insert -update -delete
An edge of the DAG: step_id waits for depends_on_step_id. Changed only through add_step, batch_add_steps, set_step_dependencies and remove_step, which reject cycles.$$;
comment on column baton.step_dependencies.step_id is $$The waiting step.$$;
comment on column baton.step_dependencies.depends_on_step_id is $$The step it waits for.$$;
comment on column baton.step_dependencies.directive_id is $$The directive both steps belong to.$$;
comment on column baton.step_dependencies.owner_id is $$The owner (for row-level security).$$;
comment on column baton.step_dependencies.created_at is $$When the edge was added.$$;

/*
 * THE STATE MACHINE. Every status change, whatever wrote it (the API, a task's report, a DBA's direct
 * UPDATE), passes the _200_guard trigger, which refuses any move that step_transition_allowed does not
 * list (BTSTS) and any status that would break an invariant, then stamps the times.
 *
 *   pending -> ready      its last dependency was satisfied (remaining_deps reached 0)
 *           -> blocked    a dependency failed or was blocked
 *   ready   -> running    its task was assigned or started
 *           -> pending    it was re-wired onto a dependency that is not satisfied yet
 *           -> blocked
 *   running -> ready      its attempt failed or was interrupted with attempts left, or was cancelled
 *   ready, running -> failed     its attempt failed and no attempts are left
 *   blocked -> pending | ready   nothing it depends on is failed or blocked any more
 *   failed  -> pending | ready | blocked   retry_step started a new round
 *   any but completed and skipped -> completed | skipped (complete_step, skip_step, or its task completed),
 *                                    failed (fail_step)
 *   completed and skipped are final.
 *
 * Invariant (CHECK ready_only_without_remaining_deps, checked first by the guard with a friendly
 * message): a ready, running or completed step has no unmet dependency. Writers compute the right
 * status; nothing repairs it for them.
 */

/* The statuses, in the order messages list them. */
create function baton_private.step_statuses() returns text[]
language sql immutable
as $$ select array['pending', 'ready', 'running', 'completed', 'failed', 'skipped', 'blocked'] $$;
comment on function baton_private.step_statuses() is $$Every step status, in the order messages list them.$$;

/*
 * The helpers below replace literal status lists. They are immutable one-expression SQL functions
 * without a SET clause, so the planner inlines them (a partial index on the same list still applies);
 * they use nothing that a search_path could redirect.
 */
create function baton_private.step_is_open(status baton.step_status) returns boolean
language sql immutable
as $$ select status in ('pending', 'ready', 'running') $$;
comment on function baton_private.step_is_open(baton.step_status) is $$Pending, ready and running steps are open: the directive is not idle while it has one.$$;

create function baton_private.step_is_waiting(status baton.step_status) returns boolean
language sql immutable
as $$ select status in ('pending', 'ready', 'blocked') $$;
comment on function baton_private.step_is_waiting(baton.step_status) is $$Pending, ready and blocked steps have not started: they wait, and their dependencies may still be re-wired.$$;

create function baton_private.step_is_in_flight(status baton.step_status) returns boolean
language sql immutable
as $$ select status in ('ready', 'running') $$;
comment on function baton_private.step_is_in_flight(baton.step_status) is $$Ready and running steps are the ones an attempt (a task) may be under way for: a task's report moves only them.$$;

create function baton_private.step_satisfies_dependents(status baton.step_status) returns boolean
language sql immutable
as $$ select status in ('completed', 'skipped') $$;
comment on function baton_private.step_satisfies_dependents(baton.step_status) is $$Completed and skipped steps satisfy their dependents. Both are final.$$;

create function baton_private.step_blocks_dependents(status baton.step_status) returns boolean
language sql immutable
as $$ select status in ('failed', 'blocked') $$;
comment on function baton_private.step_blocks_dependents(baton.step_status) is $$Failed and blocked steps block their dependents; retry_step runs them again.$$;
-- Views and functions that run with the caller's rights use them (an inlined function still needs EXECUTE).
grant execute on function baton_private.step_is_open(baton.step_status), baton_private.step_is_waiting(baton.step_status), baton_private.step_is_in_flight(baton.step_status),
  baton_private.step_satisfies_dependents(baton.step_status), baton_private.step_blocks_dependents(baton.step_status)
  to baton_anonymous, baton_user, baton_daemon, baton_agent;

/* The step transitions that are legal, from -> to (the diagram above). */
create function baton_private.step_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
as $$
  select case from_status
    when 'pending' then to_status in ('ready', 'blocked', 'completed', 'failed', 'skipped')
    when 'ready' then to_status in ('pending', 'running', 'blocked', 'completed', 'failed', 'skipped')
    when 'running' then to_status in ('ready', 'completed', 'failed', 'skipped')
    when 'blocked' then to_status in ('pending', 'ready', 'completed', 'failed', 'skipped')
    when 'failed' then to_status in ('pending', 'ready', 'blocked', 'completed', 'skipped')
    else false end;
$$;
comment on function baton_private.step_transition_allowed(text, text) is $$Whether a step may move from one status to another. Completed and skipped allow nothing.$$;

/* The statuses a step may move to `to_status` from. */
create function baton_private.step_sources(to_status text) returns text[]
language sql immutable
as $$
  select array(select x from unnest(baton_private.step_statuses()) with ordinality u(x, n)
                where baton_private.step_transition_allowed(x, to_status) order by n)
$$;
comment on function baton_private.step_sources(text) is $$The statuses from which a step may become to_status, in order.$$;

/* Guards every step status change (the API, a task's report or a DBA's direct UPDATE), then stamps the times. */
create function baton_private.tg_directive_steps__guard() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if not baton_private.step_transition_allowed(old.status::text, new.status::text) then
    if baton_private.step_satisfies_dependents(old.status) then
      raise exception 'Step % is %, so it cannot become %; completed and skipped steps are final.', old.id, old.status, new.status
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
              hint = 'Add a new step (add-step) to do more.';
    end if;
    raise exception 'Step % is %, so it cannot become %; from % it can become %.', old.id, old.status, new.status, old.status,
      baton_private.or_list(array(select x from unnest(baton_private.step_statuses()) x where baton_private.step_transition_allowed(old.status::text, x)))
      using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
            hint = 'Move steps with complete_step, fail_step, skip_step and retry_step; readiness and blocking follow from their dependencies.';
  end if;
  if new.status in ('ready', 'running', 'completed') and new.remaining_deps > 0 then
    raise exception 'Step % still waits for % of its dependencies, so it cannot become %.', old.id, new.remaining_deps, new.status
      using errcode = 'BTSTS', detail = format('from=%s to=%s remaining_deps=%s', old.status, new.status, new.remaining_deps),
            hint = 'Complete or skip its dependencies first, or use complete_step, which completes it whatever it waits for.';
  end if;
  if new.status = 'ready' then new.ready_at := now(); end if;
  if new.status = 'running' then new.started_at := now(); end if;
  if new.status in ('completed', 'failed', 'skipped') then new.finished_at := now(); end if;
  return new;
end;
$$;
comment on function baton_private.tg_directive_steps__guard() is
  $$Refuses step transitions that step_transition_allowed does not list, and a ready, running or completed status while dependencies remain (BTSTS); stamps ready_at, started_at and finished_at.$$;

create trigger _200_guard before update of status on baton.directive_steps
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_directive_steps__guard();

/*
 * THE EFFECTS. What a step's status change does to the rest of the DAG and to its directive; the
 * triggers below apply them to every change, so the rules live in one place:
 *   - completed or skipped   -> decrement direct dependents; one reaching 0 becomes ready;
 *   - failed or blocked      -> every transitive dependent still pending or ready becomes blocked;
 *   - leaving failed/blocked -> dependents with no other failed/blocked dependency are unblocked;
 *   - becoming ready         -> the dispatch job is enqueued (if the directive is active);
 *   - open or not            -> directives.open_steps, and the directive goes idle when it reaches 0.
 *
 * Block and unblock are each one statement over the whole affected subgraph, which walks only steps
 * still to change (pending or ready to block, blocked to unblock). The row triggers of the steps it
 * changed run after that statement, so their own walks find nothing left to change: each costs one
 * index probe, and the walk never nests. (This replaces the `baton.propagating` flag.)
 */

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

/* Blocks, in one statement, every pending or ready transitive dependent of a failed or blocked step. */
create function baton_private.block_dependents(step_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  -- Only pending and ready steps are walked: below a blocked or failed step everything waiting is
  -- blocked already.
  with recursive down (id) as (
    select d.step_id
      from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id
     where d.depends_on_step_id = block_dependents.step_id and s.status in ('pending', 'ready')
    union
    select d.step_id
      from down join baton.step_dependencies d on d.depends_on_step_id = down.id
      join baton.directive_steps s on s.id = d.step_id
     where s.status in ('pending', 'ready')
  )
  update baton.directive_steps s set status = 'blocked'
   where s.id in (select id from down) and s.status in ('pending', 'ready');
end;
$$;
comment on function baton_private.block_dependents(uuid) is $$Marks every pending or ready transitive dependent blocked, in one statement.$$;

/*
 * Unblocks, in one statement, the blocked transitive dependents of a step that is no longer failed or
 * blocked, except those that still depend (directly or through other blocked steps) on a failed step
 * or on a step blocked for another reason. Each becomes ready or pending by its counter.
 */
create function baton_private.unblock_dependents(step_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  with recursive candidate (id) as (
    select d.step_id
      from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id
     where d.depends_on_step_id = unblock_dependents.step_id and s.status = 'blocked'
    union
    select d.step_id
      from candidate join baton.step_dependencies d on d.depends_on_step_id = candidate.id
      join baton.directive_steps s on s.id = d.step_id
     where s.status = 'blocked'
  ),
  stuck (id) as (
    -- Candidates with a dependency that stays broken: failed, or blocked and not a candidate.
    select c.id
      from candidate c join baton.step_dependencies d on d.step_id = c.id
      join baton.directive_steps p on p.id = d.depends_on_step_id
     where baton_private.step_blocks_dependents(p.status) and p.id <> unblock_dependents.step_id
       and (p.status = 'failed' or p.id not in (select id from candidate))
    union
    -- ... and the candidates below them.
    select d.step_id
      from stuck join baton.step_dependencies d on d.depends_on_step_id = stuck.id
     where d.step_id in (select id from candidate)
  )
  update baton.directive_steps s
     set status = case when s.remaining_deps = 0 then 'ready' else 'pending' end::baton.step_status
   where s.id in (select id from candidate) and s.id not in (select id from stuck) and s.status = 'blocked';
end;
$$;
comment on function baton_private.unblock_dependents(uuid) is $$Returns blocked transitive dependents to pending or ready, in one statement, once nothing they depend on is failed or blocked.$$;

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
         status = case when c.broken > 0 then 'blocked' when c.unmet = 0 then 'ready' else 'pending' end::baton.step_status
    from (select count(*) filter (where not baton_private.step_satisfies_dependents(p.status)) as unmet,
                 count(*) filter (where baton_private.step_blocks_dependents(p.status)) as broken
            from baton.step_dependencies d join baton.directive_steps p on p.id = d.depends_on_step_id
           where d.step_id = refresh_step.step_id) c
   where s.id = refresh_step.step_id
     and (baton_private.step_is_waiting(s.status) or (include_failed and s.status = 'failed'));
end;
$$;
comment on function baton_private.refresh_step(uuid, boolean) is $$Recounts a waiting (or, with include_failed, failed) step's unmet dependencies and sets it pending, ready or blocked accordingly.$$;

/* Propagates a step's status change through the DAG (the dispatch of steps that became ready is enqueued per statement, below). */
create function baton_private.tg_directive_steps__propagate() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if baton_private.step_satisfies_dependents(new.status) and not baton_private.step_satisfies_dependents(old.status) then
    perform baton_private.satisfy_dependents(new.id);
  end if;
  if baton_private.step_blocks_dependents(new.status) and not baton_private.step_blocks_dependents(old.status) then
    perform baton_private.block_dependents(new.id);
  elsif baton_private.step_blocks_dependents(old.status) and not baton_private.step_blocks_dependents(new.status) then
    perform baton_private.unblock_dependents(new.id);
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
      select n.directive_id, 1 as delta from new_rows n where tg_op in ('INSERT', 'UPDATE') and baton_private.step_is_open(n.status)
      union all
      select o.directive_id, -1 from old_rows o where tg_op in ('DELETE', 'UPDATE') and baton_private.step_is_open(o.status)
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
    select n.directive_id, count(*)::int as delta from new_rows n where baton_private.step_is_open(n.status) group by 1
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
    select o.directive_id, count(*)::int as delta from old_rows o where baton_private.step_is_open(o.status) group by 1
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
