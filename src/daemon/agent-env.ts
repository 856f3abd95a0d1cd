/*
 * The agent's environment: an allow-list, never the daemon's whole environment. The daemon may hold
 * BATON_TOKEN, DATABASE_URL, cloud credentials or an SSH agent socket; an agent fed by untrusted text
 * must not inherit them. It gets PATH, HOME, LANG, TERM and the LC_* locale variables (tools print and
 * sort text by them; they hold no secrets), the task's BATON_* variables, and only the variables the
 * operator names with --agent-env.
 */
import { UsageError } from "../cli/context";

/** Always passed through when the daemon has them. */
export const BASE_AGENT_ENV = ["PATH", "HOME", "LANG", "TERM"] as const;
const LOCALE = /^LC_[A-Z_]+$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks the names given with --agent-env against the daemon's environment: each must be a variable
 * name, must not be one the daemon sets per task (BATON_*), and must be set (a typo would otherwise
 * give the agent nothing, silently). Returns them without duplicates.
 */
export function checkAgentEnvNames(names: string[], env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const name of names) {
    if (!NAME.test(name)) throw new UsageError(`--agent-env takes a variable name such as ANTHROPIC_API_KEY (got "${name}").`);
    if (name.startsWith("BATON_")) {
      throw new UsageError(`--agent-env ${name}: BATON_* variables are not passed to agents; the daemon sets BATON_API_URL, BATON_TOKEN (a token for the task's directive only) and the task's ids itself.`);
    }
    if (env[name] === undefined) throw new UsageError(`--agent-env ${name}: the daemon's environment has no ${name}; set it (export ${name}=...) or drop the flag.`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** The environment of one agent: the allow-list taken from `parent`, then the task's own variables. */
export function agentEnvironment(parent: NodeJS.ProcessEnv, passNames: readonly string[], task: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined) continue;
    if ((BASE_AGENT_ENV as readonly string[]).includes(name) || LOCALE.test(name) || passNames.includes(name)) env[name] = value;
  }
  return { ...env, ...task };
}
