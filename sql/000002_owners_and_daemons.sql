/*
 * Owners and daemons.
 *
 * An owner is the tenant: every other row carries its owner_id so row-level security can be one
 * equality test. A daemon is a machine of one owner that runs coding agents; it is a row with a
 * heartbeat lease, so liveness is a fact in the database rather than an open socket in one process.
 */
create table baton.owners (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  created_at timestamptz not null default now(),
  constraint name_is_valid check (length(btrim(name)) between 1 and 200)
);

comment on table baton.owners is $$@behavior -insert -update -delete
A tenant of Baton: a person or team. Every directive, step, task, daemon and event belongs to exactly one owner.$$;
comment on column baton.owners.id is $$The owner's id.$$;
comment on column baton.owners.name is $$A human-readable name, 1 to 200 characters.$$;
comment on column baton.owners.created_at is $$When the owner was created.$$;

create table baton.daemons (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  name text not null,
  hostname text,
  max_tasks integer not null default 1,
  status text not null default 'connected',
  last_heartbeat_at timestamptz not null default now(),
  connected_at timestamptz not null default now(),
  disconnected_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint status_is_valid check (status in ('connected', 'disconnected')),
  constraint name_is_valid check (length(btrim(name)) between 1 and 200),
  constraint hostname_is_valid check (hostname is null or length(hostname) <= 255),
  constraint max_tasks_is_valid check (max_tasks between 1 and 1000),
  constraint disconnected_at_only_when_disconnected check ((status = 'disconnected') = (disconnected_at is not null))
);

create index daemons_owner_id_idx on baton.daemons (owner_id);
create index daemons_connected_idx on baton.daemons (owner_id, last_heartbeat_at) where status = 'connected';

comment on table baton.daemons is $$@behavior -insert -update -delete
A machine that runs coding agents for one owner. It registers, heartbeats within its lease, and receives tasks on the channel `baton:daemon:<id>`.$$;
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
