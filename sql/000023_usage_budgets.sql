/*
 * Cost and tokens (issue 12 point 3).
 *
 * A task records what its agent spent: input and output tokens and cost in USD, three nullable
 * columns on baton.tasks (null: nothing reported). The agent reports it with `baton task usage`
 * (its own token, its own live task), or its daemon does after reading the agent's output; both go
 * through baton.report_task_usage, which ADDS to what was reported before, so an agent may report
 * after each model call and a daemon once at the end without either overwriting the other.
 *
 * Views roll usage up by step, directive and owner (security_invoker: the caller's row-level
 * security applies).
 *
 * Budgets: a directive may have budget_usd and/or budget_tokens (input + output). When its usage
 * reaches either, the trigger on tasks pauses it (running tasks finish) with paused_reason saying
 * which budget, and raises the `budget` webhook event. It does so once per budget: budget_reached_at
 * records it, so resuming without raising the budget runs on; setting a budget again re-arms it (and
 * pauses at once when usage is already past the new one).
 *
 * LOCK ORDER: report_task_usage locks the directive (FOR NO KEY UPDATE, as expire_tasks) before the
 * task, as every directive-scoped change does, so the trigger's pause takes no new lock out of order.
 */

alter table baton.tasks
  add column input_tokens bigint,
  add column output_tokens bigint,
  add column cost_usd numeric(16, 6),
  add constraint tasks_usage_not_negative
    check (coalesce(input_tokens, 0) >= 0 and coalesce(output_tokens, 0) >= 0 and coalesce(cost_usd, 0) >= 0);
comment on column baton.tasks.input_tokens is $$Input tokens its agent used, as reported with report_task_usage (summed over reports); null when none was reported.$$;
comment on column baton.tasks.output_tokens is $$Output tokens its agent used (summed over reports); null when none was reported.$$;
comment on column baton.tasks.cost_usd is $$What its agent cost in USD (summed over reports); null when none was reported.$$;
comment on constraint tasks_usage_not_negative on baton.tasks is $$Usage is never negative.$$;

alter table baton.directives
  add column budget_usd numeric(16, 6),
  add column budget_tokens bigint,
  add column budget_reached_at timestamptz,
  add column paused_reason text,
  add constraint directives_budget_usd_positive check (budget_usd > 0),
  add constraint directives_budget_tokens_positive check (budget_tokens > 0);
comment on column baton.directives.budget_usd is $$Pause the directive when its tasks' cost reaches this many USD; null: no cost budget.$$;
comment on column baton.directives.budget_tokens is $$Pause the directive when its tasks' input plus output tokens reach this; null: no token budget.$$;
comment on column baton.directives.budget_reached_at is $$When its usage reached a budget and it was paused for it (once per budget: setting a budget clears it); null while under budget.$$;
comment on column baton.directives.paused_reason is $$Why Baton paused it (a budget), while it stays paused; null otherwise.$$;
comment on constraint directives_budget_usd_positive on baton.directives is $$A cost budget is more than 0.$$;
comment on constraint directives_budget_tokens_positive on baton.directives is $$A token budget is more than 0.$$;

/* The reason goes with the pause: any move out of paused clears it. */
create function baton_private.tg_directives__clear_paused_reason() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  new.paused_reason := null;
  return new;
end;
$$;
comment on function baton_private.tg_directives__clear_paused_reason() is $$Clears paused_reason when a directive leaves paused.$$;
create trigger _150_clear_paused_reason before update of status on baton.directives
  for each row when (old.status = 'paused' and new.status is distinct from old.status)
  execute function baton_private.tg_directives__clear_paused_reason();

-- ---------------------------------------------------------------------------------------------
-- Reporting usage.
-- ---------------------------------------------------------------------------------------------

/* One usage figure checked: null or 0..limit, else BTINV naming the field. */
create function baton_private.assert_usage(name text, value numeric, max_value numeric) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if value < 0 or value > max_value then
    raise exception '% must be from 0 to % (got %).', name, max_value, value
      using errcode = 'BTINV', hint = 'Report what one or more model calls used; reports add up.';
  end if;
end;
$$;
comment on function baton_private.assert_usage(text, numeric, numeric) is $$Raises BTINV unless a reported usage figure is null or from 0 to its limit.$$;

