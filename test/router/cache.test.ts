// The reply cache: its bounds (at most maxEntries per scope, the oldest going first from the store and the lexical
// index), its semantic tier, and the hits it refuses: a stored answer written for another question.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  answersAgree,
  cacheScope,
  createResponseCache,
  EMBED_WARN_EVERY_MS,
  type ResponseCache,
} from "../../src/router/cache.ts";
import { createEmbedder } from "../../src/router/embeddings.ts";
import { migrate, openStore, type Store } from "../../src/store/mod.ts";
import { cli } from "../support/cli.ts";
import { tempDir } from "../support/tmp.ts";

let store: Store | undefined;
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  store?.close();
  await cleanup?.();
});

describe("reply cache", () => {
  it("keeps at most maxEntries per scope: the oldest leave the store and the index; other scopes keep theirs", async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    store = await openStore({ url: `file:${join(t.dir, "cache.db")}` });
    await migrate(store.client);
    const cache = createResponseCache({
      client: store.client,
      now: Date.now,
      ttlMs: 86_400_000,
      lexicalThreshold: 0.5,
      semanticThreshold: 0.92,
      maxEntries: 3,
    });
    const a = cacheScope("support", "Prompt A");
    const b = cacheScope("sales", "Prompt B");
    const meta = { provider: "groq", model: "m" };
    const questions = [
      "How do I reset my password?",
      "What are your opening hours?",
      "Do you ship to Canada?",
      "Can I pay by invoice?",
      "Where is my order?",
    ];
    await cache.store(b, questions[0]!, "B's answer.", meta);
    for (const [i, q] of questions.entries()) await cache.store(a, q, `Answer ${i}.`, meta);
    const count = async (scope: string) =>
      Number((await store!.client.execute({ sql: "SELECT count(*) AS n FROM cache_entries WHERE scope = ?", args: [scope] }))
        .rows[0]!["n"]);
    expect([await count(a), await count(b)]).toEqual([3, 1]);
    // The two oldest are gone, by their exact words and by a paraphrase; the newest three are served.
    expect(await cache.lookup(a, questions[0]!)).toBeNull();
    expect(await cache.lookup(a, "how can I reset my password")).toBeNull();
    expect(await cache.lookup(a, questions[1]!)).toBeNull();
    for (const [i, q] of questions.entries()) {
      if (i >= 2) expect((await cache.lookup(a, q))?.answer).toBe(`Answer ${i}.`);
    }
    expect((await cache.lookup(b, questions[0]!))?.answer).toBe("B's answer.");
  });

  it("a running process serves no answer `aideazz cache clear` deleted, and the answer another process stored again", async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    const url = `file:${join(t.dir, "live.db")}`;
    store = await openStore({ url });
    await migrate(store.client);
    const options = { now: Date.now, ttlMs: 86_400_000, lexicalThreshold: 0.5, semanticThreshold: 0.92 };
    const cache = createResponseCache({ client: store.client, ...options }); // the orchestrator's, long-lived
    const scope = cacheScope("support", "Prompt A");
    const meta = { provider: "groq", model: "m" };
    await cache.store(scope, "What are your opening hours?", "BAD ANSWER: visit evil.example", meta);
    const asked = "what are your opening hours today?"; // a lexical hit: served from the index
    expect(await cache.lookup(scope, asked)).toMatchObject({ tier: "lexical", answer: "BAD ANSWER: visit evil.example" });

    // Another process (here another cache on the same file) stores a new answer for the same question.
    const other = createResponseCache({ client: store.client, ...options });
    await other.store(scope, "What are your opening hours?", "9 to 5.", meta);
    expect((await cache.lookup(scope, asked))?.answer).toBe("9 to 5.");

    // The operator clears the cache from the CLI, a process of its own.
    const r = await cli(["cache", "clear", "--db", url]);
    expect(r.stdout).toContain("deleted 1 entry");
    expect(await cache.lookup(scope, asked)).toBeNull();
  });
});

async function openCacheStore(): Promise<Store> {
  const t = await tempDir();
  cleanup = t.cleanup;
  store = await openStore({ url: `file:${join(t.dir, "cache.db")}` });
  await migrate(store.client);
  return store;
}

/** An OpenAI-style /v1/embeddings endpoint (llama-server's shape) answering `vectorOf(input)`. */
function embeddingsFetch(vectorOf: (input: string) => number[]): typeof fetch {
  return ((_url: string | URL | Request, init?: RequestInit) => {
    const { input } = JSON.parse(String(init?.body)) as { input: string };
    return Promise.resolve(new Response(
      JSON.stringify({
        object: "list",
        model: "emb",
        data: [{ object: "embedding", index: 0, embedding: vectorOf(input) }],
        usage: { prompt_tokens: 5, total_tokens: 5 },
      }),
      { status: 200, headers: { "content-type": "application/json" } },
    ));
  }) as typeof fetch;
}

