/*
 * Task conditions a daemon needs: `tasks(condition: { daemonId, status })`.
 *
 * A daemon catching up after (re)connecting reads its tasks still `starting` (assigned but not yet
 * spawned), and an owner lists tasks by status. PostGraphile offers a condition only on indexed
 * columns; tasks.daemon_id and tasks.status are covered by partial indexes only (tasks_daemon_live_idx,
 * tasks_pending_idx), so the condition is enabled by smart tag. Row-level security already limits a
 * daemon to its own tasks, so the filter never scans more than the caller may see.
 */
comment on column baton.tasks.daemon_id is $$@behavior +filterBy
The daemon the task is assigned to; null while pending.$$;
comment on column baton.tasks.status is $$@behavior +filterBy
pending, starting, running, completed, failed, interrupted or cancelled.$$;
