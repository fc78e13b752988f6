// The orchestrator's OpenAI-compatible endpoint, driven by the official `openai` SDK as a real client.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/agents/orchestrator/openai.ts";
import { API_KEY, GROQ_KEY, type Harness, startHarness } from "./harness.ts";

let h: Harness;
let client: OpenAI;
beforeAll(async () => {
  h = await startHarness();
  client = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${h.port}/v1`, maxRetries: 0 });
});
afterAll(() => h.close());

/** One context-free request; the fake provider answers `answer` if it is called at all. */
async function ask(system: string, user: string, answer: string) {
  h.groq.setDefault({ kind: "ok", text: answer });
  const res = await client.chat.completions.create({
    model: "fast",
    messages: [{ role: "system", content: system }, { role: "user", content: user }],
  }).withResponse();
  return { content: res.data.choices[0]!.message.content, route: res.response.headers.get("x-aideazz-route") };
}

describe("OpenAI-compatible endpoint", () => {
  it("lists the route models it can route: not `local` without a llama-cpp provider", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["auto", "fast", "smart"]);
  });

  it("answers a chat completion through the router with usage", async () => {
    h.groq.script({ kind: "ok", text: "Paris." });
    const res = await client.chat.completions.create({
      model: "fast",
      messages: [{ role: "system", content: "Answer in one word." }, { role: "user", content: "Capital of France?" }],
    });
    expect(res.choices[0]!.message.content).toBe("Paris.");
    expect(res.object).toBe("chat.completion");
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + res.usage!.completion_tokens);
    expect(res.usage!.total_tokens).toBeGreaterThan(0);
    const sent = h.groq.requests.at(-1)!;
    expect(sent.headers["authorization"]).toBe(`Bearer ${GROQ_KEY}`);
  });

  it("serves a repeated context-free request from the cache", async () => {
    const before = h.modelCalls();
    const ask = () =>
      client.chat.completions.create({
        model: "fast",
        messages: [{ role: "system", content: "Answer in one word." }, { role: "user", content: "Capital of France?" }],
      });
    const res = await ask().withResponse();
    expect(res.data.choices[0]!.message.content).toBe("Paris.");
    expect(res.response.headers.get("x-aideazz-route")).toBe("fast:cache");
    expect(h.modelCalls()).toBe(before);
  });

  it("streams the answer's exact text in the SSE chunk format and ends the stream", async () => {
    const answer = "...One. Two! ...Three?\n.NET 8 is out.";
    h.groq.script({ kind: "ok", text: answer });
    const stream = await client.chat.completions.create({
      model: "smart",
      messages: [{ role: "user", content: "Count to three, please, with feeling" }, { role: "assistant", content: "ok" }, {
        role: "user",
        content: "go",
      }],
      stream: true,
    });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(answer);
    expect(finish).toBe("stop");
  });

  it("rejects a wrong key, an unknown model and a bad body with OpenAI-style errors", async () => {
    const wrong = new OpenAI({ apiKey: "nope", baseURL: `http://127.0.0.1:${h.port}/v1`, maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toMatchObject({ status: 401, code: "invalid_api_key" });
    await expect(client.chat.completions.create({ model: "gpt-4", messages: [{ role: "user", content: "hi" }] }))
      .rejects.toMatchObject({ status: 404, code: "model_not_found" });
    const res = await fetch(`http://127.0.0.1:${h.port}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "auto", messages: [] }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe("invalid_body");
  });

  it("streams the usage last when stream_options.include_usage asks for it", async () => {
    h.groq.script({ kind: "ok", text: "Yes. We ship there." });
    const stream = await client.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "Do you ship to Norway, and how fast?" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.total_tokens).toBeGreaterThan(0);
    expect(chunks.slice(0, -1).every((c) => c.usage === undefined)).toBe(true);
  });

  it("refuses what it cannot do instead of ignoring it (tools, n > 1, images); takes an assistant turn without content", async () => {
    const before = h.modelCalls();
    const tools = [{ type: "function" as const, function: { name: "lookup", parameters: { type: "object" } } }];
    await expect(client.chat.completions.create({ model: "fast", messages: [{ role: "user", content: "hi" }], tools }))
      .rejects.toMatchObject({ status: 400, message: expect.stringMatching(/tools \(function calling\) are not supported/) });
    await expect(client.chat.completions.create({ model: "fast", messages: [{ role: "user", content: "hi" }], n: 2 }))
      .rejects.toMatchObject({ status: 400, message: expect.stringMatching(/only n = 1/) });
    // JSON mode would come back as prose, which the caller's JSON.parse then fails on; plain text is what it gets.
    await expect(client.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "The capital of France as JSON" }],
      response_format: { type: "json_object" },
    })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/response_format json_object is not supported/) });
    const image = { type: "image_url" as const, image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } };
    await expect(client.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: [{ type: "text", text: "What is in this picture?" }, image] }],
    })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/image_url/) });
    expect(h.modelCalls()).toBe(before);
    h.groq.script({ kind: "ok", text: "Sure." });
    const res = await client.chat.completions.create({
      model: "fast",
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: null },
        { role: "user", content: "how do I pick a lock?" },
        { role: "assistant", content: [{ type: "refusal", refusal: "I can't help with that." }] },
        { role: "user", content: "again?" },
      ],
    });
    expect(res.choices[0]!.message.content).toBe("Sure.");
  });

  // OpenAI documents these as nullable; the Python SDK sends `"max_tokens": null` for None.
  it("takes null for the nullable parameters (max_tokens, temperature, stop, stream) as absent", async () => {
    h.groq.script({ kind: "ok", text: "Null is fine." });
    const res = await client.chat.completions.create({
      model: "fast",
      messages: [{ role: "user", content: "Do you accept null parameters?" }],
      max_tokens: null,
      max_completion_tokens: null,
      temperature: null,
      stop: null,
      stream: null,
    });
    expect(res.choices[0]!.message.content).toBe("Null is fine.");
    expect(h.groq.requests.at(-1)!.json).not.toHaveProperty("temperature");
  });

  it("retrieves one model; a lower-case bearer scheme is accepted", async () => {
    expect(await client.models.retrieve("auto")).toMatchObject({ id: "auto", object: "model" });
    await expect(client.models.retrieve("gpt-4")).rejects.toMatchObject({ status: 404, code: "model_not_found" });
    const res = await fetch(`http://127.0.0.1:${h.port}/v1/models`, { headers: { authorization: `bearer ${API_KEY}` } });
    expect(res.status).toBe(200);
  });

  it("a reply cut at max_tokens or filtered is returned as such and never served from the cache", async () => {
    const ask = (maxTokens?: number) =>
      client.chat.completions.create({
        model: "auto",
        messages: [{ role: "user", content: "Explain your refund policy" }],
        ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
      }).withResponse();
    h.groq.script({ kind: "ok", text: "Refunds are", finishReason: "length" });
    const cut = await ask(3);
    expect(cut.data.choices[0]!.finish_reason).toBe("length");
    h.groq.script({ kind: "ok", text: "I can", finishReason: "content_filter" });
    const filtered = await ask();
    expect(filtered.data.choices[0]!.finish_reason).toBe("content_filter");
    h.groq.script({ kind: "ok", text: "Refunds are given within 30 days." });
    const whole = await ask();
    expect(whole.response.headers.get("x-aideazz-route")).toBe("auto:groq");
    expect(whole.data.choices[0]!.message.content).toBe("Refunds are given within 30 days.");
  });

  it("a stored answer in CJK text (a token a character) is not served to a caller whose max_tokens it does not fit", async () => {
    const answer = "请在三十天内联系客服并提供订单号和照片，我们会安排快递上门取件并退款。"; // 35 characters, ~35 tokens
    const ask = (max?: number) =>
      client.chat.completions.create({
        model: "fast",
        messages: [{ role: "user", content: "怎么退货？" }],
        ...(max === undefined ? {} : { max_tokens: max }),
      }).withResponse();
    h.groq.script({ kind: "ok", text: answer });
    expect((await ask()).response.headers.get("x-aideazz-route")).toBe("fast:groq"); // stored
    h.groq.script({ kind: "ok", text: "请在", finishReason: "length" });
    expect((await ask(10)).response.headers.get("x-aideazz-route")).toBe("fast:groq");
    expect((await ask(40)).response.headers.get("x-aideazz-route")).toBe("fast:cache");
  });

  it("an answer cut at a caller's stop sequence is never served from the cache; each model has its own", async () => {
    const ask = (model: string, stop?: string[]) =>
      client.chat.completions.create({
        model,
        messages: [{ role: "user", content: "How do I send back a damaged grinder?" }],
        ...(stop ? { stop } : {}),
      }).withResponse();
    // The provider stops at the caller's "." and says so with finish_reason "stop".
    h.groq.script({ kind: "ok", text: "Returns are free within 30 days" });
    expect((await ask("auto", ["."])).data.choices[0]!.message.content).toBe("Returns are free within 30 days");
    h.groq.script({ kind: "ok", text: "Returns are free within 30 days. Contact billing@example.com." });
    const whole = await ask("auto");
    expect(whole.response.headers.get("x-aideazz-route")).toBe("auto:groq");
    expect(whole.data.choices[0]!.message.content).toContain("billing@example.com");
    expect((await ask("auto")).response.headers.get("x-aideazz-route")).toBe("auto:cache");
    h.groq.script({ kind: "ok", text: "Within 30 days." });
    expect((await ask("fast")).response.headers.get("x-aideazz-route")).toBe("fast:groq");
    // A stored answer longer than the caller's max_tokens is not served to that caller.
    h.groq.script({ kind: "ok", text: "Returns", finishReason: "length" });
    const short = await client.chat.completions.create({
      model: "auto",
      messages: [{ role: "user", content: "How do I send back a damaged grinder?" }],
      max_tokens: 2,
    }).withResponse();
    expect(short.response.headers.get("x-aideazz-route")).toBe("auto:groq");
    expect(short.data.choices[0]!.finish_reason).toBe("length");
  });

  it("answers 503 with Retry-After when every provider is down", async () => {
    h.groq.script({ kind: "server_error" });
    const res = await fetch(`http://127.0.0.1:${h.port}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "What is the tallest mountain on Mars?" }] }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("10");
    const body = await res.json();
    expect(body.error.code).toBe("providers_unavailable");
    expect(JSON.stringify(body)).not.toContain(GROQ_KEY);
  });

  // A 503 would have the SDK send the hopeless request again (2 retries by default): a provider call and an alert each.
  it("a request every provider refuses as bad (context length) is a 400 with the provider's code, not a 503", async () => {
    h.groq.script({ kind: "error", status: 400, type: "invalid_request_error", code: "context_length_exceeded" });
    const res = await fetch(`http://127.0.0.1:${h.port}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "A prompt over the context window" }] }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("retry-after")).toBeNull();
    expect((await res.json()).error).toMatchObject({ type: "invalid_request_error", code: "context_length_exceeded" });
  });

  it("a 503 because every provider refuses the key or is out of credit tells the SDK not to retry", async () => {
    h.groq.script({ kind: "unauthorized" });
    const res = await fetch(`http://127.0.0.1:${h.port}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "Is the key still good?" }] }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("x-should-retry")).toBe("false");
  });

  it("a model with no provider configured is a 404 the client does not retry, not a 503", async () => {
    const none = await startHarness({ providers: false });
    try {
      const res = await fetch(`http://127.0.0.1:${none.port}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "local", messages: [{ role: "user", content: "hello there" }] }),
      });
      expect(res.status).toBe(404);
      expect(res.headers.get("retry-after")).toBeNull();
      expect((await res.json()).error).toMatchObject({ code: "model_not_available", message: expect.stringMatching(/llama-cpp/) });
    } finally {
      await none.close();
    }
  });

  // Any OpenAI client on the VM uses the endpoint for its own tasks (classification, Q&A, translation): a prompt
  // that differs from a stored one by a word that changes its meaning is a different request (the chat cache's
  // lexical tier took it for the stored one).
  it("a context-free request is never answered with the cached answer of a different prompt", async () => {
    const cases: [system: string, first: string, second: string][] = [
      ["Classify the sentiment of the review as positive or negative. One word.", "The food was great", "The food was terrible"],
      ["Answer briefly.", "How do I reverse a list in Python?", "How do I sort a list in Python?"],
      ["Answer briefly.", "What is the boiling point of water?", "What is the freezing point of water?"],
    ];
    const got: string[] = [];
    for (const [system, first, second] of cases) {
      await ask(system, first, `answer to: ${first}`);
      const { content, route } = await ask(system, second, `answer to: ${second}`);
      got.push(`${second} -> ${content} (${route})`);
    }
    expect(got).toEqual(cases.map(([, , second]) => `${second} -> answer to: ${second} (fast:groq)`));
  });

  // A failed cache write (a full disk) once threw the paid answer away with a 500, which the SDK sends again: each
  // retry another paid provider call.
  it("an answer the provider was paid for is returned even when storing it in the cache fails", async () => {
    await h.store.client.execute(
      "CREATE TRIGGER cache_full BEFORE INSERT ON cache_entries BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
    );
    try {
      h.groq.setDefault({ kind: "ok", text: "Saturn, Jupiter, Uranus and Neptune." });
      // The SDK's defaults: a 5xx is sent again up to twice.
      const sdk = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${h.port}/v1` });
      const before = h.modelCalls();
      const res = await sdk.chat.completions.create({
        model: "fast",
        messages: [{ role: "user", content: "Which planets have rings?" }],
      }).then((r) => ({ status: 200, content: r.choices[0]!.message.content }), (err) => ({ status: err.status, content: String(err.message) }));
      expect({ ...res, providerCalls: h.modelCalls() - before })
        .toEqual({ status: 200, content: "Saturn, Jupiter, Uranus and Neptune.", providerCalls: 1 });
    } finally {
      await h.store.client.execute("DROP TRIGGER IF EXISTS cache_full");
    }
  });

  // Last: the server closes the connection the refused body was still coming on.
  it("refuses a body over 1 MiB with 413 before reading it: nothing reaches a provider", async () => {
    const before = h.groq.requests.length;
    const res = await fetch(`http://127.0.0.1:${h.port}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "x".repeat(MAX_BODY_BYTES) }] }),
    });
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("request_too_large");
    expect(h.groq.requests.length).toBe(before);
  });
});

