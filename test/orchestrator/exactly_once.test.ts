/*
 * Exactly once, with several dispatchers on one database: two `baton worker` processes and an
 * in-process runner race for the same jobs while four fake daemons (max_tasks 2 and 3) run 300 steps
 * of chains and fan-outs across three directives, some steps failing their first attempt. However the
 * races fall: one task per (step, attempt), one daemon per task (one pending -> starting), never more
 * live tasks on a daemon than its max_tasks, and every step completed.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { after, describe, it } from "node:test";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import type { StepSpec } from "../helpers/fixtures";
import { createDirective, createOwner, directiveStatus } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { createTestWorker } from "../helpers/worker";

const db = useTestDatabase();
const ROOT = path.join(__dirname, "..", "..");

type Worker = { child: ChildProcess; stderr: string[]; exited: Promise<void> };

/** `baton worker` as its own process; killed (SIGTERM, then SIGKILL) when the test ends or this process exits. */
function startWorkerProcess(url: string): Worker {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url, BATON_WORKER_CONCURRENCY: "4", BATON_LOG_LEVEL: "info" };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [path.join(ROOT, "bin", "baton.js"), "worker"], { cwd: ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
  const stderr: string[] = [];
  let partial = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop()!;
    stderr.push(...lines);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const killHard = () => child.kill("SIGKILL");
  process.once("exit", killHard);
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(killHard, 5000);
      await exited;
      clearTimeout(timer);
    }
    process.removeListener("exit", killHard);
  });
  return { child, stderr, exited };
}

/** n steps in a line. */
function chain(prefix: string, n: number): StepSpec[] {
  return Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, name: `${prefix}${i}`, dependsOn: i === 0 ? [] : [`${prefix}${i - 1}`] }));
}

/** A root, n leaves that depend on it, and a join that depends on every leaf. */
function fanOut(prefix: string, n: number): StepSpec[] {
  const leaves = Array.from({ length: n }, (_, i) => ({ key: `${prefix}leaf${i}`, name: `${prefix}leaf${i}`, dependsOn: [`${prefix}root`] }));
  return [{ key: `${prefix}root`, name: `${prefix}root` }, ...leaves, { key: `${prefix}join`, name: `${prefix}join`, dependsOn: leaves.map((l) => l.key) }];
}

/** `layers` layers of `width` steps; each depends on two steps of the layer before. */
function layered(prefix: string, layers: number, width: number): StepSpec[] {
  const out: StepSpec[] = [];
  for (let l = 0; l < layers; l++) {
    for (let w = 0; w < width; w++) {
      const deps = l === 0 ? [] : [`${prefix}${l - 1}_${w}`, `${prefix}${l - 1}_${(w + 1) % width}`];
      out.push({ key: `${prefix}${l}_${w}`, name: `${prefix}${l}_${w}`, dependsOn: deps });
    }
  }
  return out;
}

const DAEMONS = [2, 3, 2, 3];

