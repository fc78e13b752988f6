/**
 * Lead export for `aideazz leads export`: RFC 4180 CSV (header row, CRLF line ends, fields quoted when they hold
 * a comma, quote or line break, quotes doubled) or a JSON array. Times are ISO 8601 UTC. A CSV text cell that a
 * spreadsheet would run as a formula (starting with =, @, +, -, a tab or a carriage return) gets a leading
 * apostrophe: lead fields are typed by strangers, and a phone number "+1-555-…" is arithmetic to a spreadsheet.
 *
 * @module
 */
import { LEAD_FIELDS } from "./config.ts";
import type { Lead } from "./leads.ts";

export const EXPORT_COLUMNS = [
  "id",
  "chat",
  "agent",
  "chat_id",
  "role",
  "stage",
  "score",
  ...LEAD_FIELDS,
  "created_at",
  "updated_at",
  "qualified_at",
] as const;

type ExportRow = Record<(typeof EXPORT_COLUMNS)[number], string | number | null>;

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function toExportRow(lead: Lead): ExportRow {
  const fields = Object.fromEntries(LEAD_FIELDS.map((f) => [f, lead.fields[f] ?? null])) as Record<
    (typeof LEAD_FIELDS)[number],
    string | null
  >;
  return {
    id: lead.id,
    chat: lead.chat,
    agent: lead.agent,
    chat_id: lead.chatId,
    role: lead.role,
    stage: lead.stage,
    score: lead.score,
    ...fields,
    created_at: iso(lead.createdAt),
    updated_at: iso(lead.updatedAt),
    qualified_at: iso(lead.qualifiedAt),
  };
}

function csvCell(value: string | number | null): string {
  if (value === null) return "";
  // Rows stored before the extraction dropped control characters still carry them.
  let s = String(value).replace(/[^\P{Cc}\t\r\n]/gu, "");
  // Every text cell starting with + or - too (OWASP): a spreadsheet computes "+1-555-123-4567" as -5244.
  if (typeof value === "string" && /^[=@+\-\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function leadsToCsv(leads: readonly Lead[]): string {
  const lines = [EXPORT_COLUMNS.join(",")];
  for (const lead of leads) {
    const row = toExportRow(lead);
    lines.push(EXPORT_COLUMNS.map((c) => csvCell(row[c])).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

export function leadsToJson(leads: readonly Lead[]): string {
  return JSON.stringify(leads.map(toExportRow), null, 2) + "\n";
}
