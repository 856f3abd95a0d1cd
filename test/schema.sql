-- Baton schema snapshot: regenerate with `npm run schema:dump`; test/schema.test.ts compares it.
-- {migrator} is the login that ran the migrations; the text is the same on PostgreSQL 15 to 18.

schema baton
  comment: Baton: directives planned into DAGs of steps, dispatched as tasks to daemons running coding agents.
  grant USAGE to baton_agent
  grant USAGE to baton_anonymous
  grant USAGE to baton_daemon
  grant USAGE to baton_user

schema baton_private
  comment: Baton internals: trigger functions, helpers and secrets. Never exposed through the API.
  grant USAGE to baton_agent
  grant USAGE to baton_anonymous
  grant USAGE to baton_daemon
  grant USAGE to baton_user

default privileges of {migrator} on functions in (all schemas)
  none beyond the owner

table baton.daemons (rls, forced)
  comment: @behavior -insert -update -delete A machine that runs coding agents for one owner. It registers, heartbeats within its lease, and receives tasks on the channel `baton:daemon:<id>`. Status: connected <-> disconnected (its heartbeat lapsed, it disconnected or it was revoked); a revoked daemon stays disconnected.
  id uuid not null default gen_random_uuid() -- The daemon's id; also the suffix of its NOTIFY channel.
  owner_id uuid not null -- The owner this daemon works for. It only ever receives that owner's tasks.
  name text not null -- A human-readable name, 1 to 200 characters.
  hostname text -- The host the daemon runs on, as it reported it.
  max_tasks integer not null default 1 -- How many tasks it runs at once (1 to 1000). Dispatch never assigns more.
  status baton.daemon_status not null default 'connected'::baton.daemon_status -- `connected` while its heartbeat is within the lease, else `disconnected`.
  last_heartbeat_at timestamp with time zone not null default now() -- When the daemon last heartbeated (or registered).
  connected_at timestamp with time zone not null default now() -- When the daemon last registered or reconnected.
  disconnected_at timestamp with time zone -- When it was marked disconnected; null while connected.
  created_at timestamp with time zone not null default now() -- When the daemon first registered.
  updated_at timestamp with time zone not null default now() -- When this row last changed.
  revoked_at timestamp with time zone -- When its owner revoked it (`baton daemon revoke`); null while it may work. A revoked daemon stays disconnected: its tokens no longer work, its heartbeat is refused, and it gets no new token.
  live_tasks integer not null default 0 -- How many of its tasks are starting or running now (the slots it uses of max_tasks). Kept by a trigger on tasks in the statement that changes them; recomputed by reconcile.
  labels text[] not null default '{}'::text[] -- What the daemon offers (`baton daemon run --label claude --label gpu`, set when it connects): it takes only tasks whose step's agent is one of them, or names none. At most 32.
  constraint daemons_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint daemons_pkey PRIMARY KEY (id)
  constraint disconnected_at_only_when_disconnected CHECK (((status = 'disconnected'::baton.daemon_status) = (disconnected_at IS NOT NULL)))
  constraint hostname_is_valid CHECK (((hostname IS NULL) OR (length(hostname) <= 255)))
  constraint labels_are_valid CHECK (baton_private.labels_are_valid(labels))
  constraint live_tasks_not_negative CHECK ((live_tasks >= 0))
  constraint max_tasks_is_valid CHECK (((max_tasks >= 1) AND (max_tasks <= 1000)))
  constraint name_is_valid CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200)))
  constraint revoked_only_when_disconnected CHECK (((revoked_at IS NULL) OR (status = 'disconnected'::baton.daemon_status)))
  CREATE INDEX daemons_connected_idx ON baton.daemons USING btree (owner_id, last_heartbeat_at) WHERE (status = 'connected'::baton.daemon_status)
  CREATE INDEX daemons_owner_id_idx ON baton.daemons USING btree (owner_id)
  CREATE UNIQUE INDEX daemons_pkey ON baton.daemons USING btree (id)
  CREATE TRIGGER _100_timestamps BEFORE UPDATE ON baton.daemons FOR EACH ROW EXECUTE FUNCTION baton_private.tg__timestamps()
  CREATE TRIGGER _200_guard BEFORE UPDATE ON baton.daemons FOR EACH ROW EXECUTE FUNCTION baton_private.tg_daemons__guard()
  CREATE TRIGGER _500_count_status_delete AFTER DELETE ON baton.daemons REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_delete('daemons')
  CREATE TRIGGER _500_count_status_insert AFTER INSERT ON baton.daemons REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_insert('daemons')
  CREATE TRIGGER _500_count_status_truncate AFTER TRUNCATE ON baton.daemons FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_truncate('daemons')
  CREATE TRIGGER _500_count_status_update AFTER UPDATE ON baton.daemons FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg__count_status_update('daemons')
  CREATE TRIGGER _500_record_created_events AFTER INSERT ON baton.daemons REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__record_created_events()
  CREATE TRIGGER _500_record_status_event AFTER UPDATE OF status ON baton.daemons FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg__record_status_event()
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE baton_private.current_api_role()
    WHEN 'baton_user'::text THEN (owner_id = baton_private.current_owner_id())
    WHEN 'baton_daemon'::text THEN (id = baton_private.current_daemon_id())
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

view baton.directive_progress
  comment: Progress per directive: steps by status, percent done (completed or skipped), running tasks and the last event.
  directive_id uuid -- The directive.
  owner_id uuid -- Its owner.
  title text -- Its title.
  status baton.directive_status -- Its status.
  total_steps integer -- All steps.
  pending_steps integer -- Steps waiting on dependencies.
  ready_steps integer -- Steps ready to be dispatched.
  running_steps integer -- Steps with a task running.
  completed_steps integer -- Completed steps.
  failed_steps integer -- Failed steps (attempts exhausted or failed by hand).
  skipped_steps integer -- Skipped steps.
  blocked_steps integer -- Steps blocked by a failed dependency.
  percent_done numeric -- Completed and skipped steps as a percentage of all steps.
  running_tasks integer -- Tasks starting or running.
  last_event text -- The last event, e.g. `status_changed: step completed`.
  last_event_at timestamp with time zone -- When the last event happened.
  as SELECT d.id AS directive_id, d.owner_id, d.title, d.status, count(s.id)::integer AS total_steps, count(s.id) FILTER (WHERE s.status = 'pending'::baton.step_status)::integer AS pending_steps, count(s.id) FILTER (WHERE s.status = 'ready'::baton.step_status)::integer AS ready_steps, count(s.id) FILTER (WHERE s.status = 'running'::baton.step_status)::integer AS running_steps, count(s.id) FILTER (WHERE s.status = 'completed'::baton.step_status)::integer AS completed_steps, count(s.id) FILTER (WHERE s.status = 'failed'::baton.step_status)::integer AS failed_steps, count(s.id) FILTER (WHERE s.status = 'skipped'::baton.step_status)::integer AS skipped_steps, count(s.id) FILTER (WHERE s.status = 'blocked'::baton.step_status)::integer AS blocked_steps, CASE WHEN count(s.id) = 0 THEN 0::numeric ELSE round(100.0 * count(s.id) FILTER (WHERE baton_private.step_satisfies_dependents(s.status))::numeric / count(s.id)::numeric, 1) END AS percent_done, ( SELECT count(*)::integer AS count FROM baton.tasks t WHERE t.directive_id = d.id AND baton_private.task_occupies_slot(t.status)) AS running_tasks, ( SELECT e.kind || COALESCE(((': '::text || e.subject_type) || ' '::text) || e.to_status, ''::text) FROM baton.events e WHERE e.directive_id = d.id ORDER BY e.id DESC LIMIT 1) AS last_event, ( SELECT max(e.created_at) AS max FROM baton.events e WHERE e.directive_id = d.id) AS last_event_at FROM baton.directives d LEFT JOIN baton.directive_steps s ON s.directive_id = d.id GROUP BY d.id;
  grant SELECT to baton_agent
  grant SELECT to baton_user

table baton.directive_steps (rls, forced)
  comment: @behavior -insert -update -delete One unit of work in a directive's DAG. A step becomes ready when all of its dependencies are completed or skipped, is dispatched as a task to a daemon, and is attempted at most max_attempts times. Status: pending -> ready (its dependencies are satisfied) or blocked (one failed); ready -> running (its task started), pending (re-wired onto an unmet dependency) or blocked; running -> ready (another attempt); ready or running -> failed (no attempts left); blocked -> pending or ready (unblocked); failed -> pending, ready or blocked (retryStep); any but completed and skipped -> completed, failed or skipped (by hand, or its task completed); completed and skipped are final.
  id uuid not null default gen_random_uuid() -- The step's id.
  directive_id uuid not null -- The directive this step belongs to.
  owner_id uuid not null -- The owner (copied from the directive for row-level security).
  name text not null -- A short name, 1 to 200 characters.
  description text -- What the step is for (at most 100 KB).
  task_plan text -- Self-contained instructions for the executing agent, which has no planning context (at most 100 KB).
  status baton.step_status not null default 'pending'::baton.step_status -- pending (waiting on dependencies), ready, running, completed, failed, skipped, or blocked (a dependency failed).
  generation integer not null default 1 -- Which plan added the step: 1 for the first plan, n+1 for each re-plan.
  order_index integer not null default 0 -- Display and dispatch order among steps that are ready at the same time (lower first).
  remaining_deps integer not null default 0 -- How many dependencies are not yet completed or skipped. The step is ready when this reaches 0.
  attempts integer not null default 0 -- Attempts in the current round. A failed or interrupted attempt below max_attempts makes the step ready again; retry_step starts a new round.
  total_attempts integer not null default 0 -- Attempts ever made; numbers the step's tasks and never decreases.
  max_attempts integer not null default 2 -- How many attempts a round may make (default 2).
  current_task_id uuid -- The step's latest execution task.
  created_at timestamp with time zone not null default now() -- When the step was added.
  updated_at timestamp with time zone not null default now() -- When this row last changed.
  ready_at timestamp with time zone -- When the step last became ready.
  started_at timestamp with time zone -- When the step's latest attempt started running.
  finished_at timestamp with time zone -- When the step last reached completed, failed or skipped.
  added_by_task_id uuid default 
CASE
    WHEN ((current_setting('role'::text, true) = 'baton_agent'::text) AND (current_setting('baton.task_id'::text, true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'::text)) THEN (current_setting('baton.task_id'::text, true))::uuid
    ELSE NULL::uuid
END -- The task whose agent added this step (null when an owner, a DBA or Baton added it). An execution agent may remove or re-wire only the steps its task added.
  check_command text -- The step's own check: a shell command run in the attempt's worktree after its agent exits 0; it replaces the directive's check for this step. Null: the directive's check applies (if any). At most 4096 bytes.
  timeout_seconds integer -- The longest one attempt of this step may run, in seconds (1 to 2,592,000 = 30 days); null to use its directive's timeout.
  stall_seconds integer -- How long one attempt of this step may go without writing output, in seconds (1 to 2,592,000); null to use its directive's.
  agent text -- The kind of agent the step needs (e.g. claude, codex): its tasks go only to daemons with this label. Null: any daemon.
  constraint agent_is_valid CHECK (((agent IS NULL) OR (baton_private.label_problem(agent) IS NULL)))
  constraint attempts_is_valid CHECK ((((attempts >= 0) AND (attempts <= max_attempts)) AND (attempts <= total_attempts)))
  constraint check_command_is_valid CHECK (((check_command IS NULL) OR ((length(btrim(check_command)) >= 1) AND (octet_length(check_command) <= 4096))))
  constraint description_is_valid CHECK (((description IS NULL) OR (octet_length(description) <= 102400)))
  constraint directive_steps_current_task_fkey FOREIGN KEY (current_task_id) REFERENCES baton.tasks(id) ON DELETE SET NULL
  constraint directive_steps_directive_id_fkey FOREIGN KEY (directive_id) REFERENCES baton.directives(id) ON DELETE CASCADE
  constraint directive_steps_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint directive_steps_pkey PRIMARY KEY (id)
  constraint generation_is_valid CHECK ((generation >= 1))
  constraint max_attempts_is_valid CHECK (((max_attempts >= 1) AND (max_attempts <= 100)))
  constraint name_is_valid CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200)))
  constraint ready_only_without_remaining_deps CHECK (((status <> ALL (ARRAY['ready'::baton.step_status, 'running'::baton.step_status, 'completed'::baton.step_status])) OR (remaining_deps = 0)))
  constraint remaining_deps_is_not_negative CHECK ((remaining_deps >= 0))
  constraint stall_seconds_is_valid CHECK (((stall_seconds IS NULL) OR ((stall_seconds >= 1) AND (stall_seconds <= 2592000))))
  constraint task_plan_is_valid CHECK (((task_plan IS NULL) OR (octet_length(task_plan) <= 102400)))
  constraint timeout_seconds_is_valid CHECK (((timeout_seconds IS NULL) OR ((timeout_seconds >= 1) AND (timeout_seconds <= 2592000))))
  CREATE INDEX directive_steps_current_task_idx ON baton.directive_steps USING btree (current_task_id)
  CREATE INDEX directive_steps_directive_idx ON baton.directive_steps USING btree (directive_id, order_index, created_at)
  CREATE INDEX directive_steps_owner_idx ON baton.directive_steps USING btree (owner_id)
  CREATE UNIQUE INDEX directive_steps_pkey ON baton.directive_steps USING btree (id)
  CREATE INDEX directive_steps_ready_idx ON baton.directive_steps USING btree (directive_id) WHERE (status = 'ready'::baton.step_status)
  CREATE TRIGGER _100_timestamps BEFORE UPDATE ON baton.directive_steps FOR EACH ROW EXECUTE FUNCTION baton_private.tg__timestamps()
  CREATE TRIGGER _200_guard BEFORE UPDATE OF status ON baton.directive_steps FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg_directive_steps__guard()
  CREATE TRIGGER _500_count_status_delete AFTER DELETE ON baton.directive_steps REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_delete('steps')
  CREATE TRIGGER _500_count_status_insert AFTER INSERT ON baton.directive_steps REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_insert('steps')
  CREATE TRIGGER _500_count_status_truncate AFTER TRUNCATE ON baton.directive_steps FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_truncate('steps')
  CREATE TRIGGER _500_count_status_update AFTER UPDATE ON baton.directive_steps FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg__count_status_update('steps')
  CREATE TRIGGER _500_record_created_events AFTER INSERT ON baton.directive_steps REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__record_created_events()
  CREATE TRIGGER _500_record_status_event AFTER UPDATE OF status ON baton.directive_steps FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg__record_status_event()
  CREATE TRIGGER _800_count_open_delete AFTER DELETE ON baton.directive_steps REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg_directive_steps__count_open_delete()
  CREATE TRIGGER _800_count_open_insert AFTER INSERT ON baton.directive_steps REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg_directive_steps__count_open_insert()
  CREATE TRIGGER _800_count_open_update AFTER UPDATE ON baton.directive_steps REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg_directive_steps__count_open()
  CREATE TRIGGER _800_propagate AFTER UPDATE OF status ON baton.directive_steps FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg_directive_steps__propagate()
  CREATE TRIGGER _900_enqueue_ready AFTER UPDATE ON baton.directive_steps REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg_directive_steps__enqueue_ready()
  CREATE TRIGGER _900_webhooks AFTER UPDATE OF status ON baton.directive_steps FOR EACH ROW WHEN (((new.status = 'failed'::baton.step_status) AND (old.status IS DISTINCT FROM 'failed'::baton.step_status))) EXECUTE FUNCTION baton_private.tg_directive_steps__webhooks()
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE ( SELECT baton_private.current_api_role() AS current_api_role)
    WHEN 'admin'::text THEN true
    WHEN 'baton_user'::text THEN (owner_id = ( SELECT baton_private.current_owner_id() AS current_owner_id))
    WHEN 'baton_agent'::text THEN (directive_id = ( SELECT baton_private.current_agent_directive_id() AS current_agent_directive_id))
    WHEN 'baton_daemon'::text THEN (directive_id IN ( SELECT baton_private.daemon_directive_ids() AS daemon_directive_ids))
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

view baton.directive_usage
  comment: Usage per directive, planners and integrations included, beside its budgets.
  directive_id uuid -- The directive.
  owner_id uuid -- Its owner.
  title text -- Its title.
  reported_tasks integer -- How many of its tasks reported usage.
  input_tokens bigint -- Input tokens of all its tasks.
  output_tokens bigint -- Output tokens of all its tasks.
  cost_usd numeric(16,6) -- Cost in USD of all its tasks.
  budget_usd numeric(16,6) -- Its cost budget in USD, or null.
  budget_tokens bigint -- Its token budget (input plus output), or null.
  budget_reached_at timestamp with time zone -- When it was paused for reaching a budget, or null.
  as SELECT d.id AS directive_id, d.owner_id, d.title, COALESCE(u.reported_tasks, 0::bigint)::integer AS reported_tasks, COALESCE(u.input_tokens, 0::numeric)::bigint AS input_tokens, COALESCE(u.output_tokens, 0::numeric)::bigint AS output_tokens, COALESCE(u.cost_usd, 0::numeric)::numeric(16,6) AS cost_usd, d.budget_usd, d.budget_tokens, d.budget_reached_at FROM baton.directives d LEFT JOIN LATERAL ( SELECT count(*) FILTER (WHERE t.input_tokens IS NOT NULL OR t.output_tokens IS NOT NULL OR t.cost_usd IS NOT NULL) AS reported_tasks, sum(t.input_tokens) AS input_tokens, sum(t.output_tokens) AS output_tokens, sum(t.cost_usd) AS cost_usd FROM baton.tasks t WHERE t.directive_id = d.id) u ON true;
  grant SELECT to baton_agent
  grant SELECT to baton_user

table baton.directives (rls, forced)
  comment: @behavior -insert -update -delete A goal given to Baton. An agent plans it into a DAG of steps; each ready step is dispatched as a task to a daemon; when every step is settled, the steps' branches are integrated into one result branch (directives with a repository), and the directive goes idle; it is re-planned when its goal changes. Status: draft -> active (startDirective) or archived; active -> paused (pauseDirective, its planner failed, or its integration failed for good), idle (nothing left to run, plan or integrate) or archived; paused -> active (startDirective) or archived; idle -> active (new steps, a retry, a re-wiring, a goal update, or settled work to integrate), paused or archived; archived is final.
  id uuid not null default gen_random_uuid() -- The directive's id; also the suffix of its NOTIFY channel `baton:directive:<id>`.
  owner_id uuid not null -- The owner of this directive.
  title text not null -- A short title, 1 to 200 characters.
  goal text not null -- What the user wants done, in prose (at most 100 KB). Changing it triggers a re-plan.
  repo text -- The git repository the agents work on (a URL or a local path), or null for work without a repository.
  base_branch text not null default 'main'::text -- The branch that root steps start from. Default `main`.
  status baton.directive_status not null default 'draft'::baton.directive_status -- draft, active, paused, idle or archived.
  goal_revision integer not null default 1 -- Counts goal edits, starting at 1.
  planned_revision integer -- The goal revision the last successful plan was made for; null if never planned. The directive needs planning while this differs from goal_revision.
  previous_goal text -- The goal before the last update, shown to the re-planning agent.
  current_generation integer not null default 0 -- The generation of the last successful plan (0 before the first). Steps added by a re-plan get the next one.
  orchestrator_task_id uuid -- The planning task in flight, if any. At most one per directive.
  open_steps integer not null default 0 -- How many steps are pending, ready or running; maintained by triggers so idle detection is O(1).
  created_at timestamp with time zone not null default now() -- When the directive was created.
  updated_at timestamp with time zone not null default now() -- When this row last changed.
  goal_updated_at timestamp with time zone not null default now() -- When the goal was last set.
  started_at timestamp with time zone -- When the directive was first started.
  idle_at timestamp with time zone -- When the directive last went idle.
  archived_at timestamp with time zone -- When the directive was archived; null otherwise.
  check_command text -- The directive's check: a shell command (`sh -c`) run in each step attempt's worktree after its agent exits 0, e.g. `npm test`. A failing check fails the attempt. A step with a check of its own runs that one instead. Null: no check. At most 4096 bytes.
  timeout_seconds integer -- The longest an attempt (a task) of this directive may run, in seconds (1 to 2,592,000 = 30 days), unless its step sets its own; null for no limit. An attempt past it is interrupted and its step retried under the usual rules.
  stall_seconds integer -- How long an attempt of this directive may go without writing output, in seconds (1 to 2,592,000), unless its step sets its own; null for no limit. A stalled attempt is interrupted and its step retried under the usual rules.
  target_branch text not null -- The branch the directive's integrated result is pushed to: baton/<directive-short>/result unless chosen (`--target-branch` on create or update). Each integration replaces it (a push with a lease on what the daemon last fetched).
  on_complete_command text -- A shell command (`sh -c`) the daemon runs in the result's worktree after pushing it, with BATON_RESULT_BRANCH, BATON_RESULT_COMMIT and BATON_DIRECTIVE_ID set, e.g. `gh pr create --fill --head "$BATON_RESULT_BRANCH"`; the first http(s) URL it prints is recorded as result_url. A non-zero exit fails the integration attempt. Null: none. At most 4096 bytes.
  integration_due boolean not null default false -- Work settled since the last integration task was created (a step completed or skipped, or a settled step removed): once nothing is open and no step failed, the directive integrates again instead of going idle. Cleared when an integration task is created; set again when integration fails for good.
  integration_task_id uuid -- The integration task in flight, if any (at most one per directive). The directive does not go idle while it is set.
  result_branch text -- The branch of the last completed integration: every sink step's work merged on the base branch, checked and pushed. Null until a first integration completes.
  result_commit text -- The commit result_branch pointed at when the last integration completed.
  result_url text -- The first http(s) URL the on-complete command printed in the last completed integration (e.g. a pull request); null when it printed none or there is no on-complete command.
  result_at timestamp with time zone -- When the last integration completed (when result_branch and result_commit were recorded).
  budget_usd numeric(16,6) -- Pause the directive when its tasks' cost reaches this many USD; null: no cost budget.
  budget_tokens bigint -- Pause the directive when its tasks' input plus output tokens reach this; null: no token budget.
  budget_reached_at timestamp with time zone -- When its usage reached a budget and it was paused for it (once per budget: setting a budget clears it); null while under budget.
  paused_reason text -- Why it is paused, while it stays paused: its budget was reached, its planner or integration failed (naming the task and the last line of its error), or "Paused by hand."; null otherwise.
  review_plans boolean not null default false -- When true, what a planner writes is a proposal the owner reviews (`baton directive plan`) and approves or rejects; nothing of it runs before approval. Set with setDirectiveReviewPlans.
  max_parallel integer -- At most this many of the directive's tasks occupy daemon slots at once (null: no limit). Tasks beyond it wait, and get the directive's next freed slot. Set with `baton directive update --max-parallel`.
  priority integer not null default 0 -- Orders directives that have waited equally long for a daemon slot, higher first (-1000 to 1000, default 0). Slots go round-robin: to the directive served least recently. Set with `baton directive update --priority`.
  constraint archived_at_only_when_archived CHECK (((status = 'archived'::baton.directive_status) = (archived_at IS NOT NULL)))
  constraint base_branch_is_valid CHECK (((length(btrim(base_branch)) >= 1) AND (length(btrim(base_branch)) <= 255)))
  constraint check_command_is_valid CHECK (((check_command IS NULL) OR ((length(btrim(check_command)) >= 1) AND (octet_length(check_command) <= 4096))))
  constraint directives_budget_tokens_positive CHECK ((budget_tokens > 0))
  constraint directives_budget_usd_positive CHECK ((budget_usd > (0)::numeric))
  constraint directives_integration_task_id_fkey FOREIGN KEY (integration_task_id) REFERENCES baton.tasks(id) ON DELETE SET NULL
  constraint directives_orchestrator_task_fkey FOREIGN KEY (orchestrator_task_id) REFERENCES baton.tasks(id) ON DELETE SET NULL
  constraint directives_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint directives_pkey PRIMARY KEY (id)
  constraint goal_is_valid CHECK (((length(btrim(goal)) >= 1) AND (octet_length(goal) <= 102400)))
  constraint max_parallel_is_valid CHECK (((max_parallel >= 1) AND (max_parallel <= 10000)))
  constraint on_complete_command_is_valid CHECK (((on_complete_command IS NULL) OR ((length(btrim(on_complete_command)) >= 1) AND (octet_length(on_complete_command) <= 4096))))
  constraint open_steps_is_not_negative CHECK ((open_steps >= 0))
  constraint planned_revision_is_valid CHECK (((planned_revision IS NULL) OR ((planned_revision >= 1) AND (planned_revision <= goal_revision))))
  constraint previous_goal_is_valid CHECK (((previous_goal IS NULL) OR (octet_length(previous_goal) <= 102400)))
  constraint priority_is_valid CHECK (((priority >= '-1000'::integer) AND (priority <= 1000)))
  constraint repo_is_valid CHECK (((repo IS NULL) OR ((length(btrim(repo)) >= 1) AND (length(btrim(repo)) <= 2048))))
  constraint result_is_whole CHECK ((((result_branch IS NULL) = (result_commit IS NULL)) AND ((result_branch IS NULL) = (result_at IS NULL))))
  constraint result_url_is_valid CHECK (((result_url IS NULL) OR ((result_url ~ '^https?://[^[:space:]]+$'::text) AND (octet_length(result_url) <= 2048))))
  constraint stall_seconds_is_valid CHECK (((stall_seconds IS NULL) OR ((stall_seconds >= 1) AND (stall_seconds <= 2592000))))
  constraint target_branch_is_valid CHECK ((baton_private.branch_name_problem(target_branch) IS NULL))
  constraint timeout_seconds_is_valid CHECK (((timeout_seconds IS NULL) OR ((timeout_seconds >= 1) AND (timeout_seconds <= 2592000))))
  constraint title_is_valid CHECK (((length(btrim(title)) >= 1) AND (length(btrim(title)) <= 200)))
  CREATE INDEX directives_active_idx ON baton.directives USING btree (id) WHERE (status = 'active'::baton.directive_status)
  CREATE INDEX directives_integration_task_idx ON baton.directives USING btree (integration_task_id)
  CREATE INDEX directives_orchestrator_task_idx ON baton.directives USING btree (orchestrator_task_id)
  CREATE INDEX directives_owner_active_idx ON baton.directives USING btree (owner_id) WHERE (status = 'active'::baton.directive_status)
  CREATE INDEX directives_owner_id_idx ON baton.directives USING btree (owner_id, created_at DESC)
  CREATE UNIQUE INDEX directives_pkey ON baton.directives USING btree (id)
  CREATE TRIGGER _100_default_target_branch BEFORE INSERT ON baton.directives FOR EACH ROW EXECUTE FUNCTION baton_private.tg_directives__default_target_branch()
  CREATE TRIGGER _100_timestamps BEFORE UPDATE ON baton.directives FOR EACH ROW EXECUTE FUNCTION baton_private.tg__timestamps()
  CREATE TRIGGER _150_clear_paused_reason BEFORE UPDATE OF status ON baton.directives FOR EACH ROW WHEN (((old.status = 'paused'::baton.directive_status) AND (new.status IS DISTINCT FROM old.status))) EXECUTE FUNCTION baton_private.tg_directives__clear_paused_reason()
  CREATE TRIGGER _200_guard BEFORE UPDATE OF status ON baton.directives FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg_directives__guard()
  CREATE TRIGGER _210_paused_reason BEFORE UPDATE OF status ON baton.directives FOR EACH ROW WHEN (((new.status = 'paused'::baton.directive_status) AND (old.status IS DISTINCT FROM new.status) AND (new.paused_reason IS NULL))) EXECUTE FUNCTION baton_private.tg_directives__paused_reason()
  CREATE TRIGGER _500_count_status_delete AFTER DELETE ON baton.directives REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_delete('directives')
  CREATE TRIGGER _500_count_status_insert AFTER INSERT ON baton.directives REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_insert('directives')
  CREATE TRIGGER _500_count_status_truncate AFTER TRUNCATE ON baton.directives FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_truncate('directives')
  CREATE TRIGGER _500_count_status_update AFTER UPDATE ON baton.directives FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg__count_status_update('directives')
  CREATE TRIGGER _500_record_created_events AFTER INSERT ON baton.directives REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__record_created_events()
  CREATE TRIGGER _500_record_status_event AFTER UPDATE OF status ON baton.directives FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg__record_status_event()
  CREATE TRIGGER _800_on_status AFTER UPDATE OF status ON baton.directives FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg_directives__on_status()
  CREATE TRIGGER _900_webhooks AFTER UPDATE OF status ON baton.directives FOR EACH ROW WHEN (((new.status IS DISTINCT FROM old.status) AND (new.status = ANY (ARRAY['idle'::baton.directive_status, 'paused'::baton.directive_status])))) EXECUTE FUNCTION baton_private.tg_directives__webhooks()
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE ( SELECT baton_private.current_api_role() AS current_api_role)
    WHEN 'admin'::text THEN true
    WHEN 'baton_user'::text THEN (owner_id = ( SELECT baton_private.current_owner_id() AS current_owner_id))
    WHEN 'baton_agent'::text THEN (id = ( SELECT baton_private.current_agent_directive_id() AS current_agent_directive_id))
    WHEN 'baton_daemon'::text THEN (id IN ( SELECT baton_private.daemon_directive_ids() AS daemon_directive_ids))
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

table baton.events (rls, forced)
  comment: @behavior -insert -update -delete Append-only history: one row for every status change of a directive, step, task or daemon, and for other notable changes (goal updated, dependencies changed, step removed).
  id bigint not null -- Event id, increasing in the order events were recorded (not the order their transactions committed: de-duplicate by id rather than reading "after the last id").
  owner_id uuid not null -- The owner of the subject.
  directive_id uuid -- The directive concerned (null for daemon events).
  subject_type text not null -- What changed: directive, step, task or daemon.
  subject_id uuid not null -- The id of what changed.
  kind text not null -- `created`, `status_changed`, `goal_updated`, `dependencies_changed`, `removed`, ...
  from_status text -- The status before (null when created).
  to_status text -- The status after.
  detail jsonb -- Extra facts, e.g. the error of a failed task or the step's name.
  actor text not null -- The database role that made the change (baton_user, baton_daemon, ... or the login for a DBA).
  created_at timestamp with time zone not null default now() -- When it happened.
  transaction_id bigint not null default ((pg_current_xact_id())::text)::bigint -- The transaction that recorded the event (pg_current_xact_id() as a number); one NOTIFY on `baton:directive:<id>` covers all events of a transaction.
  actor_task_id uuid default 
CASE
    WHEN ((current_setting('role'::text, true) = 'baton_agent'::text) AND (current_setting('baton.task_id'::text, true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'::text)) THEN (current_setting('baton.task_id'::text, true))::uuid
    ELSE NULL::uuid
END -- The task whose agent made the change (agent tokens); null for owners, daemons, DBAs and Baton itself. The daemon that ran it is the task's daemon.
  actor_daemon_id uuid default 
CASE
    WHEN ((current_setting('role'::text, true) = 'baton_daemon'::text) AND (current_setting('baton.daemon_id'::text, true) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'::text)) THEN (current_setting('baton.daemon_id'::text, true))::uuid
    ELSE NULL::uuid
END -- The daemon that made the change (daemon tokens, e.g. a status report); null for owners, agents, DBAs and Baton itself.
  constraint events_directive_id_fkey FOREIGN KEY (directive_id) REFERENCES baton.directives(id) ON DELETE CASCADE
  constraint events_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint events_pkey PRIMARY KEY (id)
  constraint kind_is_valid CHECK (((length(kind) >= 1) AND (length(kind) <= 64)))
  constraint subject_type_is_valid CHECK ((subject_type = ANY (ARRAY['directive'::text, 'step'::text, 'task'::text, 'daemon'::text])))
  CREATE INDEX events_directive_idx ON baton.events USING btree (directive_id, id)
  CREATE INDEX events_owner_idx ON baton.events USING btree (owner_id, id)
  CREATE UNIQUE INDEX events_pkey ON baton.events USING btree (id)
  CREATE INDEX events_subject_idx ON baton.events USING btree (subject_id, id)
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using ((((baton_private.current_api_role() = 'baton_user'::text) AND (owner_id = baton_private.current_owner_id())) OR ((baton_private.current_api_role() = 'baton_agent'::text) AND (directive_id = baton_private.current_agent_directive_id()))))
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

view baton.owner_usage
  comment: Usage per owner, over every task of every directive it can see.
  owner_id uuid -- The owner.
  reported_tasks integer -- How many of its tasks reported usage.
  input_tokens bigint -- Input tokens of all its tasks.
  output_tokens bigint -- Output tokens of all its tasks.
  cost_usd numeric(16,6) -- Cost in USD of all its tasks.
  as SELECT t.owner_id, count(*) FILTER (WHERE t.input_tokens IS NOT NULL OR t.output_tokens IS NOT NULL OR t.cost_usd IS NOT NULL)::integer AS reported_tasks, COALESCE(sum(t.input_tokens), 0::numeric)::bigint AS input_tokens, COALESCE(sum(t.output_tokens), 0::numeric)::bigint AS output_tokens, COALESCE(sum(t.cost_usd), 0::numeric)::numeric(16,6) AS cost_usd FROM baton.tasks t JOIN baton.directives d ON d.id = t.directive_id GROUP BY t.owner_id;
  grant SELECT to baton_agent
  grant SELECT to baton_user

table baton.owners (rls, forced)
  comment: @behavior -insert -update -delete A tenant of Baton: a person or team. Every directive, step, task, daemon and event belongs to exactly one owner.
  id uuid not null default gen_random_uuid() -- The owner's id.
  name text not null -- A human-readable name, 1 to 200 characters.
  created_at timestamp with time zone not null default now() -- When the owner was created.
  token_generation integer not null default 0 -- The generation of this owner's tokens. `baton token rotate` (rotateTokens) increments it: every token minted before (the owner's, its daemons' and its agents') stops working.
  max_parallel integer -- At most this many of the owner's tasks occupy daemon slots at once, over all its directives and daemons (null: no limit). Set with `baton owner limits --max-parallel`.
  constraint max_parallel_is_valid CHECK (((max_parallel >= 1) AND (max_parallel <= 100000)))
  constraint name_is_valid CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200)))
  constraint owners_pkey PRIMARY KEY (id)
  constraint token_generation_is_valid CHECK ((token_generation >= 0))
  CREATE UNIQUE INDEX owners_pkey ON baton.owners USING btree (id)
  policy definer_all for * to {migrator} using (true)
  policy select_own for r to public using (((id = baton_private.current_owner_id()) AND (baton_private.current_api_role() <> 'baton_anonymous'::text)))
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

table baton.plan_proposals (rls, forced)
  comment: @behavior -insert -update -delete A plan a planner wrote for a directive with review_plans: held for the owner's review instead of being dispatched. `baton directive plan` (planDiff) shows it as a diff against the live plan. Status: drafting -> proposed (its planner finished) | superseded (its planner failed, or a newer one started); proposed -> approved (approvePlan: applied to the live plan) | rejected (rejectPlan with a reason: the directive is planned again, the reason in the planner's prompt) | superseded (a newer planner started); approved, rejected and superseded are final.
  id uuid not null default gen_random_uuid() -- The proposal's id.
  owner_id uuid not null -- The owner (copied from the directive for row-level security).
  directive_id uuid not null -- The directive it proposes a plan for.
  task_id uuid not null -- The planning task whose agent wrote it.
  status baton.plan_proposal_status not null default 'drafting'::baton.plan_proposal_status -- @behavior +filterBy drafting, proposed, approved, rejected or superseded.
  goal_revision integer not null -- The goal revision its planner planned.
  base_planned_revision integer -- The directive's planned_revision before its planner ran; rejecting restores it, so the directive is planned again.
  reason text -- Why the owner rejected it (set exactly when rejected); the next planner reads it.
  created_at timestamp with time zone not null default now() -- When its planner first wrote to it.
  updated_at timestamp with time zone not null default now() -- When this row last changed.
  proposed_at timestamp with time zone -- When its planner finished and it waited for review.
  decided_at timestamp with time zone -- When it was approved or rejected.
  constraint decided_at_only_when_decided CHECK (((status = ANY (ARRAY['approved'::baton.plan_proposal_status, 'rejected'::baton.plan_proposal_status])) = (decided_at IS NOT NULL)))
  constraint plan_proposals_directive_id_fkey FOREIGN KEY (directive_id) REFERENCES baton.directives(id) ON DELETE CASCADE
  constraint plan_proposals_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint plan_proposals_pkey PRIMARY KEY (id)
  constraint plan_proposals_task_id_fkey FOREIGN KEY (task_id) REFERENCES baton.tasks(id) ON DELETE CASCADE
  constraint reason_is_valid CHECK (((reason IS NULL) OR ((length(btrim(reason)) >= 1) AND (octet_length(reason) <= 16384))))
  constraint reason_only_when_rejected CHECK (((status = 'rejected'::baton.plan_proposal_status) = (reason IS NOT NULL)))
  CREATE INDEX plan_proposals_directive_idx ON baton.plan_proposals USING btree (directive_id, created_at)
  CREATE UNIQUE INDEX plan_proposals_open_idx ON baton.plan_proposals USING btree (directive_id) WHERE (status = ANY (ARRAY['drafting'::baton.plan_proposal_status, 'proposed'::baton.plan_proposal_status]))
  CREATE INDEX plan_proposals_owner_idx ON baton.plan_proposals USING btree (owner_id)
  CREATE UNIQUE INDEX plan_proposals_pkey ON baton.plan_proposals USING btree (id)
  CREATE INDEX plan_proposals_status_idx ON baton.plan_proposals USING btree (directive_id, status)
  CREATE UNIQUE INDEX plan_proposals_task_idx ON baton.plan_proposals USING btree (task_id)
  CREATE TRIGGER _200_check_insert BEFORE INSERT ON baton.plan_proposals FOR EACH ROW EXECUTE FUNCTION baton_private.tg_plan_proposals__check_insert()
  CREATE TRIGGER _200_guard BEFORE UPDATE ON baton.plan_proposals FOR EACH ROW EXECUTE FUNCTION baton_private.tg_plan_proposals__guard()
  CREATE TRIGGER _800_on_status AFTER UPDATE OF status ON baton.plan_proposals FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg_plan_proposals__on_status()
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE ( SELECT baton_private.current_api_role() AS current_api_role)
    WHEN 'admin'::text THEN true
    WHEN 'baton_user'::text THEN (owner_id = ( SELECT baton_private.current_owner_id() AS current_owner_id))
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

