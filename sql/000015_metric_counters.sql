/*
 * Counters for /metrics, so that a scrape reads a handful of rows instead of counting every task,
 * step, directive and daemon ever made (a full scan of each table per scrape, growing forever).
 *
 * Triggers append deltas (+1 / -1 per status, one row per dispatch latency observation) to
 * baton_private.metric_deltas: inserts only, so concurrent transactions never wait for one another
 * on a shared counter row (and cannot deadlock on two of them). fold_metric_deltas() moves the
 * deltas into baton_private.metric_counts, one row per (metric, label). It runs on every scrape and,
 * so that deltas do not pile up on a server nobody scrapes, in whichever transaction draws every
 * 512th ticket. One folder at a time (a transaction-level advisory lock, tried, never waited for).
 *
 * A scrape reads counts plus the deltas not yet folded, in one snapshot: exact for everything
 * committed, whatever folder is running meanwhile.
 *
 * Inserts and deletes are counted per statement (transition tables: batch_add_steps of 10,000 steps
 * adds a few delta rows, not 10,000); status changes per row, only when the status changed.
 */

create table baton_private.metric_counts (
  metric text not null,
  label text not null,
  n bigint not null default 0,
  sum double precision not null default 0,
  primary key (metric, label)
);
comment on table baton_private.metric_counts is $$Folded /metrics counters: rows by status of directives, steps, tasks and daemons, and the dispatch latency histogram. Maintained by triggers through metric_deltas; read with metric_counts_snapshot().$$;
comment on column baton_private.metric_counts.metric is $$directives, steps, tasks, daemons (rows by status) or dispatch_latency (observations by bucket).$$;
comment on column baton_private.metric_counts.label is $$The status, or for dispatch_latency the smallest bucket upper bound (seconds) the observation fits in, or +Inf.$$;
comment on column baton_private.metric_counts.n is $$Rows with that status now, or observations in that bucket ever.$$;
comment on column baton_private.metric_counts.sum is $$dispatch_latency only: the observations' total, in seconds.$$;

