import { displayDbUrl } from "../../store/mod.ts";
import {
  eventsOf,
  formatTimeline,
  isTraceIdOrPart,
  lastTraceIds,
  matchTraceIds,
  type TraceEvent,
  traceIdsOfChat,
} from "../../trace/mod.ts";
import type { Client } from "../../store/mod.ts";
import { defineCommand, UsageError } from "../command.ts";
import { openReadStore, parsePositiveInt, stringOption } from "../context.ts";

type Lookup = { ids: string[]; none: string } | { error: string };

async function lookup(client: Client, target: string, limit: number): Promise<Lookup> {
  // Oldest first in both lists, so the newest trace ends the output (the end of an SSH session's scrollback).
  if (target === "last") {
    return { ids: (await lastTraceIds(client, limit)).reverse(), none: "no traces recorded yet" };
  }
  if (target.startsWith("chat:")) {
    const chat = target.slice("chat:".length);
    return {
      ids: (await traceIdsOfChat(client, chat, limit)).reverse(),
      none: `no traces for chat "${chat}"`,
    };
  }
  const id = target.toLowerCase();
  const ids = await matchTraceIds(client, id, 5);
  if (ids.length > 1) return { error: `trace id part "${id}" is ambiguous: ${ids.join(", ")}` };
  return { ids, none: `no trace ${id}` };
}

export const traceCommand = defineCommand({
  name: "trace",
  summary: "print one message's timeline across agents (a trace id, the last one of a chat, or the last one)",
  args: "<trace-id | chat:<id> | last>",
  positionals: { min: 1, max: 1 },
  options: { limit: { type: "string" }, json: { type: "boolean" } },
  optionHelp: [
    "--limit N   traces to print for chat:<id> or last (default 5 for a chat, 1 for last)",
    "--json      print the events as JSON (chat:<id> and --limit: an array of timelines)",
  ],
  async run({ values, positionals, deps }) {
    const target = positionals[0]!;
    if (target === "chat:") {
      throw new UsageError('chat: needs an id, e.g. "chat:12345" or "chat:telegram-support:12345"', traceCommand);
    }
    if (target !== "last" && !target.startsWith("chat:") && !isTraceIdOrPart(target.toLowerCase())) {
      throw new UsageError(`"${target}" is not a trace id (6–32 hex digits), chat:<id> or last`, traceCommand);
    }
    const limitText = stringOption(values, "limit");
    const limit = limitText === undefined ? (target.startsWith("chat:") ? 5 : 1) : parsePositiveInt(limitText);
    if (limit === undefined || limit > 100) {
      throw new UsageError("--limit must be a number from 1 to 100", traceCommand);
    }
    const { store, url } = await openReadStore(values, deps);
    try {
      const found = await lookup(store.client, target, limit).catch((err: Error) => {
        if (/no such table/.test(err.message)) {
          return { error: `${displayDbUrl(url)} has no traces yet; start an agent or run 'aideazz migrate'` };
        }
        throw err;
      });
      if ("error" in found) {
        deps.stderr(`trace: ${found.error}\n`);
        return 1;
      }
      if (found.ids.length === 0) {
        deps.stderr(`trace: ${found.none}\n`);
        return 1;
      }
      const events = await eventsOf(store.client, found.ids);
      const timelines: TraceEvent[][] = found.ids.map((id) => events.get(id) ?? []);
      if (values["json"] === true) {
        // A list (chat:<id>, --limit) is an array of timelines however many matched: a script reads one shape.
        const list = target.startsWith("chat:") || limitText !== undefined;
        deps.stdout(JSON.stringify(list ? timelines : timelines[0], null, 2) + "\n");
      } else deps.stdout(timelines.map(formatTimeline).join("\n"));
      return 0;
    } finally {
      store.close();
    }
  },
});
