// The shared channel parts: splitting, pacing, constant-time checks, commands, the 24 h window, error classes.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseCommand } from "../../src/agents/channel/commands.ts";
import { createPacer } from "../../src/agents/channel/pacer.ts";
import { splitText } from "../../src/agents/channel/split.ts";
import { hmacKey, timingSafeEqualText, verifyHmacSha256Hex } from "../../src/agents/channel/verify.ts";
import { toGraphOutcome } from "../../src/agents/whatsapp/errors.ts";
import { WINDOW_MS, windowState } from "../../src/agents/whatsapp/window.ts";
import { virtualClock } from "./clock.ts";

describe("splitText", () => {
  it("keeps a short text whole and trims it", () => {
    expect(splitText("  hello  ", 4096)).toEqual(["hello"]);
    expect(splitText("   ", 4096)).toEqual([]);
  });

  it("cuts on a paragraph boundary first", () => {
    const a = "A".repeat(3000);
    const b = "B".repeat(3000);
    expect(splitText(`${a}\n\n${b}`, 4096)).toEqual([a, b]);
  });

  it("cuts on a sentence boundary when a paragraph is too long", () => {
    const sentence = "This is one sentence of a long answer. ";
    const text = sentence.repeat(200).trim();
    const parts = splitText(text, 4096);
    expect(parts.length).toBe(2);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(4096);
      expect(p.endsWith(".")).toBe(true);
    }
    expect(parts.join(" ")).toBe(text);
  });

  it("falls back to words, then to a hard cut that never splits a surrogate pair", () => {
    const words = Array.from({ length: 1000 }, (_, i) => `word${i}`).join(" ");
    const parts = splitText(words, 100);
    expect(parts.every((p) => p.length <= 100 && !p.startsWith(" "))).toBe(true);
    expect(parts.join(" ")).toBe(words);
    const emoji = "😀".repeat(3000); // 6000 UTF-16 units, no boundary at all
    const cut = splitText(emoji, 4095);
    expect(cut.every((p) => p.length <= 4095)).toBe(true);
    expect(cut.join("")).toBe(emoji);
    expect(cut.every((p) => !/[\uD800-\uDBFF]$/.test(p))).toBe(true);
  });

  it("cuts a long Chinese or Japanese answer after a full stop (。！？ take no space after them)", () => {
    for (const sentence of ["这是一个很长的回答中的一句话。", "これは長い答えの一文です！"]) {
      const text = sentence.repeat(Math.ceil(6_000 / sentence.length));
      const parts = splitText(text, 4096);
      expect(parts.length).toBe(2);
      expect(parts.join("")).toBe(text);
      expect(parts[0]!.length).toBeLessThanOrEqual(4096);
      expect(parts[0]!.endsWith(sentence.at(-1)!)).toBe(true);
    }
  });

  it("a hard cut never splits what shows as one character: a skin tone, a flag, a combining mark", () => {
    const graphemes = (t: string) => [...new Intl.Segmenter("en", { granularity: "grapheme" }).segment(t)].map((g) => g.segment);
    for (const unit of ["👍🏽", "🇺🇸", "e\u0301", "👨‍👩‍👧"]) {
      const text = `a${unit.repeat(Math.ceil(6_000 / unit.length))}`; // no boundary; offset by one unit
      const parts = splitText(text, 4096);
      expect(parts.join("")).toBe(text);
      expect(parts.every((p) => p.length <= 4096)).toBe(true);
      expect(graphemes(parts[0]!).at(-1)).toBe(unit);
      expect(graphemes(parts[1]!).every((g) => g === unit)).toBe(true);
    }
    // One grapheme longer than the limit (a letter under hundreds of combining marks) is still cut to fit.
    const zalgo = `a${"\u0301".repeat(5000)}`;
    expect(splitText(zalgo, 4096).every((p) => p.length <= 4096)).toBe(true);
  });

  it("every piece of a 20,000-character answer fits Telegram's 4,096 limit", () => {
    const text = Array.from({ length: 60 }, (_, i) => `Paragraph ${i}. ${"Some words here. ".repeat(20)}`)
      .join("\n\n");
    const parts = splitText(text, 4096);
    expect(parts.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(4096);
    expect(parts.every((p) => /^Paragraph \d+\./.test(p))).toBe(true);
  });
});

describe("createPacer", () => {
  it("keeps a per-chat gap and a global rate", async () => {
    const clock = virtualClock();
    const pacer = createPacer({ perKeyMs: 1000, perSecond: 30, now: clock.now, sleep: clock.sleep });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      await pacer.wait("chat-a");
      times.push(clock.now());
    }
    expect(times.map((t) => t - times[0]!)).toEqual([0, 1000, 2000, 3000, 4000]);
    const start = clock.now();
    const others: number[] = [];
    for (let i = 0; i < 30; i++) {
      await pacer.wait(`chat-${i}`);
      others.push(clock.now() - start);
    }
    // 30 different chats: about 1/30 s apart, so 30 sends take about a second.
    expect(others.at(-1)!).toBeGreaterThanOrEqual(29 * (1000 / 30) - 1);
  });

  it("defer pushes one chat's next slot later, or every chat's", async () => {
    const clock = virtualClock();
    const pacer = createPacer({ perKeyMs: 0, perSecond: 1000, now: clock.now, sleep: clock.sleep });
    const t0 = clock.now();
    pacer.defer("x", "chat", t0 + 5000);
    await pacer.wait("y");
    expect(clock.now() - t0).toBeLessThan(10);
    await pacer.wait("x");
    expect(clock.now() - t0).toBeGreaterThanOrEqual(5000);
    pacer.defer("z", "all", clock.now() + 7000);
    const before = clock.now();
    await pacer.wait("z");
    expect(clock.now() - before).toBeGreaterThanOrEqual(7000);
  });
});

