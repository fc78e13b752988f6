/**
 * Conversation experience settings of a channel agent (`agents[].experience`): burst coalescing, progressive
 * (streamed) replies, the "working on it" notice. The channel agent and the orchestrator both read them — the
 * orchestrator decides what to publish for a chat, the channel how to show it. Each channel kind has its own
 * defaults: Telegram can edit a message, so it streams; WhatsApp cannot, so it sends one notice on slow turns.
 *
 * @module
 */
import { z } from "zod";
import type { AgentConfig } from "../../config.ts";

export const coalesceSchema = z.strictObject({
  enabled: z.boolean().default(true)
    .describe(
      'Answer a burst of messages of one chat ("hi" · "I wanted to ask" · "how much is pro?") with one turn',
    ),
  quietMs: z.number().int().min(0).max(30_000).default(1_500)
    .describe("The burst ends when the chat has been quiet this long (ms since its last message)"),
  maxWaitMs: z.number().int().min(0).max(60_000).default(4_000)
    .describe("Never wait longer than this after the burst's first message, however the user keeps typing"),
  maxMessages: z.number().int().min(1).max(50).default(10).describe("Messages one turn answers at most"),
});

export const streamSchema = z.strictObject({
  enabled: z.boolean().default(true)
    .describe("Post the first sentence as soon as the model wrote it and edit the message as more arrives"),
  editIntervalMs: z.number().int().min(1_000).max(60_000).default(1_000)
    .describe(
      "Minimum gap between two updates of one message (Telegram: about one message or edit per second per chat)",
    ),
  firstMaxChars: z.number().int().min(20).max(4_000).default(160)
    .describe("Post the first part once it has a complete sentence, or this many characters without one"),
});

const providerKind = z.enum(["groq", "anthropic", "llama-cpp", "openai-compatible"]);

/** The "working on it" notice; `enabled` has a per-channel default. */
function noticeSchema(enabled: boolean) {
  return z.strictObject({
    enabled: z.boolean().default(enabled)
      .describe("Send one short notice first when the reply will take longer than thresholdMs"),
    text: z.string().min(1).max(500).default("One moment, I'm working on your answer…")
      .describe("The notice; sent at most once per turn"),
    thresholdMs: z.number().int().min(0).default(8_000).describe(
      "A turn predicted (slow provider first in the chain, or measured latency) or seen to take longer than this gets the notice",
    ),
    slowKinds: z.array(providerKind).default(["llama-cpp"])
      .describe("Provider kinds that count as slow (a CPU-only local model) when first in the chain"),
  });
}

export const telegramExperienceSchema = z.strictObject({
  coalesce: coalesceSchema.prefault({}),
  stream: streamSchema.prefault({}),
  notice: noticeSchema(false).prefault({}),
}).describe("Burst coalescing, progressive replies (edits), the slow-turn notice");

export const whatsappExperienceSchema = z.strictObject({
  coalesce: coalesceSchema.prefault({}),
  notice: noticeSchema(true).prefault({}),
}).describe("Burst coalescing and the slow-turn notice (WhatsApp cannot edit a message)");

export const webchatExperienceSchema = z.strictObject({
  coalesce: coalesceSchema.prefault({}),
  notice: noticeSchema(false).prefault({}),
}).describe("Burst coalescing and the slow-turn notice");

export type CoalesceSettings = z.infer<typeof coalesceSchema>;
export type StreamSettings = z.infer<typeof streamSchema>;
export type NoticeSettings = z.infer<ReturnType<typeof noticeSchema>>;

/** What the orchestrator applies to one channel agent's chats. */
export interface ExperienceSettings {
  coalesce: CoalesceSettings;
  /** Undefined: the channel cannot edit a message (WhatsApp, web chat) or streaming is off. */
  stream: StreamSettings | undefined;
  notice: NoticeSettings;
}

const OFF: ExperienceSettings = {
  coalesce: coalesceSchema.parse({ enabled: false }),
  stream: undefined,
  notice: noticeSchema(false).parse({}),
};

/** The experience settings of the agent named `agent` (everything off for an agent that is not a channel). */
export function experienceOf(agents: readonly AgentConfig[], agent: string): ExperienceSettings {
  const a = agents.find((x) => x.name === agent);
  switch (a?.kind) {
    case "telegram": {
      const e = a.experience;
      return { coalesce: e.coalesce, stream: e.stream.enabled ? e.stream : undefined, notice: e.notice };
    }
    case "whatsapp":
    case "webchat":
      return { coalesce: a.experience.coalesce, stream: undefined, notice: a.experience.notice };
    default:
      return OFF;
  }
}
