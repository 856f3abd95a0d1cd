/*
 * Daemons and dispatch: registering, heartbeats, liveness, and assigning tasks to daemons.
 *
 * Every fact lives in these tables, so any number of Baton processes can share one database and a
 * crash loses nothing. A daemon is alive while its heartbeat is younger than the lease; a dispatch is
 * one short transaction that picks a daemon with room, marks the task `starting` and NOTIFYs the
 * daemon (the notify is the tasks trigger's `_900_notify_daemon`).
 *
 * LOCK ORDER, extending 000007's: directive -> daemon -> task -> step. Functions that touch several
 * directives (heartbeat, expiry) take them in id order, one task at a time.
 *
 * Daemon-facing functions (heartbeat, disconnect_daemon) are thin authorising wrappers: the body is
 * in baton_private and the API name checks the token first (a daemon acts only for itself, an owner
 * only for its own daemons). They are SECURITY DEFINER because API roles have no write grants.
 *
 * Fencing a daemon's side effects: the lease a daemon holds is visible to it (`leaseExpiresAt` on the
 * daemon row that heartbeat returns). The daemon takes the lease length from it (lease_expires_at -
 * last_heartbeat_at, both server times, so clock skew does not matter) and stops its agents when it
 * has had no successful heartbeat for that long: by then its tasks may have gone to another daemon.
 * Heartbeats do not wait behind `running` reports on the daemon, so a heartbeat's task list may have
 * been composed before a task's `running` report reached the server: a running task that started
 * after the daemon's previous heartbeat is not counted lost yet (the next heartbeat settles it).
 */

create function baton.register_daemon(name text, hostname text default null, max_tasks integer default 1, owner_id uuid default null)
returns baton.daemons
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner uuid := baton_private.resolve_owner(register_daemon.owner_id);
  v_daemon baton.daemons;
begin
  perform baton_private.assert_name('the daemon name', name);
  if max_tasks is null or max_tasks < 1 or max_tasks > 1000 then
    raise exception 'max_tasks must be between 1 and 1000 (got %).', coalesce(max_tasks::text, 'none') using errcode = 'BTINV';
  end if;
  insert into baton.daemons (owner_id, name, hostname, max_tasks)
  values (v_owner, btrim(name), left(hostname, 255), max_tasks)
  returning * into v_daemon;
  -- Unconditional: a task created concurrently cannot see this daemon before it commits.
  perform baton_private.enqueue_dispatch_pending(v_owner, v_daemon.id);
  return v_daemon;
end;
$$;
comment on function baton.register_daemon(text, text, integer, uuid) is
  $$Registers a daemon (connected, heartbeat now) that runs up to max_tasks tasks at once. Tasks waiting for a daemon are dispatched to it at once. Listen on `baton:daemon:<id>` for commands.$$;

grant execute on function baton.register_daemon(text, text, integer, uuid) to baton_user;

