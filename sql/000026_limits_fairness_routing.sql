/*
 * Limits, fairness and routing (issue 12 points 4 and 6).
 *
 * LIMITS. directives.max_parallel caps how many of a directive's tasks occupy daemon slots at once;
 * owners.max_parallel caps all of an owner's. Null: no limit. Every assigning statement (assign_tasks,
 * assign_one_task, refill_daemon) counts against them after taking a transaction-level advisory lock
 * per limited owner and per limited directive, so two concurrent assigners never both see the last
 * free place. The lock is taken in its own statement, before the count: under READ COMMITTED the
 * count's snapshot then includes whatever the previous holder committed. Only assigners raise the
 * counts, and they all take these locks; a report lowering a count without the lock only makes a
 * count conservative for a moment. Nothing is taken when no limit is set (the common case costs
 * nothing). The counts are cheap: a directive's live tasks through tasks_directive_live_idx (at most
 * max_parallel entries are read), an owner's as the sum of its daemons' live_tasks counters.
 * (Counters on the directive and owner rows, kept by tg_tasks__count_live, were not taken: every
 * report would then update its owner's row, serialising all of an owner's reports.)
 *
 * LOCK ORDER, extending 000016's directive -> daemon: directive row -> owner limit lock -> directive
 * limit locks (id order) -> daemon rows. Paths that hold a daemon row already (refill_daemon, called
 * by the report that freed a slot) only try the limit locks, never wait: a directive whose lock is
 * held by another transaction is left for the next round (the caller queues dispatch_pending).
 *
 * FAIRNESS. A free slot goes to the directive that was served least recently: the one whose newest
 * running task was assigned longest ago, one with nothing running first (tasks_in_turn). A statement
 * with several slots deals them out one per directive per round, in that order; priority (higher
 * first) orders directives that have waited equally long (nothing running, or last served by the same
 * transaction), then the task's age. No row is written to keep turns: the order is read from the
 * partial index of live tasks (directive_id, assigned_at), one index probe per active directive.
 *
 * ROUTING. A step may name the agent it needs (directive_steps.agent, e.g. claude); a daemon
 * advertises labels (daemons.labels, set when it connects: set_daemon_labels). A task goes only to a
 * daemon whose labels include its step's agent; a step without agent (and planning and integration
 * tasks) goes anywhere. Assignment deals with each agent's tasks in their own statement (labelled
 * ones first: they have fewer daemons to go to), each statement locking only the daemons that fit.
 * step_waits gains a reason column and a row for each ready step that cannot be dispatched now: no
 * connected daemon has its label, or its directive or owner is at its max_parallel.
 *
 * batch_add_steps: the version of the earlier migrations is kept under baton_private and wrapped (it
 * reads "agent", strips it, calls the kept one, and stamps the agent in one UPDATE), so this file
 * does not repeat, and cannot undo, what the others added to it.
 */

-- ---------------------------------------------------------------------------------------------
-- Columns.
-- ---------------------------------------------------------------------------------------------

/* Why a label or a step's agent is invalid, or null when it is fine. */
create function baton_private.label_problem(label text) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select case when label is null or label !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'
              then 'a label is 1 to 64 characters (letters, digits, ".", "_", "-" or ":") starting with a letter or digit' end
$$;
comment on function baton_private.label_problem(text) is
  $$Why a daemon label or a step's agent is invalid (null when valid): 1 to 64 characters, letters, digits, ".", "_", "-" or ":", starting with a letter or digit.$$;

alter table baton.directives add column max_parallel integer;
alter table baton.directives add constraint max_parallel_is_valid check (max_parallel between 1 and 10000);
alter table baton.directives add column priority integer not null default 0;
alter table baton.directives add constraint priority_is_valid check (priority between -1000 and 1000);
comment on column baton.directives.max_parallel is
  $$At most this many of the directive's tasks occupy daemon slots at once (null: no limit). Tasks beyond it wait, and get the directive's next freed slot. Set with `baton directive update --max-parallel`.$$;
comment on column baton.directives.priority is
  $$Orders directives that have waited equally long for a daemon slot, higher first (-1000 to 1000, default 0). Slots go round-robin: to the directive served least recently. Set with `baton directive update --priority`.$$;

alter table baton.owners add column max_parallel integer;
alter table baton.owners add constraint max_parallel_is_valid check (max_parallel between 1 and 100000);
comment on column baton.owners.max_parallel is
  $$At most this many of the owner's tasks occupy daemon slots at once, over all its directives and daemons (null: no limit). Set with `baton owner limits --max-parallel`.$$;

alter table baton.directive_steps add column agent text;
alter table baton.directive_steps add constraint agent_is_valid check (agent is null or baton_private.label_problem(agent) is null);
comment on column baton.directive_steps.agent is
  $$The kind of agent the step needs (e.g. claude, codex): its tasks go only to daemons with this label. Null: any daemon.$$;