create table baton_private.metric_deltas (
  metric text not null,
  label text not null,
  n bigint not null,
  sum double precision not null default 0
);
comment on table baton_private.metric_deltas is $$Changes to metric_counts not yet folded into it; append-only, emptied by fold_metric_deltas(). No index: a fold reads all of it.$$;
comment on column baton_private.metric_deltas.metric is $$As metric_counts.metric.$$;
comment on column baton_private.metric_deltas.label is $$As metric_counts.label.$$;
comment on column baton_private.metric_deltas.n is $$The change to metric_counts.n (+1, -1, or a statement's count).$$;
comment on column baton_private.metric_deltas.sum is $$The change to metric_counts.sum.$$;

create sequence baton_private.metric_fold_ticket;
comment on sequence baton_private.metric_fold_ticket is $$Drawn once per counted change; every 512th draws a fold.$$;

create function baton_private.dispatch_latency_buckets() returns double precision[]
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select array[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]::double precision[] $$;
comment on function baton_private.dispatch_latency_buckets() is $$Upper bounds (seconds) of the dispatch latency histogram's buckets; src/metrics/database.ts has the same list.$$;

create function baton_private.latency_bucket(seconds double precision) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce((select b::text from unnest(baton_private.dispatch_latency_buckets()) b where b >= latency_bucket.seconds order by b limit 1), '+Inf')
$$;
comment on function baton_private.latency_bucket(double precision) is $$The label of the smallest dispatch latency bucket that holds an observation of that many seconds (+Inf beyond the last).$$;

/* Security definer: runs from a scrape or from any API role's transaction; those roles cannot touch baton_private. */
create function baton_private.fold_metric_deltas() returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
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
$$;
comment on function baton_private.fold_metric_deltas() is $$Moves metric_deltas into metric_counts. Skips when another transaction is folding (advisory lock 7310421024).$$;

create function baton_private.maybe_fold_metric_deltas() returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if nextval('baton_private.metric_fold_ticket') % 512 = 0 then
    perform baton_private.fold_metric_deltas();
  end if;
end;
$$;
comment on function baton_private.maybe_fold_metric_deltas() is $$Folds the metric deltas once every 512 calls, so that they stay few on a server that nobody scrapes.$$;

create function baton_private.metric_counts_snapshot() returns table (metric text, label text, n bigint, sum double precision)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform baton_private.fold_metric_deltas();
  return query
    select u.metric, u.label, sum(u.n)::bigint, sum(u.sum)
      from (select c.metric, c.label, c.n, c.sum from baton_private.metric_counts c
            union all
            select d.metric, d.label, d.n, d.sum from baton_private.metric_deltas d) u
     group by u.metric, u.label;
end;
$$;
comment on function baton_private.metric_counts_snapshot() is $$The /metrics counters: folds what it can, then returns counts plus any deltas still unfolded, in one snapshot.$$;

create function baton_private.tg__count_status_insert() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into baton_private.metric_deltas (metric, label, n)
  select tg_argv[0], r.status, count(*) from new_rows r group by r.status;
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$$;
comment on function baton_private.tg__count_status_insert() is $$Counts a statement's inserted rows by status into metric_deltas (metric name in TG_ARGV[0]).$$;

create function baton_private.tg__count_status_delete() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into baton_private.metric_deltas (metric, label, n)
  select tg_argv[0], r.status, -count(*) from old_rows r group by r.status;
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$$;
comment on function baton_private.tg__count_status_delete() is $$Subtracts a statement's deleted rows by status from the metric counts (metric name in TG_ARGV[0]).$$;

create function baton_private.tg__count_status_update() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into baton_private.metric_deltas (metric, label, n) values (tg_argv[0], old.status, -1), (tg_argv[0], new.status, 1);
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$$;
comment on function baton_private.tg__count_status_update() is $$Moves one row from its old status to its new one in the metric counts (metric name in TG_ARGV[0]).$$;

create function baton_private.tg__count_status_truncate() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from baton_private.metric_deltas d where d.metric = tg_argv[0];
  delete from baton_private.metric_counts c where c.metric = tg_argv[0];
  return null;
end;
$$;
comment on function baton_private.tg__count_status_truncate() is $$Zeroes a truncated table's metric counts (metric name in TG_ARGV[0]).$$;

/* Every assignment is one observation: assigned_at - ready_at (created_at for tasks older than ready_at). */
create function baton_private.tg_tasks__observe_dispatch_latency() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_seconds double precision := extract(epoch from new.assigned_at - coalesce(new.ready_at, new.created_at));
begin
  insert into baton_private.metric_deltas (metric, label, n, sum)
  values ('dispatch_latency', baton_private.latency_bucket(v_seconds), 1, v_seconds);
  perform baton_private.maybe_fold_metric_deltas();
  return null;
end;
$$;
comment on function baton_private.tg_tasks__observe_dispatch_latency() is $$Adds a task's assignment to the dispatch latency histogram (metric dispatch_latency).$$;

-- Triggers first, then the backfill: create trigger locks out writers, so no change is counted twice or missed.
do $$
declare
  v record;
begin
  for v in select * from (values ('directives', 'directives'), ('directive_steps', 'steps'), ('tasks', 'tasks'), ('daemons', 'daemons')) t(tbl, metric) loop
    execute format('create trigger _500_count_status_insert after insert on baton.%I referencing new table as new_rows
                      for each statement execute function baton_private.tg__count_status_insert(%L)', v.tbl, v.metric);
    execute format('create trigger _500_count_status_delete after delete on baton.%I referencing old table as old_rows
                      for each statement execute function baton_private.tg__count_status_delete(%L)', v.tbl, v.metric);
    execute format('create trigger _500_count_status_update after update on baton.%I
                      for each row when (old.status is distinct from new.status)
                      execute function baton_private.tg__count_status_update(%L)', v.tbl, v.metric);
    execute format('create trigger _500_count_status_truncate after truncate on baton.%I
                      for each statement execute function baton_private.tg__count_status_truncate(%L)', v.tbl, v.metric);
    execute format('insert into baton_private.metric_counts (metric, label, n) select %L, status, count(*) from baton.%I group by status', v.metric, v.tbl);
  end loop;
end
$$;

-- assigned_at is set by a before trigger, so these fire on any update and filter in WHEN (cheap, no call).
create trigger _500_observe_dispatch_latency_insert after insert on baton.tasks
  for each row when (new.assigned_at is not null)
  execute function baton_private.tg_tasks__observe_dispatch_latency();
create trigger _500_observe_dispatch_latency_update after update on baton.tasks
  for each row when (new.assigned_at is not null and old.assigned_at is distinct from new.assigned_at)
  execute function baton_private.tg_tasks__observe_dispatch_latency();

insert into baton_private.metric_counts (metric, label, n, sum)
select 'dispatch_latency', baton_private.latency_bucket(l.seconds), count(*), sum(l.seconds)
  from (select extract(epoch from t.assigned_at - coalesce(t.ready_at, t.created_at))::double precision as seconds
          from baton.tasks t where t.assigned_at is not null) l
 group by 2;
