// A hostile client on the internet against real agents under Deno (the production runtime: Deno.serve, not the Node
// adapter of the in-process agents), with raw TCP sockets.
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readVmRss, STOP_TIMEOUT_SEC } from "../../src/ops/mod.ts";
import { toBytes } from "../../src/ops/sizes.ts";
import { connect, type DenoAgent, exitWithin, startDenoAgent, write } from "../support/deno-agent.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-http-abuse-")));
afterAll(() => cleanup());

// SIGTERM is the graceful stop of every rolling restart, recycle and `systemctl stop`: a request whose body never
// completed once held it (Deno's server shutdown waits for every request) until systemd's SIGKILL, 30 s of 503s.
describe("graceful stop with a client holding a request open", () => {
  it("a web chat POST whose body never completes does not keep SIGTERM from stopping the agent (exit 0 within TimeoutStopSec)", async () => {
    const agent: DenoAgent = await startDenoAgent(dir, { name: "web", kind: "webchat" });
    let held: Socket | undefined;
    try {
      // One public client: a JSON post announcing 1,000 bytes and sending one.
      held = await connect(agent.port);
      await write(
        held,
        "POST /api/messages HTTP/1.1\r\nHost: chat.example\r\nContent-Type: application/json\r\n" +
          "Content-Length: 1000\r\n\r\n{",
      );
      await new Promise((r) => setTimeout(r, 1_000));

      agent.child.proc.kill("SIGTERM");
      // systemd's budget, plus 10 s of slack for a loaded machine; a normal stop takes well under a second.
      const code = await exitWithin(agent, (STOP_TIMEOUT_SEC + 10) * 1_000);
      expect(
        { code, stopped: agent.child.output().includes('"msg":"agent stopped"') },
        `after SIGTERM; the agent's output:\n${agent.child.output().slice(-2_000)}`,
      ).toEqual({ code: 0, stopped: true });
    } finally {
      held?.destroy();
      agent.child.proc.kill("SIGKILL");
      await agent.exited;
    }
  }, 120_000);
});

// The signature is over the raw body, so the body is read before it can be checked: a client without the app secret
// once held twenty 4 MiB bodies open (their last byte never sent), taking the agent past its MemoryMax.
const env = { WA_APP_SECRET: "meta-app-secret-0123456789abcdef", WA_TOKEN: "EAAJB-fake-token", WA_VERIFY: "verify-me" };
/** The default MemoryMax of an agent's unit (src/ops/render.ts). */
const DEFAULT_MEMORY_MAX = toBytes("256M");
const MiB = 1024 * 1024;

/** A WhatsApp agent whose Graph API is never called: nothing sent to it here is signed. */
function startWhatsApp(name: string): Promise<DenoAgent> {
  return startDenoAgent(dir, {
    name,
    kind: "whatsapp",
    whatsapp: {
      phoneNumberId: "106540352242922",
      appSecretEnv: "WA_APP_SECRET",
      accessTokenEnv: "WA_TOKEN",
      verifyTokenEnv: "WA_VERIFY",
      graphBaseUrl: "http://127.0.0.1:9/v21.0",
    },
  }, env);
}

/** The agent's largest VmRSS from `peak` on, over the next 5 s, while the client holds every request open. */
async function peakRss(agent: DenoAgent, peak: number): Promise<number> {
  for (let i = 0; i < 25; i++) {
    peak = Math.max(peak, readVmRss(agent.pid) ?? 0);
    await new Promise((r) => setTimeout(r, 200));
  }
  return peak;
}

describe("whatsapp webhook: unsigned bodies from one client", () => {
  it("20 unsigned 4 MiB posts held open (last byte never sent) keep the agent under its default MemoryMax", async () => {
    const agent = await startWhatsApp("wa");
    const held: Socket[] = [];
    try {
      const before = readVmRss(agent.pid)!;
      const length = 4 * MiB; // MAX_BODY_BYTES: accepted by the Content-Length check
      const body = new Uint8Array(length - 1).fill(0x61);
      for (let i = 0; i < 20; i++) {
        const s = await connect(agent.port);
        held.push(s);
        await write(
          s,
          "POST /whatsapp/webhook HTTP/1.1\r\nHost: wa.example\r\nContent-Type: application/json\r\n" +
            `X-Hub-Signature-256: sha256=${"0".repeat(64)}\r\nContent-Length: ${length}\r\n\r\n`,
        );
        await write(s, body);
      }
      const peak = await peakRss(agent, 0);
      expect(
        Math.round(peak / MiB),
        `agent RSS in MiB with 20 unsigned bodies held (${Math.round(before / MiB)} MiB before; MemoryMax 256M)`,
      ).toBeLessThan(DEFAULT_MEMORY_MAX / MiB);
    } finally {
      for (const s of held) s.destroy();
      agent.child.proc.kill("SIGKILL");
      await agent.exited;
    }
  }, 120_000);

  // Hono's bodyLimit once read a chunked body (no Content-Length) whole before the route, outside its budget.
  it("60 unsigned chunked bodies of 4 MiB held open (last chunk never sent) keep the agent under its default MemoryMax", async () => {
    const agent = await startWhatsApp("wachunked");
    const held: Socket[] = [];
    try {
      const part = new Uint8Array(MiB).fill(0x61);
      const chunk = new Uint8Array([...new TextEncoder().encode(`${MiB.toString(16)}\r\n`), ...part, 13, 10]);
      let peak = 0;
      for (let i = 0; i < 60; i++) {
        const s = await connect(agent.port);
        held.push(s);
        await write(
          s,
          "POST /whatsapp/webhook HTTP/1.1\r\nHost: wa.example\r\nContent-Type: application/json\r\n" +
            `X-Hub-Signature-256: sha256=${"0".repeat(64)}\r\nTransfer-Encoding: chunked\r\n\r\n`,
        );
        // Short of 4 MiB: within the size limit, and never ended.
        for (let k = 0; k < 4 && !s.destroyed; k++) await write(s, k < 3 ? chunk : chunk.subarray(0, 100));
        peak = Math.max(peak, readVmRss(agent.pid) ?? 0);
      }
      peak = await peakRss(agent, peak);
      expect(
        Math.round(peak / MiB),
        "agent RSS in MiB with 60 unsigned chunked bodies held (MemoryMax 256M)",
      ).toBeLessThan(DEFAULT_MEMORY_MAX / MiB);
    } finally {
      for (const s of held) s.destroy();
      agent.child.proc.kill("SIGKILL");
      await agent.exited;
    }
  }, 180_000);
});