table baton.questions (rls, forced)
  comment: @behavior -insert -update -delete A question an agent asked while working on a task (`baton ask`), and its answer. While it is open its task is `waiting`. Status: open -> answered (by the owner: answerQuestion, `baton directive answer`, or a DBA's UPDATE) | expired (its timeout passed) | cancelled (the agent gave up, or its task ended or moved on). answered, expired and cancelled are final.
  id uuid not null default gen_random_uuid() -- The question's id (what `baton directive answer` takes).
  owner_id uuid not null -- The owner (copied from the task for row-level security).
  directive_id uuid not null -- The directive whose task asks.
  task_id uuid not null -- The task whose agent asks; it is `waiting` while the question is open.
  step_id uuid -- The step the task attempts (null for a planning task).
  question text not null -- The question, as the agent wrote it (at most 16 KiB).
  choices text[] -- The answers the agent accepts (2 to 20); null for a free-text answer. An answer must be one of them.
  status baton.question_status not null default 'open'::baton.question_status -- @behavior +filterBy open, answered, expired or cancelled.
  answer text -- The answer (at most 16 KiB); set when answered, null otherwise.
  answered_at timestamp with time zone -- When it was answered.
  closed_at timestamp with time zone -- When it stopped being open (answered, expired or cancelled); the task's stall clock restarts from here.
  expires_at timestamp with time zone -- When it expires unanswered (the agent's --timeout); null: it waits until answered or its task ends.
  created_at timestamp with time zone not null default now() -- When it was asked.
  constraint answer_is_a_choice CHECK (((answer IS NULL) OR (choices IS NULL) OR (answer = ANY (choices))))
  constraint answer_is_valid CHECK (((answer IS NULL) OR ((length(btrim(answer)) >= 1) AND (octet_length(answer) <= 16384))))
  constraint answer_only_when_answered CHECK (((status = 'answered'::baton.question_status) = (answer IS NOT NULL)))
  constraint answered_at_only_when_answered CHECK (((status = 'answered'::baton.question_status) = (answered_at IS NOT NULL)))
  constraint choices_are_valid CHECK (((choices IS NULL) OR (((cardinality(choices) >= 2) AND (cardinality(choices) <= 20)) AND (array_position(choices, NULL::text) IS NULL) AND (array_ndims(choices) = 1))))
  constraint closed_at_only_when_closed CHECK (((status <> 'open'::baton.question_status) = (closed_at IS NOT NULL)))
  constraint question_is_valid CHECK (((length(btrim(question)) >= 1) AND (octet_length(question) <= 16384)))
  constraint questions_directive_id_fkey FOREIGN KEY (directive_id) REFERENCES baton.directives(id) ON DELETE CASCADE
  constraint questions_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint questions_pkey PRIMARY KEY (id)
  constraint questions_step_id_fkey FOREIGN KEY (step_id) REFERENCES baton.directive_steps(id) ON DELETE SET NULL
  constraint questions_task_id_fkey FOREIGN KEY (task_id) REFERENCES baton.tasks(id) ON DELETE CASCADE
  CREATE INDEX questions_directive_idx ON baton.questions USING btree (directive_id, created_at)
  CREATE INDEX questions_expiring_idx ON baton.questions USING btree (expires_at) WHERE ((status = 'open'::baton.question_status) AND (expires_at IS NOT NULL))
  CREATE INDEX questions_owner_open_idx ON baton.questions USING btree (owner_id, created_at) WHERE (status = 'open'::baton.question_status)
  CREATE UNIQUE INDEX questions_pkey ON baton.questions USING btree (id)
  CREATE INDEX questions_status_idx ON baton.questions USING btree (directive_id, status)
  CREATE INDEX questions_step_idx ON baton.questions USING btree (step_id)
  CREATE INDEX questions_task_idx ON baton.questions USING btree (task_id, closed_at)
  CREATE TRIGGER _200_check_insert BEFORE INSERT ON baton.questions FOR EACH ROW EXECUTE FUNCTION baton_private.tg_questions__check_insert()
  CREATE TRIGGER _200_guard BEFORE UPDATE ON baton.questions FOR EACH ROW EXECUTE FUNCTION baton_private.tg_questions__guard()
  CREATE TRIGGER _800_asked AFTER INSERT ON baton.questions FOR EACH ROW EXECUTE FUNCTION baton_private.tg_questions__asked()
  CREATE TRIGGER _800_closed AFTER UPDATE OF status ON baton.questions FOR EACH ROW WHEN (((old.status = 'open'::baton.question_status) AND (new.status <> 'open'::baton.question_status))) EXECUTE FUNCTION baton_private.tg_questions__closed()
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE ( SELECT baton_private.current_api_role() AS current_api_role)
    WHEN 'admin'::text THEN true
    WHEN 'baton_user'::text THEN (owner_id = ( SELECT baton_private.current_owner_id() AS current_owner_id))
    WHEN 'baton_agent'::text THEN (directive_id = ( SELECT baton_private.current_agent_directive_id() AS current_agent_directive_id))
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

table baton.step_dependencies (rls, forced)
  comment: @behavior -insert -update -delete An edge of the DAG: step_id waits for depends_on_step_id. Changed only through add_step, batch_add_steps, set_step_dependencies and remove_step, which reject cycles.
  step_id uuid not null -- The waiting step.
  depends_on_step_id uuid not null -- The step it waits for.
  directive_id uuid not null -- The directive both steps belong to.
  owner_id uuid not null -- The owner (for row-level security).
  created_at timestamp with time zone not null default now() -- When the edge was added.
  constraint not_self_dependent CHECK ((step_id <> depends_on_step_id))
  constraint step_dependencies_depends_on_step_id_fkey FOREIGN KEY (depends_on_step_id) REFERENCES baton.directive_steps(id) ON DELETE CASCADE
  constraint step_dependencies_directive_id_fkey FOREIGN KEY (directive_id) REFERENCES baton.directives(id) ON DELETE CASCADE
  constraint step_dependencies_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint step_dependencies_pkey PRIMARY KEY (step_id, depends_on_step_id)
  constraint step_dependencies_step_id_fkey FOREIGN KEY (step_id) REFERENCES baton.directive_steps(id) ON DELETE CASCADE
  CREATE INDEX step_dependencies_depends_on_idx ON baton.step_dependencies USING btree (depends_on_step_id)
  CREATE INDEX step_dependencies_owner_idx ON baton.step_dependencies USING btree (owner_id)
  CREATE UNIQUE INDEX step_dependencies_pkey ON baton.step_dependencies USING btree (step_id, depends_on_step_id)
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE ( SELECT baton_private.current_api_role() AS current_api_role)
    WHEN 'admin'::text THEN true
    WHEN 'baton_user'::text THEN (owner_id = ( SELECT baton_private.current_owner_id() AS current_owner_id))
    WHEN 'baton_agent'::text THEN (directive_id = ( SELECT baton_private.current_agent_directive_id() AS current_agent_directive_id))
    WHEN 'baton_daemon'::text THEN (directive_id IN ( SELECT baton_private.daemon_directive_ids() AS daemon_directive_ids))
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

view baton.step_usage
  comment: Usage per step: every attempt's tokens and cost added up (0 when nothing was reported).
  step_id uuid -- The step.
  directive_id uuid -- Its directive.
  owner_id uuid -- Its owner.
  step_name text -- The step's name.
  reported_tasks integer -- How many of its tasks (attempts) reported usage.
  input_tokens bigint -- Input tokens of all its attempts.
  output_tokens bigint -- Output tokens of all its attempts.
  cost_usd numeric(16,6) -- Cost in USD of all its attempts.
  as SELECT s.id AS step_id, s.directive_id, s.owner_id, s.name AS step_name, count(t.id) FILTER (WHERE t.input_tokens IS NOT NULL OR t.output_tokens IS NOT NULL OR t.cost_usd IS NOT NULL)::integer AS reported_tasks, COALESCE(sum(t.input_tokens), 0::numeric)::bigint AS input_tokens, COALESCE(sum(t.output_tokens), 0::numeric)::bigint AS output_tokens, COALESCE(sum(t.cost_usd), 0::numeric)::numeric(16,6) AS cost_usd FROM baton.directive_steps s LEFT JOIN baton.tasks t ON t.step_id = s.id GROUP BY s.id;
  grant SELECT to baton_agent
  grant SELECT to baton_user

view baton.step_waits
  comment: Why steps wait: for every pending or blocked step, each dependency it still waits for and that dependency's status; for every ready step that cannot go to a daemon now, the reason (e.g. "no connected daemon has label codex").
  step_id uuid -- The waiting step.
  directive_id uuid -- Its directive.
  owner_id uuid -- Its owner.
  step_name text -- The waiting step's name.
  step_status baton.step_status -- pending or blocked (waiting for a dependency), or ready (waiting for a daemon).
  waits_for_step_id uuid -- A dependency that is not completed or skipped (null on a ready step's row).
  waits_for_name text -- Its name.
  waits_for_status baton.step_status -- Its status (failed or blocked explains a blocked step).
  reason text -- Why the step waits, in words: "waits for step NAME (STATUS)", "no connected daemon has label LABEL", or that its directive or owner runs its max_parallel.
  as SELECT s.id AS step_id, s.directive_id, s.owner_id, s.name AS step_name, s.status AS step_status, p.id AS waits_for_step_id, p.name AS waits_for_name, p.status AS waits_for_status, format('waits for step %s (%s)'::text, p.name, p.status) AS reason FROM baton.directive_steps s JOIN baton.step_dependencies d ON d.step_id = s.id JOIN baton.directive_steps p ON p.id = d.depends_on_step_id WHERE (s.status = ANY (ARRAY['pending'::baton.step_status, 'blocked'::baton.step_status])) AND NOT baton_private.step_satisfies_dependents(p.status) UNION ALL SELECT s.id AS step_id, s.directive_id, s.owner_id, s.name AS step_name, s.status AS step_status, NULL::uuid AS waits_for_step_id, NULL::text AS waits_for_name, NULL::baton.step_status AS waits_for_status, r.reason FROM baton.directive_steps s CROSS JOIN LATERAL ( SELECT baton_private.step_dispatch_problem(s.id) AS reason) r WHERE s.status = 'ready'::baton.step_status AND r.reason IS NOT NULL;
  grant SELECT to baton_agent
  grant SELECT to baton_user

table baton.task_output (rls, forced)
  comment: @behavior -insert -update -delete The output of a task's agent process, in chunks as its daemon sent them (stdout and stderr interleaved in arrival order). At most 1 MiB (1,048,576 bytes) of text per task; past that one `baton` chunk marks the truncation and later output is dropped. Written only through appendTaskOutput.
  id bigint not null -- The chunk's id (increasing across all tasks).
  task_id uuid not null -- The task whose agent wrote this output.
  owner_id uuid not null -- The owner (copied from the task for row-level security).
  directive_id uuid not null -- The task's directive (copied from the task for row-level security).
  daemon_id uuid -- The daemon the task was assigned to when the chunk was written (copied for row-level security).
  seq integer not null -- The chunk's position in the task's output: 1, 2, 3, ... Read chunks after the last seq you saw.
  stream text not null -- `stdout` or `stderr` for the agent's own output; `baton` for the truncation marker Baton writes when the cap is reached.
  text text not null -- The chunk's text (UTF-8, 1 byte to 256 KiB).
  byte_offset integer not null -- How many bytes of stdout and stderr the task had written before this chunk (the marker does not count).
  created_at timestamp with time zone not null default now() -- When the chunk was stored.
  constraint byte_offset_is_valid CHECK (((byte_offset >= 0) AND (byte_offset <= 1048576)))
  constraint output_fits_the_cap CHECK (((stream = 'baton'::text) OR ((byte_offset + octet_length(text)) <= 1048576)))
  constraint seq_is_positive CHECK ((seq >= 1))
  constraint stream_is_valid CHECK ((stream = ANY (ARRAY['stdout'::text, 'stderr'::text, 'baton'::text])))
  constraint task_output_pkey PRIMARY KEY (id)
  constraint task_output_task_id_fkey FOREIGN KEY (task_id) REFERENCES baton.tasks(id) ON DELETE CASCADE
  constraint text_is_valid CHECK (((octet_length(text) >= 1) AND (octet_length(text) <= 262144)))
  CREATE UNIQUE INDEX task_output_one_truncation_marker ON baton.task_output USING btree (task_id) WHERE (stream = 'baton'::text)
  CREATE UNIQUE INDEX task_output_pkey ON baton.task_output USING btree (id)
  CREATE UNIQUE INDEX task_output_task_seq_idx ON baton.task_output USING btree (task_id, seq)
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE baton_private.current_api_role()
    WHEN 'baton_user'::text THEN (owner_id = baton_private.current_owner_id())
    WHEN 'baton_daemon'::text THEN (daemon_id = baton_private.current_daemon_id())
    WHEN 'baton_agent'::text THEN (directive_id = baton_private.current_agent_directive_id())
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

table baton.tasks (rls, forced)
  comment: @behavior -insert -update -delete One run of a coding agent on a daemon: an attempt at a step (kind `execution`) or a planning run of a directive (kind `planning`). Status: pending (waiting for a daemon) -> starting (assigned) -> running -> completed | failed | interrupted; running -> waiting (its agent asked a question) -> running (answered, expired or cancelled); waiting -> checking | completed | failed | interrupted (it ended while waiting; its open questions are cancelled); running or waiting -> checking (the agent exited 0 and the step's check runs) -> completed | failed | interrupted; pending, starting, running, waiting or checking -> cancelled. Terminal states are final.
  id uuid not null default gen_random_uuid() -- The task's id.
  owner_id uuid not null -- The owner (copied from the directive for row-level security).
  directive_id uuid not null -- The directive the task works for.
  step_id uuid -- The step this task attempts (execution tasks only).
  kind text not null -- `planning` (plan or re-plan the directive), `execution` (do one step) or `integration` (merge the sink steps' branches into the directive's result branch, check and push it).
  status baton.task_status not null default 'pending'::baton.task_status -- @behavior +filterBy pending, starting, running, waiting (its agent asked a question and waits for the answer), checking (the agent exited 0 and its check runs), completed, failed, interrupted or cancelled.
  version integer not null default 1 -- Bumped on every change. Reports may carry the version they saw; a stale one is rejected.
  attempt integer -- For execution tasks: which attempt of the step this is (1, 2, ...), counted over the step's whole life. For integration tasks: which attempt of the current integration (1, 2).
  generation integer -- For planning tasks: the generation number the plan's new steps get.
  goal_revision integer -- For planning tasks: the goal revision being planned.
  daemon_id uuid -- @behavior +filterBy The daemon the task is assigned to; null while pending.
  prompt text -- The prompt given to the agent on stdin (at most 1 MB).
  error text -- Why the task failed or was interrupted (the tail of the agent's stderr, or the server's reason).
  branch text -- The git branch the task worked on, if the directive has a repository; for an integration task, the result branch it pushed.
  commit_sha text -- The final commit of the task's branch, recorded when it completed (for an integration task: the result commit).
  created_at timestamp with time zone not null default now() -- When the task was created.
  updated_at timestamp with time zone not null default now() -- When this row last changed.
  assigned_at timestamp with time zone -- When the task was assigned to a daemon.
  started_at timestamp with time zone -- When the agent process started.
  finished_at timestamp with time zone -- When the task reached a terminal state.
  ready_at timestamp with time zone -- When the task's work became ready to dispatch (its step became ready, or the directive was activated or its goal updated); dispatch latency is assigned_at - ready_at. Null for tasks created before Baton recorded it.
  check_command text -- The check this attempt runs after its agent exits 0 (its step's check, else its directive's), fixed when the task was created; null when there is none (and for planning tasks). While it runs the task is `checking`.
  result_url text -- For integration tasks: the first http(s) URL the directive's on-complete command printed (e.g. a pull request), reported with completed.
  input_tokens bigint -- Input tokens its agent used, as reported with report_task_usage (summed over reports); null when none was reported.
  output_tokens bigint -- Output tokens its agent used (summed over reports); null when none was reported.
  cost_usd numeric(16,6) -- What its agent cost in USD (summed over reports); null when none was reported.
  constraint attempt_when_execution_or_integration CHECK (((kind = ANY (ARRAY['execution'::text, 'integration'::text])) = (attempt IS NOT NULL)))
  constraint daemon_when_assigned CHECK (((status = ANY (ARRAY['pending'::baton.task_status, 'completed'::baton.task_status, 'failed'::baton.task_status, 'interrupted'::baton.task_status, 'cancelled'::baton.task_status])) OR (daemon_id IS NOT NULL)))
  constraint error_is_valid CHECK (((error IS NULL) OR (octet_length(error) <= 65536)))
  constraint finished_at_only_when_terminal CHECK (((status = ANY (ARRAY['completed'::baton.task_status, 'failed'::baton.task_status, 'interrupted'::baton.task_status, 'cancelled'::baton.task_status])) = (finished_at IS NOT NULL)))
  constraint integration_completes_with_result CHECK (((kind <> 'integration'::text) OR (status <> 'completed'::baton.task_status) OR ((branch IS NOT NULL) AND (commit_sha IS NOT NULL))))
  constraint kind_is_valid CHECK ((kind = ANY (ARRAY['planning'::text, 'execution'::text, 'integration'::text])))
  constraint planning_has_generation CHECK (((kind = 'planning'::text) = ((generation IS NOT NULL) AND (goal_revision IS NOT NULL))))
  constraint prompt_is_valid CHECK (((prompt IS NULL) OR (octet_length(prompt) <= 1048576)))
  constraint result_url_is_valid CHECK (((result_url IS NULL) OR ((kind = 'integration'::text) AND (result_url ~ '^https?://[^[:space:]]+$'::text) AND (octet_length(result_url) <= 2048))))
  constraint step_only_for_execution CHECK (((step_id IS NULL) OR (kind = 'execution'::text)))
  constraint tasks_daemon_id_fkey FOREIGN KEY (daemon_id) REFERENCES baton.daemons(id) ON DELETE SET NULL
  constraint tasks_directive_id_fkey FOREIGN KEY (directive_id) REFERENCES baton.directives(id) ON DELETE CASCADE
  constraint tasks_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint tasks_pkey PRIMARY KEY (id)
  constraint tasks_step_id_fkey FOREIGN KEY (step_id) REFERENCES baton.directive_steps(id) ON DELETE SET NULL
  constraint tasks_usage_not_negative CHECK (((COALESCE(input_tokens, (0)::bigint) >= 0) AND (COALESCE(output_tokens, (0)::bigint) >= 0) AND (COALESCE(cost_usd, (0)::numeric) >= (0)::numeric)))
  CREATE INDEX tasks_daemon_directive_idx ON baton.tasks USING btree (daemon_id, directive_id) WHERE (daemon_id IS NOT NULL)
  CREATE INDEX tasks_daemon_live_idx ON baton.tasks USING btree (daemon_id) WHERE (status <> ALL (ARRAY['pending'::baton.task_status, 'completed'::baton.task_status, 'failed'::baton.task_status, 'interrupted'::baton.task_status, 'cancelled'::baton.task_status]))
  CREATE INDEX tasks_directive_idx ON baton.tasks USING btree (directive_id, created_at)
  CREATE INDEX tasks_directive_live_idx ON baton.tasks USING btree (directive_id, assigned_at) WHERE (status <> ALL (ARRAY['pending'::baton.task_status, 'completed'::baton.task_status, 'failed'::baton.task_status, 'interrupted'::baton.task_status, 'cancelled'::baton.task_status]))
  CREATE INDEX tasks_directive_pending_idx ON baton.tasks USING btree (directive_id, created_at) WHERE (status = 'pending'::baton.task_status)
  CREATE UNIQUE INDEX tasks_one_live_integration_per_directive ON baton.tasks USING btree (directive_id) WHERE ((kind = 'integration'::text) AND (status <> ALL (ARRAY['completed'::baton.task_status, 'failed'::baton.task_status, 'interrupted'::baton.task_status, 'cancelled'::baton.task_status])))
  CREATE UNIQUE INDEX tasks_one_live_per_step ON baton.tasks USING btree (step_id) WHERE ((kind = 'execution'::text) AND (status <> ALL (ARRAY['completed'::baton.task_status, 'failed'::baton.task_status, 'interrupted'::baton.task_status, 'cancelled'::baton.task_status])))
  CREATE UNIQUE INDEX tasks_one_live_planner_per_directive ON baton.tasks USING btree (directive_id) WHERE ((kind = 'planning'::text) AND (status <> ALL (ARRAY['completed'::baton.task_status, 'failed'::baton.task_status, 'interrupted'::baton.task_status, 'cancelled'::baton.task_status])))
  CREATE UNIQUE INDEX tasks_one_per_step_attempt ON baton.tasks USING btree (step_id, attempt) WHERE (kind = 'execution'::text)
  CREATE INDEX tasks_owner_idx ON baton.tasks USING btree (owner_id)
  CREATE INDEX tasks_pending_idx ON baton.tasks USING btree (owner_id, created_at) WHERE (status = 'pending'::baton.task_status)
  CREATE UNIQUE INDEX tasks_pkey ON baton.tasks USING btree (id)
  CREATE TRIGGER _100_stamp_ready_at BEFORE INSERT ON baton.tasks FOR EACH ROW EXECUTE FUNCTION baton_private.tg_tasks__stamp_ready_at()
  CREATE TRIGGER _100_timestamps BEFORE UPDATE ON baton.tasks FOR EACH ROW EXECUTE FUNCTION baton_private.tg__timestamps()
  CREATE TRIGGER _110_stamp_check_command BEFORE INSERT ON baton.tasks FOR EACH ROW EXECUTE FUNCTION baton_private.tg_tasks__stamp_check_command()
  CREATE TRIGGER _200_guard BEFORE UPDATE ON baton.tasks FOR EACH ROW EXECUTE FUNCTION baton_private.tg_tasks__guard()
  CREATE TRIGGER _210_waiting BEFORE UPDATE OF status ON baton.tasks FOR EACH ROW WHEN ((((old.status)::text = 'waiting'::text) OR ((new.status)::text = 'waiting'::text))) EXECUTE FUNCTION baton_private.tg_tasks__waiting()
  CREATE TRIGGER _500_count_status_delete AFTER DELETE ON baton.tasks REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_delete('tasks')
  CREATE TRIGGER _500_count_status_insert AFTER INSERT ON baton.tasks REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_insert('tasks')
  CREATE TRIGGER _500_count_status_truncate AFTER TRUNCATE ON baton.tasks FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__count_status_truncate('tasks')
  CREATE TRIGGER _500_count_status_update AFTER UPDATE ON baton.tasks FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg__count_status_update('tasks')
  CREATE TRIGGER _500_count_usage AFTER UPDATE OF input_tokens, output_tokens, cost_usd ON baton.tasks FOR EACH ROW WHEN (((new.input_tokens IS DISTINCT FROM old.input_tokens) OR (new.output_tokens IS DISTINCT FROM old.output_tokens) OR (new.cost_usd IS DISTINCT FROM old.cost_usd))) EXECUTE FUNCTION baton_private.tg_tasks__count_usage()
  CREATE TRIGGER _500_observe_dispatch_latency_insert AFTER INSERT ON baton.tasks FOR EACH ROW WHEN ((new.assigned_at IS NOT NULL)) EXECUTE FUNCTION baton_private.tg_tasks__observe_dispatch_latency()
  CREATE TRIGGER _500_observe_dispatch_latency_update AFTER UPDATE ON baton.tasks FOR EACH ROW WHEN (((new.assigned_at IS NOT NULL) AND (old.assigned_at IS DISTINCT FROM new.assigned_at))) EXECUTE FUNCTION baton_private.tg_tasks__observe_dispatch_latency()
  CREATE TRIGGER _500_record_created_events AFTER INSERT ON baton.tasks REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg__record_created_events()
  CREATE TRIGGER _500_record_status_event AFTER UPDATE OF status ON baton.tasks FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg__record_status_event()
  CREATE TRIGGER _600_settle_plan_proposal AFTER UPDATE OF status ON baton.tasks FOR EACH ROW WHEN (((new.kind = 'planning'::text) AND (old.status IS DISTINCT FROM new.status) AND ((new.status)::text = ANY (ARRAY['completed'::text, 'failed'::text, 'interrupted'::text, 'cancelled'::text])))) EXECUTE FUNCTION baton_private.tg_tasks__settle_plan_proposal()
  CREATE TRIGGER _600_supersede_plan_proposals AFTER INSERT ON baton.tasks FOR EACH ROW WHEN ((new.kind = 'planning'::text)) EXECUTE FUNCTION baton_private.tg_tasks__supersede_plan_proposals()
  CREATE TRIGGER _800_mirror AFTER UPDATE OF status ON baton.tasks FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg_tasks__mirror()
  CREATE TRIGGER _800_mirror_started AFTER UPDATE ON baton.tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg_tasks__mirror_started()
  CREATE TRIGGER _820_cancel_questions AFTER UPDATE OF status ON baton.tasks FOR EACH ROW WHEN ((((old.status)::text = 'waiting'::text) AND ((new.status)::text <> 'waiting'::text))) EXECUTE FUNCTION baton_private.tg_tasks__cancel_questions()
  CREATE TRIGGER _850_check_budget AFTER UPDATE OF input_tokens, output_tokens, cost_usd ON baton.tasks FOR EACH ROW WHEN (((new.input_tokens IS DISTINCT FROM old.input_tokens) OR (new.output_tokens IS DISTINCT FROM old.output_tokens) OR (new.cost_usd IS DISTINCT FROM old.cost_usd))) EXECUTE FUNCTION baton_private.tg_tasks__check_budget()
  CREATE TRIGGER _900_count_live_delete AFTER DELETE ON baton.tasks REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg_tasks__count_live()
  CREATE TRIGGER _900_count_live_insert AFTER INSERT ON baton.tasks REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg_tasks__count_live()
  CREATE TRIGGER _900_count_live_update AFTER UPDATE ON baton.tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION baton_private.tg_tasks__count_live()
  CREATE TRIGGER _900_notify_daemon AFTER UPDATE OF status ON baton.tasks FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION baton_private.tg_tasks__notify_daemon()
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE baton_private.current_api_role()
    WHEN 'baton_user'::text THEN (owner_id = baton_private.current_owner_id())
    WHEN 'baton_daemon'::text THEN (daemon_id = baton_private.current_daemon_id())
    WHEN 'baton_agent'::text THEN (directive_id = baton_private.current_agent_directive_id())
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

table baton.webhook_deliveries (rls, forced)
  comment: @behavior -insert -update -delete One attempt to deliver a webhook message, and its outcome: the HTTP status, or the error (timeout, refused connection). The newest 100 per webhook are kept (`baton webhook deliveries`).
  id bigint not null -- The attempt's id, in order of attempts.
  owner_id uuid not null -- The webhook's owner.
  webhook_id uuid not null -- The webhook.
  message_id text not null -- The message (the webhook-id header): the same for every attempt of one message, so receivers can deduplicate.
  event text not null -- The event: idle, failed, paused, question or budget.
  attempt integer not null -- 1 for the first attempt, then 2, 3... for the retries.
  status_code integer -- The HTTP status the receiver answered (2xx is delivered); null when there was no answer.
  error text -- Why the attempt failed (no answer within 10 s, connection refused, a non-2xx status); null when delivered.
  duration_ms integer not null -- How long the attempt took, in milliseconds.
  created_at timestamp with time zone not null default now() -- When the attempt ended.
  constraint attempt_is_valid CHECK ((attempt >= 1))
  constraint error_is_valid CHECK (((error IS NULL) OR (length(error) <= 1000)))
  constraint outcome_is_known CHECK (((status_code IS NOT NULL) OR (error IS NOT NULL)))
  constraint webhook_deliveries_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint webhook_deliveries_pkey PRIMARY KEY (id)
  constraint webhook_deliveries_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES baton.webhooks(id) ON DELETE CASCADE
  CREATE INDEX webhook_deliveries_owner_idx ON baton.webhook_deliveries USING btree (owner_id, id)
  CREATE UNIQUE INDEX webhook_deliveries_pkey ON baton.webhook_deliveries USING btree (id)
  CREATE INDEX webhook_deliveries_webhook_idx ON baton.webhook_deliveries USING btree (webhook_id, id)
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE ( SELECT baton_private.current_api_role() AS current_api_role)
    WHEN 'admin'::text THEN true
    WHEN 'baton_user'::text THEN (owner_id = ( SELECT baton_private.current_owner_id() AS current_owner_id))
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

table baton.webhooks (rls, forced)
  comment: @behavior -insert -update -delete A URL that Baton POSTs to, signed the Standard Webhooks way, when one of its events happens to its owner's directives. Add with addWebhook (`baton webhook add`), remove with removeWebhook.
  id uuid not null default gen_random_uuid() -- The webhook's id.
  owner_id uuid not null -- The owner whose events it receives.
  url text not null -- Where deliveries are POSTed: an http or https URL, at most 2048 characters.
  events text[] not null -- The events it receives: idle, failed, paused, question and/or budget.
  created_at timestamp with time zone not null default now() -- When it was added.
  constraint events_are_valid CHECK (((cardinality(events) >= 1) AND (events <@ ARRAY['idle'::text, 'failed'::text, 'paused'::text, 'question'::text, 'budget'::text])))
  constraint url_is_valid CHECK (((url ~* '^https?://[^\s/?#@]+([/?#]\S*)?$'::text) AND (length(url) <= 2048)))
  constraint webhooks_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint webhooks_pkey PRIMARY KEY (id)
  CREATE INDEX webhooks_owner_id_idx ON baton.webhooks USING btree (owner_id)
  CREATE UNIQUE INDEX webhooks_pkey ON baton.webhooks USING btree (id)
  policy definer_all for * to {migrator} using (true)
  policy select_visible for r to public using (
CASE ( SELECT baton_private.current_api_role() AS current_api_role)
    WHEN 'admin'::text THEN true
    WHEN 'baton_user'::text THEN (owner_id = ( SELECT baton_private.current_owner_id() AS current_owner_id))
    ELSE false
END)
  grant SELECT to baton_agent
  grant SELECT to baton_daemon
  grant SELECT to baton_user

table baton_private.metric_counts
  comment: Folded /metrics counters: rows by status of directives, steps, tasks and daemons, and the dispatch latency histogram. Maintained by triggers through metric_deltas; read with metric_counts_snapshot().
  metric text not null -- directives, steps, tasks, daemons (rows by status) or dispatch_latency (observations by bucket).
  label text not null -- The status, or for dispatch_latency the smallest bucket upper bound (seconds) the observation fits in, or +Inf.
  n bigint not null default 0 -- Rows with that status now, or observations in that bucket ever.
  sum double precision not null default 0 -- dispatch_latency only: the observations' total, in seconds.
  constraint metric_counts_pkey PRIMARY KEY (metric, label)
  CREATE UNIQUE INDEX metric_counts_pkey ON baton_private.metric_counts USING btree (metric, label)

table baton_private.metric_deltas
  comment: Changes to metric_counts not yet folded into it; append-only, emptied by fold_metric_deltas(). No index: a fold reads all of it.
  metric text not null -- As metric_counts.metric.
  label text not null -- As metric_counts.label.
  n bigint not null -- The change to metric_counts.n (+1, -1, or a statement's count).
  sum double precision not null default 0 -- The change to metric_counts.sum.

table baton_private.plan_proposal_steps
  comment: The steps of a plan proposal: the live plan when it began (is_new false) as the planner changed it (removed, rewired), and the steps it added (is_new, with the batch entry and the row returned to the planner).
  proposal_id uuid not null
  step_id uuid not null -- The live step's id, or for a new step the id the proposal gave it (what add-step printed to the planner).
  is_new boolean not null
  removed boolean not null default false
  rewired boolean not null default false
  name text not null
  depends_on uuid[] not null default '{}'::uuid[] -- Its dependencies in the proposed plan (ids of steps of the proposal).
  entry jsonb -- A new step's batch_add_steps entry without key and dependsOn.
  step jsonb -- A new step's row as the dry run of batch_add_steps made it (returned to the planner).
  position integer not null -- Order in the proposal: live steps first (by order_index), then new steps as they were added.
  constraint entry_only_when_new CHECK ((is_new = ((entry IS NOT NULL) AND (step IS NOT NULL))))
  constraint new_steps_are_not_removed CHECK ((NOT (is_new AND removed)))
  constraint plan_proposal_steps_pkey PRIMARY KEY (proposal_id, step_id)
  constraint plan_proposal_steps_proposal_id_fkey FOREIGN KEY (proposal_id) REFERENCES baton.plan_proposals(id) ON DELETE CASCADE
  CREATE UNIQUE INDEX plan_proposal_steps_pkey ON baton_private.plan_proposal_steps USING btree (proposal_id, step_id)

table baton_private.settings
  comment: Server-wide settings (one row). `baton server` writes BATON_DAEMON_LEASE_SECONDS here at boot.
  id boolean not null default true
  daemon_lease interval not null default '00:00:30'::interval -- A daemon whose last heartbeat is older than this is disconnected and its tasks interrupted.
  owner_token_ttl interval not null default '30 days'::interval -- How long an owner token lives when no other lifetime is asked for (credentials.json, `baton owner create`, rotateTokens).
  daemon_token_ttl interval not null default '01:00:00'::interval -- How long a daemon token lives; the daemon renews it with daemonToken before then.
  constraint daemon_lease_is_positive CHECK ((daemon_lease > '00:00:00'::interval))
  constraint settings_pkey PRIMARY KEY (id)
  constraint single_row CHECK (id)
  constraint token_ttls_are_positive CHECK (((owner_token_ttl > '00:00:00'::interval) AND (daemon_token_ttl > '00:00:00'::interval)))
  CREATE UNIQUE INDEX settings_pkey ON baton_private.settings USING btree (id)

table baton_private.signin_codes
  comment: One-time sign-in codes for the web dashboard, stored as their SHA-256. Each signs its owner in once, before it expires. No API role reads it.
  code_hash text not null -- The SHA-256 of the code (64 lowercase hex digits); the code itself is stored nowhere.
  owner_id uuid not null -- The owner the code signs in.
  created_at timestamp with time zone not null default now() -- When the code was minted.
  expires_at timestamp with time zone not null -- After this the code no longer signs anyone in.
  used_at timestamp with time zone -- When the code signed its owner in; null while unused. A used code never works again.
  constraint code_hash_is_sha256 CHECK ((code_hash ~ '^[0-9a-f]{64}$'::text))
  constraint expires_after_creation CHECK ((expires_at > created_at))
  constraint signin_codes_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES baton.owners(id) ON DELETE CASCADE
  constraint signin_codes_pkey PRIMARY KEY (code_hash)
  CREATE INDEX signin_codes_expires_idx ON baton_private.signin_codes USING btree (expires_at)
  CREATE INDEX signin_codes_owner_idx ON baton_private.signin_codes USING btree (owner_id)
  CREATE UNIQUE INDEX signin_codes_pkey ON baton_private.signin_codes USING btree (code_hash)

table baton_private.webhook_secrets
  comment: The signing secret of each webhook (raw bytes; shown once as whsec_<base64> by addWebhook). No API role reads it; the deliver_webhook job does.
  webhook_id uuid not null -- The webhook.
  secret bytea not null -- The HMAC-SHA256 key, 32 random bytes.
  constraint secret_is_valid CHECK (((octet_length(secret) >= 24) AND (octet_length(secret) <= 64)))
  constraint webhook_secrets_pkey PRIMARY KEY (webhook_id)
  constraint webhook_secrets_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES baton.webhooks(id) ON DELETE CASCADE
  CREATE UNIQUE INDEX webhook_secrets_pkey ON baton_private.webhook_secrets USING btree (webhook_id)

type baton.jwt_token (role text, owner_id uuid, daemon_id uuid, directive_id uuid, task_id uuid, exp bigint, aud text, gen integer) -- A JWT's claims; the API returns it signed.

type baton.new_webhook (id uuid, url text, events text[], secret text, created_at timestamp with time zone) -- A webhook just added, with its signing secret (shown this once).

type baton.plan_change (proposal_id uuid, step_id uuid, name text, change text, status text, depends_on uuid[], depends_on_names text[], previous_depends_on uuid[], position integer) -- One step of a plan proposal compared with the live plan.

type baton.task_output_receipt (task_id uuid, accepted_chunks integer, accepted_bytes integer, dropped_bytes integer, total_bytes integer, truncated boolean, last_seq integer) -- What appendTaskOutput kept of a batch.

type baton_private.batch_entry (ord integer, id uuid, key text, name text, description text, task_plan text, depends_on text[], order_index integer) -- One validated entry of batch_add_steps, with the id its step will get.

-- baton.add_step(uuid,text,text,text,uuid[],integer,text,integer,integer,text)  (execute: baton_agent,baton_user)
-- comment: Adds one step that depends on existing steps of the same directive; check_command is its own check (replacing the directive's); timeout_seconds and stall_seconds (1 to 2,592,000) limit each of its attempts; agent names the kind of agent it needs (only daemons with that label take it). Returns the new step.
CREATE OR REPLACE FUNCTION baton.add_step(directive_id uuid, name text, description text DEFAULT NULL::text, task_plan text DEFAULT NULL::text, depends_on uuid[] DEFAULT NULL::uuid[], order_index integer DEFAULT NULL::integer, check_command text DEFAULT NULL::text, timeout_seconds integer DEFAULT NULL::integer, stall_seconds integer DEFAULT NULL::integer, agent text DEFAULT NULL::text)
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_step baton.directive_steps;
begin
  perform baton_private.assert_check(check_command);
  perform baton_private.assert_limit('timeout', add_step.timeout_seconds);
  perform baton_private.assert_limit('stall limit', add_step.stall_seconds);
  if agent is not null and baton_private.label_problem(agent) is not null then
    raise exception 'The agent % is not valid: %.', to_jsonb(agent)::text, baton_private.label_problem(agent)
      using errcode = 'BTINV', hint = 'For example claude or codex: daemons started with that --label take the step.';
  end if;
  select * into v_step from baton.batch_add_steps(add_step.directive_id, jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
    'name', add_step.name, 'description', add_step.description, 'taskPlan', add_step.task_plan,
    'dependsOn', to_jsonb(add_step.depends_on), 'orderIndex', add_step.order_index, 'check', add_step.check_command,
    'timeout', add_step.timeout_seconds, 'stall', add_step.stall_seconds, 'agent', add_step.agent))));
  return v_step;
end;
$function$

-- baton.add_webhook(text,text[],uuid)  (execute: baton_user)
-- comment: Adds a webhook: Baton POSTs to url (http or https) when one of events happens (idle, failed, paused, question, budget), signed with the returned secret the Standard Webhooks way. The secret is shown only here. At most 20 webhooks per owner. owner_id is for admins; with an owner token leave it out.
CREATE OR REPLACE FUNCTION baton.add_webhook(url text, events text[], owner_id uuid DEFAULT NULL::uuid)
 RETURNS baton.new_webhook
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner uuid := baton_private.resolve_owner(add_webhook.owner_id);
  v_events text[];
  v_unknown text[];
  v_url text := btrim(coalesce(url, ''));
  -- Two random UUIDs (pg_strong_random, 244 random bits) as 32 bytes: no pgcrypto needed.
  v_secret bytea := uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
  v_hook baton.webhooks;
begin
  if v_url !~* '^[a-z][a-z0-9+.-]*:' then
    raise exception 'A webhook URL must be an http or https URL (got "%").', left(v_url, 200)
      using errcode = 'BTINV', hint = 'For example https://example.com/hooks/baton.';
  end if;
  if v_url !~* '^https?:' then
    raise exception 'A webhook URL must use http or https (got "%:").', split_part(v_url, ':', 1)
      using errcode = 'BTINV', hint = 'For example https://example.com/hooks/baton.';
  end if;
  if v_url !~* '^https?://[^\s/?#@]+([/?#]\S*)?$' or length(v_url) > 2048 then
    raise exception 'A webhook URL must be http(s)://host[:port][/path], without spaces, credentials or more than 2048 characters (got "%").', left(v_url, 200)
      using errcode = 'BTINV', hint = 'For example https://example.com/hooks/baton.';
  end if;
  select array_agg(distinct lower(btrim(e))) filter (where btrim(e) <> '') into v_events from unnest(events) e;
  if v_events is null then
    raise exception 'A webhook needs at least one event; the events are %.', array_to_string(baton_private.webhook_events(), ', ')
      using errcode = 'BTINV', hint = 'For example --events idle,failed.';
  end if;
  select array_agg(e) into v_unknown from unnest(v_events) e where e <> all (baton_private.webhook_events());
  if v_unknown is not null then
    raise exception 'Unknown webhook event%: %. The events are %.', case when cardinality(v_unknown) > 1 then 's' else '' end,
      array_to_string(v_unknown, ', '), array_to_string(baton_private.webhook_events(), ', ')
      using errcode = 'BTINV';
  end if;
  -- In the order of the vocabulary, so listings read the same whatever order they were given in.
  v_events := array(select e from unnest(baton_private.webhook_events()) e where e = any (v_events));
  perform 1 from baton.owners o where o.id = v_owner for update;  -- serialises the limit check per owner
  if (select count(*) from baton.webhooks w where w.owner_id = v_owner) >= baton_private.webhook_limit() then
    raise exception 'You have % webhooks, the most one owner may have.', baton_private.webhook_limit()
      using errcode = 'BTINV', hint = 'Remove one with `baton webhook remove ID` (see `baton webhook list`).';
  end if;
  insert into baton.webhooks (owner_id, url, events) values (v_owner, v_url, v_events) returning * into v_hook;
  insert into baton_private.webhook_secrets (webhook_id, secret) values (v_hook.id, v_secret);
  return row(v_hook.id, v_hook.url, v_hook.events, 'whsec_' || replace(encode(v_secret, 'base64'), E'\n', ''), v_hook.created_at)::baton.new_webhook;
end;
$function$

-- baton.answer_question(uuid,text)  (execute: baton_user)
-- comment: Answers an open question (its owner only): the agent's `baton ask` prints the answer and its task runs again. For a question with choices the answer must be one of them (case and surrounding spaces ignored; BTINV names the choices otherwise). A question that is not open is refused (BTSTS).
CREATE OR REPLACE FUNCTION baton.answer_question(question_id uuid, answer text)
 RETURNS baton.questions
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_question baton.questions;
begin
  perform baton_private.assert_token_live();
  -- GUARD: another owner's question is answered like a missing one, before any lock could name its directive.
  select * into v_question from baton.questions q where q.id = answer_question.question_id;
  if not found or (baton_private.current_api_role() <> 'admin' and v_question.owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Question % does not exist.', question_id
      using errcode = 'BTNFD', hint = 'List the open questions with `baton directive questions`.';
  end if;
  -- LOCK ORDER: the directive, the task, then the question.
  perform baton_private.lock_directive(v_question.directive_id);
  perform 1 from baton.tasks t where t.id = v_question.task_id for update;
  select * into v_question from baton.questions q where q.id = answer_question.question_id for update;
  if v_question.status <> 'open' then
    raise exception 'Question % is %, so it cannot be answered; only open questions can.', v_question.id, v_question.status
      using errcode = 'BTSTS', detail = format('from=%s to=answered', v_question.status),
            hint = case v_question.status when 'answered' then format('It was answered at %s: %s', v_question.answered_at, left(v_question.answer, 200))
                   else 'Its agent no longer waits for it; `baton directive questions` lists the open ones.' end;
  end if;
  update baton.questions q set status = 'answered', answer = answer_question.answer
   where q.id = v_question.id
  returning * into v_question;
  return v_question;
end;
$function$

-- baton.append_task_output(uuid,jsonb)  (execute: baton_daemon)
-- comment: Appends a batch of a task's output: chunks is a JSON array of {"stream": "stdout" | "stderr", "text": "..."} (at most 1,000 chunks and 256 KiB per call; empty texts are skipped). Only the daemon the task is assigned to may call it. A task keeps at most 1 MiB of output: past that, one truncation marker is stored and later output is dropped (the receipt says so). Each batch that stores something records an `output` event on the task.
CREATE OR REPLACE FUNCTION baton.append_task_output(task_id uuid, chunks jsonb)
 RETURNS baton.task_output_receipt
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.assert_token_live();
  return baton_private.append_task_output(task_id, chunks);
end;
$function$

-- baton.approve_plan(uuid)  (execute: baton_user)
-- comment: Approves the plan waiting for review on a directive: applied to the live plan at once and atomically (new steps added, steps re-wired and removed), after which its steps run as usual. Refused when no plan waits (BTNFD), while the planner still writes it, or when the live plan changed so that it no longer fits (BTSTS). Owner only.
CREATE OR REPLACE FUNCTION baton.approve_plan(directive_id uuid)
 RETURNS baton.plan_proposals
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.archive_directive(uuid)  (execute: baton_user)
-- comment: Archives a directive for good: pending tasks are cancelled and running ones interrupted.
CREATE OR REPLACE FUNCTION baton.archive_directive(directive_id uuid)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return baton_private.transition_directive(baton_private.lock_directive(directive_id), 'archived', 'archived');
end;
$function$

-- baton.ask_question(uuid,text,text[],integer)  (execute: baton_agent)
-- comment: Asks the owner a question on behalf of a running task (its agent's token, for its own task): the task becomes `waiting` until the question is answered, expires after timeout_seconds (1 to 2,592,000; null: no timeout) or is cancelled. choices (2 to 20) limit the answers to those. Raises the `question` webhook event. Returns the question; its agent then waits for its status to leave open (`baton ask` does).
CREATE OR REPLACE FUNCTION baton.ask_question(task_id uuid, question text, choices text[] DEFAULT NULL::text[], timeout_seconds integer DEFAULT NULL::integer)
 RETURNS baton.questions
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task baton.tasks := baton_private.lock_asking_task(ask_question.task_id);
  v_question baton.questions;
begin
  perform baton_private.assert_limit('question timeout', ask_question.timeout_seconds);
  insert into baton.questions (task_id, owner_id, directive_id, question, choices, expires_at)
  values (v_task.id, v_task.owner_id, v_task.directive_id, ask_question.question, ask_question.choices,
          case when ask_question.timeout_seconds is not null then now() + make_interval(secs => ask_question.timeout_seconds) end)
  returning * into v_question;
  return v_question;
end;
$function$

-- baton.assign_task(uuid)
-- comment: Assigns a pending task to a connected daemon of its owner with room and its step's agent among its labels (preferring one its step has not failed on, then the least loaded), within its directive's and owner's max_parallel; marks it starting and NOTIFYs the daemon. Returns null when it cannot go anywhere now; the task then waits and is dispatched when room appears.
CREATE OR REPLACE FUNCTION baton.assign_task(task_id uuid)
 RETURNS baton.tasks
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task baton.tasks;
  v_directive baton.directives;
begin
  select * into v_task from baton.tasks t where t.id = assign_task.task_id;
  if not found then
    raise exception 'Task % does not exist.', task_id using errcode = 'BTNFD';
  end if;
  v_directive := baton_private.lock_directive(v_task.directive_id);
  select * into v_task from baton.tasks t where t.id = assign_task.task_id;
  if v_task.status <> 'pending' then
    return v_task;
  end if;
  if v_directive.status <> 'active' then
    return null;
  end if;
  if baton_private.assign_one_task(v_task.id, false) then
    select * into v_task from baton.tasks t where t.id = assign_task.task_id;
    return v_task;
  end if;
  return null;
end;
$function$

-- baton.batch_add_steps(uuid,jsonb)  (execute: baton_agent,baton_user)
-- comment: Adds steps atomically from a JSON array of {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?, "timeout"?, "stall"?, "agent"?}. A dependsOn entry is a step id of this directive or the key of another entry of the batch (earlier or later). "check" is a shell command run after the step's agent exits 0; the step completes only if it passes. "timeout" and "stall" limit each attempt of the step ("30m", "1h30m" or seconds). "agent" names the kind of agent the step needs (e.g. "claude"): only daemons with that label take it. Cycles, unknown ids and bad fields reject the whole batch. Returns the new steps in input order.
CREATE OR REPLACE FUNCTION baton.batch_add_steps(directive_id uuid, steps jsonb)
 RETURNS SETOF baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.cancel_question(uuid)  (execute: baton_agent,baton_user)
-- comment: Withdraws an open question (its task's agent, e.g. when `baton ask` is interrupted or gives up, or its owner): it becomes cancelled, or expired when its deadline has passed, and its task runs again when no other question is open. Cancelling a cancelled question changes nothing.
CREATE OR REPLACE FUNCTION baton.cancel_question(question_id uuid)
 RETURNS baton.questions
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_question baton.questions;
begin
  perform baton_private.assert_token_live();
  select * into v_question from baton.questions q where q.id = cancel_question.question_id;
  if not found
     or (baton_private.current_api_role() = 'baton_user' and v_question.owner_id is distinct from baton_private.current_owner_id())
     or (baton_private.current_api_role() = 'baton_agent' and v_question.task_id is distinct from baton_private.setting_uuid('baton.task_id')) then
    raise exception 'Question % does not exist.', question_id using errcode = 'BTNFD';
  end if;
  if baton_private.current_api_role() = 'baton_agent' then
    perform baton_private.lock_asking_task(v_question.task_id);
  else
    perform baton_private.lock_directive(v_question.directive_id);
    perform 1 from baton.tasks t where t.id = v_question.task_id for update;
  end if;
  select * into v_question from baton.questions q where q.id = cancel_question.question_id for update;
  if v_question.status = 'cancelled' then
    return v_question;
  end if;
  if v_question.status <> 'open' then
    raise exception 'Question % is %, so it cannot be cancelled; only open questions can.', v_question.id, v_question.status
      using errcode = 'BTSTS', detail = format('from=%s to=cancelled', v_question.status);
  end if;
  -- Past its deadline it is what the sweep would have made it: expired, not cancelled.
  update baton.questions q set status = (case when q.expires_at <= now() then 'expired' else 'cancelled' end)::baton.question_status
   where q.id = v_question.id
  returning * into v_question;
  return v_question;
end;
$function$

-- baton.cancel_task(uuid,boolean)  (execute: baton_user)
-- comment: Stops one live (pending, starting, running or checking) task: it becomes `cancelled` (its attempt is given back) and its daemon is told to stop the agent. Without retry its step is failed by hand (dependents stay blocked until retry-step or skip-step); with retry => true the step is ready again at once. A cancelled planner or integration pauses its directive; with retry the directive is resumed and plans or integrates again.
CREATE OR REPLACE FUNCTION baton.cancel_task(task_id uuid, retry boolean DEFAULT false)
 RETURNS baton.tasks
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task baton.tasks;
  v_directive baton.directives;
begin
  -- GUARD: another owner's task is answered like a missing one, before lock_directive could name its directive.
  select * into v_task from baton.tasks t where t.id = cancel_task.task_id;
  if not found or (baton_private.current_api_role() <> 'admin' and v_task.owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Task % does not exist.', task_id
      using errcode = 'BTNFD', hint = 'See the tasks of a directive with `baton directive status`.';
  end if;
  v_directive := baton_private.lock_directive(v_task.directive_id);
  perform 1 from baton.directive_steps s where s.id = v_task.step_id for update;
  select * into v_task from baton.tasks t where t.id = cancel_task.task_id for update;
  if not baton_private.task_is_live(v_task.status) then
    raise exception 'Task % is %, so it cannot be cancelled; only % tasks can.', v_task.id, v_task.status,
      baton_private.or_list(array(select x from unnest(baton_private.task_statuses()) x where baton_private.task_is_live(x::baton.task_status)))
      using errcode = 'BTSTS', detail = format('from=%s to=cancelled', v_task.status),
            hint = case when v_task.kind = 'planning' then 'To plan again, resume the directive with `baton directive start`.'
                        when v_task.kind = 'integration' then 'An integration runs again when new work settles, or when its paused directive is resumed with `baton directive start`.'
                        when exists (select 1 from baton.directive_steps s where s.id = v_task.step_id and baton_private.step_blocks_dependents(s.status))
                          then 'To run its step again, use `baton directive retry-step ' || v_task.step_id || '`.'
                        else 'Only a live attempt can be stopped; `baton directive status --json` shows each step''s current one (currentTask).' end;
  end if;
  update baton.tasks t
     set status = 'cancelled',
         error = case when retry then case when t.kind = 'execution' then 'Cancelled by hand (baton task cancel --retry); the step runs again.'
                                           else 'Cancelled by hand (baton task cancel --retry); it runs again.' end
                      else 'Cancelled by hand (baton task cancel).' end
   where t.id = v_task.id
  returning * into v_task;
  if v_task.kind = 'execution' and not retry then
    -- The mirror made the step ready again; stopped by hand, it waits for retry-step instead.
    update baton.directive_steps s set status = 'failed'
     where s.id = v_task.step_id and s.current_task_id = v_task.id and s.status = 'ready';
  elsif v_task.kind in ('planning', 'integration') and retry and v_directive.status = 'active' then
    -- The mirror paused the directive, as for any planner or integration that did not complete:
    -- resume it, which plans or integrates again.
    perform baton_private.transition_directive(baton_private.lock_directive(v_directive.id), 'active', 'resumed', allowed => array['paused']);
  end if;
  select * into v_task from baton.tasks t where t.id = v_task.id;
  return v_task;
end;
$function$

-- baton.complete_step(uuid)  (execute: baton_user)
-- comment: Marks a step completed by hand (its task, if any, is cancelled); its dependents may become ready.
CREATE OR REPLACE FUNCTION baton.complete_step(step_id uuid)
 RETURNS baton.directive_steps
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select * from baton_private.override_step(step_id, 'completed', 'completed');
$function$

-- baton.create_directive(text,text,text,text,boolean,uuid,text,integer,integer,text,text)  (execute: baton_user)
-- comment: Creates a directive in `draft` (or `active` with start => true). repo is a git URL or local path; base_branch defaults to main; check_command is the check every step attempt (and the integration) must pass after its agent exits 0 (a step's own check replaces it); timeout_seconds and stall_seconds (1 to 2,592,000) limit each attempt of its tasks. When every step is settled, the sinks' branches are merged into target_branch (default baton/<directive-short>/result), checked and pushed, then on_complete_command runs there. owner_id is only for direct SQL; API callers act as the owner in their token.
CREATE OR REPLACE FUNCTION baton.create_directive(title text, goal text, repo text DEFAULT NULL::text, base_branch text DEFAULT 'main'::text, start boolean DEFAULT false, owner_id uuid DEFAULT NULL::uuid, check_command text DEFAULT NULL::text, timeout_seconds integer DEFAULT NULL::integer, stall_seconds integer DEFAULT NULL::integer, target_branch text DEFAULT NULL::text, on_complete_command text DEFAULT NULL::text)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner uuid := baton_private.resolve_owner(create_directive.owner_id);
  v_directive baton.directives;
begin
  perform baton_private.assert_name('the title', title);
  perform baton_private.assert_text('the goal', goal, 1, 102400);
  perform baton_private.assert_text('the repository', repo, case when repo is null then 0 else 1 end, 2048);
  perform baton_private.assert_name('the base branch', coalesce(base_branch, 'main'));
  perform baton_private.assert_check(check_command);
  perform baton_private.assert_limit('timeout', create_directive.timeout_seconds);
  perform baton_private.assert_limit('stall limit', create_directive.stall_seconds);
  perform baton_private.assert_target_branch(nullif(btrim(create_directive.target_branch), ''));
  perform baton_private.assert_on_complete(create_directive.on_complete_command);
  insert into baton.directives (owner_id, title, goal, repo, base_branch, check_command, timeout_seconds, stall_seconds,
                                target_branch, on_complete_command)
  values (v_owner, btrim(title), goal, nullif(btrim(repo), ''), coalesce(nullif(btrim(base_branch), ''), 'main'), check_command,
          create_directive.timeout_seconds, create_directive.stall_seconds,
          nullif(btrim(create_directive.target_branch), ''), create_directive.on_complete_command)
  returning * into v_directive;
  if start then
    v_directive := baton.start_directive(v_directive.id);
  end if;
  return v_directive;
end;
$function$

-- baton.create_execution_task(uuid,text,integer)
-- comment: Creates the next attempt's task for a ready step of an active directive, pending until a daemon takes it. With attempt, returns the existing task of that attempt instead of creating one (safe to call twice).
CREATE OR REPLACE FUNCTION baton.create_execution_task(step_id uuid, prompt text DEFAULT NULL::text, attempt integer DEFAULT NULL::integer)
 RETURNS baton.tasks
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_directive baton.directives;
  v_task baton.tasks;
begin
  -- Idempotent for the dispatcher: the task of an attempt that already exists is returned as it is.
  if attempt is not null and v_step.total_attempts >= attempt then
    select * into v_task from baton.tasks t where t.step_id = v_step.id and t.kind = 'execution' and t.attempt = create_execution_task.attempt;
    return v_task;
  end if;
  select * into v_directive from baton.directives d where d.id = v_step.directive_id;
  if v_directive.status <> 'active' then
    raise exception 'Directive % is %, so its steps are not dispatched; only active directives are.', v_directive.id, v_directive.status
      using errcode = 'BTSTS', hint = 'Start it with `baton directive start`.';
  end if;
  if v_step.status <> 'ready' then
    raise exception 'Step % is %, so no task can be created for it; only ready steps can be dispatched.', v_step.id, v_step.status
      using errcode = 'BTSTS';
  end if;
  select * into v_task from baton.tasks t where t.step_id = v_step.id and t.kind = 'execution' and baton_private.task_is_live(t.status);
  if found then
    return v_task;
  end if;
  perform baton_private.assert_text('the prompt', prompt, 0, 1048576);
  insert into baton.tasks (owner_id, directive_id, step_id, kind, attempt, prompt)
  values (v_step.owner_id, v_step.directive_id, v_step.id, 'execution', v_step.total_attempts + 1, prompt)
  returning * into v_task;
  update baton.directive_steps s
     set attempts = s.attempts + 1, total_attempts = s.total_attempts + 1, current_task_id = v_task.id
   where s.id = v_step.id;
  perform baton_private.dispatch_new_task(v_task.id);
  select * into v_task from baton.tasks t where t.id = v_task.id;
  return v_task;
end;
$function$

-- baton.create_owner(text)
-- comment: Creates an owner (a tenant). Admin only.
CREATE OR REPLACE FUNCTION baton.create_owner(name text)
 RETURNS baton.owners
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner baton.owners;
begin
  if name is null or length(btrim(name)) = 0 or length(name) > 200 then
    raise exception 'An owner name must be 1 to 200 characters (got %).', coalesce(length(name)::text, 'none')
      using errcode = 'BTINV';
  end if;
  insert into baton.owners (name) values (btrim(name)) returning * into v_owner;
  return v_owner;
end;
$function$

-- baton.create_planning_task(uuid,text)
-- comment: Creates the planning task of a directive that needs (re-)planning and records it as the directive's orchestrator task. Returns the planner already in flight if there is one.
CREATE OR REPLACE FUNCTION baton.create_planning_task(directive_id uuid, prompt text DEFAULT NULL::text)
 RETURNS baton.tasks
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
  v_task baton.tasks;
  v_generation integer;
begin
  if v_directive.orchestrator_task_id is not null then
    select * into v_task from baton.tasks t where t.id = v_directive.orchestrator_task_id;
    return v_task;
  end if;
  if v_directive.status <> 'active' then
    raise exception 'Directive % is %, so it cannot be planned now; only active directives are planned.', v_directive.id, v_directive.status
      using errcode = 'BTSTS',
            hint = case v_directive.status when 'archived' then 'Archiving is final; create a new directive instead.'
                                           when 'idle' then 'Update its goal to re-plan it.'
                                           else 'Start or resume it with `baton directive start`; it is planned then.' end;
  end if;
  if not baton_private.needs_planning(v_directive) then
    raise exception 'Directive % does not need planning: goal revision % is already planned.', v_directive.id, v_directive.goal_revision
      using errcode = 'BTSTS', hint = 'Update its goal to re-plan it.';
  end if;
  perform baton_private.assert_text('the prompt', prompt, 0, 1048576);
  select greatest(v_directive.current_generation, coalesce(max(s.generation), 0)) + 1 into v_generation
    from baton.directive_steps s where s.directive_id = v_directive.id;
  insert into baton.tasks (owner_id, directive_id, kind, generation, goal_revision, prompt)
  values (v_directive.owner_id, v_directive.id, 'planning', v_generation, v_directive.goal_revision, prompt)
  returning * into v_task;
  update baton.directives d set orchestrator_task_id = v_task.id where d.id = v_directive.id;
  perform baton_private.dispatch_new_task(v_task.id);
  select * into v_task from baton.tasks t where t.id = v_task.id;
  return v_task;
end;
$function$

-- baton.current_identity()  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: The role and ids of the token this request carries.
CREATE OR REPLACE FUNCTION baton.current_identity()
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select jsonb_strip_nulls(jsonb_build_object('role', baton_private.current_api_role(), 'owner_id', baton_private.current_owner_id(),
    'daemon_id', baton_private.current_daemon_id(), 'directive_id', baton_private.setting_uuid('baton.directive_id'),
    'task_id', baton_private.setting_uuid('baton.task_id')));
$function$

-- baton.daemon_token(uuid)  (execute: baton_daemon,baton_user)
-- comment: A token for one of your daemons (after registerDaemon), valid for 1 hour: it can heartbeat, read its tasks, report on them and write their output, and nothing else. The daemon renews it by calling daemonToken with its own id before it expires (every few minutes is fine); renewal is refused once the daemon is revoked (BTDNY), and every daemon token stops working when its daemon is revoked or its owner rotates its tokens.
CREATE OR REPLACE FUNCTION baton.daemon_token(daemon_id uuid)
 RETURNS baton.jwt_token
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_daemon baton.daemons;
  v_role text := baton_private.current_api_role();
begin
  perform baton_private.assert_token_live();
  select * into v_daemon from baton.daemons d where d.id = daemon_token.daemon_id;
  if not found
     or (v_role = 'baton_user' and v_daemon.owner_id is distinct from baton_private.current_owner_id())
     or (v_role = 'baton_daemon' and v_daemon.id is distinct from baton_private.current_daemon_id())
     or v_role not in ('admin', 'baton_user', 'baton_daemon') then
    raise exception 'Daemon % does not exist.', daemon_id
      using errcode = 'BTNFD', hint = 'Register a daemon with registerDaemon, then ask for its token with its id.';
  end if;
  return baton_private.daemon_token_claims(v_daemon.id);
end;
$function$

-- baton.daemons_active_task_count(baton.daemons)  (execute: baton_daemon,baton_user)
-- comment: How many tasks the daemon runs now (starting or running): its live_tasks counter.
CREATE OR REPLACE FUNCTION baton.daemons_active_task_count(d baton.daemons)
 RETURNS integer
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ select d.live_tasks $function$

-- baton.daemons_lease_expires_at(baton.daemons)  (execute: baton_daemon,baton_user)
-- comment: When the daemon's lease runs out unless it heartbeats again: its last heartbeat plus the server's lease (BATON_DAEMON_LEASE_SECONDS). After that the server may interrupt its tasks and run them elsewhere, so a daemon that has not renewed its lease for that long stops its agents and publishes nothing.
CREATE OR REPLACE FUNCTION baton.daemons_lease_expires_at(d baton.daemons)
 RETURNS timestamp with time zone
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  -- security definer: the lease lives in baton_private.settings, which API roles cannot read.
  select d.last_heartbeat_at + baton_private.daemon_lease();
$function$

-- baton.disconnect_daemon(uuid)  (execute: baton_daemon,baton_user)
-- comment: Disconnects a daemon on purpose (it is shutting down); its live tasks are interrupted and retried elsewhere.
CREATE OR REPLACE FUNCTION baton.disconnect_daemon(daemon_id uuid)
 RETURNS baton.daemons
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.assert_daemon_access(daemon_id);
  return baton_private.disconnect_daemon(daemon_id);
end;
$function$

-- baton.events_output_chunks(baton.events)  (execute: baton_agent,baton_user)
-- comment: @behavior -connection +list @listSuffix omit For an `output` event: the chunks of output it recorded, in order. Empty for every other event.
CREATE OR REPLACE FUNCTION baton.events_output_chunks(e baton.events)
 RETURNS SETOF baton.task_output
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select o.* from baton.task_output o
   where e.kind = 'output' and e.subject_type = 'task'
     and o.task_id = e.subject_id
     and o.seq between (e.detail ->> 'first_seq')::integer and (e.detail ->> 'last_seq')::integer
   order by o.seq;
$function$

-- baton.expire_daemons()
-- comment: Disconnects every daemon whose heartbeat is older than the lease and interrupts its tasks (and any task still live on a daemon already disconnected). Returns how many daemons it disconnected.
CREATE OR REPLACE FUNCTION baton.expire_daemons()
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_expired uuid[];
  v_task record;
  v_id uuid;
begin
  select coalesce(array_agg(d.id order by d.id), '{}') into v_expired from baton.daemons d
   where d.status = 'connected' and d.last_heartbeat_at < now() - baton_private.daemon_lease();
  -- PHASE 1: the live tasks of every expired or disconnected daemon, in directive order across all of
  -- them, so this transaction takes directive locks in one ascending order (as heartbeat does) and
  -- cannot deadlock with it. An expired daemon gets no new task meanwhile: assign_task skips daemons
  -- past the lease and disconnected ones.
  for v_task in
    select t.id, d.status = 'disconnected' as orphan from baton.tasks t join baton.daemons d on d.id = t.daemon_id
     where baton_private.task_occupies_slot(t.status) and (d.id = any (v_expired) or d.status = 'disconnected')
     order by t.directive_id, t.id
  loop
    perform baton_private.interrupt_task(v_task.id, case when v_task.orphan
      then 'The daemon had disconnected when this task was assigned to it.'
      else 'The daemon stopped heartbeating (its lease expired).' end);
  end loop;
  -- PHASE 2: the daemons themselves, in id order (a late heartbeat reconnects a daemon).
  foreach v_id in array v_expired loop
    perform baton_private.disconnect(v_id, 'The daemon stopped heartbeating (its lease expired).');
  end loop;
  return cardinality(v_expired);
end;
$function$

-- baton.expire_questions(timestamp with time zone)
-- comment: The question timeout sweep: marks every open question past its expires_at `expired` (its task runs again, its `baton ask` exits non-zero). Returns how many. The worker runs it every BATON_SWEEP_MS (default 5 s); idempotent.
CREATE OR REPLACE FUNCTION baton.expire_questions(now timestamp with time zone DEFAULT now())
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directives uuid[];
  v_count integer;
begin
  -- PHASE 1: lock the directives concerned in id order, then their waiting tasks.
  select coalesce(array_agg(d.id order by d.id), '{}') into v_directives
    from (select d.id from baton.directives d
           where d.id in (select q.directive_id from baton.questions q
                           where q.status = 'open' and q.expires_at <= expire_questions.now)
           order by d.id for no key update) d;
  if cardinality(v_directives) = 0 then
    return 0;
  end if;
  perform 1 from baton.tasks t
   where t.id in (select q.task_id from baton.questions q where q.status = 'open' and q.expires_at <= expire_questions.now)
   order by t.directive_id, t.id for update;
  -- PHASE 2: one statement; the question's trigger lets its task run again.
  update baton.questions q set status = 'expired'
   where q.status = 'open' and q.expires_at <= expire_questions.now and q.directive_id = any (v_directives);
  get diagnostics v_count = row_count;
  return v_count;
end;
$function$

-- baton.expire_tasks(timestamp with time zone)
-- comment: The timeout and stall sweep: marks every running, waiting or checking task past its timeout, or (not waiting) without output for its stall limit, `interrupted` with the reason as its error, in one statement; its daemon is told to stop the agent and its step is retried under the usual rules. Returns how many tasks it interrupted. The worker runs it every BATON_SWEEP_MS (default 5 s); idempotent.
CREATE OR REPLACE FUNCTION baton.expire_tasks(now timestamp with time zone DEFAULT now())
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directives uuid[];
  v_count integer;
begin
  -- PHASE 1: lock the directives concerned, as lock_directive does (FOR NO KEY UPDATE: inserted events'
  -- foreign key checks do not wait for it).
  select coalesce(array_agg(d.id order by d.id), '{}') into v_directives
    from (select d.id from baton.directives d
           where d.id in (select o.directive_id from baton_private.overdue_tasks(expire_tasks.now) o)
           order by d.id for no key update) d;
  if cardinality(v_directives) = 0 then
    return 0;
  end if;
  -- PHASE 2: one statement for every overdue task; the state machine retries, fails or pauses.
  update baton.tasks t set status = 'interrupted', error = o.reason
    from baton_private.overdue_tasks(expire_tasks.now) o
   where t.id = o.task_id and t.directive_id = any (v_directives) and baton_private.task_occupies_slot(t.status) and t.status <> 'starting';
  get diagnostics v_count = row_count;
  return v_count;
end;
$function$

-- baton.fail_step(uuid)  (execute: baton_user)
-- comment: Marks a step failed by hand (its task, if any, is cancelled); its dependents become blocked.
CREATE OR REPLACE FUNCTION baton.fail_step(step_id uuid)
 RETURNS baton.directive_steps
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select * from baton_private.override_step(step_id, 'failed', 'failed');
$function$

-- baton.heartbeat(uuid,uuid[])  (execute: baton_daemon)
-- comment: Renews a daemon's lease and reconciles: tasks it no longer reports are interrupted, tasks it reports that are over get an interrupt_task command, and waiting tasks are dispatched if it has room. Call it every 10 s with the ids of the tasks you run. A revoked daemon's heartbeat is refused (BTDNY).
CREATE OR REPLACE FUNCTION baton.heartbeat(daemon_id uuid, active_task_ids uuid[] DEFAULT '{}'::uuid[])
 RETURNS baton.daemons
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.assert_daemon_access(daemon_id);
  if exists (select 1 from baton.daemons d where d.id = heartbeat.daemon_id and d.revoked_at is not null) then
    raise exception 'Daemon % was revoked by its owner, so its heartbeat is refused.', daemon_id
      using errcode = 'BTDNY', hint = 'Start a new daemon with `baton daemon run`; it registers under a new id.';
  end if;
  return baton_private.heartbeat(daemon_id, active_task_ids);
end;
$function$

-- baton.pause_directive(uuid,boolean)  (execute: baton_user)
-- comment: Pauses a directive: nothing new is dispatched; running tasks finish. With interrupt => true the running tasks are interrupted too (their daemons stop the agents) and their attempts given back, so they run again when it is resumed with start_directive; a paused directive can be paused again with interrupt.
CREATE OR REPLACE FUNCTION baton.pause_directive(directive_id uuid, interrupt boolean DEFAULT false)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  if not (interrupt and v_directive.status = 'paused') then
    v_directive := baton_private.transition_directive(v_directive, 'paused', 'paused');
  end if;
  if interrupt then
    -- LOCK ORDER: the directive (above), then the steps, then the tasks.
    update baton.directive_steps s set attempts = s.attempts - 1
      from baton.tasks t
     where t.directive_id = v_directive.id and t.kind = 'execution' and baton_private.task_occupies_slot(t.status)
       and s.id = t.step_id and s.current_task_id = t.id and s.attempts > 0;
    update baton.tasks t
       set status = 'interrupted', error = 'Interrupted: the directive was paused with --interrupt; the step runs again when it is resumed.'
     where t.directive_id = v_directive.id and baton_private.task_occupies_slot(t.status);
  end if;
  select * into v_directive from baton.directives d where d.id = v_directive.id;
  return v_directive;
end;
$function$

-- baton.plan_diff(uuid)  (execute: baton_user)
-- comment: The plan waiting for review on a directive (drafting while its planner writes, then proposed), step by step against the live plan: each step kept, added, removed or rewired, with its name and dependencies (ids and names). No rows when no plan waits. Owner only.
CREATE OR REPLACE FUNCTION baton.plan_diff(directive_id uuid)
 RETURNS SETOF baton.plan_change
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.reconcile()
-- comment: Finds whatever the event path missed and enqueues it: expired daemons, wrong live-task counters, ready steps without a task, directives needing (re-)planning, pending tasks. Idempotent; the worker's crontab runs it every minute.
CREATE OR REPLACE FUNCTION baton.reconcile()
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_expired integer := baton.expire_daemons();
  v_recounted integer := baton_private.recount_live_tasks();
  v_steps uuid[];
  v_planning integer := 0;
  v_owners integer := 0;
  v_id uuid;
begin
  v_steps := array(
    select s.id from baton.directive_steps s join baton.directives d on d.id = s.directive_id
     where s.status = 'ready' and d.status = 'active'
       and not exists (select 1 from baton.tasks t where t.step_id = s.id and baton_private.task_is_live(t.status)));
  perform baton_private.enqueue_dispatch_steps(v_steps);
  for v_id in select d.id from baton.directives d where baton_private.needs_planning(d) loop
    perform baton_private.maybe_enqueue_planning(v_id);
    v_planning := v_planning + 1;
  end loop;
  for v_id in select distinct t.owner_id from baton.tasks t where t.status = 'pending' loop
    perform baton_private.maybe_enqueue_dispatch_pending(v_id);
    v_owners := v_owners + 1;
  end loop;
  return jsonb_build_object('expired_daemons', v_expired, 'ready_steps', cardinality(v_steps), 'directives_to_plan', v_planning,
                            'owners_with_pending_tasks', v_owners, 'recounted_daemons', v_recounted);
end;
$function$

-- baton.register_daemon(text,text,integer,uuid)  (execute: baton_user)
-- comment: Registers a daemon (connected, heartbeat now) that runs up to max_tasks tasks at once. Tasks waiting for a daemon are dispatched to it at once. Listen on `baton:daemon:<id>` for commands.
CREATE OR REPLACE FUNCTION baton.register_daemon(name text, hostname text DEFAULT NULL::text, max_tasks integer DEFAULT 1, owner_id uuid DEFAULT NULL::uuid)
 RETURNS baton.daemons
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner uuid := baton_private.resolve_owner(register_daemon.owner_id);
  v_daemon baton.daemons;
begin
  perform baton_private.assert_name('the daemon name', name);
  if max_tasks is null or max_tasks < 1 or max_tasks > 1000 then
    raise exception 'max_tasks must be between 1 and 1000 (got %).', coalesce(max_tasks::text, 'none') using errcode = 'BTINV';
  end if;
  insert into baton.daemons (owner_id, name, hostname, max_tasks)
  values (v_owner, btrim(name), left(hostname, 255), max_tasks)
  returning * into v_daemon;
  -- Unconditional: a task created concurrently cannot see this daemon before it commits.
  perform baton_private.enqueue_dispatch_pending(v_owner, v_daemon.id);
  return v_daemon;
end;
$function$

-- baton.reject_plan(uuid,text)  (execute: baton_user)
-- comment: Rejects the plan waiting for review on a directive, with a reason (required, at most 16 KiB): nothing of it is applied, and the directive is planned again (once active), the reason quoted in the planner's prompt. Owner only.
CREATE OR REPLACE FUNCTION baton.reject_plan(directive_id uuid, reason text)
 RETURNS baton.plan_proposals
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.remove_step(uuid,boolean)  (execute: baton_agent,baton_user)
-- comment: Removes a step. Refused (BTSTS) for a completed or running step, for every caller; refused while other steps depend on it, unless force => true re-wires them onto its own dependencies. An execution agent only removes steps its task added. For the planner of a directive with review_plans, the step is removed from its plan proposal instead.
CREATE OR REPLACE FUNCTION baton.remove_step(step_id uuid, force boolean DEFAULT false)
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_proposal baton.plan_proposals := baton_private.open_proposal_for_step(remove_step.step_id);
begin
  if v_proposal.id is not null then
    return baton_private.propose_remove_step(v_proposal, remove_step.step_id, remove_step.force);
  end if;
  perform baton_private.assert_agent_may_change_step(remove_step.step_id, 'remove', remove_step.force);
  return baton_private.remove_step(remove_step.step_id, remove_step.force);
end;
$function$

-- baton.remove_webhook(uuid)  (execute: baton_user)
-- comment: Removes one of your webhooks, with its delivery history. Messages already queued for it are dropped.
CREATE OR REPLACE FUNCTION baton.remove_webhook(webhook_id uuid)
 RETURNS baton.webhooks
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_hook baton.webhooks;
begin
  perform baton_private.assert_token_live();
  delete from baton.webhooks w
   where w.id = remove_webhook.webhook_id
     and (baton_private.current_api_role() = 'admin'
          or (baton_private.current_api_role() = 'baton_user' and w.owner_id = baton_private.current_owner_id()))
  returning * into v_hook;
  if not found then
    raise exception 'Webhook % does not exist.', webhook_id using errcode = 'BTNFD', hint = 'List your webhooks with `baton webhook list`.';
  end if;
  return v_hook;
end;
$function$

-- baton.report_task_status(uuid,text,integer,text,text,text,uuid,text)  (execute: baton_daemon)
-- comment: Records a task's new status (running, checking, completed/merged/done, failed, interrupted), with its error or its branch and commit; an integration task completes with its result branch and commit, and result_url (the first URL its on-complete command printed). A task with a check goes running -> checking -> completed or failed. expected_version rejects a stale report (BTSTL); a daemon may report only on tasks assigned to it (BTDNY). Reports on a finished task are ignored with BTSTL unless they repeat its status.
CREATE OR REPLACE FUNCTION baton.report_task_status(task_id uuid, status text, expected_version integer DEFAULT NULL::integer, error text DEFAULT NULL::text, branch text DEFAULT NULL::text, commit_sha text DEFAULT NULL::text, daemon_id uuid DEFAULT NULL::uuid, result_url text DEFAULT NULL::text)
 RETURNS baton.tasks
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_daemon uuid := report_task_status.daemon_id;
begin
  perform baton_private.assert_token_live();
  -- A daemon reports for itself: its token's daemon id is checked whatever the argument says.
  if baton_private.current_api_role() = 'baton_daemon' then
    if v_daemon is not null and v_daemon is distinct from baton_private.current_daemon_id() then
      raise exception 'This daemon token is for daemon %, so it cannot report as daemon %.', baton_private.setting_uuid('baton.daemon_id'), v_daemon
        using errcode = 'BTDNY';
    end if;
    v_daemon := baton_private.current_daemon_id();
    if v_daemon is null or not exists (select 1 from baton.tasks t where t.id = report_task_status.task_id and t.daemon_id = v_daemon) then
      raise exception 'Task % is not assigned to this daemon (%), so it cannot report on it.', task_id, baton_private.setting_uuid('baton.daemon_id')
        using errcode = 'BTDNY', hint = 'A daemon reports on the tasks it was given (daemonCommands) only.';
    end if;
  end if;
  return baton_private.report_task_status(task_id, status, expected_version, error, branch, commit_sha, v_daemon, result_url);
end;
$function$

-- baton.report_task_usage(uuid,bigint,bigint,numeric)  (execute: baton_agent,baton_daemon)
-- comment: Adds what a task's agent used (input and output tokens, cost in USD) to the task's usage: several reports add up, a null figure adds nothing. The task's agent may report for its own live task, its daemon for any of its tasks. Raises BTINV for a negative or huge figure or none at all. Reaching the directive's budget pauses it.
CREATE OR REPLACE FUNCTION baton.report_task_usage(task_id uuid, input_tokens bigint DEFAULT NULL::bigint, output_tokens bigint DEFAULT NULL::bigint, cost_usd numeric DEFAULT NULL::numeric)
 RETURNS baton.tasks
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.retry_step(uuid)  (execute: baton_user)
-- comment: Runs a failed step again with a fresh round of attempts, together with the failed steps it waits on (for a blocked step, only those); blocked dependents are unblocked and an idle directive becomes active.
CREATE OR REPLACE FUNCTION baton.retry_step(step_id uuid)
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.revoke_daemon(uuid)  (execute: baton_user)
-- comment: Revokes one of your daemons for good: its live tasks are interrupted and retried on another daemon, its tokens stop working, its heartbeat is refused and it gets no new token. Revoking a revoked daemon changes nothing.
CREATE OR REPLACE FUNCTION baton.revoke_daemon(daemon_id uuid)
 RETURNS baton.daemons
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_daemon baton.daemons;
begin
  perform baton_private.assert_daemon_access(daemon_id);
  if not exists (select 1 from baton.daemons d where d.id = revoke_daemon.daemon_id) then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD', hint = 'List your daemons with `baton daemon list`.';
  end if;
  perform baton_private.disconnect(daemon_id, 'The daemon was revoked by its owner.');
  update baton.daemons d set revoked_at = coalesce(d.revoked_at, now()), status = 'disconnected',
         disconnected_at = coalesce(d.disconnected_at, now())
   where d.id = revoke_daemon.daemon_id
  returning * into v_daemon;
  perform set_config('baton.checked_identity', '', true);  -- identities checked earlier in this transaction are checked again
  return v_daemon;
end;
$function$

-- baton.rotate_tokens(uuid)  (execute: baton_user)
-- comment: Revokes every token of your owner (yours, your daemons' and your agents') and returns a fresh owner token valid for 30 days. Running daemons stop working until they get a new token. owner_id is for admins; with an owner token leave it out.
CREATE OR REPLACE FUNCTION baton.rotate_tokens(owner_id uuid DEFAULT NULL::uuid)
 RETURNS baton.jwt_token
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner uuid := baton_private.resolve_owner(rotate_tokens.owner_id);
  v_generation integer;
begin
  update baton.owners o set token_generation = o.token_generation + 1 where o.id = v_owner
  returning o.token_generation into v_generation;
  perform set_config('baton.checked_identity', '', true);  -- identities checked earlier in this transaction are checked again
  if baton_private.current_api_role() = 'baton_user' then
    perform set_config('baton.token_gen', v_generation::text, true);
  end if;
  return baton_private.owner_token(v_owner);
end;
$function$

-- baton.set_daemon_labels(uuid,text[])  (execute: baton_daemon,baton_user)
-- comment: Sets what a daemon offers (replacing its labels; empty: none): it takes tasks whose step names one of them as its agent, and tasks that name none. `baton daemon run --label` calls it when it connects. The daemon itself or its owner.
CREATE OR REPLACE FUNCTION baton.set_daemon_labels(daemon_id uuid, labels text[])
 RETURNS baton.daemons
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_daemon baton.daemons;
  v_bad text;
begin
  perform baton_private.assert_daemon_access(daemon_id);
  select l into v_bad from unnest(coalesce(labels, '{}')) l where baton_private.label_problem(l) is not null limit 1;
  if found then
    raise exception 'The label % is not valid: %.', coalesce(to_jsonb(v_bad)::text, 'null'), baton_private.label_problem(v_bad)
      using errcode = 'BTINV', hint = 'For example --label claude --label gpu.';
  end if;
  if (select count(distinct l) from unnest(coalesce(labels, '{}')) l) > 32 then
    raise exception 'A daemon has at most 32 labels (got %).', (select count(distinct l) from unnest(labels) l) using errcode = 'BTINV';
  end if;
  update baton.daemons d set labels = array(select distinct l from unnest(coalesce(set_daemon_labels.labels, '{}')) l order by 1)
   where d.id = set_daemon_labels.daemon_id
  returning * into v_daemon;
  -- Tasks that waited for one of these labels may go now.
  perform baton_private.enqueue_dispatch_pending(v_daemon.owner_id, v_daemon.id);
  return v_daemon;
end;
$function$

-- baton.set_directive_budget(uuid,numeric,bigint)  (execute: baton_user)
-- comment: Sets a directive's budgets (both at once; null: none): budget_usd in USD and budget_tokens (input plus output). When its usage reaches one, it is paused (running tasks finish) with the reason, once per budget; setting a budget again re-arms it, and pauses the directive at once if its usage is already there. Owner only.
CREATE OR REPLACE FUNCTION baton.set_directive_budget(directive_id uuid, budget_usd numeric DEFAULT NULL::numeric, budget_tokens bigint DEFAULT NULL::bigint)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.set_directive_check(uuid,text)  (execute: baton_user)
-- comment: Sets the directive's check (a shell command every step attempt must pass after its agent exits 0; a step's own check replaces it), or removes it with null. Applies to attempts dispatched from now on; attempts already dispatched keep the check they got.
CREATE OR REPLACE FUNCTION baton.set_directive_check(directive_id uuid, check_command text)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its check cannot be changed.', v_directive.id
      using errcode = 'BTSTS', hint = 'Archiving is final; create a new directive instead.';
  end if;
  perform baton_private.assert_check(check_command);
  update baton.directives d set check_command = set_directive_check.check_command where d.id = v_directive.id
  returning * into v_directive;
  return v_directive;
end;
$function$

-- baton.set_directive_limits(uuid,integer,integer)  (execute: baton_user)
-- comment: Sets a directive's timeout and stall limit in seconds (1 to 2,592,000): null leaves a limit as it is, 0 removes it. The limits apply to running attempts too, at the server's next sweep.
CREATE OR REPLACE FUNCTION baton.set_directive_limits(directive_id uuid, timeout_seconds integer DEFAULT NULL::integer, stall_seconds integer DEFAULT NULL::integer)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  perform baton_private.assert_limit('timeout', timeout_seconds, allow_zero => true);
  perform baton_private.assert_limit('stall limit', stall_seconds, allow_zero => true);
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its limits cannot be changed; only draft, active, paused or idle directives can.', v_directive.id
      using errcode = 'BTSTS', hint = 'Create a new directive instead.';
  end if;
  update baton.directives d
     set timeout_seconds = case set_directive_limits.timeout_seconds when 0 then null else coalesce(set_directive_limits.timeout_seconds, d.timeout_seconds) end,
         stall_seconds = case set_directive_limits.stall_seconds when 0 then null else coalesce(set_directive_limits.stall_seconds, d.stall_seconds) end
   where d.id = v_directive.id
  returning * into v_directive;
  perform baton_private.record_event(v_directive.owner_id, v_directive.id, 'directive', v_directive.id, 'limits_updated',
    v_directive.status::text, v_directive.status::text,
    jsonb_build_object('timeout_seconds', v_directive.timeout_seconds, 'stall_seconds', v_directive.stall_seconds));
  return v_directive;
end;
$function$

-- baton.set_directive_max_parallel(uuid,integer)  (execute: baton_user)
-- comment: Sets how many of a directive's tasks may occupy daemon slots at once (1 to 10,000; null: no limit). Running tasks beyond a lowered limit finish; no new one starts until the directive is under it. Owner only.
CREATE OR REPLACE FUNCTION baton.set_directive_max_parallel(directive_id uuid, max_parallel integer)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives;
begin
  perform baton_private.assert_owner_sets('a directive''s max_parallel');
  v_directive := baton_private.lock_directive(directive_id);
  perform baton_private.assert_max_parallel(max_parallel, 10000);
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its max_parallel cannot be changed; only draft, active, paused or idle directives can.', v_directive.id
      using errcode = 'BTSTS', hint = 'Create a new directive instead.';
  end if;
  update baton.directives d set max_parallel = set_directive_max_parallel.max_parallel where d.id = v_directive.id
  returning * into v_directive;
  perform baton_private.record_event(v_directive.owner_id, v_directive.id, 'directive', v_directive.id, 'limits_updated',
    v_directive.status::text, v_directive.status::text, jsonb_build_object('max_parallel', v_directive.max_parallel));
  -- A higher limit (or none) lets waiting tasks go: they are queued for assignment.
  perform baton_private.enqueue_dispatch_tasks(array(
    select t.id from baton.tasks t where t.directive_id = v_directive.id and t.status = 'pending'));
  return v_directive;
end;
$function$

-- baton.set_directive_on_complete(uuid,text)  (execute: baton_user)
-- comment: Sets the command run in the result's worktree after each integration pushed it (BATON_RESULT_BRANCH, BATON_RESULT_COMMIT and BATON_DIRECTIVE_ID set; the first http(s) URL it prints becomes result_url), or removes it with null. Applies from the next integration.
CREATE OR REPLACE FUNCTION baton.set_directive_on_complete(directive_id uuid, on_complete_command text)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its on-complete command cannot be changed.', v_directive.id
      using errcode = 'BTSTS', hint = 'Archiving is final; create a new directive instead.';
  end if;
  perform baton_private.assert_on_complete(on_complete_command);
  update baton.directives d set on_complete_command = set_directive_on_complete.on_complete_command where d.id = v_directive.id
  returning * into v_directive;
  return v_directive;
end;
$function$

-- baton.set_directive_priority(uuid,integer)  (execute: baton_user)
-- comment: Sets a directive's priority (-1000 to 1000, default 0): among directives that have waited equally long for a daemon slot, the higher goes first. Owner only.
CREATE OR REPLACE FUNCTION baton.set_directive_priority(directive_id uuid, priority integer)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives;
begin
  perform baton_private.assert_owner_sets('a directive''s priority');
  v_directive := baton_private.lock_directive(directive_id);
  if priority is null or priority < -1000 or priority > 1000 then
    raise exception 'priority must be a whole number from -1000 to 1000 (got %).', coalesce(priority::text, 'none')
      using errcode = 'BTINV', hint = 'Higher goes first among directives that have waited equally long; the default is 0.';
  end if;
  update baton.directives d set priority = set_directive_priority.priority where d.id = v_directive.id
  returning * into v_directive;
  perform baton_private.record_event(v_directive.owner_id, v_directive.id, 'directive', v_directive.id, 'limits_updated',
    v_directive.status::text, v_directive.status::text, jsonb_build_object('priority', v_directive.priority));
  return v_directive;
end;
$function$

-- baton.set_directive_review_plans(uuid,boolean)  (execute: baton_user)
-- comment: Turns plan review on or off for a directive. On: what its planners write from now on waits as a proposal for approvePlan or rejectPlan. Off is refused while a plan waits for review. Owner only.
CREATE OR REPLACE FUNCTION baton.set_directive_review_plans(directive_id uuid, review_plans boolean)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.set_directive_target_branch(uuid,text)  (execute: baton_user)
-- comment: Sets the branch the directive's result is pushed to (null: back to baton/<directive-short>/result). Applies from the next integration; the last result stays where it was pushed.
CREATE OR REPLACE FUNCTION baton.set_directive_target_branch(directive_id uuid, target_branch text)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
  v_branch text := nullif(btrim(set_directive_target_branch.target_branch), '');
begin
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its target branch cannot be changed.', v_directive.id
      using errcode = 'BTSTS', hint = 'Archiving is final; create a new directive instead.';
  end if;
  perform baton_private.assert_target_branch(v_branch);
  update baton.directives d set target_branch = coalesce(v_branch, baton_private.default_result_branch(d.id)) where d.id = v_directive.id
  returning * into v_directive;
  return v_directive;
end;
$function$

-- baton.set_owner_max_parallel(integer,uuid)  (execute: baton_user)
-- comment: Sets how many of the owner's tasks may occupy daemon slots at once, over all its directives (1 to 100,000; null: no limit). owner_id only for direct SQL: API callers set their own. Owner only (not agents or daemons).
CREATE OR REPLACE FUNCTION baton.set_owner_max_parallel(max_parallel integer, owner_id uuid DEFAULT NULL::uuid)
 RETURNS baton.owners
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner baton.owners;
begin
  perform baton_private.assert_owner_sets('the owner''s max_parallel');
  perform baton_private.assert_max_parallel(max_parallel, 100000);
  update baton.owners o set max_parallel = set_owner_max_parallel.max_parallel
   where o.id = baton_private.resolve_owner(set_owner_max_parallel.owner_id)
  returning * into v_owner;
  perform baton_private.enqueue_dispatch_pending(v_owner.id);
  return v_owner;
end;
$function$

-- baton.set_step_dependencies(uuid,uuid[])  (execute: baton_agent,baton_user)
-- comment: Replaces the dependencies of a pending, ready or blocked step. Rejects nulls, unknown steps (another owner's steps are unknown), steps of your other directives and cycles (the message prints the cycle). An execution agent only re-wires steps its task added. For the planner of a directive with review_plans, the step is re-wired in its plan proposal instead.
CREATE OR REPLACE FUNCTION baton.set_step_dependencies(step_id uuid, depends_on uuid[])
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_proposal baton.plan_proposals := baton_private.open_proposal_for_step(set_step_dependencies.step_id);
begin
  if v_proposal.id is not null then
    return baton_private.propose_step_dependencies(v_proposal, set_step_dependencies.step_id, set_step_dependencies.depends_on);
  end if;
  perform baton_private.assert_agent_may_change_step(set_step_dependencies.step_id, 'rewire');
  return baton_private.set_step_dependencies(set_step_dependencies.step_id, set_step_dependencies.depends_on);
end;
$function$

-- baton.skip_step(uuid)  (execute: baton_user)
-- comment: Skips a step: it will not run, and it satisfies its dependents as if completed.
CREATE OR REPLACE FUNCTION baton.skip_step(step_id uuid)
 RETURNS baton.directive_steps
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select * from baton_private.override_step(step_id, 'skipped', 'skipped');
$function$

-- baton.start_directive(uuid)  (execute: baton_user)
-- comment: Starts a draft directive or resumes a paused one: it is planned if it has no steps, and its ready steps are dispatched.
CREATE OR REPLACE FUNCTION baton.start_directive(directive_id uuid)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  -- Steps added by hand before the first start count as the plan for the current goal.
  if v_directive.status = 'draft' and v_directive.planned_revision is null
     and exists (select 1 from baton.directive_steps s where s.directive_id = v_directive.id) then
    update baton.directives d set planned_revision = d.goal_revision where d.id = v_directive.id;
    v_directive.planned_revision := v_directive.goal_revision;
  end if;
  return baton_private.transition_directive(v_directive, 'active', 'started', allowed => array['draft', 'paused']);
end;
$function$

-- baton.tasks_agent_token(baton.tasks)  (execute: baton_agent,baton_daemon,baton_user)
-- comment: The token the daemon gives the agent process as BATON_TOKEN: it can read this task's directive and add steps to it, and stops working when the task ends. A planning agent may also remove and re-wire steps that are not completed or running; an execution agent only the steps its task added. Only the task's daemon gets it.
CREATE OR REPLACE FUNCTION baton.tasks_agent_token(t baton.tasks)
 RETURNS baton.jwt_token
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select row('baton_agent', r.owner_id, null, r.directive_id, r.id,
             extract(epoch from now() + interval '7 days')::bigint, 'baton', o.token_generation)::baton.jwt_token
    from baton.tasks r  -- the stored row, not the argument, decides
    join baton.owners o on o.id = r.owner_id
   where r.id = t.id
     and baton_private.task_is_live(r.status)
     and (baton_private.current_api_role() = 'admin'
          or (baton_private.current_api_role() = 'baton_daemon' and r.daemon_id = baton_private.current_daemon_id()));
$function$

-- baton.tasks_workspace(baton.tasks)  (execute: baton_agent,baton_daemon,baton_user)
-- comment: For the task's daemon: {repo, base_branch, directive_title, step_name, dependencies: [{step_id, name, status, branch, commit_sha}]} — where to clone from and which commits the worktree starts from. For an integration task, dependencies are the sinks to merge, plus result_branch (where to push), on_complete (the command to run after) and directive_goal.
CREATE OR REPLACE FUNCTION baton.tasks_workspace(t baton.tasks)
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select jsonb_build_object(
    'repo', d.repo,
    'base_branch', d.base_branch,
    'directive_title', d.title,
    'step_name', s.name,
    'dependencies', case when r.kind = 'integration' then baton_private.integration_sinks(r.directive_id) else coalesce((
      select jsonb_agg(jsonb_build_object('step_id', p.id, 'name', p.name, 'status', p.status,
                                          'branch', pt.branch, 'commit_sha', pt.commit_sha)
                       order by p.order_index, p.created_at, p.id)
        from baton.step_dependencies sd
        join baton.directive_steps p on p.id = sd.depends_on_step_id
        left join baton.tasks pt on pt.id = p.current_task_id
       where sd.step_id = r.step_id), '[]'::jsonb) end)
    || case when r.kind = 'integration'
            then jsonb_build_object('result_branch', d.target_branch, 'on_complete', d.on_complete_command, 'directive_goal', d.goal)
            else '{}'::jsonb end
    -- The stored row, not the argument: a caller cannot pass a made-up row to read others' facts.
    from baton.tasks r
    join baton.directives d on d.id = r.directive_id
    left join baton.directive_steps s on s.id = r.step_id
   where r.id = t.id
     and (baton_private.current_api_role() = 'admin'
          or (baton_private.current_api_role() = 'baton_user' and r.owner_id = baton_private.current_owner_id())
          or (baton_private.current_api_role() = 'baton_daemon' and r.daemon_id = baton_private.current_daemon_id()));
$function$

-- baton.transaction_events(uuid,bigint)  (execute: baton_agent,baton_user)
-- comment: The events of the directive recorded by the same transaction as first_event_id, in order (what one NOTIFY on `baton:directive:<id>` stands for).
CREATE OR REPLACE FUNCTION baton.transaction_events(directive_id uuid, first_event_id bigint)
 RETURNS SETOF baton.events
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select e.* from baton.events e
   where e.directive_id = transaction_events.directive_id
     and e.id >= first_event_id
     and e.transaction_id = (select f.transaction_id from baton.events f where f.id = first_event_id)
   order by e.id;
$function$

-- baton.update_directive(uuid,jsonb)  (execute: baton_user)
-- comment: Changes several settings of a directive in one transaction, all or nothing: a JSON object with any of check, timeout_seconds, stall_seconds, target_branch, on_complete (strings or numbers; null removes the setting), budget_usd, budget_tokens (null: no such budget; one given alone keeps the other), review_plans (true or false), max_parallel (null: no limit) and priority. Each goes through its own setter, with that setter's checks and messages; the first refusal undoes them all. Owner only. SECURITY DEFINER to lock the directive (lock_directive checks the caller's claims).
CREATE OR REPLACE FUNCTION baton.update_directive(directive_id uuid, settings jsonb)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton.update_goal(uuid,text)  (execute: baton_user)
-- comment: Changes a directive's goal. An active or idle directive is re-planned (a new generation of steps); a draft or paused one is planned when started.
CREATE OR REPLACE FUNCTION baton.update_goal(directive_id uuid, goal text)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives := baton_private.lock_directive(directive_id);
begin
  perform baton_private.assert_text('the goal', goal, 1, 102400);
  if v_directive.status = 'archived' then
    raise exception 'Directive % is archived, so its goal cannot be updated; only draft, active, paused or idle directives can.', v_directive.id
      using errcode = 'BTSTS', hint = 'Create a new directive instead.';
  end if;
  if goal = v_directive.goal then
    return v_directive;
  end if;
  update baton.directives d
     set previous_goal = d.goal, goal = update_goal.goal, goal_revision = d.goal_revision + 1, goal_updated_at = now()
   where d.id = v_directive.id
  returning * into v_directive;
  perform baton_private.record_event(v_directive.owner_id, v_directive.id, 'directive', v_directive.id, 'goal_updated',
    v_directive.status::text, v_directive.status::text, jsonb_build_object('goal_revision', v_directive.goal_revision));
  if v_directive.status = 'idle' then
    perform baton_private.reactivate(v_directive.id);
  else
    perform baton_private.maybe_enqueue_planning(v_directive.id);
  end if;
  select * into v_directive from baton.directives d where d.id = v_directive.id;
  return v_directive;
end;
$function$

-- baton_private.add_jobs(graphile_worker.job_spec[])
-- comment: graphile_worker.add_jobs, plus queueing again each keyed spec that add_jobs wrote no row for (a worker took the queued job in between, and the spec would be lost).
CREATE OR REPLACE FUNCTION baton_private.add_jobs(specs graphile_worker.job_spec[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_lost graphile_worker.job_spec[];
begin
  with written as (select j.key from graphile_worker.add_jobs(specs) j where j.key is not null)
  select array_agg(spec) into v_lost from unnest(specs) spec
   where spec.job_key is not null and spec.job_key not in (select w.key from written w);
  if v_lost is not null then
    perform graphile_worker.add_jobs(v_lost);
  end if;
end;
$function$

-- baton_private.append_task_output(uuid,jsonb)
-- comment: Appends a batch of a task's output: chunks is a JSON array of {"stream": "stdout" | "stderr", "text": "..."} (at most 1,000 chunks and 256 KiB per call; empty texts are skipped). Only the daemon the task is assigned to may call it. A task keeps at most 1 MiB of output: past that, one truncation marker is stored and later output is dropped (the receipt says so). Each batch that stores something records an `output` event on the task.
CREATE OR REPLACE FUNCTION baton_private.append_task_output(task_id uuid, chunks jsonb)
 RETURNS baton.task_output_receipt
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  c_cap constant bigint := 1048576;
  c_max_chunks constant integer := 1000;
  c_max_batch_bytes constant integer := 262144;
  v_role text := baton_private.current_api_role();
  v_task baton.tasks;
  v_chunk jsonb;
  v_index integer := 0;
  v_stream text;
  v_text text;
  v_bytes integer;
  v_batch_bytes bigint := 0;
  v_seq integer;
  v_first_seq integer;
  v_total bigint;
  v_truncated boolean;
  v_kept text;
  v_receipt baton.task_output_receipt;
begin
  -- GUARD: the caller. Only a daemon (for its own tasks) and admins (direct SQL) write output.
  if v_role not in ('admin', 'baton_daemon') then
    raise exception 'Only a daemon writes task output; this token''s role is %.', v_role
      using errcode = 'BTDNY', hint = 'Use the token of the daemon the task is assigned to.';
  end if;

  -- GUARD: the batch's shape and size, before anything is locked.
  if chunks is null or jsonb_typeof(chunks) <> 'array' then
    raise exception 'chunks must be a JSON array of {"stream": "stdout" | "stderr", "text": "..."} objects (got %).',
      coalesce(jsonb_typeof(chunks), 'none')
      using errcode = 'BTINV';
  end if;
  if jsonb_array_length(chunks) > c_max_chunks then
    raise exception 'A batch of output has % chunks; the limit is % per call.', jsonb_array_length(chunks), c_max_chunks
      using errcode = 'BTINV', hint = 'Join small chunks, or send them in several calls.';
  end if;
  for v_chunk in select value from jsonb_array_elements(chunks) loop
    v_index := v_index + 1;
    if jsonb_typeof(v_chunk) <> 'object' or jsonb_typeof(v_chunk -> 'text') is distinct from 'string'
       or coalesce(v_chunk ->> 'stream', '') not in ('stdout', 'stderr') then
      raise exception 'Output chunk % must be {"stream": "stdout" | "stderr", "text": "..."} (got %).', v_index, left(v_chunk::text, 200)
        using errcode = 'BTINV';
    end if;
    v_batch_bytes := v_batch_bytes + octet_length(v_chunk ->> 'text');
  end loop;
  if v_batch_bytes > c_max_batch_bytes then
    raise exception 'A batch of output is % bytes; the limit is % bytes per call.', v_batch_bytes, c_max_batch_bytes
      using errcode = 'BTINV', hint = 'Send output in smaller, more frequent batches.';
  end if;

  -- GUARD: the task, and that it is the calling daemon's. A daemon is told the same thing whether the
  -- task does not exist or is someone else's, so task ids of others do not leak.
  select * into v_task from baton.tasks t where t.id = append_task_output.task_id for no key update;
  if v_role = 'baton_daemon' and (not found or v_task.daemon_id is distinct from baton_private.current_daemon_id()) then
    raise exception 'Task % is not assigned to this daemon (%), so it cannot write its output.', task_id, baton_private.current_daemon_id()
      using errcode = 'BTDNY', hint = 'A daemon writes the output of the tasks it was given (daemonCommands) only.';
  end if;
  if not found then
    raise exception 'Task % does not exist.', task_id using errcode = 'BTNFD';
  end if;

  -- PHASE 1: where the task's output stands. The marker, once written, is always the last chunk.
  select o.seq, o.byte_offset + case when o.stream = 'baton' then 0 else octet_length(o.text) end, o.stream = 'baton'
    into v_seq, v_total, v_truncated
    from baton.task_output o where o.task_id = v_task.id
   order by o.seq desc limit 1;
  v_seq := coalesce(v_seq, 0);
  v_total := coalesce(v_total, 0);
  v_truncated := coalesce(v_truncated, false);
  v_receipt := row(v_task.id, 0, 0, 0, v_total, v_truncated, v_seq)::baton.task_output_receipt;

  -- PHASE 2: store what fits; the chunk that crosses the cap is cut, then the marker closes the output.
  for v_chunk in select value from jsonb_array_elements(chunks) loop
    v_stream := v_chunk ->> 'stream';
    v_text := v_chunk ->> 'text';
    v_bytes := octet_length(v_text);
    continue when v_bytes = 0;
    if v_truncated then
      v_receipt.dropped_bytes := v_receipt.dropped_bytes + v_bytes;
      continue;
    end if;
    v_kept := case when v_total + v_bytes <= c_cap then v_text else baton_private.utf8_prefix(v_text, (c_cap - v_total)::integer) end;
    if octet_length(v_kept) > 0 then
      v_seq := v_seq + 1;
      v_first_seq := coalesce(v_first_seq, v_seq);
      insert into baton.task_output (task_id, owner_id, directive_id, daemon_id, seq, stream, text, byte_offset)
      values (v_task.id, v_task.owner_id, v_task.directive_id, v_task.daemon_id, v_seq, v_stream, v_kept, v_total);
      v_total := v_total + octet_length(v_kept);
      v_receipt.accepted_chunks := v_receipt.accepted_chunks + 1;
      v_receipt.accepted_bytes := v_receipt.accepted_bytes + octet_length(v_kept);
    end if;
    if octet_length(v_kept) < v_bytes then
      v_receipt.dropped_bytes := v_receipt.dropped_bytes + (v_bytes - octet_length(v_kept));
      v_seq := v_seq + 1;
      v_first_seq := coalesce(v_first_seq, v_seq);
      insert into baton.task_output (task_id, owner_id, directive_id, daemon_id, seq, stream, text, byte_offset)
      values (v_task.id, v_task.owner_id, v_task.directive_id, v_task.daemon_id, v_seq, 'baton',
              format('[baton] Output truncated: this task''s output reached the limit of %s bytes (1 MiB); later output was dropped.', c_cap),
              v_total);
      v_truncated := true;
    end if;
  end loop;

  -- PHASE 3: one `output` event per batch that stored something (it NOTIFYs the directive's channel).
  if v_first_seq is not null then
    perform baton_private.record_event(v_task.owner_id, v_task.directive_id, 'task', v_task.id, 'output', null, null,
      jsonb_build_object('first_seq', v_first_seq, 'last_seq', v_seq, 'bytes', v_receipt.accepted_bytes, 'truncated', v_truncated));
  end if;
  v_receipt.total_bytes := v_total;
  v_receipt.truncated := v_truncated;
  v_receipt.last_seq := v_seq;
  return v_receipt;
end;
$function$

-- baton_private.apply_live_task_deltas(jsonb)
-- comment: Adds a statement's live-task deltas ([{daemon_id, delta}]) to daemons.live_tasks; refills each daemon that freed a slot from its owner's waiting tasks, and queues dispatch_pending when room is left.
CREATE OR REPLACE FUNCTION baton_private.apply_live_task_deltas(deltas jsonb)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_freed record;
begin
  for v_freed in
    with d as (select (x ->> 'daemon_id')::uuid as daemon_id, (x ->> 'delta')::integer as delta
                 from jsonb_array_elements(deltas) x),
         u as (update baton.daemons dm set live_tasks = dm.live_tasks + d.delta
                 from d where dm.id = d.daemon_id
               returning dm.id, dm.owner_id, dm.max_tasks, dm.live_tasks, dm.status, dm.last_heartbeat_at, d.delta)
    select u.id, u.owner_id, u.live_tasks - u.delta >= u.max_tasks as was_full, u.max_tasks - u.live_tasks as room,
           u.status = 'connected' and u.last_heartbeat_at >= now() - baton_private.daemon_lease() as available
      from u where u.delta < 0 order by u.id
  loop
    if v_freed.available and baton_private.refill_daemon(v_freed.id, v_freed.owner_id, v_freed.room) >= v_freed.room then
      continue;  -- full again
    end if;
    if v_freed.was_full then
      perform baton_private.enqueue_dispatch_pending(v_freed.owner_id, v_freed.id);
    else
      perform baton_private.maybe_enqueue_dispatch_pending(v_freed.owner_id, v_freed.id);
    end if;
  end loop;
end;
$function$

-- baton_private.apply_plan_proposal(baton.plan_proposals)
-- comment: Applies an approved plan proposal to the live plan (new steps, re-wirings, removals), or raises BTSTS naming the step when the live plan changed so that it no longer fits.
CREATE OR REPLACE FUNCTION baton_private.apply_plan_proposal(proposal baton.plan_proposals)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.assert_agent_may_change_step(uuid,text,boolean)
-- comment: For agent tokens (others pass): raises BTSTS when the step to remove is completed or running (as remove_step does for everyone), and BTDNY when an execution agent may not remove (verb `remove`) or re-wire (`rewire`) the step because its task did not add it (with force, its dependents too).
CREATE OR REPLACE FUNCTION baton_private.assert_agent_may_change_step(step_id uuid, verb text, force boolean DEFAULT false)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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

  -- GUARD: work that is done or under way stays, for everyone (remove_step checks it again); checked
  -- here first so an agent hears that before who added the step. (Re-wiring such a step is refused
  -- for everyone by set_step_dependencies itself, with BTSTS.)
  if verb = 'remove' then
    perform baton_private.assert_step_removable(v_step);
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
$function$

-- baton_private.assert_check(text,text)
-- comment: Raises BTINV when a check command is blank or longer than 4096 bytes; null (no check) passes.
CREATE OR REPLACE FUNCTION baton_private.assert_check(check_command text, what text DEFAULT 'The check'::text)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if check_command is null then
    return;
  end if;
  if length(btrim(check_command)) = 0 then
    raise exception '% is empty; give a shell command such as "npm test", or leave the check out.', what
      using errcode = 'BTINV';
  end if;
  if octet_length(check_command) > 4096 then
    raise exception '% is % bytes; the limit is 4096 bytes.', what, octet_length(check_command)
      using errcode = 'BTINV', hint = 'Put a long check in a script in the repository and give the command that runs it, e.g. "sh scripts/check.sh".';
  end if;
end;
$function$

-- baton_private.assert_daemon_access(uuid)
-- comment: Raises unless the caller is that daemon, its owner, or an admin.
CREATE OR REPLACE FUNCTION baton_private.assert_daemon_access(daemon_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.assert_token_live();
  -- A live daemon token whose daemon is gone (revoked and rotated tokens were refused just above).
  if baton_private.current_api_role() = 'baton_daemon' and baton_private.current_daemon_id() is null then
    raise exception 'Daemon % does not exist.', baton_private.setting_uuid('baton.daemon_id')
      using errcode = 'BTNFD', hint = 'Register again with `baton daemon run`.';
  end if;
  if baton_private.current_api_role() = 'baton_daemon' and daemon_id is distinct from baton_private.current_daemon_id() then
    raise exception 'This daemon token is for daemon %, so it cannot act for daemon %.', baton_private.setting_uuid('baton.daemon_id'), daemon_id
      using errcode = 'BTDNY';
  end if;
  if baton_private.current_api_role() in ('baton_user', 'baton_agent', 'baton_anonymous')
     and not exists (select 1 from baton.daemons d where d.id = daemon_id and d.owner_id = baton_private.current_owner_id()
                     and baton_private.current_api_role() = 'baton_user') then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD';
  end if;
end;
$function$

-- baton_private.assert_limit(text,integer,boolean)
-- comment: Raises BTINV naming the limit unless it is null, 1 to 2,592,000 seconds, or 0 where removing it is allowed.
CREATE OR REPLACE FUNCTION baton_private.assert_limit(what text, seconds integer, allow_zero boolean DEFAULT false)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if seconds is not null and not (seconds between 1 and 2592000 or (allow_zero and seconds = 0)) then
    raise exception 'The % must be between 1 second and 30 days (2592000 seconds)%; got %.', what,
      case when allow_zero then ', or 0 to remove it' else '' end, seconds
      using errcode = 'BTINV', hint = 'The CLI takes durations such as --timeout 30m or --stall 5m.';
  end if;
end;
$function$

-- baton_private.assert_max_parallel(integer,integer)
-- comment: Raises BTINV unless max_parallel is null or 1 to max_value.
CREATE OR REPLACE FUNCTION baton_private.assert_max_parallel(max_parallel integer, max_value integer)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if max_parallel is not null and (max_parallel < 1 or max_parallel > max_value) then
    raise exception 'max_parallel must be a whole number from 1 to % (got %).', max_value, max_parallel
      using errcode = 'BTINV', hint = 'Give null (--max-parallel none) for no limit.';
  end if;
end;
$function$

-- baton_private.assert_name(text,text)
-- comment: Raises BTINV unless the value is 1 to 200 characters.
CREATE OR REPLACE FUNCTION baton_private.assert_name(what text, value text)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.assert_text(what, value, 1, 100000);
  if length(value) > 200 then
    raise exception '% is % characters; the limit is 200.', upper(left(what, 1)) || substr(what, 2), length(value) using errcode = 'BTINV';
  end if;
end;
$function$

-- baton_private.assert_no_cycle(uuid,uuid[])
-- comment: Raises BTCYC, printing the cycle, if the step would transitively depend on itself.
CREATE OR REPLACE FUNCTION baton_private.assert_no_cycle(step_id uuid, depends_on uuid[])
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.assert_on_complete(text)
-- comment: Raises BTINV when an on-complete command is blank or longer than 4096 bytes; null passes.
CREATE OR REPLACE FUNCTION baton_private.assert_on_complete(on_complete_command text)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if on_complete_command is null then
    return;
  end if;
  if length(btrim(on_complete_command)) = 0 then
    raise exception 'The on-complete command is empty; give a shell command such as "gh pr create --fill --head \"$BATON_RESULT_BRANCH\"", or leave it out.'
      using errcode = 'BTINV';
  end if;
  if octet_length(on_complete_command) > 4096 then
    raise exception 'The on-complete command is % bytes; the limit is 4096 bytes.', octet_length(on_complete_command)
      using errcode = 'BTINV', hint = 'Put a long command in a script and give the command that runs it, e.g. "sh /path/to/on-complete.sh".';
  end if;
end;
$function$

-- baton_private.assert_owner_sets(text)
-- comment: Raises BTDNY for agent and daemon tokens: limits and priorities are the owner's to set.
CREATE OR REPLACE FUNCTION baton_private.assert_owner_sets(what text)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if baton_private.current_api_role() in ('baton_agent', 'baton_daemon') then
    raise exception 'Only the owner can set %.', what using errcode = 'BTDNY', hint = 'Use an owner token (`baton token create`).';
  end if;
end;
$function$

-- baton_private.assert_plan_reviewer(text)
-- comment: Raises BTDNY unless the caller is an owner or a DBA (agents and daemons never review plans).
CREATE OR REPLACE FUNCTION baton_private.assert_plan_reviewer(verb text)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if baton_private.current_api_role() not in ('baton_user', 'admin') then
    raise exception 'Only the directive''s owner can % its plan.', verb using errcode = 'BTDNY';
  end if;
end;
$function$

-- baton_private.assert_step_removable(baton.directive_steps)
-- comment: Raises BTSTS when the step is completed or running: remove_step refuses those for every caller, with or without force.
CREATE OR REPLACE FUNCTION baton_private.assert_step_removable(step baton.directive_steps)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if step.status = 'completed' then
    raise exception 'Step % ("%") is completed, so it cannot be removed: completed and running steps stay.', step.id, step.name
      using errcode = 'BTSTS', detail = 'from=completed',
            hint = 'To change or undo its work, add a new step (it may depend on this one).';
  elsif step.status = 'running' then
    raise exception 'Step % ("%") is running, so it cannot be removed: completed and running steps stay.', step.id, step.name
      using errcode = 'BTSTS', detail = 'from=running',
            hint = 'Stop it first with `baton directive fail-step ' || step.id || '` (or skip-step), then remove it; or let it finish and add a new step.';
  end if;
end;
$function$

-- baton_private.assert_target_branch(text)
-- comment: Raises BTINV naming what is wrong unless the name is a valid git branch name; null passes.
CREATE OR REPLACE FUNCTION baton_private.assert_target_branch(target_branch text)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_problem text := baton_private.branch_name_problem(target_branch);
begin
  if target_branch is not null and v_problem is not null then
    raise exception 'The target branch "%" is not a valid git branch name: %.', left(target_branch, 300), v_problem
      using errcode = 'BTINV', hint = 'Use letters, digits and / - _ . such as "feature/login", or leave it out for baton/<directive-short>/result.';
  end if;
end;
$function$

-- baton_private.assert_text(text,text,integer,integer)
-- comment: Raises BTINV when a text is missing, empty or too long.
CREATE OR REPLACE FUNCTION baton_private.assert_text(what text, value text, min_chars integer, max_bytes integer)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if value is null and min_chars > 0 then
    raise exception '% is required.', upper(left(what, 1)) || substr(what, 2) using errcode = 'BTINV';
  end if;
  if value is not null and length(btrim(value)) < min_chars then
    raise exception '% must not be empty.', upper(left(what, 1)) || substr(what, 2) using errcode = 'BTINV';
  end if;
  if value is not null and octet_length(value) > max_bytes then
    raise exception '% is % bytes; the limit is % bytes.', upper(left(what, 1)) || substr(what, 2), octet_length(value), max_bytes
      using errcode = 'BTINV', hint = 'Shorten it, or keep the long text in the repository and refer to it.';
  end if;
end;
$function$

-- baton_private.assert_token_live()  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Raises BTDNY when the request's token was revoked (its daemon revoked, or its owner's tokens rotated since it was minted).
CREATE OR REPLACE FUNCTION baton_private.assert_token_live()
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_role text := baton_private.current_api_role();
  v_generation integer;
  v_revoked_at timestamptz;
begin
  if v_role not in ('baton_user', 'baton_daemon', 'baton_agent') then
    return;
  end if;
  if v_role = 'baton_daemon' then
    select d.revoked_at into v_revoked_at from baton.daemons d
     where d.id = baton_private.setting_uuid('baton.daemon_id') and d.owner_id = baton_private.setting_uuid('baton.owner_id');
    if v_revoked_at is not null then
      raise exception 'This daemon (%) was revoked by its owner, so its token no longer works.', baton_private.setting_uuid('baton.daemon_id')
        using errcode = 'BTDNY', hint = 'Start a new daemon with `baton daemon run`; it registers under a new id.';
    end if;
  end if;
  select o.token_generation into v_generation from baton.owners o where o.id = baton_private.setting_uuid('baton.owner_id');
  if v_generation is not null and v_generation <> baton_private.token_generation() then
    raise exception 'This token was revoked by `baton token rotate`; ask for a new one.'
      using errcode = 'BTDNY', hint = 'The owner gets a fresh token from `baton token rotate` or `baton token create`; daemons and agents get theirs again from it.';
  end if;
end;
$function$

-- baton_private.assert_usage(text,numeric,numeric)
-- comment: Raises BTINV unless a reported usage figure is null or from 0 to its limit.
CREATE OR REPLACE FUNCTION baton_private.assert_usage(name text, value numeric, max_value numeric)
 RETURNS void
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if value < 0 or value > max_value then
    raise exception '% must be from 0 to % (got %).', name, max_value, value
      using errcode = 'BTINV', hint = 'Report what one or more model calls used; reports add up.';
  end if;
end;
$function$

-- baton_private.assign_one_task(uuid,boolean)
-- comment: Assigns one pending task to the best daemon of its owner with room and its step's agent among its labels (preferring one its step has not failed on, then the least loaded), within its directive's and owner's max_parallel. Returns whether it did.
CREATE OR REPLACE FUNCTION baton_private.assign_one_task(task_id uuid, skip_locked boolean DEFAULT true)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task baton.tasks;
  v_agent text;
  v_daemon uuid;
begin
  select * into v_task from baton.tasks t where t.id = assign_one_task.task_id and t.status = 'pending';
  if not found or (select dr.status from baton.directives dr where dr.id = v_task.directive_id) <> 'active' then
    return false;
  end if;
  if cardinality(baton_private.lock_limits(v_task.owner_id, array[v_task.directive_id], not skip_locked)) > 0 then
    return false;  -- its limit lock is held elsewhere: the holder, or the next dispatch, sees to it
  end if;
  if not exists (select 1 from baton_private.tasks_in_turn(v_task.owner_id, array[v_task.id], 1) c) then
    return false;  -- at its directive's or owner's max_parallel
  end if;
  select s.agent into v_agent from baton.directive_steps s where s.id = v_task.step_id;
  select d.id into v_daemon from baton.daemons d
     where d.owner_id = v_task.owner_id and d.status = 'connected' and d.live_tasks < d.max_tasks
       and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
       and (v_agent is null or v_agent = any (d.labels))
     order by exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = v_task.step_id and f.daemon_id = d.id
                       and baton_private.task_attempt_failed(f.status)),
              d.live_tasks, d.last_heartbeat_at desc, d.id
     limit 1 for update skip locked;
  if v_daemon is null and not skip_locked then
    select d.id into v_daemon from baton.daemons d
     where d.owner_id = v_task.owner_id and d.status = 'connected' and d.live_tasks < d.max_tasks
       and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
       and (v_agent is null or v_agent = any (d.labels))
     order by d.live_tasks, d.id
     limit 1 for update;
  end if;
  if v_daemon is null then
    return false;
  end if;
  update baton.tasks t set status = 'starting', daemon_id = v_daemon where t.id = v_task.id and t.status = 'pending';
  return found;
end;
$function$

-- baton_private.assign_tasks(uuid[],boolean)
-- comment: Assigns the given pending tasks (of active directives) to their owners' daemons with room, in one statement per owner and agent: in turn order (round-robin over directives, then priority), within the directives' and owners' max_parallel, each to a daemon with its step's agent among its labels, spreading them over the least loaded daemons. skip_locked: skip directive, limit, daemon and task locks other transactions hold instead of waiting (the caller retries). Returns how many were assigned.
CREATE OR REPLACE FUNCTION baton_private.assign_tasks(task_ids uuid[], skip_locked boolean DEFAULT true)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner uuid;
  v_assigned integer := 0;
  v_n integer;
  v_retry uuid;
  v_directives uuid[];
  v_skip uuid[];
  v_agent record;
begin
  if coalesce(cardinality(task_ids), 0) = 0 then
    return 0;
  end if;
  -- LOCK ORDER, directive -> limits -> daemon (see 000016 and this file's header).
  if skip_locked then
    v_directives := array(select d.id from baton.directives d
                           where d.id in (select t.directive_id from baton.tasks t where t.id = any (task_ids) and t.status = 'pending')
                             and d.status = 'active');
  else
    v_directives := array(select d.id from baton.directives d
                           where d.id in (select t.directive_id from baton.tasks t where t.id = any (task_ids) and t.status = 'pending')
                             and d.status = 'active'
                           order by d.id for share);
  end if;
  for v_owner in select distinct t.owner_id from baton.tasks t
                  where t.id = any (task_ids) and t.status = 'pending' and t.directive_id = any (v_directives) order by 1 loop
    v_skip := baton_private.lock_limits(v_owner, v_directives, not skip_locked);
    if not skip_locked then
      perform 1 from baton.daemons d
        where d.owner_id = v_owner and d.status = 'connected' and d.live_tasks < d.max_tasks
          and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
        order by d.id for update;
    end if;
    -- One statement per agent the tasks name, labelled ones first (fewer daemons fit them).
    for v_agent in select distinct s.agent from baton.tasks t left join baton.directive_steps s on s.id = t.step_id
                    where t.id = any (task_ids) and t.owner_id = v_owner and t.status = 'pending'
                    order by s.agent nulls last loop
      with free as (
             select d.id, d.max_tasks - d.live_tasks as room, d.live_tasks, d.last_heartbeat_at from baton.daemons d
              where d.owner_id = v_owner and d.status = 'connected' and d.live_tasks < d.max_tasks
                and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
                and (v_agent.agent is null or v_agent.agent = any (d.labels))
              order by d.live_tasks, d.last_heartbeat_at desc, d.id
              limit cardinality(task_ids) for update skip locked),
           slots as (select f.id, row_number() over (order by g.n, f.live_tasks, f.last_heartbeat_at desc, f.id) as k
                       from free f cross join lateral generate_series(1, f.room) g(n)),
           todo as (select x.id, row_number() over (order by x.k) as k
                      from (select t.id, c.k from baton.tasks t
                              join baton_private.tasks_in_turn(v_owner, task_ids, cardinality(task_ids), v_skip) c on c.task_id = t.id
                             where c.agent is not distinct from v_agent.agent and t.status = 'pending'
                               and (coalesce(t.attempt, 1) = 1
                                    or not exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = t.step_id and f.id <> t.id
                                                     and baton_private.task_attempt_failed(f.status) and f.daemon_id is not null))
                             order by c.k
                             limit (select coalesce(sum(f.room), 0) from free f)
                             for update of t skip locked) x)
      update baton.tasks t set status = 'starting', daemon_id = s.id
        from todo join slots s on s.k = todo.k
       where t.id = todo.id and t.status = 'pending';
      get diagnostics v_n = row_count;
      v_assigned := v_assigned + v_n;
    end loop;
    -- Retries, one at a time, never waiting (see 000016).
    for v_retry in
      select t.id from baton.tasks t
       where t.id = any (task_ids) and t.owner_id = v_owner and t.status = 'pending' and t.directive_id = any (v_directives)
         and t.directive_id <> all (v_skip)
         and t.attempt > 1
         and exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = t.step_id and f.id <> t.id
                       and baton_private.task_attempt_failed(f.status) and f.daemon_id is not null)
       order by t.created_at, t.id
    loop
      if baton_private.assign_one_task(v_retry, true) then
        v_assigned := v_assigned + 1;
      end if;
    end loop;
  end loop;
  return v_assigned;
end;
$function$

-- baton_private.batch_add_steps(uuid,jsonb)
-- comment: The body of baton.batch_add_steps (000008) without the "check" field: validates and inserts a batch of steps atomically; returns them in input order.
CREATE OR REPLACE FUNCTION baton_private.batch_add_steps(directive_id uuid, steps jsonb)
 RETURNS SETOF baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.batch_add_steps_without_agent(uuid,jsonb)
-- comment: batch_add_steps as the migrations before 000026 left it; baton.batch_add_steps wraps it and adds each entry's "agent".
CREATE OR REPLACE FUNCTION baton_private.batch_add_steps_without_agent(directive_id uuid, steps jsonb)
 RETURNS SETOF baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.block_dependents(uuid)
-- comment: Marks every pending or ready transitive dependent blocked, in one statement.
CREATE OR REPLACE FUNCTION baton_private.block_dependents(step_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  -- Only pending and ready steps are walked: below a blocked or failed step everything waiting is
  -- blocked already.
  with recursive down (id) as (
    select d.step_id
      from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id
     where d.depends_on_step_id = block_dependents.step_id and s.status in ('pending', 'ready')
    union
    select d.step_id
      from down join baton.step_dependencies d on d.depends_on_step_id = down.id
      join baton.directive_steps s on s.id = d.step_id
     where s.status in ('pending', 'ready')
  )
  update baton.directive_steps s set status = 'blocked'
   where s.id in (select id from down) and s.status in ('pending', 'ready');
end;
$function$

-- baton_private.branch_name_problem(text)
-- comment: Why a name is not a valid git branch name ("it holds \"..\"", ...), or null when it is one.
CREATE OR REPLACE FUNCTION baton_private.branch_name_problem(name text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case
    when name is null or length(name) = 0 then 'it is empty'
    when octet_length(name) > 255 then 'it is longer than 255 bytes'
    when name ~ '[[:space:][:cntrl:]~^:?*\[\\]' then 'it holds a space, a control character or one of ~ ^ : ? * [ \'
    when name ~ '\.\.' then 'it holds ".."'
    when name ~ '@\{' then 'it holds "@{"'
    when name ~ '//' then 'it holds "//"'
    when name ~ '^[-/]' then 'it starts with "-" or "/"'
    when name ~ '[/.]$' then 'it ends with "/" or "."'
    when name ~ '(^|/)\.' then 'a part of it starts with "."'
    when name ~ '\.lock(/|$)' then 'a part of it ends with ".lock"'
    when name in ('@', 'HEAD') then 'it is "' || name || '"'
  end
$function$

-- baton_private.cancel_live_task(uuid,text)
-- comment: Cancels the step's pending, starting or running task.
CREATE OR REPLACE FUNCTION baton_private.cancel_live_task(step_id uuid, reason text)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  update baton.tasks t set status = 'cancelled', error = reason
   where t.step_id = cancel_live_task.step_id and t.kind = 'execution' and baton_private.task_is_live(t.status);
$function$

-- baton_private.check_directive_budget(uuid)
-- comment: When a directive's usage reached its budget_usd or budget_tokens and it was not yet paused for it: pauses it (if active or idle) with paused_reason "Budget reached: ..." in the same UPDATE, stamps budget_reached_at and raises the budget webhook event. Returns whether it did.
CREATE OR REPLACE FUNCTION baton_private.check_directive_budget(directive_id uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.create_signin_code(uuid,text,interval,integer)
-- comment: Stores a new sign-in code's hash for an owner, valid for ttl (at most 1 day); refuses a rotated token's generation. Returns when it expires. The server's login only.
CREATE OR REPLACE FUNCTION baton_private.create_signin_code(owner_id uuid, code_hash text, ttl interval, token_gen integer DEFAULT NULL::integer)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner baton.owners;
  v_expires timestamptz;
begin
  select * into v_owner from baton.owners o where o.id = create_signin_code.owner_id;
  if not found then
    raise exception 'Owner % does not exist.', owner_id using errcode = 'BTNFD';
  end if;
  if token_gen is not null and token_gen is distinct from v_owner.token_generation then
    raise exception 'This token was revoked by `baton token rotate`; ask for a new one.' using errcode = 'BTDNY';
  end if;
  if ttl is null or ttl <= interval '0' or ttl > interval '1 day' then
    raise exception 'A sign-in link lives more than 0 and at most 1 day (got %).', ttl using errcode = 'BTINV';
  end if;
  delete from baton_private.signin_codes c where c.expires_at < now() - interval '1 day';
  v_expires := now() + ttl;
  insert into baton_private.signin_codes (code_hash, owner_id, expires_at) values (code_hash, v_owner.id, v_expires);
  return v_expires;
end;
$function$

-- baton_private.current_actor()
-- comment: The API role of the current request, or the login for direct SQL.
CREATE OR REPLACE FUNCTION baton_private.current_actor()
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case when coalesce(current_setting('role', true), 'none') in ('none', '')
              then session_user::text else current_setting('role', true) end;
$function$

-- baton_private.current_agent_directive_id()  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: For an agent token whose task is still live and whose owner has not rotated its tokens since: its directive. Otherwise null, so the token stops working when the task ends.
CREATE OR REPLACE FUNCTION baton_private.current_agent_directive_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select t.directive_id from baton.tasks t
    join baton.owners o on o.id = t.owner_id
   where baton_private.current_api_role() = 'baton_agent'
     and t.id = baton_private.setting_uuid('baton.task_id')
     and t.directive_id = baton_private.setting_uuid('baton.directive_id')
     and t.owner_id = baton_private.setting_uuid('baton.owner_id')
     and o.token_generation = baton_private.token_generation()
     and baton_private.task_is_live(t.status);
$function$

-- baton_private.current_api_role()  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: The API role of this request. `admin` only when no role was set at all (direct SQL, the worker, the CLI's admin commands); any role other than the four API roles (baton_api included) counts as baton_anonymous.
CREATE OR REPLACE FUNCTION baton_private.current_api_role()
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case coalesce(current_setting('role', true), 'none')
           when 'none' then 'admin'
           when 'baton_user' then 'baton_user'
           when 'baton_daemon' then 'baton_daemon'
           when 'baton_agent' then 'baton_agent'
           else 'baton_anonymous' end;
$function$

-- baton_private.current_daemon_id()  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: The daemon of a live daemon token (not revoked, its owner has not rotated its tokens since), else null.
CREATE OR REPLACE FUNCTION baton_private.current_daemon_id()
 RETURNS uuid
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case when baton_private.current_api_role() = 'baton_daemon' and baton_private.current_owner_id() is not null
              then baton_private.setting_uuid('baton.daemon_id') end;
$function$

-- baton_private.current_owner_id()  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: The owner of the request's token, or null when the token is dead: its owner rotated its tokens since, or (a daemon token) its daemon is revoked or gone.
CREATE OR REPLACE FUNCTION baton_private.current_owner_id()
 RETURNS uuid
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_role text := coalesce(current_setting('role', true), 'none');
  v_key text;
  v_cached text;
  v_owner uuid;
begin
  if v_role = 'none' then
    return baton_private.setting_uuid('baton.owner_id');  -- admin (current_api_role's rule)
  end if;
  if v_role not in ('baton_user', 'baton_daemon', 'baton_agent') then
    return null;
  end if;
  v_key := v_role || '/' || coalesce(current_setting('baton.owner_id', true), '') || '/' || coalesce(current_setting('baton.daemon_id', true), '')
           || '/' || coalesce(current_setting('baton.token_gen', true), '') || '=';
  v_cached := current_setting('baton.checked_identity', true);
  if starts_with(v_cached, v_key) then
    return nullif(substr(v_cached, length(v_key) + 1), '')::uuid;
  end if;
  select o.id into v_owner from baton.owners o
   where o.id = baton_private.setting_uuid('baton.owner_id')
     and o.token_generation = baton_private.token_generation()
     and (v_role <> 'baton_daemon'
          or exists (select 1 from baton.daemons d
                      where d.id = baton_private.setting_uuid('baton.daemon_id') and d.owner_id = o.id and d.revoked_at is null));
  perform set_config('baton.checked_identity', v_key || coalesce(v_owner::text, ''), true);
  return v_owner;
end;
$function$

-- baton_private.daemon_directive_ids()  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: The directives the current daemon has a task of (none for any other caller): those it may read.
CREATE OR REPLACE FUNCTION baton_private.daemon_directive_ids()
 RETURNS SETOF uuid
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select distinct t.directive_id from baton.tasks t where t.daemon_id = (select baton_private.current_daemon_id());
$function$

-- baton_private.daemon_lease()
-- comment: The heartbeat lease of daemons.
CREATE OR REPLACE FUNCTION baton_private.daemon_lease()
 RETURNS interval
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ select daemon_lease from baton_private.settings $function$

-- baton_private.daemon_token_claims(uuid,interval)
-- comment: The claims of a new token for a daemon that is not revoked, valid for ttl (default settings.daemon_token_ttl, 1 hour).
CREATE OR REPLACE FUNCTION baton_private.daemon_token_claims(daemon_id uuid, ttl interval DEFAULT NULL::interval)
 RETURNS baton.jwt_token
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_daemon baton.daemons;
  v_generation integer;
  v_ttl interval := coalesce(ttl, (select s.daemon_token_ttl from baton_private.settings s));
begin
  select * into v_daemon from baton.daemons d where d.id = daemon_token_claims.daemon_id;
  if not found then
    raise exception 'Daemon % does not exist.', daemon_id
      using errcode = 'BTNFD', hint = 'Register a daemon with registerDaemon, then ask for its token with its id.';
  end if;
  if v_daemon.revoked_at is not null then
    raise exception 'Daemon % was revoked by its owner, so it gets no new token.', daemon_id
      using errcode = 'BTDNY', hint = 'Start a new daemon with `baton daemon run`; it registers under a new id.';
  end if;
  if v_ttl <= interval '0' then
    raise exception 'A token''s lifetime must be positive (got %).', v_ttl using errcode = 'BTINV';
  end if;
  select o.token_generation into v_generation from baton.owners o where o.id = v_daemon.owner_id;
  return row('baton_daemon', v_daemon.owner_id, v_daemon.id, null, null, extract(epoch from now() + v_ttl)::bigint, 'baton',
             v_generation)::baton.jwt_token;
end;
$function$

-- baton_private.daemon_transition_allowed(text,text)
-- comment: Whether a daemon may move from one status to another (connected and disconnected, both ways; a revoked daemon is refused by the guard).
CREATE OR REPLACE FUNCTION baton_private.daemon_transition_allowed(from_status text, to_status text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select case from_status
    when 'connected' then to_status = 'disconnected'
    when 'disconnected' then to_status = 'connected'
    else false end;
$function$

-- baton_private.daemon_works_on(uuid)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Whether the current daemon has a task of this directive assigned to it.
CREATE OR REPLACE FUNCTION baton_private.daemon_works_on(directive_id uuid)
 RETURNS boolean
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select exists (select 1 from baton.tasks t where t.daemon_id = (select baton_private.current_daemon_id())
                   and t.directive_id = daemon_works_on.directive_id);
$function$

-- baton_private.default_result_branch(uuid)
-- comment: The default result branch of a directive: baton/<directive-short>/result (the first 8 hex digits of its id).
CREATE OR REPLACE FUNCTION baton_private.default_result_branch(directive_id uuid)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ select 'baton/' || left(replace(directive_id::text, '-', ''), 8) || '/result' $function$

-- baton_private.directive_sources(text)
-- comment: The statuses from which a directive may become to_status, in order.
CREATE OR REPLACE FUNCTION baton_private.directive_sources(to_status text)
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select array(select s from unnest(baton_private.directive_statuses()) with ordinality u(s, n)
                where baton_private.directive_transition_allowed(s, to_status) order by n)
$function$

-- baton_private.directive_statuses()
-- comment: Every directive status, in the order messages list them.
CREATE OR REPLACE FUNCTION baton_private.directive_statuses()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$ select array['draft', 'active', 'paused', 'idle', 'archived'] $function$

-- baton_private.directive_transition_allowed(text,text)
-- comment: Whether a directive may move from one status to another. Archived allows nothing.
CREATE OR REPLACE FUNCTION baton_private.directive_transition_allowed(from_status text, to_status text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select case from_status
    when 'draft' then to_status in ('active', 'archived')
    when 'active' then to_status in ('paused', 'idle', 'archived')
    when 'paused' then to_status in ('active', 'archived')
    when 'idle' then to_status in ('active', 'paused', 'archived')
    else false end;
$function$

-- baton_private.disconnect(uuid,text)
-- comment: Disconnects a daemon and interrupts its starting and running tasks.
CREATE OR REPLACE FUNCTION baton_private.disconnect(daemon_id uuid, reason text)
 RETURNS baton.daemons
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task record;
  v_daemon baton.daemons;
begin
  for v_task in
    select t.id from baton.tasks t where t.daemon_id = disconnect.daemon_id and baton_private.task_occupies_slot(t.status)
     order by t.directive_id, t.id
  loop
    perform baton_private.interrupt_task(v_task.id, reason);
  end loop;
  update baton.daemons d set status = 'disconnected', disconnected_at = now()
   where d.id = disconnect.daemon_id and d.status = 'connected'
  returning * into v_daemon;
  if not found then
    select * into v_daemon from baton.daemons d where d.id = disconnect.daemon_id;
  end if;
  return v_daemon;
end;
$function$

-- baton_private.disconnect_daemon(uuid)
-- comment: Disconnects a daemon on purpose (it is shutting down); its live tasks are interrupted and retried elsewhere.
CREATE OR REPLACE FUNCTION baton_private.disconnect_daemon(daemon_id uuid)
 RETURNS baton.daemons
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not exists (select 1 from baton.daemons d where d.id = disconnect_daemon.daemon_id) then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD';
  end if;
  return baton_private.disconnect(daemon_id, 'The daemon disconnected.');
end;
$function$

-- baton_private.dispatch_latency_buckets()
-- comment: Upper bounds (seconds) of the dispatch latency histogram's buckets; src/metrics/database.ts has the same list.
CREATE OR REPLACE FUNCTION baton_private.dispatch_latency_buckets()
 RETURNS double precision[]
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ select array[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]::double precision[] $function$

-- baton_private.dispatch_new_task(uuid)
-- comment: Assigns a new task to the best daemon with room, waiting for its row if another transaction holds it, or queues dispatch_task so the task waits for room.
CREATE OR REPLACE FUNCTION baton_private.dispatch_new_task(task_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  -- One task: wait for the chosen daemon's row rather than skip it (the caller holds the task's
  -- directive, and whoever holds a daemon row never waits for a directive lock held here; see
  -- assign_tasks). Without a worker running, a skipped row would leave the task waiting for good.
  if not baton_private.assign_one_task(task_id, false) then
    perform baton_private.enqueue_dispatch_tasks(array[task_id]);
  end if;
end;
$function$

-- baton_private.enqueue(text,json,text,text)
-- comment: Adds a graphile-worker job in the caller's transaction, deduplicated by job key.
CREATE OR REPLACE FUNCTION baton_private.enqueue(task_identifier text, payload json, job_key text, job_key_mode text DEFAULT 'replace'::text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if job_key_mode = 'replace' then
    perform baton_private.add_jobs(array[row(task_identifier, payload, null, null, 10, job_key, null, null)::graphile_worker.job_spec]);
  else
    perform graphile_worker.add_job(identifier => task_identifier, payload => payload, max_attempts => 10,
                                    job_key => job_key, job_key_mode => job_key_mode);
  end if;
end;
$function$

-- baton_private.enqueue_dispatch_pending(uuid,uuid)
-- comment: Queues a dispatch_pending run for an owner: room may have appeared on one of its daemons (the one given, when known: it keys the job).
CREATE OR REPLACE FUNCTION baton_private.enqueue_dispatch_pending(owner_id uuid, daemon_id uuid DEFAULT NULL::uuid)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select baton_private.enqueue('dispatch_pending', json_build_object('owner_id', owner_id),
                               'dispatch_pending:' || owner_id || coalesce(':' || daemon_id, ''), 'replace');
$function$

-- baton_private.enqueue_dispatch_steps(uuid[])
-- comment: Queues the dispatch of the next attempt of each given step that is ready in an active directive and has no live task: one dispatch_steps job per directive (payload {directive_id}, replaced in place while it waits), in one add_jobs call.
CREATE OR REPLACE FUNCTION baton_private.enqueue_dispatch_steps(step_ids uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_specs graphile_worker.job_spec[];
begin
  if coalesce(cardinality(step_ids), 0) = 0 then
    return;
  end if;
  select array_agg(row('dispatch_steps', json_build_object('directive_id', x.directive_id), null, null, 10,
                       'dispatch_steps:' || x.directive_id, null, null)::graphile_worker.job_spec
                   order by x.directive_id)
    into v_specs
    from (select distinct s.directive_id
            from (select * from baton.directive_steps s0 where s0.id = any (step_ids) offset 0) s  -- offset 0: keep this scan first
           where s.status = 'ready'
             and (select d.status from baton.directives d where d.id = s.directive_id) = 'active'
             and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.kind = 'execution'
                             and baton_private.task_is_live(t.status))) x;
  if v_specs is not null then
    perform baton_private.add_jobs(v_specs);
  end if;
end;
$function$

-- baton_private.enqueue_dispatch_task(uuid)
-- comment: Queues the assignment of one pending task (see enqueue_dispatch_tasks).
CREATE OR REPLACE FUNCTION baton_private.enqueue_dispatch_task(task_id uuid)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ select baton_private.enqueue_dispatch_tasks(array[task_id]) $function$

-- baton_private.enqueue_dispatch_tasks(uuid[])
-- comment: Queues the assignment of these pending tasks: one dispatch_task job per directive, whose payload (an array of task ids) collects every task queued under its key before it runs.
CREATE OR REPLACE FUNCTION baton_private.enqueue_dispatch_tasks(task_ids uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_specs graphile_worker.job_spec[];
begin
  if coalesce(cardinality(task_ids), 0) = 0 then
    return;
  end if;
  select array_agg(row('dispatch_task', x.ids, null, null, 10, 'dispatch_task:' || x.directive_id, null, null)::graphile_worker.job_spec
                   order by x.directive_id)
    into v_specs
    from (select t.directive_id, json_agg(t.id order by t.created_at, t.id) as ids
            from baton.tasks t where t.id = any (task_ids) and t.status = 'pending' group by t.directive_id) x;
  if v_specs is not null then
    perform baton_private.add_jobs(v_specs);
  end if;
end;
$function$

-- baton_private.enqueue_webhooks(uuid,text,jsonb)
-- comment: Queues one signed delivery (job deliver_webhook) per webhook of owner_id that asked for event, with the body {"type": event, "timestamp": now, "data": payload}; returns how many. Triggers call it for idle, failed and paused; the question and budget features call it with their own payload (ids and short facts, never secrets). Raises BTINV for an unknown event.
CREATE OR REPLACE FUNCTION baton_private.enqueue_webhooks(owner_id uuid, event text, payload jsonb)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_hook record;
  v_count integer := 0;
  v_body text;
  v_message_id text;
begin
  if event is null or event <> all (baton_private.webhook_events()) then
    raise exception 'Unknown webhook event "%"; the events are %.', event, array_to_string(baton_private.webhook_events(), ', ')
      using errcode = 'BTINV';
  end if;
  for v_hook in select w.id from baton.webhooks w where w.owner_id = enqueue_webhooks.owner_id and enqueue_webhooks.event = any (w.events) loop
    v_message_id := 'msg_' || replace(gen_random_uuid()::text, '-', '');
    v_body := jsonb_build_object('type', event, 'timestamp', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                 'data', coalesce(payload, '{}'::jsonb))::text;
    perform graphile_worker.add_job(
      identifier => 'deliver_webhook',
      payload => json_build_object('webhook_id', v_hook.id, 'message_id', v_message_id, 'event', event, 'body', v_body),
      max_attempts => baton_private.webhook_max_attempts()
    );
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$function$

-- baton_private.error_last_line(text)
-- comment: The last non-empty line of an error text, at most 300 characters; null when there is none. Pause reasons quote it.
CREATE OR REPLACE FUNCTION baton_private.error_last_line(error text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select left(l, 300)
    from unnest(string_to_array(replace(coalesce(error, ''), E'\r', ''), E'\n')) with ordinality as x(l, n)
   where btrim(l) <> ''
   order by n desc
   limit 1
$function$

-- baton_private.find_batch_cycle(integer,integer[],integer[])
-- comment: Depth-first search for a cycle among nodes 1..n with edges sorted by source; returns the cycle (first node repeated at the end) or null. O(nodes + edges).
CREATE OR REPLACE FUNCTION baton_private.find_batch_cycle(node_count integer, edge_from integer[], edge_to integer[])
 RETURNS integer[]
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.fold_metric_deltas()
-- comment: Moves metric_deltas into metric_counts. Skips when another transaction is folding (advisory lock 7310421024).
CREATE OR REPLACE FUNCTION baton_private.fold_metric_deltas()
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  -- One folder at a time; the others skip (the scrape reads the unfolded deltas anyway).
  if not pg_try_advisory_xact_lock(7310421024) then
    return;
  end if;
  with d as (delete from baton_private.metric_deltas returning metric, label, n, sum),
       g as (select d.metric, d.label, sum(d.n)::bigint as n, sum(d.sum) as s from d group by d.metric, d.label)
  insert into baton_private.metric_counts as c (metric, label, n, sum)
  select g.metric, g.label, g.n, g.s from g
  on conflict (metric, label) do update set n = c.n + excluded.n, sum = c.sum + excluded.sum;
end;
$function$

-- baton_private.format_duration(integer)
-- comment: Shows seconds as a duration: 90 -> "1m30s", 1800 -> "30m", 86400 -> "1d".
CREATE OR REPLACE FUNCTION baton_private.format_duration(seconds integer)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select coalesce(nullif(concat(
    case when seconds >= 86400 then (seconds / 86400)::text || 'd' end,
    case when seconds % 86400 >= 3600 then (seconds % 86400 / 3600)::text || 'h' end,
    case when seconds % 3600 >= 60 then (seconds % 3600 / 60)::text || 'm' end,
    case when seconds % 60 > 0 then (seconds % 60)::text || 's' end), ''), '0s')
$function$

-- baton_private.heartbeat(uuid,uuid[])
-- comment: The body of baton.heartbeat: renews the lease; interrupts tasks the daemon no longer reports (sparing a task assigned within the lease and not yet running, and one that became running after the previous heartbeat); sends interrupt_task for reported tasks that are over; signals dispatch when the daemon has room.
CREATE OR REPLACE FUNCTION baton_private.heartbeat(daemon_id uuid, active_task_ids uuid[] DEFAULT '{}'::uuid[])
 RETURNS baton.daemons
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_daemon baton.daemons;
  v_task record;
  v_active uuid[] := coalesce(active_task_ids, '{}');
  v_was_available boolean;
begin
  select * into v_daemon from baton.daemons d where d.id = heartbeat.daemon_id;
  if not found then
    raise exception 'Daemon % does not exist.', daemon_id using errcode = 'BTNFD', hint = 'Register again with `baton daemon run`.';
  end if;
  -- Whether dispatchers could pick this daemon before this heartbeat (assign_tasks' test).
  v_was_available := v_daemon.status = 'connected' and v_daemon.last_heartbeat_at >= now() - baton_private.daemon_lease();
  -- PHASE 1: tasks the server thinks this daemon runs but it does not report are lost. Spared: a task
  -- only just assigned (starting, within the lease) may not have been spawned yet; a task that became
  -- running after the previous heartbeat may have been spawned after this heartbeat's list was made
  -- (the next heartbeat settles it). A checking or waiting task started running before (a waiting
  -- task keeps its started_at when it runs again).
  for v_task in
    select t.id, t.directive_id from baton.tasks t
     where t.daemon_id = v_daemon.id
       and ((t.status in ('running', 'waiting', 'checking') and t.started_at <= v_daemon.last_heartbeat_at)
            or (t.status = 'starting' and t.assigned_at < now() - baton_private.daemon_lease()))
       and t.id <> all (v_active)
     order by t.directive_id, t.id
  loop
    perform baton_private.interrupt_task(v_task.id, 'The daemon no longer reports this task (it was lost or its process ended).');
  end loop;
  -- PHASE 2: tasks the daemon runs that are already over on the server must stop.
  for v_task in
    select t.id from baton.tasks t
     where t.id = any (v_active) and (t.daemon_id is distinct from v_daemon.id or not baton_private.task_is_live(t.status))
  loop
    perform pg_notify('baton:daemon:' || v_daemon.id, json_build_object('type', 'interrupt_task', 'task_id', v_task.id)::text);
  end loop;
  -- PHASE 3: the lease is renewed (a disconnected daemon that heartbeats is connected again).
  update baton.daemons d
     set last_heartbeat_at = now(), status = 'connected', disconnected_at = null,
         connected_at = case when d.status = 'disconnected' then now() else d.connected_at end
   where d.id = v_daemon.id
  returning * into v_daemon;
  -- PHASE 4: room on a daemon that dispatchers skipped until now is a new fact: signal it
  -- unconditionally (see enqueue_dispatch_pending); otherwise only when tasks wait.
  if v_daemon.live_tasks < v_daemon.max_tasks then
    if v_was_available then
      perform baton_private.maybe_enqueue_dispatch_pending(v_daemon.owner_id, v_daemon.id);
    else
      perform baton_private.enqueue_dispatch_pending(v_daemon.owner_id, v_daemon.id);
    end if;
  end if;
  return v_daemon;
end;
$function$

-- baton_private.integration_max_attempts()
-- comment: How many attempts one integration gets (2, a step's default max_attempts) before its directive is paused.
CREATE OR REPLACE FUNCTION baton_private.integration_max_attempts()
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
AS $function$ select 2 $function$

-- baton_private.integration_sinks(uuid)
-- comment: The steps an integration merges: completed steps whose accepted attempt recorded a commit and on which no such step depends ([{step_id, name, status, branch, commit_sha}], in dispatch order).
CREATE OR REPLACE FUNCTION baton_private.integration_sinks(directive_id uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select coalesce(jsonb_agg(jsonb_build_object('step_id', p.id, 'name', p.name, 'status', p.status,
                                               'branch', pt.branch, 'commit_sha', pt.commit_sha)
                            order by p.order_index, p.created_at, p.id), '[]'::jsonb)
    from baton.directive_steps p
    join baton.tasks pt on pt.id = p.current_task_id and pt.status = 'completed' and pt.commit_sha is not null
   where p.directive_id = integration_sinks.directive_id and p.status = 'completed'
     and not exists (select 1 from baton.step_dependencies sd
                       join baton.directive_steps c on c.id = sd.step_id and c.status = 'completed'
                       join baton.tasks ct on ct.id = c.current_task_id and ct.status = 'completed' and ct.commit_sha is not null
                      where sd.depends_on_step_id = p.id)
$function$

-- baton_private.interrupt_task(uuid,text)
-- comment: Marks a live task interrupted (its step is retried under the usual rules).
CREATE OR REPLACE FUNCTION baton_private.interrupt_task(task_id uuid, reason text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive_id uuid;
begin
  select t.directive_id into v_directive_id from baton.tasks t where t.id = interrupt_task.task_id;
  perform baton_private.lock_directive(v_directive_id);
  update baton.tasks t set status = 'interrupted', error = reason
   where t.id = interrupt_task.task_id and baton_private.task_is_live(t.status);
end;
$function$

-- baton_private.json_limit_seconds(jsonb)
-- comment: Seconds of a step limit given in JSON: a duration string ("30m", "1h30m") or an integer number of seconds, 1 to 2,592,000; null for anything else.
CREATE OR REPLACE FUNCTION baton_private.json_limit_seconds(value jsonb)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case when s between 1 and 2592000 then s::integer end
    from (select case jsonb_typeof(value)
                   when 'string' then baton_private.try_duration_seconds(value #>> '{}')
                   when 'number' then case when (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric)
                                                and abs((value #>> '{}')::numeric) <= 2592000
                                           then (value #>> '{}')::numeric::bigint end
                 end as s) x
$function$

-- baton_private.label_problem(text)
-- comment: Why a daemon label or a step's agent is invalid (null when valid): 1 to 64 characters, letters, digits, ".", "_", "-" or ":", starting with a letter or digit.
CREATE OR REPLACE FUNCTION baton_private.label_problem(label text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case when label is null or label !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'
              then 'a label is 1 to 64 characters (letters, digits, ".", "_", "-" or ":") starting with a letter or digit' end
$function$

-- baton_private.labels_are_valid(text[])
-- comment: Whether a daemon's labels are valid: at most 32, each a label (see label_problem).
CREATE OR REPLACE FUNCTION baton_private.labels_are_valid(labels text[])
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select coalesce(cardinality(labels), 0) <= 32 and coalesce(array_ndims(labels), 1) = 1
     and not exists (select 1 from unnest(labels) l where baton_private.label_problem(l) is not null)
$function$

-- baton_private.latency_bucket(double precision)
-- comment: The label of the smallest dispatch latency bucket that holds an observation of that many seconds (+Inf beyond the last).
CREATE OR REPLACE FUNCTION baton_private.latency_bucket(seconds double precision)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select coalesce((select b::text from unnest(baton_private.dispatch_latency_buckets()) b where b >= latency_bucket.seconds order by b limit 1), '+Inf')
$function$

-- baton_private.lock_asking_task(uuid)
-- comment: For ask_question and an agent's cancel_question: checks that an agent token acts on its own live task (BTDNY), then locks the task's directive and the task.
CREATE OR REPLACE FUNCTION baton_private.lock_asking_task(task_id uuid)
 RETURNS baton.tasks
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task baton.tasks;
begin
  perform baton_private.assert_token_live();
  if baton_private.current_api_role() = 'baton_agent' then
    if lock_asking_task.task_id is distinct from baton_private.setting_uuid('baton.task_id') then
      raise exception 'This agent token is for task %, so it cannot ask for task %.', baton_private.setting_uuid('baton.task_id'), task_id
        using errcode = 'BTDNY';
    end if;
    if baton_private.current_agent_directive_id() is null then
      raise exception 'This agent token belonged to task %, which has ended; agent tokens stop working when their task ends.', task_id
        using errcode = 'BTDNY';
    end if;
  elsif baton_private.current_api_role() <> 'admin' then
    raise exception 'Only a task''s agent asks questions (with its BATON_TOKEN); this token is a %.', baton_private.current_api_role()
      using errcode = 'BTDNY';
  end if;
  select * into v_task from baton.tasks t where t.id = lock_asking_task.task_id;
  if not found then
    raise exception 'Task % does not exist.', task_id using errcode = 'BTNFD';
  end if;
  -- LOCK ORDER: the directive, then the task.
  perform 1 from baton.directives d where d.id = v_task.directive_id for no key update;
  select * into v_task from baton.tasks t where t.id = lock_asking_task.task_id for update;
  return v_task;
end;
$function$

-- baton_private.lock_directive(uuid)
-- comment: Locks and returns a directive; raises BTNFD when it does not exist.
CREATE OR REPLACE FUNCTION baton_private.lock_directive(directive_id uuid)
 RETURNS baton.directives
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives;
  v_role text := baton_private.current_api_role();
begin
  perform baton_private.assert_token_live();
  select * into v_directive from baton.directives d where d.id = lock_directive.directive_id for no key update;
  if found and v_role = 'baton_agent' and v_directive.id is distinct from baton_private.current_agent_directive_id() then
    if v_directive.id = baton_private.setting_uuid('baton.directive_id') then
      raise exception 'This agent token belonged to task %, which has ended; agent tokens stop working when their task ends.',
        baton_private.setting_uuid('baton.task_id') using errcode = 'BTDNY';
    end if;
    -- The other directive is not named: given a step id, the agent would learn its directive's id.
    raise exception 'This agent token is for directive %, so it cannot change another directive.',
      baton_private.setting_uuid('baton.directive_id') using errcode = 'BTDNY';
  end if;
  if not found
     or (v_role = 'baton_user' and v_directive.owner_id is distinct from baton_private.current_owner_id())
     or (v_role = 'baton_daemon' and not baton_private.daemon_works_on(v_directive.id))
     or v_role = 'baton_anonymous' then
    raise exception 'Directive % does not exist.', directive_id
      using errcode = 'BTNFD', hint = 'List your directives with `baton directive list`.';
  end if;
  return v_directive;
end;
$function$

-- baton_private.lock_limits(uuid,uuid[],boolean)
-- comment: Takes (wait) or tries the transaction-level advisory locks that serialise counting against owners.max_parallel and directives.max_parallel, for those set; returns the directives that may not be assigned now (their lock, or the owner's, is held elsewhere).
CREATE OR REPLACE FUNCTION baton_private.lock_limits(owner_id uuid, directive_ids uuid[], wait boolean)
 RETURNS uuid[]
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_skip uuid[] := '{}';
  v_id uuid;
begin
  if (select o.max_parallel from baton.owners o where o.id = lock_limits.owner_id) is not null then
    if wait then
      perform pg_advisory_xact_lock(731042, hashtext(owner_id::text));
    elsif not pg_try_advisory_xact_lock(731042, hashtext(owner_id::text)) then
      return coalesce(directive_ids, '{}');
    end if;
  end if;
  for v_id in select d.id from baton.directives d where d.id = any (directive_ids) and d.max_parallel is not null order by d.id loop
    if wait then
      perform pg_advisory_xact_lock(731043, hashtext(v_id::text));
    elsif not pg_try_advisory_xact_lock(731043, hashtext(v_id::text)) then
      v_skip := v_skip || v_id;
    end if;
  end loop;
  return v_skip;
end;
$function$

-- baton_private.lock_open_proposal(baton.directives,text)
-- comment: Locks and returns a directive's proposal waiting for review; BTNFD when there is none, BTSTS while its planner still writes it.
CREATE OR REPLACE FUNCTION baton_private.lock_open_proposal(d baton.directives, verb text)
 RETURNS baton.plan_proposals
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.lock_step(uuid)
-- comment: Locks a step's directive, then the step; raises BTNFD when the step does not exist.
CREATE OR REPLACE FUNCTION baton_private.lock_step(step_id uuid)
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive_id uuid;
  v_owner_id uuid;
  v_step baton.directive_steps;
begin
  select s.directive_id, s.owner_id into v_directive_id, v_owner_id from baton.directive_steps s where s.id = lock_step.step_id;
  -- Another owner's step is answered like a missing one, before lock_directive could name its directive.
  if not found or (baton_private.current_api_role() <> 'admin' and v_owner_id is distinct from baton_private.current_owner_id()) then
    raise exception 'Step % does not exist.', step_id
      using errcode = 'BTNFD', hint = 'See the steps of a directive with `baton directive status`.';
  end if;
  perform baton_private.lock_directive(v_directive_id);
  select * into v_step from baton.directive_steps s where s.id = lock_step.step_id for update;
  return v_step;
end;
$function$

-- baton_private.maybe_enqueue_dispatch_pending(uuid,uuid)
-- comment: Queues a dispatch_pending run for an owner that has tasks waiting for a daemon (only where a task committed later cannot be missed: see enqueue_dispatch_pending).
CREATE OR REPLACE FUNCTION baton_private.maybe_enqueue_dispatch_pending(owner_id uuid, daemon_id uuid DEFAULT NULL::uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if exists (select 1 from baton.tasks t where t.owner_id = maybe_enqueue_dispatch_pending.owner_id and t.status = 'pending') then
    perform baton_private.enqueue_dispatch_pending(owner_id, daemon_id);
  end if;
end;
$function$

-- baton_private.maybe_enqueue_dispatch_step(uuid)
-- comment: Enqueues the dispatch of a ready step's next attempt when its directive is active.
CREATE OR REPLACE FUNCTION baton_private.maybe_enqueue_dispatch_step(step_id uuid)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ select baton_private.enqueue_dispatch_steps(array[step_id]) $function$

-- baton_private.maybe_enqueue_planning(uuid)
-- comment: Enqueues a planning job when the directive needs (re-)planning.
CREATE OR REPLACE FUNCTION baton_private.maybe_enqueue_planning(directive_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives;
begin
  select * into v_directive from baton.directives d where d.id = maybe_enqueue_planning.directive_id;
  if baton_private.needs_planning(v_directive) then
    perform baton_private.enqueue(
      case when v_directive.planned_revision is null then 'plan_directive' else 'replan_directive' end,
      json_build_object('directive_id', v_directive.id, 'goal_revision', v_directive.goal_revision),
      'plan:' || v_directive.id || ':' || v_directive.goal_revision);
  end if;
end;
$function$

-- baton_private.maybe_fold_metric_deltas()
-- comment: Folds the metric deltas once every 512 calls, so that they stay few on a server that nobody scrapes.
CREATE OR REPLACE FUNCTION baton_private.maybe_fold_metric_deltas()
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if nextval('baton_private.metric_fold_ticket') % 512 = 0 then
    perform baton_private.fold_metric_deltas();
  end if;
end;
$function$

-- baton_private.maybe_idle(uuid)
-- comment: When an active directive has nothing left to run or plan: creates its integration task if settled work is to be integrated (needs_integration), waits while one is in flight, and otherwise moves it to idle.
CREATE OR REPLACE FUNCTION baton_private.maybe_idle(directive_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives;
begin
  select * into v_directive from baton.directives d
   where d.id = maybe_idle.directive_id and d.status = 'active' and d.open_steps = 0
     and d.orchestrator_task_id is null and d.planned_revision is not distinct from d.goal_revision;
  if not found or v_directive.integration_task_id is not null then
    return;
  end if;
  if baton_private.needs_integration(v_directive) then
    perform baton_private.start_integration(v_directive.id, 1);
    return;
  end if;
  update baton.directives d set status = 'idle', idle_at = now() where d.id = v_directive.id and d.status = 'active';
end;
$function$

-- baton_private.metric_counts_snapshot()
-- comment: The /metrics counters: folds what it can, then returns counts plus any deltas still unfolded, in one snapshot.
CREATE OR REPLACE FUNCTION baton_private.metric_counts_snapshot()
 RETURNS TABLE(metric text, label text, n bigint, sum double precision)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.fold_metric_deltas();
  return query
    select u.metric, u.label, sum(u.n)::bigint, sum(u.sum)
      from (select c.metric, c.label, c.n, c.sum from baton_private.metric_counts c
            union all
            select d.metric, d.label, d.n, d.sum from baton_private.metric_deltas d) u
     group by u.metric, u.label;
end;
$function$

-- baton_private.mirror_integration(baton.tasks)
-- comment: Mirrors a finished integration task into its directive: records the result and lets it go idle (completed), starts the next attempt (failed or interrupted, attempts left), or pauses it (out of attempts, or cancelled), due to integrate again on resume.
CREATE OR REPLACE FUNCTION baton_private.mirror_integration(t baton.tasks)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive baton.directives;
begin
  if baton_private.task_is_live(t.status) then
    return;
  end if;
  select * into v_directive from baton.directives d where d.id = t.directive_id;
  if not found or v_directive.integration_task_id is distinct from t.id then
    return;
  end if;
  if t.status = 'completed' then
    update baton.directives d
       set integration_task_id = null, result_branch = t.branch, result_commit = t.commit_sha, result_url = t.result_url, result_at = now()
     where d.id = t.directive_id;
    perform baton_private.record_event(t.owner_id, t.directive_id, 'directive', t.directive_id, 'integrated',
      v_directive.status::text, v_directive.status::text,
      jsonb_strip_nulls(jsonb_build_object('task_id', t.id, 'branch', t.branch, 'commit_sha', t.commit_sha, 'url', t.result_url)));
    perform baton_private.maybe_idle(t.directive_id);
    return;
  end if;
  update baton.directives d set integration_task_id = null where d.id = t.directive_id;
  if v_directive.status <> 'active' then
    update baton.directives d set integration_due = d.repo is not null where d.id = t.directive_id;
    return;
  end if;
  if baton_private.task_attempt_failed(t.status) and t.attempt < baton_private.integration_max_attempts() then
    perform baton_private.start_integration(t.directive_id, t.attempt + 1);
    return;
  end if;
  update baton.directives d set integration_due = true, status = 'paused' where d.id = t.directive_id;
end;
$function$

-- baton_private.needs_integration(baton.directives)
-- comment: True when the directive has a repository, settled work not integrated yet (integration_due), no integration in flight, and no failed or blocked step.
CREATE OR REPLACE FUNCTION baton_private.needs_integration(d baton.directives)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select d.repo is not null and d.integration_due and d.integration_task_id is null
     and not exists (select 1 from baton.directive_steps s
                      where s.directive_id = d.id and baton_private.step_blocks_dependents(s.status))
$function$

-- baton_private.needs_planning(baton.directives)
-- comment: True for an active directive with no planner in flight whose goal revision has not been planned yet.
CREATE OR REPLACE FUNCTION baton_private.needs_planning(d baton.directives)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select d.status = 'active' and d.orchestrator_task_id is null and d.planned_revision is distinct from d.goal_revision;
$function$

-- baton_private.normalize_task_status(text)
-- comment: Maps merged and done to completed, and lower-cases.
CREATE OR REPLACE FUNCTION baton_private.normalize_task_status(status text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$ select case lower(btrim(status)) when 'merged' then 'completed' when 'done' then 'completed' else lower(btrim(status)) end $function$

-- baton_private.notify_directive(uuid,bigint,text)
-- comment: NOTIFYs `baton:directive:<id>` with the transaction's first event id for that directive, the first time in this transaction only (a transaction-local list of notified directives).
CREATE OR REPLACE FUNCTION baton_private.notify_directive(directive_id uuid, first_event_id bigint, kind text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_notified text := coalesce(current_setting('baton.notified_directives', true), '');
begin
  if position(notify_directive.directive_id::text in v_notified) = 0 then
    perform set_config('baton.notified_directives', v_notified || notify_directive.directive_id::text || ',', true);
    perform pg_notify('baton:directive:' || notify_directive.directive_id::text,
                      json_build_object('event_id', first_event_id, 'kind', kind)::text);
  end if;
end;
$function$

-- baton_private.open_proposal(uuid)
-- comment: For a planning agent of a directive with review_plans: its proposal (created from the live plan on the first write, superseding any other open one); null for every other caller, whose writes go live.
CREATE OR REPLACE FUNCTION baton_private.open_proposal(directive_id uuid)
 RETURNS baton.plan_proposals
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.open_proposal_for_step(uuid)
-- comment: For remove_step and set_step_dependencies: the open proposal of a planning agent of a directive with review_plans (its directive locked first), else null.
CREATE OR REPLACE FUNCTION baton_private.open_proposal_for_step(step_id uuid)
 RETURNS baton.plan_proposals
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.or_list(text[])
-- comment: Joins words for a message: "a", "a or b", "a, b or c".
CREATE OR REPLACE FUNCTION baton_private.or_list(items text[])
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select case when cardinality(items) <= 1 then items[1]
              else array_to_string(items[1:cardinality(items) - 1], ', ') || ' or ' || items[cardinality(items)] end
$function$

-- baton_private.overdue_tasks(timestamp with time zone)
-- comment: Every running, waiting or checking task past its timeout (started_at older than the limit), and every running or checking one stalled (no output chunk for the stall limit, counted from started_at when it has none, or from its last question's close if later; never once its output was truncated; never while it waits for an answer), with the reason: "Timed out after 30m (the step's timeout)." or "Stalled: no output for 5m (the directive's stall limit)."
CREATE OR REPLACE FUNCTION baton_private.overdue_tasks(now timestamp with time zone)
 RETURNS TABLE(task_id uuid, directive_id uuid, reason text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select t.id, t.directive_id,
         case when l.timeout_seconds is not null and t.started_at <= overdue_tasks.now - make_interval(secs => l.timeout_seconds)
              then format('Timed out after %s (the %s''s timeout).', baton_private.format_duration(l.timeout_seconds), l.timeout_from)
              else format('Stalled: no output for %s (the %s''s stall limit).', baton_private.format_duration(l.stall_seconds), l.stall_from) end
    from baton.tasks t
    join baton.directives d on d.id = t.directive_id
    left join baton.directive_steps s on s.id = t.step_id
    cross join lateral (
      select coalesce(s.timeout_seconds, d.timeout_seconds) as timeout_seconds,
             case when s.timeout_seconds is not null then 'step' else 'directive' end as timeout_from,
             coalesce(s.stall_seconds, d.stall_seconds) as stall_seconds,
             case when s.stall_seconds is not null then 'step' else 'directive' end as stall_from) l
    left join lateral (
      select o.created_at, o.stream from baton.task_output o where o.task_id = t.id order by o.seq desc limit 1) last_chunk
      on l.stall_seconds is not null
    left join lateral (
      select max(q.closed_at) as closed_at from baton.questions q where q.task_id = t.id) last_question
      on l.stall_seconds is not null
   where baton_private.task_occupies_slot(t.status) and t.status <> 'starting'
     and ((l.timeout_seconds is not null and t.started_at <= overdue_tasks.now - make_interval(secs => l.timeout_seconds))
          or (l.stall_seconds is not null and last_chunk.stream is distinct from 'baton' and t.status::text <> 'waiting'
              and greatest(coalesce(last_chunk.created_at, t.started_at), last_question.closed_at)
                  <= overdue_tasks.now - make_interval(secs => l.stall_seconds)))
$function$

-- baton_private.override_step(uuid,text,text)
-- comment: Applies a manual step transition (from any status step_transition_allowed allows) and cancels the step's live task.
CREATE OR REPLACE FUNCTION baton_private.override_step(step_id uuid, to_status text, verb text)
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.owner_token(uuid,interval)
-- comment: The claims of a new token for an owner, valid for ttl (default settings.owner_token_ttl, 30 days) or until the owner rotates its tokens.
CREATE OR REPLACE FUNCTION baton_private.owner_token(owner_id uuid, ttl interval DEFAULT NULL::interval)
 RETURNS baton.jwt_token
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_owner baton.owners;
  v_ttl interval := coalesce(ttl, (select s.owner_token_ttl from baton_private.settings s));
begin
  select * into v_owner from baton.owners o where o.id = owner_token.owner_id;
  if not found then
    raise exception 'Owner % does not exist.', owner_id
      using errcode = 'BTNFD', hint = 'Create one with `baton owner create NAME`, or see `select id, name from baton.owners`.';
  end if;
  if v_ttl <= interval '0' then
    raise exception 'A token''s lifetime must be positive (got %).', v_ttl using errcode = 'BTINV';
  end if;
  return row('baton_user', v_owner.id, null, null, null, extract(epoch from now() + v_ttl)::bigint, 'baton',
             v_owner.token_generation)::baton.jwt_token;
end;
$function$

-- baton_private.pending_with_room(uuid[])
-- comment: How many of these tasks still wait in an active directive, and whether one of them has somewhere to go (a daemon of its owner with room and its step's agent among its labels, room under its directive's and owner's max_parallel): a dispatcher retries while both hold.
CREATE OR REPLACE FUNCTION baton_private.pending_with_room(task_ids uuid[])
 RETURNS TABLE(pending integer, room boolean)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  with p as (select t.owner_id, t.directive_id, dr.max_parallel, s.agent
               from baton.tasks t join baton.directives dr on dr.id = t.directive_id and dr.status = 'active'
               left join baton.directive_steps s on s.id = t.step_id
              where t.id = any (task_ids) and t.status = 'pending'),
       g as (select distinct p.owner_id, p.directive_id, p.max_parallel, p.agent from p)
  select (select count(*) from p)::integer,
         exists (select 1 from g
                  where exists (select 1 from baton.daemons d
                                 where d.owner_id = g.owner_id and d.status = 'connected' and d.live_tasks < d.max_tasks
                                   and d.last_heartbeat_at >= now() - baton_private.daemon_lease()
                                   and (g.agent is null or g.agent = any (d.labels)))
                    and (g.max_parallel is null
                         or (select count(*) from (select 1 from baton.tasks l
                                                    where l.directive_id = g.directive_id
                                                      and l.status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled')
                                                    limit g.max_parallel) n) < g.max_parallel)
                    and coalesce((select o.max_parallel - (select coalesce(sum(d.live_tasks), 0) from baton.daemons d where d.owner_id = o.id)
                                    from baton.owners o where o.id = g.owner_id), 1) > 0);
$function$

-- baton_private.plan_dry_run_code()
-- comment: The SQLSTATE a dry run raises to roll itself back (caught at once; never seen by a client).
CREATE OR REPLACE FUNCTION baton_private.plan_dry_run_code()
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
AS $function$ select 'BTRBK' $function$

-- baton_private.plan_proposal_statuses()
-- comment: Every plan proposal status, in the order messages list them.
CREATE OR REPLACE FUNCTION baton_private.plan_proposal_statuses()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$ select array['drafting', 'proposed', 'approved', 'rejected', 'superseded'] $function$

-- baton_private.plan_proposal_transition_allowed(text,text)
-- comment: Whether a plan proposal may move from one status to another: drafting -> proposed | superseded; proposed -> approved | rejected | superseded. The others are final.
CREATE OR REPLACE FUNCTION baton_private.plan_proposal_transition_allowed(from_status text, to_status text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select case from_status
    when 'drafting' then to_status in ('proposed', 'superseded')
    when 'proposed' then to_status in ('approved', 'rejected', 'superseded')
    else false end;
$function$

-- baton_private.proposal_step(baton.plan_proposals,uuid)
-- comment: The step of a proposal that is not removed, or BTNFD naming it.
CREATE OR REPLACE FUNCTION baton_private.proposal_step(proposal baton.plan_proposals, step_id uuid)
 RETURNS baton_private.plan_proposal_steps
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.proposal_step_row(uuid,uuid)
-- comment: The row a step function returns for a step of a proposal: a new step's stored row, or the live step.
CREATE OR REPLACE FUNCTION baton_private.proposal_step_row(proposal_id uuid, step_id uuid)
 RETURNS baton.directive_steps
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select coalesce(
    (select jsonb_populate_record(null::baton.directive_steps, ps.step || jsonb_build_object('remaining_deps', 0))
       from baton_private.plan_proposal_steps ps
      where ps.proposal_id = proposal_step_row.proposal_id and ps.step_id = proposal_step_row.step_id and ps.is_new),
    (select s from baton.directive_steps s where s.id = proposal_step_row.step_id));
$function$

-- baton_private.propose_remove_step(baton.plan_proposals,uuid,boolean)
-- comment: remove_step on a plan proposal: refuses completed and running live steps (BTSTS) and steps others depend on without force (BTDEP); with force re-wires the dependents onto its dependencies.
CREATE OR REPLACE FUNCTION baton_private.propose_remove_step(proposal baton.plan_proposals, step_id uuid, force boolean)
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.propose_step_dependencies(baton.plan_proposals,uuid,uuid[])
-- comment: set_step_dependencies on a plan proposal: the step must be waiting (BTSTS), its dependencies in the proposed plan (BTNFD), without a cycle (BTCYC, printing it).
CREATE OR REPLACE FUNCTION baton_private.propose_step_dependencies(proposal baton.plan_proposals, step_id uuid, depends_on uuid[])
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.propose_steps(baton.plan_proposals,jsonb)
-- comment: batch_add_steps into a plan proposal: checked by a rolled-back run of the live function (plus references to proposed and removed steps), stored as new proposal steps; returns them as the live function would, with their proposal ids.
CREATE OR REPLACE FUNCTION baton_private.propose_steps(proposal baton.plan_proposals, steps jsonb)
 RETURNS SETOF baton.directive_steps
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.question_answer(baton.questions,text)
-- comment: The answer to store for a question: the text itself, or for a question with choices the matching choice (case and surrounding spaces ignored). Raises BTINV for an empty or over-long answer, or one that is not among the choices, naming them.
CREATE OR REPLACE FUNCTION baton_private.question_answer(q baton.questions, answer text)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_choice text;
begin
  if answer is null or length(btrim(answer)) = 0 then
    raise exception 'The answer to question % is empty; give the text of the answer.', q.id
      using errcode = 'BTINV';
  end if;
  if octet_length(answer) > 16384 then
    raise exception 'The answer to question % is % bytes; the limit is 16384 bytes.', q.id, octet_length(answer)
      using errcode = 'BTINV', hint = 'Put a long answer in a file the agent can read, and answer with its path.';
  end if;
  if q.choices is null then
    return answer;
  end if;
  select c into v_choice from unnest(q.choices) c where lower(btrim(c)) = lower(btrim(answer)) limit 1;
  if not found then
    raise exception 'The answer "%" is not one of the choices of question %; answer with one of: %.', answer, q.id,
      (select string_agg(format('"%s"', c), ', ') from unnest(q.choices) c)
      using errcode = 'BTINV';
  end if;
  return v_choice;
end;
$function$

-- baton_private.question_statuses()
-- comment: Every question status, in the order messages list them.
CREATE OR REPLACE FUNCTION baton_private.question_statuses()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$ select array['open', 'answered', 'expired', 'cancelled'] $function$

-- baton_private.question_transition_allowed(text,text)
-- comment: Whether a question may move from one status to another: open -> answered | expired | cancelled. The others are final.
CREATE OR REPLACE FUNCTION baton_private.question_transition_allowed(from_status text, to_status text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select from_status = 'open' and to_status in ('answered', 'expired', 'cancelled') $function$

-- baton_private.reactivate(uuid)
-- comment: Moves an idle directive back to active when it has an open step, a goal to plan, or settled work to integrate.
CREATE OR REPLACE FUNCTION baton_private.reactivate(directive_id uuid)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  update baton.directives d set status = 'active'
   where d.id = reactivate.directive_id and d.status = 'idle'
     and (d.open_steps > 0 or d.planned_revision is distinct from d.goal_revision or baton_private.needs_integration(d));
$function$

-- baton_private.record_event(uuid,uuid,text,uuid,text,text,text,jsonb)
-- comment: Appends an event and notifies `baton:directive:<id>` once per transaction with the first event id.
CREATE OR REPLACE FUNCTION baton_private.record_event(owner_id uuid, directive_id uuid, subject_type text, subject_id uuid, kind text, from_status text DEFAULT NULL::text, to_status text DEFAULT NULL::text, detail jsonb DEFAULT NULL::jsonb)
 RETURNS bigint
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_event_id bigint;
begin
  insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
  values (record_event.owner_id, record_event.directive_id, record_event.subject_type, record_event.subject_id,
          record_event.kind, record_event.from_status, record_event.to_status, record_event.detail,
          baton_private.current_actor())
  returning id into v_event_id;
  if record_event.directive_id is not null then
    perform baton_private.notify_directive(record_event.directive_id, v_event_id, record_event.kind);
  end if;
  return v_event_id;
end;
$function$

-- baton_private.record_webhook_delivery(uuid,text,text,integer,integer,text,integer)
-- comment: Records one delivery attempt's outcome and keeps the newest 100 per webhook; nothing when the webhook was removed meanwhile.
CREATE OR REPLACE FUNCTION baton_private.record_webhook_delivery(webhook_id uuid, message_id text, event text, attempt integer, status_code integer, error text, duration_ms integer)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  insert into baton.webhook_deliveries (owner_id, webhook_id, message_id, event, attempt, status_code, error, duration_ms)
  select w.owner_id, w.id, message_id, event, attempt, status_code, left(error, 1000), greatest(duration_ms, 0)
    from baton.webhooks w where w.id = record_webhook_delivery.webhook_id;
  -- Keep the newest 100 attempts per webhook.
  delete from baton.webhook_deliveries d
   where d.webhook_id = record_webhook_delivery.webhook_id
     and d.id < (select d2.id from baton.webhook_deliveries d2 where d2.webhook_id = record_webhook_delivery.webhook_id
                  order by d2.id desc offset 99 limit 1);
end;
$function$

-- baton_private.recount_live_tasks()
-- comment: Recomputes daemons.live_tasks from the tasks; returns how many daemons had a wrong count (none, unless something bypassed the trigger).
CREATE OR REPLACE FUNCTION baton_private.recount_live_tasks()
 RETURNS integer
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  with c as (select d.id, (select count(*) from baton.tasks t where t.daemon_id = d.id and baton_private.task_occupies_slot(t.status))::integer as n
               from baton.daemons d),
       fixed as (update baton.daemons d set live_tasks = c.n from c where d.id = c.id and d.live_tasks <> c.n returning d.id)
  select count(*)::integer from fixed;
$function$

-- baton_private.redeem_signin_code(text)
-- comment: Signs in with a code's hash once: marks it used and returns its owner. A code that is unknown, used or expired is refused with what to do (BTNFD, BTDNY). The server's login only.
CREATE OR REPLACE FUNCTION baton_private.redeem_signin_code(code_hash text)
 RETURNS uuid
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_code baton_private.signin_codes;
begin
  select * into v_code from baton_private.signin_codes c where c.code_hash = redeem_signin_code.code_hash for update;
  if not found then
    raise exception 'This sign-in link is not valid. Run `baton web link` for a new one.' using errcode = 'BTNFD';
  end if;
  if v_code.used_at is not null then
    raise exception 'This sign-in link was already used (at %). A link signs in once: run `baton web link` for a new one.',
      to_char(v_code.used_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') using errcode = 'BTDNY';
  end if;
  if v_code.expires_at <= now() then
    raise exception 'This sign-in link expired (at %). Run `baton web link` for a new one.',
      to_char(v_code.expires_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') using errcode = 'BTDNY';
  end if;
  update baton_private.signin_codes c set used_at = now() where c.code_hash = v_code.code_hash;
  return v_code.owner_id;
end;
$function$

-- baton_private.refill_daemon(uuid,uuid,integer)
-- comment: Assigns up to `room` of the owner's waiting tasks to a daemon that just freed slots (the caller holds its row): in turn order (round-robin over directives, then priority), within the limits, only tasks whose step's agent is among its labels; skips rows and limit locks other transactions hold. Returns how many.
CREATE OR REPLACE FUNCTION baton_private.refill_daemon(daemon_id uuid, owner_id uuid, room integer)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_labels text[];
  v_skip uuid[];
  v_n integer;
begin
  -- Most slots freed find nothing waiting: one probe of the owner's pending tasks, and done.
  if room <= 0 or not exists (select 1 from baton.tasks t where t.owner_id = refill_daemon.owner_id and t.status = 'pending') then
    return 0;
  end if;
  select d.labels into v_labels from baton.daemons d where d.id = refill_daemon.daemon_id;
  v_skip := baton_private.lock_limits(owner_id,
              array(select d.id from baton.directives d where d.owner_id = refill_daemon.owner_id and d.status = 'active' and d.max_parallel is not null),
              false);
  with todo as (
         select t.id from baton.tasks t
           join baton_private.tasks_in_turn(refill_daemon.owner_id, null, room, v_skip, v_labels) c on c.task_id = t.id
          where t.status = 'pending'
            and (coalesce(t.attempt, 1) = 1
                 or not exists (select 1 from baton.tasks f where f.kind = 'execution' and f.step_id = t.step_id and f.daemon_id = refill_daemon.daemon_id
                                  and baton_private.task_attempt_failed(f.status)))
          order by c.k
          limit room
          for update of t skip locked)
  update baton.tasks t set status = 'starting', daemon_id = refill_daemon.daemon_id
    from todo where t.id = todo.id and t.status = 'pending';
  get diagnostics v_n = row_count;
  return v_n;
end;
$function$

-- baton_private.refresh_step(uuid,boolean)
-- comment: Recounts a waiting (or, with include_failed, failed) step's unmet dependencies and sets it pending, ready or blocked accordingly.
CREATE OR REPLACE FUNCTION baton_private.refresh_step(step_id uuid, include_failed boolean DEFAULT false)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update baton.directive_steps s
     set remaining_deps = c.unmet,
         status = case when c.broken > 0 then 'blocked' when c.unmet = 0 then 'ready' else 'pending' end::baton.step_status
    from (select count(*) filter (where not baton_private.step_satisfies_dependents(p.status)) as unmet,
                 count(*) filter (where baton_private.step_blocks_dependents(p.status)) as broken
            from baton.step_dependencies d join baton.directive_steps p on p.id = d.depends_on_step_id
           where d.step_id = refresh_step.step_id) c
   where s.id = refresh_step.step_id
     and (baton_private.step_is_waiting(s.status) or (include_failed and s.status = 'failed'));
end;
$function$

-- baton_private.remove_step(uuid,boolean)
-- comment: Removes a step. Refused (BTSTS) for a completed or running step; refused while other steps depend on it, unless force => true re-wires them onto its own dependencies. A pending or starting task of the step is cancelled.
CREATE OR REPLACE FUNCTION baton_private.remove_step(step_id uuid, force boolean DEFAULT false)
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_step baton.directive_steps := baton_private.lock_step(step_id);
  v_dependents text;
  v_dependent uuid;
  v_live uuid[];
  v_dependents_ids uuid[];
begin
  -- GUARD (everyone, force or not): work that is done or under way stays.
  perform baton_private.assert_step_removable(v_step);
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
$function$

-- baton_private.report_task_status(uuid,text,integer,text,text,text,uuid,text)
-- comment: The body of baton.report_task_status: records a task's new status with its error, branch, commit and (integration tasks) result URL. expected_version rejects a stale report (BTSTL); daemon_id rejects a report from another daemon (BTDNY), and a daemon's `completed` on a task with a check that is not checking (BTSTS). An integration completes only with its branch and commit (BTINV). A repeat of a finished task's status, or its own daemon's repeated `running` or `checking`, changes nothing; other reports on a finished task are late (BTSTL).
CREATE OR REPLACE FUNCTION baton_private.report_task_status(task_id uuid, status text, expected_version integer DEFAULT NULL::integer, error text DEFAULT NULL::text, branch text DEFAULT NULL::text, commit_sha text DEFAULT NULL::text, daemon_id uuid DEFAULT NULL::uuid, result_url text DEFAULT NULL::text)
 RETURNS baton.tasks
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_directive_id uuid;
  v_task baton.tasks;
  v_status text := baton_private.normalize_task_status(status);
begin
  -- LOCK ORDER: the directive first, then the task.
  select t.directive_id into v_directive_id from baton.tasks t where t.id = report_task_status.task_id;
  if not found then
    raise exception 'Task % does not exist.', task_id using errcode = 'BTNFD';
  end if;
  perform baton_private.lock_directive(v_directive_id);
  select * into v_task from baton.tasks t where t.id = report_task_status.task_id for update;

  if v_status is null or v_status <> all (baton_private.task_statuses()) then
    raise exception 'Unknown task status "%"; report one of running, checking, completed (or merged, done), failed, interrupted.', status
      using errcode = 'BTINV';
  end if;
  if report_task_status.daemon_id is not null and v_task.daemon_id is distinct from report_task_status.daemon_id then
    raise exception 'Task % is assigned to daemon %, not to daemon %; only its daemon may report on it.',
      v_task.id, coalesce(v_task.daemon_id::text, 'none'), report_task_status.daemon_id
      using errcode = 'BTDNY';
  end if;
  -- A finished task is final: a repeat of the same report is harmless, anything else is late.
  if not baton_private.task_is_live(v_task.status) then
    if v_task.status::text = v_status then
      return v_task;
    end if;
    raise exception 'Task % is already % (version %), so this late "%" report was ignored.', v_task.id, v_task.status, v_task.version, v_status
      using errcode = 'BTSTL';
  end if;
  -- Its daemon saying `running` or `checking` again (a retried report whose first try was recorded): nothing to do.
  if report_task_status.daemon_id is not null and v_task.status::text = v_status and v_status in ('running', 'checking') then
    return v_task;
  end if;
  if expected_version is not null and expected_version <> v_task.version then
    raise exception 'Task % is at version %, but this report was made against version %; it was ignored.', v_task.id, v_task.version, expected_version
      using errcode = 'BTSTL', hint = 'Re-read the task and report again if the report still applies.';
  end if;
  -- GUARD: the gate. A daemon completes a task that has a check only from `checking`.
  if report_task_status.daemon_id is not null and v_status = 'completed' and v_task.check_command is not null
     and v_task.status::text <> 'checking' then
    raise exception 'Task % has a check (%), so it can be completed only after its check ran; it is %.', v_task.id, v_task.check_command, v_task.status
      using errcode = 'BTSTS', detail = format('from=%s to=completed', v_task.status),
            hint = 'Report checking, run the check in the worktree, then report completed or failed. A daemon older than the server does not run checks: upgrade it.';
  end if;
  -- GUARD: an integration completes with its result.
  if v_task.kind = 'integration' and v_status = 'completed'
     and (coalesce(report_task_status.branch, v_task.branch) is null or coalesce(report_task_status.commit_sha, v_task.commit_sha) is null) then
    raise exception 'Task % is an integration, so it can be completed only with its result: report the result branch and its commit.', v_task.id
      using errcode = 'BTINV', hint = 'A daemon older than the server does not integrate: upgrade it.';
  end if;
  -- GUARD: the result URL (integration tasks only).
  if report_task_status.result_url is not null then
    if v_task.kind <> 'integration' then
      raise exception 'Task % is a % task, so it has no result URL; only integration tasks report one.', v_task.id, v_task.kind
        using errcode = 'BTINV';
    end if;
    if report_task_status.result_url !~ '^https?://[^[:space:]]+$' or octet_length(report_task_status.result_url) > 2048 then
      raise exception 'The result URL must be one http:// or https:// URL of at most 2048 bytes; got "%".', left(report_task_status.result_url, 200)
        using errcode = 'BTINV';
    end if;
  end if;
  perform baton_private.assert_text('the error', error, 0, 65536);
  update baton.tasks t
     set status = v_status::baton.task_status,
         error = coalesce(report_task_status.error, t.error),
         branch = coalesce(report_task_status.branch, t.branch),
         commit_sha = coalesce(report_task_status.commit_sha, t.commit_sha),
         result_url = coalesce(report_task_status.result_url, t.result_url)
   where t.id = v_task.id
  returning * into v_task;
  return v_task;
end;
$function$

-- baton_private.resolve_owner(uuid)
-- comment: The owner the caller acts for: from the token, else the argument, else the only owner.
CREATE OR REPLACE FUNCTION baton_private.resolve_owner(requested uuid)
 RETURNS uuid
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_setting uuid := baton_private.try_uuid(nullif(current_setting('baton.owner_id', true), ''));
  v_owners uuid[];
begin
  perform baton_private.assert_token_live();
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
$function$

-- baton_private.retry_failed_step(uuid)
-- comment: Resets a failed step's attempts and makes it pending, ready or blocked again.
CREATE OR REPLACE FUNCTION baton_private.retry_failed_step(step_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update baton.directive_steps s set attempts = 0 where s.id = retry_failed_step.step_id;
  perform baton_private.refresh_step(retry_failed_step.step_id, include_failed => true);
end;
$function$

-- baton_private.satisfy_dependents(uuid)
-- comment: Decrements the unmet-dependency counter of each direct dependent; those reaching 0 become ready.
CREATE OR REPLACE FUNCTION baton_private.satisfy_dependents(step_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  -- Dependents are locked in id order (the directive lock already serialises; this is the backstop).
  perform 1 from baton.directive_steps s
   where s.id in (select d.step_id from baton.step_dependencies d where d.depends_on_step_id = satisfy_dependents.step_id)
   order by s.id for update;
  update baton.directive_steps s
     set remaining_deps = s.remaining_deps - 1,
         status = case when s.status = 'pending' and s.remaining_deps = 1 then 'ready' else s.status end
    from baton.step_dependencies d
   where d.depends_on_step_id = satisfy_dependents.step_id
     and s.id = d.step_id
     and s.remaining_deps > 0;
end;
$function$

-- baton_private.set_step_dependencies(uuid,uuid[])
-- comment: Replaces the dependencies of a pending, ready or blocked step. Rejects nulls, unknown steps (another owner's steps are unknown), steps of your other directives and cycles (the message prints the cycle).
CREATE OR REPLACE FUNCTION baton_private.set_step_dependencies(step_id uuid, depends_on uuid[])
 RETURNS baton.directive_steps
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.setting_uuid(text)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: A uuid-valued setting of this request (from the token), or null.
CREATE OR REPLACE FUNCTION baton_private.setting_uuid(name text)
 RETURNS uuid
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$ select baton_private.try_uuid(nullif(current_setting(name, true), '')) $function$

-- baton_private.start_execution_tasks(uuid,jsonb)
-- comment: Creates, in one transaction, the next attempt's task of each given step ([{step_id, attempt, prompt}]) that is still ready in this active directive, and assigns them to daemons with room; the rest wait for dispatch_task. Safe to call twice.
CREATE OR REPLACE FUNCTION baton_private.start_execution_tasks(directive_id uuid, steps jsonb)
 RETURNS TABLE(step_id uuid, task_id uuid, daemon_id uuid)
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
declare
  v_directive baton.directives := baton_private.lock_directive(start_execution_tasks.directive_id);
  v_ids uuid[];
begin
  if v_directive.status <> 'active' then
    return;
  end if;
  with wanted as (
         select distinct on ((e ->> 'step_id')::uuid) (e ->> 'step_id')::uuid as step_id, (e ->> 'attempt')::integer as attempt, e ->> 'prompt' as prompt
           from jsonb_array_elements(steps) e
          order by (e ->> 'step_id')::uuid, (e ->> 'attempt')::integer desc),
       eligible as (
         select s.id, s.owner_id, s.total_attempts, w.prompt
           from baton.directive_steps s join wanted w on w.step_id = s.id
          where s.directive_id = v_directive.id and s.status = 'ready' and s.total_attempts < w.attempt
            and not exists (select 1 from baton.tasks t where t.step_id = s.id and t.kind = 'execution'
                            and baton_private.task_is_live(t.status))),
       created as (
         insert into baton.tasks (owner_id, directive_id, step_id, kind, attempt, prompt)
         select e.owner_id, v_directive.id, e.id, 'execution', e.total_attempts + 1, e.prompt from eligible e
         returning id, tasks.step_id),
       counted as (
         update baton.directive_steps s
            set attempts = s.attempts + 1, total_attempts = s.total_attempts + 1, current_task_id = c.id
           from created c where s.id = c.step_id
         returning s.id)
  select array_agg(c.id) into v_ids from created c;
  if v_ids is null then
    return;
  end if;
  if baton_private.assign_tasks(v_ids, true) < cardinality(v_ids) then
    perform baton_private.enqueue_dispatch_tasks(v_ids);
  end if;
  return query select t.step_id, t.id, t.daemon_id from baton.tasks t where t.id = any (v_ids);
end;
$function$

-- baton_private.start_integration(uuid,integer)
-- comment: Creates the directive's integration task (the given attempt, the directive's check), records it as integration_task_id, clears integration_due and queues its dispatch. Returns the task id.
CREATE OR REPLACE FUNCTION baton_private.start_integration(directive_id uuid, attempt integer)
 RETURNS uuid
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task uuid;
begin
  insert into baton.tasks (owner_id, directive_id, kind, attempt, check_command)
  select d.owner_id, d.id, 'integration', start_integration.attempt, d.check_command
    from baton.directives d where d.id = start_integration.directive_id
  returning id into v_task;
  update baton.directives d set integration_task_id = v_task, integration_due = false where d.id = start_integration.directive_id;
  perform baton_private.enqueue_dispatch_tasks(array[v_task]);
  return v_task;
end;
$function$

-- baton_private.step_blocks_dependents(baton.step_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Failed and blocked steps block their dependents; retry_step runs them again.
CREATE OR REPLACE FUNCTION baton_private.step_blocks_dependents(status baton.step_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status in ('failed', 'blocked') $function$

-- baton_private.step_dispatch_problem(uuid)  (execute: baton_agent,baton_user)
-- comment: Why a ready step cannot go to a daemon now (no connected daemon has its agent's label; its directive or owner is at max_parallel), or null. Only for the caller's own steps.
CREATE OR REPLACE FUNCTION baton_private.step_dispatch_problem(step_id uuid)
 RETURNS text
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_step baton.directive_steps;
  v_directive baton.directives;
  v_cap integer;
  v_live integer;
begin
  select * into v_step from baton.directive_steps s where s.id = step_dispatch_problem.step_id;
  if not found or v_step.status <> 'ready'
     or (baton_private.current_api_role() <> 'admin' and v_step.owner_id is distinct from baton_private.current_owner_id()) then
    return null;
  end if;
  if v_step.agent is not null and not exists (
       select 1 from baton.daemons d where d.owner_id = v_step.owner_id and d.status = 'connected'
          and d.last_heartbeat_at >= now() - baton_private.daemon_lease() and v_step.agent = any (d.labels)) then
    return format('no connected daemon has label %s', v_step.agent);
  end if;
  select * into v_directive from baton.directives d where d.id = v_step.directive_id;
  if v_directive.max_parallel is not null then
    select count(*)::integer into v_live from baton.tasks l
     where l.directive_id = v_directive.id and l.status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled');
    if v_live >= v_directive.max_parallel then
      return format('its directive runs %s tasks, its max_parallel', v_live);
    end if;
  end if;
  select o.max_parallel into v_cap from baton.owners o where o.id = v_step.owner_id;
  if v_cap is not null then
    select coalesce(sum(d.live_tasks), 0)::integer into v_live from baton.daemons d where d.owner_id = v_step.owner_id;
    if v_live >= v_cap then
      return format('its owner runs %s tasks, the owner''s max_parallel', v_live);
    end if;
  end if;
  return null;
end;
$function$

-- baton_private.step_is_in_flight(baton.step_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Ready and running steps are the ones an attempt (a task) may be under way for: a task's report moves only them.
CREATE OR REPLACE FUNCTION baton_private.step_is_in_flight(status baton.step_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status in ('ready', 'running') $function$

-- baton_private.step_is_open(baton.step_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Pending, ready and running steps are open: the directive is not idle while it has one.
CREATE OR REPLACE FUNCTION baton_private.step_is_open(status baton.step_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status in ('pending', 'ready', 'running') $function$

-- baton_private.step_is_waiting(baton.step_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Pending, ready and blocked steps have not started: they wait, and their dependencies may still be re-wired.
CREATE OR REPLACE FUNCTION baton_private.step_is_waiting(status baton.step_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status in ('pending', 'ready', 'blocked') $function$

-- baton_private.step_satisfies_dependents(baton.step_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Completed and skipped steps satisfy their dependents. Both are final.
CREATE OR REPLACE FUNCTION baton_private.step_satisfies_dependents(status baton.step_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status in ('completed', 'skipped') $function$

-- baton_private.step_sources(text)
-- comment: The statuses from which a step may become to_status, in order.
CREATE OR REPLACE FUNCTION baton_private.step_sources(to_status text)
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select array(select x from unnest(baton_private.step_statuses()) with ordinality u(x, n)
                where baton_private.step_transition_allowed(x, to_status) order by n)
$function$

-- baton_private.step_statuses()
-- comment: Every step status, in the order messages list them.
CREATE OR REPLACE FUNCTION baton_private.step_statuses()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$ select array['pending', 'ready', 'running', 'completed', 'failed', 'skipped', 'blocked'] $function$

-- baton_private.step_transition_allowed(text,text)
-- comment: Whether a step may move from one status to another. Completed and skipped allow nothing.
CREATE OR REPLACE FUNCTION baton_private.step_transition_allowed(from_status text, to_status text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select case from_status
    when 'pending' then to_status in ('ready', 'blocked', 'completed', 'failed', 'skipped')
    when 'ready' then to_status in ('pending', 'running', 'blocked', 'completed', 'failed', 'skipped')
    when 'running' then to_status in ('ready', 'completed', 'failed', 'skipped')
    when 'blocked' then to_status in ('pending', 'ready', 'completed', 'failed', 'skipped')
    when 'failed' then to_status in ('pending', 'ready', 'blocked', 'completed', 'skipped')
    else false end;
$function$

-- baton_private.task_attempt_failed(baton.task_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Failed and interrupted tasks used up an attempt of their step (a cancelled one gives it back).
CREATE OR REPLACE FUNCTION baton_private.task_attempt_failed(status baton.task_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status in ('failed', 'interrupted') $function$

-- baton_private.task_is_live(baton.task_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Pending, starting, running, waiting and checking tasks are live (every status but the terminal ones); the others are final.
CREATE OR REPLACE FUNCTION baton_private.task_is_live(status baton.task_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status not in ('completed', 'failed', 'interrupted', 'cancelled') $function$

-- baton_private.task_is_stopped(baton.task_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Interrupted and cancelled tasks were stopped from outside: their daemon is told to stop the agent.
CREATE OR REPLACE FUNCTION baton_private.task_is_stopped(status baton.task_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status in ('interrupted', 'cancelled') $function$

-- baton_private.task_occupies_slot(baton.task_status)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: Starting, running, waiting and checking tasks (live, and no longer pending) occupy one of their daemon's max_tasks slots.
CREATE OR REPLACE FUNCTION baton_private.task_occupies_slot(status baton.task_status)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$ select status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled') $function$

-- baton_private.task_statuses()
-- comment: Every task status, in the order messages list them.
CREATE OR REPLACE FUNCTION baton_private.task_statuses()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$ select array['pending', 'starting', 'running', 'waiting', 'checking', 'completed', 'failed', 'interrupted', 'cancelled'] $function$

-- baton_private.task_transition_allowed(text,text)
-- comment: Whether a task may move from one status to another: running -> waiting -> running (a question), waiting -> checking | completed | failed | interrupted | cancelled, and running -> checking besides the moves of 000005_tasks.sql. Terminal states allow nothing.
CREATE OR REPLACE FUNCTION baton_private.task_transition_allowed(from_status text, to_status text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
  select case from_status
    when 'pending' then to_status in ('starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'starting' then to_status in ('running', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'running' then to_status in ('waiting', 'checking', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'waiting' then to_status in ('running', 'checking', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'checking' then to_status in ('completed', 'failed', 'interrupted', 'cancelled')
    else false end;
$function$

-- baton_private.tasks_in_turn(uuid,uuid[],integer,uuid[],text[])
-- comment: The owner's pending tasks (of active directives; only task_ids when given) in the order free slots go to them, within the directives' and the owner's max_parallel: one per directive per round, the directive served least recently first, then priority (higher first), then age. k is the rank. labels: only tasks a daemon with them may take.
CREATE OR REPLACE FUNCTION baton_private.tasks_in_turn(owner_id uuid, task_ids uuid[] DEFAULT NULL::uuid[], max_tasks integer DEFAULT 200, skip_directives uuid[] DEFAULT '{}'::uuid[], labels text[] DEFAULT NULL::text[])
 RETURNS TABLE(task_id uuid, directive_id uuid, agent text, attempt integer, k bigint)
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_cap integer;
  v_room integer := max_tasks;
  v_dirs uuid[];
begin
  select o.max_parallel into v_cap from baton.owners o where o.id = tasks_in_turn.owner_id;
  if v_cap is not null then
    v_room := least(v_room, v_cap - (select coalesce(sum(d.live_tasks), 0)::integer from baton.daemons d where d.owner_id = tasks_in_turn.owner_id));
  end if;
  if coalesce(v_room, 0) <= 0 then
    return;
  end if;
  if task_ids is null then
    -- Most refills find nothing waiting: one probe of the owner's pending tasks, and done.
    if not exists (select 1 from baton.tasks t where t.owner_id = tasks_in_turn.owner_id and t.status = 'pending') then
      return;
    end if;
    v_dirs := array(select d.id from baton.directives d where d.owner_id = tasks_in_turn.owner_id and d.status = 'active'
                       and d.id <> all (coalesce(skip_directives, '{}'))
                       and exists (select 1 from baton.tasks t where t.directive_id = d.id and t.status = 'pending'));
  else
    v_dirs := array(select d.id from baton.directives d
                     where d.id in (select t.directive_id from baton.tasks t where t.id = any (task_ids) and t.status = 'pending')
                       and d.owner_id = tasks_in_turn.owner_id and d.status = 'active' and d.id <> all (coalesce(skip_directives, '{}')));
  end if;
  return query
    with dirs as (
           select x.id, x.priority, x.room,
                  (select max(l.assigned_at) from baton.tasks l
                    where l.directive_id = x.id and l.status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled')) as turn
             from (select d.id, d.priority,
                          case when d.max_parallel is null then v_room
                               else least(v_room, d.max_parallel - (select count(*)::integer from (
                                      select 1 from baton.tasks l
                                       where l.directive_id = d.id and l.status not in ('pending', 'completed', 'failed', 'interrupted', 'cancelled')
                                       limit d.max_parallel) n)) end as room
                     from baton.directives d where d.id = any (v_dirs)) x
            where x.room > 0),
         -- Each directive's first task that may go (its oldest eligible): the first round's order. With
         -- at least v_room directives, the first v_room of that round are the answer, so only they
         -- are read further (a refill of one slot reads one directive's tasks, not every directive's).
         firsts as (
           select x.id, x.priority, x.room, x.turn, f.created_at, f.id as first_id
             from dirs x
             cross join lateral (
               select t.id, t.created_at
                 from baton.tasks t left join baton.directive_steps s on s.id = t.step_id
                where t.directive_id = x.id and t.status = 'pending'
                  and (task_ids is null or t.id = any (task_ids))
                  and (labels is null or s.agent is null or s.agent = any (labels))
                order by t.created_at, t.id
                limit 1) f
            order by x.turn nulls first, x.priority desc, f.created_at, f.id
            limit v_room),
         cand as (
           select c.id, c.directive_id, c.agent, c.attempt, c.created_at, x.turn, x.priority,
                  row_number() over (partition by x.id order by c.created_at, c.id) as rn
             from firsts x
             cross join lateral (
               select t.id, t.directive_id, s.agent, t.attempt, t.created_at
                 from baton.tasks t left join baton.directive_steps s on s.id = t.step_id
                where t.directive_id = x.id and t.status = 'pending'
                  and (task_ids is null or t.id = any (task_ids))
                  and (labels is null or s.agent is null or s.agent = any (labels))
                order by t.created_at, t.id
                limit x.room) c)
    select c.id, c.directive_id, c.agent, c.attempt,
           row_number() over (order by c.rn, c.turn nulls first, c.priority desc, c.created_at, c.id)
      from cand c
     order by c.rn, c.turn nulls first, c.priority desc, c.created_at, c.id
     limit v_room;
end;
$function$

-- baton_private.tg__count_status_delete()
-- comment: Subtracts a statement's deleted rows by status from the metric counts (metric name in TG_ARGV[0]).
CREATE OR REPLACE FUNCTION baton_private.tg__count_status_delete()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  insert into baton_private.metric_deltas (metric, label, n)
  select tg_argv[0], r.status, -count(*) from old_rows r group by r.status;
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$function$

-- baton_private.tg__count_status_insert()
-- comment: Counts a statement's inserted rows by status into metric_deltas (metric name in TG_ARGV[0]).
CREATE OR REPLACE FUNCTION baton_private.tg__count_status_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  insert into baton_private.metric_deltas (metric, label, n)
  select tg_argv[0], r.status, count(*) from new_rows r group by r.status;
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$function$

-- baton_private.tg__count_status_truncate()
-- comment: Zeroes a truncated table's metric counts (metric name in TG_ARGV[0]).
CREATE OR REPLACE FUNCTION baton_private.tg__count_status_truncate()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  delete from baton_private.metric_deltas d where d.metric = tg_argv[0];
  delete from baton_private.metric_counts c where c.metric = tg_argv[0];
  return null;
end;
$function$

-- baton_private.tg__count_status_update()
-- comment: Moves one row from its old status to its new one in the metric counts (metric name in TG_ARGV[0]).
CREATE OR REPLACE FUNCTION baton_private.tg__count_status_update()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  insert into baton_private.metric_deltas (metric, label, n) values (tg_argv[0], old.status, -1), (tg_argv[0], new.status, 1);
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$function$

-- baton_private.tg__record_created_events()
-- comment: Records the `created` events of the rows one statement inserted, in one INSERT, and notifies each directive concerned once.
CREATE OR REPLACE FUNCTION baton_private.tg__record_created_events()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_actor text := baton_private.current_actor();
  v_first record;
begin
  -- One branch per table: a statement on the transition table is planned only when its branch runs.
  if tg_table_name = 'tasks' then
    for v_first in
      with ins as (
        insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
        select n.owner_id, n.directive_id, 'task', n.id, 'created', null, n.status::text,
               jsonb_strip_nulls(jsonb_build_object('kind', n.kind, 'step_id', n.step_id, 'daemon_id', n.daemon_id,
                                                    'attempt', n.attempt, 'error', left(n.error, 2000))), v_actor
          from new_rows n
        returning id, directive_id)
      select i.directive_id, min(i.id) as first_id from ins i group by i.directive_id order by 2
    loop
      perform baton_private.notify_directive(v_first.directive_id, v_first.first_id, 'created');
    end loop;
  elsif tg_table_name = 'directive_steps' then
    for v_first in
      with ins as (
        insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
        select n.owner_id, n.directive_id, 'step', n.id, 'created', null, n.status::text,
               jsonb_build_object('name', n.name, 'attempts', n.attempts), v_actor
          from new_rows n
        returning id, directive_id)
      select i.directive_id, min(i.id) as first_id from ins i group by i.directive_id order by 2
    loop
      perform baton_private.notify_directive(v_first.directive_id, v_first.first_id, 'created');
    end loop;
  elsif tg_table_name = 'directives' then
    for v_first in
      with ins as (
        insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
        select n.owner_id, n.id, 'directive', n.id, 'created', null, n.status::text, null, v_actor
          from new_rows n
        returning id, directive_id)
      select i.directive_id, min(i.id) as first_id from ins i group by i.directive_id order by 2
    loop
      perform baton_private.notify_directive(v_first.directive_id, v_first.first_id, 'created');
    end loop;
  else
    insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
    select n.owner_id, null, 'daemon', n.id, 'created', null, n.status::text, null, v_actor from new_rows n;
  end if;
  return null;
end;
$function$

-- baton_private.tg__record_status_event()
-- comment: Records a `status_changed` event for a directive, step, task or daemon whose status changed, with the few fields its detail keeps.
CREATE OR REPLACE FUNCTION baton_private.tg__record_status_event()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_type text;
  v_directive_id uuid;
  v_detail jsonb;
  v_event_id bigint;
begin
  -- NEW's fields are resolved when a branch runs, so each table reads only columns it has.
  case tg_table_name
    when 'tasks' then
      v_type := 'task';
      v_directive_id := new.directive_id;
      v_detail := jsonb_strip_nulls(jsonb_build_object('kind', new.kind, 'step_id', new.step_id, 'daemon_id', new.daemon_id,
                                                       'attempt', new.attempt, 'error', left(new.error, 2000)));
    when 'directive_steps' then
      v_type := 'step';
      v_directive_id := new.directive_id;
      v_detail := jsonb_build_object('name', new.name, 'attempts', new.attempts);
    when 'directives' then
      v_type := 'directive';
      v_directive_id := new.id;
    else
      v_type := 'daemon';
  end case;
  insert into baton.events (owner_id, directive_id, subject_type, subject_id, kind, from_status, to_status, detail, actor)
  values (new.owner_id, v_directive_id, v_type, new.id, 'status_changed', old.status::text, new.status::text, v_detail, baton_private.current_actor())
  returning id into v_event_id;
  if v_directive_id is not null then
    perform baton_private.notify_directive(v_directive_id, v_event_id, 'status_changed');
  end if;
  return null;
end;
$function$

-- baton_private.tg__timestamps()
-- comment: Sets updated_at on every update.
CREATE OR REPLACE FUNCTION baton_private.tg__timestamps()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.updated_at := now();
  return new;
end;
$function$

-- baton_private.tg_daemons__guard()
-- comment: Keeps a revoked daemon disconnected and revoked (BTDNY), and refuses any other status than connected and disconnected (BTSTS).
CREATE OR REPLACE FUNCTION baton_private.tg_daemons__guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if old.revoked_at is not null and new.status = 'connected' then
    raise exception 'Daemon % was revoked by its owner, so it cannot connect again.', new.id
      using errcode = 'BTDNY', hint = 'Start a new daemon with `baton daemon run`; it registers under a new id.';
  end if;
  if old.revoked_at is not null and new.revoked_at is null then
    raise exception 'Daemon % was revoked; a revocation cannot be undone.', new.id using errcode = 'BTDNY';
  end if;
  if new.status is distinct from old.status and not baton_private.daemon_transition_allowed(old.status::text, new.status::text) then
    raise exception 'Daemon % is %, so it cannot become %; a daemon is connected or disconnected.', old.id, old.status, new.status
      using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status);
  end if;
  return new;
end;
$function$

-- baton_private.tg_directive_steps__count_open()
-- comment: Keeps directives.open_steps in step with step statuses and marks settled work (integration_due), once per statement, then lets the directive integrate or go idle.
CREATE OR REPLACE FUNCTION baton_private.tg_directive_steps__count_open()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_delta record;
begin
  for v_delta in
    select x.directive_id, sum(x.delta)::int as delta, bool_or(x.settled) as settled from (
      select n.directive_id, 1 as delta, false as settled from new_rows n where baton_private.step_is_open(n.status)
      union all
      select o.directive_id, -1, false from old_rows o where baton_private.step_is_open(o.status)
      union all
      select n.directive_id, 0, true from new_rows n join old_rows o on o.id = n.id
       where baton_private.step_satisfies_dependents(n.status) and not baton_private.step_satisfies_dependents(o.status)
    ) x group by x.directive_id having sum(x.delta) <> 0 or bool_or(x.settled)
  loop
    update baton.directives d
       set open_steps = d.open_steps + v_delta.delta,
           integration_due = d.integration_due or (v_delta.settled and d.repo is not null)
     where d.id = v_delta.directive_id;
    if v_delta.delta < 0 or v_delta.settled then
      perform baton_private.maybe_idle(v_delta.directive_id);
    end if;
  end loop;
  return null;
end;
$function$

-- baton_private.tg_directive_steps__count_open_delete()
-- comment: Removes deleted open steps from directives.open_steps, marks the directive due for integration when a settled step was deleted, and lets it integrate or go idle.
CREATE OR REPLACE FUNCTION baton_private.tg_directive_steps__count_open_delete()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_delta record;
begin
  for v_delta in
    select o.directive_id, (count(*) filter (where baton_private.step_is_open(o.status)))::int as delta,
           bool_or(baton_private.step_satisfies_dependents(o.status)) as settled
      from old_rows o group by 1
    having count(*) filter (where baton_private.step_is_open(o.status)) > 0 or bool_or(baton_private.step_satisfies_dependents(o.status))
  loop
    update baton.directives d
       set open_steps = d.open_steps - v_delta.delta,
           integration_due = d.integration_due or (v_delta.settled and d.repo is not null)
     where d.id = v_delta.directive_id;
    perform baton_private.maybe_idle(v_delta.directive_id);
  end loop;
  return null;
end;
$function$

-- baton_private.tg_directive_steps__count_open_insert()
-- comment: Counts inserted open steps into directives.open_steps.
CREATE OR REPLACE FUNCTION baton_private.tg_directive_steps__count_open_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_delta record;
begin
  for v_delta in
    select n.directive_id, count(*)::int as delta from new_rows n where baton_private.step_is_open(n.status) group by 1
  loop
    update baton.directives d set open_steps = d.open_steps + v_delta.delta where d.id = v_delta.directive_id;
  end loop;
  return null;
end;
$function$

-- baton_private.tg_directive_steps__enqueue_ready()
-- comment: Enqueues dispatch_step, in one call per statement, for every step the statement made ready.
CREATE OR REPLACE FUNCTION baton_private.tg_directive_steps__enqueue_ready()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.enqueue_dispatch_steps(array(
    select n.id from new_rows n join old_rows o on o.id = n.id where n.status = 'ready' and o.status <> 'ready'));
  return null;
end;
$function$

-- baton_private.tg_directive_steps__guard()
-- comment: Refuses step transitions that step_transition_allowed does not list, and a ready, running or completed status while dependencies remain (BTSTS); stamps ready_at, started_at and finished_at.
CREATE OR REPLACE FUNCTION baton_private.tg_directive_steps__guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not baton_private.step_transition_allowed(old.status::text, new.status::text) then
    if baton_private.step_satisfies_dependents(old.status) then
      raise exception 'Step % is %, so it cannot become %; completed and skipped steps are final.', old.id, old.status, new.status
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
              hint = 'Add a new step (add-step) to do more.';
    end if;
    raise exception 'Step % is %, so it cannot become %; from % it can become %.', old.id, old.status, new.status, old.status,
      baton_private.or_list(array(select x from unnest(baton_private.step_statuses()) x where baton_private.step_transition_allowed(old.status::text, x)))
      using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
            hint = 'Move steps with complete_step, fail_step, skip_step and retry_step; readiness and blocking follow from their dependencies.';
  end if;
  if new.status in ('ready', 'running', 'completed') and new.remaining_deps > 0 then
    raise exception 'Step % still waits for % of its dependencies, so it cannot become %.', old.id, new.remaining_deps, new.status
      using errcode = 'BTSTS', detail = format('from=%s to=%s remaining_deps=%s', old.status, new.status, new.remaining_deps),
            hint = 'Complete or skip its dependencies first, or use complete_step, which completes it whatever it waits for.';
  end if;
  if new.status = 'ready' then new.ready_at := now(); end if;
  if new.status = 'running' then new.started_at := now(); end if;
  if new.status in ('completed', 'failed', 'skipped') then new.finished_at := now(); end if;
  return new;
end;
$function$

-- baton_private.tg_directive_steps__propagate()
-- comment: Satisfies, blocks or unblocks dependents after a step changes status.
CREATE OR REPLACE FUNCTION baton_private.tg_directive_steps__propagate()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if baton_private.step_satisfies_dependents(new.status) and not baton_private.step_satisfies_dependents(old.status) then
    perform baton_private.satisfy_dependents(new.id);
  end if;
  if baton_private.step_blocks_dependents(new.status) and not baton_private.step_blocks_dependents(old.status) then
    perform baton_private.block_dependents(new.id);
  elsif baton_private.step_blocks_dependents(old.status) and not baton_private.step_blocks_dependents(new.status) then
    perform baton_private.unblock_dependents(new.id);
  end if;
  return null;
end;
$function$

-- baton_private.tg_directive_steps__webhooks()
-- comment: Raises the failed webhook event when a step fails for good (its last attempt failed, or it was failed by hand).
CREATE OR REPLACE FUNCTION baton_private.tg_directive_steps__webhooks()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.enqueue_webhooks(new.owner_id, 'failed',
    jsonb_build_object('directive_id', new.directive_id, 'title', d.title, 'step_id', new.id, 'step_name', new.name,
                       'attempts', new.attempts, 'task_id', new.current_task_id,
                       'error', (select left(t.error, 1000) from baton.tasks t where t.id = new.current_task_id)))
    from baton.directives d where d.id = new.directive_id;
  return null;
end;
$function$

-- baton_private.tg_directives__clear_paused_reason()
-- comment: Clears paused_reason when a directive leaves paused.
CREATE OR REPLACE FUNCTION baton_private.tg_directives__clear_paused_reason()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.paused_reason := null;
  return new;
end;
$function$

-- baton_private.tg_directives__default_target_branch()
-- comment: Fills directives.target_branch with baton/<directive-short>/result when an insert leaves it null.
CREATE OR REPLACE FUNCTION baton_private.tg_directives__default_target_branch()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  new.target_branch := coalesce(new.target_branch, baton_private.default_result_branch(new.id));
  return new;
end;
$function$

-- baton_private.tg_directives__guard()
-- comment: Refuses directive transitions that directive_transition_allowed does not list, and idle while an integration task is in flight (BTSTS); stamps archived_at, idle_at and started_at.
CREATE OR REPLACE FUNCTION baton_private.tg_directives__guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if not baton_private.directive_transition_allowed(old.status::text, new.status::text) then
    if old.status = 'archived' then
      raise exception 'Directive % is archived, so it cannot become %; archiving is final.', old.id, new.status
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
              hint = 'Create a new directive instead.';
    end if;
    raise exception 'Directive % is %, so it cannot become %; from % it can become %.', old.id, old.status, new.status, old.status,
      baton_private.or_list(array(select x from unnest(baton_private.directive_statuses()) x
                                   where baton_private.directive_transition_allowed(old.status::text, x)))
      using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
            hint = 'Move directives with start_directive, pause_directive and archive_directive; idle and active follow from their work.';
  end if;
  if new.status = 'idle' and new.integration_task_id is not null then
    raise exception 'Directive % is integrating its result (task %), so it cannot become idle until that task ends.', old.id, new.integration_task_id
      using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
            hint = 'Wait for the integration task, or stop it with `baton task cancel`.';
  end if;
  -- archived_at must be set in the same row version as the status, for the CHECK constraint.
  if new.status = 'archived' then new.archived_at := coalesce(new.archived_at, now()); end if;
  if new.status = 'idle' then new.idle_at := now(); end if;
  if new.status = 'active' then new.started_at := coalesce(new.started_at, now()); end if;
  return new;
end;
$function$

-- baton_private.tg_directives__on_status()
-- comment: Dispatches, plans or idles a directive that became active; cancels and interrupts the tasks of an archived one.
CREATE OR REPLACE FUNCTION baton_private.tg_directives__on_status()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.status = 'active' then
    perform baton_private.enqueue_dispatch_steps(array(
      select s.id from baton.directive_steps s where s.directive_id = new.id and s.status = 'ready'));
    perform baton_private.enqueue_dispatch_tasks(array(
      select t.id from baton.tasks t where t.directive_id = new.id and t.status = 'pending'));
    perform baton_private.maybe_enqueue_planning(new.id);
    perform baton_private.maybe_idle(new.id);
  elsif new.status = 'archived' then
    update baton.tasks t set status = 'cancelled', error = 'The directive was archived.'
     where t.directive_id = new.id and t.status = 'pending';
    update baton.tasks t set status = 'interrupted', error = 'The directive was archived.'
     where t.directive_id = new.id and baton_private.task_occupies_slot(t.status);
  end if;
  return null;
end;
$function$

-- baton_private.tg_directives__paused_reason()
-- comment: Fills paused_reason on a move to paused that gave none: the planning or integration task of this directive that ended (failed, interrupted or cancelled) in this transaction and so caused the pause, with the last line of its error; otherwise "Paused by hand.". SECURITY DEFINER: the pausing writer (a daemon reporting its planner's failure) may not see every task of the directive.
CREATE OR REPLACE FUNCTION baton_private.tg_directives__paused_reason()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.tg_directives__webhooks()
-- comment: Raises the idle and paused webhook events when a directive becomes idle or paused (a pause with its reason).
CREATE OR REPLACE FUNCTION baton_private.tg_directives__webhooks()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.enqueue_webhooks(new.owner_id, new.status::text,
    jsonb_build_object('directive_id', new.id, 'title', new.title, 'from_status', old.status, 'status', new.status)
      || case when new.status = 'paused' then jsonb_build_object('reason', new.paused_reason) else '{}' end);
  return null;
end;
$function$

-- baton_private.tg_plan_proposals__check_insert()
-- comment: Refuses a new plan proposal that is not drafting (BTINV).
CREATE OR REPLACE FUNCTION baton_private.tg_plan_proposals__check_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.status <> 'drafting' or new.reason is not null or new.decided_at is not null then
    raise exception 'A new plan proposal is drafting, without a reason or decision; its planner''s writes fill it.'
      using errcode = 'BTINV';
  end if;
  return new;
end;
$function$

-- baton_private.tg_plan_proposals__guard()
-- comment: Refuses plan proposal moves that plan_proposal_transition_allowed does not list (BTSTS) and edits of anything but status and reason; requires a reason to reject (BTINV); stamps proposed_at, decided_at and updated_at.
CREATE OR REPLACE FUNCTION baton_private.tg_plan_proposals__guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.tg_plan_proposals__on_status()
-- comment: After a plan proposal moves: applies it (approved), makes its directive need planning again (rejected), and records a plan_<status> event. SECURITY DEFINER: it changes the live plan whoever moved it.
CREATE OR REPLACE FUNCTION baton_private.tg_plan_proposals__on_status()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$

-- baton_private.tg_questions__asked()
-- comment: After a question is inserted: moves its task running -> waiting, records a question_asked event and raises the question webhook event. SECURITY DEFINER: enqueue_webhooks reads the owner's webhooks.
CREATE OR REPLACE FUNCTION baton_private.tg_questions__asked()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_step_name text;
begin
  update baton.tasks t set status = 'waiting' where t.id = new.task_id and t.status::text = 'running';
  select s.name into v_step_name from baton.directive_steps s where s.id = new.step_id;
  perform baton_private.record_event(new.owner_id, new.directive_id, 'task', new.task_id, 'question_asked', null, null,
    jsonb_build_object('question_id', new.id, 'question', left(new.question, 500), 'choices', new.choices, 'expires_at', new.expires_at));
  perform baton_private.enqueue_webhooks(new.owner_id, 'question', jsonb_build_object(
    'question_id', new.id, 'directive_id', new.directive_id, 'task_id', new.task_id, 'step_id', new.step_id, 'step_name', v_step_name,
    'question', new.question, 'choices', new.choices, 'expires_at', new.expires_at,
    'answer_with', format('baton directive answer %s "ANSWER"', new.id)));
  return null;
end;
$function$

-- baton_private.tg_questions__check_insert()
-- comment: Checks a new question: its task is running or waiting (BTSTS), it is open without an answer, its text and choices are valid (BTINV); copies owner, directive and step from the task.
CREATE OR REPLACE FUNCTION baton_private.tg_questions__check_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_task baton.tasks;
begin
  select * into v_task from baton.tasks t where t.id = new.task_id;
  if not found then
    raise exception 'Task % does not exist.', new.task_id using errcode = 'BTNFD';
  end if;
  if v_task.status::text not in ('running', 'waiting') then
    raise exception 'Task % is %, so it cannot ask a question; only a running task can.', v_task.id, v_task.status
      using errcode = 'BTSTS', detail = format('from=%s to=waiting', v_task.status);
  end if;
  if new.status <> 'open' or new.answer is not null or new.answered_at is not null or new.closed_at is not null then
    raise exception 'A new question is open and has no answer yet; insert it with status open and no answer.'
      using errcode = 'BTINV';
  end if;
  if new.question is null or length(btrim(new.question)) = 0 then
    raise exception 'The question is empty; write what the agent needs to know.' using errcode = 'BTINV';
  end if;
  if octet_length(new.question) > 16384 then
    raise exception 'The question is % bytes; the limit is 16384 bytes.', octet_length(new.question)
      using errcode = 'BTINV', hint = 'Write the details to a file in the worktree and ask a short question that names it.';
  end if;
  if new.choices is not null then
    new.choices := array(select btrim(c) from unnest(new.choices) c);
    if cardinality(new.choices) < 2 or cardinality(new.choices) > 20 then
      raise exception 'A question has 2 to 20 choices, or none for a free-text answer; got %.', cardinality(new.choices)
        using errcode = 'BTINV';
    end if;
    if exists (select 1 from unnest(new.choices) c where c is null or length(c) = 0 or length(c) > 200) then
      raise exception 'Each choice is 1 to 200 characters; got an empty or longer one.' using errcode = 'BTINV';
    end if;
    if (select count(distinct lower(c)) from unnest(new.choices) c) < cardinality(new.choices) then
      raise exception 'The choices must differ (ignoring case); got %.', array_to_string(new.choices, ', ')
        using errcode = 'BTINV';
    end if;
  end if;
  new.owner_id := v_task.owner_id;
  new.directive_id := v_task.directive_id;
  new.step_id := v_task.step_id;
  new.created_at := now();
  return new;
end;
$function$

-- baton_private.tg_questions__closed()
-- comment: After a question leaves open: records a question_answered, question_expired or question_cancelled event, and moves its task waiting -> running when it has no other open question.
CREATE OR REPLACE FUNCTION baton_private.tg_questions__closed()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.record_event(new.owner_id, new.directive_id, 'task', new.task_id, 'question_' || new.status::text, null, null,
    jsonb_build_object('question_id', new.id));
  if not exists (select 1 from baton.questions q where q.task_id = new.task_id and q.closed_at is null) then
    update baton.tasks t set status = 'running' where t.id = new.task_id and t.status::text = 'waiting';
  end if;
  return null;
end;
$function$

-- baton_private.tg_questions__guard()
-- comment: Rejects illegal question moves (BTSTS, naming both states) and edits of what was asked; checks the answer (BTINV when it is not among the choices) and stamps answered_at and closed_at.
CREATE OR REPLACE FUNCTION baton_private.tg_questions__guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if (new.id, new.owner_id, new.directive_id, new.task_id, new.question, new.choices, new.expires_at, new.created_at)
     is distinct from (old.id, old.owner_id, old.directive_id, old.task_id, old.question, old.choices, old.expires_at, old.created_at) then
    raise exception 'Question % cannot be edited; only its status and answer change (answer it, or let it expire).', old.id
      using errcode = 'BTINV';
  end if;
  if new.status is distinct from old.status then
    if not baton_private.question_transition_allowed(old.status::text, new.status::text) then
      raise exception 'Question % is %, so it cannot become %; %.', old.id, old.status, new.status,
        case when old.status = 'open' then 'allowed from open are answered, expired and cancelled'
             else 'answered, expired and cancelled are final' end
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status),
              hint = case when old.status <> 'open' then 'The agent asks again with `baton ask` if it still needs a decision.' end;
    end if;
    if new.status = 'answered' then
      new.answer := baton_private.question_answer(old, new.answer);
      new.answered_at := now();
    elsif new.answer is not null then
      raise exception 'Question % is being marked %, so it takes no answer; set status to answered to answer it.', old.id, new.status
        using errcode = 'BTINV';
    end if;
    new.closed_at := now();
  elsif new.answer is distinct from old.answer then
    raise exception 'Question % is %, so its answer cannot change%.', old.id, old.status,
      case when old.status = 'open' then '; set status to answered with the answer' else '' end
      using errcode = 'BTSTS';
  end if;
  return new;
end;
$function$

-- baton_private.tg_tasks__cancel_questions()
-- comment: After a task leaves waiting: cancels its questions still open (it ended, or was moved by hand), so their `ask` stops waiting.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__cancel_questions()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update baton.questions q set status = 'cancelled'
   where q.task_id = new.id and q.closed_at is null;
  return null;
end;
$function$

-- baton_private.tg_tasks__check_budget()
-- comment: Checks the directive's budget when a task's usage grows.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__check_budget()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.check_directive_budget(new.directive_id);
  return null;
end;
$function$

-- baton_private.tg_tasks__count_live()
-- comment: Keeps daemons.live_tasks: one UPDATE per statement on tasks, whatever wrote them (a DBA's direct UPDATE included).
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__count_live()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_deltas jsonb;
begin
  if tg_op = 'INSERT' then
    select jsonb_agg(jsonb_build_object('daemon_id', x.daemon_id, 'delta', x.delta)) into v_deltas
      from (select n.daemon_id, count(*) as delta from new_rows n
             where n.daemon_id is not null and baton_private.task_occupies_slot(n.status) group by 1) x;
  elsif tg_op = 'DELETE' then
    select jsonb_agg(jsonb_build_object('daemon_id', x.daemon_id, 'delta', -x.n)) into v_deltas
      from (select o.daemon_id, count(*) as n from old_rows o
             where o.daemon_id is not null and baton_private.task_occupies_slot(o.status) group by 1) x;
  else
    select jsonb_agg(jsonb_build_object('daemon_id', x.daemon_id, 'delta', x.delta)) into v_deltas
      from (select y.daemon_id, sum(y.delta) as delta from (
              select n.daemon_id, 1 as delta from new_rows n
               where n.daemon_id is not null and baton_private.task_occupies_slot(n.status)
              union all
              select o.daemon_id, -1 from old_rows o
               where o.daemon_id is not null and baton_private.task_occupies_slot(o.status)) y
             group by 1 having sum(y.delta) <> 0) x;
  end if;
  if v_deltas is not null then
    perform baton_private.apply_live_task_deltas(v_deltas);
  end if;
  return null;
end;
$function$

-- baton_private.tg_tasks__count_usage()
-- comment: Adds a task's usage growth to the /metrics counters: metric `usage`, labels input_tokens and output_tokens (in n) and cost_usd (in sum).
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__count_usage()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  insert into baton_private.metric_deltas (metric, label, n, sum)
  values ('usage', 'input_tokens', coalesce(new.input_tokens, 0) - coalesce(old.input_tokens, 0), 0),
         ('usage', 'output_tokens', coalesce(new.output_tokens, 0) - coalesce(old.output_tokens, 0), 0),
         ('usage', 'cost_usd', 0, (coalesce(new.cost_usd, 0) - coalesce(old.cost_usd, 0))::double precision);
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$function$

-- baton_private.tg_tasks__guard()
-- comment: Rejects illegal task transitions (BTSTS), normalises merged/done, bumps version and stamps times.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__guard()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.status is distinct from old.status then
    if not baton_private.task_transition_allowed(old.status::text, new.status::text) then
      raise exception 'Task % is %, so it cannot become %; %.', old.id, old.status, new.status,
        case when baton_private.task_is_live(old.status) then 'allowed from ' || old.status || ' are ' ||
               (select string_agg(x, ', ') from unnest(baton_private.task_statuses()) x
                 where baton_private.task_transition_allowed(old.status::text, x))
             else 'completed, failed, interrupted and cancelled are final' end
        using errcode = 'BTSTS', detail = format('from=%s to=%s', old.status, new.status);
    end if;
    if baton_private.task_occupies_slot(new.status) and new.daemon_id is null then
      raise exception 'Task % has no daemon, so it cannot be %; assign it to a daemon first.', old.id, new.status
        using errcode = 'BTSTS';
    end if;
    if new.status = 'starting' then new.assigned_at := now(); end if;
    if new.status = 'running' then new.started_at := now(); new.assigned_at := coalesce(new.assigned_at, now()); end if;
    if not baton_private.task_is_live(new.status) then new.finished_at := now(); end if;
  end if;
  new.version := old.version + 1;
  return new;
end;
$function$

-- baton_private.tg_tasks__mirror()
-- comment: Mirrors a task's status into its step (running, completed, ready for another attempt, or failed), for planning tasks into its directive, and for integration tasks into its directive's result (mirror_integration).
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__mirror()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_step baton.directive_steps;
begin
  if new.kind = 'integration' then
    perform baton_private.mirror_integration(new);
    return null;
  end if;
  if new.kind = 'planning' then
    if new.status = 'completed' then
      update baton.directives d
         set orchestrator_task_id = null,
             planned_revision = greatest(coalesce(d.planned_revision, 0), new.goal_revision),
             current_generation = greatest(d.current_generation, new.generation)
       where d.id = new.directive_id and d.orchestrator_task_id = new.id;
      perform baton_private.maybe_enqueue_planning(new.directive_id);
      perform baton_private.maybe_idle(new.directive_id);
    elsif not baton_private.task_is_live(new.status) then
      -- A failed planner pauses the directive: planning again at once would likely fail the same way.
      update baton.directives d set orchestrator_task_id = null
       where d.id = new.directive_id and d.orchestrator_task_id = new.id;
      update baton.directives d set status = 'paused' where d.id = new.directive_id and d.status = 'active';
    end if;
    return null;
  end if;

  select * into v_step from baton.directive_steps s where s.id = new.step_id for update;
  -- A superseded attempt (or a removed step) never moves the step.
  if not found or v_step.current_task_id is distinct from new.id then
    return null;
  end if;
  case
    when baton_private.task_occupies_slot(new.status) then
      null;  -- ready -> running: once per statement (tg_tasks__mirror_started)
    when new.status = 'completed' then
      update baton.directive_steps s set status = 'completed' where s.id = v_step.id and baton_private.step_is_in_flight(s.status);
    when baton_private.task_attempt_failed(new.status) then
      update baton.directive_steps s
         set status = case when s.attempts < s.max_attempts then 'ready' else 'failed' end::baton.step_status
       where s.id = v_step.id and baton_private.step_is_in_flight(s.status);
    when new.status = 'cancelled' then
      -- Cancelled through no fault of the agent: the attempt is given back.
      update baton.directive_steps s set status = 'ready', attempts = greatest(s.attempts - 1, 0)
       where s.id = v_step.id and baton_private.step_is_in_flight(s.status);
    else
      null;
  end case;
  -- A step back to ready for another attempt asks for its dispatch (also when it never left ready).
  if baton_private.task_attempt_failed(new.status) or new.status = 'cancelled' then
    perform baton_private.maybe_enqueue_dispatch_step(v_step.id);
  end if;
  return null;
end;
$function$

-- baton_private.tg_tasks__mirror_started()
-- comment: Moves the steps of the tasks one statement started from ready to running, in one UPDATE.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__mirror_started()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update baton.directive_steps s set status = 'running'
    from new_rows n join old_rows o on o.id = n.id
   where n.kind = 'execution' and baton_private.task_occupies_slot(n.status) and not baton_private.task_occupies_slot(o.status)
     and s.id = n.step_id and s.current_task_id = n.id and s.status = 'ready';
  return null;
end;
$function$

-- baton_private.tg_tasks__notify_daemon()
-- comment: NOTIFYs `baton:daemon:<id>` with spawn_task when a task is assigned and interrupt_task when it is stopped.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__notify_daemon()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.daemon_id is null then
    return null;
  end if;
  if new.status = 'starting' and old.status = 'pending' then
    perform pg_notify('baton:daemon:' || new.daemon_id, json_build_object('type', 'spawn_task', 'task_id', new.id)::text);
  elsif baton_private.task_occupies_slot(old.status) and baton_private.task_is_stopped(new.status) then
    perform pg_notify('baton:daemon:' || new.daemon_id, json_build_object('type', 'interrupt_task', 'task_id', new.id)::text);
  end if;
  return null;
end;
$function$

-- baton_private.tg_tasks__observe_dispatch_latency()
-- comment: Adds a task's assignment to the dispatch latency histogram (metric dispatch_latency).
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__observe_dispatch_latency()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_seconds double precision := extract(epoch from new.assigned_at - coalesce(new.ready_at, new.created_at));
begin
  insert into baton_private.metric_deltas (metric, label, n, sum)
  values ('dispatch_latency', baton_private.latency_bucket(v_seconds), 1, v_seconds);
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$function$

-- baton_private.tg_tasks__settle_plan_proposal()
-- comment: After a planning task ends: its drafting proposal waits for review (completed) or is superseded (failed, interrupted, cancelled). SECURITY DEFINER: proposals are not the task writer's to update.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__settle_plan_proposal()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update baton.plan_proposals p
     set status = case when new.status = 'completed' then 'proposed' else 'superseded' end::baton.plan_proposal_status
   where p.task_id = new.id and p.status = 'drafting';
  return null;
end;
$function$

-- baton_private.tg_tasks__stamp_check_command()
-- comment: Stamps tasks.check_command on insert: the step's check, else the directive's.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__stamp_check_command()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.kind = 'execution' and new.check_command is null then
    select coalesce(s.check_command, d.check_command) into new.check_command
      from baton.directive_steps s join baton.directives d on d.id = s.directive_id
     where s.id = new.step_id;
  end if;
  return new;
end;
$function$

-- baton_private.tg_tasks__stamp_ready_at()
-- comment: Stamps tasks.ready_at on insert: when the step became ready (execution) or planning was needed, not before the directive's last activation; an integration task's work is ready when it is created.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__stamp_ready_at()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_activated_at timestamptz;
  v_since timestamptz;
begin
  if new.kind = 'integration' then
    new.ready_at := now();
    return new;
  end if;
  select max(e.created_at) into v_activated_at from baton.events e
   where e.subject_id = new.directive_id and e.subject_type = 'directive' and e.to_status = 'active';
  if new.kind = 'execution' then
    select s.ready_at into v_since from baton.directive_steps s where s.id = new.step_id;
  else
    select d.goal_updated_at into v_since from baton.directives d where d.id = new.directive_id;
  end if;
  new.ready_at := least(now(), coalesce(greatest(v_since, v_activated_at), now()));
  return new;
end;
$function$

-- baton_private.tg_tasks__supersede_plan_proposals()
-- comment: After a planning task is created: the open proposals of its directive are superseded. SECURITY DEFINER: proposals are not the task writer's to update.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__supersede_plan_proposals()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  update baton.plan_proposals p set status = 'superseded'
   where p.directive_id = new.directive_id and p.status in ('drafting', 'proposed') and p.task_id <> new.id;
  return null;
end;
$function$

-- baton_private.tg_tasks__waiting()
-- comment: Refuses a move to waiting without an open question (BTSTS); keeps started_at when a waiting task runs again. SECURITY DEFINER: it reads the task's questions whatever the caller's policies.
CREATE OR REPLACE FUNCTION baton_private.tg_tasks__waiting()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  if new.status::text = 'waiting' and old.status::text <> 'waiting'
     and not exists (select 1 from baton.questions q where q.task_id = new.id and q.closed_at is null) then
    raise exception 'Task % has no open question, so it cannot become waiting; an agent waits with `baton ask`.', new.id
      using errcode = 'BTSTS', detail = format('from=%s to=waiting', old.status);
  end if;
  if old.status::text = 'waiting' and new.status::text = 'running' then
    new.started_at := old.started_at;
  end if;
  return new;
end;
$function$

-- baton_private.token_generation()  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: The token generation the request's token carries (`baton.token_gen`; 0 when absent).
CREATE OR REPLACE FUNCTION baton_private.token_generation()
 RETURNS integer
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case when coalesce(current_setting('baton.token_gen', true), '') = '' then 0
              when current_setting('baton.token_gen', true) ~ '^[0-9]{1,9}$' then current_setting('baton.token_gen', true)::integer
              else -1 end;  -- garbage matches no generation
$function$

-- baton_private.transition_directive(baton.directives,text,text,text[])
-- comment: Changes a directive's status when the current one is allowed (by default, every status the machine allows it from), else raises BTSTS naming from, to and what is allowed.
CREATE OR REPLACE FUNCTION baton_private.transition_directive(d baton.directives, to_status text, verb text, allowed text[] DEFAULT NULL::text[])
 RETURNS baton.directives
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_allowed text[] := coalesce(allowed, baton_private.directive_sources(to_status));
  v_directive baton.directives;
  v_message text;
begin
  if not d.status::text = any (v_allowed) then
    -- "draft or paused", "draft, active, paused or idle"
    v_message := format('Directive %s is %s, so it cannot be %s; only %s directives can.', d.id, d.status, verb,
      baton_private.or_list(v_allowed));
    -- RAISE refuses a null option, so the hint needs its own branch.
    if d.status = 'archived' then
      raise exception using message = v_message, errcode = 'BTSTS',
        detail = format('from=%s to=%s allowed=%s', d.status, to_status, v_allowed),
        hint = 'Archiving is final; create a new directive instead.';
    end if;
    raise exception using message = v_message, errcode = 'BTSTS',
      detail = format('from=%s to=%s allowed=%s', d.status, to_status, v_allowed);
  end if;
  update baton.directives x set status = to_status::baton.directive_status where x.id = d.id;
  -- Re-read: the status trigger may have moved it on already (a resumed directive with nothing left
  -- to do goes idle at once), and the caller must get the row as it is.
  select * into v_directive from baton.directives x where x.id = d.id;
  return v_directive;
end;
$function$

-- baton_private.try_duration_seconds(text)
-- comment: Seconds in a duration such as "90s", "30m", "2h", "1h30m", "1d" or "45" (seconds); null when the text is not one.
CREATE OR REPLACE FUNCTION baton_private.try_duration_seconds(value text)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select case
    when v ~ '^[0-9]{1,9}$' then v::bigint
    when v ~ '^([0-9]{1,9}[dhms])+$' then
      (select sum(m[1]::bigint * case m[2] when 'd' then 86400 when 'h' then 3600 when 'm' then 60 else 1 end)
         from regexp_matches(v, '([0-9]+)([dhms])', 'g') m)
    end
  from (select lower(regexp_replace(value, '\s', '', 'g')) as v) x
$function$

-- baton_private.try_uuid(text)  (execute: baton_agent,baton_anonymous,baton_daemon,baton_user)
-- comment: The text as a uuid, or null when it is not one.
CREATE OR REPLACE FUNCTION baton_private.try_uuid(value text)
 RETURNS uuid
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  return value::uuid;
exception when invalid_text_representation then
  return null;
end;
$function$

-- baton_private.unblock_dependents(uuid)
-- comment: Returns blocked transitive dependents to pending or ready, in one statement, once nothing they depend on is failed or blocked.
CREATE OR REPLACE FUNCTION baton_private.unblock_dependents(step_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  with recursive candidate (id) as (
    select d.step_id
      from baton.step_dependencies d join baton.directive_steps s on s.id = d.step_id
     where d.depends_on_step_id = unblock_dependents.step_id and s.status = 'blocked'
    union
    select d.step_id
      from candidate join baton.step_dependencies d on d.depends_on_step_id = candidate.id
      join baton.directive_steps s on s.id = d.step_id
     where s.status = 'blocked'
  ),
  stuck (id) as (
    -- Candidates with a dependency that stays broken: failed, or blocked and not a candidate.
    select c.id
      from candidate c join baton.step_dependencies d on d.step_id = c.id
      join baton.directive_steps p on p.id = d.depends_on_step_id
     where baton_private.step_blocks_dependents(p.status) and p.id <> unblock_dependents.step_id
       and (p.status = 'failed' or p.id not in (select id from candidate))
    union
    -- ... and the candidates below them.
    select d.step_id
      from stuck join baton.step_dependencies d on d.depends_on_step_id = stuck.id
     where d.step_id in (select id from candidate)
  )
  update baton.directive_steps s
     set status = case when s.remaining_deps = 0 then 'ready' else 'pending' end::baton.step_status
   where s.id in (select id from candidate) and s.id not in (select id from stuck) and s.status = 'blocked';
end;
$function$

-- baton_private.utf8_prefix(text,integer)
-- comment: The longest prefix of the text whose UTF-8 encoding fits in max_bytes (whole characters only).
CREATE OR REPLACE FUNCTION baton_private.utf8_prefix(value text, max_bytes integer)
 RETURNS text
 LANGUAGE plpgsql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_bytes bytea := convert_to(value, 'UTF8');
  v_cut integer := max_bytes;
begin
  if max_bytes <= 0 then
    return '';
  end if;
  if octet_length(v_bytes) <= max_bytes then
    return value;
  end if;
  -- get_byte is 0-based: byte v_cut is the first one dropped; a continuation byte (10xxxxxx) there
  -- means the cut falls inside a character, so move it back to that character's first byte.
  while v_cut > 0 and (get_byte(v_bytes, v_cut) & 192) = 128 loop
    v_cut := v_cut - 1;
  end loop;
  return convert_from(substring(v_bytes from 1 for v_cut), 'UTF8');
end;
$function$

-- baton_private.webhook_events()
-- comment: The events a webhook may ask for, in the order the docs list them.
CREATE OR REPLACE FUNCTION baton_private.webhook_events()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE
AS $function$ select array['idle', 'failed', 'paused', 'question', 'budget']::text[] $function$

-- baton_private.webhook_limit()
-- comment: How many webhooks one owner may have (20): each event costs one job per webhook.
CREATE OR REPLACE FUNCTION baton_private.webhook_limit()
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
AS $function$ select 20 $function$

-- baton_private.webhook_max_attempts()
-- comment: How many times a message is attempted (8): graphile-worker's backoff, exp(attempt) seconds, spreads them over about 25 minutes.
CREATE OR REPLACE FUNCTION baton_private.webhook_max_attempts()
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
AS $function$ select 8 $function$

-- baton_private.webhook_target(uuid)
-- comment: The URL and signing secret of a webhook, for the deliver_webhook job; no row once it was removed.
CREATE OR REPLACE FUNCTION baton_private.webhook_target(webhook_id uuid)
 RETURNS TABLE(url text, secret bytea, owner_id uuid)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select w.url, s.secret, w.owner_id from baton.webhooks w join baton_private.webhook_secrets s on s.webhook_id = w.id
   where w.id = webhook_target.webhook_id
$function$

-- baton_private.writes_to_proposal(uuid)
-- comment: Locks the directive and says whether the caller (a planning agent of a directive with review_plans) writes steps to a plan proposal rather than the live plan. For wrappers of batch_add_steps.
CREATE OR REPLACE FUNCTION baton_private.writes_to_proposal(directive_id uuid)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform baton_private.lock_directive(directive_id);
  return (baton_private.open_proposal(directive_id)).id is not null;
end;
$function$

