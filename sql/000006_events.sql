/*
 * Events: the append-only history of every status change, and the NOTIFY that wakes watchers.
 *
 * One generic trigger records directive, step, task and daemon transitions, so no code path can change
 * a status without leaving a row here. Watchers are told with ids only, once per transaction and
 * directive (a NOTIFY takes a global lock at commit, so a fan-out of 2,000 steps must not send 2,000):
 * the payload names the first event of the transaction and listeners read every event from there.
 *
 * `transaction_id` is a bigint, not xid8: PostGraphile has no codec for xid8 (it left the column out
 * of the API with a 40-line warning at every start). A 64-bit transaction id fits a bigint for the
 * life of any cluster, and equality between the events of one transaction is all transaction_events
 * needs. The actor columns are defaults, so any insert records who acted, at the cost of reading two
 * settings.
 */
create table baton.events (
  id bigint generated always as identity primary key,
  owner_id uuid not null references baton.owners (id) on delete cascade,
  directive_id uuid references baton.directives (id) on delete cascade,
  subject_type text not null,
  subject_id uuid not null,
  kind text not null,
  from_status text,
  to_status text,
  detail jsonb,
  actor text not null,
  created_at timestamptz not null default now(),
  transaction_id bigint not null default pg_current_xact_id()::text::bigint,
  actor_task_id uuid
    default (case when pg_catalog.current_setting('role', true) = 'baton_agent'
                   and pg_catalog.current_setting('baton.task_id', true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                  then pg_catalog.current_setting('baton.task_id', true)::uuid end),
  actor_daemon_id uuid
    default (case when pg_catalog.current_setting('role', true) = 'baton_daemon'
                   and pg_catalog.current_setting('baton.daemon_id', true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                  then pg_catalog.current_setting('baton.daemon_id', true)::uuid end),
  constraint subject_type_is_valid check (subject_type in ('directive', 'step', 'task', 'daemon')),
  constraint kind_is_valid check (length(kind) between 1 and 64)
);

create index events_directive_idx on baton.events (directive_id, id);
create index events_owner_idx on baton.events (owner_id, id);
create index events_subject_idx on baton.events (subject_id, id);

comment on table baton.events is $$@behavior -insert -update -delete
Append-only history: one row for every status change of a directive, step, task or daemon, and for other notable changes (goal updated, dependencies changed, step removed).$$;
comment on column baton.events.id is $$Event id, increasing in the order events were recorded (not the order their transactions committed: de-duplicate by id rather than reading "after the last id").$$;
comment on column baton.events.owner_id is $$The owner of the subject.$$;
comment on column baton.events.directive_id is $$The directive concerned (null for daemon events).$$;
comment on column baton.events.subject_type is $$What changed: directive, step, task or daemon.$$;
comment on column baton.events.subject_id is $$The id of what changed.$$;
comment on column baton.events.kind is $$`created`, `status_changed`, `goal_updated`, `dependencies_changed`, `removed`, ...$$;
comment on column baton.events.from_status is $$The status before (null when created).$$;
comment on column baton.events.to_status is $$The status after.$$;
comment on column baton.events.detail is $$Extra facts, e.g. the error of a failed task or the step's name.$$;
comment on column baton.events.actor is $$The database role that made the change (baton_user, baton_daemon, ... or the login for a DBA).$$;
comment on column baton.events.created_at is $$When it happened.$$;
comment on column baton.events.transaction_id is
  $$The transaction that recorded the event (pg_current_xact_id() as a number); one NOTIFY on `baton:directive:<id>` covers all events of a transaction.$$;
comment on column baton.events.actor_task_id is
  $$The task whose agent made the change (agent tokens); null for owners, daemons, DBAs and Baton itself. The daemon that ran it is the task's daemon.$$;
comment on column baton.events.actor_daemon_id is
  $$The daemon that made the change (daemon tokens, e.g. a status report); null for owners, agents, DBAs and Baton itself.$$;

/* The role that asked for the change. Inside SECURITY DEFINER functions current_user is the owner of
   the function, but the `role` setting still names the API role the request switched to. */
create function baton_private.current_actor() returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case when coalesce(current_setting('role', true), 'none') in ('none', '')
              then session_user::text else current_setting('role', true) end;
$$;
comment on function baton_private.current_actor() is $$The API role of the current request, or the login for direct SQL.$$;

/* Appends one event and, the first time in this transaction for this directive, NOTIFYs its channel. */
create function baton_private.record_event(
  owner_id uuid, directive_id uuid, subject_type text, subject_id uuid, kind text,
  from_status text default null, to_status text default null, detail jsonb default null
) returns bigint
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_event_id bigint;
  v_notified text;
begin
  insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
  values (record_event.owner_id, record_event.directive_id, record_event.subject_type, record_event.subject_id,
          record_event.kind, record_event.from_status, record_event.to_status, record_event.detail,
          baton_private.current_actor())
  returning id into v_event_id;

  if record_event.directive_id is not null then
    -- A transaction-local list of directives already notified in this transaction.
    v_notified := coalesce(current_setting('baton.notified_directives', true), '');
    if position(record_event.directive_id::text in v_notified) = 0 then
      perform set_config('baton.notified_directives', v_notified || record_event.directive_id::text || ',', true);
      perform pg_notify('baton:directive:' || record_event.directive_id::text,
                        json_build_object('event_id', v_event_id, 'kind', record_event.kind)::text);
    end if;
  end if;
  return v_event_id;
end;
$$;
comment on function baton_private.record_event(uuid, uuid, text, uuid, text, text, text, jsonb) is
  $$Appends an event and notifies `baton:directive:<id>` once per transaction with the first event id.$$;

/* One trigger function for the four tables with a status. */
create function baton_private.tg__record_status_event() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row jsonb := to_jsonb(new);
  v_type text := case tg_table_name when 'directives' then 'directive' when 'directive_steps' then 'step'
                                    when 'tasks' then 'task' else 'daemon' end;
  v_directive_id uuid := case tg_table_name when 'directives' then new.id
                                            when 'daemons' then null
                                            else (v_row ->> 'directive_id')::uuid end;
  v_detail jsonb;
begin
  if tg_op = 'UPDATE' and old.status is not distinct from new.status then
    return null;
  end if;
  v_detail := case v_type
    when 'step' then jsonb_build_object('name', v_row ->> 'name', 'attempts', (v_row ->> 'attempts')::int)
    when 'task' then jsonb_strip_nulls(jsonb_build_object('kind', v_row ->> 'kind', 'step_id', v_row ->> 'step_id',
                       'daemon_id', v_row ->> 'daemon_id', 'attempt', (v_row ->> 'attempt')::int, 'error', left(v_row ->> 'error', 2000)))
    else null end;
  perform baton_private.record_event(
    (v_row ->> 'owner_id')::uuid, v_directive_id, v_type, new.id,
    case tg_op when 'INSERT' then 'created' else 'status_changed' end,
    case tg_op when 'INSERT' then null else old.status::text end,
    new.status::text, v_detail);
  return null;
end;
$$;
comment on function baton_private.tg__record_status_event() is $$Records a `created` or `status_changed` event for directives, steps, tasks and daemons.$$;

create trigger _500_record_event after insert or update of status on baton.directives
  for each row execute function baton_private.tg__record_status_event();
create trigger _500_record_event after insert or update of status on baton.directive_steps
  for each row execute function baton_private.tg__record_status_event();
create trigger _500_record_event after insert or update of status on baton.tasks
  for each row execute function baton_private.tg__record_status_event();
create trigger _500_record_event after insert or update of status on baton.daemons
  for each row execute function baton_private.tg__record_status_event();

/* updated_at on every change; shared by all tables that have it. */
create function baton_private.tg__timestamps() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
comment on function baton_private.tg__timestamps() is $$Sets updated_at on every update.$$;

create trigger _100_timestamps before update on baton.directives
  for each row execute function baton_private.tg__timestamps();
create trigger _100_timestamps before update on baton.directive_steps
  for each row execute function baton_private.tg__timestamps();
create trigger _100_timestamps before update on baton.tasks
  for each row execute function baton_private.tg__timestamps();
create trigger _100_timestamps before update on baton.daemons
  for each row execute function baton_private.tg__timestamps();

/*
 * Events of one transaction. A directive's channel is notified once per transaction with the first
 * event's id; subscribers read the whole transaction's events with this (through RLS).
 */
create function baton.transaction_events(directive_id uuid, first_event_id bigint) returns setof baton.events
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select e.* from baton.events e
   where e.directive_id = transaction_events.directive_id
     and e.id >= first_event_id
     and e.transaction_id = (select f.transaction_id from baton.events f where f.id = first_event_id)
   order by e.id;
$$;
comment on function baton.transaction_events(uuid, bigint) is $$The events of the directive recorded by the same transaction as first_event_id, in order (what one NOTIFY on `baton:directive:<id>` stands for).$$;
grant execute on function baton.transaction_events(uuid, bigint) to baton_user, baton_agent;
