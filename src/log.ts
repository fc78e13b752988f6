/**
 * Structured logs: one JSON object per line on stdout (journald keeps each line), with time, level, agent,
 * message and the trace id when there is one. Every configured secret is redacted by value. Personal data is
 * kept out (RELIABILITY.md F4): email addresses and phone numbers in any string become `[email]` / `[phone]`,
 * and the values of user and chat id fields are replaced by a short keyed hash (the same user gives the same
 * hash, so a log can still be followed per chat).
 *
 * @module
 */
import { createHmac } from "node:crypto";
import { createRedactor } from "./redact.ts";

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` (e.g. `{ trace }`) to every line. */
  with(fields: Fields): Logger;
}

export interface LoggerOptions {
  agent: string;
  secrets: readonly string[];
  write: (line: string) => void;
  level?: Level;
  now?: () => number;
}

/** Fields whose values identify a person: hashed. */
const ID_FIELDS = new Set(["user", "userId", "chat", "chatId", "from", "phone", "waId", "wa_id", "contact"]);
/** An address, not a systemd unit (`aideazz-agent@webchat.service`, its `.service.d` drop-in directory). */
const EMAIL =
  /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+(?![\p{L}\p{N}-])(?<!\.(?:service|timer|socket|target|slice|scope|d))/gu;
/**
 * 9–15 digits, optionally after + or "(", with up to two separators between digits ("+1 (555) 010-2345"), also
 * after a prefix and ":" (a chat key such as `wa1:15551234567`), also before the full stop that ends a sentence.
 */
const PHONE = /(?<![\w.])[+(]?\d(?:[ .()-]{0,2}\d){8,14}(?!\w|\.\d)/g;

/** A whole value that is a negative number: a Telegram group's id ("-1001234567890"), never a phone number. */
const GROUP_ID = /^-\d+$/;

/** Replaces email addresses and phone numbers in a text. */
export function scrubPii(text: string): string {
  // The operator must read a group id in a warning to set it; in running text "-600123456" is still scrubbed.
  if (GROUP_ID.test(text)) return text;
  return text.replace(EMAIL, "[email]").replace(PHONE, (m) => (/^\d{4}-[01]\d-[0-3]\d(?!\d)/.test(m) ? m : "[phone]"));
}

function toJsonValue(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out["code"] = code;
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

export function createLogger(opts: LoggerOptions): Logger {
  const redact = createRedactor(opts.secrets);
  // Keyed with the configured secrets, so a hash cannot be reversed by hashing every phone number.
  const key = opts.secrets.join("\u0000") || "aideazz";
  const hashId = (v: unknown) => `h:${createHmac("sha256", key).update(String(v)).digest("hex").slice(0, 12)}`;
  // Each string value is cleaned, not the serialized line: a secret matched across a JSON escape (one ending in
  // a backslash) would break the line. Secrets first (by value, so a token inside a URL is caught whole, before
  // its digits look like a phone number), then personal data.
  const scrub = (k: string, raw: unknown): unknown => {
    const v = toJsonValue(raw);
    if (k !== "" && ID_FIELDS.has(k) && (typeof v === "string" || typeof v === "number")) return hashId(v);
    if (typeof v === "string") return k === "time" ? redact(v) : scrubPii(redact(v));
    return v;
  };
  const min = ORDER[opts.level ?? "info"];
  const now = opts.now ?? Date.now;
  const make = (bound: Fields): Logger => {
    const emit = (level: Level, msg: string, fields?: Fields) => {
      if (ORDER[level] < min) return;
      const record = { time: new Date(now()).toISOString(), level, agent: opts.agent, msg, ...bound, ...fields };
      const line = JSON.stringify(record, function (k, v) {
        return Array.isArray(this) ? scrub("", v) : scrub(k, v);
      });
      opts.write(line + "\n");
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      with: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make({});
}
