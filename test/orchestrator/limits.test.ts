// Per-user abuse limits (RELIABILITY.md F3) on a real store with a moved clock: the minute slides (a flood that
// straddles a minute boundary is not let through twice), one notice a minute, and the daily token budget.
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createUserLimits, type LimitVerdict } from "../../src/agents/orchestrator/limits.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let store: Store;
let n = 0;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-limits-")));
afterAll(async () => {
  store.close();
  await cleanup();
});
beforeEach(async () => {
  store?.close();
  store = await openStore({ url: `file:${join(dir, `l${n++}.db`)}` });
  await migrate(store.client);
});

const DAY = Date.UTC(2026, 10, 27);
function limits(o: { perMinute?: number; dailyTokens?: number } = {}) {
  let t = DAY;
  const l = createUserLimits({
    client: store.client,
    now: () => t,
    perMinute: o.perMinute ?? 20,
    dailyTokens: o.dailyTokens ?? 1_000_000,
  });
  return { l, at: (ms: number) => void (t = DAY + ms) };
}

async function send(l: ReturnType<typeof limits>["l"], count: number, user = "tg:1"): Promise<LimitVerdict[]> {
  const out: LimitVerdict[] = [];
  for (let i = 0; i < count; i++) out.push(await l.admit(user));
  return out;
}
const admitted = (vs: LimitVerdict[]) => vs.filter((v) => v.ok).length;
const notices = (vs: LimitVerdict[]) => vs.filter((v) => !v.ok && v.notify).length;