create function baton.report_task_usage(
  task_id uuid, input_tokens bigint default null, output_tokens bigint default null, cost_usd numeric default null
) returns baton.tasks
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := baton_private.current_api_role();
  v_directive_id uuid;
  v_daemon_id uuid;
  v_task baton.tasks;
begin
  perform baton_private.assert_token_live();
  perform baton_private.assert_usage('input_tokens', input_tokens, 1000000000000);
  perform baton_private.assert_usage('output_tokens', output_tokens, 1000000000000);
  perform baton_private.assert_usage('cost_usd', cost_usd, 1000000);
  if round(cost_usd, 6) is distinct from cost_usd then
    raise exception 'cost_usd has at most 6 decimal places (got %).', cost_usd using errcode = 'BTINV';
  end if;
  if input_tokens is null and output_tokens is null and cost_usd is null then
    raise exception 'Report at least one of input_tokens, output_tokens and cost_usd.' using errcode = 'BTINV';
  end if;

  -- GUARD: an agent reports only for its own task, while it is live; a daemon only for its tasks.
  if v_role = 'baton_agent' then
    if task_id is distinct from baton_private.setting_uuid('baton.task_id') then
      raise exception 'This agent token is for task %, so it cannot report usage of task %.', baton_private.setting_uuid('baton.task_id'), task_id
        using errcode = 'BTDNY';
    end if;
    if baton_private.current_agent_directive_id() is null then
      raise exception 'This agent token belonged to task %, which has ended; agent tokens stop working when their task ends.', task_id
        using errcode = 'BTDNY', hint = 'Its daemon can still report the usage.';
    end if;
  end if;
  select t.directive_id, t.daemon_id into v_directive_id, v_daemon_id from baton.tasks t where t.id = report_task_usage.task_id;
  if v_role = 'baton_daemon' and (v_directive_id is null or v_daemon_id is distinct from baton_private.current_daemon_id()) then
    raise exception 'Task % is not assigned to this daemon (%), so it cannot report on it.', task_id, baton_private.setting_uuid('baton.daemon_id')
      using errcode = 'BTDNY';
  end if;
  if v_directive_id is null then
    raise exception 'Task % does not exist.', task_id using errcode = 'BTNFD';
  end if;

  -- LOCK ORDER: the directive, then the task.
  perform 1 from baton.directives d where d.id = v_directive_id for no key update;
  update baton.tasks t
     set input_tokens = case when report_task_usage.input_tokens is null then t.input_tokens
                             else coalesce(t.input_tokens, 0) + report_task_usage.input_tokens end,
         output_tokens = case when report_task_usage.output_tokens is null then t.output_tokens
                              else coalesce(t.output_tokens, 0) + report_task_usage.output_tokens end,
         cost_usd = case when report_task_usage.cost_usd is null then t.cost_usd
                         else coalesce(t.cost_usd, 0) + report_task_usage.cost_usd end
   where t.id = report_task_usage.task_id
  returning * into v_task;
  return v_task;
end;
$$;
comment on function baton.report_task_usage(uuid, bigint, bigint, numeric) is
  $$Adds what a task's agent used (input and output tokens, cost in USD) to the task's usage: several reports add up, a null figure adds nothing. The task's agent may report for its own live task, its daemon for any of its tasks. Raises BTINV for a negative or huge figure or none at all. Reaching the directive's budget pauses it.$$;
grant execute on function baton.report_task_usage(uuid, bigint, bigint, numeric) to baton_daemon, baton_agent;

-- ---------------------------------------------------------------------------------------------
-- Budgets.
-- ---------------------------------------------------------------------------------------------

/*
 * Pauses a directive whose usage reached one of its budgets, once per budget (budget_reached_at),
 * and raises the budget webhook event. The caller holds the directive's lock. Active and idle
 * directives are paused; a draft or paused one is only marked and notified; an archived one is left.
 */
create function baton_private.check_directive_budget(directive_id uuid) returns boolean
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
    perform baton_private.transition_directive(v_directive, 'paused', 'paused');
    update baton.directives d set paused_reason = v_reason where d.id = v_directive.id;
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
  $$When a directive's usage reached its budget_usd or budget_tokens and it was not yet paused for it: pauses it (if active or idle) with paused_reason "Budget reached: ...", stamps budget_reached_at and raises the budget webhook event. Returns whether it did.$$;

