/*
 * Questions (issue 12 point 2): an agent that needs a decision asks instead of guessing.
 *
 * `baton ask "Which database?" --choice Postgres --choice SQLite --timeout 30m` runs inside the agent
 * with its task token. It calls ask_question, which inserts a row in baton.questions; the row's
 * trigger moves the task running -> waiting, records a `question_asked` event (which NOTIFYs the
 * directive's channel) and raises the `question` webhook event. The command then blocks on the
 * directive's event feed until the question is no longer open, and prints the answer.
 *
 * Questions and answers are rows, so the owner answers with `baton directive answer` (answer_question),
 * a GraphQL client with the answerQuestion mutation, and a DBA with a plain
 * `update baton.questions set status = 'answered', answer = '...' where id = ...`: the _200_guard
 * trigger checks the move and the answer (one of the choices, when there are choices), and the
 * _800_resume_task trigger returns the task to running once it has no open question left.
 *
 * THE TASK'S `waiting` STATUS. running -> waiting (it asked) -> running (answered, expired or
 * cancelled). A waiting task is live and keeps its daemon slot (its agent process still runs). It
 * may also end from waiting as a running task may: interrupted (timeout, pause --interrupt, a lost
 * daemon), cancelled, failed, or checking/completed when its agent exits 0 anyway (an `ask` killed
 * by the agent); a task that leaves waiting any other way than through its questions cancels its
 * open questions, so a blocked `ask` never waits for a task that moved on. Invariant: a live task is
 * waiting exactly when it has an open question.
 *
 * TIMEOUTS. A question's own timeout (expires_at) is enforced by baton.expire_questions, which the
 * worker's sweep runs beside expire_tasks: the question becomes `expired`, the task running again,
 * and `ask` exits non-zero. The task's stall limit does not apply while it waits (silence is
 * expected), and after a question closes the stall clock restarts from that moment. Its wall-clock
 * timeout keeps counting while it waits: it bounds how long a slot is held, which is what it is for;
 * an agent that may wait long asks with a --timeout shorter than its step's.
 *
 * ONE CONSTRAINT ON THE SQL BELOW (as in 000018): the new enum value 'waiting' cannot be used in the
 * transaction that added it, so nothing parsed here compares a task_status with it: task statuses are
 * compared as text (status::text = 'waiting'), and plpgsql bodies are parsed when first run.
 *
 * LOCK ORDER: directive, then task, then its questions (ask_question, answer_question,
 * cancel_question and expire_questions take them so; a task leaving waiting updates its questions
 * after its own row).
 */

alter type baton.task_status add value if not exists 'waiting' after 'running';
comment on type baton.task_status is $$A task's status: pending, starting, running, waiting (its agent asked a question), checking, completed, failed, interrupted or cancelled (the state machine is in the table's comment).$$;

-- ---------------------------------------------------------------------------------------------
-- The task state machine, with `waiting`.
-- ---------------------------------------------------------------------------------------------

