/*
 * fast-check arbitraries for what a hostile client can send Baton's server: Authorization values
 * (garbage, JSON of any shape in any base64, tokens signed with the real secret but hostile claims,
 * huge values), request targets, methods, headers and bodies (raw bytes), GraphQL documents and
 * variables, websocket connectionParams, graphql-ws messages and malformed frames.
 *
 * One rule keeps the database-unchanged check meaningful: a request that carries a VALID token never
 * names an existing row in a mutation, and never calls a mutation that creates rows or rotates
 * tokens (those go with invalid or no credentials only). Everything else a valid token may send.
 */
import fc from "fast-check";
import { signJwt } from "../../src/auth/jwt";

/** What the generators may name: the fixture's ids and valid tokens, and the server's secret. */
export type FuzzWorld = {
  secret: string;
  ownerId: string;
  daemonId: string;
  directiveId: string;
  stepId: string;
  taskId: string;
  ownerToken: string;
  daemonToken: string;
};

export type Auth = { header: string | undefined; valid: boolean };

export type FuzzInput =
  | { kind: "http"; method: string; target: string; headers: [string, string][]; body: Uint8Array; rawHeaderBytes?: Uint8Array }
  | { kind: "graphql"; auth: Auth; contentType: string; accept: string; body: string; label: string }
  | { kind: "ws"; connectionParams: unknown; frames: WsFrameSpec[]; ending: "close" | "reset" | "wait" };

export type WsFrameSpec = { opcode: number; payload: Uint8Array | string; fin?: boolean; mask?: boolean; rsv?: number };

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString("base64url");
/** Percent-encodes every byte (encodeURIComponent throws on a lone surrogate). */
const percent = (s: string) => [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
const nowS = () => Math.floor(Date.now() / 1000);

// ---------- strings and values ----------

/** Lone surrogates, NUL, controls, RTL marks, emoji: the characters that break naive code. */
const nastyChar = fc.constantFrom("\u0000", "\ud800", "\udfff", "\u202e", "\ufeff", "\u2028", "\r", "\n", "\t", "\\", '"', "'", "`", "$", "{", "}", "%", "💥", "\u00e9", "\uffff");
export const nastyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.array(nastyChar, { maxLength: 20 }).map((a) => a.join("")) },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "null", "undefined", "0", "-1", "NaN", "true", "[]", "{}", "__proto__", "constructor", "'; drop table baton.owners; --", "$1", "%s%s%s") },
);
/** Strings up to 200,000 characters (a 100 KiB goal is legal; more must be refused, not crash). */
export const hugeString = fc.tuple(fc.constantFrom("a", "€", "\u0000", "🧨", "\ud800"), fc.integer({ min: 1_000, max: 200_000 })).map(([c, n]) => c.repeat(n));
const anyString = fc.oneof({ weight: 6, arbitrary: nastyString }, { weight: 1, arbitrary: hugeString });

/** JSON values of any shape: deep, wide, with nasty strings and extreme numbers. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 2, arbitrary: fc.constantFrom(null, 0, -0, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, -(2 ** 31) - 1, true, false, "", [], {}) },
  { weight: 2, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 1_500 }).map((n) => nest(n)) }, // deeper: as text (deepVariables)
  { weight: 1, arbitrary: fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 8 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 5_000 }).map((n) => Array.from({ length: n }, (_, i) => i)) },
);

const printableAscii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const printable = printableAscii;

/** Usually `normal`, sometimes `hostile`. */
const mostly = <T, U>(normal: fc.Arbitrary<T>, hostile: fc.Arbitrary<U>) => fc.oneof({ weight: 3, arbitrary: normal }, { weight: 1, arbitrary: hostile });

/** JSON text, or "null" for a value too deep for this process's JSON.stringify. */
export function stringify(v: unknown): string {
  try {
    return JSON.stringify(v) ?? "null";
  } catch {
    return "null";
  }
}

/** [[[...]]] or {"a":{"a":...}} n levels deep. */
function nest(n: number): unknown {
  let v: unknown = n % 2 ? [] : {};
  for (let i = 0; i < n; i++) v = n % 2 ? [v] : { a: v };
  return v;
}

