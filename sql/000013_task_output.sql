/*
 * Task output: what an agent process writes on stdout and stderr, kept per task.
 *
 * A daemon batches its agent's output and appends it with append_task_output (one call per batch,
 * e.g. every second or 32 KiB). Each task keeps at most 1 MiB (1,048,576 bytes) of output text: the
 * batch that crosses the cap is cut at a character boundary, one truncation marker chunk (stream
 * `baton`) is written after it, and everything later is dropped (the call still succeeds and says so,
 * so a daemon may stop sending). 1 MiB keeps the tail of a long agent run readable in a terminal and
 * bounds a runaway agent's cost to the database; the error the task reports keeps its own tail of
 * stderr (tasks.error), so nothing needed to understand a failure is lost to the cap.
 *
 * Each batch also records one `output` event on the task, so directiveEvents subscribers hear about
 * output as they hear about status changes; the event's outputChunks field (events_output_chunks)
 * carries the text.
 *
 * Sizes are integers (the cap is 1 MiB): as bigint, GraphQL would send them as BigInt strings ("12"
 * rather than 12) in TaskOutput.byteOffset and TaskOutputReceipt.totalBytes.
 */

create table baton.task_output (
  id bigint generated always as identity primary key,
  task_id uuid not null references baton.tasks (id) on delete cascade,
  owner_id uuid not null,
  directive_id uuid not null,
  daemon_id uuid,
  seq integer not null,
  stream text not null,
  text text not null,
  byte_offset integer not null,
  created_at timestamptz not null default now(),
  constraint stream_is_valid check (stream in ('stdout', 'stderr', 'baton')),
  constraint seq_is_positive check (seq >= 1),
  constraint text_is_valid check (octet_length(text) between 1 and 262144),
  constraint byte_offset_is_valid check (byte_offset between 0 and 1048576),
  constraint output_fits_the_cap check (stream = 'baton' or byte_offset + octet_length(text) <= 1048576)
);

create unique index task_output_task_seq_idx on baton.task_output (task_id, seq);
-- The cap's promise: one truncation marker per task, at most.
create unique index task_output_one_truncation_marker on baton.task_output (task_id) where stream = 'baton';

comment on table baton.task_output is $$@behavior -insert -update -delete
The output of a task's agent process, in chunks as its daemon sent them (stdout and stderr interleaved in arrival order). At most 1 MiB (1,048,576 bytes) of text per task; past that one `baton` chunk marks the truncation and later output is dropped. Written only through appendTaskOutput.$$;
comment on column baton.task_output.id is $$The chunk's id (increasing across all tasks).$$;
comment on column baton.task_output.task_id is $$The task whose agent wrote this output.$$;
comment on column baton.task_output.owner_id is $$The owner (copied from the task for row-level security).$$;
comment on column baton.task_output.directive_id is $$The task's directive (copied from the task for row-level security).$$;
comment on column baton.task_output.daemon_id is $$The daemon the task was assigned to when the chunk was written (copied for row-level security).$$;
comment on column baton.task_output.seq is $$The chunk's position in the task's output: 1, 2, 3, ... Read chunks after the last seq you saw.$$;
comment on column baton.task_output.stream is $$`stdout` or `stderr` for the agent's own output; `baton` for the truncation marker Baton writes when the cap is reached.$$;
comment on column baton.task_output.text is $$The chunk's text (UTF-8, 1 byte to 256 KiB).$$;
comment on column baton.task_output.byte_offset is $$How many bytes of stdout and stderr the task had written before this chunk (the marker does not count).$$;
comment on column baton.task_output.created_at is $$When the chunk was stored.$$;
comment on constraint task_output_task_id_fkey on baton.task_output is $$@foreignFieldName outputChunks
@fieldName task$$;

/*
 * Row-level security like tasks': an owner sees its tasks' output, a daemon the output of tasks
 * assigned to it, an agent its live directive's. FORCE and the definer policy as in 000012_auth.sql.
 */
alter table baton.task_output enable row level security;
alter table baton.task_output force row level security;
do $$
begin
  execute format('create policy definer_all on baton.task_output for all to %I using (true) with check (true)', current_user);
end
$$;
create policy select_visible on baton.task_output for select
  using (case baton_private.current_api_role()
           when 'baton_user' then owner_id = baton_private.current_owner_id()
           when 'baton_daemon' then daemon_id = baton_private.current_daemon_id()
           when 'baton_agent' then directive_id = baton_private.current_agent_directive_id()
           else false end);
