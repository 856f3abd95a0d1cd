/*
 * Authorization: who may see what, and the tokens that say who the caller is.
 *
 * Reads go through row-level security (FORCE, so even a non-superuser table owner is held to it),
 * with the rule of select_visible below and the identity functions of 000007 (a revoked
 * or rotated token sees nothing). Writes only go through SECURITY DEFINER functions, granted per role
 * next to their definitions; those that touch a directive take its lock through lock_directive,
 * which checks that the caller may touch it. PostGraphile shows each role only what it may call.
 *
 * Tokens. Functions returning baton.jwt_token are signed by the API (PostGraphile's JWT support,
 * HS256 with BATON_JWT_SECRET), so tokens are minted where the rules are. Every token carries an
 * expiry and its owner's token generation. Lifetimes: owner tokens 30 days by default
 * (settings.owner_token_ttl; `baton token create --ttl` chooses); daemon tokens 1 hour
 * (settings.daemon_token_ttl), renewed with daemonToken while the daemon is not revoked; agent tokens
 * stop with their task (and at most 7 days).
 */

/*
 * Row-level security. FORCE holds even the tables' owner to the policies; the definer policy lets
 * the SECURITY DEFINER functions (owned by the migrating role) work whether or not that role is a
 * superuser.
 */
do $$
declare
  v_table text;
begin
  foreach v_table in array array['owners', 'daemons', 'directives', 'directive_steps', 'step_dependencies', 'tasks', 'events'] loop
    execute format('alter table baton.%I enable row level security', v_table);
    execute format('alter table baton.%I force row level security', v_table);
    execute format('create policy definer_all on baton.%I for all to %I using (true) with check (true)', v_table, current_user);
  end loop;
end
$$;

create policy select_own on baton.owners for select
  using (id = baton_private.current_owner_id() and baton_private.current_api_role() <> 'baton_anonymous');
/*
 * Who may read the rows of a directive: its owner, its live agent, or a daemon working on it. One
 * rule for the three tables. Each identity is a subquery without outer references, so PostgreSQL
 * computes it once per statement (an initplan; the daemon's directives a hashed subplan) and each row
 * costs a comparison: a policy calling a function per row cost a report in a 10,000-step directive
 * 26 ms (docs/scaling.md, issue 10).
 */
do $$
declare
  v_table text;
  v_column text;
begin
  foreach v_table in array array['directives', 'directive_steps', 'step_dependencies'] loop
    v_column := case v_table when 'directives' then 'id' else 'directive_id' end;
    execute format($policy$
      create policy select_visible on baton.%1$I for select using (
        case (select baton_private.current_api_role())
          when 'admin' then true
          when 'baton_user' then owner_id = (select baton_private.current_owner_id())
          when 'baton_agent' then %2$I = (select baton_private.current_agent_directive_id())
          when 'baton_daemon' then %2$I in (select baton_private.daemon_directive_ids())
          else false end)$policy$, v_table, v_column);
  end loop;
end
$$;
create policy select_visible on baton.events for select
  using (baton_private.current_api_role() = 'baton_user' and owner_id = baton_private.current_owner_id()
         or baton_private.current_api_role() = 'baton_agent' and directive_id = baton_private.current_agent_directive_id());
create policy select_visible on baton.tasks for select
  using (case baton_private.current_api_role()
           when 'baton_user' then owner_id = baton_private.current_owner_id()
           when 'baton_daemon' then daemon_id = baton_private.current_daemon_id()
           when 'baton_agent' then directive_id = baton_private.current_agent_directive_id()
           else false end);
create policy select_visible on baton.daemons for select
  using (case baton_private.current_api_role()
           when 'baton_user' then owner_id = baton_private.current_owner_id()
           when 'baton_daemon' then id = baton_private.current_daemon_id()
           else false end);

