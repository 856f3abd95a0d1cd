/*
 * Integration, the completion phase (issue 11 point 1): a directive delivers ONE result branch.
 *
 * Before, a directive ended as N branches baton/<d>/<s>-<slug>-<t>, and the user worked out which one
 * held the result. Now, when every step of the plan is settled (completed or skipped), none is failed
 * or blocked, and the directive has a repository, the state machine creates ONE task of a third kind,
 * `integration`, instead of letting the directive go idle. It is dispatched to a daemon like any task.
 * The daemon starts a worktree on the base branch, merges the branches of the DAG's sinks into it (a
 * conflict goes to the agent, as for a join), runs the directive's check (the task is `checking`
 * meanwhile), pushes the result branch (directives.target_branch, default baton/<directive-short>/result)
 * and runs the directive's on-complete command there; it reports the branch, the commit and the URL the
 * command printed, which the mirror records on the directive (result_branch, result_commit, result_url,
 * result_at). Only then does the directive go idle.
 *
 * WHEN TO INTEGRATE. directives.integration_due says that settled work has not been integrated yet:
 * it is set in the statement that settles a step (completed or skipped) or deletes a settled one
 * (the open-step counter's statement trigger, which already updates the directive row), and cleared
 * when an integration task is created for it. So a re-plan that adds steps integrates again once they
 * settle (the new result replaces the old one), a step settled while an integration runs gets another
 * integration after it, and a directive paused and resumed with nothing new goes idle at once. A
 * directive without a repository, or whose plan had no step, never becomes due: it goes idle as before.
 * A failed or blocked step means no integration: the directive goes idle with its failures, as before,
 * and integrates once they are retried, skipped or removed (reactivate wakes it up for that).
 *
 * THE SINKS. The steps whose work the result must hold: completed steps whose accepted attempt
 * (current task, completed) recorded a commit, and that no such step depends on directly. A step that
 * depends on another started from that one's commit, so merging the sinks merges everything. A skipped
 * step (or one completed by hand, without a commit) is see-through: the steps it depends on stand for
 * it. In a diamond a -> (b, c) -> d the one sink is d.
 *
 * WHEN INTEGRATION FAILS. A failed or interrupted integration task is retried at once while attempts
 * are left (integration_max_attempts, 2, like a step's default), as a new task with the next attempt
 * number. When the last attempt fails, or the task is cancelled by hand, the directive is PAUSED: its
 * steps are done, but its result is not, and going idle would look like success. The failed task's
 * error is the reason (`directive status` and `watch` show it); resuming (`baton directive start`)
 * integrates again with fresh attempts. A directive paused or archived while its integration runs
 * (pause --interrupt, archive) gets no retry; resuming it integrates again.
 *
 * LOCK ORDER is unchanged: the directive (every caller holds it: reports, step functions, the status
 * trigger), then steps, then tasks. The integration task is created pending and handed to a
 * dispatch_task job (or taken by refill_daemon when the report that settled the last step freed a
 * slot): no daemon row is locked while the report holds its directive.
 */

-- ---------------------------------------------------------------------------------------------
-- The directive's result options and its result.
-- ---------------------------------------------------------------------------------------------

/* baton/<first 8 hex digits of the id>/result: the same short form as the step branches (src/daemon/branch.ts). */
create function baton_private.default_result_branch(directive_id uuid) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select 'baton/' || left(replace(directive_id::text, '-', ''), 8) || '/result' $$;
comment on function baton_private.default_result_branch(uuid) is
  $$The default result branch of a directive: baton/<directive-short>/result (the first 8 hex digits of its id).$$;

/*
 * What is wrong with a branch name, or null when git accepts it (the rules of git check-ref-format
 * for a branch, without its rarely met corners): no space, control character or any of ~^:?*[\,
 * no "..", "@{" or "//", no component starting with "." or ending with ".lock", not starting with
 * "-" or "/", not ending with "/" or ".", not "@" or "HEAD".
 */
create function baton_private.branch_name_problem(name text) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when name is null or length(name) = 0 then 'it is empty'
    when octet_length(name) > 255 then 'it is longer than 255 bytes'
    when name ~ '[[:space:][:cntrl:]~^:?*\[\\]' then 'it holds a space, a control character or one of ~ ^ : ? * [ \'
    when name ~ '\.\.' then 'it holds ".."'
    when name ~ '@\{' then 'it holds "@{"'
    when name ~ '//' then 'it holds "//"'
    when name ~ '^[-/]' then 'it starts with "-" or "/"'
    when name ~ '[/.]$' then 'it ends with "/" or "."'
    when name ~ '(^|/)\.' then 'a part of it starts with "."'
    when name ~ '\.lock(/|$)' then 'a part of it ends with ".lock"'
    when name in ('@', 'HEAD') then 'it is "' || name || '"'
  end
