/*
 * Directives: a user's goal, optionally on a git repository, planned into a DAG of steps.
 *
 * Planning is tracked with revisions rather than timestamps: `goal_revision` counts goal edits and
 * `planned_revision` records which revision the last successful plan was made for. A directive needs
 * (re-)planning exactly when they differ, so a re-plan that only removes steps cannot loop (the old
 * "newest step older than the goal edit" rule did).
 *
 * `open_steps` counts steps that are pending, ready or running. It is maintained by the step
 * triggers, so idle detection costs O(1) whatever the directive's size.
 *
 * This file holds the directive's state machine (directive_transition_allowed and its guard
 * trigger), the functions that make its transitions (start, pause, archive, idle, reactivate) and
 * what each causes (dispatching ready steps, planning, cancelling tasks). What a transition causes
 * lives in the status trigger, so a DBA's direct UPDATE has the same effects as the API.
 *
 * The API functions are SECURITY DEFINER because API roles have no write grants on tables; each one
 * checks its caller first (lock_directive, resolve_owner in 000007).
 */
create type baton.directive_status as enum ('draft', 'active', 'paused', 'idle', 'archived');
comment on type baton.directive_status is $$A directive's status: draft, active, paused, idle or archived (the state machine is in the table's comment).$$;

create table baton.directives (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  title text not null,
  goal text not null,
  repo text,
  base_branch text not null default 'main',
  status baton.directive_status not null default 'draft',
  goal_revision integer not null default 1,
  planned_revision integer,
  previous_goal text,
  current_generation integer not null default 0,
  orchestrator_task_id uuid,
  open_steps integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  goal_updated_at timestamptz not null default now(),
  started_at timestamptz,
  idle_at timestamptz,
  archived_at timestamptz,
  constraint title_is_valid check (length(btrim(title)) between 1 and 200),
  constraint goal_is_valid check (length(btrim(goal)) >= 1 and octet_length(goal) <= 102400),
  constraint previous_goal_is_valid check (previous_goal is null or octet_length(previous_goal) <= 102400),
  constraint repo_is_valid check (repo is null or length(btrim(repo)) between 1 and 2048),
  constraint base_branch_is_valid check (length(btrim(base_branch)) between 1 and 255),
  constraint planned_revision_is_valid check (planned_revision is null or planned_revision between 1 and goal_revision),
  constraint open_steps_is_not_negative check (open_steps >= 0),
  constraint archived_at_only_when_archived check ((status = 'archived') = (archived_at is not null))
);

create index directives_owner_id_idx on baton.directives (owner_id, created_at desc);
create index directives_active_idx on baton.directives (id) where status = 'active';

comment on table baton.directives is $$@behavior -insert -update -delete
A goal given to Baton. An agent plans it into a DAG of steps; each ready step is dispatched as a task to a daemon; the directive goes idle when nothing is left to do, and is re-planned when its goal changes.
Status: draft -> active (startDirective) or archived; active -> paused (pauseDirective, or its planner failed), idle (nothing left to run or plan) or archived; paused -> active (startDirective) or archived; idle -> active (new steps, a retry, a re-wiring or a goal update), paused or archived; archived is final.$$;
comment on column baton.directives.id is $$The directive's id; also the suffix of its NOTIFY channel `baton:directive:<id>`.$$;
comment on column baton.directives.owner_id is $$The owner of this directive.$$;
comment on column baton.directives.title is $$A short title, 1 to 200 characters.$$;
comment on column baton.directives.goal is $$What the user wants done, in prose (at most 100 KB). Changing it triggers a re-plan.$$;
comment on column baton.directives.repo is $$The git repository the agents work on (a URL or a local path), or null for work without a repository.$$;
comment on column baton.directives.base_branch is $$The branch that root steps start from. Default `main`.$$;
comment on column baton.directives.status is $$draft, active, paused, idle or archived.$$;
comment on column baton.directives.goal_revision is $$Counts goal edits, starting at 1.$$;
comment on column baton.directives.planned_revision is $$The goal revision the last successful plan was made for; null if never planned. The directive needs planning while this differs from goal_revision.$$;
comment on column baton.directives.previous_goal is $$The goal before the last update, shown to the re-planning agent.$$;
comment on column baton.directives.current_generation is $$The generation of the last successful plan (0 before the first). Steps added by a re-plan get the next one.$$;
comment on column baton.directives.orchestrator_task_id is $$The planning task in flight, if any. At most one per directive.$$;
comment on column baton.directives.open_steps is $$How many steps are pending, ready or running; maintained by triggers so idle detection is O(1).$$;
comment on column baton.directives.created_at is $$When the directive was created.$$;
comment on column baton.directives.updated_at is $$When this row last changed.$$;
comment on column baton.directives.goal_updated_at is $$When the goal was last set.$$;
comment on column baton.directives.started_at is $$When the directive was first started.$$;
comment on column baton.directives.idle_at is $$When the directive last went idle.$$;
comment on column baton.directives.archived_at is $$When the directive was archived; null otherwise.$$;

