/*
 * Timeouts, stalls and cancel (issue 11 point 4).
 *
 * A hung agent used to hold its daemon slot forever. Now a directive and each of its steps may carry
 * two limits on one attempt (a task), in seconds:
 *   - timeout_seconds: wall clock, from the moment the task became `running` (the daemon took it,
 *     before its worktree was prepared);
 *   - stall_seconds: no output stored for that long (the time of the task's last output chunk in
 *     baton.task_output, or the task's started_at while it has none).
 * A step's value overrides its directive's; null means the step inherits it, and a directive's null
 * means no limit. Planning tasks follow the directive's limits. Seconds, not intervals: GraphQL and
 * the JSON of batch_add_steps carry a plain integer, and the CLI turns "30m" into 1800.
 *
 * Both are enforced by the server, not the daemon: expire_tasks() is one set-based sweep that the
 * worker runs every few seconds (BATON_SWEEP_MS, beside expire_daemons). It marks every running task
 * past a limit `interrupted` in one UPDATE, with the reason as its error ("Timed out after 30m (the
 * step's timeout)."). The task state machine does the rest, as for any interrupted attempt: the step
 * is ready again while attempts are left (failed otherwise), a planner's directive pauses, and
 * tg_tasks__notify_daemon sends the daemon `interrupt_task`, on which it kills the agent's process
 * group (SIGTERM, then SIGKILL after its --grace).
 *
 * A task whose output reached the 1 MiB cap (its last chunk is the `baton` truncation marker) is never
 * counted as stalled: its later output is dropped, so silence says nothing. Its timeout still applies.
 *
 * Stopping attempts by hand:
 *   - cancel_task(task, retry => false): the attempt is cancelled (it is given back) and its step is
 *     failed by hand, so it does not run again until retry-step (its dependents wait, blocked);
 *   - cancel_task(task, retry => true): cancelled, and its step is ready again at once;
 *   - pause_directive(directive, interrupt => true): pauses and interrupts the running attempts, whose
 *     attempts are given back: they run again when the directive is resumed.
 */

alter table baton.directives
  add column timeout_seconds integer,
  add column stall_seconds integer,
  add constraint timeout_seconds_is_valid check (timeout_seconds is null or timeout_seconds between 1 and 2592000),
  add constraint stall_seconds_is_valid check (stall_seconds is null or stall_seconds between 1 and 2592000);
comment on column baton.directives.timeout_seconds is
  $$The longest an attempt (a task) of this directive may run, in seconds (1 to 2,592,000 = 30 days), unless its step sets its own; null for no limit. An attempt past it is interrupted and its step retried under the usual rules.$$;
comment on column baton.directives.stall_seconds is
  $$How long an attempt of this directive may go without writing output, in seconds (1 to 2,592,000), unless its step sets its own; null for no limit. A stalled attempt is interrupted and its step retried under the usual rules.$$;

alter table baton.directive_steps
  add column timeout_seconds integer,
  add column stall_seconds integer,
  add constraint timeout_seconds_is_valid check (timeout_seconds is null or timeout_seconds between 1 and 2592000),
  add constraint stall_seconds_is_valid check (stall_seconds is null or stall_seconds between 1 and 2592000);
comment on column baton.directive_steps.timeout_seconds is
  $$The longest one attempt of this step may run, in seconds (1 to 2,592,000 = 30 days); null to use its directive's timeout.$$;
comment on column baton.directive_steps.stall_seconds is
  $$How long one attempt of this step may go without writing output, in seconds (1 to 2,592,000); null to use its directive's.$$;

/*
 * Durations as people write them: "90s", "30m", "2h", "1h30m", "1d", or a number of seconds. The CLI
 * parses the same grammar (src/duration.ts); batch_add_steps reads it from JSON written by agents.
 * Returns null for anything else; callers say what was wrong.
 */
create function baton_private.try_duration_seconds(value text) returns bigint
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when v ~ '^[0-9]{1,9}$' then v::bigint
    when v ~ '^([0-9]{1,9}[dhms])+$' then
      (select sum(m[1]::bigint * case m[2] when 'd' then 86400 when 'h' then 3600 when 'm' then 60 else 1 end)
         from regexp_matches(v, '([0-9]+)([dhms])', 'g') m)
    end
  from (select lower(regexp_replace(value, '\s', '', 'g')) as v) x
