/*
 * What a token could learn or create that it should not, and a message that did not say what was
 * wrong, found by the security and bad-input suites (test/security, test/bad-input).
 *
 * 1. A token of an owner that does not exist (deleted, or signed for a made-up id) could call
 *    createDirective and registerDaemon, which failed on the owners foreign key with an INTERNAL
 *    error. resolve_owner now answers BTNFD, naming the token's owner, before anything is written.
 * 2. batch_add_steps and set_step_dependencies told a caller who named another owner's step that it
 *    "belongs to another directive (<that owner's directive id>)": a step id was enough to learn
 *    another owner's directive id. Another owner's step is now reported as not existing (BTNFD),
 *    like every other id of others; a step of one's own other directive keeps the BTINV message.
 *    lock_step, which every step function starts with, had the same leak: another owner's step id
 *    was answered with "Directive <that owner's directive id> does not exist". A step of another
 *    owner is now "Step <id> does not exist", the answer for a step that does not exist at all.
 * 3. set_step_dependencies with a null among the ids said "Step <NULL> does not exist."; it now says
 *    where the null is and what to give instead (BTINV).
 * 4. Task.workspace failed the whole `task` field with a permission error for an agent token (the
 *    function was granted to owners and daemons only), as Task.agentToken did before 000016. The
 *    function already answers null for agents; it is now granted to them, so reading a task works.
 *
 * The two step functions are 000010's with those lines changed, and stay SECURITY DEFINER (000014):
 * `create or replace` would otherwise make them SECURITY INVOKER again.
 */

create or replace function baton_private.resolve_owner(requested uuid) returns uuid
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_setting uuid := baton_private.try_uuid(nullif(current_setting('baton.owner_id', true), ''));
  v_owners uuid[];
begin
  if v_setting is not null then
    if requested is not null and requested <> v_setting then
      raise exception 'You act as owner %, so you cannot act for owner %.', v_setting, requested
        using errcode = 'BTDNY', hint = 'Leave owner_id out; it comes from your token.';
    end if;
    if not exists (select 1 from baton.owners o where o.id = v_setting) then
      raise exception 'Owner % (the owner of your token) does not exist, so nothing can be created for it.', v_setting
        using errcode = 'BTNFD', hint = 'Use a token of an existing owner; `baton owner create NAME` prints one.';
    end if;
    return v_setting;
  end if;
  if requested is not null then
    if not exists (select 1 from baton.owners o where o.id = requested) then
      raise exception 'Owner % does not exist.', requested
        using errcode = 'BTNFD', hint = 'Create one with `baton owner create NAME`, or see `select * from baton.owners`.';
    end if;
    return requested;
  end if;
  select array_agg(o.id) into v_owners from (select id from baton.owners limit 2) o;
  if cardinality(v_owners) = 1 then
    return v_owners[1];
  end if;
  raise exception 'No owner given, and there is not exactly one owner to default to.'
    using errcode = 'BTINV', hint = 'Pass owner_id => ''<uuid>'' (see `select id, name from baton.owners`).';
end;
$$;

/* Locks a step's directive, then the step, and returns the step. Another owner's step is answered
   like a missing one, before its directive is named (lock_directive would name it). */
create or replace function baton_private.lock_step(step_id uuid) returns baton.directive_steps
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive_id uuid;
  v_owner_id uuid;
  v_step baton.directive_steps;
begin
  select s.directive_id, s.owner_id into v_directive_id, v_owner_id from baton.directive_steps s where s.id = lock_step.step_id;
  if not found or (baton_private.current_api_role() <> 'admin' and v_owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Step % does not exist.', step_id
      using errcode = 'BTNFD', hint = 'See the steps of a directive with `baton directive status`.';
  end if;
  perform baton_private.lock_directive(v_directive_id);
  select * into v_step from baton.directive_steps s where s.id = lock_step.step_id for update;
  return v_step;
end;
$$;

create or replace function baton.batch_add_steps(directive_id uuid, steps jsonb) returns setof baton.directive_steps
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
    -- 000021: only the owner's other directives; another owner's step is reported as not existing.
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
         status = case when c.broken > 0 then 'blocked' when c.unmet = 0 then 'ready' else 'pending' end
    from (select e.id,
                 count(p.id) filter (where not baton_private.is_satisfied(p.status)) as unmet,
                 count(p.id) filter (where baton_private.is_broken(p.status)) as broken
            from unnest(v_entries) e
            left join baton.step_dependencies d on d.step_id = e.id
            left join baton.directive_steps p on p.id = d.depends_on_step_id
           group by e.id) c
   where s.id = c.id;

  perform baton_private.reactivate(v_directive.id);

  return query select s.* from unnest(v_entries) e join baton.directive_steps s on s.id = e.id order by e.ord;
end;
$$;

create or replace function baton.set_step_dependencies(step_id uuid, depends_on uuid[]) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_bad record;
  v_deps uuid[] := coalesce((select array_agg(distinct d) from unnest(depends_on) d), '{}');
begin
  -- GUARD: only waiting steps can be re-wired.
  if v_step.status not in ('pending', 'ready', 'blocked')
     or exists (select 1 from baton.tasks t where t.step_id = v_step.id and t.status in ('pending', 'starting', 'running')) then
    raise exception 'Step % is %, so its dependencies cannot be changed; only pending, ready or blocked steps without a task can.',
      v_step.id, v_step.status using errcode = 'BTSTS';
  end if;
  -- 000021: a null entry is a mistake to point out, not a step called <NULL> that does not exist.
  if array_position(depends_on, null) is not null then
    raise exception 'The dependencies of step % contain a null at position %; give the ids of steps of its directive (an empty list for none).',
      v_step.id, array_position(depends_on, null) using errcode = 'BTINV';
  end if;
  if v_step.id = any (v_deps) then
    raise exception 'Step % cannot depend on itself.', v_step.id using errcode = 'BTINV';
  end if;
  -- 000021: another owner's step joins nothing, so it is reported as not existing.
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

comment on function baton.set_step_dependencies(uuid, uuid[]) is
  $$Replaces the dependencies of a pending, ready or blocked step. Rejects nulls, unknown steps (another owner's steps are unknown), steps of your other directives and cycles (the message prints the cycle).$$;

grant execute on function baton.tasks_workspace(baton.tasks) to baton_agent;