// ---------- Authorization values ----------

const ROLES = ["baton_user", "baton_daemon", "baton_agent", "baton_anonymous", "baton_api", "postgres", "BATON_USER", "pg_read_all_data", ""];

function claimValue(world: FuzzWorld, kind: "id" | "time" | "any"): fc.Arbitrary<unknown> {
  const any = hostileJson;
  if (kind === "id") return fc.oneof(fc.constantFrom(world.ownerId, world.daemonId, world.directiveId, world.taskId, "00000000-0000-0000-0000-000000000000"), fc.uuid(), any);
  if (kind === "time") {
    return fc.oneof(
      fc.integer({ min: -100_000, max: 100_000 }).map((d) => nowS() + d),
      fc.double({ noNaN: false }),
      fc.constantFrom(0, -1, 1e21, 8.64e15, 8.64e15 + 1, 2 ** 53, "2999999999", null, [nowS() + 60], { $date: 1 }),
      any,
    );
  }
  return any;
}

/** A token signed with the server's own secret whose claims are anything. */
function signedHostile(world: FuzzWorld): fc.Arbitrary<string> {
  const claims = fc.record(
    {
      role: fc.oneof(fc.constantFrom(...ROLES), hostileJson),
      owner_id: claimValue(world, "id"),
      daemon_id: claimValue(world, "id"),
      directive_id: claimValue(world, "id"),
      task_id: claimValue(world, "id"),
      aud: fc.oneof(fc.constantFrom("baton", ["baton"], ["x", "baton"], "Baton", "", null), hostileJson),
      exp: claimValue(world, "time"),
      nbf: claimValue(world, "time"),
      iat: claimValue(world, "time"),
      gen: fc.oneof(fc.integer(), fc.constantFrom(0, -1, 1e300, "0", "1; select 1", null), hostileJson),
      extra: hostileJson,
    },
    { requiredKeys: [] },
  );
  return claims.map((c) => {
    const payload: Record<string, unknown> = { ...c };
    if (!("iat" in c)) payload.iat = undefined; // signJwt adds iat unless the key is there
    try {
      return signJwt(payload, world.secret);
    } catch {
      return "x.y.z";
    }
  });
}

/** Header and payload of any JSON (null, numbers, arrays...), in base64url, base64 or not at all. */
function malformedToken(world: FuzzWorld): fc.Arbitrary<string> {
  const enc = fc.constantFrom<(s: string) => string>(
    (s) => b64(s),
    (s) => Buffer.from(s).toString("base64"),
    (s) => s,
    (s) => percent(s),
  );
  const part = fc.tuple(fc.oneof(hostileJson.map((v) => stringify(v)), fc.string({ unit: "binary", maxLength: 30 })), enc).map(([s, e]) => e(s));
  const header = fc.oneof(fc.constant(b64(JSON.stringify({ alg: "HS256", typ: "JWT" }))), fc.constant("bnVsbA"), part);
  return fc.oneof(
    fc.tuple(header, part, fc.oneof(fc.constant(""), fc.base64String({ maxLength: 60 }), fc.string({ maxLength: 20 }))).map(([h, p, s]) => `${h}.${p}.${s}`),
    fc.array(part, { minLength: 0, maxLength: 6 }).map((ps) => ps.join(".")),
    // A valid token changed: a byte flipped, a part dropped or doubled, the alg swapped.
    fc.tuple(fc.nat(), fc.constantFrom("flip", "drop", "double", "none", "HS512")).map(([i, how]) => {
      const [h, p, s] = world.ownerToken.split(".") as [string, string, string];
      if (how === "flip") {
        const t = world.ownerToken;
        const at = i % t.length;
        return t.slice(0, at) + (t[at] === "A" ? "B" : "A") + t.slice(at + 1);
      }
      if (how === "drop") return `${h}.${p}`;
      if (how === "double") return `${h}.${p}.${s}.${s}`;
      return `${b64(JSON.stringify({ alg: how === "none" ? "none" : "HS512", typ: "JWT" }))}.${p}.${how === "none" ? "" : s}`;
    }),
    fc.constantFrom("bnVsbA.e30.AAAA", "e30.bnVsbA.AAAA", "MQ.MQ.MQ", "W10.W10.", "..", ".", "a.b.c", "ImEi.ImIi.Yw"),
  );
}

