/*
 * Owners and daemons.
 *
 * An owner is the tenant: every other row carries its owner_id so row-level security can be one
 * equality test. A daemon is a machine of one owner that runs coding agents; it is a row with a
 * heartbeat lease, so liveness is a fact in the database rather than an open socket in one process.
 *
 * Tokens can be revoked although Baton keeps no list of issued tokens: each owner has a token
 * generation that every token carries (claim `gen`), and rotating bumps it; a daemon has
 * `revoked_at`, after which its tokens resolve to nobody and it never connects again.
 *
 * A daemon's status is connected or disconnected, and either may follow the other, except that a
 * revoked daemon stays disconnected (the _200_guard trigger below). Its functions (register,
 * heartbeat, disconnect, revoke, dispatch) are in 000011_daemons_and_dispatch.sql.
 */
create table baton.owners (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  created_at timestamptz not null default now(),
  token_generation integer not null default 0,
  constraint name_is_valid check (length(btrim(name)) between 1 and 200),
  constraint token_generation_is_valid check (token_generation >= 0)
);

comment on table baton.owners is $$@behavior -insert -update -delete
A tenant of Baton: a person or team. Every directive, step, task, daemon and event belongs to exactly one owner.$$;
comment on column baton.owners.id is $$The owner's id.$$;
comment on column baton.owners.name is $$A human-readable name, 1 to 200 characters.$$;
comment on column baton.owners.created_at is $$When the owner was created.$$;
comment on column baton.owners.token_generation is
  $$The generation of this owner's tokens. `baton token rotate` (rotateTokens) increments it: every token minted before (the owner's, its daemons' and its agents') stops working.$$;

create type baton.daemon_status as enum ('connected', 'disconnected');
comment on type baton.daemon_status is $$A daemon's status: connected while its heartbeat is within the lease, else disconnected.$$;

create table baton.daemons (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  name text not null,
  hostname text,
  max_tasks integer not null default 1,
  status baton.daemon_status not null default 'connected',
  last_heartbeat_at timestamptz not null default now(),
  connected_at timestamptz not null default now(),
  disconnected_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  revoked_at timestamptz,
  constraint name_is_valid check (length(btrim(name)) between 1 and 200),
  constraint hostname_is_valid check (hostname is null or length(hostname) <= 255),
  constraint max_tasks_is_valid check (max_tasks between 1 and 1000),
  constraint disconnected_at_only_when_disconnected check ((status = 'disconnected') = (disconnected_at is not null)),
  constraint revoked_only_when_disconnected check (revoked_at is null or status = 'disconnected')
);

create index daemons_owner_id_idx on baton.daemons (owner_id);
create index daemons_connected_idx on baton.daemons (owner_id, last_heartbeat_at) where status = 'connected';

comment on table baton.daemons is $$@behavior -insert -update -delete
A machine that runs coding agents for one owner. It registers, heartbeats within its lease, and receives tasks on the channel `baton:daemon:<id>`.
Status: connected <-> disconnected (its heartbeat lapsed, it disconnected or it was revoked); a revoked daemon stays disconnected.$$;
comment on column baton.daemons.id is $$The daemon's id; also the suffix of its NOTIFY channel.$$;
comment on column baton.daemons.owner_id is $$The owner this daemon works for. It only ever receives that owner's tasks.$$;
comment on column baton.daemons.name is $$A human-readable name, 1 to 200 characters.$$;
comment on column baton.daemons.hostname is $$The host the daemon runs on, as it reported it.$$;
comment on column baton.daemons.max_tasks is $$How many tasks it runs at once (1 to 1000). Dispatch never assigns more.$$;
comment on column baton.daemons.status is $$`connected` while its heartbeat is within the lease, else `disconnected`.$$;
comment on column baton.daemons.last_heartbeat_at is $$When the daemon last heartbeated (or registered).$$;
comment on column baton.daemons.connected_at is $$When the daemon last registered or reconnected.$$;
comment on column baton.daemons.disconnected_at is $$When it was marked disconnected; null while connected.$$;
comment on column baton.daemons.created_at is $$When the daemon first registered.$$;
comment on column baton.daemons.updated_at is $$When this row last changed.$$;
comment on column baton.daemons.revoked_at is
  $$When its owner revoked it (`baton daemon revoke`); null while it may work. A revoked daemon stays disconnected: its tokens no longer work, its heartbeat is refused, and it gets no new token.$$;

/* Server-wide settings: the daemon lease and the token lifetimes. */
create table baton_private.settings (
  id boolean primary key default true,
  daemon_lease interval not null default interval '30 seconds',
  owner_token_ttl interval not null default interval '30 days',
  daemon_token_ttl interval not null default interval '1 hour',
  constraint single_row check (id),
  constraint daemon_lease_is_positive check (daemon_lease > interval '0'),
  constraint token_ttls_are_positive check (owner_token_ttl > interval '0' and daemon_token_ttl > interval '0')
);
insert into baton_private.settings default values;
comment on table baton_private.settings is $$Server-wide settings (one row). `baton server` writes BATON_DAEMON_LEASE_SECONDS here at boot.$$;
comment on column baton_private.settings.daemon_lease is $$A daemon whose last heartbeat is older than this is disconnected and its tasks interrupted.$$;
comment on column baton_private.settings.owner_token_ttl is $$How long an owner token lives when no other lifetime is asked for (credentials.json, `baton owner create`, rotateTokens).$$;
comment on column baton_private.settings.daemon_token_ttl is $$How long a daemon token lives; the daemon renews it with daemonToken before then.$$;

create function baton_private.daemon_lease() returns interval
language sql stable
set search_path = pg_catalog, pg_temp
as $$ select daemon_lease from baton_private.settings $$;
comment on function baton_private.daemon_lease() is $$The heartbeat lease of daemons.$$;

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

/*
 * THE STATE MACHINE of a daemon: connected <-> disconnected, both ways (register and heartbeat
 * connect; disconnect_daemon, expiry and revocation disconnect), except that a revoked daemon stays
 * disconnected and revoked, whichever path tries (heartbeat, a late reconnect, a DBA's UPDATE).
 */
create function baton_private.daemon_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
as $$
  select case from_status
    when 'connected' then to_status = 'disconnected'
    when 'disconnected' then to_status = 'connected'
    else false end;
$$;
comment on function baton_private.daemon_transition_allowed(text, text) is $$Whether a daemon may move from one status to another (connected and disconnected, both ways; a revoked daemon is refused by the guard).$$;

create function baton_private.tg_daemons__guard() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if old.revoked_at is not null and new.status = 'connected' then
    raise exception 'Daemon % was revoked by its owner, so it cannot connect again.', new.id
      using errcode = 'BTDNY', hint = 'Start a new daemon with `baton daemon run`; it registers under a new id.';
  end if;
  if old.revoked_at is not null and new.revoked_at is null then
    raise exception 'Daemon % was revoked; a revocation cannot be undone.', new.id using errcode = 'BTDNY';
  end if;
  if new.status is distinct from old.status and not baton_private.daemon_transition_allowed(old.status::text, new.status::text) then
    raise exception 'Daemon % is %, so it cannot become %; a daemon is connected or disconnected.', old.id, old.status, new.status
      using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status);
  end if;
  return new;
end;
$$;
comment on function baton_private.tg_daemons__guard() is $$Keeps a revoked daemon disconnected and revoked (BTDNY), and refuses any other status than connected and disconnected (BTSTS).$$;
create trigger _200_guard before update on baton.daemons
  for each row execute function baton_private.tg_daemons__guard();
