/*
 * The set-based dispatch path (issue 10 point 3), the first migration after the v0.2.0 release.
 *
 * BEFORE: each ready step cost its own dispatch_step job, its own transaction on the directive lock,
 * and an assign_task that locked every free daemon of the owner until that transaction committed,
 * counting each daemon's live tasks with a query. A fan-out of 2,000 paid that 2,000 times in turn.
 *
 * NOW:
 *   - daemons.live_tasks counts each daemon's starting and running tasks. One statement-level trigger
 *     on tasks keeps it, whoever writes the task (the dispatcher, a report, a DBA's UPDATE), with one
 *     UPDATE per statement; reconcile recomputes it; a CHECK keeps it >= 0.
 *   - Ready steps are queued as ONE graphile-worker job per directive (identifier dispatch_steps, key
 *     dispatch_steps:<directive>, payload {directive_id}): queueing it again while it waits replaces
 *     it in place, so every step a directive makes ready before the job runs is served by that job.
 *     (Array payloads, graphile-worker's batched jobs, were tried first: each report rewrote the
 *     growing array of a waiting job, so its cost grew with the backlog. dispatch_task keeps them:
 *     its arrays hold only tasks that found no room.)
 *   - The job (src/tasks/dispatch_steps.ts) reads the prompt inputs of up to N steps in one query,
 *     builds the prompts, and calls start_execution_tasks, which creates all the tasks in one INSERT,
 *     counts the attempts in one UPDATE and assigns them in one statement (assign_tasks).
 *   - assign_tasks spreads tasks over the owner's daemons with room, locked FOR UPDATE SKIP LOCKED in
 *     the same statement that assigns: a daemon row that another transaction holds (a report freeing
 *     a slot, another dispatcher) is skipped, never waited for while the directive is locked. Tasks
 *     left pending are handed to a dispatch_task job (array payload, key per directive) that runs after
 *     this commit and waits for the locks instead: a locked daemon means "retry", never "no room".
 */

-- ---------------------------------------------------------------------------------------------
-- The per-daemon live-task counter.
-- ---------------------------------------------------------------------------------------------
alter table baton.daemons add column live_tasks integer not null default 0;
alter table baton.daemons add constraint live_tasks_not_negative check (live_tasks >= 0);
comment on column baton.daemons.live_tasks is
  $$How many of its tasks are starting or running now (the slots it uses of max_tasks). Kept by a trigger on tasks in the statement that changes them; recomputed by reconcile.$$;

update baton.daemons d
   set live_tasks = (select count(*) from baton.tasks t where t.daemon_id = d.id and baton_private.task_occupies_slot(t.status));

/*
 * The counter's deltas for one statement, by daemon: +1 for each row that occupies a slot now, -1 for
 * each that did before. A slot freed on a daemon is refilled at once, in this transaction, from the
 * owner's oldest waiting tasks (refill_daemon): the transaction already holds the daemon's row, so the
 * slot goes to a waiting task without a job, a second transaction or another lock on the daemon.
 * When room is left after that, the owner gets a dispatch_pending run: always when the daemon was full
 * before the statement (a task that found no room may commit only after this transaction's look: see
 * enqueue_dispatch_pending), else only when a waiting task is visible. A daemon full again needs no
 * run: a task that found it full gets its next free slot.
 * Replaces the per-row _900_slot_freed trigger, which counted the daemon's live tasks with a query.
 */
create function baton_private.apply_live_task_deltas(deltas jsonb) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_freed record;
begin
  for v_freed in
    with d as (select (x ->> 'daemon_id')::uuid as daemon_id, (x ->> 'delta')::integer as delta
                 from jsonb_array_elements(deltas) x),
         u as (update baton.daemons dm set live_tasks = dm.live_tasks + d.delta
                 from d where dm.id = d.daemon_id
               returning dm.id, dm.owner_id, dm.max_tasks, dm.live_tasks, dm.status, dm.last_heartbeat_at, d.delta)
    select u.id, u.owner_id, u.live_tasks - u.delta >= u.max_tasks as was_full, u.max_tasks - u.live_tasks as room,
           u.status = 'connected' and u.last_heartbeat_at >= now() - baton_private.daemon_lease() as available
      from u where u.delta < 0 order by u.id
  loop
    if v_freed.available and baton_private.refill_daemon(v_freed.id, v_freed.owner_id, v_freed.room) >= v_freed.room then
      continue;  -- full again
    end if;
    if v_freed.was_full then
      perform baton_private.enqueue_dispatch_pending(v_freed.owner_id, v_freed.id);
    else
      perform baton_private.maybe_enqueue_dispatch_pending(v_freed.owner_id, v_freed.id);
    end if;
  end loop;
