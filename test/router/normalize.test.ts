import { describe, expect, it } from "vitest";
import { extractGuardFeatures, normalizeText, stem, tokenize } from "../../src/router/normalize.ts";
import { guardAllows } from "../../src/router/guard.ts";

describe("normalizeText", () => {
  it("folds Unicode compatibility forms (NFKC) and case", () => {
    expect(normalizeText("ＲＥＳＥＴ my Password")).toBe("reset my password");
    expect(normalizeText("ﬁnd my card")).toBe("find my card");
  });

  it("unifies typographic apostrophes and drops them inside words", () => {
    expect(normalizeText("I can’t log in")).toBe(normalizeText("I can't log in"));
    expect(normalizeText("I can't log in")).toBe("i cant log in");
  });

  it("turns punctuation into spaces and collapses whitespace", () => {
    expect(normalizeText("  where\tis...my\n\ncard?!  ")).toBe("where is my card");
  });

  it("keeps numbers, decimal points, currency symbols and percent signs", () => {
    expect(normalizeText("Send $1,250.50 (10%) by 10:30.")).toBe("send $ 1250.50 10 % by 10:30");
  });

  it("maps number words to digits but leaves the pronoun 'one' alone", () => {
    expect(normalizeText("two weeks")).toBe(normalizeText("2 weeks"));
    expect(normalizeText("I need a new one")).toBe("i need a new one");
  });

  it("removes greetings and openers at the start and thanks at the end", () => {
    expect(normalizeText("Hi there! Good morning, ok so where is my card? Thanks in advance!"))
      .toBe("where is my card");
    expect(normalizeText("where is my card")).toBe("where is my card");
  });

  it("removes please and hesitations anywhere", () => {
    expect(normalizeText("Um, could you please, uh, block my card pls")).toBe("could you block my card");
  });

  it("keeps a message made only of a greeting", () => {
    expect(normalizeText("Hello!")).toBe("hello");
  });

  it("never removes negations", () => {
    expect(normalizeText("Hi, my card does not work, thanks")).toBe("my card does not work");
    expect(normalizeText("No, I never got it")).toContain("never");
  });
});

describe("tokenize and stem", () => {
  it("makes inflections of one word meet", () => {
    expect(new Set(["charge", "charges", "charged", "charging"].map(stem))).toEqual(new Set(["charg"]));
    expect(stem("transfers")).toBe(stem("transfer"));
    expect(stem("verifies")).toBe("verify");
    expect(stem("stopped")).toBe("stop");
  });

  it("leaves short words and numbers intact", () => {
    expect(stem("fee")).toBe("fee");
    expect(stem("2000")).toBe("2000");
  });

  it("tokenizes the normalized text", () => {
    expect(tokenize("Hi! My cards were charged twice?")).toEqual(["my", "card", "wer", "charg", "twic"]);
    expect(tokenize("...")).toEqual([]);
  });
});

describe("extractGuardFeatures", () => {
  it("finds numbers in digits and words, canonically", () => {
    expect(extractGuardFeatures("Move 1,000 to plan 2 in two weeks").numbers).toEqual(["1000", "2"]);
    expect(extractGuardFeatures("it cost 5.50 or 5.5").numbers).toEqual(["5.5"]);
  });

  it("detects negation with or without an apostrophe", () => {
    for (
      const s of ["I can't log in", "I cant log in", "I cannot log in", "it does not work", "never arrived"]
    ) {
      expect(extractGuardFeatures(s).negated).toBe(true);
    }
    expect(extractGuardFeatures("I can log in").negated).toBe(false);
  });

  it("finds capitalized names inside sentences and acronyms, not sentence openers", () => {
    expect(extractGuardFeatures("How much is the Pro plan?").names).toEqual(["pro"]);
    expect(extractGuardFeatures("Is Apple Pay supported in the UK?").names).toEqual(["apple", "pay", "uk"]);
    expect(extractGuardFeatures("I'm in France. Where is my card?").names).toEqual(["france"]);
    expect(extractGuardFeatures("Where is my card?").names).toEqual([]);
  });

  it("ignores capitals in Title Case text", () => {
    expect(extractGuardFeatures("Where Is My New Card Now").names).toEqual([]);
  });

  it("maps currency symbols, codes and words to one code", () => {
    expect(extractGuardFeatures("send €20").currencies).toEqual(["eur"]);
    expect(extractGuardFeatures("send 20 euros").currencies).toEqual(["eur"]);
    expect(extractGuardFeatures("change GBP to USD").currencies).toEqual(["gbp", "usd"]);
    expect(extractGuardFeatures("I want to try again").currencies).toEqual([]);
  });
});

describe("guardAllows", () => {
  it("refuses when numbers differ", () => {
    expect(guardAllows("price of plan 2", "price of plan 3")).toEqual({
      reason: "numbers",
      query: "2",
      candidate: "3",
    });
    expect(guardAllows("waited 2 weeks", "waited a week")).toMatchObject({ reason: "numbers" });
    expect(guardAllows("waited two weeks", "waited 2 weeks")).toBe(true);
  });

  it("refuses when only one side is negated", () => {
    expect(guardAllows("I can't log in", "I can log in")).toMatchObject({ reason: "negation" });
    expect(guardAllows("I can't log in", "I cannot log in")).toBe(true);
  });

  it("refuses when names differ, whatever their case on the other side", () => {
    expect(guardAllows("How much is the Pro plan?", "How much is the Basic plan?")).toMatchObject({
      reason: "names",
    });
    expect(guardAllows("How much is the Pro plan?", "how much is the plan")).toMatchObject({
      reason: "names",
    });
    expect(guardAllows("How much is the Pro plan?", "how much is the pro plan")).toBe(true);
  });

  it("refuses when currencies differ", () => {
    expect(guardAllows("send €20 abroad", "send $20 abroad")).toMatchObject({ reason: "currencies" });
    expect(guardAllows("send 20 euros abroad", "send €20 abroad")).toBe(true);
  });

  it("allows paraphrases that keep every feature", () => {
    expect(guardAllows("Where is my card?", "my card has still not arrived?")).toMatchObject({
      reason: "negation",
    });
    expect(guardAllows("when will my card arrive", "Where is my card?")).toBe(true);
  });

  it("accepts precomputed features", () => {
    const stored = extractGuardFeatures("price of plan 2");
    expect(guardAllows(extractGuardFeatures("plan 2 price"), stored)).toBe(true);
  });
});
