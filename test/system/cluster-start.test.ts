// A cluster whose start fails part-way (a bad config patch, a failed migration) stops what it had started: the
// fake platform and provider servers, and the llama.cpp sidecar when asked for one (a process of its own).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster } from "../../bench/system/cluster.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-cluster-start-")));
afterAll(() => cleanup?.());

/** Whether something still answers HTTP at `url`. */
const answers = (url: string) => fetch(url, { signal: AbortSignal.timeout(5_000) }).then(() => true, () => false);

describe("startCluster", () => {
  it("a start that throws part-way leaves none of what it started listening", async () => {
    const urls: string[] = [];
    const start = startCluster({
      dir,
      telegram: 1,
      whatsapp: 1,
      faq: [],
      patchConfig(config) {
        const router = config["router"] as { providers: Record<string, { baseUrl: string }> };
        urls.push(...Object.values(router.providers).map((p) => p.baseUrl));
        for (const a of config["agents"] as Record<string, Record<string, string>>[]) {
          const url = a["telegram"]?.["apiRoot"] ?? a["whatsapp"]?.["graphBaseUrl"];
          if (url) urls.push(url);
        }
        throw new Error("a bad config patch");
      },
    });
    await expect(start).rejects.toThrow("a bad config patch");
    expect(urls).toHaveLength(4); // Groq, Anthropic, the Bot API, Graph
    expect(await Promise.all(urls.map(answers))).toEqual(urls.map(() => false));
  });
});
