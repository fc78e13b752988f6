// `aideazz health` stores its last report (health_last) and records restart reasons: what an agent's /health
// answered is quoted there, so a secret an answer carries (a proxy or a misbehaving agent echoing a token) must
// be redacted in the store as it is on stdout.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve, type Server } from "../../src/platform.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

const SECRET = "dash-pa55word-7f3a91c2";
let dir: string;
let cleanup: () => Promise<void>;
let agent: Server;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-health-redact-"));
  // Not an aideazz agent: an answer quoting the secret in a failed check's detail.
  agent = await serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () =>
      Response.json({
        status: "degraded",
        agent: "analytics",
        uptimeSec: 5,
        checks: { upstream: { ok: false, detail: `login refused for password ${SECRET}` } },
      }, { status: 503 }),
  });
});
afterAll(async () => {
  await agent.close();
  await cleanup();
});

describe("aideazz health report", () => {
  it("stores the report with secrets redacted, as it prints it", async () => {
    const db = `file:${join(dir, "h.db")}`;
    const store = await openStore({ url: db });
    await migrate(store.client);
    const config = join(dir, "h.json");
    await writeFile(
      config,
      JSON.stringify({
        store: { url: db },
        agents: [{
          name: "analytics",
          kind: "analytics",
          port: agent.port,
          dashboard: { userEnv: "DASH_USER", passwordEnv: "DASH_PASSWORD" },
        }],
      }),
    );
    const r = await cli(["health", "--json", "--config", config], { env: { DASH_USER: "op", DASH_PASSWORD: SECRET } });
    expect(r.code).toBeGreaterThan(0);
    expect(r.stdout).toContain("login refused for password");
    expect(r.stdout).not.toContain(SECRET);
    const { rows } = await store.client.execute("SELECT report FROM health_last");
    expect(String(rows[0]?.["report"])).toContain("login refused for password");
    expect(String(rows[0]?.["report"])).not.toContain(SECRET);
    store.close();
  }, 60_000);
});