end;
$$;
comment on function baton_private.apply_live_task_deltas(jsonb) is
  $$Adds a statement's live-task deltas ([{daemon_id, delta}]) to daemons.live_tasks; refills each daemon that freed a slot from its owner's waiting tasks, and queues dispatch_pending when room is left.$$;

/*
 * Gives up to `room` of the owner's oldest waiting tasks to this daemon, whose row the caller holds
 * (it just moved its counter). Never waits: tasks of directives another transaction holds, and task
 * rows another transaction holds, are left for the next dispatch (the caller queues one when room is
 * left). A retry of a step that failed on this daemon is left to dispatch_pending, which prefers
 * another daemon. Returns how many it assigned.
 */
create function baton_private.refill_daemon(daemon_id uuid, owner_id uuid, room integer) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directives uuid[];
  v_n integer;
begin
  if room <= 0 then
    return 0;
  end if;
  -- The candidates' active directives, read as assign_tasks does (not locked).
  v_directives := array(
    select d.id from baton.directives d
     where d.id in (select t.directive_id from baton.tasks t
                     where t.owner_id = refill_daemon.owner_id and t.status = 'pending'
                     order by t.created_at, t.id limit room * 4)
       and d.status = 'active');
  if cardinality(v_directives) = 0 then
    return 0;
  end if;
  with todo as (
         select t.id from baton.tasks t
          where t.owner_id = refill_daemon.owner_id and t.status = 'pending' and t.directive_id = any (v_directives)
            and (coalesce(t.attempt, 1) = 1  -- a first attempt has no failed one: no lookup
                 or not exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = t.step_id and f.daemon_id = refill_daemon.daemon_id
                                  and baton_private.task_attempt_failed(f.status)))
          order by t.created_at, t.id
          limit room
          for update skip locked)
  update baton.tasks t set status = 'starting', daemon_id = refill_daemon.daemon_id
    from todo where t.id = todo.id and t.status = 'pending';
  get diagnostics v_n = row_count;
  return v_n;
end;
$$;
comment on function baton_private.refill_daemon(uuid, uuid, integer) is
  $$Assigns up to `room` of the owner's oldest waiting tasks to a daemon that just freed slots (the caller holds its row), skipping rows other transactions hold. Returns how many.$$;

