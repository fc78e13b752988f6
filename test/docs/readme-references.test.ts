// Every file README.md sends the operator to exists in the repository.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.ts";

describe("README's file references", () => {
  it("every repository file README names (docs, scripts, tests, bench files) exists", async () => {
    const readme = await readFile(join(repoRoot, "README.md"), "utf8");
    const named = new Set<string>();
    for (const m of readme.matchAll(/(?<![\w/.-])((?:src|test|scripts|bench|systemd|docs|\.ci)\/[\w./@-]*\w)/g)) named.add(m[1]!);
    expect(named.size).toBeGreaterThan(20);
    const missing = [...named].filter((p) => !existsSync(join(repoRoot, p.replace(/\*.*$/, ""))));
    expect(missing).toEqual([]);
  });
});
