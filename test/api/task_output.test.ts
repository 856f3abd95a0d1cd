/*
 * Task output: a daemon appends batches of its agent's output through appendTaskOutput; each task
 * keeps at most 1 MiB, cut at a character boundary with one truncation marker; every batch that
 * stores something is an `output` event whose outputChunks carry the text; readers see output
 * through RLS like tasks.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { gql, gqlError, primeDirectiveEvents, subscribe, useTestServer, wsClient } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

const APPEND = `mutation ($t: UUID!, $chunks: JSON!) {
  appendTaskOutput(input: { taskId: $t, chunks: $chunks }) {
    result { taskId acceptedChunks acceptedBytes droppedBytes totalBytes truncated lastSeq }
  }
}`;
const CAP = 1024 * 1024;
const BATCH = 256 * 1024;

type Receipt = { taskId: string; acceptedChunks: number; acceptedBytes: number; droppedBytes: number; totalBytes: number; truncated: boolean; lastSeq: number };

describe("task output", () => {
  const server = useTestServer(db, { worker: false });
  let directiveId: string;
  let daemonId: string;
  let daemonToken: string;
  let steps: string[];

  /** A new execution task on the daemon (the worker is off: its dispatcher's call is made as root). */
  async function newTask(): Promise<string> {
    const step = steps.shift()!;
    const t = (await db.pool.query<{ id: string; daemon_id: string }>("select id, daemon_id from baton.create_execution_task($1, 'p')", [step])).rows[0]!;
    assert.equal(t.daemon_id, daemonId);
    return t.id;
  }
  const append = async (taskId: string, chunks: unknown): Promise<Receipt> => (await gql(server, APPEND, { t: taskId, chunks }, daemonToken)).appendTaskOutput.result;

  before(async () => {
    const owner = server.credentials.owner_id;
    daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('box', max_tasks => 100, owner_id => $1)", [owner])).rows[0]!.id;
    directiveId = (await db.pool.query<{ id: string }>("select id from baton.create_directive('D', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    const specs = Array.from({ length: 8 }, (_, i) => ({ name: `s${i}` }));
    steps = (await db.pool.query<{ id: string }>("select id from baton.batch_add_steps($1, $2) order by name", [directiveId, JSON.stringify(specs)])).rows.map((r) => r.id);
    await db.pool.query("select baton.start_directive($1)", [directiveId]);
    daemonToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemonId }, server.credentials.token)).daemonToken;
  });

  it("stores batches in order and reads them back per task, with seq and byte offsets", async () => {
    const task = await newTask();
    const first = await append(task, [{ stream: "stdout", text: "héllo\n" }, { stream: "stderr", text: "" }, { stream: "stderr", text: "warn\n" }]);
    assert.deepEqual(first, { taskId: task, acceptedChunks: 2, acceptedBytes: 12, droppedBytes: 0, totalBytes: 12, truncated: false, lastSeq: 2 });
    const second = await append(task, [{ stream: "stdout", text: "bye\n" }]);
    assert.equal(second.lastSeq, 3);
    assert.equal(second.totalBytes, 16);
    const read = await gql(
      server,
      `query ($t: UUID!) { task(rowId: $t) { outputChunks(orderBy: SEQ_ASC) { nodes { seq stream text byteOffset daemonId } } } }`,
      { t: task },
      server.credentials.token,
    );
    assert.deepEqual(read.task.outputChunks.nodes, [
      { seq: 1, stream: "stdout", text: "héllo\n", byteOffset: 0, daemonId },
      { seq: 2, stream: "stderr", text: "warn\n", byteOffset: 7, daemonId },
      { seq: 3, stream: "stdout", text: "bye\n", byteOffset: 12, daemonId },
    ]);
    const after = await gql(server, `query ($t: UUID!) { taskOutputs(condition: { taskId: $t }, orderBy: SEQ_ASC, offset: 2) { nodes { text } } }`, { t: task }, daemonToken);
    assert.deepEqual(after.taskOutputs.nodes, [{ text: "bye\n" }], "the daemon reads its task's output too");
  });

  it("refuses malformed batches with BTINV and says what a batch must be", async () => {
    const task = await newTask();
    const cases: [unknown, RegExp][] = [
      [{ stream: "stdout", text: "not an array" }, /^chunks must be a JSON array of \{"stream": "stdout" \| "stderr", "text": "\.\.\."\} objects \(got object\)\.$/],
      [[{ stream: "stdin", text: "x" }], /^Output chunk 1 must be \{"stream": "stdout" \| "stderr", "text": "\.\.\."\}/],
      [[{ stream: "stdout", text: "ok" }, { stream: "stdout", text: 42 }], /^Output chunk 2 must be/],
      [Array.from({ length: 1001 }, () => ({ stream: "stdout", text: "x" })), /^A batch of output has 1001 chunks; the limit is 1000 per call\. Join small chunks, or send them in several calls\.$/],
      [[{ stream: "stdout", text: "x".repeat(BATCH) }, { stream: "stderr", text: "y" }], /^A batch of output is 262145 bytes; the limit is 262144 bytes per call\. Send output in smaller, more frequent batches\.$/],
    ];
    for (const [chunks, message] of cases) {
      const err = await gqlError(server, APPEND, { t: task, chunks }, daemonToken);
      assert.equal(err.extensions?.code, "BTINV", err.message);
      assert.match(err.message, message);
    }
    const stored = await db.pool.query("select count(*)::int as n from baton.task_output where task_id = $1", [task]);
    assert.equal(stored.rows[0].n, 0, "a refused batch stores nothing");
  });

  it("keeps 1 MiB per task, cuts the crossing chunk between characters and adds one truncation marker", async () => {
    const task = await newTask();
    for (let i = 0; i < 3; i++) await append(task, [{ stream: "stdout", text: "a".repeat(BATCH) }]);
    await append(task, [{ stream: "stdout", text: "b".repeat(BATCH - 144) }]); // 144 bytes of room left
    // 143 one-byte characters fit; the euro sign (3 bytes) would straddle the cap, so it is dropped whole.
    const crossing = await append(task, [{ stream: "stderr", text: "c".repeat(143) + "€" + "tail" }, { stream: "stdout", text: "after" }]);
    assert.deepEqual(crossing, { taskId: task, acceptedChunks: 1, acceptedBytes: 143, droppedBytes: 3 + 4 + 5, totalBytes: CAP - 1, truncated: true, lastSeq: 6 });
    const later = await append(task, [{ stream: "stdout", text: "more" }]);
    assert.deepEqual(later, { taskId: task, acceptedChunks: 0, acceptedBytes: 0, droppedBytes: 4, totalBytes: CAP - 1, truncated: true, lastSeq: 6 });
    const tail = await db.pool.query<{ seq: number; stream: string; text: string; byte_offset: number }>(
      "select seq, stream, text, byte_offset from baton.task_output where task_id = $1 and seq >= 5 order by seq",
      [task],
    );
    assert.deepEqual(tail.rows, [
      { seq: 5, stream: "stderr", text: "c".repeat(143), byte_offset: CAP - 144 },
      { seq: 6, stream: "baton", text: "[baton] Output truncated: this task's output reached the limit of 1048576 bytes (1 MiB); later output was dropped.", byte_offset: CAP - 1 },
    ]);
    const events = await db.pool.query<{ detail: { first_seq: number; last_seq: number; truncated: boolean } }>(
      "select detail from baton.events where subject_id = $1 and kind = 'output' order by id",
      [task],
    );
    assert.equal(events.rows.length, 5, "one event per batch that stored something; none once truncated");
    assert.deepEqual(events.rows.at(-1)!.detail, { first_seq: 5, last_seq: 6, bytes: 143, truncated: true });
  });

  it("numbers concurrent batches of one task without gaps or duplicates", async () => {
    const task = await newTask();
    const receipts = await Promise.all(Array.from({ length: 12 }, (_, i) => append(task, [{ stream: "stdout", text: `line ${i}\n` }])));
    assert.deepEqual(receipts.map((r) => r.lastSeq).sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1));
    const offsets = await db.pool.query<{ ok: boolean }>(
      "select bool_and(byte_offset = coalesce((select sum(octet_length(p.text)) from baton.task_output p where p.task_id = o.task_id and p.seq < o.seq), 0)) as ok from baton.task_output o where o.task_id = $1",
      [task],
    );
    assert.equal(offsets.rows[0]!.ok, true, "each chunk's byte_offset is the bytes before it");
  });

  it("accepts a last batch after the task ended, and refuses a task not assigned to the daemon", async () => {
    const task = await newTask();
    await gql(server, `mutation ($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "completed" }) { result { status } } }`, { t: task }, daemonToken);
    assert.equal((await append(task, [{ stream: "stdout", text: "flushed at exit" }])).acceptedChunks, 1);
    // A task of another daemon, and one still waiting for a daemon, get the same answer.
    const otherDaemon = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('other', owner_id => $1)", [server.credentials.owner_id])).rows[0]!.id;
    await db.pool.query("update baton.daemons set max_tasks = 1 where id = $1", [daemonId]);
    await db.pool.query("select baton.heartbeat($1, (select coalesce(array_agg(id), '{}') from baton.tasks where daemon_id = $1 and status in ('starting', 'running')))", [daemonId]);
    const theirs = await newTaskOn(otherDaemon);
    for (const t of [theirs, "00000000-0000-0000-0000-000000000000"]) {
      const err = await gqlError(server, APPEND, { t, chunks: [{ stream: "stdout", text: "x" }] }, daemonToken);
      assert.equal(err.extensions?.code, "BTDNY");
      assert.equal(err.message, `Task ${t} is not assigned to this daemon (${daemonId}), so it cannot write its output. A daemon writes the output of the tasks it was given (daemonCommands) only.`);
    }
    await db.pool.query("update baton.daemons set max_tasks = 100 where id = $1", [daemonId]);

    async function newTaskOn(expected: string): Promise<string> {
      const step = steps.shift()!;
      const t = (await db.pool.query<{ id: string; daemon_id: string }>("select id, daemon_id from baton.create_execution_task($1, 'p')", [step])).rows[0]!;
      assert.equal(t.daemon_id, expected);
      return t.id;
    }
  });

  it("arrives in directiveEvents as an output event carrying its chunks, for the owner and the task's agent", async () => {
    const task = await newTask();
    const agentToken = (await gql(server, `query ($t: UUID!) { task(rowId: $t) { agentToken } }`, { t: task }, daemonToken)).task.agentToken;
    const query = `subscription ($d: UUID!) { directiveEvents(directiveId: $d) { firstEventId events { kind subjectId outputChunks { seq stream text } } } }`;
    const asOwner = subscribe(wsClient(server, server.credentials.token), query, { d: directiveId });
    const asAgent = subscribe(wsClient(server, agentToken), query, { d: directiveId });
    const primed = await primeDirectiveEvents(db, asOwner, directiveId);
    await primeDirectiveEvents(db, asAgent, directiveId);
    await append(task, [{ stream: "stdout", text: "compiling\n" }, { stream: "stderr", text: "1 warning\n" }]);
    for (const sub of [asOwner, asAgent]) {
      let payload;
      do payload = (await sub.next()).directiveEvents; // the owner also hears the agent's primes
      while (BigInt(payload.firstEventId) <= primed);
      assert.deepEqual(payload.events, [
        {
          kind: "output",
          subjectId: task,
          outputChunks: [
            { seq: 1, stream: "stdout", text: "compiling\n" },
            { seq: 2, stream: "stderr", text: "1 warning\n" },
          ],
        },
      ]);
    }
  });

  it("lets an admin (direct SQL) write any task's output", async () => {
    const task = await newTask();
    const r = await db.pool.query("select * from baton.append_task_output($1, '[{\"stream\": \"stdout\", \"text\": \"by hand\"}]')", [task]);
    assert.equal(r.rows[0].last_seq, 1);
    const nope = await db.pool.query("select baton.append_task_output('00000000-0000-0000-0000-000000000000', '[]')").catch((e) => e);
    assert.equal(nope.code, "BTNFD");
  });
});
