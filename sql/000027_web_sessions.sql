/*
 * Sign-in links for the web dashboard (issue 13).
 *
 * `baton server` prints, and `baton web link` asks for, a one-time link /signin#code=CODE. The code
 * lives in the URL's fragment, which browsers never send, so it reaches no access log; the page POSTs
 * it to /auth/signin, which redeems it here and answers with an HttpOnly session cookie.
 *
 * Only the code's SHA-256 is stored (hex, computed by the server): a copy of this table signs nobody
 * in. A code is single use (used_at) and short-lived (expires_at). Redeeming locks the row, so two
 * requests racing with one code sign in once. The session itself is a signed owner token in the
 * cookie (src/api/web-session.ts), so `baton token rotate` ends it as it ends every other token.
 *
 * No API role may read or call anything here: the server calls these functions as its own login.
 */

create table baton_private.signin_codes (
  code_hash text primary key,
  owner_id uuid not null references baton.owners (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  constraint code_hash_is_sha256 check (code_hash ~ '^[0-9a-f]{64}$'),
  constraint expires_after_creation check (expires_at > created_at)
);
create index signin_codes_owner_idx on baton_private.signin_codes (owner_id);
create index signin_codes_expires_idx on baton_private.signin_codes (expires_at);

comment on table baton_private.signin_codes is $$One-time sign-in codes for the web dashboard, stored as their SHA-256. Each signs its owner in once, before it expires. No API role reads it.$$;
comment on column baton_private.signin_codes.code_hash is $$The SHA-256 of the code (64 lowercase hex digits); the code itself is stored nowhere.$$;
comment on column baton_private.signin_codes.owner_id is $$The owner the code signs in.$$;
comment on column baton_private.signin_codes.created_at is $$When the code was minted.$$;
comment on column baton_private.signin_codes.expires_at is $$After this the code no longer signs anyone in.$$;
comment on column baton_private.signin_codes.used_at is $$When the code signed its owner in; null while unused. A used code never works again.$$;
comment on constraint code_hash_is_sha256 on baton_private.signin_codes is $$Only hashes are stored: a SHA-256 in lowercase hex.$$;
comment on constraint expires_after_creation on baton_private.signin_codes is $$A code lives for a positive time.$$;
comment on index baton_private.signin_codes_owner_idx is $$Finds (and cascades to) an owner's codes.$$;
comment on index baton_private.signin_codes_expires_idx is $$Lets minting delete codes that expired long ago.$$;

/*
 * Mint: the caller (the server) made the code and passes its hash. When token_gen is given (a request
 * authenticated by an owner token), it must still be the owner's generation: a rotated token mints
 * nothing. Codes expired for a day are deleted here, so the table never grows without bound.
 */
create function baton_private.create_signin_code(owner_id uuid, code_hash text, ttl interval, token_gen integer default null)
returns timestamptz
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner baton.owners;
  v_expires timestamptz;
begin
  select * into v_owner from baton.owners o where o.id = create_signin_code.owner_id;
  if not found then
    raise exception 'Owner % does not exist.', owner_id using errcode = 'BTNFD';
  end if;
  if token_gen is not null and token_gen is distinct from v_owner.token_generation then
    raise exception 'This token was revoked by `baton token rotate`; ask for a new one.' using errcode = 'BTDNY';
  end if;
  if ttl is null or ttl <= interval '0' or ttl > interval '1 day' then
    raise exception 'A sign-in link lives more than 0 and at most 1 day (got %).', ttl using errcode = 'BTINV';
  end if;
  delete from baton_private.signin_codes c where c.expires_at < now() - interval '1 day';
  v_expires := now() + ttl;
  insert into baton_private.signin_codes (code_hash, owner_id, expires_at) values (code_hash, v_owner.id, v_expires);
  return v_expires;
end;
$$;
comment on function baton_private.create_signin_code(uuid, text, interval, integer) is
  $$Stores a new sign-in code's hash for an owner, valid for ttl (at most 1 day); refuses a rotated token's generation. Returns when it expires. The server's login only.$$;

/*
 * Redeem: marks the code used and returns its owner, or says in words why it cannot sign in. The row
 * is locked, so of two requests with one code exactly one succeeds.
 */
create function baton_private.redeem_signin_code(code_hash text)
returns uuid
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_code baton_private.signin_codes;
begin
  select * into v_code from baton_private.signin_codes c where c.code_hash = redeem_signin_code.code_hash for update;
  if not found then
    raise exception 'This sign-in link is not valid. Run `baton web link` for a new one.' using errcode = 'BTNFD';
  end if;
  if v_code.used_at is not null then
    raise exception 'This sign-in link was already used (at %). A link signs in once: run `baton web link` for a new one.',
      to_char(v_code.used_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') using errcode = 'BTDNY';
  end if;
  if v_code.expires_at <= now() then
    raise exception 'This sign-in link expired (at %). Run `baton web link` for a new one.',
      to_char(v_code.expires_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') using errcode = 'BTDNY';
  end if;
  update baton_private.signin_codes c set used_at = now() where c.code_hash = v_code.code_hash;
  return v_code.owner_id;
end;
$$;
comment on function baton_private.redeem_signin_code(text) is
  $$Signs in with a code's hash once: marks it used and returns its owner. A code that is unknown, used or expired is refused with what to do (BTNFD, BTDNY). The server's login only.$$;
