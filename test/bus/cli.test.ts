// `aideazz bus stats` and `aideazz bus dlq …`. Until src/cli/mod.ts registers the commands, they are driven
// through the same parseArgs call runCli makes.
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteBus } from "../../src/bus/mod.ts";
import { type CliDeps, type Command, commands } from "../../src/cli/mod.ts";
import { UsageError } from "../../src/cli/command.ts";
import { busDlqCommand, busStatsCommand } from "../../src/cli/commands/bus.ts";
import { GLOBAL_OPTIONS } from "../../src/cli/context.ts";
import { cli } from "../support/cli.ts";
import { waitFor } from "./contract.ts";
import { freshDb, type TestDb } from "./helpers.ts";

async function run(args: string[]) {
  if (commands.some((c) => c.name === "bus stats")) return await cli(args);
  let stdout = "";
  let stderr = "";
  // Only what the bus commands use; the full CliDeps is built by test/support/cli.ts once they are registered.
  const deps = {
    env: {},
    cwd: process.cwd(),
    stdout: (t: string) => void (stdout += t),
    stderr: (t: string) => void (stderr += t),
    readTextFile: (p: string) => readFile(p, "utf8"),
    now: Date.now,
  } as unknown as CliDeps;
  const command: Command = args[1] === "stats" ? busStatsCommand : busDlqCommand;
  const parsed = parseArgs({
    args: args.slice(2),
    options: { ...GLOBAL_OPTIONS, ...command.options },
    allowPositionals: true,
  });
  let code: number;
  try {
    code = await command.run({
      values: parsed.values as Record<string, string | boolean>,
      positionals: parsed.positionals,
      deps,
    });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    stderr += `aideazz: ${err.message}\n`;
    code = 2;
  }
  return { code, stdout, stderr };
}