grant select on baton.owners, baton.daemons, baton.directives, baton.directive_steps, baton.step_dependencies,
  baton.tasks, baton.events to baton_user, baton_daemon, baton_agent;

create type baton.jwt_token as (
  role text, owner_id uuid, daemon_id uuid, directive_id uuid, task_id uuid, exp bigint, aud text, gen integer
);
comment on type baton.jwt_token is $$A JWT's claims; the API returns it signed.$$;
comment on column baton.jwt_token.gen is $$The owner's token generation when the token was minted; the token stops working when the owner rotates its tokens.$$;

/* An owner token, for the admin commands and the server's credentials.json (signed by their caller). */
create function baton_private.owner_token(owner_id uuid, ttl interval default null) returns baton.jwt_token
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner baton.owners;
  v_ttl interval := coalesce(ttl, (select s.owner_token_ttl from baton_private.settings s));
begin
  select * into v_owner from baton.owners o where o.id = owner_token.owner_id;
  if not found then
    raise exception 'Owner % does not exist.', owner_id
      using errcode = 'BTNFD', hint = 'Create one with `baton owner create NAME`, or see `select id, name from baton.owners`.';
  end if;
  if v_ttl <= interval '0' then
    raise exception 'A token''s lifetime must be positive (got %).', v_ttl using errcode = 'BTINV';
  end if;
  return row('baton_user', v_owner.id, null, null, null, extract(epoch from now() + v_ttl)::bigint, 'baton',
             v_owner.token_generation)::baton.jwt_token;
end;
$$;
comment on function baton_private.owner_token(uuid, interval) is $$The claims of a new token for an owner, valid for ttl (default settings.owner_token_ttl, 30 days) or until the owner rotates its tokens.$$;

/* A daemon token's claims (admins mint one with a ttl of their choice; daemonToken uses the setting). */
create function baton_private.daemon_token_claims(daemon_id uuid, ttl interval default null) returns baton.jwt_token
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon baton.daemons;
  v_generation integer;
  v_ttl interval := coalesce(ttl, (select s.daemon_token_ttl from baton_private.settings s));
begin
  select * into v_daemon from baton.daemons d where d.id = daemon_token_claims.daemon_id;
  if not found then
    raise exception 'Daemon % does not exist.', daemon_id
      using errcode = 'BTNFD', hint = 'Register a daemon with registerDaemon, then ask for its token with its id.';
  end if;
  if v_daemon.revoked_at is not null then
    raise exception 'Daemon % was revoked by its owner, so it gets no new token.', daemon_id
      using errcode = 'BTDNY', hint = 'Start a new daemon with `baton daemon run`; it registers under a new id.';
  end if;
  if v_ttl <= interval '0' then
    raise exception 'A token''s lifetime must be positive (got %).', v_ttl using errcode = 'BTINV';
  end if;
  select o.token_generation into v_generation from baton.owners o where o.id = v_daemon.owner_id;
  return row('baton_daemon', v_daemon.owner_id, v_daemon.id, null, null, extract(epoch from now() + v_ttl)::bigint, 'baton',
             v_generation)::baton.jwt_token;
end;
$$;
comment on function baton_private.daemon_token_claims(uuid, interval) is $$The claims of a new token for a daemon that is not revoked, valid for ttl (default settings.daemon_token_ttl, 1 hour).$$;

create function baton.daemon_token(daemon_id uuid) returns baton.jwt_token
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon baton.daemons;
  v_role text := baton_private.current_api_role();
begin
  perform baton_private.assert_token_live();
  select * into v_daemon from baton.daemons d where d.id = daemon_token.daemon_id;
  if not found
     or (v_role = 'baton_user' and v_daemon.owner_id is distinct from baton_private.current_owner_id())
     or (v_role = 'baton_daemon' and v_daemon.id is distinct from baton_private.current_daemon_id())
     or v_role not in ('admin', 'baton_user', 'baton_daemon') then
    raise exception 'Daemon % does not exist.', daemon_id
      using errcode = 'BTNFD', hint = 'Register a daemon with registerDaemon, then ask for its token with its id.';
  end if;
  return baton_private.daemon_token_claims(v_daemon.id);
