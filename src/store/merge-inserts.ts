/**
 * Many writes of the same shape as multi-row INSERTs. The orchestrator's turns of one consumer round commit
 * together (their rows ride on their acks, src/bus/sqlite-queue.ts), and each turn writes the same statements: its
 * router decision, its conversation turns, its chat-inbox state. In the running system a statement costs 20–80 µs
 * whatever it writes, so the round's rows of each statement go as one `INSERT … VALUES (…), (…), …`.
 *
 * A run of consecutive writes merges when their statements are the same SQL, in the same order, each a plain `INSERT …
 * VALUES (?, …)` (more than one row allowed, an `ON CONFLICT` clause without parameters too) given exactly its
 * positional arguments, and no RETURNING. Everything keeps its order but within such a run, where the first statement
 * of every write runs before the second of any: a run's writes must not depend on each other across their statements
 * (the orchestrator's turns of a round are of different chats, and each writes different tables). A merged statement
 * has at most `MAX_ROWS` writes' rows, in chunks of powers of two, so that a few prepared statements serve every round.
 *
 * @module
 */
import type { InStatement, InValue } from "@libsql/client";

const MAX_ROWS = 64;
/** SQLite's limit on a statement's parameters (SQLITE_MAX_VARIABLE_NUMBER). */
const MAX_VARIABLES = 32_766;
/** `INSERT [OR …] INTO t (cols) VALUES` · the rows, each `(?, …)` · nothing more, or an ON CONFLICT clause without `?`. */
const INSERT_VALUES =
  /^(\s*INSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\s+[^(]+\([^)]*\)\s*VALUES\s*)(\(\s*\?(?:\s*,\s*\?)*\s*\)(?:\s*,\s*\(\s*\?(?:\s*,\s*\?)*\s*\))*)(\s*(?:ON\s+CONFLICT\b[^?]*)?)$/i;
/** What the ON CONFLICT clause may not hold: RETURNING (its rows would be a row's), named parameters. */
const UNMERGEABLE_TAIL = /\bRETURNING\b|[:@$][\w]/i;

interface Shape {
  head: string;
  rows: string;
  tail: string;
  /** The `?` of `rows`: each write's arguments must be exactly these. */
  params: number;
}
const shapes = new Map<string, Shape | null>();

function shapeOf(sql: string): Shape | null {
  let shape = shapes.get(sql);
  if (shape !== undefined) return shape;
  const m = INSERT_VALUES.exec(sql);
  shape = m && !UNMERGEABLE_TAIL.test(m[3]!)
    ? { head: m[1]!, rows: m[2]!, tail: m[3]!, params: m[2]!.split("?").length - 1 }
    : null;
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

/**
 * The SQL of a write whose every statement can merge, undefined when one cannot. A statement given more or fewer
 * arguments than it has `?` stays alone: merged, they would shift into another write's row.
 */
function shapeKey(write: readonly InStatement[]): string | undefined {
  const mergeable = write.every((s) => {
    const args = argsOf(s);
    return Array.isArray(args) && shapeOf(sqlOf(s))?.params === args.length;
  });
  return mergeable ? write.map(sqlOf).join("\0") : undefined;
}

/** Writes of one shape: statement i of all of them (in chunks), then statement i + 1. */
function mergeRun(run: readonly (readonly InStatement[])[]): InStatement[] {
  if (run.length === 1) return [...run[0]!];
  const out: InStatement[] = [];
  for (let i = 0; i < run[0]!.length; i++) {
    const shape = shapeOf(sqlOf(run[0]![i]!))!;
    for (let from = 0; from < run.length;) {
      const n = chunkSize(run.length - from, shape.params);
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

/** The largest power of two not over `left`, `MAX_ROWS`, nor the writes whose `params` fit `MAX_VARIABLES`. */
function chunkSize(left: number, params: number): number {
  const most = Math.min(left, MAX_ROWS, Math.floor(MAX_VARIABLES / params));
  let n = 1;
  while (n * 2 <= most) n *= 2;
  return n;
}
