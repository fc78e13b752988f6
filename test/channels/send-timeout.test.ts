// A platform call that never answers ends at its timeout: a network failure to retry (Telegram), an unknown outcome
// (WhatsApp, whose status webhooks settle it), for the real transports over real HTTP to a loopback server that
// accepts and never responds.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SendContext } from "../../src/agents/channel/outcome.ts";
import { createTelegramApi } from "../../src/agents/telegram/api.ts";
import { createTelegramTransport } from "../../src/agents/telegram/send.ts";
import { createGraphClient } from "../../src/agents/whatsapp/graph.ts";
import { createWhatsAppTransport } from "../../src/agents/whatsapp/send.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let server: Server;
let root: string;
let requests = 0;
let store: Store;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  server = createServer(() => void requests++); // accepts every request and never answers
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let dir: string;
  ({ dir, cleanup } = await tempDir("aideazz-send-timeout-"));
  store = await openStore({ url: `file:${join(dir, "t.db")}` });
  await migrate(store.client);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  store.close();
  await cleanup();
});

const ctx = (): SendContext => ({ chatId: "42", key: "r#0", attempt: 1, signal: AbortSignal.timeout(200) });
/** The WhatsApp transport against a Graph at `baseUrl`. */
const whatsappTo = (baseUrl: string) =>
  createWhatsAppTransport({
    graph: createGraphClient({ baseUrl, phoneNumberId: "100", accessToken: "EAAG-fake", fetch }),
    client: store.client,
    agent: "wa",
    now: Date.now,
    template: undefined,
  });

describe("a platform call past its timeout", () => {
  it("telegram: ends as a network failure to retry", async () => {
    const before = requests;
    const api = createTelegramApi("7111222333:AAH-fake-token-send-timeout", root, fetch);
    const transport = createTelegramTransport({ api, client: store.client, agent: "tg" });
    const started = Date.now();
    const outcome = await transport.send("hello", ctx());
    expect(requests).toBe(before + 1);
    expect(outcome).toMatchObject({ kind: "retry", code: "network" });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("whatsapp: ends as an unknown outcome (Graph may have the message: its status webhooks decide)", async () => {
    const before = requests;
    const transport = whatsappTo(root);
    const started = Date.now();
    const outcome = await transport.send({ type: "text", body: "hello" }, ctx());
    expect(requests).toBe(before + 1);
    expect(outcome).toMatchObject({ kind: "unknown", code: "network" });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("whatsapp: a refused connection (nothing reached Graph) is a network failure to retry", async () => {
    const transport = whatsappTo(`http://127.0.0.1:${await freePort()}`);
    const outcome = await transport.send({ type: "text", body: "hello" }, ctx());
    expect(outcome).toMatchObject({ kind: "retry", code: "network" });
  });
});
