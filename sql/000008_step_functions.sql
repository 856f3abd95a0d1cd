/*
 * Changing the DAG: adding steps (one or a batch), re-wiring, removing, and the manual overrides
 * (complete, fail, skip, retry).
 *
 * add_step is a batch of one, so there is a single validation path. Every check runs before the
 * first write and raises with the entry number and what to do, so a planning agent can repair its
 * input; any error rolls the whole batch back.
 *
 * The API functions are SECURITY DEFINER because API roles have no write grants on tables; each one
 * locks the directive first (lock_directive / lock_step), which checks the caller. remove_step and
 * set_step_dependencies are thin wrappers that first check an agent's right to change the step; their
 * bodies live in baton_private and nobody else calls them.
 *
 * The step's state machine and the effects of its transitions are in 000004_steps.sql.
 */

create type baton_private.batch_entry as (
  ord integer, id uuid, key text, name text, description text, task_plan text, depends_on text[], order_index integer
);
comment on type baton_private.batch_entry is $$One validated entry of batch_add_steps, with the id its step will get.$$;

/* Finds a cycle among a batch's new steps (edges: from depends on to), or returns null. */
create function baton_private.find_batch_cycle(node_count integer, edge_from integer[], edge_to integer[]) returns integer[]
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  -- Adjacency in compressed rows: the edges of node u are edge_to[v_start[u] .. v_start[u+1]-1].
  v_start integer[] := array_fill(0, array[node_count + 1]);
  v_color integer[] := array_fill(0, array[node_count]);   -- 0 unseen, 1 on the stack, 2 done
  v_stack integer[] := array_fill(0, array[node_count]);
  v_next integer[] := array_fill(0, array[node_count]);
  v_sp integer;
  v_u integer;
  v_w integer;
  v_i integer;
  v_edges integer := coalesce(array_length(edge_from, 1), 0);
  v_root integer;
begin
  -- edge_from is sorted: count edges per node, then prefix sums.
  for v_i in 1 .. v_edges loop
    v_start[edge_from[v_i] + 1] := v_start[edge_from[v_i] + 1] + 1;
  end loop;
  v_start[1] := 1;
  for v_i in 2 .. node_count + 1 loop
    v_start[v_i] := v_start[v_i] + v_start[v_i - 1];
  end loop;
  for v_root in 1 .. node_count loop
    continue when v_color[v_root] <> 0;
    v_sp := 1; v_stack[1] := v_root; v_next[1] := v_start[v_root]; v_color[v_root] := 1;
    while v_sp > 0 loop
      v_u := v_stack[v_sp];
      v_i := v_next[v_sp];
      if v_i < v_start[v_u + 1] then
        v_next[v_sp] := v_i + 1;
        v_w := edge_to[v_i];
        if v_color[v_w] = 1 then
          -- The stack from v_w up to v_u, closed by v_w, is the cycle.
          return (select array_agg(v_stack[p] order by p) || v_w
                    from generate_series((select min(p2) from generate_series(1, v_sp) p2 where v_stack[p2] = v_w), v_sp) p);
        elsif v_color[v_w] = 0 then
          v_color[v_w] := 1;
          v_sp := v_sp + 1; v_stack[v_sp] := v_w; v_next[v_sp] := v_start[v_w];
        end if;
      else
        v_color[v_u] := 2;
        v_sp := v_sp - 1;
      end if;
    end loop;
  end loop;
  return null;
end;
$$;
comment on function baton_private.find_batch_cycle(integer, integer[], integer[]) is
  $$Depth-first search for a cycle among nodes 1..n with edges sorted by source; returns the cycle (first node repeated at the end) or null. O(nodes + edges).$$;

create function baton.batch_add_steps(directive_id uuid, steps jsonb) returns setof baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
  v_count integer;
  v_bad record;
  v_entries baton_private.batch_entry[];
  v_edge_from integer[];
  v_edge_to integer[];
  v_cycle integer[];
  v_generation integer;
  v_base_order integer;
