/*
 * Notifications (issue 12 point 5): webhooks.
 *
 * An owner registers a URL and the events it wants (`baton webhook add URL --events idle,failed`).
 * When one of those happens, a trigger adds one graphile-worker job `deliver_webhook` per subscribed
 * webhook, in the transaction that made it happen (so a rolled-back change notifies nobody). The job
 * POSTs a JSON body signed the Standard Webhooks way (src/tasks/deliver_webhook.ts) and records each
 * attempt's outcome in baton.webhook_deliveries; a failed attempt is retried by graphile-worker with its
 * exponential backoff, up to webhook_max_attempts.
 *
 * THE EVENTS.
 *   idle      a directive became idle (its work is done, or what is left cannot run).
 *   failed    a step failed for good: its last attempt failed (a failed attempt below max_attempts
 *             makes the step ready again, which is no event), or someone failed it by hand.
 *   paused    a directive became paused, whatever paused it: its owner, a planner that failed (the
 *             planner's failure is not a `failed` event: no step failed), an integration whose last
 *             attempt failed, or, later, its budget.
 *   question  an agent asked a question;  budget  a directive reached its budget. Those features
 *             (issue 12 points 2 and 3) call baton_private.enqueue_webhooks(owner, event, payload).
 *
 * THE SECRET of a webhook is 32 random bytes, made here and shown once (add_webhook returns it as
 * `whsec_<base64>`); it lives in baton_private.webhook_secrets, which no API role can read.
 *
 * SSRF. The server POSTs to whatever URL the owner registered, from inside its network. Only http and
 * https URLs are accepted (here and again in the task), redirects are not followed and the response
 * body is never read, so a webhook cannot fetch anything back; but an owner can still make the server
 * POST to an internal address. README's Security model says so.
 */

create table baton.webhooks (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  url text not null,
  events text[] not null,
  created_at timestamptz not null default now(),
  constraint url_is_valid check (url ~* '^https?://[^\s/?#@]+([/?#]\S*)?$' and length(url) <= 2048),
  constraint events_are_valid check (cardinality(events) >= 1
    and events <@ array['idle', 'failed', 'paused', 'question', 'budget']::text[])
);
create index webhooks_owner_id_idx on baton.webhooks (owner_id);

comment on table baton.webhooks is $$@behavior -insert -update -delete
A URL that Baton POSTs to, signed the Standard Webhooks way, when one of its events happens to its owner's directives. Add with addWebhook (`baton webhook add`), remove with removeWebhook.$$;
comment on column baton.webhooks.id is $$The webhook's id.$$;
comment on column baton.webhooks.owner_id is $$The owner whose events it receives.$$;
comment on column baton.webhooks.url is $$Where deliveries are POSTed: an http or https URL, at most 2048 characters.$$;
comment on column baton.webhooks.events is $$The events it receives: idle, failed, paused, question and/or budget.$$;
comment on column baton.webhooks.created_at is $$When it was added.$$;

create table baton_private.webhook_secrets (
  webhook_id uuid primary key references baton.webhooks (id) on delete cascade,
  secret bytea not null,
  constraint secret_is_valid check (octet_length(secret) between 24 and 64)
);
comment on table baton_private.webhook_secrets is $$The signing secret of each webhook (raw bytes; shown once as whsec_<base64> by addWebhook). No API role reads it; the deliver_webhook job does.$$;
comment on column baton_private.webhook_secrets.webhook_id is $$The webhook.$$;
comment on column baton_private.webhook_secrets.secret is $$The HMAC-SHA256 key, 32 random bytes.$$;

create table baton.webhook_deliveries (
  id bigint generated always as identity primary key,
  owner_id uuid not null references baton.owners (id) on delete cascade,
  webhook_id uuid not null references baton.webhooks (id) on delete cascade,
  message_id text not null,
  event text not null,
  attempt integer not null,
  status_code integer,
  error text,
  duration_ms integer not null,
  created_at timestamptz not null default now(),
  constraint attempt_is_valid check (attempt >= 1),
  constraint error_is_valid check (error is null or length(error) <= 1000),
  constraint outcome_is_known check (status_code is not null or error is not null)
);
create index webhook_deliveries_webhook_idx on baton.webhook_deliveries (webhook_id, id);
create index webhook_deliveries_owner_idx on baton.webhook_deliveries (owner_id, id);

