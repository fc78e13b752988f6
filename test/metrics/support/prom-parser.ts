/**
 * A strict parser of the Prometheus text exposition format 0.0.4, written from the format's specification
 * (prometheus.io/docs/instrumenting/exposition_formats): it throws on anything a Prometheus server would reject
 * or that the spec forbids, instead of guessing. Checks:
 * - lines end with "\n" (the last one too); `# HELP` / `# TYPE` at most once per metric, TYPE before its samples;
 * - metric and label names match the spec's regexes; label values use only the escapes \\ \" \n;
 * - sample values are Go floats (incl. NaN, +Inf, -Inf); an optional timestamp is an integer;
 * - a metric's samples are contiguous, no series appears twice;
 * - histograms: `_bucket` lines carry `le`, are cumulative (non-decreasing) in ascending `le`, end with
 *   `le="+Inf"`, and that count equals `_count`; `_sum` and `_count` exist for every label set.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string | undefined;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

export class ParseError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

function parseFloatStrict(text: string, line: number): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new ParseError(line, `invalid value "${text}"`);
  }
  return Number(text);
}

function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1; // after "{"
  const skipSpaces = () => {
    while (text[i] === " " || text[i] === "\t") i++;
  };
  for (;;) {
    skipSpaces();
    if (text[i] === "}") return { labels, rest: text.slice(i + 1) };
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!m) throw new ParseError(line, `invalid label name at "${text.slice(i, i + 10)}"`);
    const name = m[0];
    i += name.length;
    skipSpaces();
    if (text[i] !== "=") throw new ParseError(line, `expected "=" after label ${name}`);
    i++;
    skipSpaces();
    if (text[i] !== '"') throw new ParseError(line, `label ${name}: value must be quoted`);
    i++;
    let value = "";
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new ParseError(line, `label ${name}: unterminated value`);
      if (c === '"') break;
      if (c === "\\") {
        const n = text[i + 1];
        if (n === "\\") value += "\\";
        else if (n === '"') value += '"';
        else if (n === "n") value += "\n";
        else throw new ParseError(line, `label ${name}: invalid escape "\\${n}"`);
        i += 2;
        continue;
      }
      if (c === "\n") throw new ParseError(line, `label ${name}: raw newline in value`);
      value += c;
      i++;
    }
    i++;
    if (name in labels) throw new ParseError(line, `duplicate label ${name}`);
    labels[name] = value;
    skipSpaces();
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text[i] === "}") return { labels, rest: text.slice(i + 1) };
    throw new ParseError(line, `expected "," or "}" in labels`);
  }
}

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  for (const suffix of ["_bucket", "_sum", "_count", ""]) {
    if (suffix && !sampleName.endsWith(suffix)) continue;
    const base = sampleName.slice(0, sampleName.length - suffix.length);
    const f = families.get(base);
    if (f && (suffix === "" || f.type === "histogram" || f.type === "summary")) return f;
  }
  return undefined;
}

function checkHistogram(f: Family): void {
  const bySeries = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = bySeries.get(key) ?? { buckets: [] };
    bySeries.set(key, entry);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: _bucket without le`);
      entry.buckets.push([parseFloatStrict(le, 0), s.value]);
    } else if (s.name === `${f.name}_sum`) entry.sum = s.value;
    else if (s.name === `${f.name}_count`) entry.count = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name} in a histogram`);
  }
  for (const [key, e] of bySeries) {
    if (e.sum === undefined || e.count === undefined) {
      throw new Error(`${f.name}${key}: missing _sum or _count`);
    }
    const last = e.buckets.at(-1);
    if (!last || last[0] !== Infinity) throw new Error(`${f.name}${key}: buckets must end with le="+Inf"`);
    if (last[1] !== e.count) throw new Error(`${f.name}${key}: +Inf bucket ${last[1]} != _count ${e.count}`);
    for (let i = 1; i < e.buckets.length; i++) {
      if (!(e.buckets[i]![0] > e.buckets[i - 1]![0])) throw new Error(`${f.name}${key}: le not ascending`);
      if (e.buckets[i]![1] < e.buckets[i - 1]![1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
  }
}

/** Parses a whole exposition; throws `ParseError` (or Error for a semantic violation) on the first problem. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith("\n")) {
    throw new ParseError(0, "the exposition must end with a newline");
  }
  const families = new Map<string, Family>();
  const seenSeries = new Set<string>();
  const closed = new Set<string>();
  let current: Family | undefined;
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((raw, idx) => {
    const n = idx + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ""] = m;
      if (!METRIC_NAME.test(name!)) throw new ParseError(n, `invalid metric name "${name}"`);
      let f = families.get(name!);
      if (f && closed.has(name!)) throw new ParseError(n, `${kind} for ${name} after its samples ended`);
      if (!f) {
        f = { name: name!, help: undefined, type: "untyped", samples: [] };
        families.set(name!, f);
      }
      if (kind === "HELP") {
        if (f.help !== undefined) throw new ParseError(n, `second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) {
          throw new ParseError(n, "HELP allows only \\\\ and \\n escapes");
        }
        f.help = rest.replace(/\\(\\|n)/g, (_s, c: string) => (c === "n" ? "\n" : "\\"));
      } else {
        if (f.samples.length > 0) throw new ParseError(n, `TYPE for ${name} after its samples`);
        if (f.type !== "untyped" || !TYPES.has(rest.trim())) {
          throw new ParseError(n, `bad or second TYPE for ${name}`);
        }
        f.type = rest.trim() as Family["type"];
      }
      if (current && current !== f) closed.add(current.name);
      current = f;
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    if (!nameMatch) throw new ParseError(n, `invalid sample line "${raw}"`);
    const name = nameMatch[0];
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) ({ labels, rest } = parseLabels(rest, n));
    for (const l of Object.keys(labels)) {
      if (!LABEL_NAME.test(l) || l.startsWith("__")) throw new ParseError(n, `bad label ${l}`);
    }
    const parts = rest.trim().split(/[ \t]+/);
    if (!/^[ \t]/.test(rest) || parts.length < 1 || parts.length > 2) {
      throw new ParseError(n, `expected "value [timestamp]"`);
    }
    const value = parseFloatStrict(parts[0]!, n);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) {
      throw new ParseError(n, "timestamp must be an integer");
    }
    let f = familyOf(name, families);
    if (!f) {
      f = { name, help: undefined, type: "untyped", samples: [] };
      families.set(name, f);
    }
    if (closed.has(f.name)) throw new ParseError(n, `samples of ${f.name} are not contiguous`);
    if (current && current !== f) closed.add(current.name);
    current = f;
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seenSeries.has(key)) throw new ParseError(n, `duplicate series ${key}`);
    seenSeries.add(key);
    if (f.type === "counter" && (value < 0 || Number.isNaN(value))) {
      throw new ParseError(n, `counter ${name} is ${value}`);
    }
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}
