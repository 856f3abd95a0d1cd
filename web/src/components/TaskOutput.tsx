/*
 * One attempt's output: what is stored (backfill), then what arrives on the directive's event feed as
 * the agent writes it (stream). Chunks are kept by seq (1, 2, 3, ... per task), so a chunk that comes
 * both ways is shown once, and a gap in the stream (an event missed) is filled by reading after the
 * last contiguous seq. The feed is subscribed before the backfill is read, so nothing falls between.
 */
import { useEffect, useState } from "preact/hooks";
import { gql, subscribe } from "../api";

type Chunk = { seq: number; stream: string; text: string };

const BACKFILL = `query DashboardTaskOutput($t: UUID!, $after: Int) {
  task(rowId: $t) { rowId outputChunks(orderBy: SEQ_ASC, offset: $after) { nodes { seq stream text } } }
}`;
const FEED = `subscription DashboardOutputFeed($d: UUID!) {
  directiveEvents(directiveId: $d) { events { subjectId outputChunks { seq stream text } } }
}`;

/** The highest seq up to which every chunk is present (0 when none is). */
function contiguous(chunks: Map<number, Chunk>): number {
  let n = 0;
  while (chunks.has(n + 1)) n++;
  return n;
}

export function TaskOutput(props: { directiveId: string; taskId: string; live: boolean }) {
  const [chunks, setChunks] = useState<Map<number, Chunk>>(new Map());
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    // Per attempt shown: a read still in flight for the attempt shown before must neither block this
    // one's backfill nor add its chunks here (seqs restart at 1 per task, so they would hide ours).
    const store = new Map<number, Chunk>();
    let reading = false;
    setChunks(new Map());
    setError(undefined);
    let alive = true;
    const add = (list: Chunk[]) => {
      if (!alive) return false;
      let changed = false;
      for (const c of list) if (!store.has(c.seq)) (store.set(c.seq, c), (changed = true));
      if (changed) setChunks(new Map(store));
      return changed;
    };
    const backfill = async () => {
      if (reading) return;
      reading = true;
      try {
        const after = contiguous(store);
        const data = await gql<{ task: { outputChunks: { nodes: Chunk[] } } | null }>(BACKFILL, { t: props.taskId, after });
        add(data.task?.outputChunks.nodes ?? []);
      } catch (err) {
        if (alive) setError(err instanceof Error ? err.message : String(err));
      } finally {
        reading = false;
      }
    };
    const stop = props.live
      ? subscribe<{ directiveEvents: { events: { subjectId: string; outputChunks: Chunk[] }[] } }>(
          FEED,
          { d: props.directiveId },
          (data) => {
            const mine = data.directiveEvents.events.filter((e) => e.subjectId === props.taskId).flatMap((e) => e.outputChunks);
            if (mine.length === 0) return;
            add(mine);
            const max = Math.max(...store.keys());
            if (contiguous(store) < max) void backfill(); // a chunk was missed: read it
          },
          (message) => alive && setError(message),
        )
      : undefined;
    void backfill();
    return () => {
      alive = false;
      stop?.();
    };
  }, [props.taskId, props.live]);

  const ordered = [...chunks.values()].sort((a, b) => a.seq - b.seq);
  return (
    <div>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <pre class="output" tabIndex={0} aria-label="The attempt's output" data-testid="task-output">
        {ordered.length === 0 ? <span class="muted">No output yet.</span> : ordered.map((c) => <span key={c.seq} class={c.stream === "stderr" ? "stderr" : undefined}>{c.text}</span>)}
      </pre>
    </div>
  );
}