/* One function for the three triggers; each branch reads only the transition tables its event has. */
create function baton_private.tg_tasks__count_live() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_deltas jsonb;
begin
  if tg_op = 'INSERT' then
    select jsonb_agg(jsonb_build_object('daemon_id', x.daemon_id, 'delta', x.delta)) into v_deltas
      from (select n.daemon_id, count(*) as delta from new_rows n
             where n.daemon_id is not null and baton_private.task_occupies_slot(n.status) group by 1) x;
  elsif tg_op = 'DELETE' then
    select jsonb_agg(jsonb_build_object('daemon_id', x.daemon_id, 'delta', -x.n)) into v_deltas
      from (select o.daemon_id, count(*) as n from old_rows o
             where o.daemon_id is not null and baton_private.task_occupies_slot(o.status) group by 1) x;
  else
    select jsonb_agg(jsonb_build_object('daemon_id', x.daemon_id, 'delta', x.delta)) into v_deltas
      from (select y.daemon_id, sum(y.delta) as delta from (
              select n.daemon_id, 1 as delta from new_rows n
               where n.daemon_id is not null and baton_private.task_occupies_slot(n.status)
              union all
              select o.daemon_id, -1 from old_rows o
               where o.daemon_id is not null and baton_private.task_occupies_slot(o.status)) y
             group by 1 having sum(y.delta) <> 0) x;
  end if;
  if v_deltas is not null then
    perform baton_private.apply_live_task_deltas(v_deltas);
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_tasks__count_live() is
  $$Keeps daemons.live_tasks: one UPDATE per statement on tasks, whatever wrote them (a DBA's direct UPDATE included).$$;

drop trigger _900_slot_freed on baton.tasks;
drop function baton_private.tg_tasks__slot_freed();

create trigger _900_count_live_insert after insert on baton.tasks
  referencing new table as new_rows
  for each statement execute function baton_private.tg_tasks__count_live();
create trigger _900_count_live_update after update on baton.tasks
  referencing old table as old_rows new table as new_rows
  for each statement execute function baton_private.tg_tasks__count_live();
create trigger _900_count_live_delete after delete on baton.tasks
  referencing old table as old_rows
  for each statement execute function baton_private.tg_tasks__count_live();

/* Recounts every daemon's live tasks (reconcile's backstop); returns how many counters were wrong. */
create function baton_private.recount_live_tasks() returns integer
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  with c as (select d.id, (select count(*) from baton.tasks t where t.daemon_id = d.id and baton_private.task_occupies_slot(t.status))::integer as n
               from baton.daemons d),
       fixed as (update baton.daemons d set live_tasks = c.n from c where d.id = c.id and d.live_tasks <> c.n returning d.id)
  select count(*)::integer from fixed;
$$;
comment on function baton_private.recount_live_tasks() is $$Recomputes daemons.live_tasks from the tasks; returns how many daemons had a wrong count (none, unless something bypassed the trigger).$$;

create or replace function baton.daemons_active_task_count(d baton.daemons) returns integer
language sql stable
set search_path = pg_catalog, pg_temp
as $$ select d.live_tasks $$;
comment on function baton.daemons_active_task_count(baton.daemons) is $$How many tasks the daemon runs now (starting or running): its live_tasks counter.$$;

-- ---------------------------------------------------------------------------------------------
-- Queueing jobs under shared keys without losing one.
-- ---------------------------------------------------------------------------------------------

/*
 * graphile_worker.add_jobs in `replace` mode first clears the key of a job that a worker has taken,
 * then inserts ON CONFLICT (key) DO UPDATE ... WHERE locked_at IS NULL. A worker that takes the queued
 * job between those two statements makes the update's WHERE false: nothing is updated and nothing
 * inserted, and the new payload is lost (seen with one key per directive: a ready step left without
 * a job). add_jobs returns the rows it wrote, so a spec with no row is queued again; by then its key
 * is on a taken job, which the first statement releases.
 */
create function baton_private.add_jobs(specs graphile_worker.job_spec[]) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_lost graphile_worker.job_spec[];
begin
  with written as (select j.key from graphile_worker.add_jobs(specs) j where j.key is not null)
  select array_agg(spec) into v_lost from unnest(specs) spec
   where spec.job_key is not null and spec.job_key not in (select w.key from written w);
  if v_lost is not null then
    perform graphile_worker.add_jobs(v_lost);
  end if;
end;
$$;
comment on function baton_private.add_jobs(graphile_worker.job_spec[]) is
  $$graphile_worker.add_jobs, plus queueing again each keyed spec that add_jobs wrote no row for (a worker took the queued job in between, and the spec would be lost).$$;

create or replace function baton_private.enqueue(task_identifier text, payload json, job_key text, job_key_mode text default 'replace')
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if job_key_mode = 'replace' then
    perform baton_private.add_jobs(array[row(task_identifier, payload, null, null, 10, job_key, null, null)::graphile_worker.job_spec]);
  else
    perform graphile_worker.add_job(identifier => task_identifier, payload => payload, max_attempts => 10,
                                    job_key => job_key, job_key_mode => job_key_mode);
  end if;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Assignment, set-based.
-- ---------------------------------------------------------------------------------------------

/*
 * Assigns the given pending tasks of active directives to daemons of their owner with room, in one
 * statement per owner: the daemons with room are locked in that statement (FOR UPDATE, SKIP LOCKED
 * when skip_locked), their free slots are ranked (every daemon's first free slot before anyone's
 * second, the least loaded first) and matched to the tasks oldest first. Returns how many it
 * assigned. The statement trigger moves the counters, the tasks' triggers tell each daemon.
 *
 * A retry (the step has a failed attempt on one of the daemons) is assigned on its own afterwards,
 * preferring a daemon it has not failed on, as before.
 *
 * Callers with skip_locked hold the tasks' directive locks already (start_execution_tasks,
 * dispatch_new_task); callers that wait (the dispatch_task and dispatch_pending jobs) get them here.
 */
create function baton_private.assign_tasks(task_ids uuid[], skip_locked boolean default true) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner uuid;
  v_assigned integer := 0;
  v_n integer;
  v_retry uuid;
  v_directives uuid[];
begin
  if coalesce(cardinality(task_ids), 0) = 0 then
    return 0;
  end if;
  -- LOCK ORDER, directive -> daemon. A report holds its directive and locks its daemon last (the
  -- live-task counter); an assigner holding that daemon would wait for the directive in the events'
  -- foreign key check, and deadlock. So the tasks' active directives are shared first: waiting, in id
  -- order, or skipping those another transaction holds (their tasks wait for the next round; a
  -- caller's own directive lock does not count as held by another).
  if skip_locked then
    -- Read, not locked: directive locks are FOR NO KEY UPDATE (lock_directive, below), which the
    -- events' foreign key checks (FOR KEY SHARE) do not wait for, so an assigner holding a daemon
    -- never waits for a directive. A pause committed meanwhile only means the task was assigned just
    -- before it; an archive's cancellation and this assignment serialise on the task row.
    v_directives := array(select d.id from baton.directives d
                           where d.id in (select t.directive_id from baton.tasks t where t.id = any (task_ids) and t.status = 'pending')
                             and d.status = 'active');
  else
    v_directives := array(select d.id from baton.directives d
                           where d.id in (select t.directive_id from baton.tasks t where t.id = any (task_ids) and t.status = 'pending')
                             and d.status = 'active'
                           order by d.id for share);
  end if;
  for v_owner in select distinct t.owner_id from baton.tasks t
                  where t.id = any (task_ids) and t.status = 'pending' and t.directive_id = any (v_directives) order by 1 loop
    if not skip_locked then
      -- Waiting: the owner's daemons with room are locked first, in id order (two waiting assigners
      -- never lock them in opposite orders); the statement below then finds them held by this
      -- transaction, which SKIP LOCKED does not skip.
      perform 1 from baton.daemons d
        where d.owner_id = v_owner and d.status = 'connected' and d.live_tasks < d.max_tasks
          and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
        order by d.id for update;
    end if;
    -- Daemon rows and task rows that other transactions hold are skipped, never waited for.
      with free as (
             select d.id, d.max_tasks - d.live_tasks as room, d.live_tasks, d.last_heartbeat_at from baton.daemons d
              where d.owner_id = v_owner and d.status = 'connected' and d.live_tasks < d.max_tasks
                and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
              -- At most one daemon per task, the least loaded first: only the daemons used are held.
              order by d.live_tasks, d.last_heartbeat_at desc, d.id
              limit cardinality(task_ids) for update skip locked),
           slots as (select f.id, row_number() over (order by g.n, f.live_tasks, f.last_heartbeat_at desc, f.id) as k
                       from free f cross join lateral generate_series(1, f.room) g(n)),
           -- Only as many tasks as there are free slots are locked: a round that held every candidate
           -- made the reports refilling their daemons skip them all.
           todo as (select x.id, row_number() over (order by x.created_at, x.id) as k
                      from (select t.id, t.created_at from baton.tasks t
                             where t.id = any (task_ids) and t.owner_id = v_owner and t.status = 'pending'
                               and t.directive_id = any (v_directives)
                               and (coalesce(t.attempt, 1) = 1  -- a first attempt has no failed one: no lookup
                                    or not exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = t.step_id and f.id <> t.id
                                                     and baton_private.task_attempt_failed(f.status) and f.daemon_id is not null))
                             order by t.created_at, t.id
                             limit (select coalesce(sum(f.room), 0) from free f)
                             for update skip locked) x)
      update baton.tasks t set status = 'starting', daemon_id = s.id
        from todo join slots s on s.k = todo.k
       where t.id = todo.id and t.status = 'pending';
    get diagnostics v_n = row_count;
    v_assigned := v_assigned + v_n;
    -- Retries, one at a time (rare: only after a failed attempt). Never waiting here: a daemon that
    -- was full a moment ago is not among those locked above in id order, and waiting for it out of
    -- order could deadlock with another assigner.
    for v_retry in
      select t.id from baton.tasks t
       where t.id = any (task_ids) and t.owner_id = v_owner and t.status = 'pending' and t.directive_id = any (v_directives)
         and t.attempt > 1
         and exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = t.step_id and f.id <> t.id
                       and baton_private.task_attempt_failed(f.status) and f.daemon_id is not null)
       order by t.created_at, t.id
    loop
      if baton_private.assign_one_task(v_retry, true) then
        v_assigned := v_assigned + 1;
      end if;
    end loop;
  end loop;
  return v_assigned;
