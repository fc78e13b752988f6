// README "Operations": `--restart` leaves alone an agent an operator stopped, and recycles the healthy agent most
// overdue for its recycle age. One stopped agent in the config once ended every other agent's recycling (memory
// recycles included): heal() returned before recycling whenever any target was down.
// Real agent process, real store, the CLI under Deno, a `systemctl` on PATH that answers like systemd.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Child, runAideazz, spawnAideazz } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { health, until, writeConfig } from "../ops/support.ts";

let dir: string;
let cleanup: () => Promise<void>;
const children: Child[] = [];
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-recycle-")));
afterAll(async () => {
  for (const c of children) c.proc.kill("SIGTERM");
  await Promise.all(children.map((c) => c.exited));
  await cleanup();
});

/** systemd as seen by `systemctl show`: `a` running for an hour, `b` stopped by the operator. */
function fakeSystemctl(): { bin: string; calls: () => string[] } {
  const log = join(dir, "systemctl.log");
  const script = join(dir, "systemctl");
  const since = Math.floor(Date.now() / 1000) - 3600;
  writeFileSync(
    script,
    `#!/bin/sh
echo "$*" >> '${log}'
case "$*" in
  *" show "*aideazz-agent@a.service) printf 'ActiveState=active\\nSubState=running\\nResult=success\\nMainPID=4242\\nActiveEnterTimestamp=@${since}\\n' ;;
  *" show "*) printf 'ActiveState=inactive\\nSubState=dead\\nResult=success\\nMainPID=0\\nActiveEnterTimestamp=@${since}\\n' ;;
esac
exit 0
`,
  );
  chmodSync(script, 0o755);
  return { bin: dir, calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []) };
}

describe("health --restart: recycling with an agent an operator stopped", () => {
  it("the overdue agent is recycled; the stopped one is left alone", async () => {
    const db = `file:${join(dir, "aideazz.db")}`;
    const [pa, pb] = [await freePort(), await freePort()];
    const config = join(dir, "aideazz.json");
    // Recycle age 1 s (no spread), at most one (re)start per 5 s: `a` is overdue once it has run 5 s.
    await writeConfig(config, [{ name: "a", port: pa }, { name: "b", port: pb }], db, {
      recycle: { afterSec: 1, spreadSec: 0, minGapSec: 5 },
    });
    const a = spawnAideazz(["agent", "a", "--config", config]);
    children.push(a);
    await until("a healthy", async () => (await health(pa))?.status === 200);
    await new Promise((r) => setTimeout(r, 6_000));
    const systemctl = fakeSystemctl();
    const r = await runAideazz(["health", "--json", "--restart", "--config", config], {
      env: { PATH: `${systemctl.bin}:${process.env["PATH"]}` },
    });
    const report = JSON.parse(r.stdout) as { actions: { target: string; action: string }[] };
    expect(report.actions.map((x) => [x.target, x.action])).toEqual([["b", "skip"], ["a", "recycle"]]);
    expect(systemctl.calls()).toContain("--no-ask-password restart -- aideazz-agent@a.service");
  }, 90_000);
});
