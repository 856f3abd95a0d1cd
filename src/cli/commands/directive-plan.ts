/*
 * Plan review (issue 12 point 1, sql/000024_plan_review.sql). On a directive with review_plans, what a
 * planner writes waits as a proposal:
 *   baton directive plan [DIRECTIVE]              the proposal as a diff against the live plan
 *   baton directive plan approve [DIRECTIVE]      apply it (atomically, in one transaction)
 *   baton directive plan reject [DIRECTIVE] --reason R   plan again; the planner's prompt quotes R
 * Only the owner reviews: approvePlan and rejectPlan are granted to owner tokens only.
 */
import type { Command } from "commander";
import { z } from "zod";
import {
  ApprovePlanDocument,
  LatestPlanProposalDocument,
  PlanProposalStatus,
  PlanReviewDocument,
  RejectPlanDocument,
  type PlanReviewQuery,
} from "../../client/generated/graphql";
import type { GraphQLClient } from "../../client/graphql";
import { present, rows } from "../../client/results";
import { addCommonOptions, apiClient, output, parseId, UsageError, type CommonOptions } from "../context";
import { OPEN_PLAN_STATUSES, statusIn } from "../../statuses";

type Change = NonNullable<NonNullable<PlanReviewQuery["planDiff"]>["nodes"][number]>;

/** The directive a plan command acts on: the argument, then --directive, then BATON_DIRECTIVE_ID. */
function directiveArg(arg: string | undefined, opts: CommonOptions): string {
  const raw = arg ?? opts.directive ?? process.env.BATON_DIRECTIVE_ID;
  if (!raw) throw new UsageError("Name the directive: baton directive plan DIRECTIVE_ID, --directive ID, or set BATON_DIRECTIVE_ID.");
  return parseId(raw, "The directive id");
}

/** The line `status` and `watch` print while a plan waits for review; null when none waits. */
export async function planWaitingLine(api: GraphQLClient, directiveId: string): Promise<string | null> {
  const p = rows((await api.request(LatestPlanProposalDocument, { d: directiveId })).planProposals?.nodes)[0];
  if (p?.status === PlanProposalStatus.Proposed) return "Plan waiting for review: run `baton directive plan` to see it, then `baton directive plan approve` or `baton directive plan reject --reason \"...\"`.";
  if (p?.status === PlanProposalStatus.Drafting) return "Plan being written by its planner; it will wait for your review (`baton directive plan`).";
  return null;
}

const SIGN: Record<string, string> = { kept: " ", added: "+", removed: "-", rewired: "~" };

/** "a (3f2b8c1e)": a step by name and short id. */
function named(name: string | null, id: string | null): string {
  return `${name ?? "?"} (${(id ?? "").slice(0, 8)})`;
}

/** The diff in human lines: one per step, marked + added, - removed, ~ re-wired, with its dependencies. */
export function diffLines(changes: Change[]): string[] {
  const nameOf = new Map(changes.map((c) => [c.stepId, c.name]));
  const list = (ids: readonly (string | null)[] | null, names?: readonly (string | null)[] | null) =>
    (ids ?? []).length === 0 ? "nothing" : (ids ?? []).map((id, i) => named(names?.[i] ?? nameOf.get(id) ?? null, id)).join(", ");
  return changes.map((c) => {
    const sign = SIGN[c.change ?? ""] ?? "?";
    const status = c.status ? `, ${c.status}` : "";
    const head = `${sign} ${named(c.name, c.stepId)}  ${c.change}${status}`;
    if (c.change === "rewired") return `${head}\n    depends on ${list(c.dependsOn, c.dependsOnNames)} (was ${list(c.previousDependsOn)})`;
    return (c.dependsOn ?? []).length ? `${head}\n    depends on ${list(c.dependsOn, c.dependsOnNames)}` : head;
  });
}

/**
 * A subcommand's options with those its parent `plan` took: commander gives `plan`'s options (the same
 * --directive, --json, --api, --token) to `plan` wherever they stand, so `plan approve --directive D`
 * leaves them out of approve's own.
 */
function withPlanOptions(cmd: Command): CommonOptions {
  return cmd.optsWithGlobals() as CommonOptions;
}

const Reason = z.string().trim().min(1).max(16384);

