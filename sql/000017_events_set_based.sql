/*
 * Events, cheaper (issue 10 point 3).
 *
 * BEFORE (000006): one generic row trigger serialised each whole new row with to_jsonb (a task's
 * prompt included, up to 1 MB) to pick four fields out of it, for every inserted and every changed
 * row, and called record_event once per row.
 *
 * NOW:
 *   - Rows created by one statement get their `created` events in ONE multi-row INSERT (a statement
 *     trigger reading the transition table): batch_add_steps of 2,000 steps, or a dispatch batch of
 *     200 tasks, writes its events in one statement.
 *   - A status change reads only the columns the event keeps (the status, and for steps and tasks
 *     the few detail fields), in a row trigger that fires only when the status changed. Status
 *     changes stay row triggers on purpose: their events keep the causal order watchers read them in
 *     (a task's `completed` before its step's, the step's before its dependents' `ready`), which a
 *     statement trigger would invert, since a nested statement's statement triggers fire first.
 *   - The NOTIFY to watchers, once per transaction and directive, is one helper (notify_directive)
 *     shared by both and by record_event.
 */

/* Notifies `baton:directive:<id>` with the first event id of this transaction for it, once. */
create function baton_private.notify_directive(directive_id uuid, first_event_id bigint, kind text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_notified text := coalesce(current_setting('baton.notified_directives', true), '');
begin
  if position(notify_directive.directive_id::text in v_notified) = 0 then
    perform set_config('baton.notified_directives', v_notified || notify_directive.directive_id::text || ',', true);
    perform pg_notify('baton:directive:' || notify_directive.directive_id::text,
                      json_build_object('event_id', first_event_id, 'kind', kind)::text);
  end if;
end;
$$;
comment on function baton_private.notify_directive(uuid, bigint, text) is
  $$NOTIFYs `baton:directive:<id>` with the transaction's first event id for that directive, the first time in this transaction only (a transaction-local list of notified directives).$$;

create or replace function baton_private.record_event(
  owner_id uuid, directive_id uuid, subject_type text, subject_id uuid, kind text,
  from_status text default null, to_status text default null, detail jsonb default null
) returns bigint
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_event_id bigint;
begin
  insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
  values (record_event.owner_id, record_event.directive_id, record_event.subject_type, record_event.subject_id,
          record_event.kind, record_event.from_status, record_event.to_status, record_event.detail,
          baton_private.current_actor())
  returning id into v_event_id;
  if record_event.directive_id is not null then
    perform baton_private.notify_directive(record_event.directive_id, v_event_id, record_event.kind);
  end if;
  return v_event_id;
end;
$$;

/* A status change: only the columns the event keeps are read (no whole-row serialisation). */
create or replace function baton_private.tg__record_status_event() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_type text;
  v_directive_id uuid;
  v_detail jsonb;
  v_event_id bigint;
begin
  -- NEW's fields are resolved when a branch runs, so each table reads only columns it has.
  case tg_table_name
    when 'tasks' then
      v_type := 'task';
      v_directive_id := new.directive_id;
      v_detail := jsonb_strip_nulls(jsonb_build_object('kind', new.kind, 'step_id', new.step_id, 'daemon_id', new.daemon_id,
                                                       'attempt', new.attempt, 'error', left(new.error, 2000)));
    when 'directive_steps' then
      v_type := 'step';
      v_directive_id := new.directive_id;
      v_detail := jsonb_build_object('name', new.name, 'attempts', new.attempts);
    when 'directives' then
      v_type := 'directive';
      v_directive_id := new.id;
    else
      v_type := 'daemon';
  end case;
  insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
  values (new.owner_id, v_directive_id, v_type, new.id, 'status_changed', old.status::text, new.status::text, v_detail, baton_private.current_actor())
  returning id into v_event_id;
  if v_directive_id is not null then
    perform baton_private.notify_directive(v_directive_id, v_event_id, 'status_changed');
  end if;
  return null;
end;
$$;
comment on function baton_private.tg__record_status_event() is
  $$Records a `status_changed` event for a directive, step, task or daemon whose status changed, with the few fields its detail keeps.$$;

/* Rows created by one statement: their `created` events in one INSERT, then one NOTIFY per directive. */
create function baton_private.tg__record_created_events() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_actor text := baton_private.current_actor();
  v_first record;
begin
  -- One branch per table: a statement on the transition table is planned only when its branch runs.
  if tg_table_name = 'tasks' then
    for v_first in
      with ins as (
        insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
        select n.owner_id, n.directive_id, 'task', n.id, 'created', null, n.status::text,
               jsonb_strip_nulls(jsonb_build_object('kind', n.kind, 'step_id', n.step_id, 'daemon_id', n.daemon_id,
                                                    'attempt', n.attempt, 'error', left(n.error, 2000))), v_actor
          from new_rows n
        returning id, directive_id)
      select i.directive_id, min(i.id) as first_id from ins i group by i.directive_id order by 2
    loop
      perform baton_private.notify_directive(v_first.directive_id, v_first.first_id, 'created');
    end loop;
  elsif tg_table_name = 'directive_steps' then
    for v_first in
      with ins as (
        insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
        select n.owner_id, n.directive_id, 'step', n.id, 'created', null, n.status::text,
               jsonb_build_object('name', n.name, 'attempts', n.attempts), v_actor
          from new_rows n
        returning id, directive_id)
      select i.directive_id, min(i.id) as first_id from ins i group by i.directive_id order by 2
    loop
      perform baton_private.notify_directive(v_first.directive_id, v_first.first_id, 'created');
    end loop;
  elsif tg_table_name = 'directives' then
    for v_first in
      with ins as (
        insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
        select n.owner_id, n.id, 'directive', n.id, 'created', null, n.status::text, null, v_actor
          from new_rows n
        returning id, directive_id)
      select i.directive_id, min(i.id) as first_id from ins i group by i.directive_id order by 2
    loop
      perform baton_private.notify_directive(v_first.directive_id, v_first.first_id, 'created');
    end loop;
  else
    insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
    select n.owner_id, null, 'daemon', n.id, 'created', null, n.status::text, null, v_actor from new_rows n;
  end if;
  return null;
end;
$$;
comment on function baton_private.tg__record_created_events() is
  $$Records the `created` events of the rows one statement inserted, in one INSERT, and notifies each directive concerned once.$$;

do $$
declare
  v_table text;
begin
  foreach v_table in array array['directives', 'directive_steps', 'tasks', 'daemons'] loop
    execute format('drop trigger _500_record_event on baton.%I', v_table);
    execute format('create trigger _500_record_created_events after insert on baton.%I referencing new table as new_rows
                      for each statement execute function baton_private.tg__record_created_events()', v_table);
    execute format('create trigger _500_record_status_event after update of status on baton.%I
                      for each row when (old.status is distinct from new.status)
                      execute function baton_private.tg__record_status_event()', v_table);
  end loop;
end
$$;