/*
 * THE STATE MACHINE. Every status change, whatever wrote it (the API, a planner's outcome, a DBA's
 * direct UPDATE), passes the _200_guard trigger, which refuses any move that
 * directive_transition_allowed does not list (BTSTS), then stamps the times.
 *
 *   draft  -> active     start_directive
 *   active -> paused     pause_directive, or its planning task failed
 *          -> idle       nothing is left to run or plan (maybe_idle)
 *   paused -> active     start_directive (resume); it goes idle at once if nothing is left
 *   idle   -> active     new work: steps added, a retry, a re-wiring, a goal update (reactivate)
 *          -> paused     pause_directive
 *   any    -> archived   archive_directive; archived is final
 */

/* "a", "a or b", "a, b or c": how messages list states. */
create function baton_private.or_list(items text[]) returns text
language sql immutable
as $$
  select case when cardinality(items) <= 1 then items[1]
              else array_to_string(items[1:cardinality(items) - 1], ', ') || ' or ' || items[cardinality(items)] end
$$;
comment on function baton_private.or_list(text[]) is $$Joins words for a message: "a", "a or b", "a, b or c".$$;

/* The statuses, in the order messages list them. */
create function baton_private.directive_statuses() returns text[]
language sql immutable
as $$ select array['draft', 'active', 'paused', 'idle', 'archived'] $$;
comment on function baton_private.directive_statuses() is $$Every directive status, in the order messages list them.$$;

/* The directive transitions that are legal, from -> to (the diagram above). */
create function baton_private.directive_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
as $$
  select case from_status
    when 'draft' then to_status in ('active', 'archived')
    when 'active' then to_status in ('paused', 'idle', 'archived')
    when 'paused' then to_status in ('active', 'archived')
    when 'idle' then to_status in ('active', 'paused', 'archived')
    else false end;
$$;
comment on function baton_private.directive_transition_allowed(text, text) is $$Whether a directive may move from one status to another. Archived allows nothing.$$;

/* The statuses a directive may move to `to_status` from. */
create function baton_private.directive_sources(to_status text) returns text[]
language sql immutable
as $$
  select array(select s from unnest(baton_private.directive_statuses()) with ordinality u(s, n)
                where baton_private.directive_transition_allowed(s, to_status) order by n)
$$;
comment on function baton_private.directive_sources(text) is $$The statuses from which a directive may become to_status, in order.$$;

/* Guards every directive status change (the API, a planner's outcome or a DBA's direct UPDATE), then stamps the times. */
create function baton_private.tg_directives__guard() returns trigger
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
  -- archived_at must be set in the same row version as the status, for the CHECK constraint.
  if new.status = 'archived' then new.archived_at := coalesce(new.archived_at, now()); end if;
  if new.status = 'idle' then new.idle_at := now(); end if;
  if new.status = 'active' then new.started_at := coalesce(new.started_at, now()); end if;
  return new;
