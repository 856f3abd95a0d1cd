import type { Command } from "commander";
import { z } from "zod";
import { addCommonOptions, directiveIdFrom, output, UsageError, type CommonOptions } from "../context";
import { toDot, toMermaid, type GraphStep } from "../render/graph";
import { fetchDirective } from "./directive-status";

const Format = z.enum(["mermaid", "dot"]);

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("graph")
      .description("Print the DAG as Mermaid (default) or Graphviz DOT, coloured by status, labelled with generation.")
      .option("--format <format>", "mermaid or dot", "mermaid")
      .addHelpText("after", "\nExamples:\n  baton directive graph > dag.mmd\n  baton directive graph --format dot | dot -Tpng > dag.png"),
    { directive: true },
  ).action(async (opts: CommonOptions & { format: string }) => {
    const format = Format.safeParse(opts.format);
    if (!format.success) throw new UsageError(`--format must be mermaid or dot (got "${opts.format}").`);
    const d = await fetchDirective(opts, directiveIdFrom(opts));
    const steps: GraphStep[] = d.directiveSteps.nodes.map((s) => ({
      id: s.rowId,
      name: s.name,
      status: s.status,
      generation: s.generation,
      dependsOn: s.stepDependenciesByStepId.nodes.map((n) => n.dependsOnStepId),
    }));
    const text = format.data === "dot" ? toDot(steps) : toMermaid(steps);
    output(opts, { format: format.data, graph: text, steps }, text);
  });
}
