/**
 * Purges in chunks: retention jobs delete (or redact) old rows a chunk at a time, each statement its own short
 * write, so a first run over a large backlog never holds the write lock (and the writer's event loop) for long.
 *
 * @module
 */
import type { Client, ResultSet } from "./open.ts";

/**
 * Runs `sql` — a DELETE or UPDATE taking the cutoff as `?1` and the chunk size as `?2` (its `LIMIT`) — until a run
 * changes fewer than `chunk` rows or `signal` is aborted (a stopping agent: the next pass does the rest); `onRows`
 * sees each run's RETURNING rows. Returns how many rows changed in all.
 *
 * @example
 * ```ts
 * await purgeInChunks(client, `DELETE FROM webchat_replies WHERE seq IN (
 *   SELECT seq FROM webchat_replies WHERE created_at < ?1 LIMIT ?2)`, now - ttlMs);
 * ```
 */
export async function purgeInChunks(
  client: Client,
  sql: string,
  cutoff: number,
  { chunk = 2_000, onRows, signal }: {
    chunk?: number | undefined;
    onRows?: (rows: ResultSet["rows"]) => void;
    signal?: AbortSignal | undefined;
  } = {},
): Promise<number> {
  let total = 0;
  while (!signal?.aborted) {
    const rs = await client.execute({ sql, args: [cutoff, chunk] });
    onRows?.(rs.rows); // what a RETURNING clause gave back
    // The local writer reports a RETURNING statement's changes as its rows (rowsAffected 0).
    const changed = Math.max(rs.rowsAffected, rs.rows.length);
    total += changed;
    if (changed < chunk) break;
  }
  return total;
}