$$;
comment on function baton_private.try_duration_seconds(text) is
  $$Seconds in a duration such as "90s", "30m", "2h", "1h30m", "1d" or "45" (seconds); null when the text is not one.$$;

/* "1h30m", "2s", "1d": how messages show a number of seconds. */
create function baton_private.format_duration(seconds integer) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(nullif(concat(
    case when seconds >= 86400 then (seconds / 86400)::text || 'd' end,
    case when seconds % 86400 >= 3600 then (seconds % 86400 / 3600)::text || 'h' end,
    case when seconds % 3600 >= 60 then (seconds % 3600 / 60)::text || 'm' end,
    case when seconds % 60 > 0 then (seconds % 60)::text || 's' end), ''), '0s')
$$;
comment on function baton_private.format_duration(integer) is $$Shows seconds as a duration: 90 -> "1m30s", 1800 -> "30m", 86400 -> "1d".$$;

/* Raises BTINV unless a limit given to an API function is 0 (remove it), null (leave it) or 1 s to 30 days. */
create function baton_private.assert_limit(what text, seconds integer, allow_zero boolean default false) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if seconds is not null and not (seconds between 1 and 2592000 or (allow_zero and seconds = 0)) then
    raise exception 'The % must be between 1 second and 30 days (2592000 seconds)%; got %.', what,
      case when allow_zero then ', or 0 to remove it' else '' end, seconds
      using errcode = 'BTINV', hint = 'The CLI takes durations such as --timeout 30m or --stall 5m.';
  end if;
end;
$$;
comment on function baton_private.assert_limit(text, integer, boolean) is
  $$Raises BTINV naming the limit unless it is null, 1 to 2,592,000 seconds, or 0 where removing it is allowed.$$;

/*
 * THE SWEEP. Every running (or checking: its check counts towards the attempt) task past its timeout
 * or stall limit, with the reason it is stopped. The limits are read at sweep time (changing a
 * directive's limits applies to its running attempts too). Tasks still `starting` are not looked at:
 * their clock has not started, and one stuck there is the lease's business (heartbeat).
 * Cost: the running tasks (the tasks_daemon_live_idx partial index), and for those with a stall limit
 * one probe of task_output_task_seq_idx for their last chunk; never the finished history.
 */
create function baton_private.overdue_tasks(now timestamptz) returns table (task_id uuid, directive_id uuid, reason text)
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select t.id, t.directive_id,
         case when l.timeout_seconds is not null and t.started_at <= overdue_tasks.now - make_interval(secs => l.timeout_seconds)
              then format('Timed out after %s (the %s''s timeout).', baton_private.format_duration(l.timeout_seconds), l.timeout_from)
              else format('Stalled: no output for %s (the %s''s stall limit).', baton_private.format_duration(l.stall_seconds), l.stall_from) end
    from baton.tasks t
    join baton.directives d on d.id = t.directive_id
    left join baton.directive_steps s on s.id = t.step_id
    cross join lateral (
      select coalesce(s.timeout_seconds, d.timeout_seconds) as timeout_seconds,
             case when s.timeout_seconds is not null then 'step' else 'directive' end as timeout_from,
             coalesce(s.stall_seconds, d.stall_seconds) as stall_seconds,
             case when s.stall_seconds is not null then 'step' else 'directive' end as stall_from) l
    left join lateral (
      select o.created_at, o.stream from baton.task_output o where o.task_id = t.id order by o.seq desc limit 1) last_chunk
      on l.stall_seconds is not null
   where baton_private.task_occupies_slot(t.status) and t.status <> 'starting'
     and ((l.timeout_seconds is not null and t.started_at <= overdue_tasks.now - make_interval(secs => l.timeout_seconds))
          or (l.stall_seconds is not null and last_chunk.stream is distinct from 'baton'
              and coalesce(last_chunk.created_at, t.started_at) <= overdue_tasks.now - make_interval(secs => l.stall_seconds)))
