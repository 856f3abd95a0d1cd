/*
 * Directives: a user's goal, optionally on a git repository, planned into a DAG of steps.
 *
 * Planning is tracked with revisions rather than timestamps: `goal_revision` counts goal edits and
 * `planned_revision` records which revision the last successful plan was made for. A directive needs
 * (re-)planning exactly when they differ, so a re-plan that only removes steps cannot loop (the old
 * "newest step older than the goal edit" rule did).
 *
 * `open_steps` counts steps that are pending, ready or running. It is maintained by the step
 * triggers, so idle detection costs O(1) whatever the directive's size.
 */
create table baton.directives (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  title text not null,
  goal text not null,
  repo text,
  base_branch text not null default 'main',
  status text not null default 'draft',
  goal_revision integer not null default 1,
  planned_revision integer,
  previous_goal text,
  current_generation integer not null default 0,
  orchestrator_task_id uuid,
  open_steps integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  goal_updated_at timestamptz not null default now(),
  started_at timestamptz,
  idle_at timestamptz,
  archived_at timestamptz,
  constraint status_is_valid check (status in ('draft', 'active', 'paused', 'idle', 'archived')),
  constraint title_is_valid check (length(btrim(title)) between 1 and 200),
  constraint goal_is_valid check (length(btrim(goal)) >= 1 and octet_length(goal) <= 102400),
  constraint previous_goal_is_valid check (previous_goal is null or octet_length(previous_goal) <= 102400),
  constraint repo_is_valid check (repo is null or length(btrim(repo)) between 1 and 2048),
  constraint base_branch_is_valid check (length(btrim(base_branch)) between 1 and 255),
  constraint planned_revision_is_valid check (planned_revision is null or planned_revision between 1 and goal_revision),
  constraint open_steps_is_not_negative check (open_steps >= 0),
  constraint archived_at_only_when_archived check ((status = 'archived') = (archived_at is not null))
);

create index directives_owner_id_idx on baton.directives (owner_id, created_at desc);
create index directives_active_idx on baton.directives (id) where status = 'active';

comment on table baton.directives is $$@behavior -insert -update -delete
A goal given to Baton. An agent plans it into a DAG of steps; each ready step is dispatched as a task to a daemon; the directive goes idle when nothing is left to do, and is re-planned when its goal changes.
Status: draft -> active (start) <-> paused; active -> idle automatically, idle -> active on a goal update, new steps or a retry; any -> archived.$$;
comment on column baton.directives.id is $$The directive's id; also the suffix of its NOTIFY channel `baton:directive:<id>`.$$;
comment on column baton.directives.owner_id is $$The owner of this directive.$$;
comment on column baton.directives.title is $$A short title, 1 to 200 characters.$$;
comment on column baton.directives.goal is $$What the user wants done, in prose (at most 100 KB). Changing it triggers a re-plan.$$;
comment on column baton.directives.repo is $$The git repository the agents work on (a URL or a local path), or null for work without a repository.$$;
comment on column baton.directives.base_branch is $$The branch that root steps start from. Default `main`.$$;
comment on column baton.directives.status is $$draft, active, paused, idle or archived.$$;
comment on column baton.directives.goal_revision is $$Counts goal edits, starting at 1.$$;
comment on column baton.directives.planned_revision is $$The goal revision the last successful plan was made for; null if never planned. The directive needs planning while this differs from goal_revision.$$;
comment on column baton.directives.previous_goal is $$The goal before the last update, shown to the re-planning agent.$$;
comment on column baton.directives.current_generation is $$The generation of the last successful plan (0 before the first). Steps added by a re-plan get the next one.$$;
comment on column baton.directives.orchestrator_task_id is $$The planning task in flight, if any. At most one per directive.$$;
comment on column baton.directives.open_steps is $$How many steps are pending, ready or running; maintained by triggers so idle detection is O(1).$$;
comment on column baton.directives.created_at is $$When the directive was created.$$;
comment on column baton.directives.updated_at is $$When this row last changed.$$;
comment on column baton.directives.goal_updated_at is $$When the goal was last set.$$;
comment on column baton.directives.started_at is $$When the directive was first started.$$;
comment on column baton.directives.idle_at is $$When the directive last went idle.$$;
comment on column baton.directives.archived_at is $$When the directive was archived; null otherwise.$$;