$$;
comment on function baton_private.branch_name_problem(text) is
  $$Why a name is not a valid git branch name ("it holds \"..\"", ...), or null when it is one.$$;

alter table baton.directives
  add column target_branch text,
  add column on_complete_command text,
  add column integration_due boolean not null default false,
  add column integration_task_id uuid references baton.tasks (id) on delete set null,
  add column result_branch text,
  add column result_commit text,
  add column result_url text,
  add column result_at timestamptz;

update baton.directives d set target_branch = baton_private.default_result_branch(d.id);
alter table baton.directives
  alter column target_branch set not null,
  add constraint target_branch_is_valid check (baton_private.branch_name_problem(target_branch) is null),
  add constraint on_complete_command_is_valid
    check (on_complete_command is null or (length(btrim(on_complete_command)) >= 1 and octet_length(on_complete_command) <= 4096)),
  add constraint result_url_is_valid check (result_url is null or (result_url ~ '^https?://[^[:space:]]+$' and octet_length(result_url) <= 2048)),
  add constraint result_is_whole check ((result_branch is null) = (result_commit is null) and (result_branch is null) = (result_at is null));
create index directives_integration_task_idx on baton.directives (integration_task_id);

comment on column baton.directives.target_branch is
  $$The branch the directive's integrated result is pushed to: baton/<directive-short>/result unless chosen (`--target-branch` on create or update). Each integration replaces it (a push with a lease on what the daemon last fetched).$$;
comment on column baton.directives.on_complete_command is
  $$A shell command (`sh -c`) the daemon runs in the result's worktree after pushing it, with BATON_RESULT_BRANCH, BATON_RESULT_COMMIT and BATON_DIRECTIVE_ID set, e.g. `gh pr create --fill --head "$BATON_RESULT_BRANCH"`; the first http(s) URL it prints is recorded as result_url. A non-zero exit fails the integration attempt. Null: none. At most 4096 bytes.$$;
comment on column baton.directives.integration_due is
  $$Work settled since the last integration task was created (a step completed or skipped, or a settled step removed): once nothing is open and no step failed, the directive integrates again instead of going idle. Cleared when an integration task is created; set again when integration fails for good.$$;
comment on column baton.directives.integration_task_id is
  $$The integration task in flight, if any (at most one per directive). The directive does not go idle while it is set.$$;
comment on column baton.directives.result_branch is
  $$The branch of the last completed integration: every sink step's work merged on the base branch, checked and pushed. Null until a first integration completes.$$;
comment on column baton.directives.result_commit is $$The commit result_branch pointed at when the last integration completed.$$;
comment on column baton.directives.result_url is
  $$The first http(s) URL the on-complete command printed in the last completed integration (e.g. a pull request); null when it printed none or there is no on-complete command.$$;
comment on column baton.directives.result_at is $$When the last integration completed (when result_branch and result_commit were recorded).$$;

/* A directive inserted by any path (create_directive, a DBA) gets its default target branch. */
create function baton_private.tg_directives__default_target_branch() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  new.target_branch := coalesce(new.target_branch, baton_private.default_result_branch(new.id));
  return new;
end;
$$;
comment on function baton_private.tg_directives__default_target_branch() is
  $$Fills directives.target_branch with baton/<directive-short>/result when an insert leaves it null.$$;
create trigger _100_default_target_branch before insert on baton.directives
  for each row execute function baton_private.tg_directives__default_target_branch();

-- ---------------------------------------------------------------------------------------------
-- The integration task.
-- ---------------------------------------------------------------------------------------------

alter table baton.tasks drop constraint kind_is_valid;
alter table baton.tasks add constraint kind_is_valid check (kind in ('planning', 'execution', 'integration'));
-- Integration tasks are numbered attempts too (of one integration round), without a step.
alter table baton.tasks drop constraint execution_has_step;
alter table baton.tasks add constraint attempt_when_execution_or_integration check ((kind in ('execution', 'integration')) = (attempt is not null));
alter table baton.tasks add constraint step_only_for_execution check (step_id is null or kind = 'execution');

alter table baton.tasks add column result_url text;
alter table baton.tasks
  add constraint result_url_is_valid
    check (result_url is null or (kind = 'integration' and result_url ~ '^https?://[^[:space:]]+$' and octet_length(result_url) <= 2048)),
  -- An integration completes with its result, never without: the mirror copies it to the directive.
  add constraint integration_completes_with_result
    check (kind <> 'integration' or status <> 'completed' or (branch is not null and commit_sha is not null));
comment on column baton.tasks.result_url is
  $$For integration tasks: the first http(s) URL the directive's on-complete command printed (e.g. a pull request), reported with completed.$$;

