import { readFileSync } from "node:fs";

export function telegramFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../fixtures/telegram/${name}.json`, import.meta.url), "utf8"));
}
