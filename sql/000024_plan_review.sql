/*
 * Plan review (issue 12 point 1).
 *
 * A directive with review_plans holds whatever its planner writes as a *proposal*: nothing of it is
 * dispatched and the live plan stays as it is until the owner approves it. The planner (a planning
 * task's agent, with its own token) still calls batch_add_steps, add_step, remove_step and
 * set_step_dependencies; for such a caller those write to the planning task's proposal instead of
 * the live tables. Owners, daemons and DBAs always edit the live plan.
 *
 * A proposal is a copy of the plan taken when its planner first writes (baton_private
 * .plan_proposal_steps: every live step, with its dependencies), edited by the planner's calls:
 * added steps get ids of their own (what add-step prints, so later --depends-on work as usual),
 * removed steps are marked, re-wired steps carry their new dependencies. New steps are validated by
 * running the live batch_add_steps in a subtransaction that is rolled back (the "dry run"), so they
 * pass exactly the checks live steps pass (fields, checks, limits, ids); the dependencies among
 * proposed steps, removals and re-wirings are checked here, with the live functions' messages.
 *
 * THE STATE MACHINE of baton.plan_proposals (diagram in the table's comment):
 *   drafting -> proposed     its planning task completed (the planner is done writing)
 *            -> superseded   its planning task failed, was interrupted or cancelled, or a newer planner started
 *   proposed -> approved     approve_plan (or a DBA's UPDATE): the proposal is applied to the live plan
 *            -> rejected     reject_plan with a reason (or a DBA's UPDATE): the directive is planned again
 *            -> superseded   a newer planner started (the goal changed)
 *   approved, rejected and superseded are final.
 * What a transition causes lives in the AFTER trigger, so a DBA's UPDATE has the API's effects.
 *
 * Approving applies the proposal in the approving transaction: new steps through batch_add_steps
 * (all of them in one batch), then the re-wirings (set_step_dependencies), then the removals
 * (remove_step with force). Steps become ready through the step state machine and are dispatched as
 * usual. A proposal that no longer fits the live plan (a step it keeps was removed meanwhile, a step
 * it removes or re-wires has started) is refused as a whole with BTSTS naming the step.
 *
 * Rejecting restores the directive's planned_revision to what it was before that planner, so the
 * directive needs planning again; the next planning prompt quotes the reason.
 *
 * Functions redefined here: baton.batch_add_steps (000019), baton.remove_step and
 * baton.set_step_dependencies (000008). Each only gains the proposal branch at its top; the live
 * path is unchanged. A later migration redefining or wrapping them must keep that branch: a wrapper
 * of batch_add_steps starts with `if baton_private.writes_to_proposal(directive_id) then return query
 * select * from <this function>(directive_id, steps); return; end if;` and passes the entries whole
 * (the proposal keeps them, and approval adds them through baton.batch_add_steps as it then is).
 * test/sql/plan_review.test.ts fails otherwise.
 *
 * LOCK ORDER: the directive (lock_directive), then its proposal row, then steps, as every
 * directive-scoped change.
 */

alter table baton.directives add column review_plans boolean not null default false;
comment on column baton.directives.review_plans is
  $$When true, what a planner writes is a proposal the owner reviews (`baton directive plan`) and approves or rejects; nothing of it runs before approval. Set with setDirectiveReviewPlans.$$;

create type baton.plan_proposal_status as enum ('drafting', 'proposed', 'approved', 'rejected', 'superseded');
comment on type baton.plan_proposal_status is $$A plan proposal's status: drafting, proposed, approved, rejected or superseded (the state machine is in the table's comment).$$;

create table baton.plan_proposals (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  directive_id uuid not null references baton.directives (id) on delete cascade,
  task_id uuid not null references baton.tasks (id) on delete cascade,
  status baton.plan_proposal_status not null default 'drafting',
  goal_revision integer not null,
  base_planned_revision integer,
  reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  proposed_at timestamptz,
  decided_at timestamptz,
  constraint reason_only_when_rejected check ((status = 'rejected') = (reason is not null)),
  constraint reason_is_valid check (reason is null or (length(btrim(reason)) >= 1 and octet_length(reason) <= 16384)),
  constraint decided_at_only_when_decided check ((status in ('approved', 'rejected')) = (decided_at is not null))
);
-- One proposal per planning task; at most one open proposal per directive.
create unique index plan_proposals_task_idx on baton.plan_proposals (task_id);
create unique index plan_proposals_open_idx on baton.plan_proposals (directive_id) where status in ('drafting', 'proposed');
create index plan_proposals_directive_idx on baton.plan_proposals (directive_id, created_at);
create index plan_proposals_owner_idx on baton.plan_proposals (owner_id);
-- Conditions on status (the CLI asks for the open one): PostGraphile offers conditions only on indexed columns.
create index plan_proposals_status_idx on baton.plan_proposals (directive_id, status);

