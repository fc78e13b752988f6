// README "Two commands" and "Logging", run as written: `npm start -- up --config aideazz.example.json` on the
// embedded defaults (a copy of the example config and FAQ in a temp dir, only the ports changed so that parallel
// runs do not collide), an FAQ question in the web chat, and the README's recipe for reading the logs with jq:
// `npm start --silent -- up | sed 's/^[^|]*| //' | jq .`.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { health, until } from "../ops/support.ts";
import { repoRoot } from "../support/cli.ts";
import { freePorts } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
let npm: ChildProcess;
let stdout = "";
let exited: Promise<number | null>;
let webPort: number;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("aideazz-quick-start-"));
  const example = JSON.parse(await readFile(join(repoRoot, "aideazz.example.json"), "utf8"));
  const ports = await freePorts(example.agents.length);
  example.agents.forEach((a: { port: number }, i: number) => (a.port = ports[i]!));
  webPort = example.agents.find((a: { kind: string }) => a.kind === "webchat").port;
  await writeFile(join(dir, "aideazz.example.json"), JSON.stringify(example, null, 2));
  await copyFile(join(repoRoot, "faq.example.json"), join(dir, "faq.example.json"));
  npm = spawn("npm", ["start", "--silent", "--", "up", "--config", join(dir, "aideazz.example.json")], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "ignore"],
    detached: false,
  });
  npm.stdout?.on("data", (d) => (stdout += d));
  exited = new Promise((r) => npm.once("exit", (code) => r(code)));
  for (const port of ports) await until(`agent on ${port} healthy`, async () => (await health(port))?.status === 200, 60_000);
}, 90_000);

afterAll(async () => {
  npm?.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  npm?.kill("SIGKILL");
  await cleanup?.();
}, 40_000);

describe("README quick start", () => {
  it("the web chat answers an FAQ question from faq.example.json", async () => {
    const session = randomUUID();
    const posted = await fetch(`http://127.0.0.1:${webPort}/api/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ session, id: randomUUID(), text: "How much does it cost?" }),
    });
    expect(posted.status).toBe(202);
    const reply = await until("the FAQ answer", async () => {
      const r = await fetch(`http://127.0.0.1:${webPort}/api/replies?after=0`, { headers: { "X-Aideazz-Session": session } });
      const body = await r.json() as { replies: { text: string }[] };
      return body.replies[0]?.text;
    }, 15_000);
    expect(reply).toContain("Starter at $9/month and Pro at $29/month");
  }, 30_000);

  it("README Logging: `npm start --silent -- up | sed 's/^[^|]*| //' | jq .` gets only JSON lines on stdout", () => {
    // jq stops at the first line that is not JSON; every stdout line after the sed must parse.
    const lines = stdout.split("\n").map((l) => l.replace(/^[^|]*\| /, "")).filter((l) => l.trim() !== "");
    const notJson = lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(lines.length).toBeGreaterThan(3);
    expect(notJson).toEqual([]);
  });
});