/* Interrupts one live task of a daemon, taking its directive lock first. */
create function baton_private.interrupt_task(task_id uuid, reason text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive_id uuid;
begin
  select t.directive_id into v_directive_id from baton.tasks t where t.id = interrupt_task.task_id;
  perform baton_private.lock_directive(v_directive_id);
  update baton.tasks t set status = 'interrupted', error = reason
   where t.id = interrupt_task.task_id and baton_private.task_is_live(t.status);
end;
$$;
comment on function baton_private.interrupt_task(uuid, text) is $$Marks a live task interrupted (its step is retried under the usual rules).$$;

create function baton_private.heartbeat(daemon_id uuid, active_task_ids uuid[] default '{}') returns baton.daemons
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
  -- Whether dispatchers could pick this daemon before this heartbeat (assign_task's test).
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
  if (select count(*) from baton.tasks t where t.daemon_id = v_daemon.id and baton_private.task_occupies_slot(t.status)) < v_daemon.max_tasks then
    if v_was_available then
      perform baton_private.maybe_enqueue_dispatch_pending(v_daemon.owner_id, v_daemon.id);
    else
      perform baton_private.enqueue_dispatch_pending(v_daemon.owner_id, v_daemon.id);
    end if;
  end if;
  return v_daemon;
end;
$$;
comment on function baton_private.heartbeat(uuid, uuid[]) is
  $$The body of baton.heartbeat: renews the lease; interrupts tasks the daemon no longer reports (sparing a task assigned within the lease and not yet running, and one that became running after the previous heartbeat); sends interrupt_task for reported tasks that are over; signals dispatch when the daemon has room.$$;

/* A revoked daemon is told so (even by an admin's call) before anything is touched. */
create function baton.heartbeat(daemon_id uuid, active_task_ids uuid[] default '{}') returns baton.daemons
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_daemon_access(daemon_id);
  if exists (select 1 from baton.daemons d where d.id = heartbeat.daemon_id and d.revoked_at is not null) then
    raise exception 'Daemon % was revoked by its owner, so its heartbeat is refused.', daemon_id
      using errcode = 'BTDNY', hint = 'Start a new daemon with `baton daemon run`; it registers under a new id.';
  end if;
  return baton_private.heartbeat(daemon_id, active_task_ids);
end;
$$;
comment on function baton.heartbeat(uuid, uuid[]) is
  $$Renews a daemon's lease and reconciles: tasks it no longer reports are interrupted, tasks it reports that are over get an interrupt_task command, and waiting tasks are dispatched if it has room. Call it every 10 s with the ids of the tasks you run. A revoked daemon's heartbeat is refused (BTDNY).$$;

grant execute on function baton.heartbeat(uuid, uuid[]) to baton_daemon;

/* Marks a daemon disconnected and interrupts its live tasks. */
create function baton_private.disconnect(daemon_id uuid, reason text) returns baton.daemons
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task record;
  v_daemon baton.daemons;
begin
  for v_task in
    select t.id from baton.tasks t where t.daemon_id = disconnect.daemon_id and baton_private.task_occupies_slot(t.status)
     order by t.directive_id, t.id
  loop
    perform baton_private.interrupt_task(v_task.id, reason);
  end loop;
  update baton.daemons d set status = 'disconnected', disconnected_at = now()
   where d.id = disconnect.daemon_id and d.status = 'connected'
  returning * into v_daemon;
  if not found then
    select * into v_daemon from baton.daemons d where d.id = disconnect.daemon_id;
  end if;
  return v_daemon;
end;
$$;
comment on function baton_private.disconnect(uuid, text) is $$Disconnects a daemon and interrupts its starting and running tasks.$$;

create function baton_private.disconnect_daemon(daemon_id uuid) returns baton.daemons
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select 1 from baton.daemons d where d.id = disconnect_daemon.daemon_id) then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD';
  end if;
  return baton_private.disconnect(daemon_id, 'The daemon disconnected.');
end;
$$;
comment on function baton_private.disconnect_daemon(uuid) is $$Disconnects a daemon on purpose (it is shutting down); its live tasks are interrupted and retried elsewhere.$$;

create function baton.disconnect_daemon(daemon_id uuid) returns baton.daemons
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_daemon_access(daemon_id);
  return baton_private.disconnect_daemon(daemon_id);
end;
$$;
comment on function baton.disconnect_daemon(uuid) is $$Disconnects a daemon on purpose (it is shutting down); its live tasks are interrupted and retried elsewhere.$$;

grant execute on function baton.disconnect_daemon(uuid) to baton_user, baton_daemon;

/*
 * The liveness sweep (the worker runs it every few seconds, reconcile every minute). Besides expiring
 * daemons, it interrupts live tasks left on a daemon that is already disconnected: disconnect()
 * interrupts what it sees, but an assign_task that locked the daemon row first (to count its load)
 * commits its `starting` task after that look, and the daemon, gone, will never report on it.
 */
create function baton.expire_daemons() returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_expired uuid[];
  v_task record;
  v_id uuid;
begin
  select coalesce(array_agg(d.id order by d.id), '{}') into v_expired from baton.daemons d
   where d.status = 'connected' and d.last_heartbeat_at < now() - baton_private.daemon_lease();
  -- PHASE 1: the live tasks of every expired or disconnected daemon, in directive order across all of
  -- them, so this transaction takes directive locks in one ascending order (as heartbeat does) and
  -- cannot deadlock with it. An expired daemon gets no new task meanwhile: assign_task skips daemons
  -- past the lease and disconnected ones.
  for v_task in
    select t.id, d.status = 'disconnected' as orphan from baton.tasks t join baton.daemons d on d.id = t.daemon_id
     where baton_private.task_occupies_slot(t.status) and (d.id = any (v_expired) or d.status = 'disconnected')
     order by t.directive_id, t.id
  loop
    perform baton_private.interrupt_task(v_task.id, case when v_task.orphan
      then 'The daemon had disconnected when this task was assigned to it.'
      else 'The daemon stopped heartbeating (its lease expired).' end);
  end loop;
  -- PHASE 2: the daemons themselves, in id order (a late heartbeat reconnects a daemon).
  foreach v_id in array v_expired loop
    perform baton_private.disconnect(v_id, 'The daemon stopped heartbeating (its lease expired).');
  end loop;
  return cardinality(v_expired);
end;
$$;
comment on function baton.expire_daemons() is $$Disconnects every daemon whose heartbeat is older than the lease and interrupts its tasks (and any task still live on a daemon already disconnected). Returns how many daemons it disconnected.$$;

/*
 * Assigns a pending task to the best daemon: connected and within its lease, of the task's owner,
 * with room (live tasks below max_tasks), not one this step already failed on if another will do,
 * then the least loaded. The daemon row is locked before its load is counted, so two dispatchers can
 * never both fill its last slot. Returns the task, or null when no daemon has room.
 */
create function baton.assign_task(task_id uuid) returns baton.tasks
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task baton.tasks;
  v_directive baton.directives;
  v_candidate record;
  v_locked uuid[];
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
  -- Lock every daemon that looks free, all at once and in id order, then choose among them with a
  -- fresh count: two dispatchers never wait on each other's daemons in a cycle (locking one by one
  -- in load order could deadlock), and none can fill a slot another has just taken. The choice is
  -- among the daemons locked here only: a daemon that was full at the first look and has a free slot
  -- by the second is not locked, and another dispatcher holding its lock may be filling that slot
  -- (test/faults/two_servers saw 3 live tasks on a daemon with max_tasks 2).
  select coalesce(array_agg(x.id), '{}') into v_locked
    from (select d.id from baton.daemons d
           where d.id in (select c.id from baton.daemons c
                           where c.owner_id = v_task.owner_id and c.status = 'connected'
                             and c.last_heartbeat_at >= now() - baton_private.daemon_lease()
                             and (select count(*) from baton.tasks l where l.daemon_id = c.id and baton_private.task_occupies_slot(l.status)) < c.max_tasks)
           order by d.id
             for update) x;
  select d.id into v_candidate
    from baton.daemons d
   where d.id = any (v_locked)
     and d.owner_id = v_task.owner_id and d.status = 'connected'
     and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
     and (select count(*) from baton.tasks l where l.daemon_id = d.id and baton_private.task_occupies_slot(l.status)) < d.max_tasks
   order by exists (select 1 from baton.tasks f where f.step_id = v_task.step_id and f.daemon_id = d.id
                     and baton_private.task_attempt_failed(f.status)),
            (select count(*) from baton.tasks l where l.daemon_id = d.id and baton_private.task_occupies_slot(l.status)),
            d.last_heartbeat_at desc, d.id
   limit 1;
  if found then
    update baton.tasks t set status = 'starting', daemon_id = v_candidate.id where t.id = v_task.id returning * into v_task;
    return v_task;
  end if;
  return null;
