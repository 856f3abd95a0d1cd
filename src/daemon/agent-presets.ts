/*
 * `baton daemon run --agent NAME`: each agent's documented non-interactive command line, and the
 * usage reader (`--agent-output`) for what it prints. `--agent-command` stays for anything else.
 * Every preset runs through `sh -c` in the task's worktree like any agent command, gets the prompt
 * on stdin and in BATON_PROMPT_FILE, and is not path-resolved (its words are options, not scripts).
 *
 * claude: Claude Code headless mode, https://docs.claude.com/en/docs/claude-code/headless
 *   (and the CLI reference, https://docs.claude.com/en/docs/claude-code/cli-reference). `-p` (--print)
 *   runs once and exits, reading the prompt from stdin when none is given as an argument;
 *   `--output-format stream-json` prints one JSON object per line ending with the `type: "result"`
 *   object (usage, total_cost_usd), and with -p it requires `--verbose` (the CLI refuses it otherwise:
 *   "When using --print, --output-format=stream-json requires --verbose"); `--permission-mode
 *   acceptEdits` lets it edit files in the worktree without asking (headless mode cannot ask).
 * codex: Codex CLI non-interactive mode, https://developers.openai.com/codex/noninteractive and
 *   https://developers.openai.com/codex/cli/reference#codex-exec. `codex exec` runs once; `-` as
 *   the prompt reads it from stdin; `--json` prints JSONL events, each `turn.completed` with that
 *   turn's usage (tokens; no cost); `--sandbox workspace-write` lets it edit the worktree (the default
 *   sandbox is read-only); `--skip-git-repo-check` lets it run in a task's empty directory (no repo).
 * aider: scripting aider, https://aider.chat/docs/scripting.html, and the options reference,
 *   https://aider.chat/docs/config/options.html. `--message-file FILE` sends one message and exits;
 *   `--yes-always` answers every confirmation; `--no-pretty` drops colours and the terminal UI. Aider
 *   documents no way to read the message from stdin, so it reads the daemon's prompt file
 *   ($BATON_PROMPT_FILE, the same text); it prints no usage in a machine-readable form: text.
 */
import type { AgentOutput } from "./usage-reader";

export type AgentPreset = { command: string; output: AgentOutput };

export const AGENT_PRESETS = {
  claude: { command: "claude -p --output-format stream-json --verbose --permission-mode acceptEdits", output: "claude-json" },
  codex: { command: "codex exec --json --sandbox workspace-write --skip-git-repo-check -", output: "codex-json" },
  aider: { command: 'aider --message-file "$BATON_PROMPT_FILE" --yes-always --no-pretty', output: "text" },
} as const satisfies Record<string, AgentPreset>;

export type AgentName = keyof typeof AGENT_PRESETS;
export const AGENT_NAMES = Object.keys(AGENT_PRESETS) as AgentName[];

export class AgentPresetError extends Error {}

/**
 * The command and usage format the daemon runs: a preset's (`--agent`), or `--agent-command` with
 * `--agent-output` (default text). An explicit `--agent-output` overrides a preset's reader.
 */
export function resolveAgent(opts: { agent?: string; agentCommand?: string; agentOutput?: AgentOutput }): { command: string; output: AgentOutput; preset?: AgentName } {
  const known = `${AGENT_NAMES.slice(0, -1).join(", ")} or ${AGENT_NAMES.at(-1)}`;
  if (opts.agent !== undefined && opts.agentCommand !== undefined) {
    throw new AgentPresetError(`--agent and --agent-command cannot be used together: --agent ${opts.agent} runs its own command line; pass one of them.`);
  }
  if (opts.agent !== undefined) {
    if (!Object.hasOwn(AGENT_PRESETS, opts.agent)) {
      throw new AgentPresetError(`--agent: unknown agent ${JSON.stringify(opts.agent)}; use ${known}, or --agent-command CMD for any other agent.`);
    }
    const preset = AGENT_PRESETS[opts.agent as AgentName];
    return { command: preset.command, output: opts.agentOutput ?? preset.output, preset: opts.agent as AgentName };
  }
  if (opts.agentCommand === undefined) throw new AgentPresetError(`No agent given: pass --agent ${AGENT_NAMES.join("|")} or --agent-command CMD.`);
  return { command: opts.agentCommand, output: opts.agentOutput ?? "text" };
}
