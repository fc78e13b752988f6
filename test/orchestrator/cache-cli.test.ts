import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createResponseCache } from "../../src/router/cache.ts";
import { migrate, openStore } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { llamaAvailable, startLlamaServer } from "../support/llama-server.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-cache-cli-")));
afterAll(() => cleanup());

const DATASET = [
  ...["where is my card", "my card has not arrived", "card still not here", "when will my card arrive", "card delivery status"]
    .map((text) => ({ text, group: "card_arrival" })),
  ...["how do I reset my password", "forgot my password", "password reset help", "cannot remember password", "change my password"]
    .map((text) => ({ text, group: "password" })),
  ...["what are the fees for transfers", "transfer fee", "how much do transfers cost", "is there a fee to transfer", "transfer charges"]
    .map((text) => ({ text, group: "fees" })),
];

async function config(extra: Record<string, unknown> = {}) {
  const path = join(dir, `c${Math.random()}.json`);
  await writeFile(path, JSON.stringify({ store: { url: `file:${join(dir, "cache.db")}` }, agents: [{ name: "o", kind: "orchestrator", port: 9 }], ...extra }));
  return path;
}

describe("aideazz cache", () => {
  it("eval sweeps thresholds for the no-model matcher and reports the best under the false-hit limit", async () => {
    const data = join(dir, "d.jsonl");
    await writeFile(data, DATASET.map((r) => JSON.stringify(r)).join("\n"));
    const r = await cli(["cache", "eval", "--dataset", data, "--holdout", "0.4", "--json", "--config", await config()]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.lexical.queries).toBe(6);
    expect(out.lexical.entries).toBe(9);
    expect(out.lexical.rows).toHaveLength(101);
    expect(out.lexical.best.falseRate).toBeLessThanOrEqual(0.02);
    expect(out.semantic).toBeUndefined();
  });

  it("eval needs --dataset and numeric options", async () => {
    expect((await cli(["cache", "eval"])).stderr).toContain("--dataset FILE is required");
    for (const [option, value, range] of [["holdout", "lots", "(0, 1)"], ["holdout", "5", "(0, 1)"], ["max-false", "0x1", "[0, 1)"]]) {
      const bad = await cli(["cache", "eval", "--dataset", "x.jsonl", `--${option}`, value!]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(`--${option} must be a number in ${range}, got "${value}"`);
      expect(bad.stderr).toContain("Usage: aideazz cache eval");
    }
    const missing = await cli(["cache", "eval", "--dataset", join(dir, "nope.jsonl")]);
    expect([missing.code, missing.stderr]).toEqual([1, `cache eval: cannot read the dataset ${join(dir, "nope.jsonl")}\n`]);
    const tiny = join(dir, "tiny.jsonl");
    await writeFile(tiny, JSON.stringify({ text: "what is the fee", group: "fees" }));
    const one = await cli(["cache", "eval", "--dataset", tiny]);
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/1 rows give \d stored and \d held-out questions; both are needed/);
  });

  it("eval names a bad dataset line by its number in the file; a config named but unusable is an error, not skipped", async () => {
    const data = join(dir, "bad-line.jsonl");
    await writeFile(data, [...DATASET.slice(0, 3).map((r) => JSON.stringify(r)), '{"text": "oops", group: "x"}'].join("\n"));
    const bad = await cli(["cache", "eval", "--dataset", data]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`^cache eval: ${data}: dataset line 4: not JSON \\(`));
    const good = join(dir, "good.jsonl");
    await writeFile(good, DATASET.map((r) => JSON.stringify(r)).join("\n"));
    const missing = await cli(["cache", "eval", "--dataset", good, "--config", join(dir, "missing.json")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`cannot read config file ${join(dir, "missing.json")}`);
    const embeddings = { embeddings: { baseUrl: "http://127.0.0.1:9/v1", model: "m" } };
    const invalid = await cli(["cache", "eval", "--dataset", good, "--config", await config({ cache: embeddings, bogus: 1 })]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('unknown field "bogus"');
    expect(invalid.stdout).not.toContain("no cache.embeddings configured");
  });

  it("stats and clear report and delete stored answers", async () => {
    const path = await config();
    const store = await openStore({ url: `file:${join(dir, "cache.db")}` });
    await migrate(store.client);
    const cache = createResponseCache({ client: store.client, now: Date.now, ttlMs: 60_000, lexicalThreshold: 0.5, semanticThreshold: 0.9 });
    await cache.store("support/abc/none", "where is my card", "It ships in 3 days.", { provider: "groq", model: "m" });
    await cache.store("support/abc/none", "reset password", "Use the link.", { provider: "groq", model: "m" });
    await cache.recordCheck(1, false);
    await cache.recordCheck(1, true);
    store.close();
    const stats = await cli(["cache", "stats", "--json", "--config", path]);
    const expected = { entries: 2, expired: 0, scopes: 1, byScope: [{ scope: "support/abc/none", entries: 2 }], checks: 2, falseHits: 1 };
    expect(JSON.parse(stats.stdout)).toEqual(expected);
    const human = await cli(["cache", "stats", "--config", path]);
    expect(human.stdout).toContain("false hits 50.0% of 2 sampled hits\n        2  support/abc/none\n");
    // --db alone, like every other command that reads the store: no config file needed.
    const byDb = await cli(["cache", "stats", "--json", "--db", `file:${join(dir, "cache.db")}`], { cwd: join(dir, "nowhere") });
    expect(JSON.parse(byDb.stdout)).toEqual(expected);
    // A scope that names nothing is an error naming the scopes there are, not "deleted 0"; a role is a scope's start.
    expect(await cli(["cache", "clear", "--scope", "sales", "--config", path])).toMatchObject({
      code: 1,
      stderr: 'cache clear: no scope "sales"; the cache has support/abc/none\n',
    });
    expect(await cli(["cache", "clear", "--scope", "sup", "--config", path])).toMatchObject({ code: 1 });
    const cleared = await cli(["cache", "clear", "--scope", "support", "--config", path]);
    expect(cleared.stdout).toBe("cache clear: deleted 2 entries\n");
  });

  it.skipIf(!llamaAvailable())("eval also sweeps the configured embedder (real llama.cpp /v1/embeddings)", async () => {
    const llama = await startLlamaServer({ embeddings: true });
    try {
      const data = join(dir, "e.jsonl");
      await writeFile(data, DATASET.map((r) => JSON.stringify(r)).join("\n"));
      const path = await config({ cache: { embeddings: { baseUrl: `${llama.url}/v1`, model: "tiny" } } });
      const r = await cli(["cache", "eval", "--dataset", data, "--holdout", "0.4", "--json", "--config", path]);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.semantic.queries).toBe(6);
      expect(out.semantic.rows.at(-1).hits).toBeLessThanOrEqual(out.semantic.rows[0].hits);
    } finally {
      await llama.stop();
    }
  }, 60_000);
});
