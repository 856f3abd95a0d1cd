/*
 * Files that hold a secret (the JWT secret, a token file, the daemon's state) must be readable by their
 * owner only. One check, so every such file is judged the same way.
 */
import type fs from "node:fs";

/** The file's mode in octal (e.g. "644") when its group or others have any access; undefined when private. */
export function sharedMode(stat: fs.Stats): string | undefined {
  if (process.platform === "win32" || (stat.mode & 0o077) === 0) return undefined;
  return (stat.mode & 0o777).toString(8).padStart(3, "0");
}