alter table baton.daemons add column labels text[] not null default '{}';
/* Whether a daemon's labels are valid: at most 32, none null, each a label (label_problem). */
create function baton_private.labels_are_valid(labels text[]) returns boolean
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(cardinality(labels), 0) <= 32 and coalesce(array_ndims(labels), 1) = 1
     and not exists (select 1 from unnest(labels) l where baton_private.label_problem(l) is not null)
$$;
comment on function baton_private.labels_are_valid(text[]) is $$Whether a daemon's labels are valid: at most 32, each a label (see label_problem).$$;
alter table baton.daemons add constraint labels_are_valid check (baton_private.labels_are_valid(labels));
comment on column baton.daemons.labels is
  $$What the daemon offers (`baton daemon run --label claude --label gpu`, set when it connects): it takes only tasks whose step's agent is one of them, or names none. At most 32.$$;

-- The live tasks of a directive (its max_parallel count, and when it was last served), and its pending ones in age order.
create index tasks_directive_live_idx on baton.tasks (directive_id, assigned_at)
  where status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled');
create index tasks_directive_pending_idx on baton.tasks (directive_id, created_at) where status = 'pending';
-- An owner's active directives: those that take turns for its daemons' slots.
create index directives_owner_active_idx on baton.directives (owner_id) where status = 'active';
comment on index baton.tasks_directive_live_idx is $$A directive's tasks that occupy slots: its max_parallel count and its turn (newest assigned_at).$$;
comment on index baton.tasks_directive_pending_idx is $$A directive's tasks waiting for a daemon, oldest first.$$;
comment on index baton.directives_owner_active_idx is $$An owner's active directives, which take turns for its daemons.$$;

-- ---------------------------------------------------------------------------------------------
-- Limit locks and the order of turns.
-- ---------------------------------------------------------------------------------------------

/*
 * Takes the limit locks of an owner and of these directives, for those with a limit: the owner's
 * first, then the directives' in id order. With wait false each is only tried. Returns the
 * directives whose tasks may not be assigned now: those whose lock is held by another transaction,
 * or all of them when the owner's is.
 */
create function baton_private.lock_limits(owner_id uuid, directive_ids uuid[], wait boolean) returns uuid[]
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_skip uuid[] := '{}';
  v_id uuid;
begin
  if (select o.max_parallel from baton.owners o where o.id = lock_limits.owner_id) is not null then
    if wait then
      perform pg_advisory_xact_lock(731042, hashtext(owner_id::text));
    elsif not pg_try_advisory_xact_lock(731042, hashtext(owner_id::text)) then
      return coalesce(directive_ids, '{}');
    end if;
  end if;
  for v_id in select d.id from baton.directives d where d.id = any (directive_ids) and d.max_parallel is not null order by d.id loop
    if wait then
      perform pg_advisory_xact_lock(731043, hashtext(v_id::text));
    elsif not pg_try_advisory_xact_lock(731043, hashtext(v_id::text)) then
      v_skip := v_skip || v_id;
    end if;
  end loop;
  return v_skip;