begin
  -- GUARD: the directive accepts steps.
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so steps cannot be added to it.', v_directive.id
      using errcode = 'BTSTS', hint = 'Create a new directive instead.';
  end if;

  -- GUARD: the shape of the batch.
  if steps is null or jsonb_typeof(steps) <> 'array' then
    raise exception 'The steps must be a JSON array of objects like [{"name": "Write tests"}]; got %.', coalesce(jsonb_typeof(steps), 'nothing')
      using errcode = 'BTINV';
  end if;
  v_count := jsonb_array_length(steps);
  if v_count = 0 then
    raise exception 'The batch is empty; give at least one step.' using errcode = 'BTINV';
  end if;
  if v_count > 10000 then
    raise exception 'The batch has % steps; the limit is 10000 per batch.', v_count
      using errcode = 'BTINV', hint = 'Split it into several batches; later batches can depend on the ids the earlier ones returned.';
  end if;

  select e.ord into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord)
   where jsonb_typeof(e.v) <> 'object' order by e.ord limit 1;
  if found then
    raise exception 'Entry % of the batch is not an object; each entry looks like {"name": "...", "dependsOn": ["..."]}.', v_bad.ord
      using errcode = 'BTINV';
  end if;

  select e.ord, k.k into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord), jsonb_object_keys(e.v) k(k)
   where k.k not in ('key', 'name', 'description', 'taskPlan', 'dependsOn', 'orderIndex') order by e.ord limit 1;
  if found then
    raise exception 'Entry % has an unknown field "%"; the fields are key, name, description, taskPlan, dependsOn and orderIndex.', v_bad.ord, v_bad.k
      using errcode = 'BTINV';
  end if;

  select x.ord, x.field, x.expected into v_bad from (
    select e.ord,
      case
        when jsonb_typeof(e.v -> 'name') is distinct from 'string' then 'name'
        when jsonb_typeof(e.v -> 'key') not in ('string', 'null') then 'key'
        when jsonb_typeof(e.v -> 'description') not in ('string', 'null') then 'description'
        when jsonb_typeof(e.v -> 'taskPlan') not in ('string', 'null') then 'taskPlan'
        when jsonb_typeof(e.v -> 'dependsOn') not in ('array', 'null') then 'dependsOn'
        when jsonb_typeof(e.v -> 'dependsOn') = 'array'
             and exists (select 1 from jsonb_array_elements(e.v -> 'dependsOn') x where jsonb_typeof(x) <> 'string') then 'dependsOn'
        when jsonb_typeof(e.v -> 'orderIndex') not in ('number', 'null') then 'orderIndex'
        when jsonb_typeof(e.v -> 'orderIndex') = 'number'
             and ((e.v ->> 'orderIndex')::numeric <> trunc((e.v ->> 'orderIndex')::numeric)
                  or abs((e.v ->> 'orderIndex')::numeric) > 1000000000) then 'orderIndex'
      end as field,
      null::text as expected
    from jsonb_array_elements(steps) with ordinality e(v, ord)
  ) x where x.field is not null order by x.ord limit 1;
  if found then
    raise exception 'Entry % has an invalid "%": it must be %.', v_bad.ord, v_bad.field,
      case v_bad.field
        when 'name' then 'a string of 1 to 200 characters'
        when 'key' then 'a string'
        when 'dependsOn' then 'an array of strings, each a step id or a key of this batch'
        when 'orderIndex' then 'an integer between -1000000000 and 1000000000'
        else 'a string' end
      using errcode = 'BTINV';
  end if;

  select coalesce(max(s.order_index), -1) into v_base_order from baton.directive_steps s where s.directive_id = v_directive.id;
  select array_agg(row(
      e.ord, gen_random_uuid(), e.v ->> 'key', btrim(e.v ->> 'name'), e.v ->> 'description', e.v ->> 'taskPlan',
      -- "dependsOn": null means none (jsonb_array_elements_text would reject the JSON null).
      coalesce(array(select distinct x from jsonb_array_elements_text(
        case when jsonb_typeof(e.v -> 'dependsOn') = 'array' then e.v -> 'dependsOn' end) x), '{}'),
      coalesce((e.v ->> 'orderIndex')::integer, v_base_order + e.ord::integer)
    )::baton_private.batch_entry order by e.ord)
    into v_entries
    from jsonb_array_elements(steps) with ordinality e(v, ord);

  -- GUARD: names, texts and keys.
  select e.ord, e.name into v_bad from unnest(v_entries) e where length(e.name) = 0 or length(e.name) > 200 order by e.ord limit 1;
  if found then
    raise exception 'Entry % has a name of % characters; a name must be 1 to 200 characters.', v_bad.ord, length(v_bad.name)
      using errcode = 'BTINV';
  end if;
  select e.ord, f.field, f.size into v_bad from unnest(v_entries) e,
    lateral (values ('description', octet_length(e.description)), ('taskPlan', octet_length(e.task_plan))) f(field, size)
   where f.size > 102400 order by e.ord limit 1;
  if found then
    raise exception 'Entry % has a % of % bytes; the limit is 102400 bytes (100 KB).', v_bad.ord, v_bad.field, v_bad.size
      using errcode = 'BTINV', hint = 'Keep long material in the repository and refer to it from the plan.';
  end if;
  select e.ord, e.key into v_bad from unnest(v_entries) e where e.key is not null and (length(btrim(e.key)) = 0 or length(e.key) > 200)
   order by e.ord limit 1;
  if found then
    raise exception 'Entry % has an empty or overlong key; a key must be 1 to 200 characters.', v_bad.ord using errcode = 'BTINV';
  end if;
  select e.key, array_agg(e.ord order by e.ord) as ords into v_bad from unnest(v_entries) e
   where e.key is not null group by e.key having count(*) > 1 order by min(e.ord) limit 1;
  if found then
    raise exception 'The key "%" is used by entries %; keys must be unique within a batch.', v_bad.key, array_to_string(v_bad.ords, ' and ')
      using errcode = 'BTINV';
  end if;

  -- GUARD: every dependency resolves to a key of this batch or a step of this directive.
  select e.ord, e.name, r.ref, k.ord as key_ord, s.id as existing, o.directive_id as other_directive into v_bad
    from unnest(v_entries) e cross join lateral unnest(e.depends_on) r(ref)
    left join lateral (select k.ord from unnest(v_entries) k where k.key = r.ref) k on true
    left join baton.directive_steps s on s.id = baton_private.try_uuid(r.ref) and s.directive_id = v_directive.id
    -- Only the owner's other directives; another owner's step is reported as not existing.
    left join baton.directive_steps o on o.id = baton_private.try_uuid(r.ref) and o.directive_id <> v_directive.id
      and o.owner_id = v_directive.owner_id
   where k.ord is null and s.id is null or k.ord = e.ord or s.id = e.id
   order by e.ord limit 1;
  if found then
    if v_bad.key_ord is not null then
      raise exception 'Entry % ("%") depends on itself (key "%"); a step cannot depend on itself.', v_bad.ord, v_bad.name, v_bad.ref
        using errcode = 'BTINV';
    elsif v_bad.other_directive is not null then
      raise exception 'Entry % ("%") depends on step %, which belongs to another directive (%); a step can only depend on steps of its own directive.',
        v_bad.ord, v_bad.name, v_bad.ref, v_bad.other_directive
        using errcode = 'BTINV';
    else
      raise exception 'Entry % ("%") depends on "%", which is neither a key in this batch nor a step of directive %.',
        v_bad.ord, v_bad.name, v_bad.ref, v_directive.id
        using errcode = 'BTNFD', hint = 'Use a key defined in this batch, or a step id from `baton directive status`.';
    end if;
  end if;

  -- GUARD: no cycle. Only references to keys can form one (existing steps never depend on new ones),
  -- and only a reference to a later entry can close it.
  select array_agg(e.ord order by e.ord, k.ord), array_agg(k.ord order by e.ord, k.ord) into v_edge_from, v_edge_to
    from unnest(v_entries) e cross join lateral unnest(e.depends_on) r(ref)
    join unnest(v_entries) k on k.key = r.ref;
  if exists (select 1 from unnest(v_edge_from, v_edge_to) x(f, t) where t > f) then
    v_cycle := baton_private.find_batch_cycle(v_count, v_edge_from, v_edge_to);
    if v_cycle is not null then
      raise exception 'The batch has a dependency cycle: % (each depends on the next).',
        (select string_agg(coalesce(e.key, e.name), ' → ' order by c.n)
           from unnest(v_cycle) with ordinality c(ord, n) join unnest(v_entries) e on e.ord = c.ord)
        using errcode = 'BTCYC', hint = 'Remove one of these dependencies so the steps form a DAG.';
    end if;
  end if;

  -- PHASE 1: insert the steps, waiting, with the generation of the plan in flight (or the current one).
  select coalesce(t.generation, greatest(v_directive.current_generation, 1)) into v_generation
    from (select 1) one left join baton.tasks t on t.id = v_directive.orchestrator_task_id;
  insert into baton.directive_steps (id, directive_id, owner_id, name, description, task_plan, generation, order_index, status)
  select e.id, v_directive.id, v_directive.owner_id, e.name, e.description, e.task_plan, v_generation, e.order_index, 'pending'
    from unnest(v_entries) e order by e.ord;

  -- PHASE 2: the edges, with ids resolved (a key of this batch wins over an id).
  insert into baton.step_dependencies (step_id, depends_on_step_id, directive_id, owner_id)
  select distinct e.id, coalesce(k.id, baton_private.try_uuid(r.ref)), v_directive.id, v_directive.owner_id
    from unnest(v_entries) e cross join lateral unnest(e.depends_on) r(ref)
    left join lateral (select k.id from unnest(v_entries) k where k.key = r.ref) k on true;

  -- PHASE 3: counters and statuses; the triggers enqueue what became ready and block what must wait.
  update baton.directive_steps s
     set remaining_deps = c.unmet,
         status = case when c.broken > 0 then 'blocked' when c.unmet = 0 then 'ready' else 'pending' end::baton.step_status
    from (select e.id,
                 count(p.id) filter (where not baton_private.step_satisfies_dependents(p.status)) as unmet,
                 count(p.id) filter (where baton_private.step_blocks_dependents(p.status)) as broken
            from unnest(v_entries) e
            left join baton.step_dependencies d on d.step_id = e.id
            left join baton.directive_steps p on p.id = d.depends_on_step_id
           group by e.id) c
   where s.id = c.id;

  perform baton_private.reactivate(v_directive.id);

  return query select s.* from unnest(v_entries) e join baton.directive_steps s on s.id = e.id order by e.ord;