end;
$$;
comment on function baton_private.tg_directives__guard() is
  $$Refuses directive transitions that directive_transition_allowed does not list (BTSTS); stamps archived_at, idle_at and started_at.$$;

create trigger _200_guard before update of status on baton.directives
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_directives__guard();

/*
 * THE TRANSITIONS. Each API transition is its own function that updates only from the states it
 * allows and otherwise raises BTSTS with the directive, its state, and what is allowed; the states
 * come from the machine above, except that start_directive starts only draft and paused directives
 * (an idle one wakes up by itself when work appears).
 */

/* Moves a locked directive to a new status if it is in one of the allowed states, else explains. */
create function baton_private.transition_directive(d baton.directives, to_status text, verb text, allowed text[] default null)
returns baton.directives
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_allowed text[] := coalesce(allowed, baton_private.directive_sources(to_status));
  v_directive baton.directives;
  v_message text;
begin
  if not d.status::text = any (v_allowed) then
    -- "draft or paused", "draft, active, paused or idle"
    v_message := format('Directive %s is %s, so it cannot be %s; only %s directives can.', d.id, d.status, verb,
      baton_private.or_list(v_allowed));
    -- RAISE refuses a null option, so the hint needs its own branch.
    if d.status = 'archived' then
      raise exception using message = v_message, errcode = 'BTSTS',
        detail = format('from=%s to=%s allowed=%s', d.status, to_status, v_allowed),
        hint = 'Archiving is final; create a new directive instead.';
    end if;
    raise exception using message = v_message, errcode = 'BTSTS',
      detail = format('from=%s to=%s allowed=%s', d.status, to_status, v_allowed);
  end if;
  update baton.directives x set status = to_status::baton.directive_status where x.id = d.id;
  -- Re-read: the status trigger may have moved it on already (a resumed directive with nothing left
  -- to do goes idle at once), and the caller must get the row as it is.
  select * into v_directive from baton.directives x where x.id = d.id;
  return v_directive;
end;
$$;
comment on function baton_private.transition_directive(baton.directives, text, text, text[]) is
  $$Changes a directive's status when the current one is allowed (by default, every status the machine allows it from), else raises BTSTS naming from, to and what is allowed.$$;

