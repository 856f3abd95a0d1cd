#!/usr/bin/env node
/*
 * An example agent for Baton that needs no AI account, so a newcomer can see the whole loop.
 *
 * As a planner (BATON_TASK_KIND=planning) it adds a small diamond of steps with `baton directive
 * batch-add-steps`. As an executor it writes a file named after its step into the working directory
 * and exits 0; the daemon commits it on the step's branch. It never resolves an integration's merge
 * conflict (its diamond has one last step, so the integration merges without one).
 *
 * Knobs for experiments: EXAMPLE_AGENT_FAIL="step name" makes that step fail (exit 1);
 * EXAMPLE_AGENT_SLEEP=seconds makes each execution take that long.
 */
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const kind = process.env.BATON_TASK_KIND;
const prompt = fs.readFileSync(process.env.BATON_PROMPT_FILE, "utf8");

if (kind === "planning") {
  const steps = [
    { key: "outline", name: "Write the outline", taskPlan: "Create outline.md listing the sections of the document." },
    { key: "intro", name: "Write the introduction", taskPlan: "Create intro.md with a short introduction.", dependsOn: ["outline"] },
    { key: "body", name: "Write the body", taskPlan: "Create body.md with the main text.", dependsOn: ["outline"] },
    { key: "assemble", name: "Assemble the document", taskPlan: "Check that intro.md and body.md exist and write document.md.", dependsOn: ["intro", "body"] },
  ];
  // `baton` on PATH is the daemon's shim for this installation's CLI; BATON_TOKEN and BATON_DIRECTIVE_ID are set.
  const out = execFileSync("baton", ["directive", "batch-add-steps", "--json", JSON.stringify(steps)], { encoding: "utf8" });
  console.log(`planned ${steps.length} steps:\n${out}`);
  process.exit(0);
}

if (kind === "integration") {
  // Integration runs an agent only when merging the last steps' branches conflicted; this one cannot resolve conflicts.
  console.error("example agent: it cannot resolve merge conflicts; resolve them in the result's worktree by hand, or use a real agent");
  process.exit(1);
}

const name = (/^# Your step: (.+)$/m.exec(prompt) || [])[1] || process.env.BATON_STEP_ID;
if (process.env.EXAMPLE_AGENT_FAIL && process.env.EXAMPLE_AGENT_FAIL === name) {
  console.error(`example agent: failing "${name}" on purpose (EXAMPLE_AGENT_FAIL)`);
  process.exit(1);
}
const sleep = Number(process.env.EXAMPLE_AGENT_SLEEP || 0);
if (sleep > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, sleep * 1000);
const file = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") + ".txt";
fs.writeFileSync(path.join(process.cwd(), file), `${name}\n\nDone by the example agent for step ${process.env.BATON_STEP_ID}.\n`);
console.log(`wrote ${file}`);
