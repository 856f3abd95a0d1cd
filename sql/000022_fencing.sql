/*
 * Fencing a daemon's side effects (issue 9, point 4).
 *
 * 1. The lease a daemon holds is visible to it: `leaseExpiresAt` on the daemon row that heartbeat
 *    returns. The daemon takes the lease length from it (lease_expires_at - last_heartbeat_at, both
 *    server times, so clock skew does not matter) and stops its agents when it has had no successful
 *    heartbeat for that long: by then the server may have given its tasks to another daemon.
 *
 * 2. Heartbeats no longer wait behind `running` reports on the daemon (they were queued one after
 *    the other, so a slow report delayed the lease renewal). The race that queue solved is now
 *    handled here: a heartbeat's task list may have been composed before a task's `running` report
 *    reached the server, so a running task that started after the daemon's previous heartbeat is not
 *    counted lost yet. The daemon sends one heartbeat at a time, so the next heartbeat was composed
 *    after this one was processed, and counts it lost if it is still missing.
 *
 * 3. A repeated `running` report from the task's own daemon (a retry after a timeout whose first
 *    attempt did reach the server) is accepted and changes nothing, instead of being refused as
 *    stale because the version moved when the first one was recorded.
 */

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
     where t.id = any (v_active) and (t.daemon_id is distinct from v_daemon.id or not baton_private.is_live_task(t.status))
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
  if (select count(*) from baton.tasks t where t.daemon_id = v_daemon.id and t.status in ('starting', 'running')) < v_daemon.max_tasks then
    if v_was_available then
      perform baton_private.maybe_enqueue_dispatch_pending(v_daemon.owner_id);
    else
      perform baton_private.enqueue_dispatch_pending(v_daemon.owner_id);
    end if;
  end if;
  return v_daemon;
end;
$$;
comment on function baton_private.heartbeat(uuid, uuid[]) is
  $$The body of baton.heartbeat: renews the lease; interrupts tasks the daemon no longer reports (sparing a task assigned within the lease and not yet running, and one that became running after the previous heartbeat); sends interrupt_task for reported tasks that are over; signals dispatch when the daemon has room.$$;

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
     set status = v_status,
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
