import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { createMatcher, DEFAULT_THRESHOLD } from "../../src/router/matcher.ts";
import {
  bestUnderFalseRate,
  parseDataset,
  type Scorer,
  splitStratified,
  type Sweep,
  sweepThresholds,
  thresholdGrid,
} from "../../src/router/eval.ts";

const FAQ: Record<string, string[]> = {
  "reset-password": [
    "How do I reset my password?",
    "I forgot my password",
    "Can't remember my password, help",
  ],
  "opening-hours": [
    "What are your opening hours?",
    "When are you open?",
    "What time do you close on weekdays?",
  ],
  "refund": [
    "How do I get a refund?",
    "I want my money back for my order",
    "Can I return an item for a refund?",
  ],
  "delivery-time": [
    "How long does delivery take?",
    "When will my order arrive?",
    "What is the shipping time?",
  ],
};

function faqMatcher(opts: Parameters<typeof createMatcher>[0] = {}) {
  const m = createMatcher(opts);
  for (const [group, texts] of Object.entries(FAQ)) texts.forEach((t, i) => m.add(`${group}/${i}`, t, group));
  return m;
}

describe("createMatcher", () => {
  it("matches a paraphrase to its answer group", () => {
    const m = faqMatcher();
    const t = { threshold: DEFAULT_THRESHOLD };
    expect(m.match("I forgot my password, how do I reset it?", t)?.group).toBe("reset-password");
    expect(m.match("I can't remember my password", t)?.group).toBe("reset-password");
    expect(m.match("how long does the delivery take", t)?.group).toBe("delivery-time");
    expect(m.match("can I get a refund", t)?.group).toBe("refund");
    expect(m.match("what time do you open", t)?.group).toBe("opening-hours");
  });

  it("returns null for an unrelated message", () => {
    const m = faqMatcher();
    expect(m.match("what's the weather like in Paris tomorrow")).toBeNull();
    expect(m.match("tell me a joke about cats")).toBeNull();
    expect(m.best("tell me a joke about cats")).toBeNull(); // no content word in common with any entry
  });

  it("a question sharing only function words with the closest group is no match, however alone that group is", () => {
    const one = createMatcher();
    one.add("h", "What are your opening hours?", "hours");
    expect(one.match("What are your prices?")).toBeNull(); // "what are your" alone scored 0.52
    expect(one.match("what are your opening times?")).toMatchObject({ group: "hours" });
    const two = createMatcher();
    two.add("h", "What are your opening hours?", "hours");
    two.add("s", "Do you ship abroad?", "shipping");
    expect(two.match("What are your payment options?")).toBeNull();
    expect(two.match("can you ship abroad")).toMatchObject({ group: "shipping" });
  });

  it("answers a normalized duplicate from the exact tier with score 1", () => {
    const hit = faqMatcher().match("Hi there!! how do I RESET my password??? Thanks");
    expect(hit).toMatchObject({ id: "reset-password/0", exact: true, score: 1 });
  });

  it("refuses an entry whose number differs, even when the text is nearly identical", () => {
    const m = createMatcher();
    m.add("p2", "What is the price of plan 2?", "price-plan-2");
    m.add("p3", "What is the price of plan 3?", "price-plan-3");
    m.add("h", "What are your opening hours?", "hours");
    expect(m.best("how much is plan 2")).toMatchObject({ group: "price-plan-2" });
    expect(m.best("how much is plan 2")?.refused).toBeUndefined();
    expect(m.best("how much is plan 3")).toMatchObject({ group: "price-plan-3" });
    expect(m.match("price of plan 4", { threshold: 0 })).toBeNull();
    expect(m.best("price of plan 4")?.refused).toMatchObject({ reason: "numbers" });
  });

  it("lets an allowed group win when the guard rules out the textually closest one", () => {
    const m = createMatcher();
    m.add("ok", "I can log in to my account", "login-ok");
    m.add("bad1", "my login does not work", "login-broken");
    m.add("bad2", "I am unable to sign in, it fails", "login-broken");
    m.add("h", "What are your opening hours?", "hours");
    expect(m.best("I can't log in to my account")).toMatchObject({ group: "login-broken" });
    expect(m.best("I can't log in to my account")?.refused).toBeUndefined();
  });

  it("refuses an entry whose negation differs", () => {
    const m = createMatcher();
    m.add("ok", "I can log in to my account", "login-ok");
    m.add("h", "What are your opening hours?", "hours");
    expect(m.match("I can't log in to my account", { threshold: 0 })).toBeNull();
    expect(m.best("I can't log in to my account")?.refused).toMatchObject({ reason: "negation" });
  });

  it("refuses an entry whose name differs", () => {
    const m = createMatcher();
    m.add("pro", "How much does the Pro plan cost per month?", "price-pro");
    m.add("h", "What are your opening hours?", "hours");
    expect(m.match("How much does the Basic plan cost per month?", { threshold: 0 })).toBeNull();
    expect(m.match("how much does the pro plan cost per month")?.group).toBe("price-pro");
  });

  it("lets the guard be switched off", () => {
    const m = createMatcher({ guard: false });
    m.add("ok", "I can log in to my account", "login-ok");
    m.add("h", "What are your opening hours?", "hours");
    expect(m.match("I can't log in to my account", { threshold: 0 })?.group).toBe("login-ok");
  });

  it("scores by similarity alone when only one group is stored", () => {
    const m = createMatcher();
    m.add("a", "How do I reset my password?", "pw");
    m.add("b", "I forgot my password", "pw");
    const c = m.best("forgot my password");
    expect(c).toMatchObject({ group: "pw", margin: Infinity });
    expect(c!.score).toBeCloseTo(c!.similarity, 12);
    expect(m.match("what's the weather like in Paris tomorrow")).toBeNull();
  });

  it("a higher threshold turns a weak match into a miss", () => {
    const m = faqMatcher();
    const c = m.best("what time do you open")!;
    expect(c.group).toBe("opening-hours");
    expect(m.match("what time do you open", { threshold: c.score + 1e-9 })).toBeNull();
    expect(m.match("what time do you open", { threshold: c.score })?.id).toBe(c.id);
  });

  it("forgets removed entries and replaces an entry added again under the same id", () => {
    const m = faqMatcher();
    const size = m.size;
    expect(m.remove("reset-password/0")).toBe(true);
    expect(m.remove("reset-password/0")).toBe(false);
    expect(m.size).toBe(size - 1);
    expect(m.best("how do i reset my password")?.id).not.toBe("reset-password/0");
    m.add("refund/0", "Where is your shop?", "location");
    expect(m.size).toBe(size - 1);
    expect(m.best("where is your shop")).toMatchObject({ id: "refund/0", group: "location", exact: true });
  });

  it("answers as a fresh matcher would after removals compact the index", () => {
    const texts = Array.from(
      { length: 3000 },
      (_, i) => `order ${i % 97} item ${["red", "blue", "green"][i % 3]} box`,
    );
    const churned = createMatcher();
    texts.forEach((t, i) => churned.add(`e${i}`, t, `g${i % 40}`));
    for (let i = 0; i < 2500; i++) churned.remove(`e${i}`);
    const fresh = createMatcher();
    texts.forEach((t, i) => i >= 2500 && fresh.add(`e${i}`, t, `g${i % 40}`));
    expect(churned.size).toBe(500);
    for (const q of ["order 5 item red box", "green box order 96", "item blue order 12", "nothing like it"]) {
      const [a, b] = [churned.best(q), fresh.best(q)];
      expect(a?.id).toBe(b?.id);
      expect(a?.score ?? 0).toBeCloseTo(b?.score ?? 0, 9);
    }
  });
});