/** Every kind of Authorization value, marked valid only for the fixture's own good tokens. */
export function authArb(world: FuzzWorld): fc.Arbitrary<Auth> {
  const invalid = (header: fc.Arbitrary<string | undefined>) => header.map((h) => ({ header: h, valid: false }));
  const bearer = (t: fc.Arbitrary<string>) => fc.tuple(fc.constantFrom("Bearer ", "bearer ", "BEARER  ", "Bearer\t", "Bearer"), t).map(([b, x]) => b + x);
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<Auth>({ header: `Bearer ${world.ownerToken}`, valid: true }, { header: `Bearer ${world.daemonToken}`, valid: true }) },
    { weight: 1, arbitrary: fc.constant<Auth>({ header: undefined, valid: false }) },
    { weight: 3, arbitrary: invalid(bearer(signedHostile(world))) },
    { weight: 3, arbitrary: invalid(bearer(malformedToken(world))) },
    { weight: 1, arbitrary: invalid(fc.oneof(nastyString, fc.constantFrom("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token x", "Bearer a b"))) },
    { weight: 1, arbitrary: invalid(fc.integer({ min: 100, max: 40_000 }).map((n) => `Bearer ${"a".repeat(n)}.${"b".repeat(n)}.c`)) },
  );
}

// ---------- GraphQL documents and variables ----------

const SAFE_MUTATIONS = [
  "addStep(input: { directiveId: $id, name: $s, taskPlan: $s2, dependsOn: $ids })",
  "appendTaskOutput(input: { taskId: $id, chunks: $j })",
  "archiveDirective(input: { directiveId: $id })",
  "pauseDirective(input: { directiveId: $id })",
  "startDirective(input: { directiveId: $id })",
  "updateGoal(input: { directiveId: $id, goal: $s })",
  "batchAddSteps(input: { directiveId: $id, steps: $j })",
  "completeStep(input: { stepId: $id })",
  "failStep(input: { stepId: $id })",
  "removeStep(input: { stepId: $id })",
  "retryStep(input: { stepId: $id })",
  "skipStep(input: { stepId: $id })",
  "setStepDependencies(input: { stepId: $id, dependsOn: $ids })",
  "heartbeat(input: { daemonId: $id, activeTaskIds: $ids })",
  "disconnectDaemon(input: { daemonId: $id })",
  "revokeDaemon(input: { daemonId: $id })",
  "reportTaskStatus(input: { taskId: $id, status: $s, expectedVersion: $n })",
];
/** Mutations that create rows or revoke tokens: sent with invalid or no credentials only. */
const CREATING_MUTATIONS = [
  "createDirective(input: { title: $s, goal: $s2 })",
  "registerDaemon(input: { name: $s, maxTasks: $n })",
  "rotateTokens(input: {})",
];
const VARIABLE_TYPES: Record<string, string> = { id: "UUID", s: "String", s2: "String", ids: "[UUID]", j: "JSON", n: "Int" };
/** `mutation (<the variables the field uses>) { <field> }`: GraphQL refuses a declared variable that is never used. */
function mutationDocument(field: string, aliases = 1): string {
  const used = [...new Set([...field.matchAll(/\$(\w+)/g)].map((m) => m[1]!))];
  const declared = used.length ? `(${used.map((v) => `$${v}: ${VARIABLE_TYPES[v]}`).join(", ")})` : "";
  return `mutation ${declared} { ${Array.from({ length: aliases }, (_, i) => `m${i}: ${field} { clientMutationId }`).join(" ")} }`;
}

