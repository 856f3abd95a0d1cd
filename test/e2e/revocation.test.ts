/*
 * Revocable identities through the real binary: `baton daemon revoke` (its running task is retried on
 * another daemon, its token stops working, its heartbeats do not revive it), `baton token rotate`
 * (every older token of the owner dies; credentials.json gets the new one), expiring owner tokens,
 * and the JWT secret file: refused when empty, short or readable by others, never created by an
 * admin command, and created once when several servers start at the same moment.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { cli, cliJson, cliOk, freePort, startDaemon, startServer, useE2E, waitForE2E, writeAgent, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();

const ROOT = path.join(__dirname, "..", "..");

/** POSTs a GraphQL operation with a bearer token; returns the HTTP status and body. */
async function graphql(server: ServerProcess, token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] } };
}

const credentials = (server: ServerProcess) => JSON.parse(fs.readFileSync(path.join(server.dataDir, "credentials.json"), "utf8")) as { api_url: string; owner_id: string; token: string };

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"));

describe("revoking a daemon and rotating tokens with the CLI", () => {
  it("revokes a daemon mid-task: the task is retried on the other daemon, the revoked daemon's token and heartbeats stop working; then rotates every token", async () => {
    const marks = e2e.tempDir("marks");
    fs.writeFileSync(path.join(marks, "hang"), "");
    const agent = writeAgent(
      e2e,
      `#!/bin/sh
if [ "$BATON_TASK_KIND" = planning ]; then
  exec baton directive batch-add-steps --json '[{"key": "a", "name": "First step"}, {"name": "Second step", "dependsOn": ["a"]}]'
fi
if [ -f "$E2E_MARKS/hang" ]; then
  exec sleep 60
fi
echo "$BATON_STEP_ID" > done.txt
`,
    );
    const server = await startServer(e2e);
    const admin = { ...server.env, DATABASE_URL: e2e.db.url };
    const [created, ...daemons] = await Promise.all([
      cliJson<{ rowId: string }>(["directive", "create", "--title", "Revoke", "--goal", "Survive a revoked daemon", "--start"], { env: server.env }),
      startDaemon(e2e, server, { agentCommand: agent, maxTasks: 1, env: { E2E_MARKS: marks } }),
      startDaemon(e2e, server, { agentCommand: agent, maxTasks: 1, env: { E2E_MARKS: marks } }),
    ]);
    const hung = await waitForE2E(e2e, "the first step's task to run", async () => {
      const { rows } = await e2e.db.pool.query<{ id: string; daemon_id: string; step_id: string }>(
        "select id, daemon_id, step_id from baton.tasks where directive_id = $1 and kind = 'execution' and status = 'running'",
        [created.rowId],
      );
      return rows[0];
    });
    const victim = daemons.find((d) => d.id === hung.daemon_id)!;
    const survivor = daemons.find((d) => d.id !== hung.daemon_id)!;
    const owner = credentials(server).owner_id;

    // `daemon list` shows both, the victim busy.
    const listed = await cliJson<{ rowId: string; status: string; activeTaskCount: number; maxTasks: number; revokedAt: string | null }[]>(["daemon", "list"], { env: server.env });
    const row = (id: string) => listed.find((d) => d.rowId === id)!;
    assert.deepEqual([row(victim.id).status, row(victim.id).activeTaskCount, row(victim.id).maxTasks, row(victim.id).revokedAt], ["connected", 1, 1, null]);
    assert.equal(row(survivor.id).status, "connected");

    // A token of the victim, minted by an admin while it may still have one.
    const victimToken = (await cliJson<{ token: string }>(["token", "create", "--owner", owner, "--role", "daemon", "--daemon", victim.id], { env: admin })).token;
    assert.equal((await graphql(server, victimToken, `{ daemons { nodes { rowId } } }`)).body.data.daemons.nodes.length, 1);

    fs.rmSync(path.join(marks, "hang")); // the retry finishes
    const revoked = await cli(["daemon", "revoke", victim.id], { env: server.env });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, `Daemon ${victim.id} (${victim.name}) is revoked; its tasks will be retried on other daemons.\n`);

    const watched = await cli(["directive", "watch", "--directive", created.rowId], { env: server.env, timeoutMs: 90_000 });
    assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    const attempts = await e2e.db.pool.query<{ attempt: number; status: string; daemon_id: string; error: string | null }>(
      "select attempt, status, daemon_id, error from baton.tasks where step_id = $1 order by attempt",
      [hung.step_id],
    );
    assert.deepEqual(
      attempts.rows.map((t) => [t.attempt, t.status, t.daemon_id, t.error]),
      [
        [1, "interrupted", victim.id, "The daemon was revoked by its owner."],
        [2, "completed", survivor.id, null],
      ],
    );

    // The victim process still runs and heartbeats; the server refuses it and it stays disconnected.
    await waitForE2E(e2e, "the revoked daemon to be told it was revoked", () => victim.proc.log.join("").includes("was revoked by its owner") || victim.proc.child.exitCode !== null);
    const now = (await e2e.db.pool.query("select status, revoked_at is not null as revoked from baton.daemons where id = $1", [victim.id])).rows[0];
    assert.deepEqual(now, { status: "disconnected", revoked: true });
    const beat = await graphql(server, victimToken, `mutation ($d: UUID!) { heartbeat(input: { daemonId: $d }) { result { status } } }`, { d: victim.id });
    assert.deepEqual(
      [beat.body.errors?.[0]?.extensions?.code, beat.body.errors?.[0]?.message],
      ["BTDNY", `This daemon (${victim.id}) was revoked by its owner, so its token no longer works. Start a new daemon with \`baton daemon run\`; it registers under a new id.`],
    );
    assert.deepEqual((await graphql(server, victimToken, `{ daemons { nodes { rowId } } tasks { nodes { rowId } } }`)).body.data, { daemons: { nodes: [] }, tasks: { nodes: [] } });
    const reminted = await cli(["token", "create", "--owner", owner, "--role", "daemon", "--daemon", victim.id], { env: admin });
    assert.equal(reminted.code, 1);
    assert.match(reminted.stderr, new RegExp(`baton: Daemon ${victim.id} was revoked by its owner, so it gets no new token\\. Start a new daemon with \`baton daemon run\`; it registers under a new id\\.\\n$`));
    const list = await cliOk(["daemon", "list"], { env: server.env });
    assert.match(list, new RegExp(`^${victim.id}  revoked  `, "m"));

    // Rotation: the owner token in credentials.json and the survivor's token die; the new one works.
    const oldOwnerToken = credentials(server).token;
    const survivorToken = (await cliJson<{ token: string }>(["token", "create", "--owner", owner, "--role", "daemon", "--daemon", survivor.id], { env: admin })).token;
    const rotated = await cli(["token", "rotate", "--json"], { env: server.env });
    assert.equal(rotated.code, 0, rotated.stderr);
    const out = JSON.parse(rotated.stdout) as { token: string; credentials_file: string | null; expires_at: string };
    assert.equal(out.credentials_file, path.join(server.dataDir, "credentials.json"));
    assert.equal(credentials(server).token, out.token);
    assert.equal(rotated.stderr, `baton: every older token of this owner no longer works; the new one is in ${out.credentials_file}.\n`);
    assert.deepEqual([claimsOf(out.token).owner_id, claimsOf(out.token).gen], [owner, 1]);
    const refused = await cli(["directive", "create", "--title", "Late", "--goal", "With an old token", "--token", oldOwnerToken], { env: server.env });
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      "baton: This token was revoked by `baton token rotate`; ask for a new one. The owner gets a fresh token from `baton token rotate` or `baton token create`; daemons and agents get theirs again from it.\n",
    );
    const survivorBeat = await graphql(server, survivorToken, `mutation ($d: UUID!) { heartbeat(input: { daemonId: $d }) { result { status } } }`, { d: survivor.id });
    assert.match(survivorBeat.body.errors?.[0]?.message ?? "", /^This token was revoked by `baton token rotate`/);
    // The CLI picks the new token from credentials.json.
    const afterwards = await cliJson<{ rowId: string }[]>(["directive", "list"], { env: server.env });
    assert.deepEqual(afterwards.map((d) => d.rowId), [created.rowId]);
  });
});

