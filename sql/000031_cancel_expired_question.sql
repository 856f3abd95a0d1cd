/*
 * Withdrawing a question past its deadline expires it.
 *
 * `baton ask` withdraws its question when it gives up (interrupted, or when no worker's sweep expired
 * it well after its deadline). In the second case the CLI used to report the question as expired while
 * the row said cancelled. The state machine decides now: cancel_question on an open question whose
 * deadline has passed sets it expired, as baton.expire_questions would have, and `ask` reports the row
 * it gets back. As in 000025 otherwise.
 */
create or replace function baton.cancel_question(question_id uuid) returns baton.questions
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
  -- Past its deadline it is what the sweep would have made it: expired, not cancelled.
  update baton.questions q set status = (case when q.expires_at <= now() then 'expired' else 'cancelled' end)::baton.question_status
   where q.id = v_question.id
  returning * into v_question;
  return v_question;
end;
$$;

comment on function baton.cancel_question(uuid) is
  $$Withdraws an open question (its task's agent, e.g. when `baton ask` is interrupted or gives up, or its owner): it becomes cancelled, or expired when its deadline has passed, and its task runs again when no other question is open. Cancelling a cancelled question changes nothing.$$;