describe("constant-time checks", () => {
  it("timingSafeEqualText compares whole strings", () => {
    expect(timingSafeEqualText("secret", "secret")).toBe(true);
    for (const other of ["", "secre", "secret ", "Secret", "x".repeat(300)]) {
      expect(timingSafeEqualText(other, "secret")).toBe(false);
    }
  });

  it("verifyHmacSha256Hex accepts only the HMAC of these exact bytes", () => {
    const key = hmacKey("app-secret");
    const body = new TextEncoder().encode('{"a": 1}');
    const good = createHmac("sha256", "app-secret").update(body).digest("hex");
    expect(verifyHmacSha256Hex(key, body, good)).toBe(true);
    expect(verifyHmacSha256Hex(key, body, good.toUpperCase())).toBe(true);
    expect(verifyHmacSha256Hex(key, new TextEncoder().encode('{"a":1}'), good)).toBe(false);
    expect(verifyHmacSha256Hex(key, body, good.slice(2))).toBe(false);
    expect(verifyHmacSha256Hex(key, body, "zz".repeat(32))).toBe(false);
  });
});

describe("parseCommand", () => {
  it("recognizes the four commands with @botname and arguments", () => {
    expect(parseCommand("/start")).toEqual({ command: "start", text: "/start" });
    expect(parseCommand(" /HELP@Example_bot ")).toEqual({ command: "help", text: "/help" });
    expect(parseCommand("/human I need a person")).toEqual({
      command: "human",
      text: "/human I need a person",
    });
    expect(parseCommand("/reset")).toEqual({ command: "reset", text: "/reset" });
    expect(parseCommand("/pricing")).toBeUndefined();
    expect(parseCommand("what is /start?")).toBeUndefined();
  });
});

describe("windowState (24 h window)", () => {
  const t0 = 1_750_000_000_000;
  it("never-opened → open on inbound → closed after 24 h (minus a margin) → open again", () => {
    expect(windowState(undefined, t0)).toEqual({ state: "never-opened" });
    expect(windowState(t0, t0 + 1000).state).toBe("open");
    expect(windowState(t0, t0 + WINDOW_MS - 120_000).state).toBe("open");
    expect(windowState(t0, t0 + WINDOW_MS - 30_000).state).toBe("closed");
    expect(windowState(t0, t0 + 25 * 3600_000).state).toBe("closed");
    expect(windowState(t0 + 25 * 3600_000, t0 + 25 * 3600_000 + 5).state).toBe("open");
  });
});

describe("toGraphOutcome (RELIABILITY.md retry classes)", () => {
  const err = (code: number, status = 400) => ({
    ok: false as const,
    status,
    error: { code, message: `(#${code})` },
  });
  const template = { type: "template" as const, name: "follow_up", language: "en_US" };
  it("never retries 131047, 131026, 1320xx, 131049", () => {
    for (const code of [131047, 131026, 132000, 132001, 132015, 131049]) {
      expect(toGraphOutcome(err(code), 1, undefined).kind).toBe("failed");
    }
    expect(toGraphOutcome(err(131047), 1, template)).toMatchObject({ kind: "failed", instead: template });
  });

  it("auth errors (190, 0, 102) hold every send for 30 s doubling to 5 min, never retried at once nor dropped", () => {
    for (const code of [190, 0, 102]) expect(toGraphOutcome(err(code), 1, undefined)).toMatchObject({ kind: "retry", scope: "all" });
    expect([1, 2, 5, 9].map((a) => (toGraphOutcome(err(190), a, undefined) as { afterMs: number }).afterMs))
      .toEqual([30_000, 60_000, 300_000, 300_000]);
  });

  it("retries 4, 80007, 130429, 131056, 131048, 131000, 133004 with back-off; 131056 waits 4^X s for that user", () => {
    for (const code of [4, 80007, 130429, 131056, 131048, 131000, 133004]) {
      expect(toGraphOutcome(err(code), 1, undefined).kind).toBe("retry");
    }
    expect([1, 2, 3].map((x) => (toGraphOutcome(err(131056), x, undefined) as { afterMs: number }).afterMs))
      .toEqual([4000, 16000, 64000]);
    expect(toGraphOutcome(err(131056), 1, undefined)).toMatchObject({ scope: "chat" });
    expect(toGraphOutcome(err(130429), 1, undefined)).toMatchObject({ scope: "all" });
    expect(toGraphOutcome(err(131048), 1, undefined)).toMatchObject({ scope: "all" });
    expect(toGraphOutcome({ ok: false, status: 0, network: "unsent" }, 1, undefined).kind).toBe("retry");
    expect(toGraphOutcome({ ok: false, status: 0, network: "unknown" }, 1, undefined).kind).toBe("unknown");
    expect(toGraphOutcome({ ok: false, status: 503, error: undefined }, 1, undefined).kind).toBe("retry");
  });

  it("retries the codes Meta calls temporary (2, 131016, 131057) whatever the HTTP status; 131057 holds every send", () => {
    for (const code of [2, 131016, 131057]) expect(toGraphOutcome(err(code), 1, undefined).kind).toBe("retry");
    expect(toGraphOutcome(err(131057), 1, undefined)).toMatchObject({ scope: "all" });
  });
});