comment on table baton.tasks is $$@behavior -insert -update -delete
One run of a coding agent on a daemon: an attempt at a step (kind `execution`) or a planning run of a directive (kind `planning`).
Status: pending (waiting for a daemon) -> starting (assigned) -> running -> completed | failed | interrupted; running -> waiting (its agent asked a question) -> running (answered, expired or cancelled); waiting -> checking | completed | failed | interrupted (it ended while waiting; its open questions are cancelled); running or waiting -> checking (the agent exited 0 and the step's check runs) -> completed | failed | interrupted; pending, starting, running, waiting or checking -> cancelled. Terminal states are final.$$;
comment on column baton.tasks.status is $$@behavior +filterBy
pending, starting, running, waiting (its agent asked a question and waits for the answer), checking (the agent exited 0 and its check runs), completed, failed, interrupted or cancelled.$$;

create or replace function baton_private.task_statuses() returns text[]
language sql immutable
as $$ select array['pending', 'starting', 'running', 'waiting', 'checking', 'completed', 'failed', 'interrupted', 'cancelled'] $$;

-- task_is_live and task_occupies_slot are written as what a task is not (000018), so `waiting` is
-- live and occupies its daemon's slot without a change; only their comments say so.
comment on function baton_private.task_is_live(baton.task_status) is
  $$Pending, starting, running, waiting and checking tasks are live (every status but the terminal ones); the others are final.$$;
comment on function baton_private.task_occupies_slot(baton.task_status) is
  $$Starting, running, waiting and checking tasks (live, and no longer pending) occupy one of their daemon's max_tasks slots.$$;

create or replace function baton_private.task_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
as $$
  select case from_status
    when 'pending' then to_status in ('starting', 'running', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'starting' then to_status in ('running', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'running' then to_status in ('waiting', 'checking', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'waiting' then to_status in ('running', 'checking', 'completed', 'failed', 'interrupted', 'cancelled')
    when 'checking' then to_status in ('completed', 'failed', 'interrupted', 'cancelled')
    else false end;
$$;
comment on function baton_private.task_transition_allowed(text, text) is
  $$Whether a task may move from one status to another: running -> waiting -> running (a question), waiting -> checking | completed | failed | interrupted | cancelled, and running -> checking besides the moves of 000005_tasks.sql. Terminal states allow nothing.$$;

-- ---------------------------------------------------------------------------------------------
-- The questions.
-- ---------------------------------------------------------------------------------------------

create type baton.question_status as enum ('open', 'answered', 'expired', 'cancelled');
comment on type baton.question_status is $$A question's status: open, answered, expired or cancelled (the state machine is in the table's comment).$$;

/*
 * owner_id and directive_id are copied from the task for row-level security and the owner's lists;
 * step_id for showing which step asks. 16 KiB for a question or an answer: a decision, not a document
 * (the agent can point at a file in its worktree). At most 20 choices of 200 characters each.
 */
create table baton.questions (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references baton.owners (id) on delete cascade,
  directive_id uuid not null references baton.directives (id) on delete cascade,
  task_id uuid not null references baton.tasks (id) on delete cascade,
  step_id uuid references baton.directive_steps (id) on delete set null,
  question text not null,
  choices text[],
  status baton.question_status not null default 'open',
  answer text,
  answered_at timestamptz,
  closed_at timestamptz,
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  constraint question_is_valid check (length(btrim(question)) >= 1 and octet_length(question) <= 16384),
  constraint choices_are_valid check (choices is null or (cardinality(choices) between 2 and 20 and array_position(choices, null) is null
    and array_ndims(choices) = 1)),
  constraint answer_only_when_answered check ((status = 'answered') = (answer is not null)),
  constraint answer_is_valid check (answer is null or (length(btrim(answer)) >= 1 and octet_length(answer) <= 16384)),
  constraint answer_is_a_choice check (answer is null or choices is null or answer = any (choices)),
  constraint answered_at_only_when_answered check ((status = 'answered') = (answered_at is not null)),
  constraint closed_at_only_when_closed check ((status <> 'open') = (closed_at is not null))
);
-- The open questions of a task (the resume trigger, the stall sweep), of a directive (its owner's
-- list, directive status), and those with a deadline (the expiry sweep).
create index questions_task_idx on baton.questions (task_id, closed_at);
create index questions_directive_idx on baton.questions (directive_id, created_at);
create index questions_owner_open_idx on baton.questions (owner_id, created_at) where status = 'open';
create index questions_expiring_idx on baton.questions (expires_at) where status = 'open' and expires_at is not null;
create index questions_step_idx on baton.questions (step_id);
-- Conditions on status (the CLI lists open questions): PostGraphile offers conditions only on indexed columns.
create index questions_status_idx on baton.questions (directive_id, status);

comment on table baton.questions is $$@behavior -insert -update -delete
A question an agent asked while working on a task (`baton ask`), and its answer. While it is open its task is `waiting`.
Status: open -> answered (by the owner: answerQuestion, `baton directive answer`, or a DBA's UPDATE) | expired (its timeout passed) | cancelled (the agent gave up, or its task ended or moved on). answered, expired and cancelled are final.$$;
comment on column baton.questions.id is $$The question's id (what `baton directive answer` takes).$$;
comment on column baton.questions.owner_id is $$The owner (copied from the task for row-level security).$$;
comment on column baton.questions.directive_id is $$The directive whose task asks.$$;
comment on column baton.questions.task_id is $$The task whose agent asks; it is `waiting` while the question is open.$$;
comment on column baton.questions.step_id is $$The step the task attempts (null for a planning task).$$;
comment on column baton.questions.question is $$The question, as the agent wrote it (at most 16 KiB).$$;
comment on column baton.questions.choices is $$The answers the agent accepts (2 to 20); null for a free-text answer. An answer must be one of them.$$;
comment on column baton.questions.status is $$@behavior +filterBy
open, answered, expired or cancelled.$$;
comment on column baton.questions.answer is $$The answer (at most 16 KiB); set when answered, null otherwise.$$;
comment on column baton.questions.answered_at is $$When it was answered.$$;
comment on column baton.questions.closed_at is $$When it stopped being open (answered, expired or cancelled); the task's stall clock restarts from here.$$;
comment on column baton.questions.expires_at is $$When it expires unanswered (the agent's --timeout); null: it waits until answered or its task ends.$$;
comment on column baton.questions.created_at is $$When it was asked.$$;
-- The step's questions read as `questions` in GraphQL (not `questionsByStepId`).
comment on constraint questions_step_id_fkey on baton.questions is $$@foreignFieldName questions
The step the asking task attempts.$$;
comment on constraint question_is_valid on baton.questions is $$A question is not blank and at most 16 KiB.$$;
comment on constraint choices_are_valid on baton.questions is $$Choices are null, or 2 to 20 non-null texts.$$;
comment on constraint answer_only_when_answered on baton.questions is $$An answered question has an answer; no other has one.$$;
comment on constraint answer_is_valid on baton.questions is $$An answer is not blank and at most 16 KiB.$$;
comment on constraint answer_is_a_choice on baton.questions is $$A question with choices is answered with one of them.$$;
comment on constraint answered_at_only_when_answered on baton.questions is $$answered_at is set exactly when it is answered.$$;
comment on constraint closed_at_only_when_closed on baton.questions is $$closed_at is set exactly when it is no longer open.$$;

/* Row-level security like tasks': the owner reads its questions, an agent those of its live directive (its own `ask` polls its question); daemons none (granted, as webhooks are, so a daemon's query sees no rows instead of an error). */
alter table baton.questions enable row level security;
alter table baton.questions force row level security;
do $$
begin
  execute format('create policy definer_all on baton.questions for all to %I using (true) with check (true)', current_user);
end
$$;
create policy select_visible on baton.questions for select using (
  case (select baton_private.current_api_role())
    when 'admin' then true
    when 'baton_user' then owner_id = (select baton_private.current_owner_id())
    when 'baton_agent' then directive_id = (select baton_private.current_agent_directive_id())
    else false end);
grant select on baton.questions to baton_user, baton_daemon, baton_agent;

-- ---------------------------------------------------------------------------------------------
-- The question state machine.
-- ---------------------------------------------------------------------------------------------

create function baton_private.question_statuses() returns text[]
language sql immutable
as $$ select array['open', 'answered', 'expired', 'cancelled'] $$;
comment on function baton_private.question_statuses() is $$Every question status, in the order messages list them.$$;

create function baton_private.question_transition_allowed(from_status text, to_status text) returns boolean
language sql immutable
as $$ select from_status = 'open' and to_status in ('answered', 'expired', 'cancelled') $$;
comment on function baton_private.question_transition_allowed(text, text) is
  $$Whether a question may move from one status to another: open -> answered | expired | cancelled. The others are final.$$;

/*
 * Checks an answer against a question's choices, for answer_question and the guard alike. A choice
 * matches ignoring case and surrounding spaces; the answer stored is the choice as the agent wrote it.
 */
create function baton_private.question_answer(q baton.questions, answer text) returns text
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.question_answer(baton.questions, text) is
  $$The answer to store for a question: the text itself, or for a question with choices the matching choice (case and surrounding spaces ignored). Raises BTINV for an empty or over-long answer, or one that is not among the choices, naming them.$$;

/* Guards every question update (API or a DBA's direct UPDATE): legal moves only, a valid answer, timestamps. */
create function baton_private.tg_questions__guard() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.tg_questions__guard() is
  $$Rejects illegal question moves (BTSTS, naming both states) and edits of what was asked; checks the answer (BTINV when it is not among the choices) and stamps answered_at and closed_at.$$;
create trigger _200_guard before update on baton.questions
  for each row execute function baton_private.tg_questions__guard();

/*
 * A new question (from ask_question or a DBA's INSERT): its task must be running or already waiting
 * (another question open); it starts open; owner, directive and step come from the task.
 */
create function baton_private.tg_questions__check_insert() returns trigger
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.tg_questions__check_insert() is
  $$Checks a new question: its task is running or waiting (BTSTS), it is open without an answer, its text and choices are valid (BTINV); copies owner, directive and step from the task.$$;
create trigger _200_check_insert before insert on baton.questions
  for each row execute function baton_private.tg_questions__check_insert();

/* A question asked: its task waits, the directive's feed hears of it, and the owner's `question` webhooks fire. */
create function baton_private.tg_questions__asked() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.tg_questions__asked() is
  $$After a question is inserted: moves its task running -> waiting, records a question_asked event and raises the question webhook event. SECURITY DEFINER: enqueue_webhooks reads the owner's webhooks.$$;
create trigger _800_asked after insert on baton.questions
  for each row execute function baton_private.tg_questions__asked();

/* A question closed: the feed hears of it, and its task runs again once no open question is left. */
create function baton_private.tg_questions__closed() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.record_event(new.owner_id, new.directive_id, 'task', new.task_id, 'question_' || new.status::text, null, null,
    jsonb_build_object('question_id', new.id));
  if not exists (select 1 from baton.questions q where q.task_id = new.task_id and q.closed_at is null) then
    update baton.tasks t set status = 'running' where t.id = new.task_id and t.status::text = 'waiting';
  end if;
  return null;
end;
$$;
comment on function baton_private.tg_questions__closed() is
  $$After a question leaves open: records a question_answered, question_expired or question_cancelled event, and moves its task waiting -> running when it has no other open question.$$;
create trigger _800_closed after update of status on baton.questions
  for each row when (old.status = 'open' and new.status <> 'open')
  execute function baton_private.tg_questions__closed();

/*
 * The task side. BEFORE: `waiting` only with an open question (so a daemon or a DBA cannot park a
 * task there), and waiting -> running keeps started_at (the guard stamps it on every move to
 * running; the wall clock counts from the first). AFTER: a task that leaves waiting with questions
 * still open (it ended, or was moved by hand) cancels them, so their `ask` stops waiting.
 */
create function baton_private.tg_tasks__waiting() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.tg_tasks__waiting() is
  $$Refuses a move to waiting without an open question (BTSTS); keeps started_at when a waiting task runs again. SECURITY DEFINER: it reads the task's questions whatever the caller's policies.$$;
create trigger _210_waiting before update of status on baton.tasks
  for each row when (old.status::text = 'waiting' or new.status::text = 'waiting')
  execute function baton_private.tg_tasks__waiting();

create function baton_private.tg_tasks__cancel_questions() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update baton.questions q set status = 'cancelled'
   where q.task_id = new.id and q.closed_at is null;
  return null;
end;
$$;
comment on function baton_private.tg_tasks__cancel_questions() is
  $$After a task leaves waiting: cancels its questions still open (it ended, or was moved by hand), so their `ask` stops waiting.$$;
create trigger _820_cancel_questions after update of status on baton.tasks
  for each row when (old.status::text = 'waiting' and new.status::text <> 'waiting')
  execute function baton_private.tg_tasks__cancel_questions();

-- ---------------------------------------------------------------------------------------------
-- Asking, answering, cancelling, expiring.
-- ---------------------------------------------------------------------------------------------

/* Resolves the task an agent asks for (its own, live) and locks directive then task. */
create function baton_private.lock_asking_task(task_id uuid) returns baton.tasks
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.lock_asking_task(uuid) is
  $$For ask_question and an agent's cancel_question: checks that an agent token acts on its own live task (BTDNY), then locks the task's directive and the task.$$;

create function baton.ask_question(task_id uuid, question text, choices text[] default null, timeout_seconds integer default null)
returns baton.questions
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton.ask_question(uuid, text, text[], integer) is
  $$Asks the owner a question on behalf of a running task (its agent's token, for its own task): the task becomes `waiting` until the question is answered, expires after timeout_seconds (1 to 2,592,000; null: no timeout) or is cancelled. choices (2 to 20) limit the answers to those. Raises the `question` webhook event. Returns the question; its agent then waits for its status to leave open (`baton ask` does).$$;
grant execute on function baton.ask_question(uuid, text, text[], integer) to baton_agent;

create function baton.answer_question(question_id uuid, answer text) returns baton.questions
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton.answer_question(uuid, text) is
  $$Answers an open question (its owner only): the agent's `baton ask` prints the answer and its task runs again. For a question with choices the answer must be one of them (case and surrounding spaces ignored; BTINV names the choices otherwise). A question that is not open is refused (BTSTS).$$;
grant execute on function baton.answer_question(uuid, text) to baton_user;

create function baton.cancel_question(question_id uuid) returns baton.questions
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
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
  update baton.questions q set status = 'cancelled' where q.id = v_question.id
  returning * into v_question;
  return v_question;
end;
$$;
comment on function baton.cancel_question(uuid) is
  $$Withdraws an open question (its task's agent, e.g. when `baton ask` is interrupted, or its owner): it becomes cancelled and its task runs again when no other question is open. Cancelling a cancelled question changes nothing.$$;
grant execute on function baton.cancel_question(uuid) to baton_user, baton_agent;

/*
 * THE EXPIRY SWEEP, run by the worker beside expire_tasks (src/worker.ts; its own statement, as each
 * sweep takes directive locks in id order). Cost: the open questions with a deadline (the partial
 * index questions_expiring_idx).
 */
create function baton.expire_questions(now timestamptz default now()) returns integer
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton.expire_questions(timestamptz) is
  $$The question timeout sweep: marks every open question past its expires_at `expired` (its task runs again, its `baton ask` exits non-zero). Returns how many. The worker runs it every BATON_SWEEP_MS (default 5 s); idempotent.$$;

-- ---------------------------------------------------------------------------------------------
-- Sweeps and leases that must know `waiting`.
-- ---------------------------------------------------------------------------------------------

/*
 * overdue_tasks as in 000019, with two changes: a waiting task is never stalled (it waits for a
 * person, silently), and the stall clock counts from the later of the last output chunk and the last
 * question's close (an answer after a long wait is not a stall). Waiting tasks still time out.
 */
create or replace function baton_private.overdue_tasks(now timestamptz) returns table (task_id uuid, directive_id uuid, reason text)
language sql stable
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.overdue_tasks(timestamptz) is
  $$Every running, waiting or checking task past its timeout (started_at older than the limit), and every running or checking one stalled (no output chunk for the stall limit, counted from started_at when it has none, or from its last question's close if later; never once its output was truncated; never while it waits for an answer), with the reason: "Timed out after 30m (the step's timeout)." or "Stalled: no output for 5m (the directive's stall limit)."$$;

comment on function baton.expire_tasks(timestamptz) is
  $$The timeout and stall sweep: marks every running, waiting or checking task past its timeout, or (not waiting) without output for its stall limit, `interrupted` with the reason as its error, in one statement; its daemon is told to stop the agent and its step is retried under the usual rules. Returns how many tasks it interrupted. The worker runs it every BATON_SWEEP_MS (default 5 s); idempotent.$$;

/* Heartbeat: as in 000018, with a waiting task the daemon no longer reports counted lost like a running one. */
create or replace function baton_private.heartbeat(daemon_id uuid, active_task_ids uuid[] default '{}') returns baton.daemons
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
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
$$;