end;
$$;
comment on function baton_private.assign_tasks(uuid[], boolean) is
  $$Assigns the given pending tasks (of active directives) to their owners' daemons with room, in one statement per owner, spreading them over the least loaded daemons. skip_locked: skip directive, daemon and task rows other transactions hold instead of waiting (the caller retries). Returns how many were assigned.$$;

/*
 * What is left of these tasks after an assignment round: how many still wait in an active directive,
 * and whether a daemon of theirs has room by the committed counters (a row another transaction held).
 * A dispatcher retries while both are true, and stops when no daemon has room: the side that frees a
 * slot queues the next run.
 */
create function baton_private.pending_with_room(task_ids uuid[]) returns table (pending integer, room boolean)
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  with p as (select t.owner_id from baton.tasks t join baton.directives dr on dr.id = t.directive_id and dr.status = 'active'
              where t.id = any (task_ids) and t.status = 'pending')
  select (select count(*) from p)::integer,
         exists (select 1 from baton.daemons d
                  where d.owner_id in (select p.owner_id from p) and d.status = 'connected' and d.live_tasks < d.max_tasks
                    and d.last_heartbeat_at >= now() - baton_private.daemon_lease());
$$;
comment on function baton_private.pending_with_room(uuid[]) is
  $$How many of these tasks still wait in an active directive, and whether a daemon of their owner has room: a dispatcher retries while both hold.$$;

