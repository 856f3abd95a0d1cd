/*
 * How the authorization matrix exercises each operation of the API against owner A's objects: the
 * request (valid arguments, A's ids), what "allowed" must show, and for reads what "hidden" (row-level
 * security) must show. The matrix itself, which subject gets which outcome, is in
 * authorization_matrix.test.ts.
 *
 * Kinds:
 *   read          a Query field (or a computed column). allowed: A's target row comes back.
 *                 hidden: no error, and none of A's rows (a lookup is null, a list leaves them out).
 *   mutation      runs on a fresh world. allowed: no error, the result is A's object and the change
 *                 is in the database. A denial must leave the database unchanged (snapshot).
 *   subscription  allowed: a payload published on the topic reaches the subscriber.
 *                 A denial is an error before anything is delivered, and nothing is delivered later.
 */
import assert from "node:assert/strict";
import type { TestDb } from "../helpers/db";
import type { World } from "./world";

export type Request = { query: string; variables?: Record<string, unknown> };

export type ReadOp = {
  kind: "read";
  /** The field of `data` that answers (its error path). */
  field: string;
  request: (w: World) => Request;
  allowed: (value: any, w: World) => void;
  /** When null, the operation cannot be hidden (it never touches A's rows). */
  hidden: ((value: any, w: World, aRows: ARows) => void) | null;
};

export type MutationOp = {
  kind: "mutation";
  field: string;
  /** As root, before the snapshot: puts A's objects in the state the mutation starts from. */
  prepare?: (db: TestDb, w: World) => Promise<void>;
  request: (w: World) => Request;
  /** Checks the result and the change, as root. */
  allowed: (result: any, w: World, db: TestDb) => Promise<void>;
};

export type SubscriptionOp = {
  kind: "subscription";
  field: string;
  request: (w: World) => Request;
  /** The NOTIFY channel the subscription listens on. */
  channel: (w: World) => string;
  /** A payload on the channel that the subscriber must receive when allowed, and how to recognise it. */
  probe: (w: World) => { payload: string; matches: (data: any) => boolean };
};

export type Operation = ReadOp | MutationOp | SubscriptionOp;

/**
 * Every row of owner A, per API type, as root sees them: what "hidden" must leave out. A's other
 * directive and its sibling daemon are left out: they are the sibling daemon's and the other agent's
 * own rows, which those subjects do see.
 */
export type ARows = Record<
  "owners" | "directives" | "steps" | "dependencies" | "tasks" | "daemons" | "events" | "outputs" | "webhooks" | "deliveries" | "questions" | "proposals",
  Set<string>
>;

export async function aRows(db: TestDb, w: World): Promise<ARows> {
  const q = async (sql: string) => new Set((await db.pool.query<{ k: string }>(sql, [w.ownerA, w.directiveA2, w.siblingDaemonA])).rows.map((r) => r.k));
  const notA2 = "owner_id = $1 and directive_id is distinct from $2 and $3::uuid is not null";
  return {
    owners: await q("select id::text as k from baton.owners where id = $1 and $2::uuid is not null and $3::uuid is not null"),
    directives: await q("select id::text as k from baton.directives where owner_id = $1 and id <> $2 and $3::uuid is not null"),
    steps: await q(`select id::text as k from baton.directive_steps where ${notA2}`),
    dependencies: await q(`select step_id || '>' || depends_on_step_id as k from baton.step_dependencies where ${notA2}`),
    tasks: await q(`select id::text as k from baton.tasks where ${notA2}`),
    daemons: await q("select id::text as k from baton.daemons where owner_id = $1 and id <> $3 and $2::uuid is not null"),
    events: await q(`select id::text as k from baton.events where ${notA2}`),
    outputs: await q(`select id::text as k from baton.task_output where ${notA2}`),
    webhooks: await q("select id::text as k from baton.webhooks where owner_id = $1 and $2::uuid is not null and $3::uuid is not null"),
    deliveries: await q("select id::text as k from baton.webhook_deliveries where owner_id = $1 and $2::uuid is not null and $3::uuid is not null"),
    questions: await q(`select id::text as k from baton.questions where ${notA2}`),
    proposals: await q(`select id::text as k from baton.plan_proposals where ${notA2}`),
  };
}

/** PostGraphile's global id of a row: base64 of [type, ...primary key]. */
export const nodeId = (type: string, ...pk: string[]) => Buffer.from(JSON.stringify([type, ...pk])).toString("base64");

