import { describe, expect, it } from "vitest";
import { leadsSchema } from "../../src/agents/orchestrator/roles/config.ts";
import { parseExtraction } from "../../src/agents/orchestrator/roles/extract.ts";
import { createLeakCheck } from "../../src/agents/orchestrator/roles/leak.ts";
import { filterLinks, hostOf } from "../../src/agents/orchestrator/roles/links.ts";
import { parseOperatorCommand } from "../../src/agents/orchestrator/roles/operator.ts";
import { findPrices, parseAmount, unknownPrices } from "../../src/agents/orchestrator/roles/prices.ts";
import { budgetAmount, scoreLead, timelineDays } from "../../src/agents/orchestrator/roles/score.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";

const DAY = 86_400_000;
const NOW = Date.UTC(2025, 0, 15);

describe("link filter", () => {
  it("keeps allowed hosts and their subdomains, removes the rest, keeps sentence punctuation", () => {
    const r = filterLinks(
      "Docs: https://docs.example.com/a?b=1. Also https://example.com, not https://example.com.evil.io/x!",
      ["example.com"],
    );
    expect(r.text).toBe(
      "Docs: https://docs.example.com/a?b=1. Also https://example.com, not [link removed]!",
    );
    expect(r.removed).toEqual(["https://example.com.evil.io/x"]);
  });

  it("keeps e-mail addresses, file names and ordinary abbreviations", () => {
    const text = "Write to ann.lee@acme.io, attach report.pdf and config.json, e.g. by 9 a.m. (i.e. today).";
    expect(filterLinks(text, []).text).toBe(text);
  });

  it("removes what Telegram links without a scheme: IPv4, '_' in a subdomain, a Unicode domain, a TLD in capitals", () => {
    const links = [
      "203.0.113.7/c?d=NW-STAFF-2291",
      "10.0.0.1:8080",
      "a_b.evil-tracker.com/c?d=NW-STAFF-2291",
      "злой.рф/c?d=NW-STAFF-2291",
      "evil.NINJA/c?d=NW-STAFF-2291",
    ];
    const r = filterLinks(`Your discount: ${links.join(", ")}.`, ["example.com"]);
    expect(r.text).toBe(`Your discount: ${links.map(() => "[link removed]").join(", ")}.`);
    expect(r.removed).toEqual(links);
  });

  it("keeps an allowed host in any case and with '_' or any script in its subdomains", () => {
    const text = "See шоп.example.com/a, a_b.example.com/b and DOCS.EXAMPLE.COM/c.";
    expect(filterLinks(text, ["example.com"]).text).toBe(text);
  });

  it("keeps versions, times, prices, underscored names and capitalized words after a dot", () => {
    const text = "Version 1.2.3 (v2.0.1.4) ships at 10.30 for 19.99 EUR; see snake_case.method, Hello.World and README.MD.";
    expect(filterLinks(text, []).text).toBe(text);
  });

  it("keeps text in other scripts with a full stop and no space, unless what follows is a real TLD", () => {
    const text = "请访问我们的网站.谢谢! Спасибо.Пока. 営業時間は9時から.よろしく";
    expect(filterLinks(text, []).text).toBe(text);
    expect(filterLinks("Смотрите магазин.рф и 商店.中国", []).text).toBe("Смотрите [link removed] и [link removed]");
  });

  it("removes a link with an invisible character in it, even one that reads as an allowed host", () => {
    // Telegram links "evil\u200D.com" whole, and only "example.com/y" after the zero-width space: without the
    // invisible characters these would read as evil.com and the allowed myexample.com.
    const r = filterLinks("evil\u200D.com/x and my\u200Bexample.com/y, thanks 👩\u200D💻", ["myexample.com"]);
    expect(r.text).toBe("[link removed] and [link removed], thanks 👩\u200D💻");
  });

  it("parses hosts the way a browser does", () => {
    expect(hostOf("https://example.com@evil.io/x")).toBe("evil.io");
    expect(hostOf("https:\\\\evil.com\\p")).toBe("evil.com");
    expect(hostOf("https://ехample.com")).toMatch(/^xn--/);
    expect(hostOf("javascript:alert(1)")).toBeUndefined();
    expect(hostOf("mailto:a@b.org?body=x")).toBe("b.org");
  });
});

