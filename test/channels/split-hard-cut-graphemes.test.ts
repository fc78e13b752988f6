// splitText's hard cut (no space, no line) must not split what shows as one character where it straddles the limit:
// a flag, an emoji with its skin tone, a zero-width-joiner sequence. Their second half is the high surrogate at the
// limit, which a segmenter reading only up to `limit + 1` would take for a character of its own.
import { describe, expect, it } from "vitest";
import { splitText } from "../../src/agents/channel/split.ts";
import { TELEGRAM_TEXT_LIMIT } from "../../src/agents/telegram/send.ts";

const graphemes = (t: string) => [...new Intl.Segmenter("en", { granularity: "grapheme" }).segment(t)].map((g) => g.segment);

describe("splitText: a hard cut at the limit", () => {
  it("a wall of flags offset by two units keeps every flag whole (no 🇺 | 🇦 cut, no 🇦🇺 flags in part 2)", () => {
    // Two units before the flags (no space anywhere): the flag at 4094..4097 straddles the 4,096 limit.
    const text = `!!${"🇺🇦".repeat(1100)}`;
    const parts = splitText(text, TELEGRAM_TEXT_LIMIT);
    expect(parts.join("")).toBe(text);
    // What the user sees as the last character of message 1 and the first of message 2.
    expect(graphemes(parts[0]!).at(-1)).toBe("🇺🇦");
    expect(graphemes(parts[1]!)[0]).toBe("🇺🇦");
  });

  it("an emoji with its skin tone straddling the limit is not cut from its modifier", () => {
    const text = `${"a".repeat(4094)}👍🏽${"a".repeat(10)}`; // 👍 at 4094..4095, 🏽 at 4096..4097
    const parts = splitText(text, TELEGRAM_TEXT_LIMIT);
    expect(parts.join("")).toBe(text);
    expect(parts[1]!.startsWith("🏽")).toBe(false);
    expect(graphemes(parts.join("|")).includes("👍🏽")).toBe(true);
  });

  it("a zero-width-joiner sequence straddling the limit stays one character (👩‍💻, not 👩‍ | 💻)", () => {
    const text = `${"a".repeat(4093)}👩‍💻${"a".repeat(10)}`; // 👩 4093..4094, ZWJ 4095, 💻 4096..4097
    const parts = splitText(text, TELEGRAM_TEXT_LIMIT);
    expect(parts.join("")).toBe(text);
    expect(parts[0]!.endsWith("\u200d")).toBe(false);
    expect(parts[1]!.startsWith("💻")).toBe(false);
  });
});
