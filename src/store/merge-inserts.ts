/**
 * Many writes of the same shape as multi-row INSERTs. The orchestrator's turns of one consumer round commit
 * together (their rows ride on their acks, src/bus/sqlite-queue.ts), and each turn writes the same statements: its
 * router decision, its conversation turns, its chat-inbox state. In the running system a statement costs 20–80 µs
 * whatever it writes, so the round's rows of each statement go as one `INSERT … VALUES (…), (…), …`.
 *
 * A run of consecutive writes merges when their statements are the same SQL, in the same order, each a plain
 * `INSERT … VALUES (?, …)` (more than one row allowed, an `ON CONFLICT` clause too) with positional arguments
 * and no RETURNING. Everything keeps its order but within such a run, where the first statement of every write
 * runs before the second of any: a run's writes must not depend on each other across their statements (the
 * orchestrator's turns of a round are of different chats, and each writes different tables). A merged statement
 * has at most `MAX_ROWS` writes' rows, in chunks of powers of two, so that a few prepared statements serve every
 * round.
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

/** The statements of `writes` in order, each run of consecutive writes of one mergeable shape as multi-row INSERTs. */
export function mergeWrites(writes: readonly (readonly InStatement[])[]): InStatement[] {
  const out: InStatement[] = [];
  for (let from = 0; from < writes.length;) {
    const key = shapeKey(writes[from]!);
    let to = from + 1;
    while (key !== undefined && to < writes.length && shapeKey(writes[to]!) === key) to++;
    out.push(...mergeRun(writes.slice(from, to)));
    from = to;
  }
  return out;
}

/** The SQL of a write whose every statement can merge, undefined when one cannot. */
function shapeKey(write: readonly InStatement[]): string | undefined {
  const mergeable = write.every((s) => Array.isArray(argsOf(s)) && shapeOf(sqlOf(s)) !== null);
  return mergeable ? write.map(sqlOf).join("\0") : undefined;
}

/** Writes of one shape: statement i of all of them (in chunks), then statement i + 1. */
function mergeRun(run: readonly (readonly InStatement[])[]): InStatement[] {
  if (run.length === 1) return [...run[0]!];
  const out: InStatement[] = [];
  for (let i = 0; i < run[0]!.length; i++) {
    const shape = shapeOf(sqlOf(run[0]![i]!))!;
    for (let from = 0; from < run.length;) {
      const n = chunkSize(run.length - from);
      const chunk = run.slice(from, from + n);
      from += n;
      out.push(n === 1 ? chunk[0]![i]! : {
        sql: `${shape.head}${Array(n).fill(shape.rows).join(", ")}${shape.tail}`,
        args: chunk.flatMap((w) => positional(w[i]!)),
      });
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