create function baton_private.tg_tasks__check_budget() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.check_directive_budget(new.directive_id);
  return null;
end;
$$;
comment on function baton_private.tg_tasks__check_budget() is $$Checks the directive's budget when a task's usage grows.$$;
-- WHEN: only usage changes call the function; it returns at once for a directive without a budget still to reach.
create trigger _850_check_budget after update of input_tokens, output_tokens, cost_usd on baton.tasks
  for each row when (new.input_tokens is distinct from old.input_tokens or new.output_tokens is distinct from old.output_tokens
                     or new.cost_usd is distinct from old.cost_usd)
  execute function baton_private.tg_tasks__check_budget();

/*
 * /metrics: usage ever reported, over all owners, as counters kept through metric_deltas
 * (sql/000015), so a scrape does not sum every task ever run.
 */
create function baton_private.tg_tasks__count_usage() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into baton_private.metric_deltas (metric, label, n, sum)
  values ('usage', 'input_tokens', coalesce(new.input_tokens, 0) - coalesce(old.input_tokens, 0), 0),
         ('usage', 'output_tokens', coalesce(new.output_tokens, 0) - coalesce(old.output_tokens, 0), 0),
         ('usage', 'cost_usd', 0, (coalesce(new.cost_usd, 0) - coalesce(old.cost_usd, 0))::double precision);
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$$;
comment on function baton_private.tg_tasks__count_usage() is
  $$Adds a task's usage growth to the /metrics counters: metric `usage`, labels input_tokens and output_tokens (in n) and cost_usd (in sum).$$;
create trigger _500_count_usage after update of input_tokens, output_tokens, cost_usd on baton.tasks
  for each row when (new.input_tokens is distinct from old.input_tokens or new.output_tokens is distinct from old.output_tokens
                     or new.cost_usd is distinct from old.cost_usd)
  execute function baton_private.tg_tasks__count_usage();

create function baton.set_directive_budget(directive_id uuid, budget_usd numeric default null, budget_tokens bigint default null)
returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  if baton_private.current_api_role() = 'baton_agent' then
    raise exception 'Only the directive''s owner can set its budget.' using errcode = 'BTDNY';
  end if;
  if budget_usd is not null and (budget_usd <= 0 or budget_usd > 1000000 or round(budget_usd, 6) <> budget_usd) then
    raise exception 'The USD budget must be more than 0 and at most 1000000, with at most 6 decimal places (got %).', budget_usd
      using errcode = 'BTINV', hint = 'For example 25 or 2.50; leave it out for no cost budget.';
  end if;
  if budget_tokens is not null and (budget_tokens <= 0 or budget_tokens > 1000000000000) then
    raise exception 'The token budget must be a whole number from 1 to 1000000000000 (got %).', budget_tokens
      using errcode = 'BTINV', hint = 'For example 2000000; leave it out for no token budget.';
  end if;
  update baton.directives d
     set budget_usd = set_directive_budget.budget_usd, budget_tokens = set_directive_budget.budget_tokens, budget_reached_at = null
   where d.id = v_directive.id;
  perform baton_private.check_directive_budget(v_directive.id);
  select * into v_directive from baton.directives d where d.id = v_directive.id;
  return v_directive;
end;
$$;
comment on function baton.set_directive_budget(uuid, numeric, bigint) is
  $$Sets a directive's budgets (both at once; null: none): budget_usd in USD and budget_tokens (input plus output). When its usage reaches one, it is paused (running tasks finish) with the reason, once per budget; setting a budget again re-arms it, and pauses the directive at once if its usage is already there. Owner only.$$;
grant execute on function baton.set_directive_budget(uuid, numeric, bigint) to baton_user;

-- ---------------------------------------------------------------------------------------------
-- Roll-ups.
-- ---------------------------------------------------------------------------------------------

create view baton.step_usage with (security_invoker = true) as
  select s.id as step_id, s.directive_id, s.owner_id, s.name as step_name,
         count(t.id) filter (where t.input_tokens is not null or t.output_tokens is not null or t.cost_usd is not null)::integer as reported_tasks,
         coalesce(sum(t.input_tokens), 0)::bigint as input_tokens,
         coalesce(sum(t.output_tokens), 0)::bigint as output_tokens,
         coalesce(sum(t.cost_usd), 0)::numeric(16, 6) as cost_usd
    from baton.directive_steps s
    left join baton.tasks t on t.step_id = s.id
   group by s.id;