const READ_QUERIES = (w: FuzzWorld) => [
  `{ currentIdentity }`,
  `query ($id: UUID!) { directive(rowId: $id) { rowId title goal status directiveSteps { nodes { rowId name status } } } }`,
  `query ($id: UUID!) { directiveStep(rowId: $id) { rowId name } task(rowId: $id) { rowId status } daemon(rowId: $id) { rowId name } owner(rowId: $id) { rowId } }`,
  `{ directives(first: 1000) { totalCount nodes { rowId directiveSteps { nodes { rowId tasksByStepId { nodes { rowId } } currentTask { rowId } } } tasks { nodes { rowId } } } } }`,
  `{ events(last: 50) { nodes { rowId kind detail } } tasks { nodes { rowId status } } daemons { nodes { rowId } } owners { nodes { rowId } } }`,
  `query ($id: ID!) { node(id: $id) { id } }`,
  `query ($id: UUID) { daemonToken(daemonId: $id) }`,
  `{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name } } } } } } } }`,
  `query ($id: UUID!) { directive(rowId: $id) { rowId } } # ${w.directiveId}`,
];

/** Documents that are wrong on purpose: deep, wide, cyclic, unknown, not GraphQL at all. */
const weirdDocument: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 1, max: 20_000 }).map((n) => `{${"a{".repeat(n)}b${"}".repeat(n)}}`),
  fc.integer({ min: 1, max: 3_000 }).map((n) => `{ directives { nodes { ${"directiveSteps { nodes { directive { ".repeat(Math.min(n, 60))}rowId${" } } }".repeat(Math.min(n, 60))} } } }`),
  fc.integer({ min: 1, max: 20_000 }).map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(" ")} }`),
  fc.integer({ min: 1, max: 5_000 }).map((n) => `{ currentIdentity ${"@skip(if: false) ".repeat(n)}}`),
  fc.constantFrom(
    `fragment A on Query { ...B } fragment B on Query { ...A } { ...A }`,
    `{ ...on Query { ...on Query { __typename } } }`,
    `subscription { daemonCommands(daemonId: "00000000-0000-0000-0000-000000000000") { type } }`,
    `query { noSuchField }`,
    `mutation { noSuchMutation }`,
    `{ __type(name: "Query") { name } }`,
    `query a { __typename } query a { __typename }`,
    `{ directive(rowId: "not-a-uuid") { rowId } }`,
    `{`,
    `}`,
    `""" """`,
    ``,
    `query ($x: [[[[[[Int]]]]]]) { __typename }`,
  ),
  fc.integer({ min: 1, max: 3_000 }).map((n) => `query (${Array.from({ length: n }, (_, i) => `$v${i}: Int`).join(", ")}) { __typename }`),
  fc.integer({ min: 1, max: 50_000 }).map((n) => `{ __typename } ${"#".repeat(n)}`),
  nastyString,
);

/** A GraphQL POST: document, variables, operation name and extensions of any shape, with any auth. */
export function graphqlArb(world: FuzzWorld): fc.Arbitrary<FuzzInput> {
  const variables = fc.oneof(
    // Mostly well-typed values (so that requests reach the SQL), each sometimes hostile.
    {
      weight: 8,
      arbitrary: fc.record(
        {
          id: mostly(fc.uuid(), fc.oneof(nastyString, hostileJson)),
          s: mostly(fc.string({ maxLength: 30 }), fc.oneof(anyString, hostileJson)),
          s2: mostly(fc.string({ maxLength: 30 }), anyString),
          ids: mostly(fc.array(fc.uuid(), { maxLength: 5 }), hostileJson),
          j: hostileJson,
          n: mostly(fc.integer(), hostileJson),
        },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: hostileJson },
  );
  const readVariables = fc.oneof(
    { weight: 8, arbitrary: fc.record({ id: fc.oneof(fc.constantFrom(world.directiveId, world.stepId, world.taskId, world.daemonId, world.ownerId), fc.uuid(), nastyString, hostileJson) }) },
    { weight: 1, arbitrary: hostileJson },
  );
  const rarely = fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: hostileJson });
  type Doc = { query: unknown; variables: unknown; label: string; safeForValid: boolean };
  const doc: fc.Arbitrary<Doc> = fc.oneof(
    fc.tuple(fc.constantFrom(...READ_QUERIES(world)), readVariables).map(([query, v]) => ({ query, variables: v, label: "read", safeForValid: true })),
    fc.tuple(fc.constantFrom(...SAFE_MUTATIONS), variables, fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(30) })).map(([m, v, aliases]) => ({
      query: mutationDocument(m, aliases + 1),
      variables: v,
      label: `mutation ${m.split("(")[0]}`,
      safeForValid: true,
    })),
    fc.tuple(fc.constantFrom(...CREATING_MUTATIONS), variables).map(([m, v]) => ({ query: mutationDocument(m), variables: v, label: `creating ${m.split("(")[0]}`, safeForValid: false })),
    fc.tuple(weirdDocument, variables).map(([query, v]) => ({ query, variables: v, label: "weird document", safeForValid: true })),
    fc.tuple(hostileJson, hostileJson).map(([query, v]) => ({ query, variables: v, label: "query of any JSON", safeForValid: true })),
  );
  const body = fc.tuple(doc, rarely, rarely, fc.oneof({ weight: 18, arbitrary: fc.constant("object") }, { weight: 1, arbitrary: fc.constantFrom("array", "batch") })).map(([d, operationName, extensions, shape]) => {
    const one = { query: d.query, variables: d.variables, ...(operationName !== null ? { operationName } : {}), ...(extensions !== null ? { extensions } : {}) };
    const payload = shape === "object" ? one : shape === "array" ? [one] : [one, one];
    return { text: stringify(payload), label: d.label, safeForValid: d.safeForValid };
  });
  // Variables nested deeper than any JSON.stringify can write: built as text.
  const deepVariables = fc.tuple(fc.constantFrom(...SAFE_MUTATIONS), fc.integer({ min: 1_000, max: 1_000_000 }), fc.constantFrom("j", "ids", "id", "s")).map(([m, n, name]) => ({
    text: `{"query":${JSON.stringify(mutationDocument(m))},"variables":{"${name}":${"[".repeat(n)}${"]".repeat(n)}}}`,
    label: `deep variables (${n})`,
    safeForValid: true,
  }));
  return fc
    .tuple(authArb(world), fc.oneof({ weight: 9, arbitrary: body }, { weight: 1, arbitrary: deepVariables }), fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8") },
      { weight: 2, arbitrary: fc.constantFrom("application/graphql-response+json", "application/graphql", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", "", "multipart/form-data; boundary=x") },
    ))
    .chain(([auth, b, contentType]) =>
      acceptArb.map((accept) => {
        // A valid token never sends a mutation that creates rows or rotates tokens (see the file's header).
        const safeAuth = b.safeForValid || !auth.valid ? auth : { header: undefined, valid: false };
        return { kind: "graphql" as const, auth: safeAuth, contentType, accept, body: b.text, label: b.label };
      }),
    );
}

/** Accept headers: mostly usual, sometimes malformed (grafserv's parser threw on those: a 500). */
const acceptArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("application/json", "application/graphql-response+json, application/json;q=0.9", "*/*") },
  { weight: 1, arbitrary: fc.constantFrom("", ",", ";", "q=1", "*/*;q=x", "text/html;", "*/", "*", "a/b;q=2", "application/json;q=0", "text/event-stream", "multipart/mixed", 'a/b;x="', "a/b;x=\"\\\"\"") },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(fc.constantFrom("*/*", "application/json", "text/*", "a/b", "application/graphql-response+json", "", "x"), fc.array(fc.tuple(fc.constantFrom("q", "charset", "x", ""), fc.constantFrom("0", "1", "0.5", "1.0001", "-1", "x", '"y"', "")), { maxLength: 2 })), { maxLength: 4 })
      .map((ranges) => ranges.map(([r, ps]) => [r, ...ps.map(([k, v]) => `${k}=${v}`)].join(";")).join(",")),
  },
  { weight: 1, arbitrary: printableAscii },
);

// ---------- raw HTTP ----------

const methodArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "CONNECT", "post", "PRI", "QUERY") },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z!#$%&'*+.^_`|~0-9-]{1,20}$/) },
);

const targetArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("/graphql", "/graphql?", "/graphql?query={__typename}", "/healthz", "/metrics", "/graphiql", "/ruru-static/../../package.json", "/ruru-static/%2e%2e/%2e%2e/etc/passwd", "/") },
  { weight: 3, arbitrary: fc.constantFrom("*", "//", "///graphql", "http://[::1", "http://[::1/graphql", "http://a:99999/", "https://127.0.0.1/graphql", "http://evil.example/healthz", "//evil.example/graphql", "%", "/%", "/%zz", "/%00", "/%ff%fe", "/graphql%3Fx", "/?%", "/\\\\", "/.%2e/") },
  { weight: 2, arbitrary: fc.webPath().map((p) => p || "/") },
  { weight: 1, arbitrary: fc.webUrl() },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("/graphql?", "/", "/healthz/"), fc.integer({ min: 100, max: 70_000 })).map(([p, n]) => p + "x".repeat(n)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("/graphql?query=", "/?"), nastyString).map(([p, s]) => p + percent(s)) },
);

const headerArb: fc.Arbitrary<[string, string]> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(
      fc.constantFrom("content-type", "accept", "content-encoding", "transfer-encoding", "expect", "x-forwarded-for", "origin", "cookie", "upgrade", "connection", "host", "content-length"),
      fc.oneof(printable, fc.constantFrom("gzip", "chunked", "100-continue", "application/json", "*/*", "text/event-stream", "multipart/mixed", "websocket", "keep-alive, Upgrade", "-1", "99999999999999999999", "0")),
    ),
  },
  { weight: 2, arbitrary: fc.tuple(fc.stringMatching(/^[a-zA-Z0-9-]{1,30}$/), printable) },
  { weight: 1, arbitrary: fc.tuple(fc.stringMatching(/^[a-zA-Z0-9-]{1,30}$/), nastyString) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("x-big", "cookie"), fc.integer({ min: 1_000, max: 40_000 }).map((n) => "v".repeat(n))) },
);