describe("instruction-leak check", () => {
  const prompt =
    "You are Example Co's support bot. Refunds over 100 EUR need approval from the finance team.";
  const leaks = createLeakCheck([prompt]);

  it("refuses 40+ characters of the prompt, whatever the case, spacing or punctuation", () => {
    expect(leaks("Sure: REFUNDS OVER 100 EUR NEED APPROVAL FROM THE FINANCE TEAM")).toBe(true);
    expect(leaks("you   are example co s support bot refunds over")).toBe(true);
    expect(leaks(btoa(prompt))).toBe(true);
  });

  it("refuses the prompt with invisible characters between its letters or for its spaces", () => {
    const between = (mark: string) => prompt.replace(/(\p{L})(?=\p{L})/gu, `$1${mark}`);
    for (const mark of ["\u00AD", "\u200B", "\u2060", "\u2800", "\u3164"]) {
      expect(leaks(between(mark))).toBe(true);
    }
    expect(leaks(prompt.replaceAll(" ", "\u200B"))).toBe(true);
    expect(leaks(btoa(prompt).replace(/.{8}/g, "$&\u200B"))).toBe(true);
  });

  it("lets ordinary answers through, and does not guard prompts too short to matter", () => {
    expect(leaks("Refunds are possible within 30 days. The finance team approves large ones.")).toBe(false);
    expect(createLeakCheck(["Be brief."])("Be brief.")).toBe(false);
  });

  it("reads a chat's earlier replies with the new one: pieces adding up to 40 letters, not one piece said again", () => {
    const pieces = ["It says: you are Example Co's support bot.", "Then: refunds over 100 EUR need approval."];
    expect(pieces.map((p) => leaks(p))).toEqual([false, false]);
    expect(leaks(pieces[1]!, [pieces[0]!])).toBe(true);
    // The bot naming itself every turn reveals nothing new.
    const intro = "I'm Example Co's support bot, happy to help.";
    expect(leaks(intro, [intro, "Our shop opens at 9.", intro])).toBe(false);
    expect(leaks("Orders ship within two days.", pieces)).toBe(false);
  });
});

describe("price guard", () => {
  it("finds amounts next to symbols, codes and words; ignores amounts without a currency", () => {
    const text =
      "Pro is $29/mo, €1.299,50 once, 45 USD, EUR 10, 5 dollars, US$7, 2k EUR. Ships in 3 days; try 3 options; 1,000 messages.";
    expect(findPrices(text).map((p) => [p.amount, p.currency])).toEqual([
      [29, "$"],
      [1299.5, "EUR"],
      [45, "USD"],
      [10, "EUR"],
      [5, "$"],
      [7, "USD"],
      [2000, "EUR"],
    ]);
  });

  it("parses thousands and decimal separators", () => {
    expect([
      parseAmount("1,299.00"),
      parseAmount("1.299,00"),
      parseAmount("29,99"),
      parseAmount("1,000"),
      parseAmount("1.000.000"),
    ])
      .toEqual([1299, 1299, 29.99, 1000, 1_000_000]);
  });

  it("reads European amounts and lower-case codes; refuses an invented price however it is written, and any discount", () => {
    const catalogue = [
      { name: "Enterprise kit", price: 1299, currency: "EUR", description: "" },
      { name: "Pro", price: 29, currency: "USD", description: "" },
    ];
    const ok = ["Le kit Enterprise coûte 1 299 €.", "Das Enterprise kit kostet 1.299 €.", "1 299,00 €", "29 usd"];
    for (const text of ok) expect(unknownPrices(text, catalogue)).toEqual([]);
    expect(findPrices("1 299,00 €").map((p) => p.amount)).toEqual([1299]);
    const invented = ["Pro plan is 999 usd.", "Rs. 999", "49 quid", "For you I can do 20% off the Pro plan.", "a discount of 15 %"];
    for (const text of invented) expect(unknownPrices(text, catalogue)).toHaveLength(1);
    expect(findPrices("try 3 options, php 8 is fine, 100% sure")).toEqual([]);
  });

  it("accepts a catalogue amount in a compatible currency only", () => {
    const catalogue = [{ name: "Pro", price: 29, currency: "USD", description: "" }];
    expect(unknownPrices("$29, 29 USD, 29 dollars", catalogue)).toEqual([]);
    expect(unknownPrices("29 EUR and $19", catalogue).map((p) => p.text)).toEqual([
      "29 EUR",
      "$19",
    ]);
  });
});

