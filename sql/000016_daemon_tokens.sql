/*
 * Daemon tokens that can be minted, and renewed by their daemon; Task.agentToken readable as null.
 *
 * 000014's daemon_token returned a null `exp`. PostGraphile's JWT signing cannot sign that (jsonwebtoken
 * rejects `"exp": undefined`), and a token without `exp` would get PostGraphile's default of one day, so
 * daemonToken failed with an internal error. A daemon token now carries an explicit expiry of 365
 * days, and a daemon may call daemonToken for itself to renew its token before then (a token's
 * lifetime is the only limit on it; Baton keeps no list of issued tokens).
 *
 * Asking for Task.agentToken with an owner's or agent's token failed the whole `task` field with a
 * permission error (the function was granted to daemons only); it now answers null for them.
 */
create or replace function baton.daemon_token(daemon_id uuid) returns baton.jwt_token
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_daemon baton.daemons;
  v_role text := baton_private.current_api_role();
begin
  select * into v_daemon from baton.daemons d where d.id = daemon_token.daemon_id;
  if not found
     or (v_role = 'baton_user' and v_daemon.owner_id is distinct from baton_private.current_owner_id())
     or (v_role = 'baton_daemon' and v_daemon.id is distinct from baton_private.current_daemon_id())
     or v_role not in ('admin', 'baton_user', 'baton_daemon') then
    raise exception 'Daemon % does not exist.', daemon_id
      using errcode = 'BTNFD', hint = 'Register a daemon with registerDaemon, then ask for its token with its id.';
  end if;
  return row('baton_daemon', v_daemon.owner_id, v_daemon.id, null, null,
             extract(epoch from now() + interval '365 days')::bigint, 'baton')::baton.jwt_token;
end;
$$;
comment on function baton.daemon_token(uuid) is
  $$A token for one of your daemons (after registerDaemon), valid for 365 days: it can heartbeat, read its tasks, report on them and write their output, and nothing else. A daemon may call this with its own id to renew its token.$$;
grant execute on function baton.daemon_token(uuid) to baton_user, baton_daemon;

/* Task.agentToken is null for everyone but the task's daemon (and admins); other roles may ask for it
   instead of getting a permission error for the whole task. */
grant execute on function baton.tasks_agent_token(baton.tasks) to baton_user, baton_agent;