end;
$$;
comment on function baton_private.lock_limits(uuid, uuid[], boolean) is
  $$Takes (wait) or tries the transaction-level advisory locks that serialise counting against owners.max_parallel and directives.max_parallel, for those set; returns the directives that may not be assigned now (their lock, or the owner's, is held elsewhere).$$;

/*
 * Up to max_tasks pending tasks of the owner's active directives, in the order slots go to them, each
 * with its step's agent and attempt: within what each directive's max_parallel and the owner's leave,
 * dealt one per directive per round, the directive served least recently first (nothing running:
 * first), then priority (higher first), then the task's age. task_ids: only these tasks (null: any of
 * the owner's); skip_directives: left out (their limit locks are held elsewhere); labels: only tasks a
 * daemon with these labels may take (null: any). Counts are read, not locked: callers hold the limit
 * locks (lock_limits) from a statement before.
 */
create function baton_private.tasks_in_turn(owner_id uuid, task_ids uuid[] default null, max_tasks integer default 200,
                                            skip_directives uuid[] default '{}', labels text[] default null)
returns table (task_id uuid, directive_id uuid, agent text, attempt integer, k bigint)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_cap integer;
  v_room integer := max_tasks;
  v_dirs uuid[];
begin
  select o.max_parallel into v_cap from baton.owners o where o.id = tasks_in_turn.owner_id;
  if v_cap is not null then
    v_room := least(v_room, v_cap - (select coalesce(sum(d.live_tasks), 0)::integer from baton.daemons d where d.owner_id = tasks_in_turn.owner_id));
  end if;
  if coalesce(v_room, 0) <= 0 then
    return;
  end if;
  if task_ids is null then
    -- Most refills find nothing waiting: one probe of the owner's pending tasks, and done.
    if not exists (select 1 from baton.tasks t where t.owner_id = tasks_in_turn.owner_id and t.status = 'pending') then
      return;
    end if;
    v_dirs := array(select d.id from baton.directives d where d.owner_id = tasks_in_turn.owner_id and d.status = 'active'
                       and d.id <> all (coalesce(skip_directives, '{}'))
                       and exists (select 1 from baton.tasks t where t.directive_id = d.id and t.status = 'pending'));
  else
    v_dirs := array(select d.id from baton.directives d
                     where d.id in (select t.directive_id from baton.tasks t where t.id = any (task_ids) and t.status = 'pending')
                       and d.owner_id = tasks_in_turn.owner_id and d.status = 'active' and d.id <> all (coalesce(skip_directives, '{}')));
  end if;
  return query
    with dirs as (
           select x.id, x.priority, x.room,
                  (select max(l.assigned_at) from baton.tasks l
                    where l.directive_id = x.id and l.status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled')) as turn
             from (select d.id, d.priority,
                          case when d.max_parallel is null then v_room
                               else least(v_room, d.max_parallel - (select count(*)::integer from (
                                      select 1 from baton.tasks l
                                       where l.directive_id = d.id and l.status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled')
                                       limit d.max_parallel) n)) end as room
                     from baton.directives d where d.id = any (v_dirs)) x
            where x.room > 0),
         -- Each directive's first task that may go (its oldest eligible): the first round's order. With
         -- at least v_room directives, the first v_room of that round are the answer, so only they
         -- are read further (a refill of one slot reads one directive's tasks, not every directive's).
         firsts as (
           select x.id, x.priority, x.room, x.turn, f.created_at, f.id as first_id
             from dirs x
             cross join lateral (
               select t.id, t.created_at
                 from baton.tasks t left join baton.directive_steps s on s.id = t.step_id
                where t.directive_id = x.id and t.status = 'pending'
                  and (task_ids is null or t.id = any (task_ids))
                  and (labels is null or s.agent is null or s.agent = any (labels))
                order by t.created_at, t.id
                limit 1) f
            order by x.turn nulls first, x.priority desc, f.created_at, f.id
            limit v_room),
         cand as (
           select c.id, c.directive_id, c.agent, c.attempt, c.created_at, x.turn, x.priority,
                  row_number() over (partition by x.id order by c.created_at, c.id) as rn
             from firsts x
             cross join lateral (
               select t.id, t.directive_id, s.agent, t.attempt, t.created_at
                 from baton.tasks t left join baton.directive_steps s on s.id = t.step_id
                where t.directive_id = x.id and t.status = 'pending'
                  and (task_ids is null or t.id = any (task_ids))
                  and (labels is null or s.agent is null or s.agent = any (labels))
                order by t.created_at, t.id
                limit x.room) c)
    select c.id, c.directive_id, c.agent, c.attempt,
           row_number() over (order by c.rn, c.turn nulls first, c.priority desc, c.created_at, c.id)
      from cand c
     order by c.rn, c.turn nulls first, c.priority desc, c.created_at, c.id
     limit v_room;
end;
$$;
comment on function baton_private.tasks_in_turn(uuid, uuid[], integer, uuid[], text[]) is
  $$The owner's pending tasks (of active directives; only task_ids when given) in the order free slots go to them, within the directives' and the owner's max_parallel: one per directive per round, the directive served least recently first, then priority (higher first), then age. k is the rank. labels: only tasks a daemon with them may take.$$;

-- ---------------------------------------------------------------------------------------------
-- Assignment, with limits, turns and labels (replacing 000016's).
-- ---------------------------------------------------------------------------------------------

/*
 * As in 000016 (one statement per owner and agent, daemons locked in it with SKIP LOCKED when
 * skip_locked, least loaded first; retries one at a time afterwards), plus: the limit locks are taken
 * after the directives' and before the daemons'; tasks are taken in turn order (tasks_in_turn), within
 * the limits; each agent's tasks go only to daemons with its label.
 */
create or replace function baton_private.assign_tasks(task_ids uuid[], skip_locked boolean default true) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner uuid;
  v_assigned integer := 0;
  v_n integer;
  v_retry uuid;
  v_directives uuid[];
  v_skip uuid[];
  v_agent record;
begin
  if coalesce(cardinality(task_ids), 0) = 0 then
    return 0;
  end if;
  -- LOCK ORDER, directive -> limits -> daemon (see 000016 and this file's header).
  if skip_locked then
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
    v_skip := baton_private.lock_limits(v_owner, v_directives, not skip_locked);
    if not skip_locked then
      perform 1 from baton.daemons d
        where d.owner_id = v_owner and d.status = 'connected' and d.live_tasks < d.max_tasks
          and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
        order by d.id for update;
    end if;
    -- One statement per agent the tasks name, labelled ones first (fewer daemons fit them).
    for v_agent in select distinct s.agent from baton.tasks t left join baton.directive_steps s on s.id = t.step_id
                    where t.id = any (task_ids) and t.owner_id = v_owner and t.status = 'pending'
                    order by s.agent nulls last loop
      with free as (
             select d.id, d.max_tasks - d.live_tasks as room, d.live_tasks, d.last_heartbeat_at from baton.daemons d
              where d.owner_id = v_owner and d.status = 'connected' and d.live_tasks < d.max_tasks
                and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
                and (v_agent.agent is null or v_agent.agent = any (d.labels))
              order by d.live_tasks, d.last_heartbeat_at desc, d.id
              limit cardinality(task_ids) for update skip locked),
           slots as (select f.id, row_number() over (order by g.n, f.live_tasks, f.last_heartbeat_at desc, f.id) as k
                       from free f cross join lateral generate_series(1, f.room) g(n)),
           todo as (select x.id, row_number() over (order by x.k) as k
                      from (select t.id, c.k from baton.tasks t
                              join baton_private.tasks_in_turn(v_owner, task_ids, cardinality(task_ids), v_skip) c on c.task_id = t.id
                             where c.agent is not distinct from v_agent.agent and t.status = 'pending'
                               and (coalesce(t.attempt, 1) = 1
                                    or not exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = t.step_id and f.id <> t.id
                                                     and baton_private.task_attempt_failed(f.status) and f.daemon_id is not null))
                             order by c.k
                             limit (select coalesce(sum(f.room), 0) from free f)
                             for update of t skip locked) x)
      update baton.tasks t set status = 'starting', daemon_id = s.id
        from todo join slots s on s.k = todo.k
       where t.id = todo.id and t.status = 'pending';
      get diagnostics v_n = row_count;
      v_assigned := v_assigned + v_n;
    end loop;
    -- Retries, one at a time, never waiting (see 000016).
    for v_retry in
      select t.id from baton.tasks t
       where t.id = any (task_ids) and t.owner_id = v_owner and t.status = 'pending' and t.directive_id = any (v_directives)
         and t.directive_id <> all (v_skip)
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
  $$Assigns the given pending tasks (of active directives) to their owners' daemons with room, in one statement per owner and agent: in turn order (round-robin over directives, then priority), within the directives' and owners' max_parallel, each to a daemon with its step's agent among its labels, spreading them over the least loaded daemons. skip_locked: skip directive, limit, daemon and task locks other transactions hold instead of waiting (the caller retries). Returns how many were assigned.$$;

/*
 * What is left of these tasks after an assignment round: how many still wait in an active directive,
 * and whether one of them could go somewhere by the committed counters: a daemon of its owner with
 * room and its agent's label, and room under its directive's and owner's max_parallel. A dispatcher
 * retries while both are true.
 */
create or replace function baton_private.pending_with_room(task_ids uuid[]) returns table (pending integer, room boolean)
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  with p as (select t.owner_id, t.directive_id, dr.max_parallel, s.agent
               from baton.tasks t join baton.directives dr on dr.id = t.directive_id and dr.status = 'active'
               left join baton.directive_steps s on s.id = t.step_id
              where t.id = any (task_ids) and t.status = 'pending'),
       g as (select distinct p.owner_id, p.directive_id, p.max_parallel, p.agent from p)
  select (select count(*) from p)::integer,
         exists (select 1 from g
                  where exists (select 1 from baton.daemons d
                                 where d.owner_id = g.owner_id and d.status = 'connected' and d.live_tasks < d.max_tasks
                                   and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
                                   and (g.agent is null or g.agent = any (d.labels)))
                    and (g.max_parallel is null
                         or (select count(*) from (select 1 from baton.tasks l
                                                    where l.directive_id = g.directive_id
                                                      and l.status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled')
                                                    limit g.max_parallel) n) < g.max_parallel)
                    and coalesce((select o.max_parallel - (select coalesce(sum(d.live_tasks), 0) from baton.daemons d where d.owner_id = o.id)
                                    from baton.owners o where o.id = g.owner_id), 1) > 0);
$$;
comment on function baton_private.pending_with_room(uuid[]) is
  $$How many of these tasks still wait in an active directive, and whether one of them has somewhere to go (a daemon of its owner with room and its step's agent among its labels, room under its directive's and owner's max_parallel): a dispatcher retries while both hold.$$;

/*
 * One task, choosing its daemon: connected, within its lease, with room and the step's agent among
 * its labels, within the directive's and owner's max_parallel, not one this step already failed on if
 * another will do, then the least loaded.
 */
create or replace function baton_private.assign_one_task(task_id uuid, skip_locked boolean default true) returns boolean
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task baton.tasks;
  v_agent text;
  v_daemon uuid;
begin
  select * into v_task from baton.tasks t where t.id = assign_one_task.task_id and t.status = 'pending';
  if not found or (select dr.status from baton.directives dr where dr.id = v_task.directive_id) <> 'active' then
    return false;
  end if;
  if cardinality(baton_private.lock_limits(v_task.owner_id, array[v_task.directive_id], not skip_locked)) > 0 then
    return false;  -- its limit lock is held elsewhere: the holder, or the next dispatch, sees to it
  end if;
  if not exists (select 1 from baton_private.tasks_in_turn(v_task.owner_id, array[v_task.id], 1) c) then
    return false;  -- at its directive's or owner's max_parallel
  end if;
  select s.agent into v_agent from baton.directive_steps s where s.id = v_task.step_id;
  select d.id into v_daemon from baton.daemons d
     where d.owner_id = v_task.owner_id and d.status = 'connected' and d.live_tasks < d.max_tasks
       and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
       and (v_agent is null or v_agent = any (d.labels))
     order by exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = v_task.step_id and f.daemon_id = d.id
                       and baton_private.task_attempt_failed(f.status)),
              d.live_tasks, d.last_heartbeat_at desc, d.id
     limit 1 for update skip locked;
  if v_daemon is null and not skip_locked then
    select d.id into v_daemon from baton.daemons d
     where d.owner_id = v_task.owner_id and d.status = 'connected' and d.live_tasks < d.max_tasks
       and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
       and (v_agent is null or v_agent = any (d.labels))
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
  $$Assigns one pending task to the best daemon of its owner with room and its step's agent among its labels (preferring one its step has not failed on, then the least loaded), within its directive's and owner's max_parallel. Returns whether it did.$$;

/*
 * Gives up to `room` of the owner's waiting tasks to this daemon, whose row the caller holds, in turn
 * order (tasks_in_turn: round-robin over directives, then priority, then age), within the limits, and
 * only tasks whose agent the daemon has. Never waits: limit locks, directives and task rows other
 * transactions hold are left for the next dispatch (the caller queues one when room is left). A retry
 * of a step that failed on this daemon is left to dispatch_pending. Returns how many it assigned.
 */
create or replace function baton_private.refill_daemon(daemon_id uuid, owner_id uuid, room integer) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_labels text[];
  v_skip uuid[];
  v_n integer;
begin
  -- Most slots freed find nothing waiting: one probe of the owner's pending tasks, and done.
  if room <= 0 or not exists (select 1 from baton.tasks t where t.owner_id = refill_daemon.owner_id and t.status = 'pending') then
    return 0;
  end if;
  select d.labels into v_labels from baton.daemons d where d.id = refill_daemon.daemon_id;
  v_skip := baton_private.lock_limits(owner_id,
              array(select d.id from baton.directives d where d.owner_id = refill_daemon.owner_id and d.status = 'active' and d.max_parallel is not null),
              false);
  with todo as (
         select t.id from baton.tasks t
           join baton_private.tasks_in_turn(refill_daemon.owner_id, null, room, v_skip, v_labels) c on c.task_id = t.id
          where t.status = 'pending'
            and (coalesce(t.attempt, 1) = 1
                 or not exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = t.step_id and f.daemon_id = refill_daemon.daemon_id
                                  and baton_private.task_attempt_failed(f.status)))
          order by c.k
          limit room
          for update of t skip locked)
  update baton.tasks t set status = 'starting', daemon_id = refill_daemon.daemon_id
    from todo where t.id = todo.id and t.status = 'pending';
  get diagnostics v_n = row_count;
  return v_n;
end;
$$;
comment on function baton_private.refill_daemon(uuid, uuid, integer) is
  $$Assigns up to `room` of the owner's waiting tasks to a daemon that just freed slots (the caller holds its row): in turn order (round-robin over directives, then priority), within the limits, only tasks whose step's agent is among its labels; skips rows and limit locks other transactions hold. Returns how many.$$;

/* The API name: as in 000016 (the directive lock first, then waiting for a daemon), with the limits and labels of assign_one_task. */
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
    return v_task;
  end if;
  if v_directive.status <> 'active' then
    return null;
  end if;
  if baton_private.assign_one_task(v_task.id, false) then
    select * into v_task from baton.tasks t where t.id = assign_task.task_id;
    return v_task;
  end if;
  return null;
end;
$$;
comment on function baton.assign_task(uuid) is
  $$Assigns a pending task to a connected daemon of its owner with room and its step's agent among its labels (preferring one its step has not failed on, then the least loaded), within its directive's and owner's max_parallel; marks it starting and NOTIFYs the daemon. Returns null when it cannot go anywhere now; the task then waits and is dispatched when room appears.$$;

-- ---------------------------------------------------------------------------------------------
-- Setting limits, priority and labels.
-- ---------------------------------------------------------------------------------------------

/* Only an owner (or an admin) sets limits and priorities: not an agent, not a daemon. */
create function baton_private.assert_owner_sets(what text) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if baton_private.current_api_role() in ('baton_agent', 'baton_daemon') then
    raise exception 'Only the owner can set %.', what using errcode = 'BTDNY', hint = 'Use an owner token (`baton token create`).';
  end if;
end;
$$;
comment on function baton_private.assert_owner_sets(text) is $$Raises BTDNY for agent and daemon tokens: limits and priorities are the owner's to set.$$;

create function baton_private.assert_max_parallel(max_parallel integer, max_value integer) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if max_parallel is not null and (max_parallel < 1 or max_parallel > max_value) then
    raise exception 'max_parallel must be a whole number from 1 to % (got %).', max_value, max_parallel
      using errcode = 'BTINV', hint = 'Give null (--max-parallel none) for no limit.';
  end if;
end;
$$;
comment on function baton_private.assert_max_parallel(integer, integer) is $$Raises BTINV unless max_parallel is null or 1 to max_value.$$;

create function baton.set_directive_max_parallel(directive_id uuid, max_parallel integer) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
begin
  perform baton_private.assert_owner_sets('a directive''s max_parallel');
  v_directive := baton_private.lock_directive(directive_id);
  perform baton_private.assert_max_parallel(max_parallel, 10000);
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its max_parallel cannot be changed; only draft, active, paused or idle directives can.', v_directive.id
      using errcode = 'BTSTS', hint = 'Create a new directive instead.';
  end if;
  update baton.directives d set max_parallel = set_directive_max_parallel.max_parallel where d.id = v_directive.id
  returning * into v_directive;
  perform baton_private.record_event(v_directive.owner_id, v_directive.id, 'directive', v_directive.id, 'limits_updated',
    v_directive.status::text, v_directive.status::text, jsonb_build_object('max_parallel', v_directive.max_parallel));
  -- A higher limit (or none) lets waiting tasks go: they are queued for assignment.
  perform baton_private.enqueue_dispatch_tasks(array(
    select t.id from baton.tasks t where t.directive_id = v_directive.id and t.status = 'pending'));
  return v_directive;
end;
$$;
comment on function baton.set_directive_max_parallel(uuid, integer) is
  $$Sets how many of a directive's tasks may occupy daemon slots at once (1 to 10,000; null: no limit). Running tasks beyond a lowered limit finish; no new one starts until the directive is under it. Owner only.$$;

create function baton.set_directive_priority(directive_id uuid, priority integer) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
begin
  perform baton_private.assert_owner_sets('a directive''s priority');
  v_directive := baton_private.lock_directive(directive_id);
  if priority is null or priority < -1000 or priority > 1000 then
    raise exception 'priority must be a whole number from -1000 to 1000 (got %).', coalesce(priority::text, 'none')
      using errcode = 'BTINV', hint = 'Higher goes first among directives that have waited equally long; the default is 0.';
  end if;
  update baton.directives d set priority = set_directive_priority.priority where d.id = v_directive.id
  returning * into v_directive;
  perform baton_private.record_event(v_directive.owner_id, v_directive.id, 'directive', v_directive.id, 'limits_updated',
    v_directive.status::text, v_directive.status::text, jsonb_build_object('priority', v_directive.priority));
  return v_directive;
end;
$$;
comment on function baton.set_directive_priority(uuid, integer) is
  $$Sets a directive's priority (-1000 to 1000, default 0): among directives that have waited equally long for a daemon slot, the higher goes first. Owner only.$$;

create function baton.set_owner_max_parallel(max_parallel integer, owner_id uuid default null) returns baton.owners
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner baton.owners;
begin
  perform baton_private.assert_owner_sets('the owner''s max_parallel');
  perform baton_private.assert_max_parallel(max_parallel, 100000);
  update baton.owners o set max_parallel = set_owner_max_parallel.max_parallel
   where o.id = baton_private.resolve_owner(set_owner_max_parallel.owner_id)
  returning * into v_owner;
  perform baton_private.enqueue_dispatch_pending(v_owner.id);
  return v_owner;
end;
$$;
comment on function baton.set_owner_max_parallel(integer, uuid) is
  $$Sets how many of the owner's tasks may occupy daemon slots at once, over all its directives (1 to 100,000; null: no limit). owner_id only for direct SQL: API callers set their own. Owner only (not agents or daemons).$$;

create function baton.set_daemon_labels(daemon_id uuid, labels text[]) returns baton.daemons
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon baton.daemons;
  v_bad text;
begin
  perform baton_private.assert_daemon_access(daemon_id);
  select l into v_bad from unnest(coalesce(labels, '{}')) l where baton_private.label_problem(l) is not null limit 1;
  if found then
    raise exception 'The label % is not valid: %.', coalesce(to_jsonb(v_bad)::text, 'null'), baton_private.label_problem(v_bad)
      using errcode = 'BTINV', hint = 'For example --label claude --label gpu.';
  end if;
  if (select count(distinct l) from unnest(coalesce(labels, '{}')) l) > 32 then
    raise exception 'A daemon has at most 32 labels (got %).', (select count(distinct l) from unnest(labels) l) using errcode = 'BTINV';
  end if;
  update baton.daemons d set labels = array(select distinct l from unnest(coalesce(set_daemon_labels.labels, '{}')) l order by 1)
   where d.id = set_daemon_labels.daemon_id
  returning * into v_daemon;
  -- Tasks that waited for one of these labels may go now.
  perform baton_private.enqueue_dispatch_pending(v_daemon.owner_id, v_daemon.id);
  return v_daemon;
end;
$$;
comment on function baton.set_daemon_labels(uuid, text[]) is
  $$Sets what a daemon offers (replacing its labels; empty: none): it takes tasks whose step names one of them as its agent, and tasks that name none. `baton daemon run --label` calls it when it connects. The daemon itself or its owner.$$;

grant execute on function baton.set_directive_max_parallel(uuid, integer), baton.set_directive_priority(uuid, integer),
  baton.set_owner_max_parallel(integer, uuid) to baton_user;
grant execute on function baton.set_daemon_labels(uuid, text[]) to baton_user, baton_daemon;

-- ---------------------------------------------------------------------------------------------
-- Steps name their agent.
-- ---------------------------------------------------------------------------------------------

alter function baton.batch_add_steps(uuid, jsonb) rename to batch_add_steps_without_agent;
alter function baton.batch_add_steps_without_agent(uuid, jsonb) set schema baton_private;
revoke all on function baton_private.batch_add_steps_without_agent(uuid, jsonb) from public, baton_user, baton_agent;
comment on function baton_private.batch_add_steps_without_agent(uuid, jsonb) is
  $$batch_add_steps as the migrations before 000026 left it; baton.batch_add_steps wraps it and adds each entry's "agent".$$;

create function baton.batch_add_steps(directive_id uuid, steps jsonb) returns setof baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bad record;
  v_row baton.directive_steps;
  v_rows baton.directive_steps[] := '{}';
  v_ids uuid[] := '{}';
begin
  if steps is not null and jsonb_typeof(steps) = 'array' then
    -- GUARD: each agent is a label (or null).
    select e.ord into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord)
     where jsonb_typeof(e.v) = 'object' and e.v ? 'agent' and jsonb_typeof(e.v -> 'agent') <> 'null'
       and (jsonb_typeof(e.v -> 'agent') <> 'string' or baton_private.label_problem(e.v ->> 'agent') is not null)
     order by e.ord limit 1;
    if found then
      raise exception 'Entry % has an invalid "agent": it must be a label of 1 to 64 characters (letters, digits, ".", "_", "-" or ":"), e.g. "claude".', v_bad.ord
        using errcode = 'BTINV';
    end if;
  end if;
  -- The rows as the earlier version returns them, in order (a reviewing planner's are its proposal's,
  -- not live steps: they are returned as they are).
  for v_row in
    select * from baton_private.batch_add_steps_without_agent(directive_id,
           case when jsonb_typeof(steps) = 'array'
                then coalesce((select jsonb_agg(case when jsonb_typeof(e.v) = 'object' then e.v - 'agent' else e.v end order by e.ord)
                                 from jsonb_array_elements(steps) with ordinality e(v, ord)), '[]'::jsonb)
                else steps end)
  loop
    v_rows := v_rows || v_row;
    v_ids := v_ids || v_row.id;
  end loop;
  -- The agents of live steps, in one statement, before the transaction commits: no dispatch sees a step without it.
  update baton.directive_steps s set agent = e.v ->> 'agent'
    from jsonb_array_elements(steps) with ordinality e(v, ord)
   where s.id = v_ids[e.ord] and jsonb_typeof(e.v -> 'agent') = 'string';
  foreach v_row in array v_rows loop
    return next coalesce((select s from baton.directive_steps s where s.id = v_row.id and s.agent is distinct from v_row.agent), v_row);
  end loop;
end;
$$;
comment on function baton.batch_add_steps(uuid, jsonb) is
  $$Adds steps atomically from a JSON array of {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?, "timeout"?, "stall"?, "agent"?}. A dependsOn entry is a step id of this directive or the key of another entry of the batch (earlier or later). "check" is a shell command run after the step's agent exits 0; the step completes only if it passes. "timeout" and "stall" limit each attempt of the step ("30m", "1h30m" or seconds). "agent" names the kind of agent the step needs (e.g. "claude"): only daemons with that label take it. Cycles, unknown ids and bad fields reject the whole batch. Returns the new steps in input order.$$;
grant execute on function baton.batch_add_steps(uuid, jsonb) to baton_user, baton_agent;

/* As in 000019, plus agent (last, so positional callers keep working). */
drop function baton.add_step(uuid, text, text, text, uuid[], integer, text, integer, integer);
create function baton.add_step(
  directive_id uuid, name text, description text default null, task_plan text default null,
  depends_on uuid[] default null, order_index integer default null, check_command text default null,
  timeout_seconds integer default null, stall_seconds integer default null, agent text default null
) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps;
begin
  perform baton_private.assert_check(check_command);
  perform baton_private.assert_limit('timeout', add_step.timeout_seconds);
  perform baton_private.assert_limit('stall limit', add_step.stall_seconds);
  if agent is not null and baton_private.label_problem(agent) is not null then
    raise exception 'The agent % is not valid: %.', to_jsonb(agent)::text, baton_private.label_problem(agent)
      using errcode = 'BTINV', hint = 'For example claude or codex: daemons started with that --label take the step.';
  end if;
  select * into v_step from baton.batch_add_steps(add_step.directive_id, jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
    'name', add_step.name, 'description', add_step.description, 'taskPlan', add_step.task_plan,
    'dependsOn', to_jsonb(add_step.depends_on), 'orderIndex', add_step.order_index, 'check', add_step.check_command,
    'timeout', add_step.timeout_seconds, 'stall', add_step.stall_seconds, 'agent', add_step.agent))));
  return v_step;
