/**
 * Structured logs: one JSON object per line on stdout (journald keeps each line), with time, level, agent,
 * message and the trace id when there is one. Every configured secret is redacted by value.
 *
 * @module
 */
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
  const min = ORDER[opts.level ?? "info"];
  const now = opts.now ?? Date.now;
  const make = (bound: Fields): Logger => {
    const emit = (level: Level, msg: string, fields?: Fields) => {
      if (ORDER[level] < min) return;
      const record = { time: new Date(now()).toISOString(), level, agent: opts.agent, msg, ...bound, ...fields };
      opts.write(redact(JSON.stringify(record, (_k, v) => toJsonValue(v))) + "\n");
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
