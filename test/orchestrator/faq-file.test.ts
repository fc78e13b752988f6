// The orchestrator started with a FAQ file it cannot use refuses to start with the config field named, as
// `aideazz config check` says it (an operator reading the journal sees which setting to fix).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runAideazz } from "../support/cli.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/tmp.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("aideazz-faqfile-")));
afterAll(() => cleanup());

describe("orchestrator FAQ file", () => {
  it("a missing or malformed FAQ file: exit 1, the field and the file named", async () => {
    await writeFile(join(dir, "bad.json"), JSON.stringify({ entries: [{ questions: [], answer: "x" }] }));
    for (const [faq, expected] of [
      ["missing.json", /roles\.support\.faq: cannot read .*missing\.json; fix the path/],
      ["bad.json", /roles\.support\.faq: .*bad\.json.*give at least one way to ask the question/],
    ] as const) {
      const config = join(dir, `${faq}.config.json`);
      await writeFile(config, JSON.stringify({
        store: { url: `file:${join(dir, "o.db")}` },
        roles: { support: { kind: "support", systemPrompt: "Be nice.", faq } },
        agents: [{ name: "orchestrator", kind: "orchestrator", port: await freePort() }],
      }));
      const r = await runAideazz(["agent", "orchestrator", "--config", config]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/aideazz: invalid config/);
      expect(r.stderr).toMatch(expected);
    }
  }, 60_000);
});
