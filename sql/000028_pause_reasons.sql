/*
 * Every pause says why (directives.paused_reason), not only a budget's.
 *
 * Until now only the budget trigger recorded a reason; `status` and `watch` guessed the others from
 * the task list, each with its own rules. Now the SQL records it with the pause itself, in one place:
 * a BEFORE trigger on the move to paused fills paused_reason when the writer gave none. The pauses
 * Baton makes on its own come from a task that ended in the same transaction (the planner failed, or
 * the integration ran out of attempts or was cancelled: tg_tasks__mirror and mirror_integration), so
 * the trigger names the planning or integration task of this directive that finished in this
 * transaction (finished_at = now(), the transaction's start). Any other pause (baton directive pause,
 * or a DBA's UPDATE) is "Paused by hand.". A budget pause gives its reason in the same UPDATE, so the
 * paused webhook carries it too.
 */

/* The last non-empty line of an agent's error (where a stack trace or a failed command says what went wrong), at most 300 characters. */
create function baton_private.error_last_line(error text) returns text
language sql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select left(l, 300)
    from unnest(string_to_array(replace(coalesce(error, ''), E'\r', ''), E'\n')) with ordinality as x(l, n)
   where btrim(l) <> ''
   order by n desc
   limit 1
$$;
comment on function baton_private.error_last_line(text) is
  $$The last non-empty line of an error text, at most 300 characters; null when there is none. Pause reasons quote it.$$;

create function baton_private.tg_directives__paused_reason() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task baton.tasks;
  v_line text;
begin
  select * into v_task
    from baton.tasks t
   where t.directive_id = new.id and t.kind in ('planning', 'integration')
     and t.finished_at = now() and t.status in ('failed', 'interrupted', 'cancelled')
   order by t.created_at desc
   limit 1;
  if not found then
    new.paused_reason := 'Paused by hand.';
    return new;
  end if;
  v_line := baton_private.error_last_line(v_task.error);
  new.paused_reason := case v_task.kind
    when 'planning' then format('Its planner %s (task %s)', v_task.status, v_task.id)
    else format('Its integration %s on attempt %s of %s (task %s)', v_task.status, v_task.attempt, baton_private.integration_max_attempts(), v_task.id)
  end || coalesce(': ' || v_line, '') || case when v_line ~ '[.!?]$' then '' else '.' end;
  return new;
end;
$$;
comment on function baton_private.tg_directives__paused_reason() is
  $$Fills paused_reason on a move to paused that gave none: the planning or integration task of this directive that ended (failed, interrupted or cancelled) in this transaction and so caused the pause, with the last line of its error; otherwise "Paused by hand.". SECURITY DEFINER: the pausing writer (a daemon reporting its planner's failure) may not see every task of the directive.$$;
create trigger _210_paused_reason before update of status on baton.directives
  for each row when (new.status = 'paused' and old.status is distinct from new.status and new.paused_reason is null)
  execute function baton_private.tg_directives__paused_reason();

comment on column baton.directives.paused_reason is
  $$Why it is paused, while it stays paused: its budget was reached, its planner or integration failed (naming the task and the last line of its error), or "Paused by hand."; null otherwise.$$;

/* As in 000023, but the pause and its reason are one UPDATE, so the paused webhook carries the reason. */
create or replace function baton_private.check_directive_budget(directive_id uuid) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_tokens numeric;
  v_cost numeric;
  v_reason text;
begin
  select * into v_directive from baton.directives d where d.id = check_directive_budget.directive_id;
  if not found or v_directive.budget_reached_at is not null or v_directive.status = 'archived'
     or (v_directive.budget_usd is null and v_directive.budget_tokens is null) then
    return false;
  end if;
  select coalesce(sum(coalesce(t.input_tokens, 0) + coalesce(t.output_tokens, 0)), 0), coalesce(sum(t.cost_usd), 0)
    into v_tokens, v_cost
    from baton.tasks t where t.directive_id = v_directive.id;
  if v_cost >= v_directive.budget_usd then
    v_reason := format('Budget reached: it cost $%s of its $%s budget.', trim_scale(v_cost), trim_scale(v_directive.budget_usd));
  elsif v_tokens >= v_directive.budget_tokens then
    v_reason := format('Budget reached: it used %s tokens of its %s-token budget.', v_tokens, v_directive.budget_tokens);
  else
    return false;
  end if;
  if v_directive.status in ('active', 'idle') then
    -- The guard trigger (_200_guard) still checks the move.
    update baton.directives d set status = 'paused', paused_reason = v_reason where d.id = v_directive.id;
  end if;
  update baton.directives d set budget_reached_at = now() where d.id = v_directive.id;
  perform baton_private.enqueue_webhooks(v_directive.owner_id, 'budget',
    jsonb_build_object('directive_id', v_directive.id, 'title', v_directive.title, 'reason', v_reason,
                       'cost_usd', v_cost, 'tokens', v_tokens,
                       'budget_usd', v_directive.budget_usd, 'budget_tokens', v_directive.budget_tokens,
                       'status', (select d.status from baton.directives d where d.id = v_directive.id)));
  return true;
end;
$$;
comment on function baton_private.check_directive_budget(uuid) is
  $$When a directive's usage reached its budget_usd or budget_tokens and it was not yet paused for it: pauses it (if active or idle) with paused_reason "Budget reached: ..." in the same UPDATE, stamps budget_reached_at and raises the budget webhook event. Returns whether it did.$$;

/* As in 000021, plus the reason of a pause. */
create or replace function baton_private.tg_directives__webhooks() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.enqueue_webhooks(new.owner_id, new.status::text,
    jsonb_build_object('directive_id', new.id, 'title', new.title, 'from_status', old.status, 'status', new.status)
      || case when new.status = 'paused' then jsonb_build_object('reason', new.paused_reason) else '{}' end);
  return null;
end;
$$;
comment on function baton_private.tg_directives__webhooks() is $$Raises the idle and paused webhook events when a directive becomes idle or paused (a pause with its reason).$$;