/*
 * One task, choosing its daemon: connected, within its lease, with room, not one this step already
 * failed on if another will do, then the least loaded. The daemon is locked in the statement that
 * assigns the task.
 */
create function baton_private.assign_one_task(task_id uuid, skip_locked boolean default true) returns boolean
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task baton.tasks;
  v_daemon uuid;
begin
  select * into v_task from baton.tasks t where t.id = assign_one_task.task_id and t.status = 'pending';
  if not found or (select dr.status from baton.directives dr where dr.id = v_task.directive_id) <> 'active' then
    return false;
  end if;
  select d.id into v_daemon from baton.daemons d
     where d.owner_id = v_task.owner_id and d.status = 'connected' and d.live_tasks < d.max_tasks
       and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
     order by exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = v_task.step_id and f.daemon_id = d.id
                       and baton_private.task_attempt_failed(f.status)),
              d.live_tasks, d.last_heartbeat_at desc, d.id
     limit 1 for update skip locked;
  if v_daemon is null and not skip_locked then
    -- Every daemon with room is held by another transaction: wait for the least loaded one (one row,
    -- so two waiters never hold one each of the other's); READ COMMITTED re-reads it after the wait.
    select d.id into v_daemon from baton.daemons d
     where d.owner_id = v_task.owner_id and d.status = 'connected' and d.live_tasks < d.max_tasks
       and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
     order by d.live_tasks, d.id
     limit 1 for update;
  end if;
  if v_daemon is null then
    return false;
  end if;
  update baton.tasks t set status = 'starting', daemon_id = v_daemon where t.id = v_task.id and t.status = 'pending';
  return found;
end;
$$;
comment on function baton_private.assign_one_task(uuid, boolean) is
  $$Assigns one pending task to the best daemon of its owner with room (preferring one its step has not failed on, then the least loaded). Returns whether it did.$$;

/* The API name, as before: the directive lock first (pause and archive serialise with it). */
create or replace function baton.assign_task(task_id uuid) returns baton.tasks
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task baton.tasks;
  v_directive baton.directives;
begin
  select * into v_task from baton.tasks t where t.id = assign_task.task_id;
  if not found then
    raise exception 'Task % does not exist.', task_id using errcode = 'BTNFD';
  end if;
  v_directive := baton_private.lock_directive(v_task.directive_id);
  select * into v_task from baton.tasks t where t.id = assign_task.task_id;
  if v_task.status <> 'pending' then
    return v_task;                      -- already assigned or over: nothing to do
  end if;
  if v_directive.status <> 'active' then
    return null;                        -- paused or archived: nothing new is dispatched
  end if;
  -- Waits for a daemon row another transaction holds: "locked" must not read as "no room".
  if baton_private.assign_one_task(v_task.id, false) then
    select * into v_task from baton.tasks t where t.id = assign_task.task_id;
    return v_task;
  end if;
  return null;
end;
$$;
comment on function baton.assign_task(uuid) is
  $$Assigns a pending task to a connected daemon of its owner with room (preferring one its step has not failed on, then the least loaded), marks it starting and NOTIFYs the daemon. Returns null when no daemon has room; the task then waits and is dispatched when room appears.$$;

/*
 * Pending tasks that still need a daemon, handed to one dispatch_task job per directive (array
 * payload: graphile-worker appends the ids of jobs queued under the same key). It runs after this
 * transaction commits, and waits for daemon rows instead of skipping them.
 */
create or replace function baton_private.enqueue_dispatch_tasks(task_ids uuid[]) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_specs graphile_worker.job_spec[];
begin
  if coalesce(cardinality(task_ids), 0) = 0 then
    return;
  end if;
  select array_agg(row('dispatch_task', x.ids, null, null, 10, 'dispatch_task:' || x.directive_id, null, null)::graphile_worker.job_spec
                   order by x.directive_id)
    into v_specs
    from (select t.directive_id, json_agg(t.id order by t.created_at, t.id) as ids
            from baton.tasks t where t.id = any (task_ids) and t.status = 'pending' group by t.directive_id) x;
  if v_specs is not null then
    perform baton_private.add_jobs(v_specs);
  end if;
end;
$$;
comment on function baton_private.enqueue_dispatch_tasks(uuid[]) is
  $$Queues the assignment of these pending tasks: one dispatch_task job per directive, whose payload (an array of task ids) collects every task queued under its key before it runs.$$;

create or replace function baton_private.enqueue_dispatch_task(task_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$ select baton_private.enqueue_dispatch_tasks(array[task_id]) $$;
comment on function baton_private.enqueue_dispatch_task(uuid) is $$Queues the assignment of one pending task (see enqueue_dispatch_tasks).$$;

create or replace function baton_private.dispatch_new_task(task_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  -- One task: wait for the chosen daemon's row rather than skip it (the caller holds the task's
  -- directive, and whoever holds a daemon row never waits for a directive lock held here; see
  -- assign_tasks). Without a worker running, a skipped row would leave the task waiting for good.
  if not baton_private.assign_one_task(task_id, false) then
    perform baton_private.enqueue_dispatch_tasks(array[task_id]);
  end if;
end;
$$;
comment on function baton_private.dispatch_new_task(uuid) is $$Assigns a new task to the best daemon with room, waiting for its row if another transaction holds it, or queues dispatch_task so the task waits for room.$$;

-- ---------------------------------------------------------------------------------------------
-- Batched dispatch of ready steps.
-- ---------------------------------------------------------------------------------------------

/*
 * Ready steps are queued as one dispatch_steps job per directive (payload {directive_id}, key
 * dispatch_steps:<directive>, `replace`: a waiting job is replaced in place, a running one gets one
 * more run after it), in ONE add_jobs call whatever the number of steps and directives. The job starts
 * every ready step of the directive without a live task. Only directives with such a step, and
 * active, get one.
 */
create or replace function baton_private.enqueue_dispatch_steps(step_ids uuid[]) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_specs graphile_worker.job_spec[];
begin
  if coalesce(cardinality(step_ids), 0) = 0 then
    return;
  end if;
  select array_agg(row('dispatch_steps', json_build_object('directive_id', x.directive_id), null, null, 10,
                       'dispatch_steps:' || x.directive_id, null, null)::graphile_worker.job_spec
                   order by x.directive_id)
    into v_specs
    from (select distinct s.directive_id
            from (select * from baton.directive_steps s0 where s0.id = any (step_ids) offset 0) s  -- offset 0: keep this scan first
           where s.status = 'ready'
             and (select d.status from baton.directives d where d.id = s.directive_id) = 'active'
             and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.kind = 'execution'
                             and baton_private.task_is_live(t.status))) x;
  if v_specs is not null then
    perform baton_private.add_jobs(v_specs);
  end if;
end;
$$;
comment on function baton_private.enqueue_dispatch_steps(uuid[]) is
  $$Queues the dispatch of the next attempt of each given step that is ready in an active directive and has no live task: one dispatch_steps job per directive (payload {directive_id}, replaced in place while it waits), in one add_jobs call.$$;

/*
 * Starts the next attempt of several ready steps of one directive, in one transaction: the directive
 * is locked once, the tasks are created in one INSERT with the prompts the dispatcher built, the
 * steps' attempt counters move in one UPDATE, and the tasks are assigned in one statement. Steps no
 * longer dispatchable (not ready, already attempted, a live task, the directive not active) are left
 * out, so a stale or duplicate job does nothing. Tasks left pending are handed to dispatch_task.
 * Returns the tasks created, with their daemon when one was free.
 */
create function baton_private.start_execution_tasks(directive_id uuid, steps jsonb)
returns table (step_id uuid, task_id uuid, daemon_id uuid)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_directive baton.directives := baton_private.lock_directive(start_execution_tasks.directive_id);
  v_ids uuid[];
begin
  if v_directive.status <> 'active' then
    return;
  end if;
  with wanted as (
         select distinct on ((e ->> 'step_id')::uuid) (e ->> 'step_id')::uuid as step_id, (e ->> 'attempt')::integer as attempt, e ->> 'prompt' as prompt
           from jsonb_array_elements(steps) e
          order by (e ->> 'step_id')::uuid, (e ->> 'attempt')::integer desc),
       eligible as (
         select s.id, s.owner_id, s.total_attempts, w.prompt
           from baton.directive_steps s join wanted w on w.step_id = s.id
          where s.directive_id = v_directive.id and s.status = 'ready' and s.total_attempts < w.attempt
            and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.kind = 'execution'
                            and baton_private.task_is_live(t.status))),
       created as (
         insert into baton.tasks (owner_id, directive_id, step_id, kind, attempt, prompt)
         select e.owner_id, v_directive.id, e.id, 'execution', e.total_attempts + 1, e.prompt from eligible e
         returning id, tasks.step_id),
       counted as (
         update baton.directive_steps s
            set attempts = s.attempts + 1, total_attempts = s.total_attempts + 1, current_task_id = c.id
           from created c where s.id = c.step_id
         returning s.id)
  select array_agg(c.id) into v_ids from created c;
  if v_ids is null then
    return;
  end if;
  if baton_private.assign_tasks(v_ids, true) < cardinality(v_ids) then
    perform baton_private.enqueue_dispatch_tasks(v_ids);
  end if;
  return query select t.step_id, t.id, t.daemon_id from baton.tasks t where t.id = any (v_ids);
