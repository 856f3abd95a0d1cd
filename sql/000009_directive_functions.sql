/*
 * Directive transitions: create, start, pause, archive, update the goal.
 *
 * Each transition is its own function that updates only from the states it allows and otherwise
 * raises BTSTS with the directive, its state, and what is allowed. What a transition *causes*
 * (dispatching ready steps, planning, cancelling tasks) lives in the status trigger below, so a DBA's
 * direct UPDATE has the same effects as the API.
 */

create function baton.create_owner(name text) returns baton.owners
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner baton.owners;
begin
  if name is null or length(btrim(name)) = 0 or length(name) > 200 then
    raise exception 'An owner name must be 1 to 200 characters (got %).', coalesce(length(name)::text, 'none')
      using errcode = 'BTINV';
  end if;
  insert into baton.owners (name) values (btrim(name)) returning * into v_owner;
  return v_owner;
end;
$$;
comment on function baton.create_owner(text) is $$Creates an owner (a tenant). Admin only.$$;

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

/* Moves a locked directive to a new status if it is in one of the allowed states, else explains. */
create function baton_private.transition_directive(d baton.directives, to_status text, allowed text[], verb text)
returns baton.directives
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_message text;
begin
  if not d.status = any (allowed) then
    v_message := format('Directive %s is %s, so it cannot be %s; only %s directives can.', d.id, d.status, verb,
      -- "draft or paused", "draft, active, paused or idle"
      case when cardinality(allowed) = 1 then allowed[1]
           else array_to_string(allowed[1:cardinality(allowed) - 1], ', ') || ' or ' || allowed[cardinality(allowed)] end);
    -- RAISE refuses a null option, so the hint needs its own branch.
    if d.status = 'archived' then
      raise exception using message = v_message, errcode = 'BTSTS',
        detail = format('from=%s to=%s allowed=%s', d.status, to_status, allowed),
        hint = 'Archiving is final; create a new directive instead.';
    end if;
    raise exception using message = v_message, errcode = 'BTSTS',
      detail = format('from=%s to=%s allowed=%s', d.status, to_status, allowed);
  end if;
  update baton.directives x set status = to_status where x.id = d.id;
  -- Re-read: the status trigger may have moved it on already (a resumed directive with nothing left
  -- to do goes idle at once), and the caller must get the row as it is.
  select * into v_directive from baton.directives x where x.id = d.id;
  return v_directive;
end;
$$;
comment on function baton_private.transition_directive(baton.directives, text, text[], text) is
  $$Changes a directive's status when the current one is allowed, else raises BTSTS naming from, to and what is allowed.$$;

create function baton.create_directive(
  title text, goal text, repo text default null, base_branch text default 'main',
  start boolean default false, owner_id uuid default null
) returns baton.directives
language plpgsql volatile
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
language plpgsql volatile
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
  return baton_private.transition_directive(v_directive, 'active', array['draft', 'paused'], 'started');
end;
$$;
comment on function baton.start_directive(uuid) is
  $$Starts a draft directive or resumes a paused one: it is planned if it has no steps, and its ready steps are dispatched.$$;

create function baton.pause_directive(directive_id uuid) returns baton.directives
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return baton_private.transition_directive(baton_private.lock_directive(directive_id), 'paused', array['active', 'idle'], 'paused');
end;
$$;
comment on function baton.pause_directive(uuid) is
  $$Pauses a directive: nothing new is dispatched; running tasks finish. Resume with start_directive.$$;

create function baton.archive_directive(directive_id uuid) returns baton.directives
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  return baton_private.transition_directive(baton_private.lock_directive(directive_id), 'archived',
    array['draft', 'active', 'paused', 'idle'], 'archived');
end;
$$;
comment on function baton.archive_directive(uuid) is
  $$Archives a directive for good: pending tasks are cancelled and running ones interrupted.$$;

create function baton.update_goal(directive_id uuid, goal text) returns baton.directives
language plpgsql volatile
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
    v_directive.status, v_directive.status, jsonb_build_object('goal_revision', v_directive.goal_revision));
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
     where t.directive_id = new.id and t.status in ('starting', 'running');
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_directives__on_status() is $$Dispatches, plans or idles a directive that became active; cancels and interrupts the tasks of an archived one.$$;

create trigger _800_on_status after update of status on baton.directives
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_directives__on_status();

/* archived_at must be set in the same row version as the status, for the CHECK constraint. */
create function baton_private.tg_directives__stamp_status() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.status = 'archived' then new.archived_at := coalesce(new.archived_at, now()); end if;
  if new.status = 'idle' then new.idle_at := now(); end if;
  if new.status = 'active' then new.started_at := coalesce(new.started_at, now()); end if;
  return new;
end;
$$;
comment on function baton_private.tg_directives__stamp_status() is $$Stamps archived_at, idle_at and started_at as a directive changes status.$$;

create trigger _200_stamp_status before update of status on baton.directives
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_directives__stamp_status();
