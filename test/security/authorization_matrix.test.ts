/*
 * The authorization matrix: every Query field, Mutation and Subscription of the live schema, asked
 * by every kind of subject about owner A's objects, one test per cell, each with a real request.
 *
 * Subjects: anonymous (no token), owner A, owner B, A's daemon, B's daemon, the agent token of a live
 * task of A's directive, an expired token of A; and, from issue 9: a sibling daemon of A (it runs a
 * task of A's other directive, none of this one), the agent of that other directive's task, A's
 * revoked daemon (it ran x's first attempt, so without the revocation it would read A's directive),
 * and a token of A without `exp`.
 *
 * Outcomes, and what each asserts:
 *   allow            HTTP 200, no error, A's target row comes back (reads and subscriptions) or the
 *                    change is in the database (mutations; the snapshot differs).
 *   hidden           reads through row-level security: HTTP 200, no error, a lookup answers null and a
 *                    list leaves out every row of A (compared with what root sees).
 *   BTNFD, BTDNY     HTTP 200, one error with that extensions.code, a message saying what (not found /
 *                    this token may not act for that) and naming no id but those the caller gave or
 *                    holds in its token, the field null; a mutation leaves the database
 *                    unchanged; a subscription fails before anything is delivered, and delivers
 *                    nothing published afterwards.
 *   42501            the same, for a role without the GRANT: "Permission denied: your token's role ...".
 *   UNAUTHENTICATED  HTTP 401 with "The token has expired; ask for a new one." (the token without exp:
 *                    "The token has no expiry (exp); ...") and no data (over a websocket: that error on
 *                    the subscription).
 *
 * A new query field, mutation or subscription without a row here fails "has a row for every operation".
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { post, subscribe, useTestServer, wsClient, type GraphQLResult } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { assertOnlyRefused, awaitSentinel, operationIds, recordingWsClient } from "../helpers/sentinel";
import { changedTables, scopedSnapshot } from "../helpers/snapshot";
import { aRows, OPERATIONS, type ARows, type MutationOp, type ReadOp, type SubscriptionOp } from "./operations";
import { makeWorld, SUBJECTS, type Subject, type World } from "./world";

const db = useTestDatabase();

type Outcome = "allow" | "hidden" | "BTNFD" | "BTDNY" | "42501" | "UNAUTHENTICATED";
const U = "UNAUTHENTICATED";

// prettier-ignore
const MATRIX: Record<
  string,
  readonly [
    anonymous: Outcome, ownerA: Outcome, ownerB: Outcome, daemonA: Outcome, daemonB: Outcome, agentA: Outcome, expired: Outcome,
    siblingDaemonA: Outcome, agentOtherDirectiveA: Outcome, revokedDaemonA: Outcome, noExp: Outcome,
  ]
> = {
  //                               anonymous ownerA    ownerB    daemonA   daemonB   agentA    expired   sibling   agentA2   revoked   noExp
  "Query.query":                  ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.id":                     ["allow",  "allow",  "allow",  "allow",  "allow",  "allow",  U,        "allow",  "allow",  "allow",  U],
  "Query.node":                   ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.currentIdentity":        ["allow",  "allow",  "allow",  "allow",  "allow",  "allow",  U,        "allow",  "allow",  "allow",  U],
  "Query.owner":                  ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "allow",  "allow",  "hidden", U],
  "Query.ownerById":              ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "allow",  "allow",  "hidden", U],
  "Query.owners":                 ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "allow",  "allow",  "hidden", U],
  "Query.directive":              ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.directiveById":          ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.directives":             ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.directiveStep":          ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.directiveStepById":      ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.directiveSteps":         ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.stepDependency":         ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.stepDependencyById":     ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.stepDependencies":       ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.task":                   ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.taskById":               ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.tasks":                  ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.taskOutput":             ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.taskOutputById":         ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.taskOutputs":            ["42501",  "allow",  "hidden", "allow",  "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.daemon":                 ["42501",  "allow",  "hidden", "allow",  "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.daemonById":             ["42501",  "allow",  "hidden", "allow",  "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.daemons":                ["42501",  "allow",  "hidden", "allow",  "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.event":                  ["42501",  "allow",  "hidden", "hidden", "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.eventById":              ["42501",  "allow",  "hidden", "hidden", "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.events":                 ["42501",  "allow",  "hidden", "hidden", "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.webhook":               ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.webhookById":           ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.webhooks":              ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.webhookDelivery":       ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.webhookDeliveryById":   ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.webhookDeliveries":     ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  // Questions (sql/000025): the owner and the asking directive's agent read them; daemons see none.
  "Query.question":               ["42501",  "allow",  "hidden", "hidden", "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.questionById":           ["42501",  "allow",  "hidden", "hidden", "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.questions":              ["42501",  "allow",  "hidden", "hidden", "hidden", "allow",  U,        "hidden", "hidden", "hidden", U],
  "Query.planProposal":           ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.planProposalById":       ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.planProposals":          ["42501",  "allow",  "hidden", "hidden", "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Query.planDiff":               ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Query.transactionEvents":      ["42501",  "allow",  "hidden", "42501",  "42501",  "allow",  U,        "42501",  "hidden", "42501",  U],
  "Query.directiveProgresses":    ["42501",  "allow",  "hidden", "42501",  "42501",  "allow",  U,        "42501",  "hidden", "42501",  U],
  "Query.stepWaits":              ["42501",  "allow",  "hidden", "42501",  "42501",  "allow",  U,        "42501",  "hidden", "42501",  U],
  // Usage roll-ups (sql/000023): views over tasks and steps, so the same row-level security; an agent of A's
  // other directive sees its own directive's usage under owner A, so ownerUsages lists A's row for it too.
  "Query.stepUsages":             ["42501",  "allow",  "hidden", "42501",  "42501",  "allow",  U,        "42501",  "hidden", "42501",  U],
  "Query.directiveUsages":        ["42501",  "allow",  "hidden", "42501",  "42501",  "allow",  U,        "42501",  "hidden", "42501",  U],
  "Query.ownerUsages":            ["42501",  "allow",  "hidden", "42501",  "42501",  "allow",  U,        "42501",  "allow",  "42501",  U],
  "Query.daemonToken":            ["42501",  "allow",  "BTNFD",  "allow",  "BTNFD",  "42501",  U,        "BTNFD",  "42501",  "BTDNY",  U],
  // Computed columns that hand out a secret or other daemons' facts (not root fields; kept by hand).
  "Task.agentToken":              ["42501",  "hidden", "hidden", "allow",  "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Task.workspace":               ["42501",  "allow",  "hidden", "allow",  "hidden", "hidden", U,        "hidden", "hidden", "hidden", U],
  "Mutation.createDirective":     ["42501",  "allow",  "BTDNY",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.registerDaemon":      ["42501",  "allow",  "BTDNY",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.startDirective":      ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.pauseDirective":      ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.archiveDirective":    ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.updateGoal":          ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.updateDirective":    ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.setDirectiveCheck":  ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.setDirectiveLimits":  ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.setDirectiveTargetBranch": ["42501", "allow", "BTNFD", "42501", "42501", "42501", U,       "42501",  "42501",  "42501",  U],
  "Mutation.setDirectiveOnComplete": ["42501", "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.cancelTask":          ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.addStep":             ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "allow",  U,        "42501",  "BTDNY",  "42501",  U],
  "Mutation.batchAddSteps":       ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "allow",  U,        "42501",  "BTDNY",  "42501",  U],
  // An execution agent removes or re-wires only the steps its own task added (sql/000008_step_functions.sql); y is the owner's.
  "Mutation.removeStep":          ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "BTDNY",  U,        "42501",  "BTDNY",  "42501",  U],
  "Mutation.setStepDependencies": ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "BTDNY",  U,        "42501",  "BTDNY",  "42501",  U],
  "Mutation.completeStep":        ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.failStep":            ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.skipStep":            ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.retryStep":           ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.heartbeat":           ["42501",  "42501",  "42501",  "allow",  "BTDNY",  "42501",  U,        "BTDNY",  "42501",  "BTDNY",  U],
  "Mutation.disconnectDaemon":    ["42501",  "allow",  "BTNFD",  "allow",  "BTDNY",  "42501",  U,        "BTDNY",  "42501",  "BTDNY",  U],
  "Mutation.reportTaskStatus":    ["42501",  "42501",  "42501",  "allow",  "BTDNY",  "42501",  U,        "BTDNY",  "42501",  "BTDNY",  U],
  // An agent reports usage for its own live task only; its daemon for its tasks; the owner sets budgets (issue 12).
  "Mutation.reportTaskUsage":     ["42501",  "42501",  "42501",  "allow",  "BTDNY",  "allow",  U,        "BTDNY",  "BTDNY",  "BTDNY",  U],
  "Mutation.setDirectiveBudget":  ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  // Limits and priority (sql/000026) are the owner's alone; a daemon sets its own labels (or its owner does).
  "Mutation.setDirectiveMaxParallel": ["42501", "allow", "BTNFD", "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.setDirectivePriority": ["42501", "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.setOwnerMaxParallel": ["42501",  "allow",  "BTDNY",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.setDaemonLabels":     ["42501",  "allow",  "BTNFD",  "allow",  "BTDNY",  "42501",  U,        "BTDNY",  "42501",  "BTDNY",  U],
  // An agent asks for its own task only; only the owner answers (issue 12); the asker or the owner withdraws. The
  // answered and withdrawn question is taskA2's (A's other directive): agentA2 asked it, agentA did not.
  "Mutation.askQuestion":         ["42501",  "42501",  "42501",  "42501",  "42501",  "allow",  U,        "42501",  "BTDNY",  "42501",  U],
  "Mutation.answerQuestion":      ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.cancelQuestion":      ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "BTNFD",  U,        "42501",  "allow",  "42501",  U],
  "Mutation.approvePlan":         ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.rejectPlan":          ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.setDirectiveReviewPlans": ["42501", "allow", "BTNFD", "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.appendTaskOutput":    ["42501",  "42501",  "42501",  "allow",  "BTDNY",  "42501",  U,        "BTDNY",  "42501",  "BTDNY",  U],
  "Mutation.revokeDaemon":        ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  // Only the owner adds and removes webhooks (issue 12: "only the owner may ... add webhooks").
  "Mutation.addWebhook":          ["42501",  "allow",  "BTDNY",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.removeWebhook":       ["42501",  "allow",  "BTNFD",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Mutation.rotateTokens":        ["42501",  "allow",  "BTDNY",  "42501",  "42501",  "42501",  U,        "42501",  "42501",  "42501",  U],
  "Subscription.daemonCommands":  ["42501",  "allow",  "BTNFD",  "allow",  "BTNFD",  "BTNFD",  U,        "BTNFD",  "BTNFD",  "BTNFD",  U],
  "Subscription.directiveEvents": ["42501",  "allow",  "BTNFD",  "allow",  "BTNFD",  "allow",  U,        "BTNFD",  "BTNFD",  "BTNFD",  U],
};

/** What a denial's message must say, per code. */
const DENIAL_MESSAGES: Record<string, RegExp> = {
  "42501": /^Permission denied: your token's role may not do that/,
  BTNFD: /^(Directive|Step|Daemon|Task|Webhook|Question) [0-9a-f-]{36} does not exist/,
  BTDNY: /^(You act as owner [0-9a-f-]{36}, so you cannot act for owner|This daemon token is for daemon [0-9a-f-]{36}, so it cannot (act|report) |Task [0-9a-f-]{36} is not assigned to this daemon|This agent token is for directive [0-9a-f-]{36}, so it cannot change another directive\.$|This agent token is for task [0-9a-f-]{36}, so it cannot (report usage of|ask for) task [0-9a-f-]{36}\.$|Step [0-9a-f-]{36} \("y"\) was not added by this task, so an execution agent cannot (remove|re-wire) it|This daemon \([0-9a-f-]{36}\) was revoked by its owner, so its token no longer works\.)/,
  UNAUTHENTICATED: /^(The token has expired; ask for a new one\.|The token has no expiry \(exp\); Baton refuses tokens that never expire\. Ask for a new token \(`baton token create` or `baton token rotate`\)\.)$/,
};

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** A refusal may name the ids the caller gave and its own token's ids, and no others (no leaks). */
function assertNamesOnlyKnownIds(message: string, variables: unknown, bearer: string | undefined): void {
  const known = new Set([...JSON.stringify(variables ?? {}).matchAll(UUID)].map((m) => m[0]));
  if (bearer) for (const m of Buffer.from(bearer.split(".")[1]!, "base64url").toString().matchAll(UUID)) known.add(m[0]);
  const strange = [...message.matchAll(UUID)].map((m) => m[0]).filter((id) => !known.has(id));
  assert.deepEqual(strange, [], `the refusal names ids the caller did not give: ${message}`);
}