grant select on baton.task_output to baton_user, baton_daemon, baton_agent;

/* The receipt of one append: what was kept, what was dropped, and whether the cap has been reached. */
create type baton.task_output_receipt as (
  task_id uuid,
  accepted_chunks integer,
  accepted_bytes integer,
  dropped_bytes integer,
  total_bytes integer,
  truncated boolean,
  last_seq integer
);
comment on type baton.task_output_receipt is $$What appendTaskOutput kept of a batch.$$;
comment on column baton.task_output_receipt.task_id is $$The task.$$;
comment on column baton.task_output_receipt.accepted_chunks is $$Chunks stored from this batch (not counting the truncation marker).$$;
comment on column baton.task_output_receipt.accepted_bytes is $$Bytes of text stored from this batch.$$;
comment on column baton.task_output_receipt.dropped_bytes is $$Bytes of this batch dropped because the task's output reached its cap.$$;
comment on column baton.task_output_receipt.total_bytes is $$The task's stored output so far, in bytes (at most 1,048,576).$$;
comment on column baton.task_output_receipt.truncated is $$True once the cap is reached: later output is dropped, so the daemon may stop sending it.$$;
comment on column baton.task_output_receipt.last_seq is $$The seq of the task's last chunk (0 when it has none).$$;

/* The longest prefix of a text that fits in max_bytes of UTF-8, never cutting a character in two. */
create function baton_private.utf8_prefix(value text, max_bytes integer) returns text
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.utf8_prefix(text, integer) is $$The longest prefix of the text whose UTF-8 encoding fits in max_bytes (whole characters only).$$;

/*
 * SECURITY DEFINER: daemons have no insert grant on task_output or events; this function is the one
 * way to write them, and it checks that the task is the caller's. LOCK: only the task row (FOR NO KEY
 * UPDATE), which serialises concurrent appends to one task (their seq and cap) without taking the
 * directive lock that every status change needs: output is frequent and must not queue behind them.
 * A daemon may still send output after it reported the task's end (its last batch is flushed when the
 * agent exits), so any status but pending is accepted.
 */
create function baton_private.append_task_output(task_id uuid, chunks jsonb) returns baton.task_output_receipt
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.append_task_output(uuid, jsonb) is
  $$Appends a batch of a task's output: chunks is a JSON array of {"stream": "stdout" | "stderr", "text": "..."} (at most 1,000 chunks and 256 KiB per call; empty texts are skipped). Only the daemon the task is assigned to may call it. A task keeps at most 1 MiB of output: past that, one truncation marker is stored and later output is dropped (the receipt says so). Each batch that stores something records an `output` event on the task.$$;

/* The API name checks the token's liveness, then runs the body (as the other daemon-facing functions do). */
create function baton.append_task_output(task_id uuid, chunks jsonb) returns baton.task_output_receipt
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.assert_token_live();
  return baton_private.append_task_output(task_id, chunks);
end;
$$;
comment on function baton.append_task_output(uuid, jsonb) is
  $$Appends a batch of a task's output: chunks is a JSON array of {"stream": "stdout" | "stderr", "text": "..."} (at most 1,000 chunks and 256 KiB per call; empty texts are skipped). Only the daemon the task is assigned to may call it. A task keeps at most 1 MiB of output: past that, one truncation marker is stored and later output is dropped (the receipt says so). Each batch that stores something records an `output` event on the task.$$;
grant execute on function baton.append_task_output(uuid, jsonb) to baton_daemon;

/* The chunks an `output` event stands for (empty for other events): what directiveEvents subscribers read. */
create function baton.events_output_chunks(e baton.events) returns setof baton.task_output
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select o.* from baton.task_output o
   where e.kind = 'output' and e.subject_type = 'task'
     and o.task_id = e.subject_id
     and o.seq between (e.detail ->> 'first_seq')::integer and (e.detail ->> 'last_seq')::integer
   order by o.seq;
$$;
comment on function baton.events_output_chunks(baton.events) is $$@behavior -connection +list
@listSuffix omit
For an `output` event: the chunks of output it recorded, in order. Empty for every other event.$$;
grant execute on function baton.events_output_chunks(baton.events) to baton_user, baton_agent;