end;
$$;
comment on function baton.batch_add_steps(uuid, jsonb) is
  $$Adds steps atomically from a JSON array of {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?}. A dependsOn entry is a step id of this directive or the key of another entry of the batch (earlier or later). Cycles, unknown ids and bad fields reject the whole batch. Returns the new steps in input order.$$;

create function baton.add_step(
  directive_id uuid, name text, description text default null, task_plan text default null,
  depends_on uuid[] default null, order_index integer default null
) returns baton.directive_steps
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  select * from baton.batch_add_steps(add_step.directive_id, jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
    'name', add_step.name, 'description', add_step.description, 'taskPlan', add_step.task_plan,
    'dependsOn', to_jsonb(add_step.depends_on), 'orderIndex', add_step.order_index))));
$$;
comment on function baton.add_step(uuid, text, text, text, uuid[], integer) is
  $$Adds one step that depends on existing steps of the same directive. Returns the new step (its id is what later dependsOn entries use).$$;

/*
 * Raises BTCYC with the path if `step_id` depending on `depends_on` would close a cycle.
 * It walks up from the new dependencies and keeps, for each step reached, one step that led to it;
 * the walk is a plain query (no temp table), so the function can stay `stable` and needs no TEMP
 * privilege. Cost: the ancestors of the new dependencies.
 */