/** A request that may be anything: an HTTP client would refuse to send most of these. */
export function httpArb(world: FuzzWorld): fc.Arbitrary<FuzzInput> {
  const body = fc.oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 3, arbitrary: hostileJson.map((v) => Buffer.from(stringify(v))) },
    { weight: 1, arbitrary: fc.constant(Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0x71, 0x22, 0x3a, 0xc3, 0x28, 0x7d])) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2_000_000 }).map((n) => Buffer.from("[".repeat(n) + "]".repeat(n))) },
    { weight: 1, arbitrary: fc.constantFrom(4 * 1024 * 1024 + 1, 5 * 1024 * 1024).map((n) => Buffer.alloc(n, 0x20)) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  );
  const withAuth = (method: string, headers: [string, string][], auth: Auth | null): [string, string][] =>
    // A valid token stays off POSTs here: their random bodies are not meant to reach mutations.
    auth?.header !== undefined && !(auth.valid && method.toUpperCase() === "POST") ? [...headers, ["authorization", auth.header]] : headers;
  // Requests Node's HTTP parser accepts, so that they reach Baton's listener...
  const wellFormed = fc
    .tuple(fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"), targetArb, fc.array(fc.tuple(fc.constantFrom("content-type", "accept", "x-forwarded-for", "origin", "cookie", "x-any"), printable), { maxLength: 4 }), fc.option(authArb(world), { freq: 2 }), body)
    .map(([method, target, headers, auth, b]) => ({ kind: "http" as const, method, target, headers: withAuth(method, headers, auth), body: b }));
  // ...and anything at all.
  const anything = fc
    .tuple(methodArb, targetArb, fc.array(headerArb, { maxLength: 6 }), fc.option(authArb(world), { freq: 2 }), body, fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { freq: 10 }))
    .map(([method, target, headers, auth, b, rawHeaderBytes]) => ({ kind: "http" as const, method, target, headers: withAuth(method, headers, auth), body: b, ...(rawHeaderBytes ? { rawHeaderBytes } : {}) }));
  return fc.oneof({ weight: 3, arbitrary: wellFormed }, { weight: 2, arbitrary: anything });
}

// ---------- websockets ----------

