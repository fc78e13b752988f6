// The FAQ tier answers verbatim, so a question worded like an entry's but about something else must not get the
// entry's answer: the example FAQ that README's first command serves, asked what its visitors ask.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createFaq, parseFaq, swappedSubject } from "../../src/router/faq.ts";
import { createMatcher } from "../../src/router/matcher.ts";

const file = parseFaq(readFileSync(new URL("../../faq.example.json", import.meta.url), "utf8"));
const faq = createFaq(file);
const ids = Object.fromEntries(file.entries.map((e, i) => [e.questions[0], `faq-${i + 1}`]));
const PRICING = ids["What plans do you have?"];
const PASSWORD = ids["How do I reset my password?"];
const CANCEL = ids["How do I cancel my subscription?"];
const HOURS = ids["What are your opening hours?"];

describe("FAQ: a swapped subject", () => {
  const elsewhere = [
    ["How much does shipping cost?", PRICING],
    ["how much does delivery cost", PRICING],
    ["How much does a refund cost?", PRICING],
    ["How do I cancel my order?", CANCEL],
    ["I forgot my username", PASSWORD],
    ["What are your shipping hours?", HOURS],
  ] as const;

  it("the matcher alone gives these the entry's answer; the FAQ does not", () => {
    const matcher = createMatcher();
    file.entries.forEach((e, i) => e.questions.forEach((q, j) => matcher.add(`${i}#${j}`, q, `faq-${i + 1}`)));
    for (const [question, entry] of elsewhere) {
      expect(matcher.match(question)?.group, question).toBe(entry);
      expect(faq.answer(question), question).toBeNull();
    }
  });

  it("still answers what an entry is about: words added, a word of its answer, a typo, another verb", () => {
    for (const [question, entry] of [
      ["What plans do you have for students?", PRICING],
      ["what does it cost per month", PRICING], // "month" is in the answer
      ["how much does pro cost", PRICING], // "pro" too
      ["how much does the starter plan cost", PRICING],
      ["What plans do you offer?", PRICING],
      ["can't log in to the app", PASSWORD],
      ["How do I reset my pasword?", PASSWORD],
      ["How do I cancel my subscription please", CANCEL],
      ["when are you open on weekends", HOURS],
      ["what are your support hours on friday", HOURS],
    ] as const) {
      expect(faq.answer(question)?.id, question).toBe(entry);
    }
  });

  it("swappedSubject names the word put in a noun's place that the entry never uses", () => {
    const known = new Set(["plan", "pro"]);
    expect(swappedSubject("How much does shipping cost?", "How much does it cost?", known)).toBe("ship");
    expect(swappedSubject("How do I cancel my order?", "How do I cancel my plan?", known)).toBe("order");
    expect(swappedSubject("How much does Pro cost?", "How much does it cost?", known)).toBeNull();
    expect(swappedSubject("How much does it cots?", "How much does it cost?", new Set(["cost"]))).toBeNull();
    // A verb in another's place is a paraphrase; so is a rewording of several words, and a question with no word
    // in common is no edit of this one.
    expect(swappedSubject("Can I start an account?", "Can I open an account?", known)).toBeNull();
    expect(swappedSubject("What is the minimum age?", "How old must I be?", known)).toBeNull();
  });
});
