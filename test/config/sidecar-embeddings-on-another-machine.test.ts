/**
 * `cache.embeddings.baseUrl` is a destination, not a bind: beside a llama.cpp sidecar bound on every address, only a
 * loopback URL (or the sidecar's own address) on its port reaches the sidecar. An embeddings server on another
 * machine with the same port number is not it, so `config check` must not refuse it as "the sidecar without
 * --embeddings".
 */
import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";

function issuesOf(config: unknown): ConfigIssue[] {
  try {
    loadConfig(JSON.stringify(config), {}, []);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

const configWith = (llamaUrl: string, embeddingsUrl: string) => ({
  agents: [{ name: "orchestrator", kind: "orchestrator", port: 9101 }],
  ops: { llama: { url: llamaUrl } },
  cache: { embeddings: { baseUrl: embeddingsUrl } },
});

describe("cache.embeddings beside a llama.cpp sidecar bound on every address", () => {
  it("an embeddings server on another machine, on the sidecar's port number, is accepted", () => {
    expect(issuesOf(configWith("http://0.0.0.0:8080", "http://10.20.30.40:8080/v1"))).toEqual([]);
    expect(issuesOf(configWith("http://[::]:8080", "http://[fd00::7]:8080/v1"))).toEqual([]);
  });

  it("a loopback URL on its port is the sidecar, and is refused while ops.llama.embeddings is off", () => {
    for (const url of ["http://127.0.0.1:8080/v1", "http://[::1]:8080/v1", "http://localhost:8080/v1"]) {
      expect(issuesOf(configWith("http://0.0.0.0:8080", url)).map((i) => i.path)).toEqual(["cache.embeddings.baseUrl"]);
    }
  });
});