export function wsArb(world: FuzzWorld): fc.Arbitrary<FuzzInput> {
  const connectionParams = fc.oneof(
    { weight: 3, arbitrary: authArb(world).map((a) => (a.header === undefined ? {} : { authorization: a.header })) },
    { weight: 1, arbitrary: authArb(world).map((a) => ({ Authorization: a.header, authorization: a.header })) },
    { weight: 2, arbitrary: fc.oneof(hostileJson.map((v) => ({ authorization: v })), fc.dictionary(nastyString, hostileJson, { maxKeys: 5 })) },
    { weight: 2, arbitrary: hostileJson },
    { weight: 1, arbitrary: fc.integer({ min: 10_000, max: 3_000_000 }).map((n) => ({ authorization: `Bearer ${"a".repeat(n)}` })) },
  );
  const subscribe = fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), hostileJson), fc.oneof(
    fc.constantFrom(
      `subscription ($d: UUID!) { daemonCommands(daemonId: $d) { type } }`,
      `subscription ($d: UUID!) { directiveEvents(directiveId: $d) { firstEventId } }`,
      `{ currentIdentity }`,
      `query ($id: UUID!) { directive(rowId: $id) { rowId title } }`,
      `mutation ($id: UUID) { pauseDirective(input: { directiveId: $id }) { clientMutationId } }`,
    ),
    weirdDocument,
    hostileJson,
  ), hostileJson, fc.oneof(fc.constantFrom(world.daemonId, world.directiveId), fc.uuid(), hostileJson)).map(([id, query, variables, d]) =>
    stringify({ id, type: "subscribe", payload: { query, variables: typeof variables === "object" && variables !== null && !Array.isArray(variables) ? { ...variables, d, id: d } : variables } }),
  );
  const textMessage = fc.oneof(
    { weight: 4, arbitrary: subscribe },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom("connection_init", "ping", "pong", "complete", "next", "error", "connection_ack", "subscribe", "nope"), hostileJson, hostileJson).map(([type, id, payload]) => stringify({ type, id, payload })) },
    { weight: 1, arbitrary: hostileJson.map((v) => stringify(v)) },
    { weight: 1, arbitrary: nastyString },
  );
  const frame: fc.Arbitrary<WsFrameSpec> = fc.oneof(
    { weight: 8, arbitrary: textMessage.map((payload) => ({ opcode: 0x1, payload })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((payload) => ({ opcode: 0x2, payload })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 50 }).map((payload) => ({ opcode: 0x1, payload: Uint8Array.from([0xc3, 0x28, ...payload]) })) },
    {
      weight: 2,
      arbitrary: fc.record({
        opcode: fc.integer({ min: 0, max: 15 }),
        payload: fc.uint8Array({ maxLength: 200 }),
        fin: fc.boolean(),
        mask: fc.boolean(),
        rsv: fc.integer({ min: 0, max: 7 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ opcode: 0x9, payload: new Uint8Array(200) }) }, // a control frame over 125 bytes
  );
  return fc
    .tuple(connectionParams, fc.boolean(), fc.array(frame, { maxLength: 6 }), fc.constantFrom<"close" | "reset" | "wait">("close", "close", "reset", "wait"))
    .map(([params, init, frames, ending]) => {
      const first: WsFrameSpec[] = init ? [{ opcode: 0x1, payload: stringify({ type: "connection_init", payload: params }) }] : [];
      return { kind: "ws" as const, connectionParams: params, frames: [...first, ...frames], ending };
    });
}

export function inputArb(world: FuzzWorld): fc.Arbitrary<FuzzInput> {
  return fc.oneof({ weight: 4, arbitrary: graphqlArb(world) }, { weight: 3, arbitrary: httpArb(world) }, { weight: 3, arbitrary: wsArb(world) });
}

/** A short description of an input, for the report of one that stopped the server. */
export function describeInput(input: FuzzInput): string {
  const cut = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s);
  if (input.kind === "http") return cut(`HTTP ${input.method} ${input.target} headers=${JSON.stringify(input.headers)} body=${input.body.length} bytes`);
  if (input.kind === "graphql") return cut(`GraphQL (${input.label}) accept=${JSON.stringify(input.accept)} content-type=${input.contentType} auth=${input.auth.header ?? "none"} body=${input.body}`);
  return cut(`websocket params=${stringify(input.connectionParams)} frames=${JSON.stringify(input.frames.map((f) => ({ ...f, payload: typeof f.payload === "string" ? f.payload.slice(0, 80) : `${f.payload.length} bytes` })))} ending=${input.ending}`);
}