end;
$$;
comment on function baton.add_step(uuid, text, text, text, uuid[], integer, text, integer, integer, text) is
  $$Adds one step that depends on existing steps of the same directive; check_command is its own check (replacing the directive's); timeout_seconds and stall_seconds (1 to 2,592,000) limit each of its attempts; agent names the kind of agent it needs (only daemons with that label take it). Returns the new step.$$;
grant execute on function baton.add_step(uuid, text, text, text, uuid[], integer, text, integer, integer, text) to baton_user, baton_agent;

-- ---------------------------------------------------------------------------------------------
-- Why a ready step waits: step_waits.
-- ---------------------------------------------------------------------------------------------

/*
 * Why a ready step's next attempt cannot go to a daemon now, or null: no connected daemon of its
 * owner has its agent's label, or its directive or owner runs its max_parallel. SECURITY DEFINER (an
 * agent cannot read daemons), answering only for the caller's own steps.
 */
create function baton_private.step_dispatch_problem(step_id uuid) returns text
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps;
  v_directive baton.directives;
  v_cap integer;
  v_live integer;
begin
  select * into v_step from baton.directive_steps s where s.id = step_dispatch_problem.step_id;
  if not found or v_step.status <> 'ready'
     or (baton_private.current_api_role() <> 'admin' and v_step.owner_id is distinct from baton_private.current_owner_id()) then
    return null;
  end if;
  if v_step.agent is not null and not exists (
       select 1 from baton.daemons d where d.owner_id = v_step.owner_id and d.status = 'connected'
          and d.last_heartbeat_at >= now() - baton_private.daemon_lease() and v_step.agent = any (d.labels)) then
    return format('no connected daemon has label %s', v_step.agent);
  end if;
  select * into v_directive from baton.directives d where d.id = v_step.directive_id;
  if v_directive.max_parallel is not null then
    select count(*)::integer into v_live from baton.tasks l
     where l.directive_id = v_directive.id and l.status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled');
    if v_live >= v_directive.max_parallel then
      return format('its directive runs %s tasks, its max_parallel', v_live);
    end if;
  end if;
  select o.max_parallel into v_cap from baton.owners o where o.id = v_step.owner_id;
  if v_cap is not null then
    select coalesce(sum(d.live_tasks), 0)::integer into v_live from baton.daemons d where d.owner_id = v_step.owner_id;
    if v_live >= v_cap then
      return format('its owner runs %s tasks, the owner''s max_parallel', v_live);
    end if;
  end if;
  return null;
end;
$$;
comment on function baton_private.step_dispatch_problem(uuid) is
  $$Why a ready step cannot go to a daemon now (no connected daemon has its agent's label; its directive or owner is at max_parallel), or null. Only for the caller's own steps.$$;
grant execute on function baton_private.step_dispatch_problem(uuid) to baton_user, baton_agent;

create or replace view baton.step_waits with (security_invoker = true) as
select s.id as step_id,
       s.directive_id,
       s.owner_id,
       s.name as step_name,
       s.status as step_status,
       p.id as waits_for_step_id,
       p.name as waits_for_name,
       p.status as waits_for_status,
       format('waits for step %s (%s)', p.name, p.status) as reason
  from baton.directive_steps s
  join baton.step_dependencies d on d.step_id = s.id
  join baton.directive_steps p on p.id = d.depends_on_step_id
 where s.status in ('pending', 'blocked')
   and not baton_private.step_satisfies_dependents(p.status)
union all
select s.id, s.directive_id, s.owner_id, s.name, s.status, null, null, null, r.reason
  from baton.directive_steps s
  cross join lateral (select baton_private.step_dispatch_problem(s.id) as reason) r
 where s.status = 'ready' and r.reason is not null;

comment on view baton.step_waits is
  $$Why steps wait: for every pending or blocked step, each dependency it still waits for and that dependency's status; for every ready step that cannot go to a daemon now, the reason (e.g. "no connected daemon has label codex").$$;
comment on column baton.step_waits.step_status is $$pending or blocked (waiting for a dependency), or ready (waiting for a daemon).$$;
comment on column baton.step_waits.waits_for_step_id is $$A dependency that is not completed or skipped (null on a ready step's row).$$;
comment on column baton.step_waits.reason is
  $$Why the step waits, in words: "waits for step NAME (STATUS)", "no connected daemon has label LABEL", or that its directive or owner runs its max_parallel.$$;