describe("exactly once with three dispatchers", () => {
  it("runs 300 steps with one task per attempt, one daemon per task, max_tasks respected and every step completed", async () => {
    const workers = [startWorkerProcess(db.url), startWorkerProcess(db.url)];
    await waitFor(
      () => {
        for (const w of workers) if (w.child.exitCode !== null) throw new Error(`baton worker exited early: ${w.stderr.join("\n")}`);
        return workers.every((w) => w.stderr.some((l) => l.includes("baton worker running")));
      },
      { timeoutMs: 30_000, what: "both baton worker processes to start" },
    );
    const inProcess = await createTestWorker(db, { concurrency: 4 });
    after(() => inProcess.stop());

    const owner = await createOwner(db, "exactly-once");
    const failFirst = new Set<string>();
    const daemons: FakeDaemon[] = [];
    for (const [i, maxTasks] of DAEMONS.entries()) {
      const daemon = await FakeDaemon.start(db, {
        ownerId: owner,
        name: `d${i}`,
        maxTasks,
        behaviour: async (task) => {
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 6)));
          return task.attempt === 1 && failFirst.has(task.step_id!) ? "failed" : "completed";
        },
      });
      daemons.push(daemon);
      after(() => daemon.stop());
    }
    // Real daemons heartbeat; the workers' sweeps would otherwise expire these after the lease.
    const heartbeats = setInterval(() => {
      for (const d of daemons) d.heartbeat().catch((err) => d.errors.push(err));
    }, 1000);
    after(() => clearInterval(heartbeats));

    // Sample the live tasks per daemon while the run goes on (one query: one consistent snapshot).
    const maxLive = new Map<string, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await db.pool.query<{ daemon_id: string; n: number }>(
          "select daemon_id, count(*)::int as n from baton.tasks where status in ('starting', 'running') group by daemon_id",
        );
        for (const { daemon_id, n } of r.rows) maxLive.set(daemon_id, Math.max(maxLive.get(daemon_id) ?? 0, n));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const specs = [
      [...chain("c", 60), ...fanOut("f", 40)],
      [...chain("p", 15), ...chain("q", 15), ...chain("r", 15), ...chain("s", 15), ...fanOut("g", 36)],
      layered("l", 10, 10),
    ];
    assert.equal(specs.flat().length, 300);
    const directives: { id: string; steps: Record<string, string> }[] = [];
    for (const [i, steps] of specs.entries()) {
      const d = await createDirective(db, owner, { title: `batch ${i}`, steps, start: false });
      Object.values(d.steps).forEach((id, n) => n % 9 === 4 && failFirst.add(id));
      directives.push(d);
    }
    for (const d of directives) await db.pool.query("select baton.start_directive($1)", [d.id]);

    await waitFor(async () => (await Promise.all(directives.map((d) => directiveStatus(db, d.id)))).every((s) => s === "idle"), {
      timeoutMs: 50_000,
      intervalMs: 100,
      what: "all three directives to go idle",
    });
    sampling = false;
    await sampler;

    // Every step completed; the chosen ones after one failed attempt, the others at the first.
    const steps = await db.pool.query<{ id: string; status: string; attempts: string[] }>(
      `select s.id, s.status, array_agg(t.status::text order by t.attempt) as attempts
         from baton.directive_steps s join baton.tasks t on t.step_id = s.id
        where s.owner_id = $1 group by s.id, s.status`,
      [owner],
    );
    assert.equal(steps.rowCount, 300);
    for (const s of steps.rows) {
      assert.equal(s.status, "completed");
      assert.deepEqual(s.attempts, failFirst.has(s.id) ? ["failed", "completed"] : ["completed"], `attempts of step ${s.id}`);
    }

    // One task per (step, attempt).
    const duplicates = await db.pool.query("select step_id, attempt from baton.tasks where kind = 'execution' group by 1, 2 having count(*) > 1");
    assert.deepEqual(duplicates.rows, []);

    // One daemon per task: exactly one pending -> starting, naming the daemon the task records, and
    // exactly one daemon was told to spawn it.
    const assignments = await db.pool.query<{ id: string; daemon_id: string; starts: number; start_daemons: string[] }>(
      `select t.id, t.daemon_id,
              count(e.id) filter (where e.from_status = 'pending' and e.to_status = 'starting')::int as starts,
              array_agg(distinct e.detail ->> 'daemon_id') filter (where e.from_status = 'pending' and e.to_status = 'starting') as start_daemons
         from baton.tasks t left join baton.events e on e.subject_id = t.id and e.subject_type = 'task'
        where t.owner_id = $1 group by t.id, t.daemon_id`,
      [owner],
    );
    assert.equal(assignments.rowCount, 300 + failFirst.size);
    for (const a of assignments.rows) {
      assert.equal(a.starts, 1, `task ${a.id} was assigned ${a.starts} times`);
      assert.deepEqual(a.start_daemons, [a.daemon_id]);
    }
    const spawnedOn = new Map<string, string>();
    for (const d of daemons) {
      for (const t of d.spawned) {
        assert.ok(!spawnedOn.has(t.id), `task ${t.id} was spawned on ${spawnedOn.get(t.id)} and on ${d.id}`);
        spawnedOn.set(t.id, d.id);
      }
    }
    assert.equal(spawnedOn.size, assignments.rowCount);
    for (const a of assignments.rows) assert.equal(spawnedOn.get(a.id), a.daemon_id);

    // Never more live tasks on a daemon than its max_tasks: in the samples, and replaying the history.
    const limit = new Map(daemons.map((d, i) => [d.id, DAEMONS[i]!]));
    for (const [daemonId, n] of maxLive) assert.ok(n <= limit.get(daemonId)!, `daemon ${daemonId} had ${n} live tasks (max ${limit.get(daemonId)})`);
    const history = await db.pool.query<{ daemon_id: string; from_status: string | null; to_status: string }>(
      "select detail ->> 'daemon_id' as daemon_id, from_status, to_status from baton.events where subject_type = 'task' and owner_id = $1 order by id",
      [owner],
    );
    const live = new Map<string, number>();
    const isLive = (s: string | null) => s === "starting" || s === "running";
    for (const e of history.rows) {
      if (!e.daemon_id) continue;
      const delta = (isLive(e.to_status) ? 1 : 0) - (isLive(e.from_status) ? 1 : 0);
      const n = (live.get(e.daemon_id) ?? 0) + delta;
      live.set(e.daemon_id, n);
      assert.ok(n <= limit.get(e.daemon_id)!, `the history shows ${n} live tasks on daemon ${e.daemon_id} (max ${limit.get(e.daemon_id)})`);
    }
    assert.deepEqual([...live.values()], daemons.map(() => 0));

    // Every daemon and every dispatcher took part, and nothing went wrong on the way.
    for (const d of daemons) assert.ok(d.spawned.length > 0, `daemon ${d.id} ran nothing`);
    for (const w of workers) {
      assert.ok(w.stderr.some((l) => l.includes('"msg":"execution tasks created"')), `a baton worker created no task:\n${w.stderr.join("\n")}`);
      assert.deepEqual(w.stderr.filter((l) => l.includes('"level":"error"')), []);
    }
    assert.deepEqual(daemons.flatMap((d) => d.errors), []);
  });
});
