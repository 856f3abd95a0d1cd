-- Baton for DBAs: drive a directive from draft to idle with psql alone (no Baton process running).
-- Run it against a fresh Baton database:  psql "$DATABASE_URL" -f docs/dba-walkthrough.sql
-- Each statement shows what the SQL state machine did; test/sql/dba_walkthrough.test.ts runs this file.

-- An owner, and a directive with a diamond: a -> (b, c) -> d.
select name from baton.create_owner('dba');
select title, status from baton.create_directive('Diamond', 'Try the state machine by hand');
select name, status, remaining_deps from baton.batch_add_steps(
  (select id from baton.directives where title = 'Diamond'),
  '[{"key": "a", "name": "a"},
    {"key": "b", "name": "b", "dependsOn": ["a"]},
    {"key": "c", "name": "c", "dependsOn": ["a"]},
    {"key": "d", "name": "d", "dependsOn": ["b", "c"]}]');

-- Starting it: a is ready (a dispatch job waits in graphile_worker.jobs for the worker).
select status from baton.start_directive((select id from baton.directives where title = 'Diamond'));
select name, status from baton.directive_steps order by order_index;
select step_name, waits_for_name, waits_for_status from baton.step_waits order by step_name, waits_for_name;

-- Play the daemon: create a's task and report it completed. b and c become ready.
select attempt, status from baton.create_execution_task((select id from baton.directive_steps where name = 'a'));
select status from baton.report_task_status((select current_task_id from baton.directive_steps where name = 'a'), 'completed');
select name, status from baton.directive_steps order by order_index;

-- b fails twice (max_attempts is 2): the first failure makes it ready again, the second fails it,
-- and d is blocked.
select attempt from baton.create_execution_task((select id from baton.directive_steps where name = 'b'));
select status from baton.report_task_status((select current_task_id from baton.directive_steps where name = 'b'), 'failed', error => 'tests failed');
select attempt from baton.create_execution_task((select id from baton.directive_steps where name = 'b'));
select status from baton.report_task_status((select current_task_id from baton.directive_steps where name = 'b'), 'failed', error => 'tests failed again');
select name, status, attempts from baton.directive_steps order by order_index;

-- c completes; d stays blocked by b. Retrying b unblocks d (pending again, waiting for b).
select attempt from baton.create_execution_task((select id from baton.directive_steps where name = 'c'));
select status from baton.report_task_status((select current_task_id from baton.directive_steps where name = 'c'), 'done');
select status from baton.retry_step((select id from baton.directive_steps where name = 'b'));
select name, status from baton.directive_steps order by order_index;

-- b and then d complete: the directive goes idle by itself.
select attempt from baton.create_execution_task((select id from baton.directive_steps where name = 'b'));
select status from baton.report_task_status((select current_task_id from baton.directive_steps where name = 'b'), 'completed');
select attempt from baton.create_execution_task((select id from baton.directive_steps where name = 'd'));
select status from baton.report_task_status((select current_task_id from baton.directive_steps where name = 'd'), 'merged');
select title, status, total_steps, completed_steps, percent_done from baton.directive_progress;

-- The history of every change.
select subject_type, kind, from_status, to_status from baton.events order by id;

-- The rules behind it: each table with a status declares the moves it allows in one function, and a
-- trigger refuses every other move, whoever asks. A step's machine:
select f as status, string_agg(t, ', ' order by tn) as may_become
  from unnest(baton_private.step_statuses()) with ordinality a(f, fn),
       unnest(baton_private.step_statuses()) with ordinality b(t, tn)
 where baton_private.step_transition_allowed(f, t)
 group by f, fn order by fn;
-- So not even a DBA can quietly undo work:
--   update baton.directive_steps set status = 'pending' where name = 'a';
--   ERROR:  Step … is completed, so it cannot become pending; completed and skipped steps are final.
--   HINT:  Add a new step (add-step) to do more.
