/*
 * Column types the API shows well.
 *
 * events.transaction_id becomes bigint instead of xid8. PostGraphile has no codec for xid8: every
 * `baton server` start printed a 40-line "Could not build PgCodec for 'pg_catalog.xid8'" warning and
 * the column was left out of the API. A 64-bit transaction id fits a bigint for the life of any cluster
 * (it would need 2^63 transactions to overflow), and equality between the events of one transaction,
 * all that transaction_events needs, is kept.
 *
 * Task output sizes become integer (the cap is 1 MiB): as bigint, GraphQL sent them as BigInt strings
 * ("12" rather than 12) in TaskOutput.byteOffset and TaskOutputReceipt.totalBytes.
 */
alter table baton.events alter column transaction_id drop default;
alter table baton.events alter column transaction_id type bigint using transaction_id::text::bigint;
alter table baton.events alter column transaction_id set default pg_current_xact_id()::text::bigint;
comment on column baton.events.transaction_id is
  $$The transaction that recorded the event (pg_current_xact_id() as a number); one NOTIFY on `baton:directive:<id>` covers all events of a transaction.$$;

alter table baton.task_output drop constraint byte_offset_is_valid, drop constraint output_fits_the_cap;
alter table baton.task_output alter column byte_offset type integer;
alter table baton.task_output
  add constraint byte_offset_is_valid check (byte_offset between 0 and 1048576),
  add constraint output_fits_the_cap check (stream = 'baton' or byte_offset + octet_length(text) <= 1048576);
alter type baton.task_output_receipt alter attribute total_bytes type integer;
