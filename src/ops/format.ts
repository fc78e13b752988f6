/**
 * `aideazz health`'s table.
 *
 * @module
 */
import type { HealAction } from "./heal.ts";
import { exitCodeOf, type HealthReport } from "./health.ts";

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ").trim();

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()
  ).join("\n") + "\n";
}

/**
 * The report as a table, one line per target and check, then the restart actions and the overall status.
 *
 * @example
 * ```
 * CHECK             LEVEL  DETAIL
 * agent analytics   ok     up 12 min
 * database          ok     writable
 * status: ok (exit 0)
 * ```
 */
export function formatReport(report: HealthReport, actions: readonly HealAction[] = []): string {
  const rows = [
    ["CHECK", "LEVEL", "DETAIL"],
    ...report.targets.map((t) => [t.kind === "agent" ? `agent ${t.target}` : t.target, t.level, t.detail]),
    ...report.checks.map((c) => [c.name, c.level, c.detail]),
  ];
  let out = table(rows);
  if (actions.length > 0) {
    out += "\n" + table([
      ["TARGET", "ACTION", "RESULT", "REASON"],
      ...actions.map((a) => [
        a.target,
        a.action,
        a.action === "skip" ? "—" : a.ok ? "ok" : `failed: ${oneLine(a.detail ?? "")}`,
        oneLine(a.reason), // systemctl's errors span lines
      ]),
    ]);
  }
  return `${out}\nstatus: ${report.status} (exit ${exitCodeOf(report.status)})\n`;
}