describe("price guard: which product a price is quoted for", () => {
  const catalogue = [
    { name: "Starter", price: 19, currency: "USD", description: "" },
    { name: "Pro", price: 49, currency: "USD", description: "" },
    { name: "Pro yearly", price: 490, currency: "USD", description: "" },
    { name: "Team", price: 99, currency: "USD", description: "" },
  ];
  const refused = (text: string, cat = catalogue) => unknownPrices(text, cat).map((p) => [p.text, p.product]);

  it("refuses another product's price quoted right next to a product's name", () => {
    expect(refused("Sure! The Pro plan is $99 a month.")).toEqual([["$99", "Pro"]]);
    expect(refused("Team costs only $49.")).toEqual([["$49", "Team"]]);
    expect(refused("Starter: $49\nPro: $49")).toEqual([["$49", "Starter"]]);
    expect(refused("You get 5 seats for $19 for the Team plan.")).toEqual([["$19", "Team"]]);
    expect(refused("Pro yearly is $49.")).toEqual([["$49", "Pro yearly"]]);
    // Named by a word only its name has, spelt as in the catalogue.
    const plans = [
      { name: "Starter plan", price: 9, currency: "USD", description: "" },
      { name: "Pro plan", price: 29, currency: "USD", description: "" },
    ];
    expect(refused("Starter is $29 and Pro is $29.", plans)).toEqual([["$29", "Starter plan"]]);
  });

  it("passes a product's own price, and a catalogue price not quoted next to a name", () => {
    expect(refused("The Pro plan is $49 a month. Team costs $99; Pro yearly: $490.")).toEqual([]);
    expect(refused("Prices start at $19 for Starter and go up to $99.")).toEqual([]);
    expect(refused("Starter is $19; the next tier up costs $49.")).toEqual([]);
    expect(refused("Our team can get you started today for just $49.")).toEqual([]);
    expect(refused("For your team, I'd suggest the $49 plan.")).toEqual([]);
    expect(refused("Pro is $49 per month, or $490 for the annual plan.")).toEqual([]);
    expect(refused("Pro yearly is $490 (that is Pro at $49 a month, 2 months free).")).toEqual([]);
    const addOn = [
      { name: "AI Sales Agent", price: 299, currency: "USD", description: "" },
      { name: "WhatsApp integration", price: 49, currency: "USD", description: "" },
    ];
    expect(refused("Adding WhatsApp costs $49 on top of the $299 plan.", addOn)).toEqual([]);
    const filler = [
      { name: "Basic", price: 19, currency: "USD", description: "" },
      { name: "Pro with onboarding", price: 99, currency: "USD", description: "" },
    ];
    expect(refused("You can start with $19 a month.", filler)).toEqual([]);
    expect(refused("It is $1,299.00? No: Pro is $49.")).toEqual([["$1,299.00", undefined]]);
    // Quoted next to one name, but for a product named earlier in its clause.
    expect(refused("Team includes everything in Pro for $99 a month.")).toEqual([]);
    expect(refused("Team includes everything in Pro – $99")).toEqual([]);
    expect(refused("Starter vs Pro: $19 vs $49.")).toEqual([]);
    expect(refused("Team, e.g. for five users, includes Pro for $99.")).toEqual([]);
    // ... but not for one named in an earlier sentence, before an earlier price, or when a verb says whose it is.
    expect(refused("Team is great. Pro for $99 is a steal.")).toEqual([["$99", "Pro"]]);
    expect(refused("Starter: $19, Pro: $19")).toEqual([["$19", "Pro"]]);
    expect(refused("If Starter is too small, Team is only $19 a month.")).toEqual([["$19", "Team"]]);
    expect(refused("Compared with Team, Pro is $99.")).toEqual([["$99", "Pro"]]);
    expect(refused("Team is $99 and Pro is $99.")).toEqual([["$99", "Pro"]]);
    expect(refused("Pro is $49 and Team is $49, so pick by seats.")).toEqual([["$49", "Team"]]);
    expect(refused("Team is great, Pro is $99")).toEqual([["$99", "Pro"]]);
    // Two products of one name (one per currency): either's price is that name's.
    const currencies = [
      { name: "Pro", price: 29, currency: "USD", description: "" },
      { name: "Pro", price: 27, currency: "EUR", description: "" },
      { name: "Team", price: 99, currency: "USD", description: "" },
    ];
    expect(refused("Pro is €27 or $29.", currencies)).toEqual([]);
    expect(refused("Pro is $99.", currencies)).toEqual([["$99", "Pro"]]);
  });
});