describe("aideazz bus", () => {
  let db: TestDb;
  afterEach(async () => await db?.cleanup());

  async function withDeadLetters() {
    db = await freshDb();
    const bus = createSqliteBus(db.store);
    await bus.subscribe("inbound", "orchestrator");
    await bus.subscribe("inbound", "analytics");
    const [a, b] = await bus.publish([
      { topic: "inbound", key: "tg:1", payload: { text: "hi" } },
      { topic: "inbound", key: "tg:2", payload: { text: "yo" } },
    ]);
    const c = bus.consume({
      topic: "inbound",
      group: "orchestrator",
      maxAttempts: 1,
      handler: () =>
        Promise.reject(new Error("model refused:\n  quota; no provider answered the simple turn: groq (breaker_open), local (timeout)")),
    });
    await waitFor(async () => (await bus.deadLetters()).length === 2, "two dead letters");
    await c.stop();
    await bus.close();
    return { ids: [a!.id, b!.id], db: ["--db", `file:${db.path}`] };
  }

  it("bus stats prints a table per topic and group, or JSON", async () => {
    const { db: dbArgs } = await withDeadLetters();
    const r = await run(["bus", "stats", ...dbArgs]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^TOPIC\s+GROUP\s+READY\s+IN-FLIGHT\s+DELAYED\s+OLDEST\s+DEAD$/);
    expect(lines[1]).toMatch(/^inbound\s+analytics\s+2\s+0\s+0\s+\S+\s+0$/);
    expect(lines[2]).toMatch(/^inbound\s+orchestrator\s+0\s+0\s+0\s+-\s+2$/);
    const j = await run(["bus", "stats", "--json", ...dbArgs]);
    expect(JSON.parse(j.stdout)).toEqual([
      expect.objectContaining({ topic: "inbound", group: "analytics", ready: 2, deadLetters: 0 }),
      expect.objectContaining({
        topic: "inbound",
        group: "orchestrator",
        ready: 0,
        deadLetters: 2,
        oldestAgeMs: null,
      }),
    ]);
  });

  it("bus dlq list shows each dead letter with its last error; --json carries the payload", async () => {
    const { ids, db: dbArgs } = await withDeadLetters();
    const r = await run(["bus", "dlq", "list", ...dbArgs]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^ID\\s+TOPIC\\s+GROUP\\s+KEY\\s+ATTEMPTS\\s+DEAD\\s+TRACE\\s+LAST ERROR\\n\\s*${
          ids[0]
        }\\s+inbound\\s+orchestrator\\s+tg:1\\s+1\\s+\\S+ ago\\s+\\S+\\s+Error: model refused: quota; no provider answered the simple turn: groq \\(breaker_open\\), local \\(timeout\\)\\n`,
      ),
    );
    const j = await run(["bus", "dlq", "list", "--json", "--limit", "1", ...dbArgs]);
    expect(JSON.parse(j.stdout)).toEqual([
      expect.objectContaining({ id: ids[0], payload: { text: "hi" }, attempts: 1 }),
    ]);
    expect(await run(["bus", "dlq", "list", "--topic", "outbound", ...dbArgs])).toEqual({
      code: 1,
      stdout: "",
      stderr: 'bus dlq list: no topic "outbound"; the bus has inbound\n',
    });
    expect((await run(["bus", "dlq", "list", "--group", "analytics", ...dbArgs])).stdout).toBe(
      "bus dlq: no dead letters\n",
    );
  });

  it("bus dlq retry <id> re-queues one; an unknown id exits 1", async () => {
    const { ids, db: dbArgs } = await withDeadLetters();
    const r = await run(["bus", "dlq", "retry", String(ids[0]), ...dbArgs]);
    expect(r).toEqual({ code: 0, stdout: `bus dlq: re-queued message ${ids[0]}\n`, stderr: "" });
    const again = await run(["bus", "dlq", "retry", String(ids[0]), "--group", "orchestrator", ...dbArgs]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`bus dlq retry: no dead letter with id ${ids[0]} in group "orchestrator"\n`);
    const stats = JSON.parse((await run(["bus", "stats", "--json", ...dbArgs])).stdout);
    expect(stats[1]).toMatchObject({ group: "orchestrator", ready: 1, deadLetters: 1 });
  });

  it("bus dlq purge needs a filter or --all, and reports how many it purged", async () => {
    const { db: dbArgs } = await withDeadLetters();
    const bare = await run(["bus", "dlq", "purge", ...dbArgs]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("give --topic, --group or --older-than, or --all");
    expect((await run(["bus", "dlq", "purge", "--older-than", "1h", ...dbArgs])).stdout).toBe(
      "bus dlq: purged 0 dead letters\n",
    );
    expect((await run(["bus", "dlq", "purge", "--all", ...dbArgs])).stdout).toBe(
      "bus dlq: purged 2 dead letters\n",
    );
  });

  it("usage errors exit 2 with one clear line; a database without the bus tables exits 1", async () => {
    db = await freshDb();
    const dbArgs = ["--db", `file:${db.path}`];
    expect((await run(["bus", "dlq", "frob", ...dbArgs])).stderr).toContain('unknown action "frob"');
    expect((await run(["bus", "dlq", "retry", "abc", ...dbArgs])).code).toBe(2);
    expect((await run(["bus", "dlq", "list", "--limit", "0", ...dbArgs])).code).toBe(2);
    for (const age of ["soon", "7"]) { // a bare number has no unit: not 7 ms
      const r = await run(["bus", "dlq", "purge", "--older-than", age, ...dbArgs]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--older-than must be a duration like 90m, 12h or 7d, got "${age}"`);
      expect(r.stderr).toContain("Usage: aideazz bus dlq"); // the command's usage, not every command's
    }
    // An id or a count in another notation is not taken for a different number (0x10 is not message 16).
    for (const id of ["0x10", "1e1", "2.0", "+3", "9007199254740993"]) {
      const r = await run(["bus", "dlq", "retry", id, ...dbArgs]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`<id> must be a message id, got "${id}"`);
    }
    expect((await run(["bus", "dlq", "list", "--limit", "0x10", ...dbArgs])).stderr).toContain(
      '--limit must be a positive integer, got "0x10"',
    );
    // An option the action does not take is refused, never ignored.
    for (
      const [args, option] of [
        [["retry", "3", "--topic", "outbound"], "topic"],
        [["purge", "--all", "--limit", "1"], "limit"],
        [["list", "--older-than", "30d"], "older-than"],
        [["list", "--all"], "all"],
      ] as const
    ) {
      const r = await run(["bus", "dlq", ...args, ...dbArgs]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`bus dlq ${args[0]}: --${option} is not an option of ${args[0]}`);
    }
    const empty = await freshDb();
    await empty.store.client.execute("DROP TABLE bus_messages");
    const r = await run(["bus", "stats", "--db", `file:${empty.path}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("run 'aideazz migrate' first");
    await empty.cleanup();
  });
});