describe("owner tokens expire", () => {
  it("refuses an owner token once its --ttl has passed, and a --ttl of 0", async () => {
    const server = await startServer(e2e);
    const admin = { ...server.env, DATABASE_URL: e2e.db.url };
    const owner = credentials(server).owner_id;
    const made = await cli(["token", "create", "--owner", owner, "--ttl", "1s", "--json"], { env: admin });
    assert.equal(made.code, 0, made.stderr);
    const short = JSON.parse(made.stdout) as { token: string; claims: { exp: number; gen: number } };
    assert.equal(made.stderr, `baton: signing with the JWT secret from ${path.join(server.dataDir, "jwt-secret")}\n`);
    await waitForE2E(e2e, "the one-second token to expire", async () => (await graphql(server, short.token, `{ currentIdentity }`)).status === 401);
    const r = await cli(["directive", "list", "--token", short.token], { env: server.env });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "baton: The token has expired; ask for a new one.\n");
    const zero = await cli(["token", "create", "--owner", owner, "--ttl", "0s"], { env: admin });
    assert.deepEqual([zero.code, zero.stderr], [2, `baton: --ttl must be longer than 0 (got "0s"); every token expires.\n`]);
    // Without --ttl: 30 days.
    const usual = await cliJson<{ claims: { exp: number; iat?: number } }>(["token", "create", "--owner", owner], { env: admin });
    assert.ok(Math.abs(usual.claims.exp - Math.floor(Date.now() / 1000) - 30 * 86400) < 120, `exp ${usual.claims.exp}`);
  });
});

