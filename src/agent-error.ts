/*
 * A failed agent's error, as recorded and as shown. Pure functions, shared by the daemon (which writes
 * the error of a failed attempt) and the CLI (which shows one line of it).
 *
 * Recorded: "The agent exited with status N:" and the last ERROR_TAIL_LINES lines of its stderr (stack
 * frames not counted), at most ERROR_TAIL_CHARS characters in all. A runtime's crash report ends with a stack trace and a banner
 * (Node's "Node.js v20.20.2", Python's traceback), so the line that says what went wrong sits a dozen
 * lines above the end: the last line alone hid it. The cap is 2,000 characters because a task's
 * `status_changed` event keeps the first 2,000 characters of its error (sql/000006_events.sql): the
 * whole recorded error reaches `directive events`. The full output is the task's (`baton task logs`).
 *
 * Shown: errorSummary picks the most useful line: the last line that reads as an exception or error
 * message ("Error: Cannot find module ...", "ValueError: ...", "fatal: ..."), else the last non-empty
 * line that is not a stack frame, a caret, a brace or a runtime banner. A failed check's error
 * (src/daemon/check.ts) keeps its first line, which names the check, before that line.
 */

export const ERROR_TAIL_LINES = 20;
export const ERROR_TAIL_CHARS = 2000;
// Stack frames do not count as lines (the character cap still holds them): ten frames of a deep call
// would otherwise push the exception's message out of the tail.
const STACK_FRAME = /^\s+(?:at\s|File "[^"]*", line \d+)/;

/** The error of an attempt that failed: `why` ("The agent exited with status 1") and the tail of its stderr. */
export function agentError(why: string, stderr: string): string {
  const lines = stderr.replace(/\r\n?/g, "\n").replace(/\s+$/, "").split("\n");
  while (lines.length && !lines[0]!.trim()) lines.shift();
  if (lines.length === 0) return `${why}.`;
  const head = `${why}:\n`;
  const tail: string[] = [];
  let size = head.length;
  let counted = 0;
  for (let i = lines.length - 1; i >= 0 && counted < ERROR_TAIL_LINES; i--) {
    const line = lines[i]!;
    if (size + line.length + 1 > ERROR_TAIL_CHARS) {
      // One line longer than what is left: keep its end, so the newest text survives.
      if (tail.length === 0) tail.unshift("…" + line.slice(line.length - (ERROR_TAIL_CHARS - size - 2)));
      break;
    }
    tail.unshift(line);
    size += line.length + 1;
    if (!STACK_FRAME.test(line)) counted++;
  }
  return head + tail.join("\n");
}

// "Error: ...", "TypeError: ...", "Uncaught ReferenceError: ...", "ValueError: ...", "java.io.IOException: ...",
// "panic: ...", "fatal: ...", "error: ...", "error[E0425]: ...", "ERROR ...".
const EXCEPTION = /^(?:uncaught\s+)?(?:[\w.$]*(?:error|exception)(?:\[[\w-]+\])?|panic|fatal|failed|failure)\b\s*[:!]/i;
const NOISE = [
  /^node\.js v\d/i, // Node's banner after an uncaught exception
  /^at\s/, // a JavaScript stack frame
  /^file "[^"]*", line \d+/i, // a Python frame
  /^traceback \(most recent call last\)/i,
  /^[\^~\s]+$/, // a caret under the failing code
  /^[{}[\]()]+,?$/, // the braces of an error's printed properties
  /^(?:code|errno|syscall|path|requirestack|signal|cmd|status):/i, // ... and the properties
  /^(?:node:internal|\[eval\])[^\s]*:\d+$/, // "node:internal/modules/cjs/loader:1228": where it was thrown
  /^the agent (?:exited with status|was killed by)/i, // agentError's own first line
];

// checkError's first line: which check failed, and how.
const CHECK_HEAD = /^The check `.*` (?:exited with status -?\d+|was killed by \w+)/;

/** The most useful line of an error, for one-line displays (status, events). */
export function errorSummary(error: string): string {
  const check = CHECK_HEAD.exec(error);
  if (check) {
    const rest = errorSummary(error.slice(error.indexOf("\n") + 1 || error.length));
    return rest ? `${check[0]}: ${rest}` : check[0];
  }
  const lines = error
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0) return "";
  if (lines.length === 1) return lines[0]!;
  for (let i = lines.length - 1; i >= 0; i--) if (EXCEPTION.test(lines[i]!)) return lines[i]!;
  for (let i = lines.length - 1; i >= 0; i--) if (!NOISE.some((re) => re.test(lines[i]!))) return lines[i]!;
  return lines[0]!;
}
