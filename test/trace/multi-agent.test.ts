// `aideazz trace` on a real multi-agent flow: three processes (channel in, orchestrator, channel out), each with
// its own store connection, tracer and flush loop, record one message's stages; the real CLI prints the timeline.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openStore } from "../../src/store/mod.ts";
import { denoBin, repoRoot, runAideazz } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let url: string;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-trace-flow-"));
  url = `file:${join(dir, "flow.db")}`;
  const store = await openStore({ url });
  await migrate(store.client);
  store.close();
});
afterAll(() => cleanup());

function runRole(role: string, traceId: string, chatId: string, base: number): Promise<string> {
  const proc = spawn(denoBin, [
    "run",
    "-A",
    join(repoRoot, "test/trace/support/flow-agent.ts"),
    url,
    role,
    traceId,
    chatId,
    String(base),
  ], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/root", NO_COLOR: "1" },
  });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) => proc.on("exit", () => resolve(out.trim())));
}

/** Starts all three agents at once (the later ones wait for their input stage in the store). */
async function flow(traceId: string, chatId: string, base: number): Promise<void> {
  const outs = await Promise.all([
    runRole("channel-out", traceId, chatId, base),
    runRole("orchestrator", traceId, chatId, base),
    runRole("channel-in", traceId, chatId, base),
  ]);
  expect(outs.map((o) => o.split("\n").at(-1))).toEqual(["done", "done", "done"]);
}

const TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_B = "00f067aa0ba902b7a3ce929d0e0e4736";
const BASE = Date.UTC(2025, 5, 1, 12, 0, 0);

/** The timeline's rows as [at, Δ prev, agent, stage, took] (detail left out). */
function rows(stdout: string): string[][] {
  const lines = stdout.split("\n");
  const head = lines.findIndex((l) => /^\s+at\s+Δ prev\s+agent\s+stage/.test(l));
  return lines.slice(head + 1).filter((l) => l.trim() !== "").map((l) => {
    const m = /^\s+(\+[\d,.]+ m?s)\s+(\+[\d,.]+ m?s)?\s*(\S+)\s+(\S+)\s+(\d[\d.]* m?s)?/.exec(l);
    return m ? [m[1]!, m[2] ?? "", m[3]!, m[4]!, m[5] ?? ""] : [l];
  });
}

describe("aideazz trace on a multi-agent flow", () => {
  it("prints every agent's stages in order with their offsets, gaps and durations", async () => {
    await flow(TRACE_A, "4242", BASE);
    const r = await runAideazz(["trace", TRACE_A, "--db", url]);
    expect(r.stderr).not.toMatch(/trace:|error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`trace ${TRACE_A}`);
    expect(r.stdout).toContain(
      "chat telegram-support:4242 · started 2025-06-01 12:00:00.000 UTC · 1.1 s across 2 agents · last stage: sent",
    );
    expect(rows(r.stdout)).toEqual([
      ["+0 ms", "", "telegram-support", "received", ""],
      ["+4 ms", "+4 ms", "telegram-support", "stored", ""],
      ["+15 ms", "+11 ms", "orchestrator", "claimed", ""],
      ["+16 ms", "+1 ms", "orchestrator", "cache", ""],
      ["+17 ms", "+1 ms", "orchestrator", "route", ""],
      ["+18 ms", "+1 ms", "orchestrator", "provider", "120 ms"],
      ["+140 ms", "+122 ms", "orchestrator", "retry", ""],
      ["+141 ms", "+1 ms", "orchestrator", "provider", "900 ms"],
      ["+1,045 ms", "+904 ms", "orchestrator", "reply_queued", ""],
      ["+1,080 ms", "+35 ms", "telegram-support", "sent", "35 ms"],
    ]);
    expect(r.stdout).toMatch(/route\s+tier=simple chain=groq,claude reason="short question"/);
    expect(r.stdout).toMatch(/sent\s+35 ms\s+platformMessageId=msg-77/);
  }, 120_000);

  it("finds traces by chat id and by last, and says clearly when nothing matches", async () => {
    await flow(TRACE_B, "4242", BASE + 60_000);
    const byChat = await runAideazz(["trace", "chat:4242", "--db", url]);
    expect(byChat.code).toBe(0);
    // Oldest first, so the latest message ends the output.
    expect(byChat.stdout.indexOf(`trace ${TRACE_A}`)).toBeLessThan(byChat.stdout.indexOf(`trace ${TRACE_B}`));
    const last = await runAideazz(["trace", "last", "--db", url]);
    expect(last.stdout).toContain(`trace ${TRACE_B}`);
    expect(last.stdout).not.toContain(TRACE_A);
    const prefix = await runAideazz(["trace", TRACE_B.slice(0, 8), "--db", url, "--json"]);
    const events = JSON.parse(prefix.stdout) as { stage: string; agent: string }[];
    expect(events.map((e) => e.stage)).toEqual([
      "received",
      "stored",
      "claimed",
      "cache",
      "route",
      "provider",
      "retry",
      "provider",
      "reply_queued",
      "sent",
    ]);
    const none = await runAideazz(["trace", "chat:999", "--db", url]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('trace: no traces for chat "999"');
    const bad = await runAideazz(["trace", "zzz", "--db", url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"zzz" is not a trace id');
    expect((await runAideazz(["trace", "chat:", "--db", url])).code).toBe(2);
  }, 120_000);
});