create function baton_private.assert_no_cycle(step_id uuid, depends_on uuid[]) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_parents jsonb;
  v_path uuid[];
  v_current uuid := step_id;
  v_parent uuid;
begin
  -- Every step reached -> one step it was reached from (null for the new dependencies themselves).
  -- (id, parent) pairs are bounded by the edges; the walk does not go on past step_id.
  with recursive up (id, parent) as (
    select d, null::uuid from unnest(assert_no_cycle.depends_on) d
    union
    select e.depends_on_step_id, up.id from up join baton.step_dependencies e on e.step_id = up.id
     where up.id <> assert_no_cycle.step_id
  )
  select jsonb_object_agg(w.id, w.parent) into v_parents
    from (select distinct on (u.id) u.id, u.parent from up u order by u.id, u.parent nulls first) w;
  if v_parents is null or not v_parents ? assert_no_cycle.step_id::text then
    return;
  end if;
  -- Follow the links back from the step to one of the new dependencies. The existing graph is a DAG,
  -- so this ends.
  v_path := array[assert_no_cycle.step_id];
  loop
    v_parent := (v_parents ->> v_current::text)::uuid;
    exit when v_parent is null;
    v_path := v_path || v_parent;
    v_current := v_parent;
  end loop;
  -- v_path is step <- ... <- new dependency; print it as step -> dependency -> ... -> step.
  raise exception 'That dependency would create a cycle: % (each depends on the next).',
    (select string_agg(coalesce(s.name, p.id::text) || ' (' || left(p.id::text, 8) || ')', ' → ' order by p.n)
       from unnest(array[assert_no_cycle.step_id] || (select array_agg(x order by n desc) from unnest(v_path) with ordinality v(x, n)))
            with ordinality p(id, n)
       left join baton.directive_steps s on s.id = p.id)
    using errcode = 'BTCYC', hint = 'Remove one of these dependencies so the steps form a DAG.';
