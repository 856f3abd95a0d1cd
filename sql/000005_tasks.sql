/*
 * Tasks: one attempt of one step (execution) or one planning run of a directive (planning), assigned
 * to a daemon.
 *
 * Two partial unique indexes are the database's promise that a step never has two live attempts and a
 * directive never has two planners, whatever number of workers race to create them. `version` is
 * bumped by a trigger on every change so a daemon's report can carry the version it saw (optimistic
 * concurrency): a stale report never overwrites a newer state.
 */
create table baton.tasks (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  directive_id uuid not null references baton.directives (id) on delete cascade,
  step_id uuid references baton.directive_steps (id) on delete set null,
  kind text not null,
  status text not null default 'pending',
  version integer not null default 1,
  attempt integer,
  generation integer,
  goal_revision integer,
  daemon_id uuid references baton.daemons (id) on delete set null,
  prompt text,
  error text,
  branch text,
  commit_sha text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  assigned_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  constraint kind_is_valid check (kind in ('planning', 'execution')),
  constraint status_is_valid check (status in ('pending', 'starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled')),
  constraint execution_has_step check ((kind = 'execution') = (attempt is not null)),
  constraint planning_has_generation check ((kind = 'planning') = (generation is not null and goal_revision is not null)),
  constraint prompt_is_valid check (prompt is null or octet_length(prompt) <= 1048576),
  constraint error_is_valid check (error is null or octet_length(error) <= 65536),
  constraint daemon_when_assigned check (status not in ('starting', 'running') or daemon_id is not null),
  constraint finished_at_only_when_terminal check ((status in ('completed', 'failed', 'interrupted', 'cancelled')) = (finished_at is not null))
);

-- At most one live attempt per step, and one planner per directive: enforced, not hoped for.
create unique index tasks_one_live_per_step on baton.tasks (step_id)
  where kind = 'execution' and status in ('pending', 'starting', 'running');
create unique index tasks_one_live_planner_per_directive on baton.tasks (directive_id)
  where kind = 'planning' and status in ('pending', 'starting', 'running');
-- One task per step attempt, ever.
create unique index tasks_one_per_step_attempt on baton.tasks (step_id, attempt) where kind = 'execution';
create index tasks_directive_idx on baton.tasks (directive_id, created_at);
create index tasks_owner_idx on baton.tasks (owner_id);
create index tasks_daemon_live_idx on baton.tasks (daemon_id) where status in ('starting', 'running');
create index tasks_pending_idx on baton.tasks (owner_id, created_at) where status = 'pending';

alter table baton.directives
  add constraint directives_orchestrator_task_fkey
  foreign key (orchestrator_task_id) references baton.tasks (id) on delete set null;
alter table baton.directive_steps
  add constraint directive_steps_current_task_fkey
  foreign key (current_task_id) references baton.tasks (id) on delete set null;
create index directive_steps_current_task_idx on baton.directive_steps (current_task_id);
create index directives_orchestrator_task_idx on baton.directives (orchestrator_task_id);

comment on table baton.tasks is $$@behavior -insert -update -delete
One run of a coding agent on a daemon: an attempt at a step (kind `execution`) or a planning run of a directive (kind `planning`).
Status: pending (waiting for a daemon) -> starting (assigned) -> running -> completed | failed | interrupted; pending, starting or running -> cancelled. Terminal states are final.$$;
comment on column baton.tasks.id is $$The task's id.$$;
comment on column baton.tasks.owner_id is $$The owner (copied from the directive for row-level security).$$;
comment on column baton.tasks.directive_id is $$The directive the task works for.$$;
comment on column baton.tasks.step_id is $$The step this task attempts (execution tasks only).$$;
comment on column baton.tasks.kind is $$`planning` (plan or re-plan the directive) or `execution` (do one step).$$;
comment on column baton.tasks.status is $$pending, starting, running, completed, failed, interrupted or cancelled.$$;
comment on column baton.tasks.version is $$Bumped on every change. Reports may carry the version they saw; a stale one is rejected.$$;
comment on column baton.tasks.attempt is $$For execution tasks: which attempt of the step this is (1, 2, ...), counted over the step's whole life.$$;
comment on column baton.tasks.generation is $$For planning tasks: the generation number the plan's new steps get.$$;
comment on column baton.tasks.goal_revision is $$For planning tasks: the goal revision being planned.$$;
comment on column baton.tasks.daemon_id is $$The daemon the task is assigned to; null while pending.$$;
comment on column baton.tasks.prompt is $$The prompt given to the agent on stdin (at most 1 MB).$$;
comment on column baton.tasks.error is $$Why the task failed or was interrupted (the tail of the agent's stderr, or the server's reason).$$;
comment on column baton.tasks.branch is $$The git branch the task worked on, if the directive has a repository.$$;
comment on column baton.tasks.commit_sha is $$The final commit of the task's branch, recorded when it completed.$$;
comment on column baton.tasks.created_at is $$When the task was created.$$;
comment on column baton.tasks.updated_at is $$When this row last changed.$$;
comment on column baton.tasks.assigned_at is $$When the task was assigned to a daemon.$$;
comment on column baton.tasks.started_at is $$When the agent process started.$$;
comment on column baton.tasks.finished_at is $$When the task reached a terminal state.$$;