comment on table baton.webhook_deliveries is $$@behavior -insert -update -delete
One attempt to deliver a webhook message, and its outcome: the HTTP status, or the error (timeout, refused connection). The newest 100 per webhook are kept (`baton webhook deliveries`).$$;
comment on column baton.webhook_deliveries.id is $$The attempt's id, in order of attempts.$$;
comment on column baton.webhook_deliveries.owner_id is $$The webhook's owner.$$;
comment on column baton.webhook_deliveries.webhook_id is $$The webhook.$$;
comment on column baton.webhook_deliveries.message_id is $$The message (the webhook-id header): the same for every attempt of one message, so receivers can deduplicate.$$;
comment on column baton.webhook_deliveries.event is $$The event: idle, failed, paused, question or budget.$$;
comment on column baton.webhook_deliveries.attempt is $$1 for the first attempt, then 2, 3... for the retries.$$;
comment on column baton.webhook_deliveries.status_code is $$The HTTP status the receiver answered (2xx is delivered); null when there was no answer.$$;
comment on column baton.webhook_deliveries.error is $$Why the attempt failed (no answer within 10 s, connection refused, a non-2xx status); null when delivered.$$;
comment on column baton.webhook_deliveries.duration_ms is $$How long the attempt took, in milliseconds.$$;
comment on column baton.webhook_deliveries.created_at is $$When the attempt ended.$$;

/* Row-level security, as in 000012: the owner reads its own rows; admins everything. */
do $$
declare
  v_table text;
begin
  foreach v_table in array array['webhooks', 'webhook_deliveries'] loop
    execute format('alter table baton.%I enable row level security', v_table);
    execute format('alter table baton.%I force row level security', v_table);
    execute format('create policy definer_all on baton.%I for all to %I using (true) with check (true)', v_table, current_user);
    execute format($policy$
      create policy select_visible on baton.%I for select using (
        case (select baton_private.current_api_role())
          when 'admin' then true
          when 'baton_user' then owner_id = (select baton_private.current_owner_id())
          else false end)$policy$, v_table);
  end loop;
end
$$;
grant select on baton.webhooks, baton.webhook_deliveries to baton_user, baton_daemon, baton_agent;

-- ---------------------------------------------------------------------------------------------
-- Settings and vocabularies.
-- ---------------------------------------------------------------------------------------------

create function baton_private.webhook_events() returns text[]
language sql immutable
as $$ select array['idle', 'failed', 'paused', 'question', 'budget']::text[] $$;
comment on function baton_private.webhook_events() is $$The events a webhook may ask for, in the order the docs list them.$$;

create function baton_private.webhook_limit() returns integer
language sql immutable
as $$ select 20 $$;
comment on function baton_private.webhook_limit() is $$How many webhooks one owner may have (20): each event costs one job per webhook.$$;

create function baton_private.webhook_max_attempts() returns integer
language sql immutable
as $$ select 8 $$;
comment on function baton_private.webhook_max_attempts() is
  $$How many times a message is attempted (8): graphile-worker's backoff, exp(attempt) seconds, spreads them over about 25 minutes.$$;

-- ---------------------------------------------------------------------------------------------
-- Adding and removing webhooks.
-- ---------------------------------------------------------------------------------------------

create type baton.new_webhook as (id uuid, url text, events text[], secret text, created_at timestamptz);
comment on type baton.new_webhook is $$A webhook just added, with its signing secret (shown this once).$$;
comment on column baton.new_webhook.id is $$The webhook's id.$$;
comment on column baton.new_webhook.url is $$Where deliveries are POSTed.$$;
comment on column baton.new_webhook.events is $$The events it receives.$$;
comment on column baton.new_webhook.secret is $$The signing secret, whsec_<base64 of 32 bytes>: verify the webhook-signature header with it (Standard Webhooks). It is not shown again.$$;
comment on column baton.new_webhook.created_at is $$When it was added.$$;

create function baton.add_webhook(url text, events text[], owner_id uuid default null) returns baton.new_webhook
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner uuid := baton_private.resolve_owner(add_webhook.owner_id);
  v_events text[];
  v_unknown text[];
  v_url text := btrim(coalesce(url, ''));
  -- Two random UUIDs (pg_strong_random, 244 random bits) as 32 bytes: no pgcrypto needed.
  v_secret bytea := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
  v_hook baton.webhooks;
