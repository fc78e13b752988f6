// `aideazz health --restart` after the wall clock was stepped back (NTP correcting a clock that ran ahead): restarts
// recorded while the clock was ahead lie in the future. decideRestart ignores them (`t <= now`); the claim that
// records the restart once counted them, so a crash-looping agent was left down until the clock caught up.
// Real CLI process, real store, a `systemctl` on PATH that answers like systemd for a unit whose start limit was hit.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openStore } from "../../src/store/mod.ts";
import { runAideazz } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";
import { writeConfig } from "../ops/support.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-clock-")));
afterAll(() => cleanup());

function fakeSystemctl(): { bin: string; calls: () => string[] } {
  const log = join(dir, "systemctl.log");
  const script = join(dir, "systemctl");
  writeFileSync(
    script,
    `#!/bin/sh
echo "$*" >> '${log}'
case "$*" in
  *" show "*) printf 'ActiveState=failed\\nSubState=failed\\nResult=start-limit-hit\\nMainPID=0\\nActiveEnterTimestamp=\\n' ;;
esac
exit 0
`,
  );
  chmodSync(script, 0o755);
  return { bin: dir, calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []) };
}

describe("health --restart after the clock was stepped back", () => {
  it("a crash-looped agent (start-limit-hit) is restarted though an earlier restart was recorded 2 h 'ahead'", async () => {
    const db = `file:${join(dir, "aideazz.db")}`;
    const store = await openStore({ url: db });
    await migrate(store.client);
    // Recorded yesterday evening while the VM's clock ran 2 h ahead; NTP has since stepped it back.
    await store.client.execute({
      sql: `INSERT INTO restarts (target, unit, at, kind, reason, action, ok) VALUES
            ('a', 'aideazz-agent@a.service', ?, 'failure', 'down: connection refused', 'restart', 1)`,
      args: [Date.now() + 2 * 3_600_000],
    });
    store.close();
    const config = join(dir, "aideazz.json");
    await writeConfig(config, [{ name: "a", port: await freePort() }], db); // nothing listens: down
    const systemctl = fakeSystemctl();
    const r = await runAideazz(["health", "--json", "--restart", "--config", config], {
      env: { PATH: `${systemctl.bin}:${process.env["PATH"]}` },
    });
    expect(r.code).toBe(2);
    const report = JSON.parse(r.stdout) as { actions: { target: string; action: string; reason: string }[] };
    expect(report.actions.map((a) => [a.target, a.action, a.action === "skip" ? a.reason : ""])).toEqual([
      ["a", "reset-failed+restart", ""],
    ]);
    expect(systemctl.calls().filter((c) => !c.includes(" show "))).toEqual([
      "--no-ask-password reset-failed -- aideazz-agent@a.service",
      "--no-ask-password restart -- aideazz-agent@a.service",
    ]);
  }, 60_000);
});