export function register(directive: Command): void {
  const plan = addCommonOptions(
    directive
      .command("plan")
      .argument("[directive]", "the directive (default: --directive, then BATON_DIRECTIVE_ID)")
      .description("Show the plan waiting for your review, as a diff against the current plan.")
      .addHelpText(
        "after",
        `
On a directive created with --review-plans (or switched on with \`baton directive update --review-plans on\`),
what its planner writes waits as a proposal: nothing of it runs. This shows it step by step:
  + added   - removed   ~ re-wired (other dependencies)   (blank) kept
Then approve it (applied at once, atomically) or reject it with a reason (the directive is planned again,
and the planner's prompt quotes your reason).

Examples:
  baton directive plan
  baton directive plan --json
  baton directive plan approve
  baton directive plan reject --reason "Split the API step; keep the schema step as it is."`,
      ),
    { directive: true },
  ).action(async (arg: string | undefined, opts: CommonOptions) => {
    const id = directiveArg(arg, opts);
    const data = await apiClient(opts).request(PlanReviewDocument, { d: id });
    const d = data.directive;
    if (!d) throw Object.assign(new Error(`Directive ${id} does not exist. List your directives with \`baton directive list\`.`), { code: "BTNFD" });
    const latest = rows(data.planProposals?.nodes)[0] ?? null;
    const open = latest && statusIn(latest.status, OPEN_PLAN_STATUSES) ? latest : null;
    const changes = open ? rows(data.planDiff?.nodes) : [];
    const count = (kind: string) => changes.filter((c) => c.change === kind).length;
    output(opts, { directiveId: d.rowId, reviewPlans: d.reviewPlans, proposal: open, latest, changes }, () => {
      if (!open) {
        const why = !d.reviewPlans
          ? `Directive ${d.rowId} does not review plans (turn it on with \`baton directive update --review-plans on\`).`
          : `No plan is waiting for review in directive ${d.rowId}.`;
        return latest ? `${why}\nLast plan: ${latest.status}${latest.reason ? ` (${latest.reason})` : ""}.` : why;
      }
      const head =
        open.status === PlanProposalStatus.Drafting
          ? `Plan of "${d.title}" being written by its planner (task ${open.taskId}); review it once the planner has finished.`
          : `Plan of "${d.title}" waiting for review: ${count("added")} added, ${count("removed")} removed, ${count("rewired")} re-wired, ${count("kept")} kept.`;
      const next = open.status === PlanProposalStatus.Proposed ? ["", 'Approve: baton directive plan approve    Reject: baton directive plan reject --reason "..."'] : [];
      return [head, "", ...diffLines(changes), ...next].join("\n");
    });
  });

  addCommonOptions(
    plan
      .command("approve")
      .argument("[directive]", "the directive (default: --directive, then BATON_DIRECTIVE_ID)")
      .description("Approve the plan waiting for review: it is applied at once and atomically, then its steps run.")
      .addHelpText(
        "after",
        `
Refused when no plan waits, while the planner is still writing it, or when the plan changed since it was
proposed so that it no longer fits (a step it removes has started, a step it keeps was removed): reject it
then, and the directive is planned again.

Example:
  baton directive plan approve`,
      ),
    { directive: true },
  ).action(async (arg: string | undefined, _local: CommonOptions, cmd: Command) => {
    const opts = withPlanOptions(cmd);
    const id = directiveArg(arg, opts);
    const p = present((await apiClient(opts).request(ApprovePlanDocument, { d: id })).approvePlan?.result, "the approved plan");
    output(opts, p, `Plan of directive ${id} approved and applied; its ready steps are dispatched.`);
  });

  addCommonOptions(
    plan
      .command("reject")
      .argument("[directive]", "the directive (default: --directive, then BATON_DIRECTIVE_ID)")
      .requiredOption("--reason <text>", "why: the next planner's prompt quotes it")
      .description("Reject the plan waiting for review: nothing of it is applied, and the directive is planned again with your reason.")
      .addHelpText(
        "after",
        `
Example:
  baton directive plan reject --reason "Too many steps: do the schema and the API in one step."`,
      ),
    { directive: true },
  ).action(async (arg: string | undefined, _local: CommonOptions, cmd: Command) => {
    const opts = withPlanOptions(cmd) as CommonOptions & { reason: string };
    const id = directiveArg(arg, opts);
    const reason = Reason.safeParse(opts.reason);
    if (!reason.success) throw new UsageError('The reason is empty (or over 16384 characters): say why, e.g. --reason "Split the API step."');
    const p = present((await apiClient(opts).request(RejectPlanDocument, { d: id, reason: reason.data })).rejectPlan?.result, "the rejected plan");
    output(opts, p, `Plan of directive ${id} rejected; the directive is planned again with your reason.`);
  });
}