create function baton.create_directive(
  title text, goal text, repo text default null, base_branch text default 'main',
  start boolean default false, owner_id uuid default null
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
  insert into baton.directives (owner_id, title, goal, repo, base_branch)
  values (v_owner, btrim(title), goal, nullif(btrim(repo), ''), coalesce(nullif(btrim(base_branch), ''), 'main'))
  returning * into v_directive;
  if start then
    v_directive := baton.start_directive(v_directive.id);
  end if;
  return v_directive;
end;
$$;
comment on function baton.create_directive(text, text, text, text, boolean, uuid) is
  $$Creates a directive in `draft` (or `active` with start => true). repo is a git URL or local path; base_branch defaults to main. owner_id is only for direct SQL; API callers act as the owner in their token.$$;

create function baton.start_directive(directive_id uuid) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  -- Steps added by hand before the first start count as the plan for the current goal.
  if v_directive.status = 'draft' and v_directive.planned_revision is null
     and exists (select 1 from baton.directive_steps s where s.directive_id = v_directive.id) then
    update baton.directives d set planned_revision = d.goal_revision where d.id = v_directive.id;
    v_directive.planned_revision := v_directive.goal_revision;
  end if;
  return baton_private.transition_directive(v_directive, 'active', 'started', allowed => array['draft', 'paused']);
end;
$$;
comment on function baton.start_directive(uuid) is
  $$Starts a draft directive or resumes a paused one: it is planned if it has no steps, and its ready steps are dispatched.$$;

create function baton.pause_directive(directive_id uuid) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return baton_private.transition_directive(baton_private.lock_directive(directive_id), 'paused', 'paused');
end;
$$;
comment on function baton.pause_directive(uuid) is
  $$Pauses a directive: nothing new is dispatched; running tasks finish. Resume with start_directive.$$;

create function baton.archive_directive(directive_id uuid) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return baton_private.transition_directive(baton_private.lock_directive(directive_id), 'archived', 'archived');
end;
$$;
comment on function baton.archive_directive(uuid) is
  $$Archives a directive for good: pending tasks are cancelled and running ones interrupted.$$;

create function baton.update_goal(directive_id uuid, goal text) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  perform baton_private.assert_text('the goal', goal, 1, 102400);
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its goal cannot be updated; only draft, active, paused or idle directives can.', v_directive.id
      using errcode = 'BTSTS', hint = 'Create a new directive instead.';
  end if;
  if goal = v_directive.goal then
    return v_directive;
  end if;
  update baton.directives d
     set previous_goal = d.goal, goal = update_goal.goal, goal_revision = d.goal_revision + 1, goal_updated_at = now()
   where d.id = v_directive.id
  returning * into v_directive;
  perform baton_private.record_event(v_directive.owner_id, v_directive.id, 'directive', v_directive.id, 'goal_updated',
    v_directive.status::text, v_directive.status::text, jsonb_build_object('goal_revision', v_directive.goal_revision));
  if v_directive.status = 'idle' then
    perform baton_private.reactivate(v_directive.id);
  else
    perform baton_private.maybe_enqueue_planning(v_directive.id);
  end if;
  select * into v_directive from baton.directives d where d.id = v_directive.id;
  return v_directive;
end;
$$;
comment on function baton.update_goal(uuid, text) is
  $$Changes a directive's goal. An active or idle directive is re-planned (a new generation of steps); a draft or paused one is planned when started.$$;
grant execute on function
  baton.create_directive(text, text, text, text, boolean, uuid), baton.start_directive(uuid), baton.pause_directive(uuid),
  baton.archive_directive(uuid), baton.update_goal(uuid, text)
  to baton_user;

/* active -> idle when no step is open, no planner is in flight and the current goal has been planned. */
create function baton_private.maybe_idle(directive_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  update baton.directives d
     set status = 'idle', idle_at = now()
   where d.id = maybe_idle.directive_id
     and d.status = 'active'
     and d.open_steps = 0
     and d.orchestrator_task_id is null
     and d.planned_revision is not distinct from d.goal_revision;
$$;
comment on function baton_private.maybe_idle(uuid) is $$Moves an active directive to idle when nothing is left to run or plan.$$;

/*
 * idle -> active when new work appears (steps added, a retry, a re-wiring, a goal update). Only when
 * there is work: a step that can run or wait (open) or a goal to plan. Otherwise the directive would
 * flap idle -> active -> idle (e.g. new steps that are all blocked), with events and NOTIFYs for nothing.
 */
create function baton_private.reactivate(directive_id uuid) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  update baton.directives d set status = 'active'
   where d.id = reactivate.directive_id and d.status = 'idle'
     and (d.open_steps > 0 or d.planned_revision is distinct from d.goal_revision);
$$;
comment on function baton_private.reactivate(uuid) is $$Moves an idle directive back to active when it has an open step or a goal to plan.$$;

/*
 * What a directive's status change causes. Becoming active: dispatch what is ready, plan what needs
 * planning, hand pending tasks to daemons, or go idle at once. Archived: cancel and interrupt tasks.
 */
create function baton_private.tg_directives__on_status() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
begin
  if new.status = 'active' then
    perform baton_private.enqueue_dispatch_steps(array(
      select s.id from baton.directive_steps s where s.directive_id = new.id and s.status = 'ready'));
    for v_id in select t.id from baton.tasks t where t.directive_id = new.id and t.status = 'pending' loop
      perform baton_private.enqueue_dispatch_task(v_id);
    end loop;
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

create trigger _800_on_status after update of status on baton.directives
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_directives__on_status();