/** The 401 message each subject refused at the gate must get. */
const gateMessage = (subject: Subject) => (subject === "noExp" ? /^The token has no expiry \(exp\)/ : /^The token has expired; /);

function assertDenied(r: GraphQLResult & { status: number }, code: Outcome, field: string, variables: unknown, bearer: string | undefined, subject: Subject): void {
  const error = r.errors?.[0];
  assert.ok(error, `expected ${code}, got data ${JSON.stringify(r.data)}`);
  assert.equal(error.extensions?.code, code, `expected ${code}: ${error.message}`);
  assert.match(error.message, DENIAL_MESSAGES[code]!);
  if (code === U) assert.match(error.message, gateMessage(subject));
  assertNamesOnlyKnownIds(error.message, variables, bearer);
  if (code === U) {
    assert.equal(r.status, 401);
    assert.equal(r.data, undefined);
    return;
  }
  assert.equal(r.status, 200);
  assert.equal(r.errors!.length, 1, JSON.stringify(r.errors));
  // The refused field (or the nested one that was refused, as in query { directive }) answers null.
  assert.equal(error.path?.[0], field);
  const value = error.path!.reduce<any>((v, key) => (v == null ? v : v[key as string]), r.data);
  assert.equal(value ?? null, null);
}

describe("the authorization matrix", () => {
  const server = useTestServer(db, { worker: false });
  // One world for reads and subscriptions (they change nothing); mutations build their own.
  let shared: World;
  let sharedRows: ARows;
  let worlds = 0;
  // A mutation's refusals share one world (prepared once): each cell asserts that its refusal changed
  // nothing, so the next one meets the same state. An allowed cell changes it, so it gets a fresh one.
  const refusalWorlds = new Map<MutationOp, Promise<World>>();

  before(async () => {
    shared = await makeWorld(db, server, "shared");
    sharedRows = await aRows(db, shared);
  });

  it("has a row for every query field, mutation and subscription of the live schema, and no other", async () => {
    const r = await post(server, `{ __schema { queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } } } }`);
    const s = r.data.__schema;
    const live = [
      ...s.queryType.fields.map((f: { name: string }) => `Query.${f.name}`),
      ...s.mutationType.fields.map((f: { name: string }) => `Mutation.${f.name}`),
      ...s.subscriptionType.fields.map((f: { name: string }) => `Subscription.${f.name}`),
    ].sort();
    const rows = Object.keys(MATRIX).filter((k) => /^(Query|Mutation|Subscription)\./.test(k));
    const missing = live.filter((op) => !rows.includes(op));
    const stale = rows.filter((op) => !live.includes(op));
    assert.deepEqual(missing, [], missing.map((op) => `add a row for ${op} to the matrix in test/security/authorization_matrix.test.ts (and its request in operations.ts)`).join("; "));
    assert.deepEqual(stale, [], stale.map((op) => `remove the row for ${op}: the API no longer has it`).join("; "));
    for (const op of Object.keys(MATRIX)) assert.ok(OPERATIONS[op], `operations.ts has no request for ${op}`);
    for (const op of Object.keys(OPERATIONS)) assert.ok(MATRIX[op], `operations.ts has ${op}, but the matrix has no row for it`);
  });

  it("signs the subjects' tokens with the claims the server mints for daemons and agents", async () => {
    // Everything but the times and the issuer, without the null claims the SQL leaves in.
    const claims = (t: string) => {
      const { exp: _exp, iat: _iat, iss: _iss, ...rest } = JSON.parse(Buffer.from(t.split(".")[1]!, "base64url").toString());
      return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null));
    };
    const minted = await post(server, `query ($dm: UUID!) { daemonToken(daemonId: $dm) }`, { dm: shared.daemonA }, shared.tokens.ownerA);
    assert.deepEqual(claims(minted.data.daemonToken), claims(shared.tokens.daemonA!));
    const agent = await post(server, `query ($t: UUID!) { task(rowId: $t) { agentToken } }`, { t: shared.task }, shared.tokens.daemonA);
    assert.deepEqual(claims(agent.data.task.agentToken), claims(shared.tokens.agentA!));
  });

  for (const [op, row] of Object.entries(MATRIX)) {
    const spec = OPERATIONS[op];
    if (!spec) continue; // reported by the completeness test above
    describe(op, () => {
      SUBJECTS.forEach((subject, i) => {
        const outcome = row[i]!;
        it(`${subject}: ${outcome}`, async () => {
          if (spec.kind === "read") await readCell(spec, subject, outcome);
          else if (spec.kind === "mutation") await mutationCell(spec, subject, outcome, `${op} ${subject} ${++worlds}`);
          else await subscriptionCell(spec, subject, outcome);
        });
      });
    });
  }

  async function readCell(spec: ReadOp, subject: Subject, outcome: Outcome): Promise<void> {
    const { query, variables } = spec.request(shared);
    const r = await post(server, query, variables, shared.tokens[subject]);
    if (outcome === "allow" || outcome === "hidden") {
      assert.equal(r.status, 200);
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      if (outcome === "allow") spec.allowed(r.data[spec.field], shared);
      else {
        assert.ok(spec.hidden, `${spec.field} cannot be hidden; the matrix must say allow or a denial`);
        spec.hidden(r.data[spec.field], shared, sharedRows);
      }
    } else assertDenied(r, outcome, spec.field, variables, shared.tokens[subject], subject);
  }

  async function mutationCell(spec: MutationOp, subject: Subject, outcome: Outcome, tag: string): Promise<void> {
    assert.notEqual(outcome, "hidden", "a mutation is allowed or denied, never hidden");
    const fresh = async (t: string) => {
      const w = await makeWorld(db, server, t);
      await spec.prepare?.(db, w);
      return w;
    };
    if (outcome !== "allow" && !refusalWorlds.has(spec)) refusalWorlds.set(spec, fresh(`${tag} (refusals)`));
    const w = outcome === "allow" ? await fresh(tag) : await refusalWorlds.get(spec)!;
    // The world's rows, and every table's row count (not a hash of all the worlds before it).
    const owners = [w.ownerA, w.ownerB];
    const before = await scopedSnapshot(db, owners);
    const { query, variables } = spec.request(w);
    const r = await post(server, query, variables, w.tokens[subject]);
    const changed = changedTables(before, await scopedSnapshot(db, owners));
    if (outcome === "allow") {
      assert.equal(r.errors, undefined, JSON.stringify(r.errors));
      assert.equal(r.status, 200);
      await spec.allowed(r.data[spec.field].result, w, db);
      assert.notDeepEqual(changed, [], "an allowed mutation changed something");
    } else {
      assertDenied(r, outcome, spec.field, variables, w.tokens[subject], subject);
      assert.deepEqual(changed, [], `the refused ${spec.field} changed the database: ${changed.join(", ")}`);
    }
  }

  async function subscriptionCell(spec: SubscriptionOp, subject: Subject, outcome: Outcome): Promise<void> {
    assert.notEqual(outcome, "hidden", "a subscription is allowed or refused, never hidden");
    const { query, variables } = spec.request(shared);
    const { client, frames } = recordingWsClient(server, shared.tokens[subject]);
    const sub = subscribe(client, query, variables ?? {});
    const probe = spec.probe(shared);
    const notify = () => db.pool.query("select pg_notify($1, $2)", [spec.channel(shared), probe.payload]);
    try {
      if (outcome === "allow") {
        // graphql-ws does not acknowledge a subscription: publish until the listener is in place.
        for (let i = 0; ; i++) {
          await notify();
          const data = await sub.next(100).catch((err: Error) => {
            if (i < 100 && /no subscription payload/.test(err.message)) return undefined;
            throw err;
          });
          if (data !== undefined) {
            assert.ok(probe.matches(data), `unexpected payload ${JSON.stringify(data)}`);
            return;
          }
        }
      }
      const errors = (await sub.error()) as { message: string; extensions?: { code?: string } }[];
      assert.ok(Array.isArray(errors), `expected GraphQL errors, got ${String(errors)}`);
      assert.equal(errors[0]?.extensions?.code, outcome, errors[0]?.message);
      assert.match(errors[0]!.message, outcome === "BTNFD" ? /^(Directive|Daemon) [0-9a-f-]{36} does not exist or is not yours/ : DENIAL_MESSAGES[outcome]!);
      if (outcome === U) assert.match(errors[0]!.message, gateMessage(subject));
      assertNamesOnlyKnownIds(errors[0]!.message, variables, shared.tokens[subject]);
      // Nothing published afterwards reaches a refused subscriber. The sentinel: owner A, allowed on the
      // same channel, hears the probe; by then the refused socket would have too. Checked frame by frame.
      const watcher = wsClient(server, shared.tokens.ownerA);
      const seen = subscribe(watcher, query, variables ?? {});
      await awaitSentinel(seen, notify, probe.matches, { what: "owner A's copy of the probe" });
      seen.close();
      await watcher.dispose();
      assertOnlyRefused(frames, operationIds(frames, variables ?? {}));
      assert.deepEqual(sub.pending(), []);
    } finally {
      sub.close();
      await client.dispose();
    }
  }
});
