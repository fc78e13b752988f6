/**
 * `cache.embeddings.baseUrl` on the llama.cpp sidecar (`ops.llama.url`) while `ops.llama.embeddings` is false (its
 * default): `systemd render` starts llama-server without --embeddings, which answers every /v1/embeddings 501, so the
 * semantic tier would never work. `config check` refuses it; and a cache whose embedder fails says so in the log.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";
import { renderSystemd } from "../../src/ops/mod.ts";
import { cacheScope, createResponseCache } from "../../src/router/cache.ts";
import { createEmbedder } from "../../src/router/embeddings.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { llamaAvailable, type LlamaServer, startLlamaServer } from "../support/llama-server.ts";
import { tempDir } from "../support/tmp.ts";

function issuesOf(config: unknown): ConfigIssue[] {
  try {
    loadConfig(JSON.stringify(config), {}, []);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

const configWith = (llama: Record<string, unknown>, embeddingsUrl: string) => ({
  agents: [{ name: "orchestrator", kind: "orchestrator", port: 9101 }],
  ops: { llama },
  cache: { embeddings: { baseUrl: embeddingsUrl } },
});

describe("cache.embeddings on the llama.cpp sidecar", () => {
  it("is refused while ops.llama.embeddings is off, naming that field", () => {
    const issues = issuesOf(configWith({ url: "http://127.0.0.1:8090" }, "http://127.0.0.1:8090/v1"));
    expect(issues.map((i) => i.path)).toEqual(["cache.embeddings.baseUrl"]);
    expect(issues[0]?.message).toContain("ops.llama.embeddings");
  });

  it("is refused however the sidecar's address is written (localhost, a wildcard bind)", () => {
    expect(
      issuesOf(configWith({ url: "http://0.0.0.0:8090" }, "http://localhost:8090/v1")).map((i) => i.path),
    )
      .toEqual(["cache.embeddings.baseUrl"]);
  });

  it("is accepted with ops.llama.embeddings on, and the sidecar's unit then runs with --embeddings", () => {
    const config = loadConfig(
      JSON.stringify(
        configWith({ url: "http://127.0.0.1:8090", embeddings: true }, "http://127.0.0.1:8090/v1"),
      ),
      {},
      [],
    );
    const unit = renderSystemd(config, "/etc/aideazz/aideazz.json").find((f) =>
      f.path.endsWith("aideazz-llama.service")
    )!;
    expect(unit.text).toContain("Environment=LLAMA_ARGS=--embeddings\n");
  });

  it("another embeddings server beside the sidecar is accepted", () => {
    expect(issuesOf(configWith({ url: "http://127.0.0.1:8090" }, "http://127.0.0.1:8091/v1"))).toEqual([]);
  });

  describe.runIf(llamaAvailable())("the real llama-server started without --embeddings", () => {
    let server: LlamaServer;
    beforeAll(async () => {
      server = await startLlamaServer();
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });

    it("the cache stores the answer without its embedding and logs one warning naming the 501", async () => {
      const { dir, cleanup } = await tempDir("aideazz-emb-off-");
      const store = await openStore({ url: `file:${join(dir, "c.db")}` });
      try {
        await migrate(store.client);
        const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
        const cache = createResponseCache({
          client: store.client,
          now: Date.now,
          ttlMs: 86_400_000,
          lexicalThreshold: 0.5,
          semanticThreshold: 0.92,
          embedder: createEmbedder({ baseUrl: `${server.url}/v1`, model: "tiny" }),
          log: { warn: (msg, fields) => void warnings.push({ msg, ...(fields ? { fields } : {}) }) },
        });
        const scope = cacheScope("support", "You are Example Co's support bot.");
        await cache.store(scope, "Do you deliver to Portugal?", "Yes, in 3 to 5 days.", {
          provider: "groq",
          model: "m",
        });
        expect(await cache.lookup(scope, "Can I pay by card?")).toBeNull();
        const rows =
          (await store.client.execute("SELECT embedding IS NOT NULL AS has FROM cache_entries")).rows;
        expect(rows.map((r) => Number(r["has"]))).toEqual([0]);
        expect(warnings.map((w) => w.fields?.["error"])).toEqual(["embeddings endpoint answered HTTP 501"]);
      } finally {
        store.close();
        await cleanup();
      }
    }, 60_000);
  });
});