describe("sweepThresholds", () => {
  it("counts correct and false hits per threshold over held-out queries", () => {
    const fake: Scorer = {
      add() {},
      best: (t) => ({ group: t.startsWith("a") ? "A" : "B", score: t.length / 10 }),
    };
    const queries = [{ text: "a1", group: "A" }, { text: "a22", group: "B" }, { text: "b4444", group: "B" }];
    const { rows } = sweepThresholds([], queries, () => fake, [0.2, 0.3, 0.5, 0.6]);
    expect(rows.map((r) => [r.correct, r.wrong])).toEqual([[2, 1], [1, 1], [1, 0], [0, 0]]);
    expect(rows[2]).toMatchObject({ hitRate: 1 / 3, correctRate: 1 / 3, falseRate: 0, precision: 1 });
    expect(bestUnderFalseRate(rows, 0)?.threshold).toBe(0.5);
  });
});

describe("splitStratified and parseDataset", () => {
  const rows = Array.from({ length: 50 }, (_, i) => ({ text: `t${i}`, group: `g${i % 5}` }));

  it("holds out the same share of every group, the same way for the same seed", () => {
    const a = splitStratified(rows, { holdout: 0.2, seed: 3 });
    expect(a.queries).toHaveLength(10);
    expect(new Set(a.queries.map((q) => q.group)).size).toBe(5);
    expect(splitStratified(rows, { holdout: 0.2, seed: 3 })).toEqual(a);
    expect(splitStratified(rows, { holdout: 0.2, seed: 4 }).queries).not.toEqual(a.queries);
  });

  it("can leave whole groups unstored and cap entries per group", () => {
    const { stored } = splitStratified(rows, { unseenGroups: 0.4, perGroup: 3 });
    expect(new Set(stored.map((s) => s.group)).size).toBe(3);
    expect(stored).toHaveLength(9);
  });

  it("reads quoted CSV and JSON Lines", () => {
    expect(parseDataset('text,category\n"Hi, ""you""\nthere",a\nplain,b\n', "csv"))
      .toEqual([{ text: 'Hi, "you"\nthere', group: "a" }, { text: "plain", group: "b" }]);
    expect(parseDataset('{"text":"x","group":"g"}\n\n{"text":"y","category":"h"}\n', "jsonl"))
      .toEqual([{ text: "x", group: "g" }, { text: "y", group: "h" }]);
    expect(() => parseDataset('{"text":1}', "jsonl")).toThrow(/line 1/);
  });
});