const meta = { provider: "groq", model: "m" };
const options = { now: Date.now, ttlMs: 86_400_000, lexicalThreshold: 0.5, semanticThreshold: 0.92 };

describe("semantic cache tier", () => {
  it("an all-zero embedding (a failed embedding) stored with one prompt is not served for unrelated questions", async () => {
    const s = await openCacheStore();
    // The embeddings server glitches once and answers a zero vector (e.g. a model still loading, an empty pooling).
    let glitch = true;
    const embedder = createEmbedder({
      baseUrl: "http://127.0.0.1:9/v1",
      model: "emb",
      fetch: embeddingsFetch((input) => {
        if (glitch) {
          glitch = false;
          return [0, 0, 0, 0];
        }
        // Real, distinct directions for every other text.
        return input.includes("refund") ? [0, 1, 0, 0] : [0, 0, 1, 0];
      }),
    });
    const cache = createResponseCache({ client: s.client, ...options, embedder });
    const scope = cacheScope("support", "Prompt A");
    await cache.store(scope, "Where is your office located?", "Our office is at the harbour.", meta);
    // Questions that share nothing with it, no number, name or negation for the guard to refuse.
    expect(await cache.lookup(scope, "How do refunds work?")).toBeNull();
    expect(await cache.lookup(scope, "Can I change the colour of my profile?")).toBeNull();
  });

  it("an all-zero embedding of the question does not match whatever entry is stored", async () => {
    const s = await openCacheStore();
    let zero = false;
    const embedder = createEmbedder({
      baseUrl: "http://127.0.0.1:9/v1",
      model: "emb",
      fetch: embeddingsFetch(() => (zero ? [0, 0, 0, 0] : [1, 0, 0, 0])),
    });
    const cache = createResponseCache({ client: s.client, ...options, embedder });
    const scope = cacheScope("support", "Prompt A");
    await cache.store(scope, "Where is your office located?", "Our office is at the harbour.", meta);
    zero = true;
    expect(await cache.lookup(scope, "How do refunds work?")).toBeNull();
  });

  it("after the embedding model changes (other vector length), a lookup skips the semantic tier instead of failing the turn", async () => {
    const s = await openCacheStore();
    let dims = 4;
    const embedder = createEmbedder({
      baseUrl: "http://127.0.0.1:9/v1",
      model: "emb",
      fetch: embeddingsFetch(() => Array.from({ length: dims }, (_, i) => (i === 0 ? 1 : 0.1))),
    });
    const cache = createResponseCache({ client: s.client, ...options, embedder });
    const scope = cacheScope("support", "Prompt A");
    await cache.store(scope, "Where is your office located?", "Our office is at the harbour.", meta);
    dims = 8; // the operator points cache.embeddings at another model; entries stored before keep 4-float vectors
    // The module's promise: "A failure here only skips that tier: it never fails a turn."
    await expect(cache.lookup(scope, "How do refunds work?")).resolves.toBeNull();
  });

  it("a failing embedder is logged as a warning, once per EMBED_WARN_EVERY_MS with the failures since", async () => {
    const s = await openCacheStore();
    let clock = 1_000_000;
    const warnings: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
    const embedder = createEmbedder({
      baseUrl: "http://127.0.0.1:9/v1",
      model: "emb",
      // llama-server started without --embeddings.
      fetch: () => Promise.resolve(new Response("This server does not support embeddings", { status: 501 })),
    });
    const log = { warn: (msg: string, fields?: Record<string, unknown>) => void warnings.push({ msg, fields }) };
    const cache = createResponseCache({ client: s.client, ...options, now: () => clock, embedder, log });
    const scope = cacheScope("support", "Prompt A");
    await cache.store(scope, "Where is your office located?", "Our office is at the harbour.", meta);
    expect(await cache.lookup(scope, "How do refunds work?")).toBeNull();
    expect(warnings).toEqual([{
      msg: "cache embeddings failed; the semantic tier is skipped",
      fields: { model: "emb", error: "embeddings endpoint answered HTTP 501", failures: 1 },
    }]);
    clock += EMBED_WARN_EVERY_MS;
    expect(await cache.lookup(scope, "Can I pay by card?")).toBeNull();
    expect(warnings.map((w) => w.fields?.["failures"])).toEqual([1, 2]); // the lookup before, and this one
  });
});

