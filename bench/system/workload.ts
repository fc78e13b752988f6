/**
 * What the system benchmark asks: an FAQ of ten entries, ten questions the model answers once and the cache then
 * serves (context-free turns: each request comes from a fresh chat), and model questions made unique by an order
 * number (`{n}` is replaced per request) so they never hit the FAQ or the cache. The split of simple (Groq) and
 * complex (Claude) model turns follows the router's default classification (why/how → complex).
 *
 * @module
 */
import type { FaqEntry } from "./cluster.ts";

export const BENCH_FAQ: FaqEntry[] = [
  { id: "plans", questions: ["What plans do you have?", "How much does it cost?"], answer: "Starter is $9/month, Pro $29/month." },
  { id: "password", questions: ["How do I reset my password?", "I forgot my password"], answer: "Use 'Forgot password' on the login page." },
  { id: "cancel", questions: ["How do I cancel my subscription?"], answer: "Settings → Billing → Cancel plan." },
  { id: "hours", questions: ["What are your opening hours?"], answer: "Monday to Friday, 9:00–18:00 CET." },
  { id: "refund", questions: ["What is your refund policy?"], answer: "Full refund within 30 days." },
  { id: "email", questions: ["How do I change my email address?"], answer: "Settings → Profile → Email." },
  { id: "invoice", questions: ["Where can I download my invoice?"], answer: "Settings → Billing → Invoices." },
  { id: "2fa", questions: ["How do I turn on two-factor authentication?"], answer: "Settings → Security → Two-factor." },
  { id: "export", questions: ["How do I export my data?"], answer: "Settings → Data → Export." },
  { id: "delete", questions: ["How do I delete my account?"], answer: "Settings → Account → Delete." },
];

/** Answered by the model once (warm-up), then from the cache. None of them hits the FAQ (checked at warm-up). */
export const CACHE_QUESTIONS = [
  "Do you ship to Canada?",
  "Is there a student discount?",
  "Which browsers do you support?",
  "Do you have an Android app?",
  "Is my data stored in Europe?",
  "Can I pay with PayPal?",
  "Are you hiring engineers?",
  "Is there an API for developers?",
  "Do you sponsor open source projects?",
  "Can I get a paper catalogue?",
];

/** `{n}` becomes a number unique to the request: never an FAQ or cache hit. */
export const MODEL_QUESTIONS = [
  "Is order {n} shipped yet?",
  "Why was my order {n} delayed?",
];

export type Category = "faq" | "cache" | "model";

/** Questions for the hit workload: FAQ and cache questions alternating, with their categories. */
export function hitQuestions(): { questions: string[]; categories: Category[] } {
  const questions: string[] = [];
  const categories: Category[] = [];
  for (let i = 0; i < Math.max(BENCH_FAQ.length, CACHE_QUESTIONS.length); i++) {
    const f = BENCH_FAQ[i % BENCH_FAQ.length]!;
    questions.push(f.questions[i % f.questions.length]!, CACHE_QUESTIONS[i % CACHE_QUESTIONS.length]!);
    categories.push("faq", "cache");
  }
  return { questions, categories };
}

export function modelQuestions(): { questions: string[]; categories: Category[] } {
  return { questions: [...MODEL_QUESTIONS], categories: MODEL_QUESTIONS.map(() => "model" as const) };
}