end;
$$;
comment on function baton_private.assert_no_cycle(uuid, uuid[]) is $$Raises BTCYC, printing the cycle, if the step would transitively depend on itself.$$;

create function baton_private.set_step_dependencies(step_id uuid, depends_on uuid[]) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_bad record;
  v_deps uuid[] := coalesce((select array_agg(distinct d) from unnest(depends_on) d), '{}');
begin
  -- GUARD: only waiting steps can be re-wired.
  if not baton_private.step_is_waiting(v_step.status)
     or exists (select 1 from baton.tasks t where t.step_id = v_step.id and baton_private.task_is_live(t.status)) then
    raise exception 'Step % is %, so its dependencies cannot be changed; only pending, ready or blocked steps without a task can.',
      v_step.id, v_step.status using errcode = 'BTSTS';
  end if;
  -- A null entry is a mistake to point out, not a step called <NULL> that does not exist.
  if array_position(depends_on, null) is not null then
    raise exception 'The dependencies of step % contain a null at position %; give the ids of steps of its directive (an empty list for none).',
      v_step.id, array_position(depends_on, null) using errcode = 'BTINV';
  end if;
  if v_step.id = any (v_deps) then
    raise exception 'Step % cannot depend on itself.', v_step.id using errcode = 'BTINV';
  end if;
  -- Another owner's step joins nothing, so it is reported as not existing.
  select d.id, s.directive_id into v_bad from unnest(v_deps) d(id)
    left join baton.directive_steps s on s.id = d.id and s.owner_id = v_step.owner_id
   where s.directive_id is distinct from v_step.directive_id limit 1;
  if found then
    if v_bad.directive_id is null then
      raise exception 'Step % does not exist.', v_bad.id
        using errcode = 'BTNFD', hint = 'See the steps of the directive with `baton directive status`.';
    end if;
    raise exception 'Step % belongs to another directive (%); a step can only depend on steps of its own directive.', v_bad.id, v_bad.directive_id
      using errcode = 'BTINV';
  end if;
  perform baton_private.assert_no_cycle(v_step.id, v_deps);

  delete from baton.step_dependencies d where d.step_id = v_step.id and d.depends_on_step_id <> all (v_deps);
  insert into baton.step_dependencies (step_id, depends_on_step_id, directive_id, owner_id)
  select v_step.id, d, v_step.directive_id, v_step.owner_id from unnest(v_deps) d
  on conflict do nothing;
  perform baton_private.refresh_step(v_step.id);
  perform baton_private.record_event(v_step.owner_id, v_step.directive_id, 'step', v_step.id, 'dependencies_changed',
    null, null, jsonb_build_object('depends_on', to_jsonb(v_deps)));
  -- A blocked step freed in an idle directive must run: wake the directive up.
  perform baton_private.reactivate(v_step.directive_id);
  select * into v_step from baton.directive_steps s where s.id = v_step.id;
  return v_step;