end;
$$;
comment on function baton_private.start_execution_tasks(uuid, jsonb) is
  $$Creates, in one transaction, the next attempt's task of each given step ([{step_id, attempt, prompt}]) that is still ready in this active directive, and assigns them to daemons with room; the rest wait for dispatch_task. Safe to call twice.$$;

-- ---------------------------------------------------------------------------------------------
-- Callers of the per-row paths, now set-based.
-- ---------------------------------------------------------------------------------------------

create or replace function baton_private.tg_directives__on_status() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.status = 'active' then
    perform baton_private.enqueue_dispatch_steps(array(
      select s.id from baton.directive_steps s where s.directive_id = new.id and s.status = 'ready'));
    perform baton_private.enqueue_dispatch_tasks(array(
      select t.id from baton.tasks t where t.directive_id = new.id and t.status = 'pending'));
    perform baton_private.maybe_enqueue_planning(new.id);
    perform baton_private.maybe_idle(new.id);
  elsif new.status = 'archived' then
    update baton.tasks t set status = 'cancelled', error = 'The directive was archived.'
     where t.directive_id = new.id and t.status = 'pending';
    update baton.tasks t set status = 'interrupted', error = 'The directive was archived.'
     where t.directive_id = new.id and baton_private.task_occupies_slot(t.status);
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_directives__on_status() is $$Dispatches, plans or idles a directive that became active; cancels and interrupts the tasks of an archived one.$$;

