/**
 * What the soak sends: `messages` inbound messages over `chats` chats spread across the channel agents. Message
 * m belongs to chat m % chats and is that chat's message number ⌊m / chats⌋. About 60% ask one of 50 FAQ
 * questions, each with its own answer, and a chat never asks the same one twice in its first 50 messages, so a
 * reply's text names the message it answers; the rest are model questions made unique by their number (even
 * ones are simple → Groq, odd ones ask "why" → Claude).
 *
 * @module
 */
import type { FaqEntry } from "../system/cluster.ts";

const NOUNS = [
  "calendar", "invoice", "webhook", "backup", "export", "import", "dashboard", "report", "widget", "badge",
  "coupon", "voucher", "shipping", "tracking", "refund", "warranty", "locker", "printer", "scanner", "sensor",
  "router", "modem", "antenna", "battery", "charger", "cable", "adapter", "speaker", "headset", "camera",
  "tripod", "lens", "filter", "drone", "helmet", "bicycle", "scooter", "kettle", "toaster", "blender",
  "mixer", "oven", "fridge", "freezer", "heater", "fan", "lamp", "curtain", "carpet", "mattress",
];

export const SOAK_FAQ: FaqEntry[] = NOUNS.map((noun, i) => ({
  id: `q${i}`,
  questions: [`Tell me about the ${noun}`, `${noun} help`],
  answer: `About the ${noun}: see our ${noun} guide (answer ${i}).`,
}));

export interface PlannedMessage {
  /** Global index (also the send order). */
  m: number;
  /** Index of the chat among all chats. */
  chat: number;
  /** Message number within its chat. */
  seq: number;
  kind: "faq" | "model";
  /** FAQ entry index for kind "faq". */
  faq: number;
  text: string;
}

/** A small deterministic generator (mulberry32), so a soak is reproducible from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function planMessages(messages: number, chats: number, seed: number, faqShare = 0.6): PlannedMessage[] {
  const random = seeded(seed);
  return Array.from({ length: messages }, (_, m) => {
    const chat = m % chats;
    const seq = Math.floor(m / chats);
    const faq = (seq + chat) % SOAK_FAQ.length;
    const kind = random() < faqShare ? "faq" : "model";
    const text = kind === "faq"
      ? SOAK_FAQ[faq]!.questions[0]!
      : m % 2 === 0
      ? `Is order ${100_000 + m} shipped yet?`
      : `Why was my order ${100_000 + m} delayed?`;
    return { m, chat, seq, kind, faq, text };
  });
}