begin
  if v_url !~* '^[a-z][a-z0-9+.-]*:' then
    raise exception 'A webhook URL must be an http or https URL (got "%").', left(v_url, 200)
      using errcode = 'BTINV', hint = 'For example https://example.com/hooks/baton.';
  end if;
  if v_url !~* '^https?:' then
    raise exception 'A webhook URL must use http or https (got "%:").', split_part(v_url, ':', 1)
      using errcode = 'BTINV', hint = 'For example https://example.com/hooks/baton.';
  end if;
  if v_url !~* '^https?://[^\s/?#@]+([/?#]\S*)?$' or length(v_url) > 2048 then
    raise exception 'A webhook URL must be http(s)://host[:port][/path], without spaces, credentials or more than 2048 characters (got "%").', left(v_url, 200)
      using errcode = 'BTINV', hint = 'For example https://example.com/hooks/baton.';
  end if;
  select array_agg(distinct lower(btrim(e))) filter (where btrim(e) <> '') into v_events from unnest(events) e;
  if v_events is null then
    raise exception 'A webhook needs at least one event; the events are %.', array_to_string(baton_private.webhook_events(), ', ')
      using errcode = 'BTINV', hint = 'For example --events idle,failed.';
  end if;
  select array_agg(e) into v_unknown from unnest(v_events) e where e <> all (baton_private.webhook_events());
  if v_unknown is not null then
    raise exception 'Unknown webhook event%: %. The events are %.', case when cardinality(v_unknown) > 1 then 's' else '' end,
      array_to_string(v_unknown, ', '), array_to_string(baton_private.webhook_events(), ', ')
      using errcode = 'BTINV';
  end if;
  -- In the order of the vocabulary, so listings read the same whatever order they were given in.
  v_events := array(select e from unnest(baton_private.webhook_events()) e where e = any (v_events));
  perform 1 from baton.owners o where o.id = v_owner for update;  -- serialises the limit check per owner
  if (select count(*) from baton.webhooks w where w.owner_id = v_owner) >= baton_private.webhook_limit() then
    raise exception 'You have % webhooks, the most one owner may have.', baton_private.webhook_limit()
      using errcode = 'BTINV', hint = 'Remove one with `baton webhook remove ID` (see `baton webhook list`).';
  end if;
  insert into baton.webhooks (owner_id, url, events) values (v_owner, v_url, v_events) returning * into v_hook;
  insert into baton_private.webhook_secrets (webhook_id, secret) values (v_hook.id, v_secret);
  return row(v_hook.id, v_hook.url, v_hook.events, 'whsec_' || replace(encode(v_secret, 'base64'), E'\n', ''), v_hook.created_at)::baton.new_webhook;
end;
$$;
comment on function baton.add_webhook(text, text[], uuid) is
  $$Adds a webhook: Baton POSTs to url (http or https) when one of events happens (idle, failed, paused, question, budget), signed with the returned secret the Standard Webhooks way. The secret is shown only here. At most 20 webhooks per owner. owner_id is for admins; with an owner token leave it out.$$;
grant execute on function baton.add_webhook(text, text[], uuid) to baton_user;

create function baton.remove_webhook(webhook_id uuid) returns baton.webhooks
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_hook baton.webhooks;
begin
  perform baton_private.assert_token_live();
  delete from baton.webhooks w
   where w.id = remove_webhook.webhook_id
     and (baton_private.current_api_role() = 'admin'
          or (baton_private.current_api_role() = 'baton_user' and w.owner_id = baton_private.current_owner_id()))
  returning * into v_hook;
  if not found then
    raise exception 'Webhook % does not exist.', webhook_id using errcode = 'BTNFD', hint = 'List your webhooks with `baton webhook list`.';
  end if;
  return v_hook;
end;
$$;
comment on function baton.remove_webhook(uuid) is
  $$Removes one of your webhooks, with its delivery history. Messages already queued for it are dropped.$$;
grant execute on function baton.remove_webhook(uuid) to baton_user;

-- ---------------------------------------------------------------------------------------------
-- Enqueueing and recording deliveries.
-- ---------------------------------------------------------------------------------------------

/*
 * The one entry point for every event, including the ones future features raise (question, budget):
 * one deliver_webhook job per webhook of the owner that asked for the event, in the caller's
 * transaction. The body is fixed here, so every attempt of a message sends the same bytes, signed
 * under the same webhook-id.
 */
create function baton_private.enqueue_webhooks(owner_id uuid, event text, payload jsonb) returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_hook record;
  v_count integer := 0;
  v_body text;
  v_message_id text;