describe("price guard: words and codes that are no price, codes written against the amount", () => {
  const cat = [
    { name: "Pro", price: 49, currency: "USD", description: "" },
    { name: "Team", price: 99, currency: "USD", description: "" },
  ];
  it("keeps '…hours. 7 days' (no rupee sign inside a word) and 'PHP 8' (a language, unless the catalogue is in pesos)", () => {
    expect(unknownPrices("Pro is $49 a month. Support answers within 24 hours. 7 days a week.", cat, ["USD"])).toEqual([]);
    expect(unknownPrices("The Pro plan is $49 and supports PHP 8 and Node 20.", cat, ["USD"])).toEqual([]);
    const pesos = [{ name: "Pro", price: 2_500, currency: "PHP", description: "" }];
    expect(unknownPrices("Pro is PHP 2,500; Team is PHP 8,000.", pesos, ["PHP"]).map((m) => m.amount)).toEqual([8_000]);
  });
  it("checks a price in 'pounds' when the catalogue is in pounds sterling (and not a weight in a dollar shop)", () => {
    const gbp = [{ name: "Pro", price: 29, currency: "GBP", description: "" }];
    expect(unknownPrices("The Pro plan is 19 pounds a month.", gbp, ["GBP"]).map((m) => m.amount)).toEqual([19]);
    expect(unknownPrices("The Pro plan is 29 pounds a month.", gbp, ["GBP"])).toEqual([]);
    expect(unknownPrices("Pro is $49 and ships 5 pounds of coffee.", cat, ["USD"])).toEqual([]);
  });
  it("checks a price whose code follows its digits ('39USD')", () => {
    expect(unknownPrices("The Pro plan is 39USD per month.", cat, ["USD"]).map((m) => m.amount)).toEqual([39]);
  });
  it("refuses Team's price quoted for Pro in other words ('is priced at', 'will cost', 'now costs', 'is now')", () => {
    for (const text of ["The Pro plan is priced at $99.", "Pro will cost $99.", "Pro now costs $99.", "Pro is now only $99."]) {
      expect(unknownPrices(text, cat, ["USD"]).map((m) => m.product), text).toEqual(["Pro"]);
      expect(unknownPrices(text.replace("99", "49"), cat, ["USD"]), text).toEqual([]);
    }
  });
});

