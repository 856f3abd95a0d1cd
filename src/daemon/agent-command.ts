/*
 * The agent command as the operator meant it. Agents run in each task's worktree, so in
 * `--agent-command "node examples/agent.js"` the script path would be looked up there and not found.
 * The rule (README "Daemon options", `baton daemon run --help`): the script, that is the command's first
 * word when it is a relative path with a `/` (`./agent.sh`, `bin/agent`), else its first argument
 * (`node agent.js`, `/usr/bin/python3 tools/agent.py`), when it is a relative path to a file that exists in the directory where
 * `baton daemon run` starts, becomes that file's absolute path. Nothing else of the command changes:
 * options (`claude -p ...`), absolute paths, quoted words with shell expansions, and paths that name no
 * file there run as written. Commands that need more use $BATON_DAEMON_DIR, that directory, which
 * every agent gets.
 */
import fs from "node:fs";
import path from "node:path";

// A word the shell takes literally: plain characters, or a quoted string with nothing the shell expands.
const WORD = /^(?:([^\s'"\\$`;&|<>()*?[\]{}~#=]+)|'([^']*)'|"([^"\\$`]*)")(?=\s|$)/;

/** Quotes a path for `sh -c` when it holds anything but plain characters. */
export function shellQuote(value: string): string {
  return /^[\w@%+:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

// A word that reads as a script path: it has a directory part or a script's extension.
const LOOKS_LIKE_A_PATH = /\/|\.(?:js|mjs|cjs|ts|py|sh|rb|pl)$/;

/**
 * The command with its script's relative path made absolute against `cwd` (see the rule above); `changed`
 * says whether it was, `missing` names a relative script path that is no file there (the agent would fail
 * in every worktree: worth a warning at start).
 */
export function resolveAgentCommand(
  command: string,
  cwd: string,
  fileExists: (file: string) => boolean = isFile,
): { command: string; changed: boolean; missing?: string } {
  const lead = /^\s*/.exec(command)![0];
  const first = WORD.exec(command.slice(lead.length));
  if (!first) return { command, changed: false };
  const firstWord = first[1] ?? first[2] ?? first[3] ?? "";
  let start = lead.length;
  let match = first;
  let word = firstWord;
  if (!firstWord.includes("/") || path.isAbsolute(firstWord)) {
    // The program is looked up on PATH (node, python3, sh) or named absolutely: its first argument is the script, if any.
    const gap = /^\s+/.exec(command.slice(start + first[0].length));
    if (!gap) return { command, changed: false };
    start += first[0].length + gap[0].length;
    const second = WORD.exec(command.slice(start));
    if (!second) return { command, changed: false };
    match = second;
    word = second[1] ?? second[2] ?? second[3] ?? "";
  }
  if (!word || word.startsWith("-") || path.isAbsolute(word)) return { command, changed: false };
  const absolute = path.resolve(cwd, word);
  if (!fileExists(absolute)) return LOOKS_LIKE_A_PATH.test(word) ? { command, changed: false, missing: absolute } : { command, changed: false };
  return { command: command.slice(0, start) + shellQuote(absolute) + command.slice(start + match[0].length), changed: true };
}