end;
$$;
comment on function baton_private.set_step_dependencies(uuid, uuid[]) is
  $$Replaces the dependencies of a pending, ready or blocked step. Rejects nulls, unknown steps (another owner's steps are unknown), steps of your other directives and cycles (the message prints the cycle).$$;

/* Cancels a step's live task, if any (a manual override won over it). The daemon is told to stop. */
create function baton_private.cancel_live_task(step_id uuid, reason text) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  update baton.tasks t set status = 'cancelled', error = reason
   where t.step_id = cancel_live_task.step_id and t.kind = 'execution' and baton_private.task_is_live(t.status);
$$;
comment on function baton_private.cancel_live_task(uuid, text) is $$Cancels the step's pending, starting or running task.$$;

create function baton_private.remove_step(step_id uuid, force boolean default false) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_dependents text;
  v_dependent uuid;
  v_live uuid[];
  v_dependents_ids uuid[];
begin
  select string_agg(s.id || ' ("' || s.name || '")', ', ' order by s.order_index, s.id) into v_dependents
    from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id where d.depends_on_step_id = v_step.id;
  if v_dependents is not null and not force then
    raise exception 'Step % ("%") cannot be removed: % depend on it.', v_step.id, v_step.name, v_dependents
      using errcode = 'BTDEP',
            hint = 'Remove or re-wire those steps first (set-deps), or pass force => true (--force) to re-wire them onto this step''s own dependencies.';
  end if;
  -- With force, each dependent inherits this step's dependencies in place of it.
  for v_dependent in select d.step_id from baton.step_dependencies d where d.depends_on_step_id = v_step.id order by d.step_id loop
    insert into baton.step_dependencies (step_id, depends_on_step_id, directive_id, owner_id)
    select v_dependent, d.depends_on_step_id, v_step.directive_id, v_step.owner_id
      from baton.step_dependencies d where d.step_id = v_step.id
    on conflict do nothing;
  end loop;
  select array_agg(d.step_id) into v_dependents_ids from baton.step_dependencies d where d.depends_on_step_id = v_step.id;
  select array_agg(t.id) into v_live from baton.tasks t
   where t.step_id = v_step.id and baton_private.task_is_live(t.status);
  delete from baton.directive_steps s where s.id = v_step.id;
  update baton.tasks t set status = 'cancelled', error = 'The step was removed.' where t.id = any (v_live);
  for v_dependent in select x from unnest(v_dependents_ids) x order by x loop
    perform baton_private.refresh_step(v_dependent);
  end loop;
  perform baton_private.record_event(v_step.owner_id, v_step.directive_id, 'step', v_step.id, 'removed',
    v_step.status::text, null, jsonb_build_object('name', v_step.name));
  -- Dependents freed by removing a failed step (with force) must run: wake an idle directive up.
  perform baton_private.reactivate(v_step.directive_id);
  return v_step;
end;
$$;
comment on function baton_private.remove_step(uuid, boolean) is
  $$Removes a step. Refused while other steps depend on it, unless force => true re-wires them onto its own dependencies. A running task of the step is cancelled.$$;

/*
 * The one check of an agent's right to change an existing step, called by remove_step and
 * set_step_dependencies before they do anything. Order: the token's directive and live task
 * (lock_step, which locks the directive, then the step), then the step's state, then who added it.
 * Other callers (owners, daemons, admin) pass straight through.
 */
create function baton_private.assert_agent_may_change_step(step_id uuid, verb text, force boolean default false) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps;
  v_task_id uuid;
  v_kind text;
  v_other record;
  v_action text := case verb when 'remove' then 'remove' else 're-wire' end;
begin
  if baton_private.current_api_role() <> 'baton_agent' then
    return;
  end if;
  v_step := baton_private.lock_step(step_id);
  v_task_id := baton_private.setting_uuid('baton.task_id');
  select t.kind into v_kind from baton.tasks t where t.id = v_task_id;

  -- GUARD (every agent): work that is done or under way stays. (Re-wiring such a step is refused for
  -- everyone by set_step_dependencies itself, with BTSTS.)
  if verb = 'remove' and v_step.status in ('completed', 'running') then
    raise exception 'Step % ("%") is %, so an agent cannot remove it; only the directive''s owner can. Add a new step instead.',
      v_step.id, v_step.name, v_step.status
      using errcode = 'BTDNY', hint = 'The owner can remove it with `baton directive remove-step ' || v_step.id || '`.';
  end if;

  if v_kind is distinct from 'execution' then
    return;
  end if;
  -- GUARD (execution agents): only the steps this task added.
  if v_step.added_by_task_id is distinct from v_task_id then
    raise exception 'Step % ("%") was not added by this task, so an execution agent cannot % it; ask the owner, or add a new step.',
      v_step.id, v_step.name, v_action using errcode = 'BTDNY';
  end if;
  -- Removing with force re-wires the dependents onto this step's dependencies.
  if verb = 'remove' and force then
    select s.id, s.name into v_other
      from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id
     where d.depends_on_step_id = v_step.id and s.added_by_task_id is distinct from v_task_id
     order by s.id limit 1;
    if found then
      raise exception 'Removing step % ("%") with force would re-wire step % ("%"), which was not added by this task, so an execution agent cannot do it; ask the owner, or add a new step.',
        v_step.id, v_step.name, v_other.id, v_other.name using errcode = 'BTDNY';
    end if;
  end if;
end;
$$;
comment on function baton_private.assert_agent_may_change_step(uuid, text, boolean) is
  $$For agent tokens (others pass): raises BTDNY when the agent may not remove (verb `remove`) or re-wire (`rewire`) the step: no agent removes a completed or running step, and an execution agent touches only steps its task added (with force, their dependents too).$$;

create function baton.remove_step(step_id uuid, force boolean default false) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_agent_may_change_step(remove_step.step_id, 'remove', remove_step.force);
  return baton_private.remove_step(remove_step.step_id, remove_step.force);
end;
$$;
comment on function baton.remove_step(uuid, boolean) is
  $$Removes a step. Refused while other steps depend on it, unless force => true re-wires them onto its own dependencies. A running task of the step is cancelled. Agents cannot remove completed or running steps; an execution agent only removes steps its task added.$$;
grant execute on function baton.remove_step(uuid, boolean) to baton_user, baton_agent;

create function baton.set_step_dependencies(step_id uuid, depends_on uuid[]) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_agent_may_change_step(set_step_dependencies.step_id, 'rewire');
  return baton_private.set_step_dependencies(set_step_dependencies.step_id, set_step_dependencies.depends_on);
end;
$$;
comment on function baton.set_step_dependencies(uuid, uuid[]) is
  $$Replaces the dependencies of a pending, ready or blocked step. Rejects nulls, unknown steps (another owner's steps are unknown), steps of your other directives and cycles (the message prints the cycle). An execution agent only re-wires steps its task added.$$;
grant execute on function baton.set_step_dependencies(uuid, uuid[]) to baton_user, baton_agent;

/*
 * Moves a locked step to a manual status if the machine allows it from the step's status, else
 * explains. Completing by hand settles its dependencies too (remaining_deps = 0): a completed step
 * waits for nothing, and the guard refuses one that would.
 */
create function baton_private.override_step(step_id uuid, to_status text, verb text) returns baton.directive_steps
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_allowed text[] := baton_private.step_sources(to_status);
begin
  if not v_step.status::text = any (v_allowed) then
    raise exception 'Step % is %, so it cannot be %; only % steps can.', v_step.id, v_step.status, verb,
      array_to_string(v_allowed, ', ')
      using errcode = 'BTSTS', detail = format('from=%s to=%s allowed=%s', v_step.status, to_status, v_allowed),
            -- Never null: RAISE refuses a null option.
            hint = case when baton_private.step_blocks_dependents(v_step.status) then 'Use retry-step to run it again.'
                        else 'Completed and skipped steps are final; add a new step (add-step) to do more.' end;
  end if;
  update baton.directive_steps s
     set status = to_status::baton.step_status,
         remaining_deps = case when to_status = 'completed' then 0 else s.remaining_deps end
   where s.id = v_step.id returning * into v_step;
  perform baton_private.cancel_live_task(v_step.id, format('The step was %s by hand.', verb));
  perform baton_private.reactivate(v_step.directive_id);
  return v_step;
end;
$$;
comment on function baton_private.override_step(uuid, text, text) is $$Applies a manual step transition (from any status step_transition_allowed allows) and cancels the step's live task.$$;

create function baton.complete_step(step_id uuid) returns baton.directive_steps
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  select * from baton_private.override_step(step_id, 'completed', 'completed');
$$;
comment on function baton.complete_step(uuid) is $$Marks a step completed by hand (its task, if any, is cancelled); its dependents may become ready.$$;

create function baton.fail_step(step_id uuid) returns baton.directive_steps
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  select * from baton_private.override_step(step_id, 'failed', 'failed');
$$;
comment on function baton.fail_step(uuid) is $$Marks a step failed by hand (its task, if any, is cancelled); its dependents become blocked.$$;

create function baton.skip_step(step_id uuid) returns baton.directive_steps
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
  select * from baton_private.override_step(step_id, 'skipped', 'skipped');
$$;
comment on function baton.skip_step(uuid) is $$Skips a step: it will not run, and it satisfies its dependents as if completed.$$;

/* Starts a new round of attempts for a failed step; its dependents are unblocked by the triggers. */
create function baton_private.retry_failed_step(step_id uuid) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  update baton.directive_steps s set attempts = 0 where s.id = retry_failed_step.step_id;
  perform baton_private.refresh_step(retry_failed_step.step_id, include_failed => true);
end;
$$;
comment on function baton_private.retry_failed_step(uuid) is $$Resets a failed step's attempts and makes it pending, ready or blocked again.$$;

create function baton.retry_step(step_id uuid) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_failed uuid;
begin
  if not baton_private.step_blocks_dependents(v_step.status) then
    raise exception 'Step % is %, so it cannot be retried; only failed or blocked steps can.', v_step.id, v_step.status
      using errcode = 'BTSTS', detail = format('from=%s to=ready allowed={failed,blocked}', v_step.status);
  end if;
  -- The failed steps it waits on are retried too, found through blocked *and* failed steps: a step
  -- failed by hand while blocked still waits on the failure above it, and retrying only the nearest
  -- one would leave the step blocked.
  for v_failed in
    with recursive up (id) as (
      select d.depends_on_step_id from baton.step_dependencies d where d.step_id = v_step.id
      union
      select d.depends_on_step_id from up join baton.directive_steps s on s.id = up.id and baton_private.step_blocks_dependents(s.status)
        join baton.step_dependencies d on d.step_id = up.id
    )
    select s.id from up join baton.directive_steps s on s.id = up.id where s.status = 'failed' order by s.id
  loop
    perform baton_private.retry_failed_step(v_failed);
  end loop;
  if v_step.status = 'failed' then
    perform baton_private.retry_failed_step(v_step.id);
  else
    perform baton_private.refresh_step(v_step.id);
  end if;
  perform baton_private.reactivate(v_step.directive_id);
  select * into v_step from baton.directive_steps s where s.id = v_step.id;
  return v_step;
end;
$$;
comment on function baton.retry_step(uuid) is
  $$Runs a failed step again with a fresh round of attempts, together with the failed steps it waits on (for a blocked step, only those); blocked dependents are unblocked and an idle directive becomes active.$$;

grant execute on function
  baton.complete_step(uuid), baton.fail_step(uuid), baton.skip_step(uuid), baton.retry_step(uuid)
  to baton_user;
grant execute on function
  baton.batch_add_steps(uuid, jsonb), baton.add_step(uuid, text, text, text, uuid[], integer)
  to baton_user, baton_agent;
