/*
 * One task, start to end: read it, move it to `running` (the version fence), prepare its workspace,
 * run the agent with the task's environment, stream its output, publish its work through the fence
 * (lease.ts) and report the outcome. The workspace and the prompt are removed whatever happens. When
 * merging a join's dependencies conflicted, the agent gets the merge to resolve (merge.ts) and a prompt
 * that says so first; exiting 0 without resolving it fails the attempt. A task with a check (check.ts)
 * goes `checking` after its agent exits 0 and its work is committed, runs the check in the same
 * worktree, and publishes and completes only if the check passes; otherwise the attempt fails with the
 * check's error.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { TaskToRunDocument } from "../client/generated/graphql";
import type { GraphQLClient } from "../client/graphql";
import type { Logger } from "../logger";
import { withConflictSection } from "../prompts/conflict";
import { statusIn, type TaskStatus } from "../statuses";
import { AgentProcess } from "./agent-process";
import { runCheck } from "./check";
import type { AgentUser } from "./agent-user";
import { assertMayPublish, FencedError, type Lease } from "./lease";
import type { TaskRecords } from "./leftovers";
import { OutputSink } from "./output-sink";
import type { ReportQueue } from "./report-queue";
import type { HeldTask } from "./task-pool";
import { prepareWorkspace, WorkspaceError } from "./workspace";

/*
 * The task's fields are typed by the generated TaskToRun query; what the schema leaves loose is
 * checked here: `kind` (a String) and `workspace` (JSON).
 */
const TaskShape = z.object({
  kind: z.enum(["planning", "execution"]),
  workspace: z
    .object({
      repo: z.string().nullable(),
      base_branch: z.string(),
      directive_title: z.string(),
      step_name: z.string().nullable(),
      dependencies: z.array(z.object({ step_id: z.string(), name: z.string(), status: z.string(), branch: z.string().nullable(), commit_sha: z.string().nullable() })),
    })
    .nullable(),
});

export type TaskRunnerOptions = {
  api: GraphQLClient;
  apiUrl: string;
  daemonId: string;
  lease: Lease;
  reports: ReportQueue;
  records: TaskRecords;
  agentCommand: string;
  workDir: string;
  graceMs: number;
  agentEnv?: readonly string[];
  agentUser?: AgentUser;
  logger: Logger;
};

export class TaskRunner {
  constructor(private readonly opts: TaskRunnerOptions) {}