comment on view baton.step_usage is $$Usage per step: every attempt's tokens and cost added up (0 when nothing was reported).$$;
comment on column baton.step_usage.step_id is $$The step.$$;
comment on column baton.step_usage.directive_id is $$Its directive.$$;
comment on column baton.step_usage.owner_id is $$Its owner.$$;
comment on column baton.step_usage.step_name is $$The step's name.$$;
comment on column baton.step_usage.reported_tasks is $$How many of its tasks (attempts) reported usage.$$;
comment on column baton.step_usage.input_tokens is $$Input tokens of all its attempts.$$;
comment on column baton.step_usage.output_tokens is $$Output tokens of all its attempts.$$;
comment on column baton.step_usage.cost_usd is $$Cost in USD of all its attempts.$$;

create view baton.directive_usage with (security_invoker = true) as
  select d.id as directive_id, d.owner_id, d.title,
         coalesce(u.reported_tasks, 0)::integer as reported_tasks,
         coalesce(u.input_tokens, 0)::bigint as input_tokens,
         coalesce(u.output_tokens, 0)::bigint as output_tokens,
         coalesce(u.cost_usd, 0)::numeric(16, 6) as cost_usd,
         d.budget_usd, d.budget_tokens, d.budget_reached_at
    from baton.directives d
    left join lateral (
      select count(*) filter (where t.input_tokens is not null or t.output_tokens is not null or t.cost_usd is not null) as reported_tasks,
             sum(t.input_tokens) as input_tokens, sum(t.output_tokens) as output_tokens, sum(t.cost_usd) as cost_usd
        from baton.tasks t where t.directive_id = d.id
    ) u on true;
comment on view baton.directive_usage is $$Usage per directive, planners and integrations included, beside its budgets.$$;
comment on column baton.directive_usage.directive_id is $$The directive.$$;
comment on column baton.directive_usage.owner_id is $$Its owner.$$;
comment on column baton.directive_usage.title is $$Its title.$$;
comment on column baton.directive_usage.reported_tasks is $$How many of its tasks reported usage.$$;
comment on column baton.directive_usage.input_tokens is $$Input tokens of all its tasks.$$;
comment on column baton.directive_usage.output_tokens is $$Output tokens of all its tasks.$$;
comment on column baton.directive_usage.cost_usd is $$Cost in USD of all its tasks.$$;
comment on column baton.directive_usage.budget_usd is $$Its cost budget in USD, or null.$$;
comment on column baton.directive_usage.budget_tokens is $$Its token budget (input plus output), or null.$$;
comment on column baton.directive_usage.budget_reached_at is $$When it was paused for reaching a budget, or null.$$;

create view baton.owner_usage with (security_invoker = true) as
  select t.owner_id,
         count(*) filter (where t.input_tokens is not null or t.output_tokens is not null or t.cost_usd is not null)::integer as reported_tasks,
         coalesce(sum(t.input_tokens), 0)::bigint as input_tokens,
         coalesce(sum(t.output_tokens), 0)::bigint as output_tokens,
         coalesce(sum(t.cost_usd), 0)::numeric(16, 6) as cost_usd
    from baton.tasks t
    -- The join changes nothing (every task has its directive, seen under the same rules); with two
    -- tables PostgreSQL 15 and 16+ print the view's text alike (the schema snapshot compares it).
    join baton.directives d on d.id = t.directive_id
   group by t.owner_id;
comment on view baton.owner_usage is $$Usage per owner, over every task of every directive it can see.$$;
comment on column baton.owner_usage.owner_id is $$The owner.$$;
comment on column baton.owner_usage.reported_tasks is $$How many of its tasks reported usage.$$;
comment on column baton.owner_usage.input_tokens is $$Input tokens of all its tasks.$$;
comment on column baton.owner_usage.output_tokens is $$Output tokens of all its tasks.$$;
comment on column baton.owner_usage.cost_usd is $$Cost in USD of all its tasks.$$;

grant select on baton.step_usage, baton.directive_usage, baton.owner_usage to baton_user, baton_agent;