end;
$$;
comment on function baton.assign_task(uuid) is
  $$Assigns a pending task to a connected daemon of its owner with room (preferring one this step has not failed on, then the least loaded), marks it starting and NOTIFYs the daemon. Returns null when no daemon has room; the task then waits and is dispatched when room appears.$$;

/* The reconcile sweep: the original 15 s tick, made idempotent. Safe on any number of processes. */
create function baton.reconcile() returns jsonb
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_expired integer := baton.expire_daemons();
  v_steps integer := 0;
  v_planning integer := 0;
  v_owners integer := 0;
  v_id uuid;
begin
  for v_id in
    select s.id from baton.directive_steps s join baton.directives d on d.id = s.directive_id
     where s.status = 'ready' and d.status = 'active'
       and not exists (select 1 from baton.tasks t where t.step_id = s.id and baton_private.task_is_live(t.status))
  loop
    perform baton_private.maybe_enqueue_dispatch_step(v_id);
    v_steps := v_steps + 1;
  end loop;
  for v_id in select d.id from baton.directives d where baton_private.needs_planning(d) loop
    perform baton_private.maybe_enqueue_planning(v_id);
    v_planning := v_planning + 1;
  end loop;
  for v_id in select distinct t.owner_id from baton.tasks t where t.status = 'pending' loop
    perform baton_private.maybe_enqueue_dispatch_pending(v_id);
    v_owners := v_owners + 1;
  end loop;
  return jsonb_build_object('expired_daemons', v_expired, 'ready_steps', v_steps, 'directives_to_plan', v_planning, 'owners_with_pending_tasks', v_owners);