describe("abuse limits (F3)", () => {
  it("a flood straddling a minute boundary gets the limit once in any 60 s, and one notice", async () => {
    const { l, at } = limits();
    at(59_000);
    const before = await send(l, 30); // the last second of a minute
    at(60_500);
    const after = await send(l, 30); // the first second of the next
    expect(admitted(before)).toBe(20);
    expect(admitted(after)).toBe(0);
    expect(notices([...before, ...after])).toBe(1);
    expect(before.find((v) => !v.ok)).toMatchObject({ reason: "rate" });
  });

  it("a steady user under the limit is never refused; a flooder is answered again once the flood has passed", async () => {
    const { l, at } = limits({ perMinute: 6 });
    for (let s = 0; s < 180; s += 12) { // one message every 12 s: 5 in any 60 s
      at(s * 1_000);
      expect(await l.admit("steady")).toEqual({ ok: true });
    }
    at(200_000);
    expect(admitted(await send(l, 10, "flood"))).toBe(6);
    at(230_000);
    expect(await l.admit("flood")).toMatchObject({ ok: false, notify: false }); // 10 + 1 in the last 60 s
    at(262_000); // the next minute, 22 s in: 1 + 11 × 38/60 ≈ 8 counted
    expect(await l.admit("flood")).toMatchObject({ ok: false });
    at(280_000); // 40 s in: 2 (the refused one counts too) + 11 × 20/60 ≈ 5.7
    expect(await l.admit("flood")).toEqual({ ok: true });
  });

  it("one notice per 60 s, however the minutes fall", async () => {
    const { l, at } = limits({ perMinute: 1 });
    const vs: LimitVerdict[] = [];
    for (let s = 30; s < 150; s += 5) {
      at(s * 1_000);
      vs.push(await l.admit("tg:2"));
    }
    // Refused from 35 s on; notices at 35 s and 95 s (not again at the minute marks 60 and 120 s).
    expect(vs.filter((v) => !v.ok && v.notify).length).toBe(2);
  });

  it("the daily token budget refuses a model call once spent, and opens again the next UTC day", async () => {
    const { l, at } = limits({ dailyTokens: 1_000 });
    at(3_600_000);
    expect(await l.admit("wa:9")).toEqual({ ok: true });
    const first = await l.hold({ user: "wa:9" }, 900);
    expect(first.ok).toBe(true);
    if (first.ok) await l.settle(first.hold, 600); // what the call used replaces the hold
    const second = await l.hold({ user: "wa:9" }, 900);
    if (second.ok) await l.settle(second.hold, 400);
    expect(await l.hold({ user: "wa:9" }, 900)).toEqual({ ok: false, reason: "tokens", notify: true });
    expect(await l.hold({ user: "wa:9" }, 900)).toEqual({ ok: false, reason: "tokens", notify: false });
    expect(await l.admit("wa:9")).toEqual({ ok: true }); // the rate limit is another matter
    expect((await l.hold({ user: "wa:8" }, 900)).ok).toBe(true); // per user
    at(24 * 3_600_000 + 60_000);
    expect((await l.hold({ user: "wa:9" }, 900)).ok).toBe(true);
  });

  it("a user's model calls at once (several chats) cannot all pass: each holds its tokens before it starts", async () => {
    const { l } = limits({ dailyTokens: 5_000 });
    await l.spend({ user: "tg:1" }, 4_990);
    const holds = await Promise.all(Array.from({ length: 10 }, () => l.hold({ user: "tg:1" }, 2_500)));
    expect(holds.filter((h) => h.ok)).toHaveLength(1);
    for (const h of holds) if (h.ok) await l.settle(h.hold, 2_300);
    expect(await l.hold({ user: "tg:1" }, 1)).toMatchObject({ ok: false, reason: "tokens" });
    const row = (await store.client.execute("SELECT tokens FROM user_tokens WHERE user_key = 'tg:1'")).rows[0];
    expect(Number(row?.["tokens"])).toBe(4_990 + 2_300);
  });

  it("a web chat address's budget is held with its user's: on both rows or on neither", async () => {
    const { l, at } = limits({ dailyTokens: 1_000 });
    const address = { key: "address:web:h1", dailyTokens: 1_500 };
    const tokens = async () =>
      Object.fromEntries((await store.client.execute("SELECT user_key, tokens FROM user_tokens")).rows.map((r) => [r["user_key"], r["tokens"]]));
    const a = await l.hold({ user: "webchat:a", address }, 900);
    if (a.ok) await l.settle(a.hold, 800);
    const b = await l.hold({ user: "webchat:b", address }, 900);
    if (b.ok) await l.settle(b.hold, 800); // 800 < 1,500 held: the call crossing the address's budget passes
    await l.spend({ user: "webchat:b", address }, 50); // a role's follow-up call counts on both rows too
    expect(await tokens()).toEqual({ "webchat:a": 800, "webchat:b": 850, "address:web:h1": 1_650 });
    // A new session of that address: refused (its one notice), and nothing taken from its own row.
    expect(await l.admit("webchat:c")).toEqual({ ok: true });
    expect(await l.hold({ user: "webchat:c", address }, 900)).toEqual({ ok: false, reason: "tokens", notify: true });
    // A user over their own budget: refused, and nothing taken from the address's row.
    const other = { key: "address:web:h2", dailyTokens: 1_500 };
    await l.spend({ user: "webchat:d" }, 1_000);
    expect(await l.hold({ user: "webchat:d", address: other }, 900)).toMatchObject({ ok: false, reason: "tokens" });
    expect(await tokens()).toEqual({ "webchat:a": 800, "webchat:b": 850, "address:web:h1": 1_650, "webchat:d": 1_000 });
    expect((await l.hold({ user: "webchat:e", address: other }, 900)).ok).toBe(true);
    at(24 * 3_600_000);
    expect((await l.hold({ user: "webchat:c", address }, 900)).ok).toBe(true);
  });

  it("a failed call's hold is given back", async () => {
    const { l } = limits({ dailyTokens: 1_000 });
    const h = await l.hold({ user: "tg:2" }, 800);
    if (h.ok) await l.settle(h.hold, 0);
    expect((await l.hold({ user: "tg:2" }, 800)).ok).toBe(true);
    expect((await l.hold({ user: "tg:2" }, 800)).ok).toBe(true); // 800 < 1,000 held: the call crossing the budget passes
    expect((await l.hold({ user: "tg:2" }, 800)).ok).toBe(false);
  });
});
