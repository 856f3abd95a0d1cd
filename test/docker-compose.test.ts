/*
 * No Docker engine runs on these machines, so docker-compose.yml and the Dockerfile are checked here
 * instead: the file parses, its services are wired as documented, every command and variable it uses
 * exists in Baton, and the deployment defaults hold: no secret in the file (compose refuses to start
 * without them), the API published on loopback only, no container running as root, restarts on
 * failure, and a daemon that holds a daemon token file but none of the server's data.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { parse } from "yaml";
import { buildProgram } from "../src/cli/main";

type Service = {
  image?: string;
  build?: string;
  command?: string[];
  user?: string;
  restart?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
  secrets?: string[];
};

const root = path.join(__dirname, "..");
const compose = parse(fs.readFileSync(path.join(root, "docker-compose.yml"), "utf8")) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  secrets?: Record<string, { file?: string }>;
};
const dockerfile = fs.readFileSync(path.join(root, "Dockerfile"), "utf8");
const KNOWN_ENV = ["DATABASE_URL", "BATON_DATA_DIR", "BATON_PORT", "BATON_HOST", "BATON_JWT_SECRET", "BATON_METRICS_TOKEN", "BATON_WORKER", "BATON_API_URL", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"];
const baton = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
const { server, daemon, postgres } = compose.services as Record<"server" | "daemon" | "postgres", Service>;

/** Compose's variable interpolation (${NAME}, ${NAME:-default}, ${NAME:?error}) over one value. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_, name: string, op: string | undefined, arg: string) => {
    const v = env[name];
    if (v !== undefined && v !== "") return v;
    if (op === "?") throw new Error(`required variable ${name} is missing a value: ${arg}`);
    return op === "-" ? arg : "";
  });
}

const SECRETS = { BATON_JWT_SECRET: "j".repeat(64), POSTGRES_PASSWORD: "0123456789abcdef0123456789abcdef" };

it("defines postgres, a server and a daemon that start in dependency order", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ["daemon", "postgres", "server"]);
  assert.equal(server.depends_on!.postgres!.condition, "service_healthy");
  assert.equal(daemon.depends_on!.server!.condition, "service_healthy");
  assert.ok(fs.existsSync(path.join(root, "Dockerfile")), "the services build from the Dockerfile");
  assert.deepEqual(baton.map(([name]) => name).sort(), ["daemon", "server"]);
});

it("uses only environment variables Baton reads, and points the server at the postgres service", () => {
  for (const [name, service] of Object.entries(compose.services)) {
    for (const key of Object.keys(service.environment ?? {})) assert.ok(KNOWN_ENV.includes(key), `${name} sets unknown ${key}`);
  }
  const pg = Object.fromEntries(Object.entries(postgres.environment!).map(([k, v]) => [k, interpolate(v, SECRETS)]));
  assert.equal(interpolate(server.environment!.DATABASE_URL!, SECRETS), `postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`);
  assert.equal(pg.POSTGRES_PASSWORD, SECRETS.POSTGRES_PASSWORD, "the password is the operator's");
});

it("holds no secret: the JWT secret and the database password are required variables, without defaults", () => {
  assert.equal(
    server.environment!.BATON_JWT_SECRET,
    "${BATON_JWT_SECRET:?set BATON_JWT_SECRET to 32+ random characters, e.g. openssl rand -base64 48}",
  );
  assert.match(postgres.environment!.POSTGRES_PASSWORD!, /^\$\{POSTGRES_PASSWORD:\?[^}]+\}$/);
  assert.match(server.environment!.DATABASE_URL!, /^postgres:\/\/baton:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432\/baton$/);
  // Without them, compose refuses to start and says what to set.
  assert.throws(() => interpolate(server.environment!.BATON_JWT_SECRET!, {}), /required variable BATON_JWT_SECRET is missing a value: set BATON_JWT_SECRET to 32\+ random characters/);
  assert.throws(() => interpolate(postgres.environment!.POSTGRES_PASSWORD!, {}), /required variable POSTGRES_PASSWORD is missing a value/);
  // Every secret-looking value anywhere is a variable, never a literal (the metrics token is optional: empty is off).
  for (const [name, service] of Object.entries(compose.services)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (/SECRET|PASSWORD|TOKEN/.test(key)) assert.match(value, /^\$\{\w+:[?-][^}]*\}$/, `${name}.${key} is a literal`);
    }
  }
  assert.equal(interpolate(server.environment!.BATON_METRICS_TOKEN!, {}), "", "no metrics token unless the operator sets one");
  assert.ok(SECRETS.BATON_JWT_SECRET.length >= 32);
});

it("publishes the API on loopback only", () => {
  assert.deepEqual(server.ports, ["127.0.0.1:4000:4000"]);
  for (const [name, service] of Object.entries(compose.services)) {
    for (const port of service.ports ?? []) assert.match(port, /^127\.0\.0\.1:\d+:\d+$/, `${name} publishes ${port} beyond this machine`);
  }
});

it("runs Baton's containers as the unprivileged user that owns their volumes", () => {
  const lines = dockerfile.split("\n");
  const userAt = lines.findIndex((l) => /^USER node$/.test(l));
  assert.ok(userAt > 0, "the Dockerfile switches to USER node");
  assert.ok(userAt > lines.findIndex((l) => /^RUN npm ci/.test(l)), "after installing as root");
  assert.ok(lines.slice(userAt + 1).every((l) => !/^USER /.test(l)), "and never back");
  const chown = /chown node:node ([^\n\\&]+)/.exec(dockerfile)?.[1]!.trim().split(/\s+/) ?? [];
  for (const [name, service] of baton) {
    assert.equal(service.user ?? "node", "node", `${name} runs as node`);
    for (const v of service.volumes ?? []) {
      const target = v.split(":")[1]!;
      assert.ok(chown.includes(target), `${name} mounts a volume at ${target}, which the Dockerfile does not give to node`);
    }
  }
});

it("restarts every service when it fails", () => {
  for (const [name, service] of Object.entries(compose.services)) {
    assert.ok(["on-failure", "unless-stopped", "always"].includes(service.restart ?? ""), `${name} has restart: ${service.restart}`);
  }
  assert.equal(server.restart, "on-failure");
  assert.equal(daemon.restart, "on-failure");
});

it("gives the daemon a daemon token file, and none of the server's data", () => {
  const serverVolumes = (server.volumes ?? []).map((v) => v.split(":")[0]);
  for (const v of daemon.volumes ?? []) assert.ok(!serverVolumes.includes(v.split(":")[0]), `the daemon mounts the server's volume ${v}`);
  assert.equal(daemon.environment!.BATON_DATA_DIR, undefined, "the daemon does not look for the server's credentials.json");
  assert.equal(daemon.environment!.BATON_TOKEN, undefined, "no token in the environment (agents could read /proc/<pid>/environ)");
  assert.ok(!daemon.command!.includes("--token"), "no token on the command line");
  const tokenFile = daemon.command![daemon.command!.indexOf("--token-file") + 1];
  assert.equal(tokenFile, "/run/secrets/baton_daemon_token");
  assert.deepEqual(daemon.secrets, ["baton_daemon_token"]);
  assert.deepEqual(compose.secrets, { baton_daemon_token: { file: "./secrets/daemon-token" } });
  assert.ok(daemon.command!.includes("--state-dir"), "its own token lives in its own volume");
  const stateDir = daemon.command![daemon.command!.indexOf("--state-dir") + 1];
  assert.ok((daemon.volumes ?? []).some((v) => v.split(":")[1] === stateDir), "the state dir is a volume, so a re-created container keeps its token");
  assert.equal(server.secrets, undefined);
  // The daemon token is minted as the header says, with commands Baton has.
  const header = fs.readFileSync(path.join(root, "docker-compose.yml"), "utf8").split("\nservices:")[0]!;
  assert.match(header, /token create --owner "\$OWNER" --role daemon --daemon "\$DAEMON"/);
  assert.ok(fs.readFileSync(path.join(root, ".dockerignore"), "utf8").split("\n").includes("secrets"), "the token file never goes into the image");
});

it("runs commands that the baton CLI has, with options it accepts", () => {
  const program = buildProgram();
  for (const [name, service] of Object.entries(compose.services)) {
    if (!service.command) continue;
    const [first, second] = service.command;
    const cmd = program.commands.find((c) => c.name() === first);
    assert.ok(cmd, `${name}: unknown command ${first}`);
    if (second && !second.startsWith("-")) {
      const sub = cmd.commands.find((c) => c.name() === second);
      assert.ok(sub, `${name}: unknown command ${first} ${second}`);
      const flags = service.command.filter((a) => a.startsWith("--"));
      for (const f of flags) assert.ok(sub.options.some((o) => o.long === f), `${name}: ${first} ${second} has no option ${f}`);
    }
  }
  const token = program.commands.find((c) => c.name() === "token")?.commands.find((c) => c.name() === "create");
  for (const f of ["--owner", "--role", "--daemon"]) assert.ok(token?.options.some((o) => o.long === f), `token create has no option ${f}`);
  for (const v of Object.values(compose.services).flatMap((s) => s.volumes ?? [])) {
    const volume = v.split(":")[0]!;
    assert.ok(volume in compose.volumes, `volume ${volume} is declared`);
  }
});