describe("banking77 accuracy (seed 1, 80% stored / 20% held out, stratified)", () => {
  const file = new URL("../../../shared/data/banking77/train.csv", import.meta.url);
  const rows = parseDataset(readFileSync(file, "utf8"), "csv");
  const { stored, queries } = splitStratified(rows, { holdout: 0.2, seed: 1 });
  let sweep: Sweep;
  beforeAll(() => {
    sweep = sweepThresholds(stored, queries, () => createMatcher(), thresholdGrid(0, 1, 201));
  });

  it("loads the whole dataset", () => {
    expect(rows).toHaveLength(10_003);
    expect(queries).toHaveLength(1998);
  });

  // Measured: 69.4% correct hits at 2.0% false hits (threshold 0.483); plain TF-IDF nearest neighbour: 20.0%.
  it("answers ≥ 67% of held-out queries correctly with ≤ 2% false hits", () => {
    const best = bestUnderFalseRate(sweep.rows, 0.02);
    expect(best?.correctRate).toBeGreaterThanOrEqual(0.67);
  });

  // Measured at 0.5: 68.1% correct, 1.8% false.
  it("keeps false hits ≤ 2% at DEFAULT_THRESHOLD", () => {
    const row = sweep.rows.find((r) => Math.abs(r.threshold - DEFAULT_THRESHOLD) < 1e-9)!;
    expect(row.falseRate).toBeLessThanOrEqual(0.02);
    expect(row.correctRate).toBeGreaterThanOrEqual(0.65);
  });

  it("forgets the features no stored entry has: the vocabulary stays that of the live entries", () => {
    const m = createMatcher();
    m.add("base", "Where is my order?");
    const base = m.features;
    // A rolling window of 50 entries, each naming its own order number, over 2,000 questions.
    for (let i = 0; i < 2_000; i++) {
      m.add(`q${i}`, `Is order ${100_000 + i} shipped yet?`);
      if (i >= 50) m.remove(`q${i - 50}`);
    }
    const rolling = m.features;
    for (let i = 1_950; i < 2_000; i++) m.remove(`q${i}`);
    expect(m.features).toBe(base);
    expect(rolling).toBeLessThan(base + 50 * 30); // ~20 new features a question, for the 50 live ones
    // Reused feature numbers still match correctly.
    m.add("new", "Is order 123456 shipped yet?");
    expect(m.best("is order 123456 shipped")?.id).toBe("new");
    expect(m.match("where is my order")?.id).toBe("base");
  });
});