comment on table baton.plan_proposals is $$@behavior -insert -update -delete
A plan a planner wrote for a directive with review_plans: held for the owner's review instead of being dispatched. `baton directive plan` (planDiff) shows it as a diff against the live plan.
Status: drafting -> proposed (its planner finished) | superseded (its planner failed, or a newer one started); proposed -> approved (approvePlan: applied to the live plan) | rejected (rejectPlan with a reason: the directive is planned again, the reason in the planner's prompt) | superseded (a newer planner started); approved, rejected and superseded are final.$$;
comment on column baton.plan_proposals.id is $$The proposal's id.$$;
comment on column baton.plan_proposals.owner_id is $$The owner (copied from the directive for row-level security).$$;
comment on column baton.plan_proposals.directive_id is $$The directive it proposes a plan for.$$;
comment on column baton.plan_proposals.task_id is $$The planning task whose agent wrote it.$$;
comment on column baton.plan_proposals.status is $$@behavior +filterBy
drafting, proposed, approved, rejected or superseded.$$;
comment on column baton.plan_proposals.goal_revision is $$The goal revision its planner planned.$$;
comment on column baton.plan_proposals.base_planned_revision is $$The directive's planned_revision before its planner ran; rejecting restores it, so the directive is planned again.$$;
comment on column baton.plan_proposals.reason is $$Why the owner rejected it (set exactly when rejected); the next planner reads it.$$;
comment on column baton.plan_proposals.created_at is $$When its planner first wrote to it.$$;
comment on column baton.plan_proposals.updated_at is $$When this row last changed.$$;
comment on column baton.plan_proposals.proposed_at is $$When its planner finished and it waited for review.$$;
comment on column baton.plan_proposals.decided_at is $$When it was approved or rejected.$$;
comment on constraint reason_only_when_rejected on baton.plan_proposals is $$A rejected proposal has a reason; no other has one.$$;
comment on constraint reason_is_valid on baton.plan_proposals is $$A reason is not blank and at most 16 KiB.$$;
comment on constraint decided_at_only_when_decided on baton.plan_proposals is $$decided_at is set exactly when it is approved or rejected.$$;

/* Only the owner (and a DBA) reads proposals; daemons and agents are granted it and see none, as with webhooks. */
alter table baton.plan_proposals enable row level security;
alter table baton.plan_proposals force row level security;
do $$
begin
  execute format('create policy definer_all on baton.plan_proposals for all to %I using (true) with check (true)', current_user);
end
$$;
create policy select_visible on baton.plan_proposals for select using (
  case (select baton_private.current_api_role())
    when 'admin' then true
    when 'baton_user' then owner_id = (select baton_private.current_owner_id())
    else false end);
grant select on baton.plan_proposals to baton_user, baton_daemon, baton_agent;

/*
 * The proposed plan, one row per step: the live steps when the proposal began (is_new false; removed
 * when the planner removed one; rewired when its dependencies were changed) and the steps the planner
 * added (is_new true, with the batch entry it wrote and the row add-step returned). Private: the API
 * reads it through plan_diff.
 */
create table baton_private.plan_proposal_steps (
  proposal_id uuid not null references baton.plan_proposals (id) on delete cascade,
  step_id uuid not null,
  is_new boolean not null,
  removed boolean not null default false,
  rewired boolean not null default false,
  name text not null,
  depends_on uuid[] not null default '{}',
  entry jsonb,
  step jsonb,
  position integer not null,
  primary key (proposal_id, step_id),
  constraint entry_only_when_new check (is_new = (entry is not null and step is not null)),
  constraint new_steps_are_not_removed check (not (is_new and removed))
);
comment on table baton_private.plan_proposal_steps is
  $$The steps of a plan proposal: the live plan when it began (is_new false) as the planner changed it (removed, rewired), and the steps it added (is_new, with the batch entry and the row returned to the planner).$$;
comment on column baton_private.plan_proposal_steps.step_id is $$The live step's id, or for a new step the id the proposal gave it (what add-step printed to the planner).$$;
comment on column baton_private.plan_proposal_steps.depends_on is $$Its dependencies in the proposed plan (ids of steps of the proposal).$$;
comment on column baton_private.plan_proposal_steps.entry is $$A new step's batch_add_steps entry without key and dependsOn.$$;
comment on column baton_private.plan_proposal_steps.step is $$A new step's row as the dry run of batch_add_steps made it (returned to the planner).$$;
comment on column baton_private.plan_proposal_steps.position is $$Order in the proposal: live steps first (by order_index), then new steps as they were added.$$;

-- ---------------------------------------------------------------------------------------------
-- The proposal state machine.
-- ---------------------------------------------------------------------------------------------

create function baton_private.plan_proposal_statuses() returns text[]
language sql immutable
as $$ select array['drafting', 'proposed', 'approved', 'rejected', 'superseded'] $$;
comment on function baton_private.plan_proposal_statuses() is $$Every plan proposal status, in the order messages list them.$$;

create function baton_private.plan_proposal_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
as $$
  select case from_status
    when 'drafting' then to_status in ('proposed', 'superseded')
    when 'proposed' then to_status in ('approved', 'rejected', 'superseded')
    else false end;
$$;
comment on function baton_private.plan_proposal_transition_allowed(text, text) is
  $$Whether a plan proposal may move from one status to another: drafting -> proposed | superseded; proposed -> approved | rejected | superseded. The others are final.$$;

/* Guards every proposal update (the API or a DBA's direct UPDATE): legal moves only, a reason with a rejection, timestamps. */
create function baton_private.tg_plan_proposals__guard() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if (new.id, new.owner_id, new.directive_id, new.task_id, new.goal_revision, new.base_planned_revision, new.created_at)
     is distinct from (old.id, old.owner_id, old.directive_id, old.task_id, old.goal_revision, old.base_planned_revision, old.created_at) then
    raise exception 'Plan proposal % cannot be edited; only its status (and a rejection''s reason) change.', old.id
      using errcode = 'BTINV';
  end if;
  if new.status is distinct from old.status then
    if not baton_private.plan_proposal_transition_allowed(old.status::text, new.status::text) then
      raise exception 'Plan proposal % is %, so it cannot become %; %.', old.id, old.status, new.status,
        case when old.status in ('drafting', 'proposed')
             then 'from ' || old.status || ' it can become ' || baton_private.or_list(array(select x from unnest(baton_private.plan_proposal_statuses()) x
                    where baton_private.plan_proposal_transition_allowed(old.status::text, x)))
             else 'approved, rejected and superseded are final' end
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
              hint = 'Approve or reject a proposed plan with `baton directive plan approve` or `baton directive plan reject --reason "..."`.';
    end if;
    if new.status = 'rejected' and (new.reason is null or length(btrim(new.reason)) = 0) then
      raise exception 'Give a reason for rejecting the plan of directive %: the planner reads it when it plans again.', old.directive_id
        using errcode = 'BTINV', hint = 'baton directive plan reject --reason "..."';
    end if;
    if new.status = 'proposed' then new.proposed_at := now(); end if;
    if new.status in ('approved', 'rejected') then new.decided_at := now(); end if;
  elsif new.reason is distinct from old.reason then
    raise exception 'Plan proposal % is %, so its reason cannot change; a reason comes with rejecting it.', old.id, old.status
      using errcode = 'BTSTS';
  end if;
  new.updated_at := now();
  return new;
end;
$$;
comment on function baton_private.tg_plan_proposals__guard() is
  $$Refuses plan proposal moves that plan_proposal_transition_allowed does not list (BTSTS) and edits of anything but status and reason; requires a reason to reject (BTINV); stamps proposed_at, decided_at and updated_at.$$;
create trigger _200_guard before update on baton.plan_proposals
  for each row execute function baton_private.tg_plan_proposals__guard();

/* Proposals are made by a planner's first write (open_proposal), never inserted by hand. */
create function baton_private.tg_plan_proposals__check_insert() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.status <> 'drafting' or new.reason is not null or new.decided_at is not null then
    raise exception 'A new plan proposal is drafting, without a reason or decision; its planner''s writes fill it.'
      using errcode = 'BTINV';
  end if;
  return new;
end;
$$;
comment on function baton_private.tg_plan_proposals__check_insert() is $$Refuses a new plan proposal that is not drafting (BTINV).$$;
create trigger _200_check_insert before insert on baton.plan_proposals
  for each row execute function baton_private.tg_plan_proposals__check_insert();

-- ---------------------------------------------------------------------------------------------
-- Writing to a proposal: the planner's calls.
-- ---------------------------------------------------------------------------------------------

/*
 * The open proposal the caller's writes go to, created on the first write; null when they go to the
 * live plan: the caller is not a planning task's agent of this directive, the directive does not
 * review plans, or this is the dry run of a proposed write (baton.plan_dry_run). The directive is
 * locked by the caller. A new proposal supersedes any other open one of the directive and copies the
 * live plan.
 */
create function baton_private.open_proposal(directive_id uuid) returns baton.plan_proposals
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_task baton.tasks;
  v_directive baton.directives;
  v_proposal baton.plan_proposals;
begin
  if baton_private.current_api_role() <> 'baton_agent' or coalesce(current_setting('baton.plan_dry_run', true), '') = 'on' then
    return null;
  end if;
  select * into v_task from baton.tasks t
   where t.id = baton_private.setting_uuid('baton.task_id') and t.kind = 'planning' and t.directive_id = open_proposal.directive_id;
  if not found then
    return null;
  end if;
  select * into v_directive from baton.directives d where d.id = open_proposal.directive_id;
  select * into v_proposal from baton.plan_proposals p where p.task_id = v_task.id for update;
  if found then
    return v_proposal;
  end if;
  if not v_directive.review_plans then
    return null;
  end if;
  update baton.plan_proposals p set status = 'superseded'
   where p.directive_id = v_directive.id and p.status in ('drafting', 'proposed');
  insert into baton.plan_proposals (owner_id, directive_id, task_id, goal_revision, base_planned_revision)
  values (v_directive.owner_id, v_directive.id, v_task.id, v_task.goal_revision, v_directive.planned_revision)
  returning * into v_proposal;
  insert into baton_private.plan_proposal_steps (proposal_id, step_id, is_new, name, depends_on, position)
  select v_proposal.id, s.id, false, s.name,
         coalesce((select array_agg(d.depends_on_step_id order by d.depends_on_step_id) from baton.step_dependencies d where d.step_id = s.id), '{}'),
         row_number() over (order by s.order_index, s.created_at, s.id)
    from baton.directive_steps s where s.directive_id = v_directive.id;
  return v_proposal;
end;
$$;
comment on function baton_private.open_proposal(uuid) is
  $$For a planning agent of a directive with review_plans: its proposal (created from the live plan on the first write, superseding any other open one); null for every other caller, whose writes go live.$$;

/*
 * For wrappers of batch_add_steps in later migrations: locks the directive (checking the caller, as
 * lock_directive) and says whether the caller's steps go to a plan proposal; the wrapper then hands the
 * whole batch to the function it wraps, whose proposal branch stores it.
 */
create function baton_private.writes_to_proposal(directive_id uuid) returns boolean
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.lock_directive(directive_id);
  return (baton_private.open_proposal(directive_id)).id is not null;
end;
$$;
comment on function baton_private.writes_to_proposal(uuid) is
  $$Locks the directive and says whether the caller (a planning agent of a directive with review_plans) writes steps to a plan proposal rather than the live plan. For wrappers of batch_add_steps.$$;

/* A proposal step as the row the step functions return (a new step's stored row, or the live step). */
create function baton_private.proposal_step_row(proposal_id uuid, step_id uuid) returns baton.directive_steps
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(
    (select jsonb_populate_record(null::baton.directive_steps, ps.step || jsonb_build_object('remaining_deps', 0))
       from baton_private.plan_proposal_steps ps
      where ps.proposal_id = proposal_step_row.proposal_id and ps.step_id = proposal_step_row.step_id and ps.is_new),
    (select s from baton.directive_steps s where s.id = proposal_step_row.step_id));
$$;
comment on function baton_private.proposal_step_row(uuid, uuid) is $$The row a step function returns for a step of a proposal: a new step's stored row, or the live step.$$;

/* Raised (and caught) to roll a dry run back; never reaches a client. */
create function baton_private.plan_dry_run_code() returns text
language sql immutable
as $$ select 'BTRBK' $$;
comment on function baton_private.plan_dry_run_code() is $$The SQLSTATE a dry run raises to roll itself back (caught at once; never seen by a client).$$;

/*
 * batch_add_steps for a proposal. References to steps the proposal added are checked here and left
 * out of the dry run (they do not exist live); everything else is checked by the dry run. Returns
 * the new steps as the live function would, with the ids the proposal gave them.
 */
create function baton_private.propose_steps(proposal baton.plan_proposals, steps jsonb) returns setof baton.directive_steps
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_bad record;
  v_dry jsonb := steps;
  v_rows jsonb;
  v_ids uuid[];
  v_base integer;
begin
  if jsonb_typeof(steps) = 'array' then
    -- GUARD: a dependency on a step the proposal removed.
    select e.ord, e.v ->> 'name' as name, r.ref into v_bad
      from jsonb_array_elements(steps) with ordinality e(v, ord)
      cross join lateral jsonb_array_elements_text(case when jsonb_typeof(e.v -> 'dependsOn') = 'array' then e.v -> 'dependsOn' else '[]' end) r(ref)
      join baton_private.plan_proposal_steps ps on ps.proposal_id = proposal.id and ps.step_id = baton_private.try_uuid(r.ref) and ps.removed
     where jsonb_typeof(e.v) = 'object'
       and not exists (select 1 from jsonb_array_elements(steps) k where k ->> 'key' = r.ref)
     order by e.ord limit 1;
    if found then
      raise exception 'Entry % ("%") depends on step %, which this proposed plan removes.', v_bad.ord, v_bad.name, v_bad.ref
        using errcode = 'BTNFD', hint = 'Depend on a step the plan keeps, or on a key of this batch.';
    end if;
    -- The dry run's batch: references to proposed new steps left out (they are not live steps).
    select jsonb_agg(case when jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> 'dependsOn') = 'array'
                          then jsonb_set(e.v, '{dependsOn}', coalesce((
                                 select jsonb_agg(r.ref order by r.n) from jsonb_array_elements(e.v -> 'dependsOn') with ordinality r(ref, n)
                                  where not exists (select 1 from baton_private.plan_proposal_steps ps
                                                     where ps.proposal_id = proposal.id and ps.is_new
                                                       and ps.step_id = baton_private.try_uuid(r.ref #>> '{}')
                                                       and jsonb_typeof(r.ref) = 'string'
                                                       and not exists (select 1 from jsonb_array_elements(steps) k where k ->> 'key' = r.ref #>> '{}'))),
                                 '[]'::jsonb))
                          else e.v end order by e.ord)
      into v_dry
      from jsonb_array_elements(steps) with ordinality e(v, ord);
    v_dry := coalesce(v_dry, '[]'::jsonb);
  end if;

  -- PHASE 1: the dry run. Its errors are the live function's; its rows are what the planner gets back.
  begin
    perform set_config('baton.plan_dry_run', 'on', true);
    select jsonb_agg(to_jsonb(s)) into v_rows from baton.batch_add_steps(proposal.directive_id, v_dry) s;
    raise exception 'dry run' using errcode = 'BTRBK';
  exception when sqlstate 'BTRBK' then
    null;  -- rolled back: nothing of the dry run stays (steps, events, jobs, the setting)
  end;

  -- PHASE 2: the proposal's rows, with ids of their own.
  select array_agg(gen_random_uuid()) into v_ids from jsonb_array_elements(steps);
  select coalesce(max(ps.position), 0) into v_base from baton_private.plan_proposal_steps ps where ps.proposal_id = proposal.id;
  insert into baton_private.plan_proposal_steps (proposal_id, step_id, is_new, name, depends_on, entry, step, position)
  select proposal.id, v_ids[e.ord], true, btrim(e.v ->> 'name'),
         coalesce(array(select distinct coalesce(v_ids[k.ord], baton_private.try_uuid(r.ref))
                          from jsonb_array_elements_text(case when jsonb_typeof(e.v -> 'dependsOn') = 'array' then e.v -> 'dependsOn' else '[]' end) r(ref)
                          left join lateral (select k.ord from jsonb_array_elements(steps) with ordinality k(v, ord) where k.v ->> 'key' = r.ref) k on true), '{}'),
         e.v - array['key', 'dependsOn'],
         (v_rows -> (e.ord::integer - 1)) || jsonb_build_object('id', v_ids[e.ord], 'status', 'pending'),
         v_base + e.ord::integer
    from jsonb_array_elements(steps) with ordinality e(v, ord);
  update baton.plan_proposals p set updated_at = now() where p.id = proposal.id;

  return query select r.* from unnest(v_ids) with ordinality i(id, ord)
    cross join lateral baton_private.proposal_step_row(proposal.id, i.id) r order by i.ord;
end;
$$;
comment on function baton_private.propose_steps(baton.plan_proposals, jsonb) is
  $$batch_add_steps into a plan proposal: checked by a rolled-back run of the live function (plus references to proposed and removed steps), stored as new proposal steps; returns them as the live function would, with their proposal ids.$$;

/* The proposal step a planner's remove or re-wire names, or BTNFD. */
create function baton_private.proposal_step(proposal baton.plan_proposals, step_id uuid) returns baton_private.plan_proposal_steps
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton_private.plan_proposal_steps;
begin
  select * into v_step from baton_private.plan_proposal_steps ps
   where ps.proposal_id = proposal.id and ps.step_id = proposal_step.step_id and not ps.removed;
  if not found then
    raise exception 'Step % is not in the proposed plan of directive %.', step_id, proposal.directive_id
      using errcode = 'BTNFD', hint = 'This directive reviews plans: name a step of the plan or one you added in this planning run.';
  end if;
  return v_step;
end;
$$;
comment on function baton_private.proposal_step(baton.plan_proposals, uuid) is $$The step of a proposal that is not removed, or BTNFD naming it.$$;

/* remove_step for a proposal: the live rules (completed and running steps stay; dependents need force), on the proposed plan. */
create function baton_private.propose_remove_step(proposal baton.plan_proposals, step_id uuid, force boolean) returns baton.directive_steps
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton_private.plan_proposal_steps := baton_private.proposal_step(proposal, step_id);
  v_live baton.directive_steps;
  v_row baton.directive_steps := baton_private.proposal_step_row(proposal.id, step_id);
  v_dependents text;
begin
  if not v_step.is_new then
    select * into v_live from baton.directive_steps s where s.id = v_step.step_id;
    if found then
      perform baton_private.assert_step_removable(v_live);
    end if;
  end if;
  select string_agg(ps.step_id || ' ("' || ps.name || '")', ', ' order by ps.position) into v_dependents
    from baton_private.plan_proposal_steps ps
   where ps.proposal_id = proposal.id and not ps.removed and v_step.step_id = any (ps.depends_on);
  if v_dependents is not null and not force then
    raise exception 'Step % ("%") cannot be removed: % depend on it.', v_step.step_id, v_step.name, v_dependents
      using errcode = 'BTDEP',
            hint = 'Remove or re-wire those steps first (set-deps), or pass force => true (--force) to re-wire them onto this step''s own dependencies.';
  end if;
  -- With force, each dependent inherits this step's dependencies in place of it.
  update baton_private.plan_proposal_steps ps
     set depends_on = array(select distinct x from unnest(array_remove(ps.depends_on, v_step.step_id) || v_step.depends_on) x order by x),
         rewired = true
   where ps.proposal_id = proposal.id and not ps.removed and v_step.step_id = any (ps.depends_on);
  if v_step.is_new then
    delete from baton_private.plan_proposal_steps ps where ps.proposal_id = proposal.id and ps.step_id = v_step.step_id;
  else
    update baton_private.plan_proposal_steps ps set removed = true where ps.proposal_id = proposal.id and ps.step_id = v_step.step_id;
  end if;
  update baton.plan_proposals p set updated_at = now() where p.id = proposal.id;
  return v_row;
end;
$$;
comment on function baton_private.propose_remove_step(baton.plan_proposals, uuid, boolean) is
  $$remove_step on a plan proposal: refuses completed and running live steps (BTSTS) and steps others depend on without force (BTDEP); with force re-wires the dependents onto its dependencies.$$;

/* set_step_dependencies for a proposal: a waiting step, dependencies in the proposed plan, no cycle. */
create function baton_private.propose_step_dependencies(proposal baton.plan_proposals, step_id uuid, depends_on uuid[]) returns baton.directive_steps
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_step baton_private.plan_proposal_steps := baton_private.proposal_step(proposal, step_id);
  v_live baton.directive_steps;
  v_deps uuid[] := coalesce((select array_agg(distinct d order by d) from unnest(depends_on) d), '{}');
  v_bad uuid;
  v_cycle text;
begin
  if not v_step.is_new then
    select * into v_live from baton.directive_steps s where s.id = v_step.step_id;
    if found and (not baton_private.step_is_waiting(v_live.status)
                  or exists (select 1 from baton.tasks t where t.step_id = v_live.id and baton_private.task_is_live(t.status))) then
      raise exception 'Step % is %, so its dependencies cannot be changed; only pending, ready or blocked steps without a task can.',
        v_live.id, v_live.status using errcode = 'BTSTS';
    end if;
  end if;
  if array_position(depends_on, null) is not null then
    raise exception 'The dependencies of step % contain a null at position %; give the ids of steps of its directive (an empty list for none).',
      v_step.step_id, array_position(depends_on, null) using errcode = 'BTINV';
  end if;
  select d into v_bad from unnest(v_deps) d
   where not exists (select 1 from baton_private.plan_proposal_steps ps where ps.proposal_id = proposal.id and ps.step_id = d and not ps.removed)
   order by d limit 1;
  if found then
    raise exception 'Step % is not in the proposed plan of directive %, so step % cannot depend on it.', v_bad, proposal.directive_id, v_step.step_id
      using errcode = 'BTNFD', hint = 'Depend on steps the plan keeps or that you added in this planning run.';
  end if;
  -- GUARD: no cycle: walk up from the new dependencies through the proposed plan.
  with recursive up (id, path) as (
    select d, array[d] from unnest(v_deps) d
    union all
    select x, up.path || x from up
      join baton_private.plan_proposal_steps ps on ps.proposal_id = proposal.id and ps.step_id = up.id
      cross join lateral unnest(ps.depends_on) x
     where up.id <> v_step.step_id and not x = any (up.path)
  )
  select string_agg(coalesce(ps.name, p.id::text) || ' (' || left(p.id::text, 8) || ')', ' → ' order by p.n) into v_cycle
    from (select path from up where id = v_step.step_id limit 1) c
    cross join lateral unnest(array[v_step.step_id] || c.path) with ordinality p(id, n)
    left join baton_private.plan_proposal_steps ps on ps.proposal_id = proposal.id and ps.step_id = p.id;
  if v_cycle is not null then
    raise exception 'That dependency would create a cycle: % (each depends on the next).', v_cycle
      using errcode = 'BTCYC', hint = 'Remove one of these dependencies so the steps form a DAG.';
  end if;
  update baton_private.plan_proposal_steps ps set depends_on = v_deps, rewired = true
   where ps.proposal_id = proposal.id and ps.step_id = v_step.step_id;
  update baton.plan_proposals p set updated_at = now() where p.id = proposal.id;
  return baton_private.proposal_step_row(proposal.id, v_step.step_id);
end;
$$;
comment on function baton_private.propose_step_dependencies(baton.plan_proposals, uuid, uuid[]) is
  $$set_step_dependencies on a plan proposal: the step must be waiting (BTSTS), its dependencies in the proposed plan (BTNFD), without a cycle (BTCYC, printing it).$$;

/* The proposal a planner's remove or re-wire of step_id goes to (its task's directive, locked), or null. */
create function baton_private.open_proposal_for_step(step_id uuid) returns baton.plan_proposals
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive_id uuid;
begin
  if baton_private.current_api_role() <> 'baton_agent' or coalesce(current_setting('baton.plan_dry_run', true), '') = 'on' then
    return null;
  end if;
  select t.directive_id into v_directive_id from baton.tasks t
   where t.id = baton_private.setting_uuid('baton.task_id') and t.kind = 'planning';
  if v_directive_id is null then
    return null;
  end if;
  perform baton_private.lock_directive(v_directive_id);
  return baton_private.open_proposal(v_directive_id);
end;
$$;
comment on function baton_private.open_proposal_for_step(uuid) is
  $$For remove_step and set_step_dependencies: the open proposal of a planning agent of a directive with review_plans (its directive locked first), else null.$$;

/* As in 000019, plus the proposal branch at the top. */
create or replace function baton.batch_add_steps(directive_id uuid, steps jsonb) returns setof baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
  v_proposal baton.plan_proposals;
  v_bad record;
  v_ids uuid[];
begin
  -- PLAN REVIEW: a planning agent of a directive with review_plans writes to its proposal (000024).
  v_proposal := baton_private.open_proposal(v_directive.id);
  if v_proposal.id is not null then
    return query select * from baton_private.propose_steps(v_proposal, steps);
    return;
  end if;

  if steps is not null and jsonb_typeof(steps) = 'array' then
    -- GUARD: field names (the body's own list knows neither "check" nor the limits).
    select e.ord, k.k into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord), jsonb_object_keys(e.v) k(k)
     where jsonb_typeof(e.v) = 'object' and k.k not in ('key', 'name', 'description', 'taskPlan', 'dependsOn', 'orderIndex', 'check', 'timeout', 'stall')
     order by e.ord limit 1;
    if found then
      raise exception 'Entry % has an unknown field "%"; the fields are key, name, description, taskPlan, dependsOn, orderIndex, check, timeout and stall.', v_bad.ord, v_bad.k
        using errcode = 'BTINV';
    end if;
    -- GUARD: each check is a string (or null), not blank, at most 4096 bytes.
    select e.ord, e.v -> 'check' as c into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord)
     where jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> 'check') not in ('string', 'null')
     order by e.ord limit 1;
    if found then
      raise exception 'Entry % has an invalid "check": it must be a string, a shell command such as "npm test".', v_bad.ord
        using errcode = 'BTINV';
    end if;
    for v_bad in
      select e.ord, e.v ->> 'check' as c from jsonb_array_elements(steps) with ordinality e(v, ord)
       where jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> 'check') = 'string'
         and (length(btrim(e.v ->> 'check')) = 0 or octet_length(e.v ->> 'check') > 4096)
       order by e.ord limit 1
    loop
      perform baton_private.assert_check(v_bad.c, format('The check of entry %s', v_bad.ord));
    end loop;
    -- GUARD: each limit is a duration or a number of seconds, 1 second to 30 days (or null).
    select e.ord, f.field into v_bad from jsonb_array_elements(steps) with ordinality e(v, ord),
      lateral (values (1, 'timeout'), (2, 'stall')) f(n, field)
     where jsonb_typeof(e.v) = 'object' and jsonb_typeof(e.v -> f.field) <> 'null'
       and baton_private.json_limit_seconds(e.v -> f.field) is null
     order by e.ord, f.n limit 1;
    if found then
      raise exception 'Entry % has an invalid "%": it must be a duration such as "90s", "30m", "2h" or "1h30m" (or a number of seconds), from 1 second to 30 days.', v_bad.ord, v_bad.field
        using errcode = 'BTINV';
    end if;
  end if;

  select array_agg(s.id order by s.ordinality) into v_ids
    from baton_private.batch_add_steps(v_directive.id,
           case when jsonb_typeof(steps) = 'array'
                -- An empty array stays one (jsonb_agg of no rows is null), so the body says the batch is empty.
                then coalesce((select jsonb_agg(case when jsonb_typeof(e.v) = 'object' then e.v - array['check', 'timeout', 'stall'] else e.v end order by e.ord)
                                 from jsonb_array_elements(steps) with ordinality e(v, ord)), '[]'::jsonb)
                else steps end) with ordinality s;

  -- The check and the limits of the entries that have any, in one statement.
  update baton.directive_steps s
     set check_command = e.v ->> 'check',
         timeout_seconds = baton_private.json_limit_seconds(e.v -> 'timeout'),
         stall_seconds = baton_private.json_limit_seconds(e.v -> 'stall')
    from jsonb_array_elements(steps) with ordinality e(v, ord)
   where s.id = v_ids[e.ord]
     and (jsonb_typeof(e.v -> 'check') = 'string' or jsonb_typeof(e.v -> 'timeout') in ('string', 'number')
          or jsonb_typeof(e.v -> 'stall') in ('string', 'number'));

  return query select s.* from unnest(v_ids) with ordinality i(id, ord) join baton.directive_steps s on s.id = i.id order by i.ord;
end;
$$;
comment on function baton.batch_add_steps(uuid, jsonb) is
  $$Adds steps atomically from a JSON array of {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?, "timeout"?, "stall"?}. A dependsOn entry is a step id of this directive or the key of another entry of the batch (earlier or later). "check" is a shell command run after the step's agent exits 0; the step completes only if it passes (it replaces the directive's check for this step). "timeout" (wall clock) and "stall" (no output) limit each attempt of the step, overriding the directive's: a duration such as "30m" or "1h30m", or a number of seconds, 1 second to 30 days. Cycles, unknown ids and bad fields reject the whole batch. Returns the new steps in input order. For the planner of a directive with review_plans, the steps go to its plan proposal instead (same checks; the returned ids are the proposal's).$$;

