// WhatsApp cannot edit a message, so a slow turn gets ONE short "working on it" notice first: at once when the
// turn is predicted slow (a llama-cpp provider first in its chain), after `thresholdMs` when it turns out slow,
// never for a quick one, and never twice for one turn (not even when the turn is retried). The notice goes
// through the pair-rate pacing like any message. Real orchestrator, real llama.cpp behind the relay.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { llamaAvailable, llamaMissingMessage } from "../support/llama-server.ts";
import { until } from "../channels/harness.ts";
import { type Harness, sleep, startHarness } from "./harness.ts";

const available = llamaAvailable();
if (!available && process.env["CI"] === "true") throw new Error(llamaMissingMessage());

const NOTICE = "One moment, I'm working on your answer…";
const FALLBACK =
  "Sorry, our assistant is temporarily unavailable. We have your message and will get back to you shortly.";

describe.skipIf(!available)("the WhatsApp working-on-it notice", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      router: {
        deadlineMs: 60_000,
        // The same llama.cpp server twice: as a slow kind (llama-cpp) and as a plain OpenAI-compatible one.
        providers: {
          local: { kind: "llama-cpp", baseUrl: "RELAY", model: "tiny", timeoutMs: 60_000 },
          fast: { kind: "openai-compatible", baseUrl: "RELAY", model: "tiny", timeoutMs: 60_000 },
        },
        chain: ["fast"],
        tiers: { simple: ["fast"], complex: ["local"], "high-value": ["local"] },
        classify: { rules: [{ tier: "complex", keywords: ["slowly"] }], default: "simple" },
        retry: { maxAttempts: 1 },
      },
      wa: { experience: { coalesce: { quietMs: 200 }, notice: { thresholdMs: 1_500 } } },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const sentTo = (user: string) => h.graph.sent.filter((s) => s.to === user);
  const answered = (user: string, n: number) =>
    until(
      () => sentTo(user).filter((s) => s.text !== NOTICE && s.text !== FALLBACK).length >= n,
      60_000,
      `${n} answer(s)`,
    );

  it("a quick turn gets no notice", async () => {
    const user = "15550002001";
    expect(await h.whatsapp("wamid.N1", user, "hello")).toBe(200);
    await answered(user, 1);
    await sleep(2_000);
    expect(sentTo(user).map((s) => s.text)).not.toContain(NOTICE);
    expect(sentTo(user)).toHaveLength(1);
  }, 60_000);

  it(
    "a turn whose chain starts with a slow provider (llama-cpp) gets the notice at once, then the answer, paced",
    async () => {
      const user = "15550002002";
      const before = h.relay.calls.length;
      expect(await h.whatsapp("wamid.N2", user, "please answer slowly")).toBe(200);
      await answered(user, 1);
      await sleep(1_000);
      const sent = sentTo(user);
      expect(sent.map((s) => s.text)).toEqual([NOTICE, h.relay.calls[before]!.text.trim()]);
      // The notice counts against the pair rate (1 s per user in this harness).
      expect(sent[1]!.at - sent[0]!.at).toBeGreaterThanOrEqual(950);
    },
    60_000,
  );

  it("a turn that turns out slow gets the notice after the threshold, once", async () => {
    const user = "15550002003";
    h.relay.script({ kind: "ok", startDelayMs: 4_000 });
    expect(await h.whatsapp("wamid.N3", user, "hello again")).toBe(200);
    await answered(user, 1);
    await sleep(1_000);
    const sent = sentTo(user);
    expect(sent.map((s) => s.text)).toEqual([NOTICE, expect.any(String)]);
    const call = h.relay.calls.at(-1)!;
    expect(sent[0]!.at - call.at).toBeGreaterThanOrEqual(1_400);
    expect(sent[0]!.at - call.at).toBeLessThan(4_000);
  }, 60_000);

  it("never more than one notice per turn, even when the turn is retried after a failure", async () => {
    const user = "15550002004";
    h.relay.script({ kind: "error", status: 500 });
    expect(await h.whatsapp("wamid.N4", user, "explain it slowly")).toBe(200);
    await answered(user, 1);
    await sleep(2_000);
    const texts = sentTo(user).map((s) => s.text);
    expect(texts.filter((t) => t === NOTICE)).toHaveLength(1);
    expect(texts[0]).toBe(NOTICE);
    expect(texts).toContain(FALLBACK);
    expect(texts).toHaveLength(3);
  }, 60_000);
});