end;
$$;
comment on function baton.reconcile() is
  $$Finds whatever the event path missed and enqueues it: expired daemons, ready steps without a task, directives needing (re-)planning, pending tasks. Idempotent; the worker's crontab runs it every minute.$$;

/*
 * Revokes a daemon for good. Its live tasks are interrupted and retried elsewhere (disconnect's
 * path, directive locks first), then the row is stamped. Lock order as disconnect: directive ->
 * daemon. A task assigned concurrently is caught by expire_daemons' orphan sweep.
 */
create function baton.revoke_daemon(daemon_id uuid) returns baton.daemons
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon baton.daemons;
begin
  perform baton_private.assert_daemon_access(daemon_id);
  if not exists (select 1 from baton.daemons d where d.id = revoke_daemon.daemon_id) then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD', hint = 'List your daemons with `baton daemon list`.';
  end if;
  perform baton_private.disconnect(daemon_id, 'The daemon was revoked by its owner.');
  update baton.daemons d set revoked_at = coalesce(d.revoked_at, now()), status = 'disconnected',
         disconnected_at = coalesce(d.disconnected_at, now())
   where d.id = revoke_daemon.daemon_id
  returning * into v_daemon;
  perform set_config('baton.checked_identity', '', true);  -- identities checked earlier in this transaction are checked again
  return v_daemon;
end;
$$;
comment on function baton.revoke_daemon(uuid) is
  $$Revokes one of your daemons for good: its live tasks are interrupted and retried on another daemon, its tokens stop working, its heartbeat is refused and it gets no new token. Revoking a revoked daemon changes nothing.$$;
grant execute on function baton.revoke_daemon(uuid) to baton_user;

/* For `baton daemon list`: how many tasks a daemon runs now. */
create function baton.daemons_active_task_count(d baton.daemons) returns integer
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select count(*)::integer from baton.tasks t where t.daemon_id = d.id and baton_private.task_occupies_slot(t.status);
$$;
comment on function baton.daemons_active_task_count(baton.daemons) is $$How many tasks the daemon runs now (starting or running), of those the caller may see.$$;
grant execute on function baton.daemons_active_task_count(baton.daemons) to baton_user, baton_daemon;

create function baton.daemons_lease_expires_at(d baton.daemons) returns timestamptz
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  -- security definer: the lease lives in baton_private.settings, which API roles cannot read.
  select d.last_heartbeat_at + baton_private.daemon_lease();
$$;
comment on function baton.daemons_lease_expires_at(baton.daemons) is
  $$When the daemon's lease runs out unless it heartbeats again: its last heartbeat plus the server's lease (BATON_DAEMON_LEASE_SECONDS). After that the server may interrupt its tasks and run them elsewhere, so a daemon that has not renewed its lease for that long stops its agents and publishes nothing.$$;
grant execute on function baton.daemons_lease_expires_at(baton.daemons) to baton_user, baton_daemon;