describe("reply cache: a stored answer is not served for another question", () => {
  const scope = cacheScope("support", "Prompt A");
  /** Other questions of the same store, so a hit is decided among several answers, as in production. */
  const background: [string, string][] = [
    ["How do I reset my password?", "Use the link on the login page."],
    ["What are your opening hours?", "We are open 9 to 5."],
    ["Can I pay by invoice?", "Yes, invoices are payable within 30 days."],
    ["How much is shipping?", "Shipping is free over $50."],
    ["Do you have a mobile app?", "Yes, for iOS and Android."],
  ];
  /** A cache holding the background's answers and `answer` for `stored`. */
  async function cacheWith(stored: string, answer: string): Promise<ResponseCache> {
    const s = await openCacheStore();
    const cache = createResponseCache({ client: s.client, ...options });
    for (const [q, a] of [...background, [stored, answer] as const]) await cache.store(scope, q, a, meta);
    return cache;
  }
  /** What a lookup serves, as "tier: answer", or null. */
  async function served(cache: ResponseCache, question: string): Promise<string | null> {
    const hit = await cache.lookup(scope, question);
    return hit ? `${hit.tier}: ${hit.answer}` : null;
  }

  it("a time of day is not another: 9pm is not served the answer for 9am", async () => {
    const cache = await cacheWith("Can you deliver by 9am tomorrow?", "Yes, morning delivery starts at 7am.");
    expect(await served(cache, "Can you deliver by 9pm tomorrow?")).toBeNull();
  });

  it("an amount with a multiplier is not the bare number: 5 is not served the answer for 5k", async () => {
    const cache = await cacheWith("Can I withdraw 5k a day?", "No, the daily limit is 2,000.");
    expect(await served(cache, "Can I withdraw 5 a day?")).toBeNull();
  });

  it("amounts written in Arabic-Indic digits are numbers too: 500 is not served the answer for 100", async () => {
    // "Can I transfer 100 dollars today?" → "Yes, up to 100 dollars a day."
    const cache = await cacheWith("هل يمكنني تحويل ١٠٠ دولار اليوم؟", "نعم، حتى ١٠٠ دولار في اليوم.");
    expect(await served(cache, "هل يمكنني تحويل ٥٠٠ دولار اليوم؟")).toBeNull(); // "… 500 dollars today?"
  });

  it("'unable' is the negation of 'able': the opposite situation is not served its answer", async () => {
    const cache = await cacheWith("I was able to verify my identity, what now?", "Great! You can now order your card.");
    expect(await served(cache, "I was unable to verify my identity, what now?")).toBeNull();
  });

  it("a weekday typed in lower case is still another day: monday is not served the answer for sunday", async () => {
    const cache = await cacheWith("are you open on sunday?", "No, we are closed on Sundays.");
    expect(await served(cache, "are you open on monday?")).toBeNull();
  });

  it("a date is not its day and month swapped: 1/12 is not served the answer for 12/1", async () => {
    const cache = await cacheWith("Are you open on 12/1?", "No, we are closed on December 1.");
    expect(await served(cache, "Are you open on 1/12?")).toBeNull();
  });

  it("a question that puts another subject in a stored question's place is not served its answer", async () => {
    const cache = await cacheWith("How much does it cost?", "The Pro plan is $29 a month.");
    expect(await served(cache, "How much does delivery cost?")).toBeNull();
    expect(await served(cache, "How much does the pro plan cost?")).toBe("lexical: The Pro plan is $29 a month.");
  });

  it("a decimal written without its leading zero keeps its point: '.5%' is not the exact key of '5%'", async () => {
    const cache = await cacheWith("Is the transfer fee 5%?", "No: the transfer fee is 0.5%.");
    expect(await served(cache, "Is the transfer fee .5%?")).toBeNull();
  });
});

describe("answersAgree (groups of answers, the sampled checks of hits)", () => {
  it("answers that contradict each other do not agree", () => {
    const pairs: [string, string][] = [
      ["Yes, we deliver on Sundays.", "No, we do not deliver on Sundays."],
      ["Shipping to Spain takes 3 days.", "Shipping to Spain takes 10 days."],
      ["The transfer fee is 0.5%.", "The transfer fee is 5%."],
    ];
    expect(pairs.map(([a, b]) => `${answersAgree(a, b)}: ${a} / ${b}`))
      .toEqual(pairs.map(([a, b]) => `false: ${a} / ${b}`));
  });
});