const noneOf = (keys: string[], forbidden: Set<string>, what: string) => {
  const leaked = keys.filter((k) => forbidden.has(k));
  assert.deepEqual(leaked, [], `${what}: A's rows leaked`);
};

/** A lookup by primary key: allowed returns the row, hidden returns null. */
function lookup(field: string, args: string, vars: (w: World) => Record<string, unknown>, key: (row: any) => string, target: (w: World) => string): ReadOp {
  return {
    kind: "read",
    field,
    request: (w) => ({ query: `query (${args}) { ${field}(${argList(args)}) { ${selection(field)} } }`, variables: vars(w) }),
    allowed: (value, w) => assert.equal(value && key(value), target(w), `${field} returns A's row`),
    hidden: (value) => assert.equal(value, null, `${field} is null`),
  };
}

/** A lookup by global id (node, *ById). */
function byNodeId(field: string, type: string, pk: (w: World) => string[], key: (row: any) => string, target: (w: World) => string): ReadOp {
  return {
    kind: "read",
    field,
    request: (w) => ({ query: `query ($id: ID!) { ${field}(id: $id) { ${selection(field)} } }`, variables: { id: nodeId(type, ...pk(w)) } }),
    allowed: (value, w) => assert.equal(value && key(value), target(w), `${field} returns A's row`),
    hidden: (value) => assert.equal(value, null, `${field} is null`),
  };
}

/** A collection: allowed lists A's target row, hidden lists none of A's rows. */
function list(field: string, select: string, key: (row: any) => string, target: (w: World) => string, table: keyof ARows): ReadOp {
  return {
    kind: "read",
    field,
    request: () => ({ query: `{ ${field} { nodes { ${select} } } }` }),
    allowed: (value, w) => assert.ok(value.nodes.map(key).includes(target(w)), `${field} lists A's row ${target(w)}: ${JSON.stringify(value.nodes)}`),
    hidden: (value, _w, rows) => noneOf(value.nodes.map(key), rows[table], field),
  };
}

const argList = (args: string) =>
  args
    .split(",")
    .map((a) => a.trim().split(":")[0]!.slice(1))
    .map((name) => `${ARG_NAMES[name] ?? name}: $${name}`)
    .join(", ");
const ARG_NAMES: Record<string, string> = { id: "rowId", s: "stepId", p: "dependsOnStepId" };

const SELECTIONS: Record<string, string> = {
  owner: "rowId name",
  ownerById: "rowId name",
  stepDependency: "stepId dependsOnStepId",
  stepDependencyById: "stepId dependsOnStepId",
  taskOutput: "rowId text",
  taskOutputById: "rowId text",
  daemon: "rowId name",
  daemonById: "rowId name",
  event: "rowId kind",
  eventById: "rowId kind",
  directiveStep: "rowId name",
  directiveStepById: "rowId name",
  directive: "rowId goal",
  directiveById: "rowId goal",
  task: "rowId status",
  taskById: "rowId status",
};
const selection = (field: string) => SELECTIONS[field] ?? "rowId";

const rowId = (row: any) => String(row.rowId);
const dependencyKey = (row: any) => `${row.stepId}>${row.dependsOnStepId}`;

const one = async (db: TestDb, sql: string, values: unknown[]) => (await db.pool.query(sql, values)).rows[0];

/** A mutation taking `input: {...}` and returning `result { ... }`. */
function mutation(
  field: string,
  input: string,
  vars: (w: World) => Record<string, unknown>,
  allowed: MutationOp["allowed"],
  prepare?: MutationOp["prepare"],
  select = "rowId status",
): MutationOp {
  const decls = [...input.matchAll(/\$(\w+)/g)].map((m) => m[1]!);
  const types: Record<string, string> = { qn: "UUID!", wh: "UUID!", d: "UUID!", s: "UUID!", dm: "UUID!", t: "UUID!", o: "UUID!", deps: "[UUID]!", ids: "[UUID]!", steps: "JSON!", chunks: "JSON!" };
  const header = [...new Set(decls)].map((v) => `$${v}: ${types[v] ?? "String!"}`).join(", ");
  return {
    kind: "mutation",
    field,
    prepare,
    request: (w) => ({ query: `mutation${header ? ` (${header})` : ""} { ${field}(input: { ${input} }) { result { ${select} } } }`, variables: vars(w) }),
    allowed,
  };
}

