/*
 * Views for the questions DBAs ask most. security_invoker, so row-level security of the caller applies.
 */

create view baton.directive_progress with (security_invoker = true) as
select d.id as directive_id,
       d.owner_id,
       d.title,
       d.status,
       count(s.id)::int as total_steps,
       count(s.id) filter (where s.status = 'pending')::int as pending_steps,
       count(s.id) filter (where s.status = 'ready')::int as ready_steps,
       count(s.id) filter (where s.status = 'running')::int as running_steps,
       count(s.id) filter (where s.status = 'completed')::int as completed_steps,
       count(s.id) filter (where s.status = 'failed')::int as failed_steps,
       count(s.id) filter (where s.status = 'skipped')::int as skipped_steps,
       count(s.id) filter (where s.status = 'blocked')::int as blocked_steps,
       case when count(s.id) = 0 then 0
            else round(100.0 * count(s.id) filter (where baton_private.step_satisfies_dependents(s.status)) / count(s.id), 1) end as percent_done,
       (select count(*)::int from baton.tasks t where t.directive_id = d.id and baton_private.task_occupies_slot(t.status)) as running_tasks,
       (select e.kind || coalesce(': ' || e.subject_type || ' ' || e.to_status, '') from baton.events e
         where e.directive_id = d.id order by e.id desc limit 1) as last_event,
       (select max(e.created_at) from baton.events e where e.directive_id = d.id) as last_event_at
  from baton.directives d
  left join baton.directive_steps s on s.directive_id = d.id
 group by d.id;

comment on view baton.directive_progress is $$Progress per directive: steps by status, percent done (completed or skipped), running tasks and the last event.$$;
comment on column baton.directive_progress.directive_id is $$The directive.$$;
comment on column baton.directive_progress.owner_id is $$Its owner.$$;
comment on column baton.directive_progress.title is $$Its title.$$;
comment on column baton.directive_progress.status is $$Its status.$$;
comment on column baton.directive_progress.total_steps is $$All steps.$$;
comment on column baton.directive_progress.pending_steps is $$Steps waiting on dependencies.$$;
comment on column baton.directive_progress.ready_steps is $$Steps ready to be dispatched.$$;
comment on column baton.directive_progress.running_steps is $$Steps with a task running.$$;
comment on column baton.directive_progress.completed_steps is $$Completed steps.$$;
comment on column baton.directive_progress.failed_steps is $$Failed steps (attempts exhausted or failed by hand).$$;
comment on column baton.directive_progress.skipped_steps is $$Skipped steps.$$;
comment on column baton.directive_progress.blocked_steps is $$Steps blocked by a failed dependency.$$;
comment on column baton.directive_progress.percent_done is $$Completed and skipped steps as a percentage of all steps.$$;
comment on column baton.directive_progress.running_tasks is $$Tasks starting or running.$$;
comment on column baton.directive_progress.last_event is $$The last event, e.g. `status_changed: step completed`.$$;
comment on column baton.directive_progress.last_event_at is $$When the last event happened.$$;

create view baton.step_waits with (security_invoker = true) as
select s.id as step_id,
       s.directive_id,
       s.owner_id,
       s.name as step_name,
       s.status as step_status,
       p.id as waits_for_step_id,
       p.name as waits_for_name,
       p.status as waits_for_status
  from baton.directive_steps s
  join baton.step_dependencies d on d.step_id = s.id
  join baton.directive_steps p on p.id = d.depends_on_step_id
 where s.status in ('pending', 'blocked')
   and not baton_private.step_satisfies_dependents(p.status);

comment on view baton.step_waits is $$For every pending or blocked step, each dependency it still waits for and that dependency's status.$$;
comment on column baton.step_waits.step_id is $$The waiting step.$$;
comment on column baton.step_waits.directive_id is $$Its directive.$$;
comment on column baton.step_waits.owner_id is $$Its owner.$$;
comment on column baton.step_waits.step_name is $$The waiting step's name.$$;
comment on column baton.step_waits.step_status is $$pending or blocked.$$;
comment on column baton.step_waits.waits_for_step_id is $$A dependency that is not completed or skipped.$$;
comment on column baton.step_waits.waits_for_name is $$Its name.$$;
comment on column baton.step_waits.waits_for_status is $$Its status (failed or blocked explains a blocked step).$$;

grant select on baton.directive_progress, baton.step_waits to baton_user, baton_agent;
