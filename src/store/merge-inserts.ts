/**
 * Many writes of the same shape as multi-row INSERTs. The orchestrator's turns of one consumer round commit
 * together (their rows ride on their acks, src/bus/sqlite-queue.ts), and each turn writes the same statements: its
 * router decision, its conversation turns, its chat-inbox state. In the running system a statement costs 20–80 µs
 * whatever it writes, so the round's rows of each statement go as one `INSERT … VALUES (…), (…), …`.
 *
 * Writes merge only with writes whose statements are the same SQL, in the same order, each a plain
 * `INSERT … VALUES (?, …)` (more than one row allowed, an `ON CONFLICT` clause too) with positional arguments
 * and no RETURNING. Each write's own statements keep their order, and so do the writes within each statement;
 * writes of different shapes are no longer ordered among themselves, so the writes handed over must not depend
 * on each other (the round's turns are of different chats). A merged statement has at most `MAX_ROWS` writes'
 * rows, in chunks of powers of two, so that a few prepared statements serve every round.
 *
 * @module
 */
import type { InStatement, InValue } from "@libsql/client";

const MAX_ROWS = 64;
/** `INSERT [OR …] INTO t (cols) VALUES` · the rows, each `(?, …)` · the rest (ON CONFLICT …), without `?`. */
const INSERT_VALUES =
  /^(\s*INSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\s+[^(]+\([^)]*\)\s*VALUES\s*)(\(\s*\?(?:\s*,\s*\?)*\s*\)(?:\s*,\s*\(\s*\?(?:\s*,\s*\?)*\s*\))*)([^?]*)$/i;

interface Shape {
  head: string;
  rows: string;
  tail: string;
}
const shapes = new Map<string, Shape | null>();

function shapeOf(sql: string): Shape | null {
  let shape = shapes.get(sql);
  if (shape !== undefined) return shape;
  const m = INSERT_VALUES.exec(sql);
  shape = m && !/\bRETURNING\b/i.test(m[3]!) ? { head: m[1]!, rows: m[2]!, tail: m[3]! } : null;
  if (shapes.size >= 256) shapes.clear();
  shapes.set(sql, shape);
  return shape;
}

const sqlOf = (s: InStatement) => (typeof s === "string" ? s : s.sql);
const argsOf = (s: InStatement) => (typeof s === "string" ? [] : s.args ?? []);
const positional = (s: InStatement) => argsOf(s) as InValue[];

/** The statements of `writes`, each group of writes of one mergeable shape as multi-row INSERTs. */
export function mergeWrites(writes: readonly (readonly InStatement[])[]): InStatement[] {
  const groups = new Map<string, (readonly InStatement[])[]>();
  const out: InStatement[] = [];
  for (const write of writes) {
    const mergeable = write.every((s) => Array.isArray(argsOf(s)) && shapeOf(sqlOf(s)) !== null);
    if (!mergeable) {
      out.push(...write);
      continue;
    }
    const key = write.map(sqlOf).join("\0");
    const group = groups.get(key);
    if (group) group.push(write);
    else groups.set(key, [write]);
  }
  for (const group of groups.values()) {
    for (let i = 0; i < group[0]!.length; i++) {
      const shape = shapeOf(sqlOf(group[0]![i]!))!;
      for (let from = 0; from < group.length;) {
        const n = chunkSize(group.length - from);
        const chunk = group.slice(from, from + n);
        from += n;
        out.push(n === 1 ? chunk[0]![i]! : {
          sql: `${shape.head}${Array(n).fill(shape.rows).join(", ")}${shape.tail}`,
          args: chunk.flatMap((w) => positional(w[i]!)),
        });
      }
    }
  }
  return out;
}

/** The largest power of two not over `left` nor `MAX_ROWS`. */
function chunkSize(left: number): number {
  let n = 1;
  while (n * 2 <= Math.min(left, MAX_ROWS)) n *= 2;
  return n;
}