/* As in 000008 (its comment as in 000022), plus the proposal branch at the top. */
create or replace function baton.remove_step(step_id uuid, force boolean default false) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_proposal baton.plan_proposals := baton_private.open_proposal_for_step(remove_step.step_id);
begin
  if v_proposal.id is not null then
    return baton_private.propose_remove_step(v_proposal, remove_step.step_id, remove_step.force);
  end if;
  perform baton_private.assert_agent_may_change_step(remove_step.step_id, 'remove', remove_step.force);
  return baton_private.remove_step(remove_step.step_id, remove_step.force);
end;
$$;
comment on function baton.remove_step(uuid, boolean) is
  $$Removes a step. Refused (BTSTS) for a completed or running step, for every caller; refused while other steps depend on it, unless force => true re-wires them onto its own dependencies. An execution agent only removes steps its task added. For the planner of a directive with review_plans, the step is removed from its plan proposal instead.$$;

/* As in 000008, plus the proposal branch at the top. */
create or replace function baton.set_step_dependencies(step_id uuid, depends_on uuid[]) returns baton.directive_steps
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_proposal baton.plan_proposals := baton_private.open_proposal_for_step(set_step_dependencies.step_id);
begin
  if v_proposal.id is not null then
    return baton_private.propose_step_dependencies(v_proposal, set_step_dependencies.step_id, set_step_dependencies.depends_on);
  end if;
  perform baton_private.assert_agent_may_change_step(set_step_dependencies.step_id, 'rewire');
  return baton_private.set_step_dependencies(set_step_dependencies.step_id, set_step_dependencies.depends_on);
