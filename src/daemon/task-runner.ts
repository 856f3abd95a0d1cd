/*
 * One task, start to end: read it, move it to `running` (the version fence), prepare its workspace,
 * run the agent with the task's environment, stream its output, publish its work through the fence
 * (lease.ts) and report the outcome. The workspace and the prompt are removed whatever happens. When
 * merging a join's dependencies conflicted, the agent gets the merge to resolve (merge.ts) and a prompt
 * that says so first; exiting 0 without resolving it fails the attempt. A task with a check (check.ts)
 * goes `checking` after its agent exits 0 and its work is committed, runs the check in the same
 * worktree, and publishes and completes only if the check passes; otherwise the attempt fails with the
 * check's error.
 *
 * An integration task (the directive's completion phase) merges the sinks' commits into a checkout of
 * the base branch. No agent runs unless a merge conflicts; then the agent gets the integration prompt
 * (prompts/integration.ts), which opens with the conflict. The result is checked like a step's work,
 * pushed to the directive's result branch, and the directive's on-complete command (on-complete.ts)
 * runs in the worktree; the report carries the branch, the commit and the URL it printed.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ReportTaskUsageDocument, TaskToRunDocument } from "../client/generated/graphql";
import type { GraphQLClient } from "../client/graphql";
import type { Logger } from "../logger";
import { withConflictSection } from "../prompts/conflict";
import { buildIntegrationPrompt } from "../prompts/integration";
import { statusIn, type TaskStatus } from "../statuses";
import { AgentProcess, type AgentResult } from "./agent-process";
import { runCheck } from "./check";
import { runOnComplete } from "./on-complete";
import type { AgentUser } from "./agent-user";
import { assertMayPublish, FencedError, type Lease } from "./lease";
import type { TaskRecords } from "./leftovers";
import { OutputSink } from "./output-sink";
import type { ReportQueue } from "./report-queue";
import type { HeldTask } from "./task-pool";
import { usageReader, type AgentOutput, type Usage } from "./usage-reader";
import { prepareWorkspace, WorkspaceError } from "./workspace";

/*
 * The task's fields are typed by the generated TaskToRun query; what the schema leaves loose is
 * checked here: `kind` (a String) and `workspace` (JSON).
 */
