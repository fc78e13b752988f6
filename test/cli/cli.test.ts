import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, migrations, openStore } from "../../src/store/mod.ts";
import { VERSION } from "../../src/version.ts";
import { cli, spawnAideazz, waitForStatus } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  await writeFile(
    join(dir, "aideazz.json"),
    JSON.stringify({
      agents: [
        { name: "analytics", kind: "analytics", port: 18_001 },
        { name: "tg", kind: "telegram", port: 18_002, telegram: { tokenEnv: "TG_TOKEN", secretTokenEnv: "TG_SECRET" } },
      ],
    }),
  );
});
afterAll(() => cleanup());

describe("aideazz CLI", () => {
  it("--version and version print the version and exit 0", async () => {
    for (const args of [["--version"], ["-V"], ["version"]]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`aideazz ${VERSION}`);
    }
  });

  it("--help lists every command and exits 0", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    for (const name of ["agent <name>", "migrate", "config check", "config schema", "help [command]"]) {
      expect(r.stdout).toContain(name);
    }
  });

  it("--help and --version beside a global option (--config kept from the start command) still answer", async () => {
    for (const args of [["--version", "--config", "aideazz.example.json"], ["--config", "aideazz.example.json", "-V"]]) {
      const r = await cli(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
      expect(r.stdout).toContain(`aideazz ${VERSION}`);
    }
    for (const args of [["--help", "--config", "aideazz.example.json"], ["--config", "aideazz.example.json", "-h"]]) {
      const r = await cli(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
      expect(r.stdout).toContain("Usage: aideazz <command>");
    }
  });

  it("help <command> and <command> --help show that command's usage", async () => {
    const a = await cli(["help", "migrate"]);
    expect(a.code).toBe(0);
    expect(a.stdout).toContain("Usage: aideazz migrate");
    const b = await cli(["config", "check", "--help"]);
    expect(b.code).toBe(0);
    expect(b.stdout).toContain("Usage: aideazz config check");
    // A group (bus, cache, config, leads, systemd) lists its subcommands.
    for (const args of [["help", "bus"], ["bus", "--help"], ["systemd", "-h"]]) {
      const g = await cli(args);
      expect({ args, code: g.code }).toEqual({ args, code: 0 });
      expect(g.stdout).toMatch(new RegExp(`^Usage: aideazz ${args.includes("help") ? args[1] : args[0]} <`));
    }
    expect((await cli(["help", "bus"])).stdout).toContain("bus dlq");
  });

  it.each([
    [[], "missing command"],
    [["frobnicate"], 'unknown command "frobnicate"'],
    [["help", "frobnicate"], 'unknown command "frobnicate"'],
    [["migrate", "--bogus"], "Unknown option '--bogus'"],
    [["--bogus"], 'unknown option "--bogus"'],
    [["--config", "/etc/aideazz/aideazz.json"], "missing command"],
    [["--db=file:x.db"], "missing command"],
    [["config"], '"config" needs a subcommand: config check, config schema'],
    [["config", "frob"], '"config" needs a subcommand'],
    [["agent"], "agent: missing <name>"],
    [["agent", "a", "b"], 'agent: unexpected argument "b"'],
    [["migrate", "--db", "postgres://x"], "--db must be a libSQL URL"],
    [["migrate", "--db"], "Option '--db <value>' argument missing"],
  ])("usage error %j → one line on stderr, usage, exit 2", async (args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    const [first, ...rest] = r.stderr.split("\n");
    expect(first).toContain(message);
    expect(first!.startsWith("aideazz: ")).toBe(true);
    expect(rest.join("\n")).toContain("Usage: aideazz");
    expect(r.stdout).toBe("");
  });

  // A URL missing its scheme is an easy slip; its ?authToken= must not reach the terminal or a journal.
  it("a --db or AIDEAZZ_DB that is no libSQL URL: the error does not repeat its token or password", async () => {
    for (
      const [args, env] of [
        [["migrate", "--db", "127.0.0.1:8080/?authToken=abcdef-secret-token"], {}],
        [["bus", "stats", "--db", "postgres://admin:pa55word-secret@db.example/app"], {}],
        [["migrate"], { AIDEAZZ_DB: "127.0.0.1:8080/?authToken=abcdef-secret-token" }],
      ] as const
    ) {
      const r = await cli([...args], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("must be a libSQL URL");
      expect(r.stderr).not.toMatch(/abcdef-secret-token|pa55word-secret/);
    }
  });

  it("a libSQL URL with a user and password: exit 1 saying how to give a token, the password never repeated", async () => {
    const port = await freePort(); // nothing listens there
    for (const scheme of ["libsql", "https"]) {
      const url = `${scheme}://admin:pa55word-secret@127.0.0.1:${port}`;
      for (const [args, env] of [[["migrate", "--db", url], {}], [["bus", "stats", "--db", url], {}], [["migrate"], { AIDEAZZ_DB: url }]] as const) {
        const r = await cli([...args], { env });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`the store URL ${scheme}://127\\.0\\.0\\.1:${port}/? holds a user and password`));
        expect(r.stderr + r.stdout).not.toContain("pa55word-secret");
      }
    }
  });

  it("a missing config file is exit 1 naming the path and the ways to give one", async () => {
    const r = await cli(["agent", "analytics"], { cwd: join(dir, "nowhere") });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(join(dir, "nowhere", "aideazz.json"));
    expect(r.stderr).toContain("--config");
    expect(r.stderr).toContain("AIDEAZZ_CONFIG");
  });

  it("AIDEAZZ_CONFIG selects the config file", async () => {
    const r = await cli(["config", "check"], { env: { AIDEAZZ_CONFIG: join(dir, "aideazz.json"), TG_TOKEN: "123456:abcdef", TG_SECRET: "s3cr3t-value" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("AIDEAZZ_CONFIG and AIDEAZZ_DB set but empty (`AIDEAZZ_DB=` in a unit file) count as not set", async () => {
    const env = { AIDEAZZ_CONFIG: "", AIDEAZZ_DB: "", TG_TOKEN: "123456:abcdef", TG_SECRET: "s3cr3t-value" };
    const r = await cli(["config", "check"], { cwd: dir, env });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`${join(dir, "aideazz.json")}: ok`);
  });

  it("systemd restart of an unknown agent: exit 2 with the configured names and the command's usage, nothing restarted", async () => {
    const r = await cli(["systemd", "restart", "nope"], { cwd: dir, env: { TG_TOKEN: "123456:abcdef", TG_SECRET: "s3cr3t-value" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^aideazz: systemd restart: no agent named "nope"; configured: \S/);
    expect(r.stderr).toContain("Usage: aideazz systemd restart");
    expect(r.stdout).toBe("");
  });

  it("agent with an unknown name is exit 1 listing the configured agents", async () => {
    const r = await cli(["agent", "nope"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no agent named "nope"');
    expect(r.stderr).toContain("analytics, tg");
  });

  it("agent whose secrets are missing is exit 1 naming the field and variable", async () => {
    const r = await cli(["agent", "tg"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("agents[1].telegram.tokenEnv: environment variable TG_TOKEN is not set");
  });

  it("starting one agent does not require the secrets of the others", async () => {
    // migrate with the config (no --db) needs no agent's secrets at all
    const r = await cli(["migrate", "--db", `file:${join(dir, "m.db")}`], { cwd: dir });
    expect(r.code).toBe(0);
    const m = await cli(["migrate"], { cwd: dir });
    expect(m.stderr).toBe("");
    expect(m.code).toBe(0);
  });

  it("agent orchestrator calls the cache's embeddings endpoint with the key named by cache.embeddings.apiKeyEnv", async () => {
    // A hosted embeddings endpoint (it takes only the configured key) beside a model's chat completions.
    const auth: (string | undefined)[] = [];
    const embeddings = createServer((req, res) => {
      const embed = req.url === "/v1/embeddings";
      if (embed) auth.push(req.headers["authorization"]);
      req.resume().on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(
          embed
            ? { data: [{ embedding: [0.1, 0.2, 0.3] }] }
            : { choices: [{ message: { role: "assistant", content: "Yes, in 3 days." }, finish_reason: "stop" }] },
        ));
      });
    });
    await new Promise<void>((resolve) => embeddings.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(embeddings.address() as AddressInfo).port}/v1`;
    const port = await freePort();
    const config = join(dir, "embeddings.json");
    await writeFile(config, JSON.stringify({
      store: { url: `file:${join(dir, "embeddings.db")}` },
      cache: { embeddings: { baseUrl: base, apiKeyEnv: "EMBED_API_KEY" } },
      router: { providers: { model: { kind: "openai-compatible", baseUrl: base, model: "m" } }, chain: ["model"] },
      agents: [{ name: "orchestrator", kind: "orchestrator", port, apiKeyEnv: "ORCH_API_KEY" }],
    }));
    const child = spawnAideazz(["agent", "orchestrator", "--config", config], {
      env: { ORCH_API_KEY: "orch-key-0123456789", EMBED_API_KEY: "embed-key-0123456789" },
    });
    try {
      await waitForStatus(`http://127.0.0.1:${port}/health`, 200);
      // A context-free question: the model's answer is cached, with the question's embedding.
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer orch-key-0123456789" },
        body: JSON.stringify({ model: "fast", messages: [{ role: "user", content: "Do you ship to Spain?" }] }),
      });
      expect(res.status).toBe(200);
      await res.body?.cancel();
      expect([...new Set(auth)]).toEqual(["Bearer embed-key-0123456789"]);
    } finally {
      child.proc.kill("SIGTERM");
      await child.exited;
      await new Promise((resolve) => embeddings.close(resolve));
    }
  }, 60_000);

  it("migrate --db works without any config file and is idempotent", async () => {
    const url = `file:${join(dir, "scratch.db")}`;
    const first = await cli(["migrate", "--db", url], { cwd: join(dir, "nowhere") });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied 1/);
    const second = await cli(["migrate", "--db", url]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("already up to date");
  });

  it("commands that read a database never create one at a mistyped path: exit 1 naming it", async () => {
    const missing = join(dir, "typo", "aideazz.db");
    const config = join(dir, "aideazz.json");
    for (
      const args of [
        ["stats"],
        ["bus", "stats"],
        ["bus", "dlq", "list"],
        ["trace", "last"],
        ["leads", "export"],
        ["cache", "stats", "--config", config],
      ]
    ) {
      const r = await cli([...args, "--db", `file:${missing}`]);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toContain(`no database at ${missing}`);
    }
    expect(existsSync(join(dir, "typo"))).toBe(false);
  });

  it("a read command on a missing file or on a file that is no database: exit 1 naming the file, nothing created", async () => {
    const missing = join(dir, "never-made.db");
    const r = await cli(["bus", "stats", "--db", `file:${missing}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no database at ${missing} (nothing was created; \`aideazz migrate\` creates it)`);
    expect(existsSync(missing)).toBe(false);
    const notDb = join(dir, "notes.txt");
    await writeFile(notDb, "shopping list\n".repeat(100));
    const n = await cli(["stats", "--db", `file:${notDb}`]);
    expect(n.code).toBe(1);
    expect(n.stderr).toContain(`${notDb} is not a SQLite database (check the store URL or --db)`);
  });

  it("commands that read a database never migrate it (agents of the older release could not start again)", async () => {
    const path = join(dir, "older.db");
    const store = await openStore({ url: `file:${path}` });
    const previous = migrations.slice(0, -1);
    await migrate(store.client, Date.now, previous);
    const version = async () => (await store.client.execute("SELECT max(version) AS v FROM schema_migrations")).rows[0]!["v"];
    const before = await version();
    try {
      for (const args of [["leads", "export"], ["leads", "export", "--format", "json"], ["cache", "stats"], ["cache", "stats", "--json"]]) {
        expect((await cli([...args, "--db", `file:${path}`])).code).toBe(0);
      }
      expect(await version()).toBe(before);
      // On a database without the tables: exit 1 saying to migrate, still nothing written.
      await writeFile(join(dir, "empty.db"), "");
      const r = await cli(["leads", "export", "--db", `file:${join(dir, "empty.db")}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("no leads table yet; run 'aideazz migrate' first");
    } finally {
      store.close();
    }
  });

  it("AIDEAZZ_DB overrides the configured store", async () => {
    const r = await cli(["migrate"], { cwd: join(dir, "nowhere"), env: { AIDEAZZ_DB: `file:${join(dir, "env.db")}` } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(join(dir, "env.db"));
  });
});