describe("baton token rotate --owner (admin)", () => {
  it("rotates straight on the database, signs with the server's secret, and rewrites the local credentials.json", async () => {
    const server = await startServer(e2e);
    const admin = { ...server.env, DATABASE_URL: e2e.db.url };
    const { owner_id: owner, token: old } = credentials(server);
    const before = Number(claimsOf(old).gen ?? 0);
    const r = await cli(["token", "rotate", "--owner", owner, "--json"], { env: admin });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { token: string; credentials_file: string };
    assert.deepEqual([claimsOf(out.token).owner_id, claimsOf(out.token).gen], [owner, before + 1]);
    assert.equal(credentials(server).token, out.token);
    assert.equal(
      r.stderr,
      `baton: signing with the JWT secret from ${path.join(server.dataDir, "jwt-secret")}\nbaton: every older token of this owner no longer works; the new one is in ${out.credentials_file}.\n`,
    );
    assert.equal((await graphql(server, out.token, `{ currentIdentity }`)).body.data.currentIdentity.owner_id, owner);
    const stale = await graphql(server, old, `mutation { createDirective(input: { title: "t", goal: "g" }) { result { rowId } } }`);
    assert.match(stale.body.errors?.[0]?.message ?? "", /^This token was revoked by `baton token rotate`; ask for a new one\./);
    const usage = await cli(["daemon", "revoke", "not-an-id"], { env: server.env });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^baton: The daemon id must be a UUID/);
  });
});