/* Heartbeat: as in 000011, with the room read from the counter. */
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
  -- (the next heartbeat settles it).
  for v_task in
    select t.id, t.directive_id from baton.tasks t
     where t.daemon_id = v_daemon.id
       and ((t.status = 'running' and t.started_at <= v_daemon.last_heartbeat_at)
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

/* Reconcile: as in 000011, plus the counters' recount; ready steps are queued in one call. */
create or replace function baton.reconcile() returns jsonb
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_expired integer := baton.expire_daemons();
  v_recounted integer := baton_private.recount_live_tasks();
  v_steps uuid[];
  v_planning integer := 0;
  v_owners integer := 0;
  v_id uuid;
begin
  v_steps := array(
    select s.id from baton.directive_steps s join baton.directives d on d.id = s.directive_id
     where s.status = 'ready' and d.status = 'active'
       and not exists (select 1 from baton.tasks t where t.step_id = s.id and baton_private.task_is_live(t.status)));
  perform baton_private.enqueue_dispatch_steps(v_steps);
  for v_id in select d.id from baton.directives d where baton_private.needs_planning(d) loop
    perform baton_private.maybe_enqueue_planning(v_id);
    v_planning := v_planning + 1;
  end loop;
  for v_id in select distinct t.owner_id from baton.tasks t where t.status = 'pending' loop
    perform baton_private.maybe_enqueue_dispatch_pending(v_id);
    v_owners := v_owners + 1;
  end loop;
  return jsonb_build_object('expired_daemons', v_expired, 'ready_steps', cardinality(v_steps), 'directives_to_plan', v_planning,
                            'owners_with_pending_tasks', v_owners, 'recounted_daemons', v_recounted);
end;
$$;
comment on function baton.reconcile() is
  $$Finds whatever the event path missed and enqueues it: expired daemons, wrong live-task counters, ready steps without a task, directives needing (re-)planning, pending tasks. Idempotent; the worker's crontab runs it every minute.$$;

-- ---------------------------------------------------------------------------------------------
-- Steps of started tasks move in one statement.
-- ---------------------------------------------------------------------------------------------

/* As in 000005, except that a task taking a slot moves its step in the statement trigger below. */
create or replace function baton_private.tg_tasks__mirror() returns trigger
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
      null;  -- ready -> running: once per statement, below (tg_tasks__mirror_started)
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


/*
 * The steps of the tasks a statement started (pending -> starting or running) become running in ONE
 * UPDATE, not one per task: a dispatch batch of 200 tasks moves its 200 steps at once, and the steps'
 * statement triggers fire once. A superseded attempt never moves its step (current_task_id). Events
 * keep their order: each task's `starting` (a row trigger) comes before its step's `running`.
 */
create function baton_private.tg_tasks__mirror_started() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  update baton.directive_steps s set status = 'running'
    from new_rows n join old_rows o on o.id = n.id
   where n.kind = 'execution' and baton_private.task_occupies_slot(n.status) and not baton_private.task_occupies_slot(o.status)
     and s.id = n.step_id and s.current_task_id = n.id and s.status = 'ready';
  return null;
end;
$$;
comment on function baton_private.tg_tasks__mirror_started() is
  $$Moves the steps of the tasks one statement started from ready to running, in one UPDATE.$$;

create trigger _800_mirror_started after update on baton.tasks
  referencing old table as old_rows new table as new_rows
  for each statement execute function baton_private.tg_tasks__mirror_started();

-- ---------------------------------------------------------------------------------------------
-- Directive locks that foreign key checks do not wait for.
-- ---------------------------------------------------------------------------------------------

/*
 * As in 000007, with FOR NO KEY UPDATE instead of FOR UPDATE: it still serialises every
 * directive-scoped change (the mode conflicts with itself), but foreign key checks against the
 * directive (FOR KEY SHARE: every event, task and step row inserted) no longer wait for it. An
 * assigner holding a daemon row inserts events of other directives; with FOR UPDATE it waited for a
 * report holding such a directive, which was waiting for that daemon row: a deadlock.
 *
 * Locks a directive row (the first lock of every directive-scoped change) and returns it, after
 * checking the token's liveness and that the caller may change this directive: every directive-scoped
 * change passes here. Others' directives are reported as not existing, so their ids do not leak; an
 * agent of another directive is not told the id of the directive it tried to change.
 */
create or replace function baton_private.lock_directive(directive_id uuid) returns baton.directives
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_role text := baton_private.current_api_role();
begin
  perform baton_private.assert_token_live();
  select * into v_directive from baton.directives d where d.id = lock_directive.directive_id for no key update;
  if found and v_role = 'baton_agent' and v_directive.id is distinct from baton_private.current_agent_directive_id() then
    if v_directive.id = baton_private.setting_uuid('baton.directive_id') then
      raise exception 'This agent token belonged to task %, which has ended; agent tokens stop working when their task ends.',
        baton_private.setting_uuid('baton.task_id') using errcode = 'BTDNY';
    end if;
    -- The other directive is not named: given a step id, the agent would learn its directive's id.
    raise exception 'This agent token is for directive %, so it cannot change another directive.',
      baton_private.setting_uuid('baton.directive_id') using errcode = 'BTDNY';
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
comment on function baton_private.lock_directive(uuid) is $$Locks and returns a directive; raises BTNFD when it does not exist.$$;