$$;
comment on function baton_private.overdue_tasks(timestamptz) is
  $$Every running or checking task past its timeout (started_at older than the limit) or stalled (no output chunk for the stall limit, counted from started_at when it has none; never once its output was truncated), with the reason: "Timed out after 30m (the step's timeout)." or "Stalled: no output for 5m (the directive's stall limit)."$$;

/*
 * LOCK ORDER: the directives of the overdue tasks first, in id order (as expire_daemons and
 * heartbeat take them), then the one UPDATE of the tasks, whose mirror trigger locks each task's
 * step. Tasks are re-checked under the locks: one that wrote output or ended meanwhile is spared.
 */
create function baton.expire_tasks(now timestamptz default now()) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directives uuid[];
  v_count integer;
begin
  -- PHASE 1: lock the directives concerned, as lock_directive does (FOR NO KEY UPDATE: inserted events'
  -- foreign key checks do not wait for it).
  select coalesce(array_agg(d.id order by d.id), '{}') into v_directives
    from (select d.id from baton.directives d
           where d.id in (select o.directive_id from baton_private.overdue_tasks(expire_tasks.now) o)
           order by d.id for no key update) d;
  if cardinality(v_directives) = 0 then
    return 0;
  end if;
  -- PHASE 2: one statement for every overdue task; the state machine retries, fails or pauses.
  update baton.tasks t set status = 'interrupted', error = o.reason
    from baton_private.overdue_tasks(expire_tasks.now) o
   where t.id = o.task_id and t.directive_id = any (v_directives) and baton_private.task_occupies_slot(t.status) and t.status <> 'starting';
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function baton.expire_tasks(timestamptz) is
  $$The timeout and stall sweep: marks every running or checking task past its timeout, or without output for its stall limit, `interrupted` with the reason as its error, in one statement; its daemon is told to stop the agent and its step is retried under the usual rules. Returns how many tasks it interrupted. The worker runs it every BATON_SWEEP_MS (default 5 s); idempotent.$$;

/* Sets or removes a directive's limits: null leaves one as it is, 0 removes it. */
create function baton.set_directive_limits(directive_id uuid, timeout_seconds integer default null, stall_seconds integer default null)
returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  perform baton_private.assert_limit('timeout', timeout_seconds, allow_zero => true);
  perform baton_private.assert_limit('stall limit', stall_seconds, allow_zero => true);
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its limits cannot be changed; only draft, active, paused or idle directives can.', v_directive.id
      using errcode = 'BTSTS', hint = 'Create a new directive instead.';
  end if;
  update baton.directives d
     set timeout_seconds = case set_directive_limits.timeout_seconds when 0 then null else coalesce(set_directive_limits.timeout_seconds, d.timeout_seconds) end,
         stall_seconds = case set_directive_limits.stall_seconds when 0 then null else coalesce(set_directive_limits.stall_seconds, d.stall_seconds) end
   where d.id = v_directive.id
  returning * into v_directive;
  perform baton_private.record_event(v_directive.owner_id, v_directive.id, 'directive', v_directive.id, 'limits_updated',
    v_directive.status::text, v_directive.status::text,
    jsonb_build_object('timeout_seconds', v_directive.timeout_seconds, 'stall_seconds', v_directive.stall_seconds));
  return v_directive;
end;
$$;
comment on function baton.set_directive_limits(uuid, integer, integer) is
  $$Sets a directive's timeout and stall limit in seconds (1 to 2,592,000): null leaves a limit as it is, 0 removes it. The limits apply to running attempts too, at the server's next sweep.$$;

/*
 * Stops one attempt by hand. Cancelled gives the attempt back (the state machine's rule). Without
 * retry the user wants the step stopped, not re-run behind their back: it is failed by hand (its
 * dependents wait, blocked) until retry-step or skip-step. With retry it is ready again at once.
 * A planner stopped without retry pauses its directive (the state machine's rule for planners); with
 * retry the directive is resumed at once, which plans again.
 * LOCK ORDER: the directive, then the step, then the task.
 */
create function baton.cancel_task(task_id uuid, retry boolean default false) returns baton.tasks
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task baton.tasks;
  v_directive baton.directives;
