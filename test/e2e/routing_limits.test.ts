/*
 * Routing and limits with the real daemon and CLI (issue 12 points 4 and 6): `baton daemon run --label`
 * advertises labels; a step added with `--agent codex` runs only on the daemon labelled codex, one
 * without an agent anywhere, and one naming a label nobody has waits with the reason in step_waits;
 * `directive update --max-parallel` and `owner limits` print what they set; bad values are usage
 * errors (exit 2) with the exact message.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cli, cliJson, cliOk, startDaemon, startServer, useE2E, waitForE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

const AGENT = `#!/bin/sh
cat > /dev/null
echo "done"
`;

describe("routing by label and limits, through the CLI and the real daemon", () => {
  it("runs a codex step only on the daemon labelled codex, and says why a step nobody can take waits", async () => {
    const server = await startServer(e2e);
    const agent = writeAgent(e2e, AGENT);
    const plain = await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, name: "plain" });
    const codex = await startDaemon(e2e, server, { agentCommand: agent, maxTasks: 2, name: "codex-box", args: ["--label", "codex", "--label", "gpu"] });
    // The daemon sets its labels just after it connects (startDaemon returns on connected): wait for them.
    const labels = await waitForE2E(e2e, "codex-box to advertise its labels", async () => {
      const r = await e2e.db.pool.query("select name, labels from baton.daemons where id = any ($1) order by name", [[plain.id, codex.id]]);
      return r.rows[0]?.labels.length > 0 && r.rows;
    });
    assert.deepEqual(labels, [{ name: "codex-box", labels: ["codex", "gpu"] }, { name: "plain", labels: [] }]);

    const d = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Routed", "--goal", "Route", "--max-parallel", "3", "--priority", "5"], { env: server.env });
    const row = await e2e.db.pool.query("select max_parallel, priority from baton.directives where id = $1", [d.rowId]);
    assert.deepEqual(row.rows[0], { max_parallel: 3, priority: 5 });
    await cliOk(["directive", "add-step", "c1", "--agent", "codex", "--directive", d.rowId], { env: server.env });
    await cliOk(["directive", "batch-add-steps", "--directive", d.rowId, "--json", JSON.stringify([{ name: "c2", agent: "codex" }, { name: "any" }, { name: "claude-only", agent: "claude" }])], { env: server.env });
    await cliOk(["directive", "start", "--directive", d.rowId], { env: server.env });

    const done = await waitForE2E(e2e, "the steps that can run to complete", async () => {
      const r = await e2e.db.pool.query<{ name: string; status: string; daemon: string | null }>(
        `select s.name, s.status, (select dm.name from baton.tasks t join baton.daemons dm on dm.id = t.daemon_id where t.step_id = s.id order by t.attempt desc limit 1) as daemon
           from baton.directive_steps s where s.directive_id = $1 order by s.name`,
        [d.rowId],
      );
      return r.rows.filter((s) => s.status === "completed").length === 3 && r.rows;
    });
    const by = Object.fromEntries(done.map((s) => [s.name, s]));
    assert.equal(by.c1!.daemon, "codex-box");
    assert.equal(by.c2!.daemon, "codex-box");
    assert.ok(["plain", "codex-box"].includes(by.any!.daemon!));
    assert.deepEqual([by["claude-only"]!.status, by["claude-only"]!.daemon], ["ready", null]);
    const waits = await e2e.db.pool.query("select step_name, reason from baton.step_waits where directive_id = $1", [d.rowId]);
    assert.deepEqual(waits.rows, [{ step_name: "claude-only", reason: "no connected daemon has label claude" }]);

    const updated = await cliOk(["directive", "update", "--max-parallel", "none", "--directive", d.rowId], { env: server.env });
    assert.equal(updated.trim(), `Dispatch of ${d.rowId}: max parallel none, priority 5.`);
    const owner = await cliOk(["owner", "limits", "--max-parallel", "6"], { env: server.env });
    assert.match(owner.trim(), /^Max parallel tasks of owner [0-9a-f-]{36}: 6\.$/);
  });

  it("refuses bad limits and labels as usage errors, naming the flag and what it takes", async () => {
    const server = await startServer(e2e);
    const refused = async (args: string[], message: string) => {
      const r = await cli(args, { env: server.env });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim(), `baton: ${message}`);
    };
    const id = "00000000-0000-4000-8000-000000000000";
    await refused(["directive", "update", "--max-parallel", "0", "--directive", id], '--max-parallel must be a whole number from 1 to 10000, or none for no limit (got "0").');
    await refused(["directive", "update", "--priority", "1001", "--directive", id], '--priority must be a whole number from -1000 to 1000 (got "1001").');
    await refused(["directive", "create", "--title", "t", "--goal", "g", "--max-parallel", "none"], "A new directive has no limit to remove: leave out --max-parallel none.");
    await refused(["owner", "limits", "--max-parallel", "-1"], '--max-parallel must be a whole number from 1 to 100000, or none for no limit (got "-1").');
    await refused(["daemon", "run", "--agent-command", "true", "--label", ""], '--label: a label is 1 to 64 characters (letters, digits, ".", "_", "-" or ":") starting with a letter or digit (got "").');
    const bad = await cli(["directive", "add-step", "x", "--agent", "", "--directive", id], { env: server.env });
    // Checked by the server (before the directive is looked up): exit 1 with its message and hint.
    assert.deepEqual([bad.code, bad.stderr.trim()], [
      1,
      'baton: The agent "" is not valid: a label is 1 to 64 characters (letters, digits, ".", "_", "-" or ":") starting with a letter or digit. For example claude or codex: daemons started with that --label take the step.',
    ]);
  });
});
