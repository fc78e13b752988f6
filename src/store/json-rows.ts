/**
 * Reads of several rows as ONE row of JSON. Every statement that returns several rows makes libsql create a row
 * iterator, and under Deno each one leaks over 100 bytes outside the heap (src/store/writer.ts): the reads an agent
 * makes for every message use this instead, and the writer reads the one row with one step.
 *
 * @module
 */
import type { Client, InArgs } from "@libsql/client";

/** `SELECT json_group_array(json_array(columns…)) … FROM (select) LIMIT 1`: its one row has the JSON in `rows`. */
export function jsonRowsSql(select: string, columns: readonly string[]): string {
  return `SELECT json_group_array(json_array(${columns.join(", ")})) AS rows FROM (${select}) LIMIT 1`;
}

/** The JSON array of arrays in the `rows` column of a `jsonRowsSql` statement's result. */
export function parseJsonRows<T extends unknown[]>(rows: readonly Record<string, unknown>[]): T[] {
  return JSON.parse(String(rows[0]?.["rows"] ?? "[]")) as T[];
}

/**
 * The rows of `select` as arrays of its `columns` (names of its result columns), in no particular order (sort after).
 * For TEXT, INTEGER and NULL columns: JSON has no BLOB, and integers are exact below 2^53 (ids, epoch ms).
 *
 * @example
 * ```ts
 * const turns = await selectRows<[string, string]>(client, { sql: "SELECT role, text FROM turns WHERE chat = ?", args: [chat] }, ["role", "text"]);
 * ```
 */
export async function selectRows<T extends unknown[]>(
  client: Pick<Client, "execute">,
  stmt: { sql: string; args: InArgs },
  columns: readonly string[],
): Promise<T[]> {
  const rs = await client.execute({ sql: jsonRowsSql(stmt.sql, columns), args: stmt.args });
  return parseJsonRows<T>(rs.rows);
}