begin
  -- GUARD: another owner's task is answered like a missing one, before lock_directive could name its directive.
  select * into v_task from baton.tasks t where t.id = cancel_task.task_id;
  if not found or (baton_private.current_api_role() <> 'admin' and v_task.owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Task % does not exist.', task_id
      using errcode = 'BTNFD', hint = 'See the tasks of a directive with `baton directive status`.';
  end if;
  v_directive := baton_private.lock_directive(v_task.directive_id);
  perform 1 from baton.directive_steps s where s.id = v_task.step_id for update;
  select * into v_task from baton.tasks t where t.id = cancel_task.task_id for update;
  if not baton_private.task_is_live(v_task.status) then
    raise exception 'Task % is %, so it cannot be cancelled; only % tasks can.', v_task.id, v_task.status,
      baton_private.or_list(array(select x from unnest(baton_private.task_statuses()) x where baton_private.task_is_live(x::baton.task_status)))
      using errcode = 'BTSTS', detail = format('from=%s to=cancelled', v_task.status),
            hint = case when v_task.kind = 'planning' then 'To plan again, resume the directive with `baton directive start`.'
                        when exists (select 1 from baton.directive_steps s where s.id = v_task.step_id and baton_private.step_blocks_dependents(s.status))
                          then 'To run its step again, use `baton directive retry-step ' || v_task.step_id || '`.'
                        else 'Only a live attempt can be stopped; `baton directive status --json` shows each step''s current one (currentTask).' end;
  end if;
  update baton.tasks t
     set status = 'cancelled',
         error = case when retry then 'Cancelled by hand (baton task cancel --retry); the step runs again.'
                      else 'Cancelled by hand (baton task cancel).' end
   where t.id = v_task.id
  returning * into v_task;
  if v_task.kind = 'execution' and not retry then
    -- The mirror made the step ready again; stopped by hand, it waits for retry-step instead.
    update baton.directive_steps s set status = 'failed'
     where s.id = v_task.step_id and s.current_task_id = v_task.id and s.status = 'ready';
  elsif v_task.kind = 'planning' and retry and v_directive.status = 'active' then
    -- The mirror paused the directive, as for any planner that did not complete: resume it, which plans again.
    perform baton_private.transition_directive(baton_private.lock_directive(v_directive.id), 'active', 'resumed', allowed => array['paused']);
  end if;
  select * into v_task from baton.tasks t where t.id = v_task.id;
  return v_task;
end;
$$;
comment on function baton.cancel_task(uuid, boolean) is
  $$Stops one live (pending, starting, running or checking) task: it becomes `cancelled` (its attempt is given back) and its daemon is told to stop the agent. Without retry its step is failed by hand (dependents stay blocked until retry-step or skip-step); with retry => true the step is ready again at once. A cancelled planner pauses its directive; with retry the directive is resumed and planned again.$$;

/*
 * pause_directive gains `interrupt`: also stop what runs now. The running attempts end `interrupted`
 * (stopped from outside, as the daemon sees it), but their attempts are given back first, since the
 * pause was the user's and not the agent's failure: every one of them runs again on resume, even a
 * step on its last attempt. A paused directive may be paused again with interrupt (to stop what a
 * plain pause let finish). Pending tasks stay pending: nothing runs them while it is paused.
 */
drop function baton.pause_directive(uuid);
create function baton.pause_directive(directive_id uuid, interrupt boolean default false) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  if not (interrupt and v_directive.status = 'paused') then
    v_directive := baton_private.transition_directive(v_directive, 'paused', 'paused');
  end if;
  if interrupt then
    -- LOCK ORDER: the directive (above), then the steps, then the tasks.
    update baton.directive_steps s set attempts = s.attempts - 1
      from baton.tasks t
     where t.directive_id = v_directive.id and t.kind = 'execution' and baton_private.task_occupies_slot(t.status)
       and s.id = t.step_id and s.current_task_id = t.id and s.attempts > 0;
    update baton.tasks t
       set status = 'interrupted', error = 'Interrupted: the directive was paused with --interrupt; the step runs again when it is resumed.'
     where t.directive_id = v_directive.id and baton_private.task_occupies_slot(t.status);
  end if;
  select * into v_directive from baton.directives d where d.id = v_directive.id;
  return v_directive;
end;
$$;
comment on function baton.pause_directive(uuid, boolean) is
  $$Pauses a directive: nothing new is dispatched; running tasks finish. With interrupt => true the running tasks are interrupted too (their daemons stop the agents) and their attempts given back, so they run again when it is resumed with start_directive; a paused directive can be paused again with interrupt.$$;

grant execute on function
  baton.set_directive_limits(uuid, integer, integer), baton.cancel_task(uuid, boolean), baton.pause_directive(uuid, boolean)
  to baton_user;
/*
 * Steps carry their own limits. batch_add_steps (the 000018 wrapper around the 000008 body) reads
 * "timeout" and "stall" per entry, a duration string or a number of seconds, and stamps them with
 * the check in its one UPDATE of the new steps; add_step takes them as seconds. create_directive
 * takes the directive's. Everything else in the three functions is as in 000018.
 */

/* A step's limit as batch_add_steps reads it from JSON: seconds, or null when absent, JSON null or not a valid duration. */
create function baton_private.json_limit_seconds(value jsonb) returns integer
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select case when s between 1 and 2592000 then s::integer end
    from (select case jsonb_typeof(value)
                   when 'string' then baton_private.try_duration_seconds(value #>> '{}')
                   when 'number' then case when (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric)
                                                and abs((value #>> '{}')::numeric) <= 2592000
                                           then (value #>> '{}')::numeric::bigint end
                 end as s) x
$$;
comment on function baton_private.json_limit_seconds(jsonb) is
  $$Seconds of a step limit given in JSON: a duration string ("30m", "1h30m") or an integer number of seconds, 1 to 2,592,000; null for anything else.$$;

create or replace function baton.batch_add_steps(directive_id uuid, steps jsonb) returns setof baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
  v_bad record;
  v_ids uuid[];
begin
  if steps is not null and jsonb_typeof(steps) = 'array' then
    -- GUARD: field names (the body's own list knows neither "check" nor the limits).
    select e.ord, k.k into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord), jsonb_object_keys(e.v) k(k)
     where jsonb_typeof(e.v) = 'object' and k.k not in ('key', 'name', 'description', 'taskPlan', 'dependsOn', 'orderIndex', 'check', 'timeout', 'stall')
     order by e.ord limit 1;
    if found then
      raise exception 'Entry % has an unknown field "%"; the fields are key, name, description, taskPlan, dependsOn, orderIndex, check, timeout and stall.', v_bad.ord, v_bad.k
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
    -- GUARD: each limit is a duration or a number of seconds, 1 second to 30 days (or null).
    select e.ord, f.field into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord),
      lateral (values (1, 'timeout'), (2, 'stall')) f(n, field)
     where jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> f.field) <> 'null'
       and baton_private.json_limit_seconds(e.v -> f.field) is null
     order by e.ord, f.n limit 1;
    if found then
      raise exception 'Entry % has an invalid "%": it must be a duration such as "90s", "30m", "2h" or "1h30m" (or a number of seconds), from 1 second to 30 days.', v_bad.ord, v_bad.field
        using errcode = 'BTINV';
    end if;
  end if;

  select array_agg(s.id order by s.ordinality) into v_ids
    from baton_private.batch_add_steps(v_directive.id,
           case when jsonb_typeof(steps) = 'array'
                -- An empty array stays one (jsonb_agg of no rows is null), so the body says the batch is empty.
                then coalesce((select jsonb_agg(case when jsonb_typeof(e.v) = 'object' then e.v - array['check', 'timeout', 'stall'] else e.v end order by e.ord)
                                 from jsonb_array_elements(steps) with ordinality e(v, ord)), '[]'::jsonb)
                else steps end) with ordinality s;

  -- The check and the limits of the entries that have any, in one statement.
  update baton.directive_steps s
     set check_command = e.v ->> 'check',
         timeout_seconds = baton_private.json_limit_seconds(e.v -> 'timeout'),
         stall_seconds = baton_private.json_limit_seconds(e.v -> 'stall')
    from jsonb_array_elements(steps) with ordinality e(v, ord)
   where s.id = v_ids[e.ord]
     and (jsonb_typeof(e.v -> 'check') = 'string' or jsonb_typeof(e.v -> 'timeout') in ('string', 'number')
          or jsonb_typeof(e.v -> 'stall') in ('string', 'number'));

  return query select s.* from unnest(v_ids) with ordinality i(id, ord) join baton.directive_steps s on s.id = i.id order by i.ord;
end;
$$;
comment on function baton.batch_add_steps(uuid, jsonb) is
  $$Adds steps atomically from a JSON array of {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?, "timeout"?, "stall"?}. A dependsOn entry is a step id of this directive or the key of another entry of the batch (earlier or later). "check" is a shell command run after the step's agent exits 0; the step completes only if it passes (it replaces the directive's check for this step). "timeout" (wall clock) and "stall" (no output) limit each attempt of the step, overriding the directive's: a duration such as "30m" or "1h30m", or a number of seconds, 1 second to 30 days. Cycles, unknown ids and bad fields reject the whole batch. Returns the new steps in input order.$$;

/* As in 000018, plus timeout_seconds and stall_seconds (last, so positional callers keep working). */
drop function baton.add_step(uuid, text, text, text, uuid[], integer, text);
create function baton.add_step(
  directive_id uuid, name text, description text default null, task_plan text default null,
  depends_on uuid[] default null, order_index integer default null, check_command text default null,
  timeout_seconds integer default null, stall_seconds integer default null
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
  select * into v_step from baton.batch_add_steps(add_step.directive_id, jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
    'name', add_step.name, 'description', add_step.description, 'taskPlan', add_step.task_plan,
    'dependsOn', to_jsonb(add_step.depends_on), 'orderIndex', add_step.order_index, 'check', add_step.check_command,
    'timeout', add_step.timeout_seconds, 'stall', add_step.stall_seconds))));
  return v_step;