const stepStatus = async (db: TestDb, id: string) => (await one(db, "select status from baton.directive_steps where id = $1", [id]))?.status;
const directiveStatus = async (db: TestDb, id: string) => (await one(db, "select status from baton.directives where id = $1", [id]))?.status;

export const OPERATIONS: Record<string, Operation> = {
  // ---- Query: lookups by primary key
  "Query.owner": lookup("owner", "$id: UUID!", (w) => ({ id: w.ownerA }), rowId, (w) => w.ownerA),
  "Query.directive": lookup("directive", "$id: UUID!", (w) => ({ id: w.directive }), rowId, (w) => w.directive),
  "Query.directiveStep": lookup("directiveStep", "$id: UUID!", (w) => ({ id: w.stepX }), rowId, (w) => w.stepX),
  "Query.stepDependency": lookup("stepDependency", "$s: UUID!, $p: UUID!", (w) => ({ s: w.stepY, p: w.stepX }), dependencyKey, (w) => `${w.stepY}>${w.stepX}`),
  "Query.task": lookup("task", "$id: UUID!", (w) => ({ id: w.task }), rowId, (w) => w.task),
  "Query.taskOutput": lookup("taskOutput", "$id: BigInt!", (w) => ({ id: w.outputId }), rowId, (w) => w.outputId),
  "Query.daemon": lookup("daemon", "$id: UUID!", (w) => ({ id: w.daemonA }), rowId, (w) => w.daemonA),
  "Query.event": lookup("event", "$id: BigInt!", (w) => ({ id: w.eventId }), rowId, (w) => w.eventId),
  "Query.webhook": lookup("webhook", "$id: UUID!", (w) => ({ id: w.webhook }), rowId, (w) => w.webhook),
  "Query.question": lookup("question", "$id: UUID!", (w) => ({ id: w.question }), rowId, (w) => w.question),
  "Query.planProposal": lookup("planProposal", "$id: UUID!", (w) => ({ id: w.proposal }), rowId, (w) => w.proposal),
  "Query.webhookDelivery": lookup("webhookDelivery", "$id: BigInt!", (w) => ({ id: w.deliveryId }), rowId, (w) => w.deliveryId),

  // ---- Query: lookups by global id
  "Query.node": {
    kind: "read",
    field: "node",
    request: (w) => ({ query: `query ($id: ID!) { node(id: $id) { ... on Directive { rowId } } }`, variables: { id: nodeId("Directive", w.directive) } }),
    allowed: (value, w) => assert.equal(value?.rowId, w.directive),
    hidden: (value) => assert.equal(value, null),
  },
  "Query.ownerById": byNodeId("ownerById", "Owner", (w) => [w.ownerA], rowId, (w) => w.ownerA),
  "Query.directiveById": byNodeId("directiveById", "Directive", (w) => [w.directive], rowId, (w) => w.directive),
  "Query.directiveStepById": byNodeId("directiveStepById", "DirectiveStep", (w) => [w.stepX], rowId, (w) => w.stepX),
  "Query.stepDependencyById": byNodeId("stepDependencyById", "StepDependency", (w) => [w.stepY, w.stepX], dependencyKey, (w) => `${w.stepY}>${w.stepX}`),
  "Query.taskById": byNodeId("taskById", "Task", (w) => [w.task], rowId, (w) => w.task),
  "Query.taskOutputById": byNodeId("taskOutputById", "TaskOutput", (w) => [w.outputId], rowId, (w) => w.outputId),
  "Query.daemonById": byNodeId("daemonById", "Daemon", (w) => [w.daemonA], rowId, (w) => w.daemonA),
  "Query.eventById": byNodeId("eventById", "Event", (w) => [w.eventId], rowId, (w) => w.eventId),
  "Query.webhookById": byNodeId("webhookById", "Webhook", (w) => [w.webhook], rowId, (w) => w.webhook),
  "Query.questionById": byNodeId("questionById", "Question", (w) => [w.question], rowId, (w) => w.question),
  "Query.planProposalById": byNodeId("planProposalById", "PlanProposal", (w) => [w.proposal], rowId, (w) => w.proposal),
  "Query.webhookDeliveryById": byNodeId("webhookDeliveryById", "WebhookDelivery", (w) => [w.deliveryId], rowId, (w) => w.deliveryId),

  // ---- Query: collections
  "Query.owners": list("owners", "rowId", rowId, (w) => w.ownerA, "owners"),
  "Query.directives": list("directives", "rowId", rowId, (w) => w.directive, "directives"),
  "Query.directiveSteps": list("directiveSteps", "rowId", rowId, (w) => w.stepY, "steps"),
  "Query.stepDependencies": list("stepDependencies", "stepId dependsOnStepId", dependencyKey, (w) => `${w.stepY}>${w.stepX}`, "dependencies"),
  "Query.tasks": list("tasks", "rowId", rowId, (w) => w.task, "tasks"),
  "Query.taskOutputs": list("taskOutputs", "rowId", rowId, (w) => w.outputId, "outputs"),
  "Query.daemons": list("daemons", "rowId", rowId, (w) => w.daemonA, "daemons"),
  "Query.events": list("events", "rowId", rowId, (w) => w.eventId, "events"),
  "Query.webhooks": list("webhooks", "rowId", rowId, (w) => w.webhook, "webhooks"),
  "Query.questions": list("questions", "rowId", rowId, (w) => w.question, "questions"),
  "Query.planProposals": list("planProposals", "rowId", rowId, (w) => w.proposal, "proposals"),
  "Query.webhookDeliveries": list("webhookDeliveries", "rowId", rowId, (w) => w.deliveryId, "deliveries"),
  "Query.directiveProgresses": list("directiveProgresses", "directiveId", (r) => r.directiveId, (w) => w.directive, "directives"),
  "Query.stepUsages": list("stepUsages", "stepId", (r) => r.stepId, (w) => w.stepX, "steps"),
  "Query.directiveUsages": list("directiveUsages", "directiveId", (r) => r.directiveId, (w) => w.directive, "directives"),
  "Query.ownerUsages": list("ownerUsages", "ownerId", (r) => r.ownerId, (w) => w.ownerA, "owners"),
  "Query.stepWaits": list("stepWaits", "stepId", (r) => r.stepId, (w) => w.stepY, "steps"),

  // ---- Query: functions and Relay fields
  "Query.transactionEvents": {
    kind: "read",
    field: "transactionEvents",
    request: (w) => ({ query: `query ($d: UUID!, $e: BigInt!) { transactionEvents(directiveId: $d, firstEventId: $e) { nodes { rowId } } }`, variables: { d: w.directive, e: w.eventId } }),
    allowed: (value, w) => assert.ok(value.nodes.map(rowId).includes(w.eventId), JSON.stringify(value)),
    hidden: (value, _w, rows) => noneOf(value.nodes.map(rowId), rows.events, "transactionEvents"),
  },
  // Plan review (sql/000024): the diff of A's proposal against its live plan; owner only (BTNFD for another owner).
  "Query.planDiff": {
    kind: "read",
    field: "planDiff",
    request: (w) => ({ query: `query ($d: UUID!) { planDiff(directiveId: $d) { nodes { stepId name change } } }`, variables: { d: w.directive } }),
    allowed: (value) => assert.deepEqual(value.nodes.map((n: any) => [n.name, n.change]), [["x", "kept"], ["y", "kept"], ["w", "added"]]),
    hidden: null,
  },
  "Query.daemonToken": {
    kind: "read",
    field: "daemonToken",
    request: (w) => ({ query: `query ($dm: UUID!) { daemonToken(daemonId: $dm) }`, variables: { dm: w.daemonA } }),
    allowed: (value, w) => {
      const claims = JSON.parse(Buffer.from(String(value).split(".")[1]!, "base64url").toString());
      assert.equal(claims.role, "baton_daemon");
      assert.equal(claims.daemon_id, w.daemonA);
      assert.equal(claims.owner_id, w.ownerA);
    },
    hidden: null,
  },
  "Query.currentIdentity": {
    kind: "read",
    field: "currentIdentity",
    request: () => ({ query: `{ currentIdentity }` }),
    allowed: (value) => assert.match(String(value?.role), /^baton_(user|daemon|agent|anonymous)$/),
    hidden: null,
  },
  "Query.query": {
    kind: "read",
    field: "query",
    request: (w) => ({ query: `query ($d: UUID!) { query { directive(rowId: $d) { rowId } } }`, variables: { d: w.directive } }),
    allowed: (value, w) => assert.equal(value?.directive?.rowId, w.directive),
    hidden: (value) => assert.equal(value?.directive, null),
  },
  "Query.id": {
    kind: "read",
    field: "id",
    request: () => ({ query: `{ id }` }),
    allowed: (value) => assert.equal(typeof value, "string"),
    hidden: null,
  },

  // ---- Computed columns that hand out secrets or other daemons' facts (not root fields: listed by hand)
  "Task.agentToken": {
    kind: "read",
    field: "task",
    request: (w) => ({ query: `query ($t: UUID!) { task(rowId: $t) { rowId agentToken } }`, variables: { t: w.task } }),
    allowed: (value, w) => {
      const claims = JSON.parse(Buffer.from(String(value?.agentToken).split(".")[1]!, "base64url").toString());
      assert.deepEqual([claims.role, claims.task_id, claims.directive_id], ["baton_agent", w.task, w.directive]);
    },
    hidden: (value) => assert.equal(value?.agentToken ?? null, null),
  },
  "Task.workspace": {
    kind: "read",
    field: "task",
    request: (w) => ({ query: `query ($t: UUID!) { task(rowId: $t) { rowId workspace } }`, variables: { t: w.task } }),
    allowed: (value) => assert.equal(value?.workspace?.step_name, "x"),
    hidden: (value) => assert.equal(value?.workspace ?? null, null),
  },

  // ---- Mutations (each on a fresh world)
  "Mutation.createDirective": mutation("createDirective", `title: "New", goal: "A new goal", ownerId: $o`, (w) => ({ o: w.ownerA }), async (r, w, db) => {
    const row = await one(db, "select owner_id, status from baton.directives where id = $1", [r.rowId]);
    assert.deepEqual(row, { owner_id: w.ownerA, status: "draft" });
  }),
  "Mutation.registerDaemon": mutation("registerDaemon", `name: "another box", ownerId: $o`, (w) => ({ o: w.ownerA }), async (r, w, db) => {
    assert.equal((await one(db, "select owner_id from baton.daemons where id = $1", [r.rowId]))?.owner_id, w.ownerA);
  }),
  "Mutation.startDirective": mutation(
    "startDirective",
    "directiveId: $d",
    (w) => ({ d: w.directive }),
    async (r, w, db) => assert.equal(await directiveStatus(db, w.directive), "active"),
    async (db, w) => void (await db.pool.query("select baton.pause_directive($1)", [w.directive])),
  ),
  "Mutation.pauseDirective": mutation("pauseDirective", "directiveId: $d", (w) => ({ d: w.directive }), async (_r, w, db) => assert.equal(await directiveStatus(db, w.directive), "paused")),
  "Mutation.archiveDirective": mutation("archiveDirective", "directiveId: $d", (w) => ({ d: w.directive }), async (_r, w, db) => assert.equal(await directiveStatus(db, w.directive), "archived")),
  "Mutation.updateGoal": mutation("updateGoal", `directiveId: $d, goal: "A changed goal"`, (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.equal((await one(db, "select goal from baton.directives where id = $1", [w.directive])).goal, "A changed goal");
  }),
  "Mutation.setDirectiveLimits": mutation("setDirectiveLimits", "directiveId: $d, timeoutSeconds: 600, stallSeconds: 60", (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.deepEqual(await one(db, "select timeout_seconds, stall_seconds from baton.directives where id = $1", [w.directive]), { timeout_seconds: 600, stall_seconds: 60 });
  }),
  "Mutation.updateDirective": mutation("updateDirective", `directiveId: $d, settings: $steps`, (w) => ({ d: w.directive, steps: { check: "npm test", max_parallel: 3 } }), async (_r, w, db) => {
    assert.deepEqual(await one(db, "select check_command, max_parallel from baton.directives where id = $1", [w.directive]), { check_command: "npm test", max_parallel: 3 });
  }),
  "Mutation.setDirectiveCheck": mutation("setDirectiveCheck", `directiveId: $d, checkCommand: "npm test"`, (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.equal((await one(db, "select check_command from baton.directives where id = $1", [w.directive])).check_command, "npm test");
  }),
  "Mutation.setDirectiveTargetBranch": mutation("setDirectiveTargetBranch", `directiveId: $d, targetBranch: "feature/result"`, (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.equal((await one(db, "select target_branch from baton.directives where id = $1", [w.directive])).target_branch, "feature/result");
  }),
  "Mutation.setDirectiveOnComplete": mutation("setDirectiveOnComplete", `directiveId: $d, onCompleteCommand: "echo done"`, (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.equal((await one(db, "select on_complete_command from baton.directives where id = $1", [w.directive])).on_complete_command, "echo done");
  }),
  "Mutation.cancelTask": mutation("cancelTask", "taskId: $t", (w) => ({ t: w.task }), async (_r, w, db) => {
    assert.equal((await one(db, "select status from baton.tasks where id = $1", [w.task])).status, "cancelled");
    assert.equal(await stepStatus(db, w.stepX), "failed");
  }),
  "Mutation.addStep": mutation("addStep", `directiveId: $d, name: "added"`, (w) => ({ d: w.directive }), async (r, w, db) => {
    assert.equal((await one(db, "select directive_id from baton.directive_steps where id = $1 and name = 'added'", [r.rowId]))?.directive_id, w.directive);
  }),
  "Mutation.batchAddSteps": mutation(
    "batchAddSteps",
    "directiveId: $d, steps: $steps",
    (w) => ({ d: w.directive, steps: [{ key: "p", name: "p" }, { name: "q", dependsOn: ["p", w.stepX] }] }),
    async (r, w, db) => {
      assert.equal(r.length, 2);
      assert.equal((await one(db, "select count(*)::int as n from baton.directive_steps where directive_id = $1", [w.directive])).n, 4);
    },
  ),
  "Mutation.removeStep": mutation("removeStep", "stepId: $s", (w) => ({ s: w.stepY }), async (_r, w, db) => assert.equal(await stepStatus(db, w.stepY), undefined)),
  "Mutation.setStepDependencies": mutation("setStepDependencies", "stepId: $s, dependsOn: $deps", (w) => ({ s: w.stepY, deps: [] }), async (_r, w, db) => {
    assert.equal((await one(db, "select count(*)::int as n from baton.step_dependencies where step_id = $1", [w.stepY])).n, 0);
    assert.equal(await stepStatus(db, w.stepY), "ready");
  }),
  "Mutation.completeStep": mutation("completeStep", "stepId: $s", (w) => ({ s: w.stepX }), async (_r, w, db) => assert.equal(await stepStatus(db, w.stepX), "completed")),
  "Mutation.failStep": mutation("failStep", "stepId: $s", (w) => ({ s: w.stepX }), async (_r, w, db) => assert.equal(await stepStatus(db, w.stepX), "failed")),
  "Mutation.skipStep": mutation("skipStep", "stepId: $s", (w) => ({ s: w.stepY }), async (_r, w, db) => assert.equal(await stepStatus(db, w.stepY), "skipped")),
  "Mutation.retryStep": mutation(
    "retryStep",
    "stepId: $s",
    (w) => ({ s: w.stepY }),
    async (_r, w, db) => assert.equal(await stepStatus(db, w.stepY), "pending"),
    async (db, w) => void (await db.pool.query("select baton.fail_step($1)", [w.stepY])),
  ),
  "Mutation.heartbeat": mutation("heartbeat", "daemonId: $dm, activeTaskIds: $ids", (w) => ({ dm: w.daemonA, ids: [w.task] }), async (r, w, db) => {
    assert.equal(r.rowId, w.daemonA);
    assert.equal((await one(db, "select status from baton.tasks where id = $1", [w.task])).status, "running");
  }),
  "Mutation.disconnectDaemon": mutation("disconnectDaemon", "daemonId: $dm", (w) => ({ dm: w.daemonA }), async (_r, w, db) => {
    assert.equal((await one(db, "select status from baton.daemons where id = $1", [w.daemonA])).status, "disconnected");
  }),
  "Mutation.reportTaskStatus": mutation("reportTaskStatus", `taskId: $t, status: "completed"`, (w) => ({ t: w.task }), async (_r, w, db) => {
    assert.equal((await one(db, "select status from baton.tasks where id = $1", [w.task])).status, "completed");
    assert.equal(await stepStatus(db, w.stepX), "completed");
  }),
  "Mutation.reportTaskUsage": mutation("reportTaskUsage", "taskId: $t, inputTokens: \"1200\", outputTokens: \"300\", costUsd: \"0.25\"", (w) => ({ t: w.task }), async (_r, w, db) => {
    assert.deepEqual(await one(db, "select input_tokens::text, output_tokens::text, cost_usd::text from baton.tasks where id = $1", [w.task]), {
      input_tokens: "1200", output_tokens: "300", cost_usd: "0.250000",
    });
  }),
  "Mutation.setDirectiveBudget": mutation("setDirectiveBudget", "directiveId: $d, budgetUsd: \"25\", budgetTokens: \"2000000\"", (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.deepEqual(await one(db, "select budget_usd::text, budget_tokens::text from baton.directives where id = $1", [w.directive]), { budget_usd: "25.000000", budget_tokens: "2000000" });
  }),
  // Limits, fairness and routing (sql/000026).
  "Mutation.setDirectiveMaxParallel": mutation("setDirectiveMaxParallel", "directiveId: $d, maxParallel: 3", (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.equal((await one(db, "select max_parallel from baton.directives where id = $1", [w.directive])).max_parallel, 3);
  }),
  "Mutation.setDirectivePriority": mutation("setDirectivePriority", "directiveId: $d, priority: 7", (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.equal((await one(db, "select priority from baton.directives where id = $1", [w.directive])).priority, 7);
  }),
  "Mutation.setOwnerMaxParallel": mutation("setOwnerMaxParallel", "maxParallel: 6, ownerId: $o", (w) => ({ o: w.ownerA }), async (r, w, db) => {
    assert.equal(r.rowId, w.ownerA);
    assert.equal((await one(db, "select max_parallel from baton.owners where id = $1", [w.ownerA])).max_parallel, 6);
  }, undefined, "rowId maxParallel"),
  "Mutation.setDaemonLabels": mutation("setDaemonLabels", `daemonId: $dm, labels: ["gpu", "claude"]`, (w) => ({ dm: w.daemonA }), async (_r, w, db) => {
    assert.deepEqual((await one(db, "select labels from baton.daemons where id = $1", [w.daemonA])).labels, ["claude", "gpu"]);
  }, undefined, "rowId labels"),
  // Questions (sql/000025): A's agent asks for its own task; the owner answers; the asking agent or the owner withdraws.
  "Mutation.askQuestion": mutation("askQuestion", `taskId: $t, question: "Which port?", choices: ["80", "8080"], timeoutSeconds: 600`, (w) => ({ t: w.task }), async (r, w, db) => {
    assert.deepEqual(await one(db, "select task_id, status, choices from baton.questions where id = $1", [r.rowId]), { task_id: w.task, status: "open", choices: ["80", "8080"] });
    assert.equal((await one(db, "select status from baton.tasks where id = $1", [w.task])).status, "waiting");
  }),
  "Mutation.answerQuestion": mutation("answerQuestion", `questionId: $qn, answer: "yes"`, (w) => ({ qn: w.openQuestion }), async (r, w, db) => {
    assert.deepEqual(await one(db, "select status, answer from baton.questions where id = $1", [w.openQuestion]), { status: "answered", answer: "yes" });
    assert.equal((await one(db, "select status from baton.tasks where id = $1", [w.taskA2])).status, "running");
  }),
  "Mutation.cancelQuestion": mutation("cancelQuestion", "questionId: $qn", (w) => ({ qn: w.openQuestion }), async (_r, w, db) => {
    assert.equal((await one(db, "select status from baton.questions where id = $1", [w.openQuestion])).status, "cancelled");
    assert.equal((await one(db, "select status from baton.tasks where id = $1", [w.taskA2])).status, "running");
  }),
  // Plan review (sql/000024): only the owner approves (the proposal is applied) or rejects (planned again) it, or turns review on.
  "Mutation.approvePlan": mutation("approvePlan", "directiveId: $d", (w) => ({ d: w.directive }), async (r, w, db) => {
    assert.equal((await one(db, "select status from baton.plan_proposals where id = $1", [w.proposal])).status, "approved");
    assert.equal(await stepStatus(db, (await one(db, "select id from baton.directive_steps where directive_id = $1 and name = 'w'", [w.directive])).id), "pending");
    assert.equal(r.rowId, w.proposal);
  }),
  "Mutation.rejectPlan": mutation("rejectPlan", `directiveId: $d, reason: "Too big"`, (w) => ({ d: w.directive }), async (_r, w, db) => {
    assert.deepEqual(await one(db, "select status, reason from baton.plan_proposals where id = $1", [w.proposal]), { status: "rejected", reason: "Too big" });
    assert.equal((await one(db, "select planned_revision from baton.directives where id = $1", [w.directive])).planned_revision, 1);
  }),
  "Mutation.setDirectiveReviewPlans": mutation("setDirectiveReviewPlans", "directiveId: $d, reviewPlans: true", (w) => ({ d: w.directiveA2 }), async (_r, w, db) => {
    assert.equal((await one(db, "select review_plans from baton.directives where id = $1", [w.directiveA2])).review_plans, true);
  }),
  "Mutation.appendTaskOutput": mutation(
    "appendTaskOutput",
    "taskId: $t, chunks: $chunks",
    (w) => ({ t: w.task, chunks: [{ stream: "stderr", text: "more output" }] }),
    async (r, w, db) => {
      assert.equal(r.acceptedChunks, 1);
      assert.equal((await one(db, "select string_agg(text, '' order by seq) as text from baton.task_output where task_id = $1", [w.task])).text, "A's outputmore output");
    },
    undefined,
    "taskId acceptedChunks",
  ),

  "Mutation.revokeDaemon": mutation("revokeDaemon", "daemonId: $dm", (w) => ({ dm: w.daemonA }), async (r, w, db) => {
    assert.equal(r.rowId, w.daemonA);
    const d = await one(db, "select status, revoked_at is not null as revoked from baton.daemons where id = $1", [w.daemonA]);
    assert.deepEqual(d, { status: "disconnected", revoked: true });
    // Its running task is interrupted, so x is retried elsewhere.
    assert.equal((await one(db, "select status from baton.tasks where id = $1", [w.task])).status, "interrupted");
  }),
  // The secret is A's alone: it is returned here once, and no API role can read it afterwards.
  "Mutation.addWebhook": mutation(
    "addWebhook",
    `url: "https://a.example/other", events: ["idle", "failed"], ownerId: $o`,
    (w) => ({ o: w.ownerA }),
    async (r, w, db) => {
      assert.match(r.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
      assert.deepEqual(await one(db, "select owner_id, events from baton.webhooks where id = $1", [r.rowId]), { owner_id: w.ownerA, events: ["idle", "failed"] });
    },
    undefined,
    "rowId secret",
  ),
  "Mutation.removeWebhook": mutation("removeWebhook", "webhookId: $wh", (w) => ({ wh: w.webhook }), async (r, w, db) => {
    assert.equal(r.rowId, w.webhook);
    assert.equal(await one(db, "select id from baton.webhooks where id = $1", [w.webhook]), undefined);
  }, undefined, "rowId url"),
  "Mutation.rotateTokens": {
    kind: "mutation",
    field: "rotateTokens",
    request: (w) => ({ query: `mutation ($o: UUID!) { rotateTokens(input: { ownerId: $o }) { result } }`, variables: { o: w.ownerA } }),
    allowed: async (result, w, db) => {
      const claims = JSON.parse(Buffer.from(String(result).split(".")[1]!, "base64url").toString());
      assert.deepEqual([claims.role, claims.owner_id, claims.gen], ["baton_user", w.ownerA, 1]);
      assert.equal((await one(db, "select token_generation from baton.owners where id = $1", [w.ownerA])).token_generation, 1);
    },
  },

  // ---- Subscriptions
  "Subscription.daemonCommands": {
    kind: "subscription",
    field: "daemonCommands",
    request: (w) => ({ query: `subscription ($dm: UUID!) { daemonCommands(daemonId: $dm) { type taskId } }`, variables: { dm: w.daemonA } }),
    channel: (w) => `baton:daemon:${w.daemonA}`,
    probe: (w) => ({
      payload: JSON.stringify({ type: "interrupt_task", task_id: w.task }),
      matches: (data) => data?.daemonCommands?.type === "interrupt_task" && data.daemonCommands.taskId === w.task,
    }),
  },
  "Subscription.directiveEvents": {
    kind: "subscription",
    field: "directiveEvents",
    request: (w) => ({ query: `subscription ($d: UUID!) { directiveEvents(directiveId: $d) { firstEventId kind } }`, variables: { d: w.directive } }),
    channel: (w) => `baton:directive:${w.directive}`,
    probe: (w) => ({
      payload: JSON.stringify({ event_id: Number(w.eventId), kind: "probe" }),
      matches: (data) => data?.directiveEvents?.firstEventId === w.eventId && data.directiveEvents.kind === "probe",
    }),
  },
};