-- One integration in flight per directive, enforced like one planner (the helpers' live expression, see 000018).
create unique index tasks_one_live_integration_per_directive on baton.tasks (directive_id)
  where kind = 'integration' and status not in ('completed', 'failed', 'interrupted', 'cancelled');

comment on table baton.tasks is $$@behavior -insert -update -delete
One run of a coding agent on a daemon: an attempt at a step (kind `execution`), a planning run of a directive (kind `planning`), or the integration of a directive's settled steps into its result branch (kind `integration`: no agent runs unless the merge conflicts).
Status: pending (waiting for a daemon) -> starting (assigned) -> running -> completed | failed | interrupted; running -> checking (the agent exited 0, or the integration merged, and the check runs) -> completed | failed | interrupted; pending, starting, running or checking -> cancelled. Terminal states are final.$$;
comment on column baton.tasks.kind is
  $$`planning` (plan or re-plan the directive), `execution` (do one step) or `integration` (merge the sink steps' branches into the directive's result branch, check and push it).$$;
comment on column baton.tasks.attempt is
  $$For execution tasks: which attempt of the step this is (1, 2, ...), counted over the step's whole life. For integration tasks: which attempt of the current integration (1, 2).$$;
comment on column baton.tasks.branch is
  $$The git branch the task worked on, if the directive has a repository; for an integration task, the result branch it pushed.$$;
comment on column baton.tasks.commit_sha is
  $$The final commit of the task's branch, recorded when it completed (for an integration task: the result commit).$$;

/* How many attempts one integration gets before the directive pauses: a step's default max_attempts. */
create function baton_private.integration_max_attempts() returns integer
language sql immutable
as $$ select 2 $$;
comment on function baton_private.integration_max_attempts() is
  $$How many attempts one integration gets (2, a step's default max_attempts) before its directive is paused.$$;

/* Whether a directive with nothing open is to integrate rather than go idle. */
create function baton_private.needs_integration(d baton.directives) returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select d.repo is not null and d.integration_due and d.integration_task_id is null
     and not exists (select 1 from baton.directive_steps s
                      where s.directive_id = d.id and baton_private.step_blocks_dependents(s.status))
$$;
comment on function baton_private.needs_integration(baton.directives) is
  $$True when the directive has a repository, settled work not integrated yet (integration_due), no integration in flight, and no failed or blocked step.$$;

/*
 * Creates the directive's integration task (pending) and records it on the directive. The caller
 * holds the directive lock. The check is the directive's, fixed now like a step attempt's. No daemon
 * is locked here: a dispatch_task job assigns it after this commit, unless a slot freed in this
 * transaction takes it first (refill_daemon).
 */
create function baton_private.start_integration(directive_id uuid, attempt integer) returns uuid
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task uuid;
begin
  insert into baton.tasks (owner_id, directive_id, kind, attempt, check_command)
  select d.owner_id, d.id, 'integration', start_integration.attempt, d.check_command
    from baton.directives d where d.id = start_integration.directive_id
  returning id into v_task;
  update baton.directives d set integration_task_id = v_task, integration_due = false where d.id = start_integration.directive_id;
  perform baton_private.enqueue_dispatch_tasks(array[v_task]);
  return v_task;
end;
$$;
comment on function baton_private.start_integration(uuid, integer) is
  $$Creates the directive's integration task (the given attempt, the directive's check), records it as integration_task_id, clears integration_due and queues its dispatch. Returns the task id.$$;

/*
 * active -> idle, as in 000003, except that a directive with settled work to integrate creates its
 * integration task instead, and one whose integration is in flight waits for it. The common call (a
 * step settled, others still open) is one indexed read of the directive row.
 */
create or replace function baton_private.maybe_idle(directive_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
begin
  select * into v_directive from baton.directives d
   where d.id = maybe_idle.directive_id and d.status = 'active' and d.open_steps = 0
     and d.orchestrator_task_id is null and d.planned_revision is not distinct from d.goal_revision;
  if not found or v_directive.integration_task_id is not null then
    return;
  end if;
  if baton_private.needs_integration(v_directive) then
    perform baton_private.start_integration(v_directive.id, 1);
    return;
  end if;
  update baton.directives d set status = 'idle', idle_at = now() where d.id = v_directive.id and d.status = 'active';
end;
$$;
comment on function baton_private.maybe_idle(uuid) is
  $$When an active directive has nothing left to run or plan: creates its integration task if settled work is to be integrated (needs_integration), waits while one is in flight, and otherwise moves it to idle.$$;

/* idle -> active, as in 000003, also when settled work is to be integrated (a failed step skipped, retried to completion or removed). */
create or replace function baton_private.reactivate(directive_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  update baton.directives d set status = 'active'
   where d.id = reactivate.directive_id and d.status = 'idle'
     and (d.open_steps > 0 or d.planned_revision is distinct from d.goal_revision or baton_private.needs_integration(d));
$$;
comment on function baton_private.reactivate(uuid) is
  $$Moves an idle directive back to active when it has an open step, a goal to plan, or settled work to integrate.$$;

/*
 * The open-step counter (000004) for updates, now also marking settled work: a step that became
 * completed or skipped in this statement makes its directive (with a repository) due for integration,
 * in the same UPDATE of the directive row. Used by _800_count_open_update only.
 */
create or replace function baton_private.tg_directive_steps__count_open() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_delta record;
begin
  for v_delta in
    select x.directive_id, sum(x.delta)::int as delta, bool_or(x.settled) as settled from (
      select n.directive_id, 1 as delta, false as settled from new_rows n where baton_private.step_is_open(n.status)
      union all
      select o.directive_id, -1, false from old_rows o where baton_private.step_is_open(o.status)
      union all
      select n.directive_id, 0, true from new_rows n join old_rows o on o.id = n.id
       where baton_private.step_satisfies_dependents(n.status) and not baton_private.step_satisfies_dependents(o.status)
    ) x group by x.directive_id having sum(x.delta) <> 0 or bool_or(x.settled)
  loop
    update baton.directives d
       set open_steps = d.open_steps + v_delta.delta,
           integration_due = d.integration_due or (v_delta.settled and d.repo is not null)
     where d.id = v_delta.directive_id;
    if v_delta.delta < 0 or v_delta.settled then
      perform baton_private.maybe_idle(v_delta.directive_id);
    end if;
  end loop;
  return null;
end;
$$;
comment on function baton_private.tg_directive_steps__count_open() is
  $$Keeps directives.open_steps in step with step statuses and marks settled work (integration_due), once per statement, then lets the directive integrate or go idle.$$;

/* The counter on delete (000004), plus: removing a settled step changes the result, so it is due again. */
create or replace function baton_private.tg_directive_steps__count_open_delete() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_delta record;
begin
  for v_delta in
    select o.directive_id, (count(*) filter (where baton_private.step_is_open(o.status)))::int as delta,
           bool_or(baton_private.step_satisfies_dependents(o.status)) as settled
      from old_rows o group by 1
    having count(*) filter (where baton_private.step_is_open(o.status)) > 0 or bool_or(baton_private.step_satisfies_dependents(o.status))
  loop
    update baton.directives d
       set open_steps = d.open_steps - v_delta.delta,
           integration_due = d.integration_due or (v_delta.settled and d.repo is not null)
     where d.id = v_delta.directive_id;
    perform baton_private.maybe_idle(v_delta.directive_id);
  end loop;
  return null;
end;
$$;
comment on function baton_private.tg_directive_steps__count_open_delete() is
  $$Removes deleted open steps from directives.open_steps, marks the directive due for integration when a settled step was deleted, and lets it integrate or go idle.$$;

/*
 * An integration task's outcome, mirrored into its directive. Only the directive's current
 * integration task counts (integration_task_id): a superseded one changes nothing.
 *   completed                 -> the result is recorded; the directive integrates again if more work
 *                                settled meanwhile, else goes idle (maybe_idle)
 *   failed | interrupted      -> the next attempt at once while attempts are left (active directive)
 *   out of attempts, cancelled-> the directive is paused (its error is the reason); resuming integrates again
 *   directive paused/archived -> nothing more; a resume integrates again
 */
create function baton_private.mirror_integration(t baton.tasks) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
begin
  if baton_private.task_is_live(t.status) then
    return;
  end if;
  select * into v_directive from baton.directives d where d.id = t.directive_id;
  if not found or v_directive.integration_task_id is distinct from t.id then
    return;
  end if;
  if t.status = 'completed' then
    update baton.directives d
       set integration_task_id = null, result_branch = t.branch, result_commit = t.commit_sha, result_url = t.result_url, result_at = now()
     where d.id = t.directive_id;
    perform baton_private.record_event(t.owner_id, t.directive_id, 'directive', t.directive_id, 'integrated',
      v_directive.status::text, v_directive.status::text,
      jsonb_strip_nulls(jsonb_build_object('task_id', t.id, 'branch', t.branch, 'commit_sha', t.commit_sha, 'url', t.result_url)));
    perform baton_private.maybe_idle(t.directive_id);
    return;
  end if;
  update baton.directives d set integration_task_id = null where d.id = t.directive_id;
  if v_directive.status <> 'active' then
    update baton.directives d set integration_due = d.repo is not null where d.id = t.directive_id;
    return;
  end if;
  if baton_private.task_attempt_failed(t.status) and t.attempt < baton_private.integration_max_attempts() then
    perform baton_private.start_integration(t.directive_id, t.attempt + 1);
    return;
  end if;
  update baton.directives d set integration_due = true, status = 'paused' where d.id = t.directive_id;
end;
$$;
comment on function baton_private.mirror_integration(baton.tasks) is
  $$Mirrors a finished integration task into its directive: records the result and lets it go idle (completed), starts the next attempt (failed or interrupted, attempts left), or pauses it (out of attempts, or cancelled), due to integrate again on resume.$$;

/* As in 000016, plus integration tasks (mirror_integration). */
create or replace function baton_private.tg_tasks__mirror() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps;
begin
  if new.kind = 'integration' then
    perform baton_private.mirror_integration(new);
    return null;
  end if;
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
      null;  -- ready -> running: once per statement (tg_tasks__mirror_started)
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
  $$Mirrors a task's status into its step (running, completed, ready for another attempt, or failed), for planning tasks into its directive, and for integration tasks into its directive's result (mirror_integration).$$;

/* As in 000005, plus: an integration's work is ready when it is created (its last step just settled). */
create or replace function baton_private.tg_tasks__stamp_ready_at() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_activated_at timestamptz;
  v_since timestamptz;
begin
  if new.kind = 'integration' then
    new.ready_at := now();
    return new;
  end if;
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
comment on function baton_private.tg_tasks__stamp_ready_at() is
  $$Stamps tasks.ready_at on insert: when the step became ready (execution) or planning was needed, not before the directive's last activation; an integration task's work is ready when it is created.$$;

/* The directive's guard (000003), plus: it does not go idle while its integration is in flight. */
create or replace function baton_private.tg_directives__guard() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if not baton_private.directive_transition_allowed(old.status::text, new.status::text) then
    if old.status = 'archived' then
      raise exception 'Directive % is archived, so it cannot become %; archiving is final.', old.id, new.status
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
              hint = 'Create a new directive instead.';
    end if;
    raise exception 'Directive % is %, so it cannot become %; from % it can become %.', old.id, old.status, new.status, old.status,
      baton_private.or_list(array(select x from unnest(baton_private.directive_statuses()) x
                                   where baton_private.directive_transition_allowed(old.status::text, x)))
      using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
            hint = 'Move directives with start_directive, pause_directive and archive_directive; idle and active follow from their work.';
  end if;
  if new.status = 'idle' and new.integration_task_id is not null then
    raise exception 'Directive % is integrating its result (task %), so it cannot become idle until that task ends.', old.id, new.integration_task_id
      using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
            hint = 'Wait for the integration task, or stop it with `baton task cancel`.';
  end if;
  -- archived_at must be set in the same row version as the status, for the CHECK constraint.
  if new.status = 'archived' then new.archived_at := coalesce(new.archived_at, now()); end if;
  if new.status = 'idle' then new.idle_at := now(); end if;
  if new.status = 'active' then new.started_at := coalesce(new.started_at, now()); end if;
  return new;
end;
$$;
comment on function baton_private.tg_directives__guard() is
  $$Refuses directive transitions that directive_transition_allowed does not list, and idle while an integration task is in flight (BTSTS); stamps archived_at, idle_at and started_at.$$;

comment on table baton.directives is $$@behavior -insert -update -delete
A goal given to Baton. An agent plans it into a DAG of steps; each ready step is dispatched as a task to a daemon; when every step is settled, the steps' branches are integrated into one result branch (directives with a repository), and the directive goes idle; it is re-planned when its goal changes.
Status: draft -> active (startDirective) or archived; active -> paused (pauseDirective, its planner failed, or its integration failed for good), idle (nothing left to run, plan or integrate) or archived; paused -> active (startDirective) or archived; idle -> active (new steps, a retry, a re-wiring, a goal update, or settled work to integrate), paused or archived; archived is final.$$;

-- ---------------------------------------------------------------------------------------------
-- What the daemon reads and reports.
-- ---------------------------------------------------------------------------------------------

/* The sinks an integration merges, in the order they are merged (see the header). */
create function baton_private.integration_sinks(directive_id uuid) returns jsonb
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(jsonb_agg(jsonb_build_object('step_id', p.id, 'name', p.name, 'status', p.status,
                                               'branch', pt.branch, 'commit_sha', pt.commit_sha)
                            order by p.order_index, p.created_at, p.id), '[]'::jsonb)
    from baton.directive_steps p
    join baton.tasks pt on pt.id = p.current_task_id and pt.status = 'completed' and pt.commit_sha is not null
   where p.directive_id = integration_sinks.directive_id and p.status = 'completed'
     and not exists (select 1 from baton.step_dependencies sd
                       join baton.directive_steps c on c.id = sd.step_id and c.status = 'completed'
                       join baton.tasks ct on ct.id = c.current_task_id and ct.status = 'completed' and ct.commit_sha is not null
                      where sd.depends_on_step_id = p.id)
$$;
comment on function baton_private.integration_sinks(uuid) is
  $$The steps an integration merges: completed steps whose accepted attempt recorded a commit and on which no such step depends ([{step_id, name, status, branch, commit_sha}], in dispatch order).$$;

/* As in 000014; an integration task also gets its sinks (as dependencies), its result branch, the on-complete command and the goal. */
create or replace function baton.tasks_workspace(t baton.tasks) returns jsonb
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'repo', d.repo,
    'base_branch', d.base_branch,
    'directive_title', d.title,
    'step_name', s.name,
    'dependencies', case when r.kind = 'integration' then baton_private.integration_sinks(r.directive_id) else coalesce((
      select jsonb_agg(jsonb_build_object('step_id', p.id, 'name', p.name, 'status', p.status,
                                          'branch', pt.branch, 'commit_sha', pt.commit_sha)
                       order by p.order_index, p.created_at, p.id)
        from baton.step_dependencies sd
        join baton.directive_steps p on p.id = sd.depends_on_step_id
        left join baton.tasks pt on pt.id = p.current_task_id
       where sd.step_id = r.step_id), '[]'::jsonb) end)
    || case when r.kind = 'integration'
            then jsonb_build_object('result_branch', d.target_branch, 'on_complete', d.on_complete_command, 'directive_goal', d.goal)
            else '{}'::jsonb end
    -- The stored row, not the argument: a caller cannot pass a made-up row to read others' facts.
    from baton.tasks r
    join baton.directives d on d.id = r.directive_id
    left join baton.directive_steps s on s.id = r.step_id
   where r.id = t.id
     and (baton_private.current_api_role() = 'admin'
          or (baton_private.current_api_role() = 'baton_user' and r.owner_id = baton_private.current_owner_id())
          or (baton_private.current_api_role() = 'baton_daemon' and r.daemon_id = baton_private.current_daemon_id()));
$$;
comment on function baton.tasks_workspace(baton.tasks) is
  $$For the task's daemon: {repo, base_branch, directive_title, step_name, dependencies: [{step_id, name, status, branch, commit_sha}]} — where to clone from and which commits the worktree starts from. For an integration task, dependencies are the sinks to merge, plus result_branch (where to push), on_complete (the command to run after) and directive_goal.$$;

/*
 * report_task_status's body, as in 000018, plus result_url (an integration's on-complete URL) and one
 * guard: an integration task completes only with its result branch and commit (the CHECK
 * integration_completes_with_result stays the backstop).
 */
drop function baton.report_task_status(uuid, text, integer, text, text, text, uuid);
drop function baton_private.report_task_status(uuid, text, integer, text, text, text, uuid);
create function baton_private.report_task_status(
  task_id uuid, status text, expected_version integer default null, error text default null,
  branch text default null, commit_sha text default null, daemon_id uuid default null, result_url text default null
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
  -- GUARD: an integration completes with its result.
  if v_task.kind = 'integration' and v_status = 'completed'
     and (coalesce(report_task_status.branch, v_task.branch) is null or coalesce(report_task_status.commit_sha, v_task.commit_sha) is null) then
    raise exception 'Task % is an integration, so it can be completed only with its result: report the result branch and its commit.', v_task.id
      using errcode = 'BTINV', hint = 'A daemon older than the server does not integrate: upgrade it.';
  end if;
  -- GUARD: the result URL (integration tasks only).
  if report_task_status.result_url is not null then
    if v_task.kind <> 'integration' then
      raise exception 'Task % is a % task, so it has no result URL; only integration tasks report one.', v_task.id, v_task.kind
        using errcode = 'BTINV';
    end if;
    if report_task_status.result_url !~ '^https?://[^[:space:]]+$' or octet_length(report_task_status.result_url) > 2048 then
      raise exception 'The result URL must be one http:// or https:// URL of at most 2048 bytes; got "%".', left(report_task_status.result_url, 200)
        using errcode = 'BTINV';
    end if;
  end if;
  perform baton_private.assert_text('the error', error, 0, 65536);
  update baton.tasks t
     set status = v_status::baton.task_status,
         error = coalesce(report_task_status.error, t.error),
         branch = coalesce(report_task_status.branch, t.branch),
         commit_sha = coalesce(report_task_status.commit_sha, t.commit_sha),
         result_url = coalesce(report_task_status.result_url, t.result_url)
   where t.id = v_task.id
  returning * into v_task;
  return v_task;
end;
$$;
comment on function baton_private.report_task_status(uuid, text, integer, text, text, text, uuid, text) is
  $$The body of baton.report_task_status: records a task's new status with its error, branch, commit and (integration tasks) result URL. expected_version rejects a stale report (BTSTL); daemon_id rejects a report from another daemon (BTDNY), and a daemon's `completed` on a task with a check that is not checking (BTSTS). An integration completes only with its branch and commit (BTINV). A repeat of a finished task's status, or its own daemon's repeated `running` or `checking`, changes nothing; other reports on a finished task are late (BTSTL).$$;

/* As in 000009 (the token's daemon checked first), plus result_url. */
create function baton.report_task_status(
  task_id uuid, status text, expected_version integer default null, error text default null,
  branch text default null, commit_sha text default null, daemon_id uuid default null, result_url text default null
) returns baton.tasks
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon uuid := report_task_status.daemon_id;
begin
  perform baton_private.assert_token_live();
  -- A daemon reports for itself: its token's daemon id is checked whatever the argument says.
  if baton_private.current_api_role() = 'baton_daemon' then
    if v_daemon is not null and v_daemon is distinct from baton_private.current_daemon_id() then
      raise exception 'This daemon token is for daemon %, so it cannot report as daemon %.', baton_private.setting_uuid('baton.daemon_id'), v_daemon
        using errcode = 'BTDNY';
    end if;
    v_daemon := baton_private.current_daemon_id();
    if v_daemon is null or not exists (select 1 from baton.tasks t where t.id = report_task_status.task_id and t.daemon_id = v_daemon) then
      raise exception 'Task % is not assigned to this daemon (%), so it cannot report on it.', task_id, baton_private.setting_uuid('baton.daemon_id')
        using errcode = 'BTDNY', hint = 'A daemon reports on the tasks it was given (daemonCommands) only.';
    end if;
  end if;
  return baton_private.report_task_status(task_id, status, expected_version, error, branch, commit_sha, v_daemon, result_url);
end;
$$;
comment on function baton.report_task_status(uuid, text, integer, text, text, text, uuid, text) is
  $$Records a task's new status (running, checking, completed/merged/done, failed, interrupted), with its error or its branch and commit; an integration task completes with its result branch and commit, and result_url (the first URL its on-complete command printed). A task with a check goes running -> checking -> completed or failed. expected_version rejects a stale report (BTSTL); a daemon may report only on tasks assigned to it (BTDNY). Reports on a finished task are ignored with BTSTL unless they repeat its status.$$;
grant execute on function baton.report_task_status(uuid, text, integer, text, text, text, uuid, text) to baton_daemon;

-- ---------------------------------------------------------------------------------------------
-- Setting the result options: create_directive, set_directive_target_branch, set_directive_on_complete.
-- ---------------------------------------------------------------------------------------------

/* Raises BTINV unless the branch is a valid git branch name (null passes: the default). */
create function baton_private.assert_target_branch(target_branch text) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_problem text := baton_private.branch_name_problem(target_branch);
begin
  if target_branch is not null and v_problem is not null then
    raise exception 'The target branch "%" is not a valid git branch name: %.', left(target_branch, 300), v_problem
      using errcode = 'BTINV', hint = 'Use letters, digits and / - _ . such as "feature/login", or leave it out for baton/<directive-short>/result.';
  end if;
end;
$$;
comment on function baton_private.assert_target_branch(text) is $$Raises BTINV naming what is wrong unless the name is a valid git branch name; null passes.$$;

/* Raises BTINV when an on-complete command is blank or longer than 4096 bytes; null (none) passes. */
create function baton_private.assert_on_complete(on_complete_command text) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if on_complete_command is null then
    return;
  end if;
  if length(btrim(on_complete_command)) = 0 then
    raise exception 'The on-complete command is empty; give a shell command such as "gh pr create --fill --head \"$BATON_RESULT_BRANCH\"", or leave it out.'
      using errcode = 'BTINV';
  end if;
  if octet_length(on_complete_command) > 4096 then
    raise exception 'The on-complete command is % bytes; the limit is 4096 bytes.', octet_length(on_complete_command)
      using errcode = 'BTINV', hint = 'Put a long command in a script and give the command that runs it, e.g. "sh /path/to/on-complete.sh".';
  end if;
end;
$$;
comment on function baton_private.assert_on_complete(text) is $$Raises BTINV when an on-complete command is blank or longer than 4096 bytes; null passes.$$;

/* As in 000019, plus target_branch and on_complete_command (last, so positional callers keep working). */
drop function baton.create_directive(text, text, text, text, boolean, uuid, text, integer, integer);
create function baton.create_directive(
  title text, goal text, repo text default null, base_branch text default 'main',
  start boolean default false, owner_id uuid default null, check_command text default null,
  timeout_seconds integer default null, stall_seconds integer default null,
  target_branch text default null, on_complete_command text default null
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
  perform baton_private.assert_target_branch(nullif(btrim(create_directive.target_branch), ''));
  perform baton_private.assert_on_complete(create_directive.on_complete_command);
  insert into baton.directives (owner_id, title, goal, repo, base_branch, check_command, timeout_seconds, stall_seconds,
                                target_branch, on_complete_command)
  values (v_owner, btrim(title), goal, nullif(btrim(repo), ''), coalesce(nullif(btrim(base_branch), ''), 'main'), check_command,
          create_directive.timeout_seconds, create_directive.stall_seconds,
          nullif(btrim(create_directive.target_branch), ''), create_directive.on_complete_command)
  returning * into v_directive;
  if start then
    v_directive := baton.start_directive(v_directive.id);
  end if;
  return v_directive;
end;
$$;
comment on function baton.create_directive(text, text, text, text, boolean, uuid, text, integer, integer, text, text) is
  $$Creates a directive in `draft` (or `active` with start => true). repo is a git URL or local path; base_branch defaults to main; check_command is the check every step attempt (and the integration) must pass after its agent exits 0 (a step's own check replaces it); timeout_seconds and stall_seconds (1 to 2,592,000) limit each attempt of its tasks. When every step is settled, the sinks' branches are merged into target_branch (default baton/<directive-short>/result), checked and pushed, then on_complete_command runs there. owner_id is only for direct SQL; API callers act as the owner in their token.$$;
grant execute on function baton.create_directive(text, text, text, text, boolean, uuid, text, integer, integer, text, text) to baton_user;

create function baton.set_directive_target_branch(directive_id uuid, target_branch text) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
  v_branch text := nullif(btrim(set_directive_target_branch.target_branch), '');
begin
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its target branch cannot be changed.', v_directive.id
      using errcode = 'BTSTS', hint = 'Archiving is final; create a new directive instead.';
  end if;
  perform baton_private.assert_target_branch(v_branch);
  update baton.directives d set target_branch = coalesce(v_branch, baton_private.default_result_branch(d.id)) where d.id = v_directive.id
  returning * into v_directive;
  return v_directive;
end;
$$;
comment on function baton.set_directive_target_branch(uuid, text) is
  $$Sets the branch the directive's result is pushed to (null: back to baton/<directive-short>/result). Applies from the next integration; the last result stays where it was pushed.$$;

create function baton.set_directive_on_complete(directive_id uuid, on_complete_command text) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its on-complete command cannot be changed.', v_directive.id
      using errcode = 'BTSTS', hint = 'Archiving is final; create a new directive instead.';
  end if;
  perform baton_private.assert_on_complete(on_complete_command);
  update baton.directives d set on_complete_command = set_directive_on_complete.on_complete_command where d.id = v_directive.id
  returning * into v_directive;
  return v_directive;
end;
$$;
comment on function baton.set_directive_on_complete(uuid, text) is
  $$Sets the command run in the result's worktree after each integration pushed it (BATON_RESULT_BRANCH, BATON_RESULT_COMMIT and BATON_DIRECTIVE_ID set; the first http(s) URL it prints becomes result_url), or removes it with null. Applies from the next integration.$$;

grant execute on function baton.set_directive_target_branch(uuid, text), baton.set_directive_on_complete(uuid, text) to baton_user;

-- ---------------------------------------------------------------------------------------------
-- Cancelling an integration by hand.
-- ---------------------------------------------------------------------------------------------

/*
 * As in 000019, plus integration tasks: cancelled, one pauses its directive (mirror_integration), like
 * a planner; with retry the directive is resumed at once, which integrates again.
 */
create or replace function baton.cancel_task(task_id uuid, retry boolean default false) returns baton.tasks
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
                        when v_task.kind = 'integration' then 'An integration runs again when new work settles, or when its paused directive is resumed with `baton directive start`.'
                        when exists (select 1 from baton.directive_steps s where s.id = v_task.step_id and baton_private.step_blocks_dependents(s.status))
                          then 'To run its step again, use `baton directive retry-step ' || v_task.step_id || '`.'
                        else 'Only a live attempt can be stopped; `baton directive status --json` shows each step''s current one (currentTask).' end;
  end if;
  update baton.tasks t
     set status = 'cancelled',
         error = case when retry then case when t.kind = 'execution' then 'Cancelled by hand (baton task cancel --retry); the step runs again.'
                                           else 'Cancelled by hand (baton task cancel --retry); it runs again.' end
                      else 'Cancelled by hand (baton task cancel).' end
   where t.id = v_task.id
  returning * into v_task;
  if v_task.kind = 'execution' and not retry then
    -- The mirror made the step ready again; stopped by hand, it waits for retry-step instead.
    update baton.directive_steps s set status = 'failed'
     where s.id = v_task.step_id and s.current_task_id = v_task.id and s.status = 'ready';
  elsif v_task.kind in ('planning', 'integration') and retry and v_directive.status = 'active' then
    -- The mirror paused the directive, as for any planner or integration that did not complete:
    -- resume it, which plans or integrates again.
    perform baton_private.transition_directive(baton_private.lock_directive(v_directive.id), 'active', 'resumed', allowed => array['paused']);
  end if;
  select * into v_task from baton.tasks t where t.id = v_task.id;
  return v_task;
end;
$$;
comment on function baton.cancel_task(uuid, boolean) is
  $$Stops one live (pending, starting, running or checking) task: it becomes `cancelled` (its attempt is given back) and its daemon is told to stop the agent. Without retry its step is failed by hand (dependents stay blocked until retry-step or skip-step); with retry => true the step is ready again at once. A cancelled planner or integration pauses its directive; with retry the directive is resumed and plans or integrates again.$$;
