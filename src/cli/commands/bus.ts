/**
 * `aideazz bus stats` and `aideazz bus dlq list|retry <id>|purge`: look into the bus and handle dead letters.
 *
 * @module
 */
import { createSqliteBus } from "../../bus/mod.ts";
import type { Bus, DeadLetter, GroupStats } from "../../bus/mod.ts";
import { type CliDeps, defineCommand, UsageError } from "../command.ts";
import { hasTable, openReadStore, parsePositiveInt, stringOption } from "../context.ts";
import { parseDuration } from "../../metrics/mod.ts";
import { shortTraceId } from "../../trace/mod.ts";

type Values = Record<string, string | boolean | undefined>;

/** Opens the store and a bus on it (no consumers, no watchers), runs `fn`, closes. */
async function withBus(values: Values, deps: CliDeps, fn: (bus: Bus) => Promise<number>): Promise<number> {
  const { store } = await openReadStore(values, deps);
  try {
    if (!(await hasTable(store, "bus_messages", deps))) return 1;
    const bus = createSqliteBus(store, { now: deps.now });
    try {
      return await fn(bus);
    } finally {
      await bus.close();
    }
  } finally {
    store.close();
  }
}

function formatAge(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)}h`;
  return `${Math.round(ms / 86_400_000)}d`;
}

/** A plain text table: left-aligned text columns, right-aligned numeric ones. */
export function table(header: string[], rows: string[][], numeric: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

function statsTable(stats: GroupStats[]): string {
  const rows = stats.map((s) => [
    s.topic,
    s.group,
    String(s.ready),
    String(s.inFlight),
    String(s.delayed),
    formatAge(s.oldestAgeMs),
    String(s.deadLetters),
  ]);
  return table(
    ["TOPIC", "GROUP", "READY", "IN-FLIGHT", "DELAYED", "OLDEST", "DEAD"],
    rows,
    new Set([2, 3, 4, 5, 6]),
  );
}

/**
 * Says so on stderr, and is true, when `--topic` or `--group` names no topic or group the bus has: a typo (or
 * `outbound` for `outbound.<agent>`) would otherwise read as "no dead letters".
 */
function unknownFilter(
  action: string,
  stats: GroupStats[],
  topic: string | undefined,
  group: string | undefined,
  deps: CliDeps,
): boolean {
  for (const [option, name, known] of [
    ["topic", topic, stats.map((s) => s.topic)],
    ["group", group, stats.map((s) => s.group)],
  ] as const) {
    if (name === undefined || known.includes(name)) continue;
    deps.stderr(`bus dlq ${action}: no ${option} "${name}"; the bus has ${[...new Set(known)].join(", ") || "none"}\n`);
    return true;
  }
  return false;
}

/** The last error is the last column and whole: it is what says why (`aideazz trace <TRACE>` shows the rest). */
function deadTable(list: DeadLetter[], now: number): string {
  const rows = list.map((d) => [
    String(d.id),
    d.topic,
    d.group,
    d.key,
    String(d.attempts),
    `${formatAge(now - d.deadAt)} ago`,
    d.traceId === undefined ? "—" : shortTraceId(d.traceId),
    d.lastError.replace(/\s+/g, " "),
  ]);
  return table(["ID", "TOPIC", "GROUP", "KEY", "ATTEMPTS", "DEAD", "TRACE", "LAST ERROR"], rows, new Set([0, 4]));
}

export const busStatsCommand = defineCommand({
  name: "bus stats",
  summary: "show queue depth, in-flight, delayed, oldest age and dead letters per topic and group",
  options: { json: { type: "boolean" } },
  optionHelp: ["--json          print JSON instead of a table"],
  run({ values, deps }) {
    return withBus(values, deps, async (bus) => {
      const stats = await bus.stats();
      if (values["json"] === true) deps.stdout(`${JSON.stringify(stats, null, 2)}\n`);
      else if (stats.length === 0) deps.stdout("bus stats: no subscriptions yet\n");
      else deps.stdout(statsTable(stats));
      return 0;
    });
  },
});

/** The options each action takes: any other is refused, never ignored (`purge --all --limit 1` purged them all). */
const ACTION_OPTIONS = {
  list: ["topic", "group", "limit", "json"],
  retry: ["group"],
  purge: ["topic", "group", "older-than", "all"],
} as const;
const ACTIONS = Object.keys(ACTION_OPTIONS) as (keyof typeof ACTION_OPTIONS)[];

export const busDlqCommand = defineCommand({
  name: "bus dlq",
  summary: "dead letters: list, retry <id> (re-queue), purge",
  args: "list|retry <id>|purge",
  positionals: { min: 1, max: 2 },
  options: {
    topic: { type: "string" },
    group: { type: "string" },
    limit: { type: "string" },
    "older-than": { type: "string" },
    all: { type: "boolean" },
    json: { type: "boolean" },
  },
  optionHelp: [
    "--topic NAME        only this topic (list, purge)",
    "--group NAME        only this consumer group (list, retry, purge)",
    "--limit N           list at most N (default 100; list)",
    "--older-than AGE    purge only dead letters older than AGE (e.g. 7d, 12h, 90m; purge)",
    "--all               purge every dead letter (purge needs a filter or --all)",
    "--json              print JSON instead of a table (list)",
  ],
  run({ values, positionals, deps }) {
    const [action, arg] = positionals;
    if (!ACTIONS.includes(action as (typeof ACTIONS)[number])) {
      throw new UsageError(
        `bus dlq: unknown action "${action}"; use list, retry <id> or purge`,
        busDlqCommand,
      );
    }
    if (action !== "retry" && arg !== undefined) {
      throw new UsageError(`bus dlq ${action}: unexpected argument "${arg}"`, busDlqCommand);
    }
    const takes: readonly string[] = ACTION_OPTIONS[action as (typeof ACTIONS)[number]];
    const foreign = Object.values(ACTION_OPTIONS).flat().find((o) => values[o] !== undefined && !takes.includes(o));
    if (foreign !== undefined) {
      throw new UsageError(`bus dlq ${action}: --${foreign} is not an option of ${action}`, busDlqCommand);
    }
    const topic = stringOption(values, "topic");
    const group = stringOption(values, "group");
    if (action === "list") {
      const limitText = stringOption(values, "limit") ?? "100";
      const limit = parsePositiveInt(limitText);
      if (limit === undefined) {
        throw new UsageError(`--limit must be a positive integer, got "${limitText}"`, busDlqCommand);
      }
      return withBus(values, deps, async (bus) => {
        const list = await bus.deadLetters({
          ...(topic ? { topic } : {}),
          ...(group ? { group } : {}),
          limit,
        });
        const stats = await bus.stats();
        if (list.length === 0 && unknownFilter("list", stats, topic, group, deps)) return 1;
        if (values["json"] === true) deps.stdout(`${JSON.stringify(list, null, 2)}\n`);
        else if (list.length === 0) deps.stdout("bus dlq: no dead letters\n");
        else deps.stdout(deadTable(list, deps.now()));
        const total = stats.filter((s) => (!topic || s.topic === topic) && (!group || s.group === group))
          .reduce((n, s) => n + s.deadLetters, 0);
        if (list.length === limit && total > limit) {
          deps.stderr(`bus dlq: showing the oldest ${limit} of ${total} dead letters (--limit N shows more)\n`);
        }
        return 0;
      });
    }
    if (action === "retry") {
      if (arg === undefined) throw new UsageError("bus dlq retry: missing <id>", busDlqCommand);
      const id = parsePositiveInt(arg);
      if (id === undefined) {
        throw new UsageError(`bus dlq retry: <id> must be a message id, got "${arg}"`, busDlqCommand);
      }
      return withBus(values, deps, async (bus) => {
        if (!(await bus.retryDeadLetter(id, group))) {
          deps.stderr(`bus dlq retry: no dead letter with id ${id}${group ? ` in group "${group}"` : ""}\n`);
          return 1;
        }
        deps.stdout(`bus dlq: re-queued message ${id}${group ? ` for group "${group}"` : ""}\n`);
        return 0;
      });
    }
    const olderText = stringOption(values, "older-than");
    const olderThanMs = olderText === undefined ? undefined : parseDuration(olderText);
    if (olderText !== undefined && olderThanMs === undefined) {
      throw new UsageError(`--older-than must be a duration like 90m, 12h or 7d, got "${olderText}"`, busDlqCommand);
    }
    if (!topic && !group && olderThanMs === undefined && values["all"] !== true) {
      throw new UsageError(
        "bus dlq purge: give --topic, --group or --older-than, or --all to purge every dead letter",
        busDlqCommand,
      );
    }
    return withBus(values, deps, async (bus) => {
      const n = await bus.purgeDeadLetters({
        ...(topic ? { topic } : {}),
        ...(group ? { group } : {}),
        ...(olderThanMs === undefined ? {} : { olderThanMs }),
      });
      if (n === 0 && unknownFilter("purge", await bus.stats(), topic, group, deps)) return 1;
      deps.stdout(`bus dlq: purged ${n} dead letter${n === 1 ? "" : "s"}\n`);
      return 0;
    });
  },
});