end;
$$;
comment on function baton.set_step_dependencies(uuid, uuid[]) is
  $$Replaces the dependencies of a pending, ready or blocked step. Rejects nulls, unknown steps (another owner's steps are unknown), steps of your other directives and cycles (the message prints the cycle). An execution agent only re-wires steps its task added. For the planner of a directive with review_plans, the step is re-wired in its plan proposal instead.$$;

-- ---------------------------------------------------------------------------------------------
-- What the transitions cause.
-- ---------------------------------------------------------------------------------------------

/*
 * Applies an approved proposal to the live plan, in the approving transaction: new steps in one
 * batch_add_steps (keys are the proposal ids, so dependencies among them resolve), the re-wirings,
 * then the removals. Refused as a whole (BTSTS) when the live plan changed so that it no longer fits.
 */
create function baton_private.apply_plan_proposal(proposal baton.plan_proposals) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_bad record;
  v_batch jsonb;
  v_new uuid[];
  v_added uuid[];
  v_map jsonb;
  v_step record;
  v_hint text := 'Reject it to plan again: baton directive plan reject --reason "..."';
begin
  select * into v_directive from baton.directives d where d.id = proposal.directive_id;
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its proposed plan cannot be applied.', v_directive.id
      using errcode = 'BTSTS', hint = 'Create a new directive instead.';
  end if;
  -- GUARD: every step the proposal keeps is still there.
  select ps.step_id, ps.name into v_bad from baton_private.plan_proposal_steps ps
   where ps.proposal_id = proposal.id and not ps.is_new and not ps.removed
     and not exists (select 1 from baton.directive_steps s where s.id = ps.step_id)
   order by ps.position limit 1;
  if found then
    raise exception 'The proposed plan of directive % no longer fits: step % ("%") was removed after it was proposed.', v_directive.id, v_bad.step_id, v_bad.name
      using errcode = 'BTSTS', hint = v_hint;
  end if;
  -- GUARD: every step it removes may still be removed.
  select s.id, s.name, s.status into v_bad from baton_private.plan_proposal_steps ps join baton.directive_steps s on s.id = ps.step_id
   where ps.proposal_id = proposal.id and ps.removed and s.status in ('completed', 'running')
   order by ps.position limit 1;
  if found then
    raise exception 'The proposed plan of directive % no longer fits: it removes step % ("%"), which is now %; completed and running steps stay.',
      v_directive.id, v_bad.id, v_bad.name, v_bad.status using errcode = 'BTSTS', hint = v_hint;
  end if;
  -- GUARD: every step it re-wires may still be re-wired.
  select s.id, s.name, s.status into v_bad from baton_private.plan_proposal_steps ps join baton.directive_steps s on s.id = ps.step_id
   where ps.proposal_id = proposal.id and ps.rewired and not ps.removed and not ps.is_new
     and ps.depends_on is distinct from coalesce((select array_agg(d.depends_on_step_id order by d.depends_on_step_id)
                                                    from baton.step_dependencies d where d.step_id = s.id), '{}')
     and (not baton_private.step_is_waiting(s.status)
          or exists (select 1 from baton.tasks t where t.step_id = s.id and baton_private.task_is_live(t.status)))
   order by ps.position limit 1;
  if found then
    raise exception 'The proposed plan of directive % no longer fits: it re-wires step % ("%"), which is now %; only waiting steps can be re-wired.',
      v_directive.id, v_bad.id, v_bad.name, v_bad.status using errcode = 'BTSTS', hint = v_hint;
  end if;

  -- PHASE 1: the new steps, in one batch (a proposal id is its entry's key).
  select jsonb_agg(ps.entry || jsonb_build_object('key', ps.step_id::text, 'dependsOn', to_jsonb(ps.depends_on::text[])) order by ps.position),
         array_agg(ps.step_id order by ps.position)
    into v_batch, v_new
    from baton_private.plan_proposal_steps ps where ps.proposal_id = proposal.id and ps.is_new;
  if v_batch is not null then
    select array_agg(s.id order by s.ordinality) into v_added from baton.batch_add_steps(v_directive.id, v_batch) with ordinality s;
    -- The planner added them, as if it had written them live.
    update baton.directive_steps s set added_by_task_id = proposal.task_id where s.id = any (v_added);
  end if;
  v_map := coalesce((select jsonb_object_agg(x.nid, x.aid) from unnest(v_new, v_added) x(nid, aid)), '{}');

  -- PHASE 2: the re-wirings, onto the live ids.
  for v_step in
    select ps.step_id, array(select coalesce((v_map ->> d::text)::uuid, d) from unnest(ps.depends_on) d order by 1) as deps
      from baton_private.plan_proposal_steps ps
     where ps.proposal_id = proposal.id and ps.rewired and not ps.removed and not ps.is_new
     order by ps.position
  loop
    if v_step.deps is distinct from coalesce((select array_agg(d.depends_on_step_id order by d.depends_on_step_id)
                                               from baton.step_dependencies d where d.step_id = v_step.step_id), '{}') then
      perform baton_private.set_step_dependencies(v_step.step_id, v_step.deps);
    end if;
  end loop;

  -- PHASE 3: the removals (force: dependents outside the proposal inherit the removed step's dependencies).
  for v_step in
    select ps.step_id from baton_private.plan_proposal_steps ps
     where ps.proposal_id = proposal.id and ps.removed and exists (select 1 from baton.directive_steps s where s.id = ps.step_id)
     order by ps.position desc
  loop
    perform baton_private.remove_step(v_step.step_id, force => true);
  end loop;
end;
$$;
comment on function baton_private.apply_plan_proposal(baton.plan_proposals) is
  $$Applies an approved plan proposal to the live plan (new steps, re-wirings, removals), or raises BTSTS naming the step when the live plan changed so that it no longer fits.$$;

/* What a proposal's move causes: applying it (approved), planning again (rejected), and an event on the directive's feed. */
create function baton_private.tg_plan_proposals__on_status() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.status = 'approved' then
    perform baton_private.apply_plan_proposal(new);
  elsif new.status = 'rejected' then
    -- The planner's revision is no longer planned: the directive needs planning again, and the next
    -- plan gets the rejected one's generation (nothing of it was added).
    update baton.directives d
       set planned_revision = new.base_planned_revision,
           current_generation = least(d.current_generation, (select t.generation - 1 from baton.tasks t where t.id = new.task_id))
     where d.id = new.directive_id and d.planned_revision = new.goal_revision and d.orchestrator_task_id is null;
    perform baton_private.reactivate(new.directive_id);
    perform baton_private.maybe_enqueue_planning(new.directive_id);
  end if;
  perform baton_private.record_event(new.owner_id, new.directive_id, 'directive', new.directive_id, 'plan_' || new.status::text,
    null, null, jsonb_strip_nulls(jsonb_build_object('proposal_id', new.id, 'task_id', new.task_id, 'reason', new.reason)));
  return null;
end;
$$;
comment on function baton_private.tg_plan_proposals__on_status() is
  $$After a plan proposal moves: applies it (approved), makes its directive need planning again (rejected), and records a plan_<status> event. SECURITY DEFINER: it changes the live plan whoever moved it.$$;
create trigger _800_on_status after update of status on baton.plan_proposals
  for each row when (old.status is distinct from new.status)
  execute function baton_private.tg_plan_proposals__on_status();

/* The planning task's end decides its drafting proposal: completed -> proposed, any other end -> superseded. */
create function baton_private.tg_tasks__settle_plan_proposal() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update baton.plan_proposals p
     set status = case when new.status = 'completed' then 'proposed' else 'superseded' end::baton.plan_proposal_status
   where p.task_id = new.id and p.status = 'drafting';
  return null;
end;
$$;
comment on function baton_private.tg_tasks__settle_plan_proposal() is
  $$After a planning task ends: its drafting proposal waits for review (completed) or is superseded (failed, interrupted, cancelled). SECURITY DEFINER: proposals are not the task writer's to update.$$;
create trigger _600_settle_plan_proposal after update of status on baton.tasks
  for each row when (new.kind = 'planning' and old.status is distinct from new.status
                     and new.status::text in ('completed', 'failed', 'interrupted', 'cancelled'))
  execute function baton_private.tg_tasks__settle_plan_proposal();

/* A new planner supersedes the open proposals of its directive (a goal update re-plans). */
create function baton_private.tg_tasks__supersede_plan_proposals() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update baton.plan_proposals p set status = 'superseded'
   where p.directive_id = new.directive_id and p.status in ('drafting', 'proposed') and p.task_id <> new.id;
  return null;
end;
$$;
comment on function baton_private.tg_tasks__supersede_plan_proposals() is
  $$After a planning task is created: the open proposals of its directive are superseded. SECURITY DEFINER: proposals are not the task writer's to update.$$;
create trigger _600_supersede_plan_proposals after insert on baton.tasks
  for each row when (new.kind = 'planning')
  execute function baton_private.tg_tasks__supersede_plan_proposals();

-- ---------------------------------------------------------------------------------------------
-- The owner's functions.
-- ---------------------------------------------------------------------------------------------

/* The owner (or a DBA) only: agents and daemons are refused before anything is locked. */
create function baton_private.assert_plan_reviewer(verb text) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if baton_private.current_api_role() not in ('baton_user', 'admin') then
    raise exception 'Only the directive''s owner can % its plan.', verb using errcode = 'BTDNY';
  end if;
end;
$$;
comment on function baton_private.assert_plan_reviewer(text) is $$Raises BTDNY unless the caller is an owner or a DBA (agents and daemons never review plans).$$;

/* The open proposal of a locked directive, for approve and reject: none, or one still drafting, is refused. */
create function baton_private.lock_open_proposal(d baton.directives, verb text) returns baton.plan_proposals
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_proposal baton.plan_proposals;
begin
  select * into v_proposal from baton.plan_proposals p
   where p.directive_id = d.id and p.status in ('drafting', 'proposed') for update;
  if not found then
    raise exception 'Directive % has no plan waiting for review, so there is nothing to %.', d.id, verb
      using errcode = 'BTNFD',
            hint = case when d.review_plans then 'A plan waits for review once its planner has finished; `baton directive status` shows it.'
                        else 'Plans wait for review only on directives with review_plans: baton directive update --review-plans on' end;
  end if;
  if v_proposal.status = 'drafting' then
    raise exception 'The plan of directive % is still being written by its planner (task %), so it cannot be %; wait until the planner finishes.',
      d.id, v_proposal.task_id, case verb when 'approve' then 'approved' else 'rejected' end
      using errcode = 'BTSTS', detail = format('from=drafting to=%s', case verb when 'approve' then 'approved' else 'rejected' end),
            hint = 'baton directive watch shows when it is ready for review.';
  end if;
  return v_proposal;
end;
$$;
comment on function baton_private.lock_open_proposal(baton.directives, text) is
  $$Locks and returns a directive's proposal waiting for review; BTNFD when there is none, BTSTS while its planner still writes it.$$;

create function baton.approve_plan(directive_id uuid) returns baton.plan_proposals
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_proposal baton.plan_proposals;
begin
  perform baton_private.assert_plan_reviewer('approve');
  v_directive := baton_private.lock_directive(directive_id);
  v_proposal := baton_private.lock_open_proposal(v_directive, 'approve');
  update baton.plan_proposals p set status = 'approved' where p.id = v_proposal.id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function baton.approve_plan(uuid) is
  $$Approves the plan waiting for review on a directive: applied to the live plan at once and atomically (new steps added, steps re-wired and removed), after which its steps run as usual. Refused when no plan waits (BTNFD), while the planner still writes it, or when the live plan changed so that it no longer fits (BTSTS). Owner only.$$;
grant execute on function baton.approve_plan(uuid) to baton_user;

create function baton.reject_plan(directive_id uuid, reason text) returns baton.plan_proposals
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_proposal baton.plan_proposals;
begin
  perform baton_private.assert_plan_reviewer('reject');
  if reason is null or length(btrim(reason)) = 0 then
    raise exception 'Give a reason for rejecting the plan: the planner reads it when it plans again.'
      using errcode = 'BTINV', hint = 'baton directive plan reject --reason "..."';
  end if;
  if octet_length(reason) > 16384 then
    raise exception 'The reason is % bytes; the limit is 16384 bytes.', octet_length(reason) using errcode = 'BTINV';
  end if;
  v_directive := baton_private.lock_directive(directive_id);
  v_proposal := baton_private.lock_open_proposal(v_directive, 'reject');
  update baton.plan_proposals p set status = 'rejected', reason = btrim(reject_plan.reason) where p.id = v_proposal.id returning * into v_proposal;
  return v_proposal;
end;
$$;
comment on function baton.reject_plan(uuid, text) is
  $$Rejects the plan waiting for review on a directive, with a reason (required, at most 16 KiB): nothing of it is applied, and the directive is planned again (once active), the reason quoted in the planner's prompt. Owner only.$$;
grant execute on function baton.reject_plan(uuid, text) to baton_user;

create function baton.set_directive_review_plans(directive_id uuid, review_plans boolean) returns baton.directives
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
begin
  if baton_private.current_api_role() not in ('baton_user', 'admin') then
    raise exception 'Only the directive''s owner can change whether its plans are reviewed.' using errcode = 'BTDNY';
  end if;
  v_directive := baton_private.lock_directive(directive_id);
  if review_plans is null then
    raise exception 'Say whether plans of directive % are reviewed: true or false.', v_directive.id using errcode = 'BTINV';
  end if;
  if not review_plans and exists (select 1 from baton.plan_proposals p where p.directive_id = v_directive.id and p.status in ('drafting', 'proposed')) then
    raise exception 'Directive % has a plan waiting for review, so review cannot be turned off now; approve or reject it first.', v_directive.id
      using errcode = 'BTSTS', hint = 'baton directive plan approve, or baton directive plan reject --reason "..."';
  end if;
  update baton.directives d set review_plans = set_directive_review_plans.review_plans, updated_at = now()
   where d.id = v_directive.id returning * into v_directive;
  return v_directive;
end;
$$;
comment on function baton.set_directive_review_plans(uuid, boolean) is
  $$Turns plan review on or off for a directive. On: what its planners write from now on waits as a proposal for approvePlan or rejectPlan. Off is refused while a plan waits for review. Owner only.$$;
grant execute on function baton.set_directive_review_plans(uuid, boolean) to baton_user;

-- ---------------------------------------------------------------------------------------------
-- The diff.
-- ---------------------------------------------------------------------------------------------

create type baton.plan_change as (
  proposal_id uuid,
  step_id uuid,
  name text,
  change text,
  status text,
  depends_on uuid[],
  depends_on_names text[],
  previous_depends_on uuid[],
  position integer
);
comment on type baton.plan_change is $$One step of a plan proposal compared with the live plan.$$;
comment on column baton.plan_change.proposal_id is $$The proposal.$$;
comment on column baton.plan_change.step_id is $$The step: a live step's id, or the id the proposal gave a new one.$$;
comment on column baton.plan_change.name is $$The step's name.$$;
comment on column baton.plan_change.change is $$kept (as it is), added (new in the proposal), removed (the proposal drops it) or rewired (kept with other dependencies).$$;
comment on column baton.plan_change.status is $$The live step's status; null for an added step, or a kept one that no longer exists live (the proposal then cannot be approved).$$;
comment on column baton.plan_change.depends_on is $$Its dependencies once the proposal is applied (for a removed step: its live ones).$$;
comment on column baton.plan_change.depends_on_names is $$The names of depends_on, in the same order.$$;
comment on column baton.plan_change.previous_depends_on is $$Its live dependencies; null for an added step.$$;
comment on column baton.plan_change.position is $$Display order: live steps by order_index, then the added steps as the planner added them.$$;

create function baton.plan_diff(directive_id uuid) returns setof baton.plan_change
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_directive baton.directives;
  v_proposal baton.plan_proposals;
begin
  if baton_private.current_api_role() not in ('baton_user', 'admin') then
    raise exception 'Only the directive''s owner can read its proposed plan.' using errcode = 'BTDNY';
  end if;
  select * into v_directive from baton.directives d where d.id = plan_diff.directive_id;
  if not found or (baton_private.current_api_role() = 'baton_user' and v_directive.owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Directive % does not exist.', directive_id
      using errcode = 'BTNFD', hint = 'List your directives with `baton directive list`.';
  end if;
  select * into v_proposal from baton.plan_proposals p where p.directive_id = v_directive.id and p.status in ('drafting', 'proposed');
  if not found then
    return;
  end if;
  return query
  with live as (
    select s.id, s.name, s.status::text as status, s.order_index, s.created_at,
           coalesce((select array_agg(d.depends_on_step_id order by d.depends_on_step_id) from baton.step_dependencies d where d.step_id = s.id), '{}') as deps
      from baton.directive_steps s where s.directive_id = v_directive.id
  ),
  proposed as (
    select ps.step_id, ps.name, ps.is_new, ps.removed, ps.rewired, ps.depends_on, ps.position from baton_private.plan_proposal_steps ps
     where ps.proposal_id = v_proposal.id
    union all
    -- Live steps added after the proposal began (by the owner): it leaves them as they are.
    select l.id, l.name, false, false, false, l.deps, null from live l
     where not exists (select 1 from baton_private.plan_proposal_steps ps where ps.proposal_id = v_proposal.id and ps.step_id = l.id)
  ),
  changes as (
    select p.step_id, p.name,
           case when p.is_new then 'added' when p.removed then 'removed'
                when p.rewired and l.id is not null and p.depends_on is distinct from l.deps then 'rewired'
                else 'kept' end as change,
           l.status,
           case when p.removed then coalesce(l.deps, p.depends_on) when p.rewired or p.is_new or l.id is null then p.depends_on else l.deps end as deps,
           case when p.is_new then null else l.deps end as previous,
           p.position, l.order_index, l.created_at
      from proposed p left join live l on l.id = p.step_id
  )
  select v_proposal.id, c.step_id, c.name, c.change, c.status, c.deps,
         array(select coalesce((select n.name from proposed n where n.step_id = x), (select l.name from live l where l.id = x), x::text)
                 from unnest(c.deps) with ordinality u(x, i) order by i),
         c.previous,
         (row_number() over (order by c.position nulls last, c.order_index, c.created_at, c.step_id))::integer
    from changes c
   order by 9;
end;
$$;
comment on function baton.plan_diff(uuid) is
  $$The plan waiting for review on a directive (drafting while its planner writes, then proposed), step by step against the live plan: each step kept, added, removed or rewired, with its name and dependencies (ids and names). No rows when no plan waits. Owner only.$$;
grant execute on function baton.plan_diff(uuid) to baton_user;
