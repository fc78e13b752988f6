/**
 * Checks publish input before anything is written, so a bad message fails the whole batch with a message that
 * names it, and both implementations reject exactly the same input.
 *
 * @module
 */
import type { Json, PublishInput } from "./types.ts";

/** One message as the SQLite publish statement reads it from its JSON argument. */
export interface MessageRow {
  t: string;
  k: string;
  p: Json;
  i?: string;
  r?: string;
  n?: number;
}

function fail(index: number, what: string): never {
  throw new TypeError(`publish: message ${index}: ${what}`);
}

/** Validates `messages` and returns them in the compact row form; throws TypeError on the first bad one. */
export function toMessageRows(messages: readonly PublishInput[]): MessageRow[] {
  if (!Array.isArray(messages)) throw new TypeError("publish: expected an array of messages");
  return messages.map((m, i) => {
    if (typeof m !== "object" || m === null) fail(i, "not an object");
    if (typeof m.topic !== "string" || m.topic === "") fail(i, "topic must be a non-empty string");
    if (typeof m.key !== "string") fail(i, "key must be a string");
    // Read back through `->>`, a lone surrogate's JSON escape becomes bytes that are not UTF-8, and libsql aborts
    // the process that reads them (each claim of the message, or publish's RETURNING): refused here.
    for (const [name, value] of [["topic", m.topic], ["key", m.key], ["idempotencyKey", m.idempotencyKey], ["traceId", m.traceId]]) {
      if (typeof value === "string" && !value.isWellFormed()) fail(i, `${name} is not well-formed text (a lone surrogate)`);
    }
    if (m.payload === undefined) fail(i, "payload is missing");
    const row: MessageRow = { t: m.topic, k: m.key, p: m.payload };
    if (m.idempotencyKey !== undefined) {
      if (typeof m.idempotencyKey !== "string" || m.idempotencyKey === "") {
        fail(i, "idempotencyKey must be a non-empty string");
      }
      row.i = m.idempotencyKey;
    }
    if (m.traceId !== undefined) {
      if (typeof m.traceId !== "string") fail(i, "traceId must be a string");
      row.r = m.traceId;
    }
    if (m.notBefore !== undefined) {
      if (!Number.isFinite(m.notBefore)) fail(i, "notBefore must be a finite epoch-ms number");
      row.n = Math.ceil(m.notBefore);
    }
    return row;
  });
}

/** Serializes the rows; JSON.stringify throws for a payload that is not JSON (BigInt, cycles). */
export function rowsToJson(rows: readonly MessageRow[]): string {
  try {
    return JSON.stringify(rows);
  } catch (err) {
    throw new TypeError(`publish: a payload is not JSON-serializable (${(err as Error).message})`);
  }
}
