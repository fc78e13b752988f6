import { describe, expect, it } from "vitest";
import { createLogger } from "../src/log.ts";

const TOKEN = "7111222333:AAH-very-secret-token-value";
const KEY = 'sk-ant-"quoted"\\key';

function capture() {
  const lines: string[] = [];
  const log = createLogger({ agent: "tg", secrets: [TOKEN, KEY, "abc"], write: (l) => lines.push(l), now: () => 0 });
  return { log, lines };
}

describe("logger", () => {
  it("writes one JSON object per line with time, level, agent, message and fields", () => {
    const { log, lines } = capture();
    log.with({ trace: "t-1" }).info("message sent", { chat: 42 });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith("\n")).toBe(true);
    expect(JSON.parse(lines[0]!)).toEqual({
      time: "1970-01-01T00:00:00.000Z",
      level: "info",
      agent: "tg",
      msg: "message sent",
      trace: "t-1",
      chat: expect.stringMatching(/^h:[0-9a-f]{12}$/),
    });
  });

  it("redacts every configured secret by value: raw, inside URLs, URL-encoded, JSON-escaped, in errors", () => {
    const { log, lines } = capture();
    log.error(`GET https://api.telegram.org/bot${TOKEN}/getMe failed`);
    log.warn("retry", { url: `https://x/?t=${encodeURIComponent(TOKEN)}`, err: new Error(`bad key ${KEY}`) });
    log.info("nested", { deep: { list: [TOKEN] } });
    const all = lines.join("");
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(encodeURIComponent(TOKEN));
    expect(all).not.toContain(JSON.stringify(KEY).slice(1, -1));
    expect(all.match(/\[redacted\]/g)).toHaveLength(4);
    // every line is still valid JSON after redaction
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  it("redacts a secret URL-encoded with lower-case hex or as a form value, and JSON-escaped twice", () => {
    const { log, lines } = capture();
    const lower = encodeURIComponent(TOKEN).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase());
    log.warn("proxy said", { body: `bot${lower}/getMe`, form: new URLSearchParams({ key: KEY }).toString() });
    log.info("nested JSON", { payload: JSON.stringify({ key: KEY }) });
    const all = lines.join("");
    expect(all).not.toContain(lower);
    expect(all).not.toContain(new URLSearchParams({ key: KEY }).toString().slice(4));
    expect(all).not.toContain("quoted");
    expect(all.match(/\[redacted\]/g)).toHaveLength(3);
  });

  it("does not treat very short values as secrets (they would blank ordinary words)", () => {
    const { log, lines } = capture();
    log.info("abc def");
    expect(JSON.parse(lines[0]!).msg).toBe("abc def");
  });

  it("drops lines below the configured level", () => {
    const lines: string[] = [];
    const log = createLogger({ agent: "a", secrets: [], write: (l) => lines.push(l), level: "warn" });
    log.debug("d");
    log.info("i");
    log.warn("w");
    expect(lines.map((l) => JSON.parse(l).level)).toEqual(["warn"]);
  });
});

describe("logger and personal data (F4)", () => {
  it("replaces email addresses and phone numbers in messages and fields, keeps times and ordinary numbers", () => {
    const { log, lines } = capture();
    log.info("contact jane.doe+shop@example.co.uk or +34 612 345 678", {
      note: "call 0044-20-7946-0958 at 2026-11-27 10:30",
      count: 12345678901,
    });
    const rec = JSON.parse(lines[0]!);
    expect(rec.msg).toBe("contact [email] or [phone]");
    expect(rec.note).toBe("call [phone] at 2026-11-27 10:30");
    expect(rec.count).toBe(12345678901);
    expect(rec.time).toBe("1970-01-01T00:00:00.000Z");
    // systemd unit names look like addresses; the operator needs them in the journal.
    log.warn("not restarting", { unit: "aideazz-agent@webchat.service", reason: "see aideazz-agent@wa1.service.d/limits.conf" });
    expect(JSON.parse(lines[1]!)).toMatchObject({
      unit: "aideazz-agent@webchat.service",
      reason: "see aideazz-agent@wa1.service.d/limits.conf",
    });
    log.info("from jane@shop.service.com and ops@example.services");
    expect(JSON.parse(lines[2]!).msg).toBe("from [email] and [email]");
    // A WhatsApp chat key is the agent's name, ":" and the user's number.
    log.info("chat wa1:15551234567 paused", { key: "wa1:+15551234567", at: "10:30:45" });
    expect(JSON.parse(lines[3]!)).toMatchObject({ msg: "chat wa1:[phone] paused", key: "wa1:[phone]", at: "10:30:45" });
  });

  it("hashes user and chat ids: stable per id, different across ids, never the raw value", () => {
    const { log, lines } = capture();
    log.info("a", { chat: "34612345678", userId: 42 });
    log.info("b", { chat: "34612345678", userId: 43 });
    const [a, b] = lines.map((l) => JSON.parse(l));
    expect(a.chat).toMatch(/^h:[0-9a-f]{12}$/);
    expect(a.chat).toBe(b.chat);
    expect(a.userId).not.toBe(b.userId);
    expect(lines.join("")).not.toContain("34612345678");
  });
});