  async run(taskId: string, entry: HeldTask): Promise<void> {
    const { api, reports, records, workDir } = this.opts;
    const log = this.opts.logger.child({ task_id: taskId });
    const { task: row } = await api.request(TaskToRunDocument, { id: taskId });
    if (!row) return log.warn("task not readable; skipped", { issue: "the task is not visible to this daemon" });
    const parsed = TaskShape.safeParse(row);
    if (!parsed.success) return log.warn("task not readable; skipped", { issue: parsed.error.issues[0]?.message });
    const task = { ...row, ...parsed.data };
    if (!statusIn<TaskStatus>(task.status, ["starting"])) return; // already running elsewhere in this process, or over
    // The version fence: of two spawns of one task, only one moves it from `starting`.
    if (!(await reports.send(taskId, "running", { expectedVersion: task.version }))) return;
    entry.started = true;
    records.begin(taskId);
    log.info("task started", { kind: task.kind, step_id: task.stepId, directive_id: task.directiveId });
    const sink = new OutputSink(api, taskId, log);
    let workspace;
    try {
      workspace = await prepareWorkspace(workDir, { id: task.rowId, kind: task.kind, directiveId: task.directiveId, stepId: task.stepId }, task.workspace!);
    } catch (err) {
      const message = err instanceof WorkspaceError ? err.message : `Could not prepare the workspace: ${(err as Error).message}`;
      records.end(taskId);
      await reports.send(taskId, entry.interrupted ? "interrupted" : "failed", { error: message });
      return;
    }
    try {
      if (entry.interrupted) {
        await reports.send(taskId, "interrupted", { error: `Interrupted before the agent started (${entry.interrupted}).` });
        return;
      }
      // The agent's variables; its check gets the same ones.
      const agentEnv: Record<string, string> = {
        BATON_API_URL: this.opts.apiUrl,
        BATON_TOKEN: task.agentToken ?? "",
        BATON_TASK_ID: task.rowId,
        BATON_DIRECTIVE_ID: task.directiveId,
        BATON_TASK_KIND: task.kind,
        ...(task.stepId ? { BATON_STEP_ID: task.stepId } : {}),
        PATH: `${path.join(workDir, "bin")}${path.delimiter}${process.env.PATH ?? ""}`,
      };
      const conflict = workspace.conflict;
      if (conflict) log.info("merge conflict handed to the agent", { dependency: conflict.dependency.name, files: conflict.files, pending: conflict.pending.map((d) => d.name) });
      const agent = new AgentProcess({
        command: this.opts.agentCommand,
        cwd: workspace.dir,
        prompt: conflict ? withConflictSection(task.prompt ?? "", conflict) : (task.prompt ?? ""),
        promptDir: path.join(workDir, "prompts", taskId),
        graceMs: this.opts.graceMs,
        passEnv: this.opts.agentEnv,
        user: this.opts.agentUser,
        env: agentEnv,
        onOutput: (stream, text) => sink.write(stream, text),
        onSpawn: (pid) => records.agent(taskId, pid), // before the command starts: a daemon killed here leaves no agent
      });
      entry.agent = agent;
      if (entry.interrupted) agent.interrupt(entry.interrupted);
      const result = await agent.result;
      // Before the output flush: its append may be stuck in the partition that cost the lease.
      if (entry.fenced) return log.warn("the lease ran out during this attempt: nothing published, nothing reported", { outcome: result.outcome });
      await sink.flush();
      const unresolved =
        result.outcome === "completed" ? await workspace.unresolvedConflict().catch((err: Error) => `The agent exited 0 but its merge could not be checked: ${err.message}`) : null;
      if (unresolved) {
        const reported = await reports.send(taskId, "failed", { error: unresolved, branch: workspace.branch });
        log.info("task failed: the merge conflict is unresolved", { error: unresolved, reported });
      } else if (result.outcome === "completed") {
        let finished: { branch: string | null; commit: string | null };
        try {
          // Committed before the check runs: what the check leaves behind (build output, caches) is not the step's work.
          await workspace.commit(task.kind === "planning" ? "Baton planning" : `${task.workspace?.step_name ?? "Baton step"}\n\nBaton task ${task.rowId}`);
          if (task.checkCommand) {
            // Refused: the task was interrupted or cancelled since the agent exited; nothing to check.
            if (!(await reports.send(taskId, "checking"))) return log.info("check not run: the server refused the checking report");
            log.info("check started", { check: task.checkCommand });
            const verdict = await runCheck({
              check: task.checkCommand,
              cwd: workspace.dir,
              promptDir: path.join(workDir, "prompts", taskId, "check"),
              graceMs: this.opts.graceMs,
              passEnv: this.opts.agentEnv,
              user: this.opts.agentUser,
              env: agentEnv,
              onOutput: (stream, text) => sink.write(stream, text),
              onSpawn: (pid) => records.agent(taskId, pid),
              onProcess: (proc) => {
                entry.agent = proc;
                if (entry.interrupted) proc.interrupt(entry.interrupted);
              },
            });
            if (entry.fenced) return log.warn("the lease ran out during the check: nothing published, nothing reported", { outcome: verdict.outcome });
            await sink.flush();
            if (verdict.outcome !== "passed") {
              const reported = await reports.send(taskId, verdict.outcome, { error: verdict.error, branch: workspace.branch });
              return log.info(`task ${verdict.outcome}: its check did not pass`, { check: task.checkCommand, reported });
            }
            log.info("check passed", { check: task.checkCommand });
          }
          finished = await workspace.publish(() => assertMayPublish(api, this.opts.daemonId, this.opts.lease, taskId));
        } catch (err) {
          if (err instanceof FencedError) return log.warn("not published: this attempt may no longer publish", { reason: err.message });
          log.warn("the agent's work could not be saved", { error: (err as Error).message });
          await reports.send(taskId, "failed", { error: `The agent succeeded but its work could not be saved: ${(err as Error).message}` });
          return;
        }
        // Refused (the task was interrupted meanwhile): the attempt's own branch goes again.
        const reported = await reports.send(taskId, "completed", { branch: finished.branch, commit: finished.commit, onRefused: () => workspace.unpublish() });
        log.info("task completed", { branch: finished.branch, commit: finished.commit, reported });
      } else {
        const reported = await reports.send(taskId, result.outcome, { error: result.errorTail, branch: workspace.branch });
        log.info(`task ${result.outcome}`, { exit_code: result.exitCode, signal: result.signal, reported });
      }
    } finally {
      await workspace.dispose().catch(() => undefined);
      fs.rmSync(path.join(workDir, "prompts", taskId), { recursive: true, force: true });
      records.end(taskId);
    }
  }
}