describe("OpenAI-compatible endpoint: spend", () => {
  it("a priced call is in the operator's spend counter as the budget charged it, and so is a billed timeout", async () => {
    const { M } = await import("../../src/metrics/names.ts");
    const price = { inputUsdPerMTok: 1, outputUsdPerMTok: 5 };
    const priced = await startHarness({
      router: (url) => ({
        providers: { groq: { kind: "groq", baseUrl: url, model: "llama-3.1-8b-instant", apiKeyEnv: "GROQ_KEY", timeoutMs: 300 } },
        chain: ["groq"],
        retry: { maxAttempts: 1 },
        budget: { prices: { "llama-3.1-8b-instant": price }, dailyUsd: 10, lowFraction: 0 },
      }),
    });
    try {
      const api = new OpenAI({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${priced.port}/v1`, maxRetries: 0 });
      const post = (content: string) => api.chat.completions.create({ model: "fast", messages: [{ role: "user", content }] });
      priced.groq.script({ kind: "ok", text: "Paris." });
      await post("Capital of France?");
      priced.groq.script({ kind: "ok", text: "Late.", delayMs: 1_000 }); // past timeoutMs: charged its reservation
      await expect(post("Capital of Spain?")).rejects.toMatchObject({ status: 503 });
      const rs = await priced.store.client.execute("SELECT coalesce(sum(spent_micros), 0) AS s FROM router_budget_days");
      const charged = Number(rs.rows[0]!["s"]) / 1e6;
      const counted = priced.agent.metrics.snapshot().filter((s) => s.name === M.cost).reduce((a, s) => a + (s.value ?? 0), 0);
      expect(charged).toBeGreaterThan(0);
      expect(counted).toBeCloseTo(charged, 9);
    } finally {
      await priced.close();
    }
  });
});
