/*
 * Steps and their dependencies: the DAG.
 *
 * Readiness is kept by counters, not recomputed: `remaining_deps` is the number of dependencies not
 * yet completed or skipped. Satisfying a step decrements its direct dependents only, so the cost of a
 * completion is proportional to that step's fan-out, never to the size of the directive.
 *
 * A step is `blocked` while one of its dependencies is failed or blocked; it keeps its counter, so
 * retrying or skipping the failed ancestor restores `pending`/`ready` without recounting.
 *
 * `attempts` counts attempts in the current round (a retry_step starts a new round);
 * `total_attempts` never goes down and numbers the tasks, which makes (step, attempt) a unique key for
 * both the task and the job that creates it.
 */
create table baton.directive_steps (
  id uuid primary key default gen_random_uuid(),
  directive_id uuid not null references baton.directives (id) on delete cascade,
  owner_id uuid not null references baton.owners (id) on delete cascade,
  name text not null,
  description text,
  task_plan text,
  status text not null default 'pending',
  generation integer not null default 1,
  order_index integer not null default 0,
  remaining_deps integer not null default 0,
  attempts integer not null default 0,
  total_attempts integer not null default 0,
  max_attempts integer not null default 2,
  current_task_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  ready_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  constraint status_is_valid check (status in ('pending', 'ready', 'running', 'completed', 'failed', 'skipped', 'blocked')),
  constraint name_is_valid check (length(btrim(name)) between 1 and 200),
  constraint description_is_valid check (description is null or octet_length(description) <= 102400),
  constraint task_plan_is_valid check (task_plan is null or octet_length(task_plan) <= 102400),
  constraint generation_is_valid check (generation >= 1),
  constraint remaining_deps_is_not_negative check (remaining_deps >= 0),
  constraint ready_only_without_remaining_deps check (status not in ('ready', 'running', 'completed') or remaining_deps = 0),
  constraint attempts_is_valid check (attempts between 0 and max_attempts and attempts <= total_attempts),
  constraint max_attempts_is_valid check (max_attempts between 1 and 100)
);

create index directive_steps_directive_idx on baton.directive_steps (directive_id, order_index, created_at);
create index directive_steps_owner_idx on baton.directive_steps (owner_id);
-- pgflow's idx_step_states_ready: the reconcile sweep finds ready steps without scanning the rest.
create index directive_steps_ready_idx on baton.directive_steps (directive_id) where status = 'ready';

comment on table baton.directive_steps is $$@behavior -insert -update -delete
One unit of work in a directive's DAG. A step becomes ready when all of its dependencies are completed or skipped, is dispatched as a task to a daemon, and is attempted at most max_attempts times.$$;
comment on column baton.directive_steps.id is $$The step's id.$$;
comment on column baton.directive_steps.directive_id is $$The directive this step belongs to.$$;
comment on column baton.directive_steps.owner_id is $$The owner (copied from the directive for row-level security).$$;
comment on column baton.directive_steps.name is $$A short name, 1 to 200 characters.$$;
comment on column baton.directive_steps.description is $$What the step is for (at most 100 KB).$$;
comment on column baton.directive_steps.task_plan is $$Self-contained instructions for the executing agent, which has no planning context (at most 100 KB).$$;
comment on column baton.directive_steps.status is $$pending (waiting on dependencies), ready, running, completed, failed, skipped, or blocked (a dependency failed).$$;
comment on column baton.directive_steps.generation is $$Which plan added the step: 1 for the first plan, n+1 for each re-plan.$$;
comment on column baton.directive_steps.order_index is $$Display and dispatch order among steps that are ready at the same time (lower first).$$;
comment on column baton.directive_steps.remaining_deps is $$How many dependencies are not yet completed or skipped. The step is ready when this reaches 0.$$;
comment on column baton.directive_steps.attempts is $$Attempts in the current round. A failed or interrupted attempt below max_attempts makes the step ready again; retry_step starts a new round.$$;
comment on column baton.directive_steps.total_attempts is $$Attempts ever made; numbers the step's tasks and never decreases.$$;
comment on column baton.directive_steps.max_attempts is $$How many attempts a round may make (default 2).$$;
comment on column baton.directive_steps.current_task_id is $$The step's latest execution task.$$;
comment on column baton.directive_steps.created_at is $$When the step was added.$$;
comment on column baton.directive_steps.updated_at is $$When this row last changed.$$;
comment on column baton.directive_steps.ready_at is $$When the step last became ready.$$;
comment on column baton.directive_steps.started_at is $$When the step's latest attempt started running.$$;
comment on column baton.directive_steps.finished_at is $$When the step last reached completed, failed or skipped.$$;

create table baton.step_dependencies (
  step_id uuid not null references baton.directive_steps (id) on delete cascade,
  depends_on_step_id uuid not null references baton.directive_steps (id) on delete cascade,
  directive_id uuid not null references baton.directives (id) on delete cascade,
  owner_id uuid not null references baton.owners (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (step_id, depends_on_step_id),
  constraint not_self_dependent check (step_id <> depends_on_step_id)
);

-- Completing a step walks this index to its dependents.
create index step_dependencies_depends_on_idx on baton.step_dependencies (depends_on_step_id);
create index step_dependencies_owner_idx on baton.step_dependencies (owner_id);

comment on table baton.step_dependencies is $$@behavior -insert -update -delete
An edge of the DAG: step_id waits for depends_on_step_id. Changed only through add_step, batch_add_steps, set_step_dependencies and remove_step, which reject cycles.$$;
comment on column baton.step_dependencies.step_id is $$The waiting step.$$;
comment on column baton.step_dependencies.depends_on_step_id is $$The step it waits for.$$;
comment on column baton.step_dependencies.directive_id is $$The directive both steps belong to.$$;
comment on column baton.step_dependencies.owner_id is $$The owner (for row-level security).$$;
comment on column baton.step_dependencies.created_at is $$When the edge was added.$$;
