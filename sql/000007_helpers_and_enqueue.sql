/*
 * Helpers shared by the state machines: who the caller is, locking in one order, owner resolution,
 * friendly text checks, and the bridge into graphile-worker.
 *
 * WHO THE CALLER IS. The API switches to one of four roles per request (from a verified JWT) and
 * passes the token's ids as settings:
 *   baton_user      an owner: its own directives, steps, tasks, daemons and events;
 *   baton_daemon    one daemon: heartbeat, read the tasks assigned to it, report on them;
 *   baton_agent     one task's agent: read its directive; add, remove and re-wire its steps, only while
 *                   the task is live;
 *   baton_anonymous nothing but health.
 * `admin` is only a session that set no role at all (direct SQL, the worker, the CLI's admin
 * commands); any other role fails closed to baton_anonymous. Baton keeps no list of issued tokens:
 * each token carries its owner's token generation (claim `gen`, setting `baton.token_gen`; 0 when
 * absent), so rotating an owner's tokens or revoking a daemon makes its tokens resolve to nobody in
 * current_owner_id() / current_daemon_id() / current_agent_directive_id(), which the row-level
 * policies call (000012_auth.sql): a dead token sees nothing. Functions that change state call
 * assert_token_live() first (through lock_directive, resolve_owner or assert_daemon_access), so a
 * dead token is told why instead of "does not exist".
 *
 * LOCK ORDER (every function that changes directive-scoped state follows it):
 *   directive row -> daemon rows -> task rows -> step rows (dependents by id).
 * Taking the directive row first serialises all changes inside one directive, so concurrent
 * completions of a join's parents neither lose a counter update nor deadlock.
 */

create function baton_private.try_uuid(value text) returns uuid
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return value::uuid;
exception when invalid_text_representation then
  return null;
end;
$$;
comment on function baton_private.try_uuid(text) is $$The text as a uuid, or null when it is not one.$$;

create function baton_private.setting_uuid(name text) returns uuid
language sql stable
set search_path = pg_catalog, pg_temp
as $$ select baton_private.try_uuid(nullif(current_setting(name, true), '')) $$;
comment on function baton_private.setting_uuid(text) is $$A uuid-valued setting of this request (from the token), or null.$$;

create function baton_private.current_api_role() returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case coalesce(current_setting('role', true), 'none')
           when 'none' then 'admin'
           when 'baton_user' then 'baton_user'
           when 'baton_daemon' then 'baton_daemon'
           when 'baton_agent' then 'baton_agent'
           else 'baton_anonymous' end;