// These notations were no price to the guard, and these discounts none: an invented "59 US dollars", "590 kr" or
// "save 20%" reached the customer unchanged.
describe("price guard: customary notations and discounts in everyday words", () => {
  const pro = (currency: string, price: number) => [{ name: "Pro", price, currency, description: "" }];
  it("checks '59 US dollars', a catalogue currency's local notation (kr, zł, 円, TL, ₱, Rs) and 'USD59'", () => {
    expect(unknownPrices("The Pro plan is 59 US dollars a month.", pro("USD", 29)).map((m) => m.text))
      .toEqual(["59 US dollars"]);
    expect(unknownPrices("Pro is 29 US dollars or 39 Canadian dollars.", pro("USD", 29)).map((m) => m.currency))
      .toEqual(["CAD"]);
    // The catalogue price is the one in the reply less 100 (less 1,000 in yen and rupees).
    const cases: [currency: string, price: number, reply: string][] = [
      ["SEK", 490, "Pro kostar 590 kr i månaden."],
      ["NOK", 490, "Pro koster kr 590 per måned."],
      ["PLN", 490, "Pro kosztuje 590 zł miesięcznie."],
      ["JPY", 4900, "Proプランは月額5,900円です。"],
      ["TRY", 490, "Pro paketi aylık 590 TL."],
      ["PHP", 490, "The Pro plan is ₱590 a month."],
      ["INR", 4900, "The Pro plan is Rs 5900 a month."],
      ["USD", 49, "The Pro plan is USD59 a month."],
    ];
    for (const [currency, price, reply] of cases) {
      expect(unknownPrices(reply, pro(currency, price), [currency]), reply).toHaveLength(1);
      const right = reply.replace("5", "4");
      expect(unknownPrices(right, pro(currency, price), [currency]), right).toEqual([]);
    }
    // "kr", "TL", "Rs" only when the catalogue is in such a currency.
    expect(findPrices("Pro is $49. TL 5 tips: RS 232 on 4 kr boards.", ["USD"]).map((m) => m.text)).toEqual(["$49"]);
  });
  it("refuses 'save 20%', '20 percent off', '20% cheaper', 'a 20% reduction', 'pay 20% less', '-20%'", () => {
    const offers = [
      "Pro is $29, and you save 20% with yearly billing.",
      "Pro is $29 — startups get 20 percent off.",
      "Pro is $29, or 20% cheaper if you pay yearly.",
      "Pro is $29 with a 20% reduction for nonprofits.",
      "Pay yearly and you pay 20% less.",
      "Pro: $29 (-20%)",
    ];
    for (const text of offers) expect(unknownPrices(text, pro("USD", 29)).map((m) => m.amount), text).toEqual([20]);
  });
  it("lets percentages that offer nothing off through", () => {
    const fine = [
      "Pro is $29: 99.9% uptime, trusted by 100% of our customers.",
      "It can save 40% of your team's time and uses 20% less memory.",
      "It answers 10-20% of tickets without help; between 10 - 20% faster.",
    ];
    for (const text of fine) expect(unknownPrices(text, pro("USD", 29)), text).toEqual([]);
  });
});

describe("lead scoring (README: Roles)", () => {
  const cfg = leadsSchema.parse({});

  it("gives points per field with budget, timeline and contact heuristics", () => {
    expect(scoreLead({}, cfg, NOW)).toBe(0);
    expect(scoreLead({ name: "Ann", company: "Acme" }, cfg, NOW)).toBe(25);
    const full = {
      name: "Ann",
      company: "Acme",
      need: "a bot",
      budget: "$5k",
      timeline: "in 3 weeks",
      contact: "+34 600 111 222",
    };
    expect(scoreLead(full, cfg, NOW)).toBe(100);
    expect(scoreLead({ ...full, budget: "flexible", timeline: "someday", contact: "ask Bob" }, cfg, NOW))
      .toBe(73);
    expect(scoreLead({ ...full, budget: "$500" }, leadsSchema.parse({ minBudget: 1000 }), NOW)).toBe(85);
  });

  it("reads budgets and timelines", () => {
    expect([
      budgetAmount("about $5,000"),
      budgetAmount("10-20k EUR"),
      budgetAmount("2M"),
      budgetAmount("tbd"),
    ]).toEqual([5000, 10000, 2_000_000, undefined]);
    expect([budgetAmount("Budget 5.000 €"), budgetAmount("R$ 2.500,00"), budgetAmount("1 500 EUR")])
      .toEqual([5000, 2500, 1500]);
    expect(timelineDays("not right now, maybe in 6 months", NOW)).toBe(180);
    expect(timelineDays("not right now", NOW)).toBe(365);
    expect(timelineDays("we may start in December", NOW)).toBe(Math.round((Date.UTC(2025, 11, 1) - NOW) / DAY));
    expect(timelineDays("May", NOW)).toBe(Math.round((Date.UTC(2025, 4, 1) - NOW) / DAY));
    expect(timelineDays("ASAP", NOW)).toBe(0);
    expect(timelineDays("within 2 months", NOW)).toBe(60);
    expect(timelineDays("next quarter", NOW)).toBe(90);
    expect(timelineDays("by March", NOW)).toBe(Math.round((Date.UTC(2025, 2, 1) - NOW) / DAY));
    expect(timelineDays("no idea", NOW)).toBeUndefined();
  });
});

