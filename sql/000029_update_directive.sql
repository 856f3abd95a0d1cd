/*
 * One call changes several settings of a directive, all or nothing.
 *
 * `baton directive update --target-branch X --check Y` sent one request per setting: when the second
 * was refused, the first had already been applied, a half-applied change. update_directive applies
 * every setting given in one transaction, through the same setters (each keeps its own checks and
 * messages), so a refused setting leaves the directive as it was. A budget given alone keeps the
 * other budget as it is, read under the directive's lock (the CLI used to read it first, racing other
 * writers).
 */
create function baton.update_directive(directive_id uuid, settings jsonb) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  -- Each setting and the JSON type it takes (besides null, which removes or resets it).
  v_types constant jsonb := jsonb_build_object(
    'check', 'string', 'timeout_seconds', 'number', 'stall_seconds', 'number', 'target_branch', 'string',
    'on_complete', 'string', 'budget_usd', 'number', 'budget_tokens', 'number', 'review_plans', 'boolean',
    'max_parallel', 'number', 'priority', 'number');
  v_directive baton.directives;
  v_bad record;
begin
  if settings is null or jsonb_typeof(settings) <> 'object' or settings = '{}'::jsonb then
    raise exception 'Give at least one setting to change, as a JSON object such as {"check": "npm test", "max_parallel": 4}; the settings are %.',
      (select string_agg(k, ', ' order by k) from jsonb_object_keys(v_types) k)
      using errcode = 'BTINV';
  end if;
  select e.key, e.value into v_bad from jsonb_each(settings) e where not v_types ? e.key order by e.key limit 1;
  if found then
    raise exception '% is not a directive setting; the settings are %.', to_jsonb(v_bad.key)::text,
      (select string_agg(k, ', ' order by k) from jsonb_object_keys(v_types) k)
      using errcode = 'BTINV';
  end if;
  select e.key, e.value into v_bad from jsonb_each(settings) e
   where jsonb_typeof(e.value) not in ('null', v_types ->> e.key) order by e.key limit 1;
  if found then
    raise exception 'The setting % must be a % or null (got %).', v_bad.key, v_types ->> v_bad.key, left(v_bad.value::text, 100)
      using errcode = 'BTINV';
  end if;
  select e.key, e.value into v_bad from jsonb_each(settings) e
   where e.key in ('timeout_seconds', 'stall_seconds', 'budget_tokens', 'max_parallel', 'priority') and jsonb_typeof(e.value) = 'number'
     and ((e.value::text)::numeric <> trunc((e.value::text)::numeric) or abs((e.value::text)::numeric) >= case e.key when 'budget_tokens' then 1e15 else 2147483648 end)
   order by e.key limit 1;
  if found then
    raise exception 'The setting % must be a whole number in range (got %).', v_bad.key, left(v_bad.value::text, 100)
      using errcode = 'BTINV';
  end if;
  if settings ? 'review_plans' and jsonb_typeof(settings -> 'review_plans') = 'null' then
    raise exception 'The setting review_plans must be true or false (got null).' using errcode = 'BTINV';
  end if;
  if settings ? 'priority' and jsonb_typeof(settings -> 'priority') = 'null' then
    raise exception 'The setting priority must be a whole number (got null); 0 is the default.' using errcode = 'BTINV';
  end if;

  v_directive := baton_private.lock_directive(directive_id);
  if settings ?| array['timeout_seconds', 'stall_seconds'] then
    -- set_directive_limits: null keeps a limit, 0 removes it; here null removes it.
    perform baton.set_directive_limits(v_directive.id,
      case when settings ? 'timeout_seconds' then coalesce((settings ->> 'timeout_seconds')::integer, 0) end,
      case when settings ? 'stall_seconds' then coalesce((settings ->> 'stall_seconds')::integer, 0) end);
  end if;
  if settings ? 'target_branch' then
    perform baton.set_directive_target_branch(v_directive.id, settings ->> 'target_branch');
  end if;
  if settings ? 'on_complete' then
    perform baton.set_directive_on_complete(v_directive.id, settings ->> 'on_complete');
  end if;
  if settings ? 'check' then
    perform baton.set_directive_check(v_directive.id, settings ->> 'check');
  end if;
  if settings ? 'review_plans' then
    perform baton.set_directive_review_plans(v_directive.id, (settings ->> 'review_plans')::boolean);
  end if;
  if settings ? 'max_parallel' then
    perform baton.set_directive_max_parallel(v_directive.id, (settings ->> 'max_parallel')::integer);
  end if;
  if settings ? 'priority' then
    perform baton.set_directive_priority(v_directive.id, (settings ->> 'priority')::integer);
  end if;
  -- Last: a budget already reached pauses the directive at once, after its other settings are in.
  if settings ?| array['budget_usd', 'budget_tokens'] then
    perform baton.set_directive_budget(v_directive.id,
      case when settings ? 'budget_usd' then (settings ->> 'budget_usd')::numeric else v_directive.budget_usd end,
      case when settings ? 'budget_tokens' then (settings ->> 'budget_tokens')::bigint else v_directive.budget_tokens end);
  end if;
  select * into v_directive from baton.directives d where d.id = v_directive.id;
  return v_directive;
end;
$$;
comment on function baton.update_directive(uuid, jsonb) is
  $$Changes several settings of a directive in one transaction, all or nothing: a JSON object with any of check, timeout_seconds, stall_seconds, target_branch, on_complete (strings or numbers; null removes the setting), budget_usd, budget_tokens (null: no such budget; one given alone keeps the other), review_plans (true or false), max_parallel (null: no limit) and priority. Each goes through its own setter, with that setter's checks and messages; the first refusal undoes them all. Owner only. SECURITY DEFINER to lock the directive (lock_directive checks the caller's claims).$$;
revoke all on function baton.update_directive(uuid, jsonb) from public;
grant execute on function baton.update_directive(uuid, jsonb) to baton_user;