begin
  if event is null or event <> all (baton_private.webhook_events()) then
    raise exception 'Unknown webhook event "%"; the events are %.', event, array_to_string(baton_private.webhook_events(), ', ')
      using errcode = 'BTINV';
  end if;
  for v_hook in select w.id from baton.webhooks w where w.owner_id = enqueue_webhooks.owner_id and enqueue_webhooks.event = any (w.events) loop
    v_message_id := 'msg_' || replace(gen_random_uuid()::text, '-', '');
    v_body := jsonb_build_object('type', event, 'timestamp', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                 'data', coalesce(payload, '{}'::jsonb))::text;
    perform graphile_worker.add_job(
      identifier => 'deliver_webhook',
      payload => json_build_object('webhook_id', v_hook.id, 'message_id', v_message_id, 'event', event, 'body', v_body),
      max_attempts => baton_private.webhook_max_attempts()
    );
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
comment on function baton_private.enqueue_webhooks(uuid, text, jsonb) is
  $$Queues one signed delivery (job deliver_webhook) per webhook of owner_id that asked for event, with the body {"type": event, "timestamp": now, "data": payload}; returns how many. Triggers call it for idle, failed and paused; the question and budget features call it with their own payload (ids and short facts, never secrets). Raises BTINV for an unknown event.$$;

/* What the deliver_webhook job needs: the URL and the secret, or nothing when the webhook is gone. */
create function baton_private.webhook_target(webhook_id uuid) returns table (url text, secret bytea, owner_id uuid)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select w.url, s.secret, w.owner_id from baton.webhooks w join baton_private.webhook_secrets s on s.webhook_id = w.id
   where w.id = webhook_target.webhook_id
$$;
comment on function baton_private.webhook_target(uuid) is $$The URL and signing secret of a webhook, for the deliver_webhook job; no row once it was removed.$$;

create function baton_private.record_webhook_delivery(
  webhook_id uuid, message_id text, event text, attempt integer, status_code integer, error text, duration_ms integer
) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into baton.webhook_deliveries (owner_id, webhook_id, message_id, event, attempt, status_code, error, duration_ms)
  select w.owner_id, w.id, message_id, event, attempt, status_code, left(error, 1000), greatest(duration_ms, 0)
    from baton.webhooks w where w.id = record_webhook_delivery.webhook_id;
  -- Keep the newest 100 attempts per webhook.
  delete from baton.webhook_deliveries d
   where d.webhook_id = record_webhook_delivery.webhook_id
     and d.id < (select d2.id from baton.webhook_deliveries d2 where d2.webhook_id = record_webhook_delivery.webhook_id
                  order by d2.id desc offset 99 limit 1);
end;
$$;
comment on function baton_private.record_webhook_delivery(uuid, text, text, integer, integer, text, integer) is
  $$Records one delivery attempt's outcome and keeps the newest 100 per webhook; nothing when the webhook was removed meanwhile.$$;

-- ---------------------------------------------------------------------------------------------
-- The triggers that raise idle, paused and failed.
-- ---------------------------------------------------------------------------------------------

create function baton_private.tg_directives__webhooks() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.enqueue_webhooks(new.owner_id, new.status::text,
    jsonb_build_object('directive_id', new.id, 'title', new.title, 'from_status', old.status, 'status', new.status));
  return null;
end;
$$;
comment on function baton_private.tg_directives__webhooks() is $$Raises the idle and paused webhook events when a directive becomes idle or paused.$$;
-- WHEN is evaluated without calling the function, so other status changes cost nothing; an owner
-- without webhooks costs one index probe.
create trigger _900_webhooks after update of status on baton.directives
  for each row when (new.status is distinct from old.status and new.status in ('idle', 'paused'))
  execute function baton_private.tg_directives__webhooks();

create function baton_private.tg_directive_steps__webhooks() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.enqueue_webhooks(new.owner_id, 'failed',
    jsonb_build_object('directive_id', new.directive_id, 'title', d.title, 'step_id', new.id, 'step_name', new.name,
                       'attempts', new.attempts, 'task_id', new.current_task_id,
                       'error', (select left(t.error, 1000) from baton.tasks t where t.id = new.current_task_id)))
    from baton.directives d where d.id = new.directive_id;
  return null;
end;
$$;
comment on function baton_private.tg_directive_steps__webhooks() is $$Raises the failed webhook event when a step fails for good (its last attempt failed, or it was failed by hand).$$;
create trigger _900_webhooks after update of status on baton.directive_steps
  for each row when (new.status = 'failed' and old.status is distinct from 'failed')
  execute function baton_private.tg_directive_steps__webhooks();
