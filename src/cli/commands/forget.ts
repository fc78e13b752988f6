/**
 * `aideazz forget chat:<agent>:<id>`: a data-deletion request ("right to erasure") for one chat; see
 * src/agents/forget.ts for what goes, what stays, and how work under way on the chat is waited for.
 *
 * @module
 */
import { agentsOfChat, type ForgetCounts, forgetChat, KINDS, parseChatRef } from "../../agents/forget.ts";
import { defineCommand, UsageError } from "../command.ts";
import { hasTable, openReadStore } from "../context.ts";

const CHANNELS = new Set(["telegram", "whatsapp", "webchat"]);

export const forgetCommand = defineCommand({
  name: "forget",
  summary: "delete everything stored about one chat (a customer's data-deletion request)",
  args: "chat:<agent>:<id>",
  positionals: { min: 1, max: 1 },
  options: { "dry-run": { type: "boolean" }, json: { type: "boolean" } },
  optionHelp: [
    "--dry-run       print what would be deleted, delete nothing",
    "--json          print the counts as JSON",
  ],
  details: [
    "The chat is named as 'aideazz trace chat:' prints it: chat:<agent>:<id> (chat:<id> when one agent has it).",
    "Deletes its conversation, inbox, lead, handoff, bus messages (inbound, replies, relays to an operator),",
    "dead letters, send ledger, web chat replies, contact, skipped inputs, delivery states, trace events and",
    "usage counters, and cached answers to a question it asked (the cache does not record who asked: the same",
    "question from anyone goes too). Kept: aggregate metrics and routing decisions (no text, no ids), and each",
    "inbound message's platform id until the dedup window ends, so a retried webhook is not answered again.",
    "Stops replies still queued for the chat; when an agent was mid-turn or mid-send, waits (at most about a",
    "minute) for it to stop, then deletes what it wrote. Never prints the chat id.",
  ],
  async run({ values, positionals, deps }) {
    const ref = parseChatRef(positionals[0]!);
    if (!ref) {
      throw new UsageError('expected chat:<agent>:<id> (e.g. "chat:wa-sales:15550001234"), as \'aideazz trace\' names a chat', forgetCommand);
    }
    const { store, config } = await openReadStore(values, deps);
    try {
      if (!(await hasTable(store, "channel_holds", deps))) return 1;
      let agent = ref.agent;
      if (agent === undefined) {
        const agents = await agentsOfChat(store.client, ref.chatId);
        if (agents.length > 1) {
          throw new UsageError(`that chat id is in several agents (${agents.join(", ")}): name one, chat:<agent>:<id>`, forgetCommand);
        }
        agent = agents[0];
      }
      const dryRun = values["dry-run"] === true;
      const kind = config?.agents.find((a) => a.name === agent)?.kind;
      const result = agent === undefined
        ? { counts: Object.fromEntries(KINDS.map((k) => [k, 0])) as ForgetCounts, relaysQueued: 0, waitedMs: 0 }
        : await forgetChat(store.client, { agent, chatId: ref.chatId }, {
          dryRun,
          now: deps.now,
          sleep: deps.sleep,
          traceFlushMs: config?.metrics.flushIntervalMs ?? 5_000,
          ...(kind && CHANNELS.has(kind) ? { channel: kind } : {}),
          onWait: (ms) => deps.stderr(`forget: an agent is working on this chat; waiting ${Math.ceil(ms / 1000)} s for it to stop\n`),
        });
      const checkpointed = dryRun || store.path === undefined || (await store.checkpoint());
      if (values["json"] === true) {
        deps.stdout(JSON.stringify({ dryRun, ...result, walTruncated: checkpointed }) + "\n");
        return 0;
      }
      const total = KINDS.reduce((n, k) => n + result.counts[k], 0);
      deps.stdout(dryRun ? "forget (dry run): would delete\n" : "forget: deleted\n");
      for (const k of KINDS) deps.stdout(`  ${String(result.counts[k]).padStart(7)}  ${k}\n`);
      if (total === 0) deps.stdout("nothing was stored about this chat\n");
      if (result.relaysQueued > 0) {
        deps.stdout(`${result.relaysQueued} relay(s) to an operator's chat still queued there: sent, then removed by retention\n`);
      }
      if (!checkpointed) {
        deps.stderr(`forget: ${store.path}-wal still holds old copies until the agents' next checkpoint (readers held it)\n`);
      }
      return 0;
    } finally {
      store.close();
    }
  },
});
