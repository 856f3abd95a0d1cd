/*
 * No Docker engine runs on these machines, so docker-compose.yml is checked here instead: it parses,
 * its services are wired as documented, and every command and variable it uses exists in Baton.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { parse } from "yaml";
import { buildProgram } from "../src/cli/main";

const root = path.join(__dirname, "..");
const compose = parse(fs.readFileSync(path.join(root, "docker-compose.yml"), "utf8")) as {
  services: Record<string, { image?: string; build?: string; command?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; volumes?: string[] }>;
  volumes: Record<string, unknown>;
};
const KNOWN_ENV = ["DATABASE_URL", "BATON_DATA_DIR", "BATON_PORT", "BATON_HOST", "BATON_JWT_SECRET", "BATON_WORKER", "BATON_API_URL", "BATON_TOKEN", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"];

it("defines postgres, a server and a daemon that start in dependency order", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ["daemon", "postgres", "server"]);
  assert.equal(compose.services.server!.depends_on!.postgres!.condition, "service_healthy");
  assert.equal(compose.services.daemon!.depends_on!.server!.condition, "service_healthy");
  assert.ok(fs.existsSync(path.join(root, "Dockerfile")), "the services build from the Dockerfile");
});

it("uses only environment variables Baton reads, and points the server at the postgres service", () => {
  for (const [name, service] of Object.entries(compose.services)) {
    for (const key of Object.keys(service.environment ?? {})) assert.ok(KNOWN_ENV.includes(key), `${name} sets unknown ${key}`);
  }
  const pg = compose.services.postgres!.environment!;
  assert.equal(compose.services.server!.environment!.DATABASE_URL, `postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`);
  assert.ok(compose.services.server!.environment!.BATON_JWT_SECRET!.length >= 32, "BATON_JWT_SECRET must be at least 32 characters");
  assert.equal(compose.services.daemon!.environment!.BATON_DATA_DIR, compose.services.server!.environment!.BATON_DATA_DIR, "the daemon reads the server's credentials.json");
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
  for (const v of Object.values(compose.services).flatMap((s) => s.volumes ?? [])) {
    const volume = v.split(":")[0]!;
    assert.ok(volume in compose.volumes, `volume ${volume} is declared`);
  }
});