describe("lead scoring: months and amounts in words", () => {
  it("reads whole month names only ('decide' is no December, 'marketing' no March)", () => {
    const now = Date.UTC(2025, 9, 20);
    expect(timelineDays("once we decide internally", now)).toBeUndefined();
    expect(timelineDays("after the marketing review", now)).toBeUndefined();
    expect(timelineDays("in December", now)).toBe(42);
    expect(timelineDays("by dec", now)).toBe(42);
  });
  it("reads 'thousand', 'million' and thousands separated by spaces", () => {
    expect(budgetAmount("50 thousand dollars")).toBe(50_000);
    expect(budgetAmount("about 2 million USD")).toBe(2_000_000);
    expect(budgetAmount("€1 000 000")).toBe(1_000_000);
    expect(scoreLead({ budget: "50 thousand dollars" }, leadsSchema.parse({ minBudget: 10_000 }), Date.UTC(2025, 9, 20)))
      .toBe(20);
  });
});

describe("lead scoring: ranges joined by 'and', quarters and hours", () => {
  const now = Date.UTC(2025, 5, 15); // mid-June: Q1 is over, Q2 runs, Q4 is 108 days away

  it("a budget range joined by 'and' takes the unit of its second figure, as '10-20k' does", () => {
    expect(budgetAmount("between 10 and 20k")).toBe(10_000);
    expect(scoreLead({ budget: "somewhere between 10 and 20k EUR" }, leadsSchema.parse({ minBudget: 5_000 }), now))
      .toBe(20);
  });

  it("a quarter is as far away as its first day, not always 90 days ('Q1 next year' is not urgent)", () => {
    expect(timelineDays("Q1 next year", now)).toBe(Math.round((Date.UTC(2026, 0, 1) - now) / DAY));
    expect(timelineDays("by Q4", now)).toBe(Math.round((Date.UTC(2025, 9, 1) - now) / DAY));
    expect(timelineDays("Q1", now)).toBe(Math.round((Date.UTC(2026, 0, 1) - now) / DAY)); // this year's is over
    expect(timelineDays("in Q2", now)).toBe(0); // running
    expect(scoreLead({ timeline: "Q1 next year" }, leadsSchema.parse({}), now)).toBe(8); // 15 / 2, rounded
  });

  it("a timeline in hours is a period, and urgent", () => {
    expect(timelineDays("within 48 hours", now)).toBe(2);
    expect(timelineDays("in 5 hrs", now)).toBe(1);
    expect(scoreLead({ timeline: "within 48 hours" }, leadsSchema.parse({}), now)).toBe(15);
  });
});

// Timelines that said they are not urgent ("not really urgent", "no rush for now") were read as 0 days, and a
// stated year ignored ("March 2028" read as this coming March): both got the timeline's full points.
describe("lead scoring: negated urgency and stated years", () => {
  const now = Date.UTC(2026, 11, 2);
  const days = (y: number, m: number) => Math.round((Date.UTC(y, m, 1) - now) / DAY);
  it("a timeline that says it is not urgent is not urgent", () => {
    const notUrgent = [
      "not really urgent",
      "no rush for now",
      "nothing urgent, maybe next year",
      "not needed right now, maybe next year",
    ];
    for (const t of notUrgent) expect(scoreLead({ timeline: t }, leadsSchema.parse({}), now), t).toBe(8);
    expect(timelineDays("not sure, we need it now", now)).toBe(0);
    expect(timelineDays("no later than tomorrow", now)).toBe(0);
  });
  it("a month or quarter with a year is as far away as that year's", () => {
    expect(timelineDays("launch in March 2028", now)).toBe(days(2028, 2));
    expect(timelineDays("Q1 2028", now)).toBe(days(2028, 0));
    expect(timelineDays("by January 2027", now)).toBe(days(2027, 0));
    expect(scoreLead({ timeline: "launch in March 2028" }, leadsSchema.parse({}), now)).toBe(8);
  });
});

