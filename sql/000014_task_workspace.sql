/*
 * What a daemon needs to prepare a task's workspace: the repository and base branch, and what each
 * dependency produced (branch and final commit). Dependencies may have run on other daemons, whose
 * tasks this daemon cannot read, so this is a computed column that answers for the task's own daemon.
 */
create function baton.tasks_workspace(t baton.tasks) returns jsonb
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select jsonb_build_object(
    'repo', d.repo,
    'base_branch', d.base_branch,
    'directive_title', d.title,
    'step_name', s.name,
    'dependencies', coalesce((
      select jsonb_agg(jsonb_build_object('step_id', p.id, 'name', p.name, 'status', p.status,
                                          'branch', pt.branch, 'commit_sha', pt.commit_sha)
                       order by p.order_index, p.created_at, p.id)
        from baton.step_dependencies sd
        join baton.directive_steps p on p.id = sd.depends_on_step_id
        left join baton.tasks pt on pt.id = p.current_task_id
       where sd.step_id = r.step_id), '[]'::jsonb))
    -- The stored row, not the argument: a caller cannot pass a made-up row to read others' facts.
    from baton.tasks r
    join baton.directives d on d.id = r.directive_id
    left join baton.directive_steps s on s.id = r.step_id
   where r.id = t.id
     and (baton_private.current_api_role() = 'admin'
          or (baton_private.current_api_role() = 'baton_user' and r.owner_id = baton_private.current_owner_id())
          or (baton_private.current_api_role() = 'baton_daemon' and r.daemon_id = baton_private.current_daemon_id()));
$$;
comment on function baton.tasks_workspace(baton.tasks) is
  $$For the task's daemon: {repo, base_branch, directive_title, step_name, dependencies: [{step_id, name, status, branch, commit_sha}]} — where to clone from and which commits the worktree starts from.$$;
-- Agents read it too (it answers them null), so reading a task with an agent token never fails on it.
grant execute on function baton.tasks_workspace(baton.tasks) to baton_user, baton_daemon, baton_agent;
