/*
 * A daemon reporting on a task that is not its own learns nothing about it.
 *
 * 000014's report_task_status wrapper passed a daemon's report on to the body, which locks the task's
 * directive first. For another owner's task that lock answered `Directive <id> does not exist`, naming
 * the directive of the task the daemon guessed; for a sibling daemon's task it named the other daemon.
 * The wrapper now refuses any task not assigned to the calling daemon before touching it, with the
 * same answer whether the task exists or not (as appendTaskOutput does). A task's daemon_id never
 * changes once assigned (a new attempt is a new task), so late reports on a daemon's own tasks still
 * reach the body and get its usual answers (BTSTL).
 */
create or replace function baton.report_task_status(
  task_id uuid, status text, expected_version integer default null, error text default null,
  branch text default null, commit_sha text default null, daemon_id uuid default null
) returns baton.tasks
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon uuid := report_task_status.daemon_id;
begin
  -- A daemon reports for itself: its token's daemon id is checked whatever the argument says.
  if baton_private.current_api_role() = 'baton_daemon' then
    if v_daemon is not null and v_daemon is distinct from baton_private.current_daemon_id() then
      raise exception 'This daemon token is for daemon %, so it cannot report as daemon %.', baton_private.current_daemon_id(), v_daemon
        using errcode = 'BTDNY';
    end if;
    v_daemon := baton_private.current_daemon_id();
    if not exists (select 1 from baton.tasks t where t.id = report_task_status.task_id and t.daemon_id = v_daemon) then
      raise exception 'Task % is not assigned to this daemon (%), so it cannot report on it.', task_id, v_daemon
        using errcode = 'BTDNY', hint = 'A daemon reports on the tasks it was given (daemonCommands) only.';
    end if;
  end if;
  return baton_private.report_task_status(task_id, status, expected_version, error, branch, commit_sha, v_daemon);
end;
$$;
comment on function baton.report_task_status(uuid, text, integer, text, text, text, uuid) is
  $$Records a task's new status (running, completed/merged/done, failed, interrupted), with its error or its branch and commit. expected_version rejects a stale report (BTSTL); a daemon may report only on tasks assigned to it (BTDNY). Reports on a finished task are ignored with BTSTL unless they repeat its status.$$;
