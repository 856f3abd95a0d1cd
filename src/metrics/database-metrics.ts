/*
 * The metrics read from the database (database.ts), as prom-client gauges and a histogram in a registry
 * of their own: index.ts exposes that registry only when the scrape's read succeeded, so an outage
 * shows as baton_database_up 0 with no stale or zero counts beside it.
 */
import { Gauge, Registry } from "prom-client";
import { countsByStatus, LATENCY_BUCKETS, type Snapshot } from "./database";
import { SnapshotHistogram } from "./prometheus";

export type DatabaseMetrics = { registry: Registry; set: (s: Snapshot) => void };

export function createDatabaseMetrics(): DatabaseMetrics {
  const registry = new Registry();
  const registers = [registry];
  const byStatus = (name: string, help: string) => new Gauge({ name, help, labelNames: ["status"], registers });
  const directives = byStatus("baton_directives", "Directives by status.");
  const steps = byStatus("baton_steps", "Directive steps by status.");
  const tasks = byStatus("baton_tasks", "Tasks by status.");
  const daemons = byStatus("baton_daemons", "Daemons by status.");
  const live = new Gauge({ name: "baton_daemons_live", help: "Connected daemons whose heartbeat is within the lease (the ones tasks are dispatched to).", registers });
  const jobs = new Gauge({
    name: "baton_worker_jobs",
    help: "graphile-worker jobs by state: ready (waiting for a worker), scheduled (run_at in the future), running (locked), failed (out of attempts).",
    labelNames: ["state"],
    registers,
  });
  const tokens = new Gauge({
    name: "baton_usage_tokens",
    help: "Tokens that tasks reported (baton task usage, or the daemon's --agent-output), ever, over all owners; direction input or output.",
    labelNames: ["direction"],
    registers,
  });
  const cost = new Gauge({ name: "baton_usage_cost_usd", help: "Cost in USD that tasks reported, ever, over all owners.", registers });
  const latency = new SnapshotHistogram({
    name: "baton_dispatch_latency_seconds",
    help: "Time from a task's work becoming ready (its step ready, or planning needed) to the task being assigned to a daemon, over every assigned task.",
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const setByStatus = (gauge: Gauge<"status">, kind: Parameters<typeof countsByStatus>[0], counts: Record<string, number>) => {
    gauge.reset(); // a status that went away must not keep its last value
    for (const [status, n] of countsByStatus(kind, counts)) gauge.set({ status }, n);
  };
  return {
    registry,
    set(s) {
      setByStatus(directives, "directives", s.directives);
      setByStatus(steps, "steps", s.steps);
      setByStatus(tasks, "tasks", s.tasks);
      setByStatus(daemons, "daemons", s.daemons);
      live.set(s.daemons_live);
      for (const state of ["ready", "scheduled", "running", "failed"] as const) jobs.set({ state }, s.jobs[state]);
      latency.set(s.latency);
      tokens.set({ direction: "input" }, s.usage.inputTokens);
      tokens.set({ direction: "output" }, s.usage.outputTokens);
      cost.set(s.usage.costUsd);
    },
  };
}
