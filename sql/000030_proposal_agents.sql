/*
 * A step's "agent" survives plan review.
 *
 * 000026 wrapped batch_add_steps to take each entry's "agent" and handed the function it wraps the
 * batch without it. For a reviewing planner (sql/000024) that function stores the batch in the plan
 * proposal, so the agents were lost, and the approved steps could go to any daemon. Now a reviewing
 * planner's batch goes whole to the wrapped function (baton_private.writes_to_proposal, which 000024
 * left for this), is stored with its agents, and approval adds it through this function, agents
 * included. Everything else is as in 000026.
 */
create or replace function baton.batch_add_steps(directive_id uuid, steps jsonb) returns setof baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bad record;
  v_row baton.directive_steps;
  v_rows baton.directive_steps[] := '{}';
  v_ids uuid[] := '{}';
begin
  if steps is not null and jsonb_typeof(steps) = 'array' then
    -- GUARD: each agent is a label (or null).
    select e.ord into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord)
     where jsonb_typeof(e.v) = 'object' and e.v ? 'agent' and jsonb_typeof(e.v -> 'agent') <> 'null'
       and (jsonb_typeof(e.v -> 'agent') <> 'string' or baton_private.label_problem(e.v ->> 'agent') is not null)
     order by e.ord limit 1;
    if found then
      raise exception 'Entry % has an invalid "agent": it must be a label of 1 to 64 characters (letters, digits, ".", "_", "-" or ":"), e.g. "claude".', v_bad.ord
        using errcode = 'BTINV';
    end if;
  end if;
  -- PLAN REVIEW: a reviewing planner's batch goes whole, "agent" included, to the function this wraps,
  -- whose proposal branch stores each entry as given (approval adds it through this function again).
  if baton_private.writes_to_proposal(batch_add_steps.directive_id) then
    return query select * from baton_private.batch_add_steps_without_agent(batch_add_steps.directive_id, steps);
    return;
  end if;
  -- The rows as the earlier version returns them, in order (a reviewing planner's are its proposal's,
  -- not live steps: they are returned as they are).
  for v_row in
    select * from baton_private.batch_add_steps_without_agent(directive_id,
           case when jsonb_typeof(steps) = 'array'
                then coalesce((select jsonb_agg(case when jsonb_typeof(e.v) = 'object' then e.v - 'agent' else e.v end order by e.ord)
                                 from jsonb_array_elements(steps) with ordinality e(v, ord)), '[]'::jsonb)
                else steps end)
  loop
    v_rows := v_rows || v_row;
    v_ids := v_ids || v_row.id;
  end loop;
  -- The agents of live steps, in one statement, before the transaction commits: no dispatch sees a step without it.
  update baton.directive_steps s set agent = e.v ->> 'agent'
    from jsonb_array_elements(steps) with ordinality e(v, ord)
   where s.id = v_ids[e.ord] and jsonb_typeof(e.v -> 'agent') = 'string';
  foreach v_row in array v_rows loop
    return next coalesce((select s from baton.directive_steps s where s.id = v_row.id and s.agent is distinct from v_row.agent), v_row);
  end loop;
end;
$$;
comment on function baton.batch_add_steps(uuid, jsonb) is
  $$Adds steps atomically from a JSON array of {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?, "timeout"?, "stall"?, "agent"?}. A dependsOn entry is a step id of this directive or the key of another entry of the batch (earlier or later). "check" is a shell command run after the step's agent exits 0; the step completes only if it passes. "timeout" and "stall" limit each attempt of the step ("30m", "1h30m" or seconds). "agent" names the kind of agent the step needs (e.g. "claude"): only daemons with that label take it. Cycles, unknown ids and bad fields reject the whole batch. Returns the new steps in input order.$$;
