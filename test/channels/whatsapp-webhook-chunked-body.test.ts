// A body sent chunked (Transfer-Encoding, no Content-Length) is read under the same bounds as any other before its
// signature is checked: at most UNVERIFIED_BUDGET_BYTES of such bodies at once (503 + Retry-After past it) and at most
// MAX_BODY_BYTES each (413). Hono's bodyLimit once read a chunked body whole itself, before the route: neither bound
// applied, and a client without the app secret could hold any number of 4 MiB bodies open.
import type { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INBOUND_TOPIC } from "../../src/bus/envelopes.ts";
import { MAX_BODY_BYTES, UNVERIFIED_BUDGET_BYTES } from "../../src/agents/whatsapp/webhook.ts";
import { signature, startFakeGraph, textPayload } from "../fakes/graph.ts";
import { connect, write } from "../support/deno-agent.ts";
import { tempDir } from "../support/tmp.ts";
import { startChannel, whatsappAgent } from "./harness.ts";

const APP_SECRET = "meta-app-secret-0123456789abcdef";
const secrets = { WA_APP_SECRET: APP_SECRET, WA_TOKEN: "EAAJB-fake-access-token", WA_VERIFY: "verify-me" };
const PNID = "106540352242922";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-wa-chunked-")));
afterAll(() => cleanup());

const head = (port: number) =>
  `POST /whatsapp/webhook HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
  `X-Hub-Signature-256: sha256=${"0".repeat(64)}\r\nTransfer-Encoding: chunked\r\n\r\n`;
const chunk = (data: string) => `${data.length.toString(16)}\r\n${data}\r\n`;

/** The status line of the first answer on `s`, or "none" when nothing came within `ms`. */
function statusWithin(s: Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("none"), ms);
    s.once("data", (d: Buffer) => {
      clearTimeout(timer);
      resolve(d.toString("latin1").split("\r\n")[0]!);
    });
  });
}

describe("whatsapp webhook: chunked bodies", () => {
  it("unsigned chunked bodies held open take the unverified budget: the one past it gets 503 at once", async () => {
    const graph = await startFakeGraph({ accessToken: secrets.WA_TOKEN });
    const ch = await startChannel({
      dir,
      dbFile: "budget.db",
      secrets,
      agent: whatsappAgent({ phoneNumberId: PNID, graphBaseUrl: graph.baseUrl }),
    });
    const port = Number(new URL(ch.url).port);
    const held: Socket[] = [];
    try {
      // A body of unknown length counts as MAX_BODY_BYTES: the budget holds this many of them.
      const fit = UNVERIFIED_BUDGET_BYTES / MAX_BODY_BYTES;
      for (let i = 0; i < fit; i++) {
        const s = await connect(port);
        held.push(s);
        await write(s, head(port) + chunk("{"));
      }
      await new Promise((r) => setTimeout(r, 500));
      const over = await connect(port);
      held.push(over);
      const answer = statusWithin(over, 5_000);
      await write(over, head(port) + chunk("{"));
      expect(await answer).toBe("HTTP/1.1 503 Service Unavailable");
    } finally {
      for (const s of held) s.destroy();
      await ch.stop();
      await graph.close();
    }
  }, 30_000);

  it("a signed chunked body is stored (200); a chunked body over MAX_BODY_BYTES is 413 and stores nothing", async () => {
    const graph = await startFakeGraph({ accessToken: secrets.WA_TOKEN });
    const ch = await startChannel({
      dir,
      dbFile: "chunked.db",
      secrets,
      agent: whatsappAgent({ phoneNumberId: PNID, graphBaseUrl: graph.baseUrl }),
    });
    const chunked = (body: string) =>
      fetch(`${ch.url}/whatsapp/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "X-Hub-Signature-256": signature(body, APP_SECRET) },
        body: new Blob([body]).stream(),
        duplex: "half",
      } as RequestInit);
    try {
      const ok = JSON.stringify(textPayload({ id: "wamid.CHUNKED1", from: "15550001111", body: "hi", phoneNumberId: PNID }));
      expect((await chunked(ok)).status).toBe(200);
      const large = JSON.stringify({ object: "whatsapp_business_account", pad: "a".repeat(MAX_BODY_BYTES) });
      expect((await chunked(large)).status).toBe(413);
      expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(1);
    } finally {
      await ch.stop();
      await graph.close();
    }
  }, 30_000);
});
