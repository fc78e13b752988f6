// A libSQL server behind a proxy that answers 503 text/plain quoting the request's Authorization header: the
// client puts the whole body in its error message. `aideazz health` (run every minute by the timer; journald keeps
// its stdout) must not print it in its report, table or JSON; every other command that opens the store must not
// print it on stderr, whatever the name of the variable store.authTokenEnv names.
import { createServer, type Server } from "node:http";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAideazz } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

const TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJpYXQiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLW9mLXRoZS1saWJzcWwtdG9rZW4";

let proxy: Server;
let cleanup: () => Promise<void>;
/** store.authTokenEnv: LIBSQL_AUTH_TOKEN (a name that looks like a credential's). */
let tokenConfig: string;
/** store.authTokenEnv: LIBSQL_AUTH (any upper-case name is allowed: only the config says it holds a secret). */
let authConfig: string;

beforeAll(async () => {
  let dir: string;
  ({ dir, cleanup } = await tempDir("aideazz-store-token-echo-"));
  proxy = createServer((req, res) => {
    req.resume();
    res.writeHead(503, { "content-type": "text/plain" });
    res.end(`upstream unavailable; request had authorization: ${req.headers.authorization ?? "(none)"}`);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
  const address = proxy.address();
  const dbPort = typeof address === "object" && address ? address.port : 0;
  const agentPort = await freePort(); // nothing listens: the agent is down, which is not what is tested
  const config = (authTokenEnv: string) =>
    JSON.stringify({
      store: { url: `http://127.0.0.1:${dbPort}`, authTokenEnv },
      agents: [{ name: "analytics", kind: "analytics", port: agentPort }],
      ops: { health: { timeoutMs: 2_000 } },
    });
  tokenConfig = join(dir, "token.json");
  authConfig = join(dir, "auth.json");
  await writeFile(tokenConfig, config("LIBSQL_AUTH_TOKEN"));
  await writeFile(authConfig, config("LIBSQL_AUTH"));
});

afterAll(async () => {
  await new Promise<void>((r) => proxy.close(() => r()));
  await cleanup();
});

describe("a libSQL server whose error quotes the auth token", () => {
  for (const json of [false, true]) {
    it(`aideazz health${json ? " --json" : ""} never prints the store's auth token in its report`, async () => {
      const args = ["health", "--config", tokenConfig, ...(json ? ["--json"] : [])];
      const out = await runAideazz(args, { env: { LIBSQL_AUTH_TOKEN: TOKEN } });
      // The check really ran against the failing server: the report says the database cannot be read.
      expect(out.stdout).toMatch(/cannot read/);
      expect(out.stdout + out.stderr).not.toContain(TOKEN);
      if (json) expect(JSON.parse(out.stdout).checks).toContainEqual(expect.objectContaining({ name: "database", level: "down" }));
    }, 60_000);
  }

  it("bus stats, bus dlq list, stats and migrate never print the token of the variable store.authTokenEnv names", async () => {
    const leaks: string[] = [];
    for (const args of [["bus", "stats"], ["bus", "dlq", "list"], ["stats"], ["migrate"]]) {
      const out = await runAideazz([...args, "--config", authConfig], { env: { LIBSQL_AUTH: TOKEN } });
      expect(out.code).toBe(1); // the store failed (503), as meant
      if ((out.stdout + out.stderr).includes(TOKEN)) leaks.push(`aideazz ${args.join(" ")}: ${out.stderr.trim()}`);
    }
    expect(leaks).toEqual([]);
  }, 120_000);
});
