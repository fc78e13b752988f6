// The page resends a message whose 202 it never saw (a dropped connection) with the same id. A resend of a message
// already stored is not counted against the per-address minute, and is accepted (202) even when that message was
// the client's last of its minute: refused, the page would tell the visitor it failed, and typed again it would be
// answered twice.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { INBOUND_TOPIC } from "../../src/bus/envelopes.ts";
import { tempDir } from "../support/tmp.ts";
import { type Channel, startChannel } from "./harness.ts";

let dir: string;
let cleanup: () => Promise<void>;
let ch: Channel | undefined;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-web-resend-")));
afterAll(() => cleanup());
afterEach(async () => {
  await ch?.stop();
  ch = undefined;
});

const SESSION = "6f1c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

describe("web chat: the page's resend at the per-address limit", () => {
  it("a resend of a message already stored is accepted (202), not refused 429, when the minute is used up", async () => {
    ch = await startChannel({
      dir,
      secrets: {},
      roles: { support: { kind: "support", systemPrompt: "Be nice." } },
      agent: { name: "web", kind: "webchat", role: "support", webchat: { perAddressPerMinute: 2 } },
    });
    const send = (body: unknown) =>
      fetch(`${ch!.url}/api/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await send({ session: SESSION, id: id(1), text: "first" })).status).toBe(202);
    const last = { session: SESSION, id: id(2), text: "Do you ship to Norway?" };
    expect((await send(last)).status).toBe(202);
    // The page never saw that 202 and sends it again, as its retry loop does.
    const resent = await send(last);
    const body = await resent.json();
    expect(await ch.count("SELECT count(*) FROM bus_messages WHERE topic = ?", INBOUND_TOPIC)).toBe(2);
    expect({ status: resent.status, body }).toEqual({ status: 202, body: { ok: true } });
  });
});
