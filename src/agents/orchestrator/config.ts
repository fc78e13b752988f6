/**
 * Orchestrator settings in the config file: conversation memory, the reply cache, abuse limits and the texts
 * the orchestrator answers with on its own.
 *
 * @module
 */
import { z } from "zod";
import { envVarName, httpUrl } from "../../config-types.ts";
import { DEFAULT_MAX_ENTRIES } from "../../router/cache.ts";
import { DEFAULT_THRESHOLD } from "../../router/matcher.ts";

const DAY_MS = 86_400_000;

export const cacheSchema = z.strictObject({
  enabled: z.boolean().default(true).describe("Serve and store cached answers for context-free turns"),
  ttlMs: z.number().int().positive().default(7 * DAY_MS)
    .describe("How long a cached answer may be served (at most conversation.retentionDays: it stores the question)"),
  lexicalThreshold: z.number().min(0).max(1).default(0.5)
    .describe("Matcher score a fuzzy cache hit needs (0.5: ≤ 2% false hits on banking77; calibrate with `aideazz cache eval`)"),
  semanticThreshold: z.number().min(0).max(1).default(0.92).describe("Cosine similarity an embedding hit needs"),
  maxEntries: z.number().int().positive().default(DEFAULT_MAX_ENTRIES).describe(
    "Cached answers kept per scope: a role's, or one system prompt's on the OpenAI endpoint (the oldest stored go first): bounds the orchestrator's memory (~2 KB an entry in the lexical index) and lookup time",
  ),
  checkShare: z.number().min(0).max(1).default(0.02)
    .describe("Share of cache hits also answered fresh in the background to measure the false-hit rate"),
  embeddings: z.strictObject({
    baseUrl: httpUrl.describe("OpenAI-compatible base URL, e.g. the llama.cpp sidecar http://127.0.0.1:8090/v1"),
    model: z.string().min(1).default("default"),
    apiKeyEnv: envVarName.optional(),
  }).optional().describe("Embedding endpoint for the semantic cache tier; without it the cache is exact + lexical"),
});

export const conversationSchema = z.strictObject({
  maxContextTokens: z.number().int().positive().default(1_500).describe("Earlier turns a model sees, in estimated tokens"),
  maxReplyTokens: z.number().int().positive().default(400).describe("Longest reply a model may write"),
  retentionDays: z.number().int().positive().default(30).describe(
    "Days what users wrote, and what names them, is kept: older conversation turns, chat inbox rows, web chat " +
      "replies, cached answers, bus dead letters, trace events and per-user records are deleted; older handled bus " +
      "messages have their text redacted (the row stays for the 8-day duplicate check)",
  ),
  faqThreshold: z.number().min(0).max(1).default(DEFAULT_THRESHOLD).describe(
    "Matcher score an FAQ answer needs; lower answers more questions from the FAQ, and more of them wrongly",
  ),
  maxInputChars: z.number().int().positive().default(2_000)
    .describe("Longer messages are refused before any model call (abuse limit)"),
  perUserPerMinute: z.number().int().positive().default(20).describe("Messages per user per minute answered; more get one notice"),
  perUserDailyTokens: z.number().int().positive().default(50_000).describe("Model tokens per user per UTC day"),
  maxAttempts: z.number().int().min(1).max(20).default(5)
    .describe("Attempts at answering one message (all providers down) before it is dead-lettered"),
  retryBaseMs: z.number().int().positive().default(5_000).describe("First retry delay; doubles per attempt, jittered"),
  fallbackText: z.string().min(1).default(
    "Sorry, our assistant is temporarily unavailable. We have your message and will get back to you shortly.",
  ).describe("Sent once when every provider failed; the message stays queued for a retry"),
  noAnswerText: z.string().min(1).default("Sorry, I don't have an answer to that.").describe(
    "Answer when the FAQ and cache have none, no model provider is configured, and the role has no operator to tell",
  ),
  noAnswerHandoffText: z.string().min(1).default(
    "I don't have an answer to that yet. I've passed your question to a person from our team, who will reply here. " +
      "Send /bot to talk to the assistant again.",
  ).describe("The same, when the chat was handed to the role's operator with the question (the bot then stays silent in it)"),
  tooLongText: z.string().min(1).default("That message is too long for me. Could you shorten it?"),
  refusedText: z.string().min(1).default(
    "Sorry, I can't answer that as it is. Could you ask it in a shorter or simpler way, or send /reset to start over?",
  ).describe(
    "Answer when every model provider refused the request itself (400: e.g. the conversation no longer fits its context window); not retried",
  ),
  rateLimitedText: z.string().min(1).default("You're sending messages faster than I can answer. Please wait a minute."),
  tokenLimitedText: z.string().min(1).default(
    "You've reached today's limit of answers from our assistant. Please come back tomorrow.",
  ).describe(
    "The notice to a user whose perUserDailyTokens (or, on the web chat, whose address's perAddressDailyTokens) are spent (until the next UTC day)",
  ),
  resetText: z.string().min(1).default("Done: I've forgotten our conversation. How can I help?"),
  helpText: z.string().min(1).default("Ask me anything. Commands: /reset forgets our conversation, /human asks for a person."),
  handoffText: z.string().min(1).default("I've asked a person from our team to take over. They'll reply here."),
  noHandoffText: z.string().min(1).default(
    "No one from our team can take over this chat right now, so I'll keep helping as best I can.",
  ).describe("Answer to /human when the chat's role has no operator to hand it to"),
  unsupportedText: z.string().min(1).default("Sorry, I can only read text messages. Please type your question."),
});

export type CacheConfig = z.infer<typeof cacheSchema>;
export type ConversationConfig = z.infer<typeof conversationSchema>;