end;
$$;
comment on function baton.add_step(uuid, text, text, text, uuid[], integer, text, integer, integer) is
  $$Adds one step that depends on existing steps of the same directive; check_command is its own check (replacing the directive's); timeout_seconds and stall_seconds (1 to 2,592,000) limit each of its attempts, overriding the directive's. Returns the new step (its id is what later dependsOn entries use).$$;
grant execute on function baton.add_step(uuid, text, text, text, uuid[], integer, text, integer, integer) to baton_user, baton_agent;

/* As in 000018, plus timeout_seconds and stall_seconds (last). */
drop function baton.create_directive(text, text, text, text, boolean, uuid, text);
create function baton.create_directive(
  title text, goal text, repo text default null, base_branch text default 'main',
  start boolean default false, owner_id uuid default null, check_command text default null,
  timeout_seconds integer default null, stall_seconds integer default null
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
  perform baton_private.assert_limit('timeout', create_directive.timeout_seconds);
  perform baton_private.assert_limit('stall limit', create_directive.stall_seconds);
  insert into baton.directives (owner_id, title, goal, repo, base_branch, check_command, timeout_seconds, stall_seconds)
  values (v_owner, btrim(title), goal, nullif(btrim(repo), ''), coalesce(nullif(btrim(base_branch), ''), 'main'), check_command,
          create_directive.timeout_seconds, create_directive.stall_seconds)
  returning * into v_directive;
  if start then
    v_directive := baton.start_directive(v_directive.id);
  end if;
  return v_directive;
end;
$$;
comment on function baton.create_directive(text, text, text, text, boolean, uuid, text, integer, integer) is
  $$Creates a directive in `draft` (or `active` with start => true). repo is a git URL or local path; base_branch defaults to main; check_command is the check every step attempt must pass after its agent exits 0 (a step's own check replaces it); timeout_seconds and stall_seconds (1 to 2,592,000) limit each attempt of its tasks: how long it may run, and how long it may go without output. owner_id is only for direct SQL; API callers act as the owner in their token.$$;
grant execute on function baton.create_directive(text, text, text, text, boolean, uuid, text, integer, integer) to baton_user;