describe("the JWT secret file", () => {
  /** A data dir whose jwt-secret holds `content` with `mode`. */
  function dataDirWithSecret(content: string | undefined, mode = 0o600): { dir: string; file: string } {
    const dir = e2e.tempDir("secret");
    const file = path.join(dir, "jwt-secret");
    if (content !== undefined) {
      fs.writeFileSync(file, content, { mode });
      fs.chmodSync(file, mode);
    }
    return { dir, file };
  }

  const envFor = (dir: string) => ({ ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("BATON_") && k !== "DATABASE_URL")), BATON_DATA_DIR: dir, DATABASE_URL: e2e.db.url });
  const owners = async () => (await e2e.db.pool.query<{ n: number }>("select count(*)::int as n from baton.owners")).rows[0]!.n;

  it("is never created by an admin command: owner create outside the data dir says which secret is missing and creates nothing", async () => {
    const { dir, file } = dataDirWithSecret(undefined);
    const before = await owners();
    const r = await cli(["owner", "create", "Nobody"], { env: envFor(dir) });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `baton: No JWT secret: ${file} does not exist and BATON_JWT_SECRET is not set. Run this where \`baton server\` keeps its data (set BATON_DATA_DIR), or set BATON_JWT_SECRET to the server's secret; a new secret would mint tokens the server refuses.\n`,
    );
    assert.equal(fs.existsSync(file), false);
    assert.equal(await owners(), before);
  });

  it("says which secret an admin command signs with", async () => {
    const { dir, file } = dataDirWithSecret("s".repeat(48) + "\n");
    const r = await cli(["owner", "create", "Somebody", "--json"], { env: envFor(dir) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `baton: signing with the JWT secret from ${file}\n`);
    assert.equal(JSON.parse(r.stdout).secret_source, file);
    const fromEnv = await cli(["owner", "create", "Somebody else"], { env: { ...envFor(dir), BATON_JWT_SECRET: "e".repeat(40) } });
    assert.equal(fromEnv.stderr, "baton: signing with the JWT secret from BATON_JWT_SECRET\n");
  });

  for (const [what, content, mode, message] of [
    ["readable by its group", "g".repeat(48), 0o640, (f: string) => `baton: The JWT secret ${f} is readable by others (mode 640), so anyone who can read it can forge tokens. Run \`chmod 600 ${f}\`, and if others may have read it, delete it and restart \`baton server\` for a new one (older tokens stop working).\n`],
    ["readable by everyone", "w".repeat(48), 0o644, (f: string) => `baton: The JWT secret ${f} is readable by others (mode 644), so anyone who can read it can forge tokens. Run \`chmod 600 ${f}\`, and if others may have read it, delete it and restart \`baton server\` for a new one (older tokens stop working).\n`],
    ["empty", "\n", 0o600, (f: string) => `baton: The JWT secret ${f} is empty. Delete it and restart \`baton server\` to create a new one (older tokens stop working), or set BATON_JWT_SECRET.\n`],
    ["short", "only-twenty-chars-xx", 0o600, (f: string) => `baton: The JWT secret ${f} is 20 characters; at least 32 are required. Delete it and restart \`baton server\` to create a new one (older tokens stop working), or set BATON_JWT_SECRET.\n`],
  ] as const) {
    it(`is refused when it is ${what}, by admin commands and by the server, with what to do`, async () => {
      const { dir, file } = dataDirWithSecret(content, mode);
      const before = await owners();
      const admin = await cli(["owner", "create", "Refused"], { env: envFor(dir) });
      assert.deepEqual([admin.code, admin.stderr], [1, message(file)]);
      assert.equal(await owners(), before, "nothing was created");
      const server = await cli(["server"], { env: { ...envFor(dir), BATON_PORT: String(await freePort()) }, timeoutMs: 90_000 });
      assert.deepEqual([server.code, server.stderr.split("\n").filter((l) => l.startsWith("baton: ")).join("\n") + "\n"], [1, message(file)]);
      assert.equal(fs.readFileSync(file, "utf8"), content, "the secret was left as it was");
    });
  }

  it("is created once, with mode 600, when several processes start on a fresh data dir at the same moment", async () => {
    const dir = e2e.tempDir("race");
    const script = `require("ts-node").register({ transpileOnly: true, project: ${JSON.stringify(path.join(ROOT, "tsconfig.json"))} });
const { loadJwtSecret } = require(${JSON.stringify(path.join(ROOT, "src", "auth", "secret"))});
process.stdout.write(loadJwtSecret(process.argv[1], undefined));`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ["-e", script, dir], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (t: Buffer) => (out += t));
        child.stderr.on("data", (t: Buffer) => (err += t));
        child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
      });
    const secrets = await Promise.all(Array.from({ length: 6 }, run));
    assert.equal(new Set(secrets).size, 1, `the processes disagree: ${secrets.join(", ")}`);
    const file = path.join(dir, "jwt-secret");
    assert.equal(fs.readFileSync(file, "utf8").trim(), secrets[0]);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir), ["jwt-secret"], "no temp file is left behind");
  });
});