end;
$$;
comment on function baton.daemon_token(uuid) is
  $$A token for one of your daemons (after registerDaemon), valid for 1 hour: it can heartbeat, read its tasks, report on them and write their output, and nothing else. The daemon renews it by calling daemonToken with its own id before it expires (every few minutes is fine); renewal is refused once the daemon is revoked (BTDNY), and every daemon token stops working when its daemon is revoked or its owner rotates its tokens.$$;

grant execute on function baton.daemon_token(uuid) to baton_user, baton_daemon;

/* The agent token of a task, for the daemon that runs it: minted on read, valid while the task is live. */
create function baton.tasks_agent_token(t baton.tasks) returns baton.jwt_token
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select row('baton_agent', r.owner_id, null, r.directive_id, r.id,
             extract(epoch from now() + interval '7 days')::bigint, 'baton', o.token_generation)::baton.jwt_token
    from baton.tasks r  -- the stored row, not the argument, decides
    join baton.owners o on o.id = r.owner_id
   where r.id = t.id
     and baton_private.task_is_live(r.status)
     and (baton_private.current_api_role() = 'admin'
          or (baton_private.current_api_role() = 'baton_daemon' and r.daemon_id = baton_private.current_daemon_id()));
$$;
comment on function baton.tasks_agent_token(baton.tasks) is
  $$The token the daemon gives the agent process as BATON_TOKEN: it can read this task's directive and add steps to it, and stops working when the task ends. A planning agent may also remove and re-wire steps that are not completed or running; an execution agent only the steps its task added. Only the task's daemon gets it.$$;
-- Task.agentToken is null for everyone but the task's daemon (and admins); other roles may ask for it
-- instead of getting a permission error for the whole task.
grant execute on function baton.tasks_agent_token(baton.tasks) to baton_daemon, baton_user, baton_agent;

/* Who am I: the current token's identity, for clients to check their credentials. */
create function baton.current_identity() returns jsonb
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_strip_nulls(jsonb_build_object('role', baton_private.current_api_role(), 'owner_id', baton_private.current_owner_id(),
    'daemon_id', baton_private.current_daemon_id(), 'directive_id', baton_private.setting_uuid('baton.directive_id'),
    'task_id', baton_private.setting_uuid('baton.task_id')));
$$;
comment on function baton.current_identity() is $$The role and ids of the token this request carries.$$;
grant execute on function baton.current_identity() to baton_anonymous, baton_user, baton_daemon, baton_agent;

/*
 * Rotates the caller's tokens: the owner's token generation goes up by one, so every token minted
 * before (the owner's, its daemons', its agents') stops working. Returns a fresh owner token. The
 * caller's own request carries on with the new generation, so the rest of its transaction works.
 */
create function baton.rotate_tokens(owner_id uuid default null) returns baton.jwt_token
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner uuid := baton_private.resolve_owner(rotate_tokens.owner_id);
  v_generation integer;
begin
  update baton.owners o set token_generation = o.token_generation + 1 where o.id = v_owner
  returning o.token_generation into v_generation;
  perform set_config('baton.checked_identity', '', true);  -- identities checked earlier in this transaction are checked again
  if baton_private.current_api_role() = 'baton_user' then
    perform set_config('baton.token_gen', v_generation::text, true);
  end if;
  return baton_private.owner_token(v_owner);
end;
$$;
comment on function baton.rotate_tokens(uuid) is
  $$Revokes every token of your owner (yours, your daemons' and your agents') and returns a fresh owner token valid for 30 days. Running daemons stop working until they get a new token. owner_id is for admins; with an owner token leave it out.$$;
grant execute on function baton.rotate_tokens(uuid) to baton_user;
