/**
 * `aideazz leads export`: the leads the leads roles collected, as CSV (RFC 4180) or JSON, optionally only those
 * updated since a time and in some stages. `--since` reaches 10 s further back (`WRITE_LAG_MS`), so exports each
 * since the previous one's start miss no lead; one changed near that time comes in both (the chat is the key).
 *
 * @module
 */
import {
  createLeads,
  isLeadStage,
  LEAD_STAGES,
  type LeadStage,
  leadsToCsv,
  leadsToJson,
} from "../../agents/orchestrator/roles/mod.ts";
import { parseDuration } from "../../metrics/mod.ts";
import { defineCommand, UsageError } from "../command.ts";
import { hasTable, openReadStore, stringOption } from "../context.ts";

/** Epoch ms of `--since`: an ISO date or time ("2025-03-01", "2025-03-01T12:00:00Z"), or a duration ago ("7d"). */
export function parseSince(text: string, now: number): number | undefined {
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  const date = /^(\d{4}-\d{2}-\d{2})([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text.trim());
  if (!date) return undefined;
  const ms = Date.parse(text.trim());
  // A day the calendar does not have (2025-02-30) is refused, not read as another (2 March).
  const day = new Date(`${date[1]}T00:00:00Z`);
  const real = !Number.isNaN(day.getTime()) && day.toISOString().startsWith(date[1]!);
  return Number.isFinite(ms) && real ? ms : undefined;
}

export const leadsExportCommand = defineCommand({
  name: "leads export",
  summary: "export collected leads as CSV or JSON (stdout)",
  options: { format: { type: "string" }, since: { type: "string" }, stage: { type: "string" } },
  optionHelp: [
    "--format F      csv (RFC 4180, with a header) or json (an array); default csv",
    "--since T       only leads updated since T (or up to 10 s before): an ISO date/time (2025-03-01, 2025-03-01T12:00Z) or a duration ago (7d)",
    `--stage S[,S]   only leads in these stages: ${LEAD_STAGES.join(", ")}`,
  ],
  async run({ values, deps }) {
    const format = stringOption(values, "format") ?? "csv";
    if (format !== "csv" && format !== "json") {
      throw new UsageError(`leads export: --format must be csv or json, got "${format}"`, leadsExportCommand);
    }
    const sinceText = stringOption(values, "since");
    const since = sinceText === undefined ? undefined : parseSince(sinceText, deps.now());
    if (sinceText !== undefined && since === undefined) {
      throw new UsageError(
        `leads export: --since must be an ISO date/time or a duration like 7d, got "${sinceText}"`,
        leadsExportCommand,
      );
    }
    const stageText = stringOption(values, "stage");
    const stages: LeadStage[] = [];
    for (const s of stageText?.split(",").map((x) => x.trim()).filter((x) => x !== "") ?? []) {
      if (!isLeadStage(s)) {
        throw new UsageError(
          `leads export: unknown stage "${s}"; use ${LEAD_STAGES.join(", ")}`,
          leadsExportCommand,
        );
      }
      stages.push(s);
    }
    const { store } = await openReadStore(values, deps);
    try {
      if (!(await hasTable(store, "leads", deps))) return 1;
      const leads = await createLeads(store.client, deps.now).list({
        ...(since !== undefined ? { since } : {}),
        stages,
      });
      deps.stdout(format === "csv" ? leadsToCsv(leads) : leadsToJson(leads));
      return 0;
    } finally {
      store.close();
    }
  },
});