describe("extraction parsing", () => {
  it("accepts a JSON object in fences or prose; drops nulls and placeholders", () => {
    expect(parseExtraction('```json\n{"name": "Ann", "company": null, "budget": "n/a", "need": 42}\n```'))
      .toEqual({ name: "Ann", need: "42" });
  });

  // Placeholders outside the list, or with a full stop, were stored as the visitor's answers (and scored).
  it("drops a model's other 'not given' placeholders, with or without a full stop", () => {
    expect(
      parseExtraction(
        '{"name": "Not stated", "company": "None provided", "need": "a support chatbot", "budget": "Unspecified", ' +
          '"timeline": "N/A.", "contact": "Unknown."}',
      ),
    ).toEqual({ need: "a support chatbot" });
  });

  it("yields nothing for junk", () => {
    for (
      const junk of [
        "no json here",
        "{not json}",
        "[1, 2]",
        '{"name": {"first": "Ann"}}',
        '{"name": null}',
        "",
      ]
    ) {
      expect(parseExtraction(junk)).toBeUndefined();
    }
  });
});

describe("operator commands", () => {
  it("parses /reply, /resume, /close, /list with or without a bot name and #", () => {
    expect(parseOperatorCommand("/reply@shop_bot #3 Hello,\nsecond line")).toEqual({
      kind: "reply",
      ref: "3",
      text: "Hello,\nsecond line",
    });
    expect(parseOperatorCommand("/resume web:c1")).toEqual({ kind: "resume", ref: "web:c1" });
    expect(parseOperatorCommand("/close 7")).toEqual({ kind: "close", ref: "7" });
    expect(parseOperatorCommand("/list")).toEqual({ kind: "list" });
    expect(parseOperatorCommand("hello")).toEqual({ kind: "help" });
    expect(parseOperatorCommand("/resume")).toMatchObject({
      kind: "help",
      problem: expect.stringContaining("needs a handoff number"),
    });
  });
});

describe("role config", () => {
  const base = (roles: Record<string, unknown>, agents: unknown[] = []) =>
    JSON.stringify({ agents: [{ name: "o", kind: "orchestrator", port: 9000 }, ...agents], roles });
  /** The telegram agent an operator is reached through. */
  const tg = { name: "tg", kind: "telegram", port: 9001, telegram: { mode: "polling", tokenEnv: "TG_TOKEN" } };

  const issuesOf = (text: string) => {
    try {
      loadConfig(text, {});
    } catch (err) {
      if (err instanceof ConfigError) return err.issues;
      throw err;
    }
    throw new Error("the config was accepted");
  };

  it("names a kind-specific field on the wrong kind, and a bad catalogue currency", () => {
    expect(issuesOf(base({ s: { kind: "support", systemPrompt: "x", leads: {}, catalogue: [] } }))).toEqual([
      { path: "roles.s.leads", message: 'only for kind "leads" (this role is "support")' },
      { path: "roles.s.catalogue", message: 'only for kind "sales" (this role is "support")' },
    ]);
    expect(
      issuesOf(
        base({
          s: { kind: "sales", systemPrompt: "x", catalogue: [{ name: "A", price: 1, currency: "usd" }] },
        }),
      ),
    )
      .toEqual([{ path: "roles.s.catalogue[0].currency", message: 'an ISO 4217 code such as "USD"' }]);
    expect(
      issuesOf(base({ s: { kind: "leads", systemPrompt: "x", operator: { agent: "tg", chatId: "@ops" } } }, [tg])),
    )
      .toEqual([{
        path: "roles.s.operator.chatId",
        message: "a Telegram chat id (digits, negative for groups), or <chat id>/<topic id> for one topic of a forum group",
      }]);
    const topic = base({ s: { kind: "leads", systemPrompt: "x", operator: { agent: "tg", chatId: "-1007/5" } } }, [tg]);
    expect(loadConfig(topic, { TG_TOKEN: "123:abc" }).roles["s"]?.operator?.chatId).toBe("-1007/5");
  });

  // Once only the orchestrator's start refused these, and `config check` said ok (test/config/config.test.ts).
  it("names an operator's agent that is not a telegram agent", () => {
    expect(issuesOf(base({ s: { kind: "support", systemPrompt: "x", operator: { agent: "o", chatId: "1" } } }))).toEqual([{
      path: "roles.s.operator.agent",
      message: '"o" is not a telegram agent (kind orchestrator); name a telegram agent',
    }]);
    expect(issuesOf(base({ s: { kind: "support", systemPrompt: "x", operator: { agent: "tg", chatId: "1" } } }))).toEqual([{
      path: "roles.s.operator.agent",
      message: '"tg" is not a configured agent; name a telegram agent',
    }]);
  });
});