const TaskShape = z.object({
  kind: z.enum(["planning", "execution", "integration"]),
  workspace: z
    .object({
      repo: z.string().nullable(),
      base_branch: z.string(),
      directive_title: z.string(),
      step_name: z.string().nullable(),
      dependencies: z.array(z.object({ step_id: z.string(), name: z.string(), status: z.string(), branch: z.string().nullable(), commit_sha: z.string().nullable() })),
      // Integration tasks only.
      result_branch: z.string().nullish(),
      on_complete: z.string().nullish(),
      directive_goal: z.string().nullish(),
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
  /** Read the agent's usage from its stdout in this format, and report it (--agent-output). */
  agentOutput?: AgentOutput;
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
      const info = task.workspace!;
      const integration = task.kind === "integration";
      const sinks = info.dependencies.filter((d) => d.commit_sha).map((d) => ({ name: d.name, commit: d.commit_sha! }));
      if (integration) {
        const merged = sinks.map((d) => `"${d.name}" (${d.commit.slice(0, 10)})`).join(", ") || "nothing (no step recorded a commit)";
        sink.write("stdout", `[baton] Integrating into ${info.result_branch} from ${info.base_branch}: merging ${merged}.\n`);
        if (!conflict) sink.write("stdout", "[baton] Merged without conflict; no agent runs.\n");
      }
      let result: AgentResult;
      const usage = usageReader(this.opts.agentOutput);
      if (integration && !conflict) {
        result = { outcome: "completed", exitCode: 0, signal: null, errorTail: "" };
      } else {
        const prompt =
          integration && conflict
            ? buildIntegrationPrompt({
                directiveTitle: info.directive_title,
                goal: info.directive_goal ?? "",
                baseBranch: info.base_branch,
                resultBranch: info.result_branch ?? "",
                sinks,
                check: task.checkCommand ?? null,
                conflict,
              })
            : conflict
              ? withConflictSection(task.prompt ?? "", conflict)
              : (task.prompt ?? "");
        const agent = new AgentProcess({
          command: this.opts.agentCommand,
          cwd: workspace.dir,
          prompt,
          promptDir: path.join(workDir, "prompts", taskId),
          graceMs: this.opts.graceMs,
          passEnv: this.opts.agentEnv,
          user: this.opts.agentUser,
          env: agentEnv,
          onOutput: (stream, text) => {
            if (stream === "stdout") usage?.write(text);
            sink.write(stream, text);
          },
          onSpawn: (pid) => records.agent(taskId, pid), // before the command starts: a daemon killed here leaves no agent
        });
        entry.agent = agent;
        if (entry.interrupted) agent.interrupt(entry.interrupted);
        result = await agent.result;
      }
      // Before the output flush: its append may be stuck in the partition that cost the lease.
      if (entry.fenced) return log.warn("the lease ran out during this attempt: nothing published, nothing reported", { outcome: result.outcome });
      await sink.flush();
      // Before the status report: a budget it reaches pauses the directive while the task still runs.
      if (usage) await this.reportUsage(taskId, usage.end(), log);
      const unresolved =
        result.outcome === "completed" ? await workspace.unresolvedConflict().catch((err: Error) => `The agent exited 0 but its merge could not be checked: ${err.message}`) : null;
      if (unresolved) {
        const reported = await reports.send(taskId, "failed", { error: unresolved, branch: workspace.branch });
        log.info("task failed: the merge conflict is unresolved", { error: unresolved, reported });
      } else if (result.outcome === "completed") {
        let finished: { branch: string | null; commit: string | null };
        let resultUrl: string | null = null;
        try {
          // Committed before the check runs: what the check leaves behind (build output, caches) is not the step's work.
          await workspace.commit(
            task.kind === "planning" ? "Baton planning" : integration ? `Integrate "${info.directive_title}"\n\nBaton task ${task.rowId}` : `${info.step_name ?? "Baton step"}\n\nBaton task ${task.rowId}`,
          );
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
          if (integration && info.on_complete) {
            const verdict = await runOnComplete({
              command: info.on_complete,
              cwd: workspace.dir,
              promptDir: path.join(workDir, "prompts", taskId, "on-complete"),
              graceMs: this.opts.graceMs,
              passEnv: this.opts.agentEnv,
              user: this.opts.agentUser,
              env: { ...agentEnv, BATON_RESULT_BRANCH: finished.branch ?? "", BATON_RESULT_COMMIT: finished.commit ?? "" },
              onOutput: (stream, text) => sink.write(stream, text),
              onSpawn: (pid) => records.agent(taskId, pid),
              onProcess: (proc) => {
                entry.agent = proc;
                if (entry.interrupted) proc.interrupt(entry.interrupted);
              },
            });
            if (entry.fenced) return log.warn("the lease ran out during the on-complete command: nothing reported", { outcome: verdict.outcome });
            await sink.flush();
            if (verdict.outcome !== "passed") {
              const reported = await reports.send(taskId, verdict.outcome, { error: verdict.error, branch: finished.branch });
              return log.info(`integration ${verdict.outcome}: its on-complete command did not succeed`, { reported });
            }
            resultUrl = verdict.url;
          }
        } catch (err) {
          if (err instanceof FencedError) return log.warn("not published: this attempt may no longer publish", { reason: err.message });
          log.warn("the agent's work could not be saved", { error: (err as Error).message });
          const why = integration ? "The result could not be saved or pushed" : "The agent succeeded but its work could not be saved";
          await reports.send(taskId, "failed", { error: `${why}: ${(err as Error).message}` });
          return;
        }
        // Refused (the task was interrupted meanwhile): the attempt's own branch goes again.
        const reported = await reports.send(taskId, "completed", { branch: finished.branch, commit: finished.commit, resultUrl, onRefused: () => workspace.unpublish() });
        log.info("task completed", { branch: finished.branch, commit: finished.commit, ...(resultUrl ? { url: resultUrl } : {}), reported });
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

  /** Reports what the agent's output said it used; a refusal or an outage is logged, never fails the task. */
  private async reportUsage(taskId: string, found: Usage | null, log: Logger): Promise<void> {
    if (!found || (found.inputTokens === null && found.outputTokens === null && found.costUsd === null)) {
      return log.warn(`the agent printed no usage in the --agent-output ${this.opts.agentOutput} format`);
    }
    try {
      await this.opts.api.request(ReportTaskUsageDocument, {
        t: taskId,
        input: found.inputTokens === null ? null : String(found.inputTokens),
        output: found.outputTokens === null ? null : String(found.outputTokens),
        cost: found.costUsd === null ? null : found.costUsd.toFixed(6),
      });
      log.info("usage reported", { input_tokens: found.inputTokens, output_tokens: found.outputTokens, cost_usd: found.costUsd });
    } catch (err) {
      log.warn("the usage could not be reported", { error: (err as Error).message });
    }
  }
}