$$;
comment on function baton_private.current_api_role() is
  $$The API role of this request. `admin` only when no role was set at all (direct SQL, the worker, the CLI's admin commands); any role other than the four API roles (baton_api included) counts as baton_anonymous.$$;

create function baton_private.token_generation() returns integer
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case when coalesce(current_setting('baton.token_gen', true), '') = '' then 0
              when current_setting('baton.token_gen', true) ~ '^[0-9]{1,9}$' then current_setting('baton.token_gen', true)::integer
              else -1 end;  -- garbage matches no generation
$$;
comment on function baton_private.token_generation() is $$The token generation the request's token carries (`baton.token_gen`; 0 when absent).$$;

/*
 * SECURITY DEFINER: it reads owners and daemons whatever the caller's policies (the owners policy
 * calls this function, so it would recurse otherwise). Admins (direct SQL, the worker: no role set)
 * are taken at their word, as before.
 *
 * Cost: the policies call this once per row. The lookup (one primary-key probe, two for a daemon
 * token) runs once per transaction; its answer is kept in the transaction-local setting
 * baton.checked_identity, keyed by the token's settings, so a changed setting (rotate_tokens moves
 * baton.token_gen on) is looked up again. Measured on 5,000 directives: a count as an owner takes
 * 85 ms with the cache, 81 ms before this migration, 205 ms with a lookup per row.
 */
create function baton_private.current_owner_id() returns uuid
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := coalesce(current_setting('role', true), 'none');
  v_key text;
  v_cached text;
  v_owner uuid;
begin
  if v_role = 'none' then
    return baton_private.setting_uuid('baton.owner_id');  -- admin (current_api_role's rule)
  end if;
  if v_role not in ('baton_user', 'baton_daemon', 'baton_agent') then
    return null;
  end if;
  v_key := v_role || '/' || coalesce(current_setting('baton.owner_id', true), '') || '/' || coalesce(current_setting('baton.daemon_id', true), '')
           || '/' || coalesce(current_setting('baton.token_gen', true), '') || '=';
  v_cached := current_setting('baton.checked_identity', true);
  if starts_with(v_cached, v_key) then
    return nullif(substr(v_cached, length(v_key) + 1), '')::uuid;
  end if;
  select o.id into v_owner from baton.owners o
   where o.id = baton_private.setting_uuid('baton.owner_id')
     and o.token_generation = baton_private.token_generation()
     and (v_role <> 'baton_daemon'
          or exists (select 1 from baton.daemons d
                      where d.id = baton_private.setting_uuid('baton.daemon_id') and d.owner_id = o.id and d.revoked_at is null));
  perform set_config('baton.checked_identity', v_key || coalesce(v_owner::text, ''), true);
  return v_owner;
end;
$$;
comment on function baton_private.current_owner_id() is
  $$The owner of the request's token, or null when the token is dead: its owner rotated its tokens since, or (a daemon token) its daemon is revoked or gone.$$;

create function baton_private.current_daemon_id() returns uuid
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case when baton_private.current_api_role() = 'baton_daemon' and baton_private.current_owner_id() is not null
              then baton_private.setting_uuid('baton.daemon_id') end;
$$;
comment on function baton_private.current_daemon_id() is $$The daemon of a live daemon token (not revoked, its owner has not rotated its tokens since), else null.$$;

/* The directive an agent token may touch, while its task is live and its owner has not rotated its
   tokens since. SECURITY DEFINER: it reads tasks whatever the caller's policies, which also keeps
   the policies from recursing. */
create function baton_private.current_agent_directive_id() returns uuid
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select t.directive_id from baton.tasks t
    join baton.owners o on o.id = t.owner_id
   where baton_private.current_api_role() = 'baton_agent'
     and t.id = baton_private.setting_uuid('baton.task_id')
     and t.directive_id = baton_private.setting_uuid('baton.directive_id')
     and t.owner_id = baton_private.setting_uuid('baton.owner_id')
     and o.token_generation = baton_private.token_generation()
     and baton_private.task_is_live(t.status);
$$;
comment on function baton_private.current_agent_directive_id() is
  $$For an agent token whose task is still live and whose owner has not rotated its tokens since: its directive. Otherwise null, so the token stops working when the task ends.$$;

/* Directives a daemon works on (it has a task of theirs assigned). One probe of
   tasks_daemon_directive_idx: the daemon id is computed once (an initplan), not once per task row of
   the directive as before (a report in a 10,000-step directive spent 26 ms here). */
create function baton_private.daemon_works_on(directive_id uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select exists (select 1 from baton.tasks t where t.daemon_id = (select baton_private.current_daemon_id())
                   and t.directive_id = daemon_works_on.directive_id);
$$;
comment on function baton_private.daemon_works_on(uuid) is $$Whether the current daemon has a task of this directive assigned to it.$$;

/* The same rule as a set, for the policies (000012): they read it once per statement, as a hashed
   subplan, so a daemon's read costs O(1) per row whatever the size of the directive. SECURITY
   DEFINER: it reads tasks whatever the caller's policies. */
create function baton_private.daemon_directive_ids() returns setof uuid
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select distinct t.directive_id from baton.tasks t where t.daemon_id = (select baton_private.current_daemon_id());
$$;
comment on function baton_private.daemon_directive_ids() is
  $$The directives the current daemon has a task of (none for any other caller): those it may read.$$;

/*
 * Why a token is dead, said once where a function is called (reads just see nothing). Tokens of
 * owners or daemons that do not exist are left to each function's own "does not exist".
 */
create function baton_private.assert_token_live() returns void
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := baton_private.current_api_role();
  v_generation integer;
  v_revoked_at timestamptz;
begin
  if v_role not in ('baton_user', 'baton_daemon', 'baton_agent') then
    return;
  end if;
  if v_role = 'baton_daemon' then
    select d.revoked_at into v_revoked_at from baton.daemons d
     where d.id = baton_private.setting_uuid('baton.daemon_id') and d.owner_id = baton_private.setting_uuid('baton.owner_id');
    if v_revoked_at is not null then
      raise exception 'This daemon (%) was revoked by its owner, so its token no longer works.', baton_private.setting_uuid('baton.daemon_id')
        using errcode = 'BTDNY', hint = 'Start a new daemon with `baton daemon run`; it registers under a new id.';
    end if;
  end if;
  select o.token_generation into v_generation from baton.owners o where o.id = baton_private.setting_uuid('baton.owner_id');
  if v_generation is not null and v_generation <> baton_private.token_generation() then
    raise exception 'This token was revoked by `baton token rotate`; ask for a new one.'
      using errcode = 'BTDNY', hint = 'The owner gets a fresh token from `baton token rotate` or `baton token create`; daemons and agents get theirs again from it.';
  end if;
end;
$$;
comment on function baton_private.assert_token_live() is $$Raises BTDNY when the request's token was revoked (its daemon revoked, or its owner's tokens rotated since it was minted).$$;

grant execute on function baton_private.current_api_role(), baton_private.setting_uuid(text), baton_private.current_owner_id(),
  baton_private.current_daemon_id(), baton_private.current_agent_directive_id(), baton_private.daemon_works_on(uuid),
  baton_private.daemon_directive_ids(), baton_private.try_uuid(text)
  to baton_anonymous, baton_user, baton_daemon, baton_agent;
grant execute on function baton_private.token_generation(), baton_private.assert_token_live()
  to baton_anonymous, baton_user, baton_daemon, baton_agent;

/* A daemon token acts only for its own daemon (and a token of a missing daemon is told so); an owner
   only for its own daemons. Checks the token's liveness first (heartbeat, disconnect_daemon,
   revoke_daemon). */
create function baton_private.assert_daemon_access(daemon_id uuid) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_token_live();
  -- A live daemon token whose daemon is gone (revoked and rotated tokens were refused just above).
  if baton_private.current_api_role() = 'baton_daemon' and baton_private.current_daemon_id() is null then
    raise exception 'Daemon % does not exist.', baton_private.setting_uuid('baton.daemon_id')
      using errcode = 'BTNFD', hint = 'Register again with `baton daemon run`.';
  end if;
  if baton_private.current_api_role() = 'baton_daemon' and daemon_id is distinct from baton_private.current_daemon_id() then
    raise exception 'This daemon token is for daemon %, so it cannot act for daemon %.', baton_private.setting_uuid('baton.daemon_id'), daemon_id
      using errcode = 'BTDNY';
  end if;
  if baton_private.current_api_role() in ('baton_user', 'baton_agent', 'baton_anonymous')
     and not exists (select 1 from baton.daemons d where d.id = daemon_id and d.owner_id = baton_private.current_owner_id()
                     and baton_private.current_api_role() = 'baton_user') then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD';
  end if;
end;
$$;
comment on function baton_private.assert_daemon_access(uuid) is $$Raises unless the caller is that daemon, its owner, or an admin.$$;

/*
 * Locks a directive row (the first lock of every directive-scoped change) and returns it, after
 * checking the token's liveness and that the caller may change this directive: every directive-scoped
 * change passes here. Others' directives are reported as not existing, so their ids do not leak; an
 * agent of another directive is not told the id of the directive it tried to change.
 */
create function baton_private.lock_directive(directive_id uuid) returns baton.directives
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_role text := baton_private.current_api_role();
begin
  perform baton_private.assert_token_live();
  select * into v_directive from baton.directives d where d.id = lock_directive.directive_id for update;
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

/* Locks a step's directive, then the step, and returns the step. */
create function baton_private.lock_step(step_id uuid) returns baton.directive_steps
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive_id uuid;
  v_owner_id uuid;
  v_step baton.directive_steps;
begin
  select s.directive_id, s.owner_id into v_directive_id, v_owner_id from baton.directive_steps s where s.id = lock_step.step_id;
  -- Another owner's step is answered like a missing one, before lock_directive could name its directive.
  if not found or (baton_private.current_api_role() <> 'admin' and v_owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Step % does not exist.', step_id
      using errcode = 'BTNFD', hint = 'See the steps of a directive with `baton directive status`.';
  end if;
  perform baton_private.lock_directive(v_directive_id);
  select * into v_step from baton.directive_steps s where s.id = lock_step.step_id for update;
  return v_step;
end;
$$;
comment on function baton_private.lock_step(uuid) is $$Locks a step's directive, then the step; raises BTNFD when the step does not exist.$$;

/*
 * The owner on whose behalf the caller acts: the `baton.owner_id` setting that the API sets from the
 * token, else (direct SQL by a DBA) the explicit argument, else the only owner if there is one.
 */
create function baton_private.resolve_owner(requested uuid) returns uuid
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_setting uuid := baton_private.try_uuid(nullif(current_setting('baton.owner_id', true), ''));
  v_owners uuid[];
begin
  perform baton_private.assert_token_live();
  if v_setting is not null then
    if requested is not null and requested <> v_setting then
      raise exception 'You act as owner %, so you cannot act for owner %.', v_setting, requested
        using errcode = 'BTDNY', hint = 'Leave owner_id out; it comes from your token.';
    end if;
    if not exists (select 1 from baton.owners o where o.id = v_setting) then
      raise exception 'Owner % (the owner of your token) does not exist, so nothing can be created for it.', v_setting
        using errcode = 'BTNFD', hint = 'Use a token of an existing owner; `baton owner create NAME` prints one.';
    end if;
    return v_setting;
  end if;
  if requested is not null then
    if not exists (select 1 from baton.owners o where o.id = requested) then
      raise exception 'Owner % does not exist.', requested
        using errcode = 'BTNFD', hint = 'Create one with `baton owner create NAME`, or see `select * from baton.owners`.';
    end if;
    return requested;
  end if;
  select array_agg(o.id) into v_owners from (select id from baton.owners limit 2) o;
  if cardinality(v_owners) = 1 then
    return v_owners[1];
  end if;
  raise exception 'No owner given, and there is not exactly one owner to default to.'
    using errcode = 'BTINV', hint = 'Pass owner_id => ''<uuid>'' (see `select id, name from baton.owners`).';
end;
$$;
comment on function baton_private.resolve_owner(uuid) is $$The owner the caller acts for: from the token, else the argument, else the only owner.$$;

/* Friendly checks of free text, before the CHECK constraints (which stay as the backstop).
   `what` is lower case ("the goal"); only its first letter is capitalised (initcap would give "The Goal"). */
create function baton_private.assert_text(what text, value text, min_chars integer, max_bytes integer) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if value is null and min_chars > 0 then
    raise exception '% is required.', upper(left(what, 1)) || substr(what, 2) using errcode = 'BTINV';
  end if;
  if value is not null and length(btrim(value)) < min_chars then
    raise exception '% must not be empty.', upper(left(what, 1)) || substr(what, 2) using errcode = 'BTINV';
  end if;
  if value is not null and octet_length(value) > max_bytes then
    raise exception '% is % bytes; the limit is % bytes.', upper(left(what, 1)) || substr(what, 2), octet_length(value), max_bytes
      using errcode = 'BTINV', hint = 'Shorten it, or keep the long text in the repository and refer to it.';
  end if;
end;
$$;
comment on function baton_private.assert_text(text, text, integer, integer) is $$Raises BTINV when a text is missing, empty or too long.$$;

create function baton_private.assert_name(what text, value text) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_text(what, value, 1, 100000);
  if length(value) > 200 then
    raise exception '% is % characters; the limit is 200.', upper(left(what, 1)) || substr(what, 2), length(value) using errcode = 'BTINV';
  end if;
end;
$$;
comment on function baton_private.assert_name(text, text) is $$Raises BTINV unless the value is 1 to 200 characters.$$;

/*
 * The one bridge into graphile-worker. SECURITY DEFINER because API roles have no rights on the
 * graphile_worker schema (STACK.md); the search_path is fixed so it cannot be hijacked.
 * Job keys use `replace`: a key that is queued is updated in place (one job), a key whose job is
 * running gets one more job, and a key whose job failed for good is revived. (`unsafe_dedupe` would
 * leave such a key blocked forever, and the reconcile sweep could never re-enqueue it.) A duplicate
 * run is harmless: every task is idempotent, and the database's unique indexes allow one task per
 * step attempt and one live planner per directive.
 */
create function baton_private.enqueue(task_identifier text, payload json, job_key text, job_key_mode text default 'replace')
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform graphile_worker.add_job(
    identifier => task_identifier,
    payload => payload,
    max_attempts => 10,
    job_key => job_key,
    job_key_mode => job_key_mode
  );
end;
$$;
comment on function baton_private.enqueue(text, json, text, text) is $$Adds a graphile-worker job in the caller's transaction, deduplicated by job key.$$;

/* Does this directive need a (re-)plan now? */
create function baton_private.needs_planning(d baton.directives) returns boolean
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select d.status = 'active' and d.orchestrator_task_id is null and d.planned_revision is distinct from d.goal_revision;
$$;
comment on function baton_private.needs_planning(baton.directives) is
  $$True for an active directive with no planner in flight whose goal revision has not been planned yet.$$;

/* Enqueues plan_directive (never planned) or replan_directive (goal changed since the last plan). */
create function baton_private.maybe_enqueue_planning(directive_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
begin
  select * into v_directive from baton.directives d where d.id = maybe_enqueue_planning.directive_id;
  if baton_private.needs_planning(v_directive) then
    perform baton_private.enqueue(
      case when v_directive.planned_revision is null then 'plan_directive' else 'replan_directive' end,
      json_build_object('directive_id', v_directive.id, 'goal_revision', v_directive.goal_revision),
      'plan:' || v_directive.id || ':' || v_directive.goal_revision);
  end if;
end;
$$;
comment on function baton_private.maybe_enqueue_planning(uuid) is $$Enqueues a planning job when the directive needs (re-)planning.$$;

/*
 * Enqueues dispatch_step for each of these steps that is ready, in an active directive and without a
 * live task, keyed by (step, next attempt), in ONE add_jobs call: a fan-out that readies 2,000 steps
 * pays for one call, not 2,000. SECURITY DEFINER for graphile_worker, as enqueue.
 *
 * Cost: O(given steps). Most callers (every step UPDATE's statement trigger) pass an empty array and
 * return at once; the steps are read by primary key first, then each one's directive, since a plan
 * starting from `directives where status = 'active'` visited every active directive per call.
 */
create function baton_private.enqueue_dispatch_steps(step_ids uuid[]) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_specs graphile_worker.job_spec[];
begin
  if coalesce(cardinality(step_ids), 0) = 0 then
    return;
  end if;
  select array_agg(row('dispatch_step', json_build_object('step_id', s.id, 'attempt', s.total_attempts + 1), null, null, 10,
                       'dispatch_step:' || s.id || ':' || (s.total_attempts + 1), null, null)::graphile_worker.job_spec
                   order by s.order_index, s.id)
    into v_specs
    from (select * from baton.directive_steps s0 where s0.id = any (step_ids) offset 0) s  -- offset 0: keep this scan first
   where s.status = 'ready'
     and (select d.status from baton.directives d where d.id = s.directive_id) = 'active'
     and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.kind = 'execution'
                     and baton_private.task_is_live(t.status));
  if v_specs is not null then
    perform graphile_worker.add_jobs(v_specs);
  end if;
end;
$$;
comment on function baton_private.enqueue_dispatch_steps(uuid[]) is $$Enqueues, in one call, the dispatch of the next attempt of each given step that is ready in an active directive and has no live task.$$;

create function baton_private.maybe_enqueue_dispatch_step(step_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$ select baton_private.enqueue_dispatch_steps(array[step_id]) $$;
comment on function baton_private.maybe_enqueue_dispatch_step(uuid) is $$Enqueues the dispatch of a ready step's next attempt when its directive is active.$$;

/* Asks the dispatcher to look for a daemon for one pending task. */
create function baton_private.enqueue_dispatch_task(task_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  select baton_private.enqueue('dispatch_task', json_build_object('task_id', task_id), 'dispatch_task:' || task_id);
$$;
comment on function baton_private.enqueue_dispatch_task(uuid) is $$Enqueues the assignment of a pending task to a daemon.$$;

/*
 * Signals that a daemon of this owner may have room: one run of dispatch_pending for the owner is
 * queued (`replace`: a signal during a run queues one more run). The job key names the daemon when
 * the caller knows it (`dispatch_pending:<owner>:<daemon>`): `replace` locks the job row until the
 * caller commits, and with one key per owner every completion of the owner waited for the one before
 * it to commit (149 ms per completion in the `many` bench, docs/scaling.md). With a key per daemon
 * only completions on the same daemon share a row, and at most one queued run per daemon remains.
 *
 * Who signals unconditionally and who may check first. A new task that finds no room (its
 * assign_task counted a slot that another transaction was freeing, or did not yet see a daemon being
 * registered) queues dispatch_task, which runs after it commits. The side that makes room must then
 * queue a run that starts after *its* commit, whether or not it sees a waiting task: the waiting task
 * may not be committed yet. Checking `exists (pending task)` first loses that wakeup (the task then
 * waits for the minute's reconcile). So freeing a slot, registering and reconnecting signal
 * unconditionally; only the periodic heartbeat of a daemon that was already available checks first.
 */
create function baton_private.enqueue_dispatch_pending(owner_id uuid, daemon_id uuid default null) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  select baton_private.enqueue('dispatch_pending', json_build_object('owner_id', owner_id),
                               'dispatch_pending:' || owner_id || coalesce(':' || daemon_id, ''), 'replace');
$$;
comment on function baton_private.enqueue_dispatch_pending(uuid, uuid) is
  $$Queues a dispatch_pending run for an owner: room may have appeared on one of its daemons (the one given, when known: it keys the job).$$;

create function baton_private.maybe_enqueue_dispatch_pending(owner_id uuid, daemon_id uuid default null) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if exists (select 1 from baton.tasks t where t.owner_id = maybe_enqueue_dispatch_pending.owner_id and t.status = 'pending') then
    perform baton_private.enqueue_dispatch_pending(owner_id, daemon_id);
  end if;
end;
$$;
comment on function baton_private.maybe_enqueue_dispatch_pending(uuid, uuid) is $$Queues a dispatch_pending run for an owner that has tasks waiting for a daemon (only where a task committed later cannot be missed: see enqueue_dispatch_pending).$$;
