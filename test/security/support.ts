/** Small clusters for the security tests: real agent processes, fake platforms, webhook helpers. */
import { readFile } from "node:fs/promises";
import { type Cluster, repoRoot } from "../../bench/system/cluster.ts";
import { signature, textPayload } from "../fakes/graph.ts";
import { makeUpdate } from "../fakes/telegram.ts";

const telegramFixture = JSON.parse(await readFile(`${repoRoot}test/fixtures/telegram/text.json`, "utf8"));

/** Posts a Telegram update with the agent's secret token; returns the status. */
export async function postTelegram(cluster: Cluster, agent: string, o: { updateId: number; chatId: number; text: string }) {
  const a = cluster.agents.get(agent)!;
  const res = await fetch(`http://127.0.0.1:${a.port}/telegram/webhook`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "X-Telegram-Bot-Api-Secret-Token": cluster.secrets[`TG${agent.slice(2)}_SECRET`]!,
    },
    body: JSON.stringify(makeUpdate(telegramFixture, o)),
  });
  await res.body?.cancel();
  return res.status;
}

/** Posts a signed WhatsApp text message; returns the status. */
export async function postWhatsApp(cluster: Cluster, agent: string, o: { id: string; from: string; body: string }) {
  const a = cluster.agents.get(agent)!;
  const body = JSON.stringify(textPayload({ ...o, phoneNumberId: cluster.phoneNumberIds.get(agent)! }));
  const res = await fetch(`http://127.0.0.1:${a.port}/whatsapp/webhook`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "X-Hub-Signature-256": signature(body, cluster.secrets[`WA${agent.slice(2)}_APP_SECRET`]!),
    },
    body,
  });
  await res.body?.cancel();
  return res.status;
}

/** Texts the fake platforms delivered to one chat, in order. */
export function repliesTo(cluster: Cluster, agent: string, chat: string): string[] {
  const tg = cluster.telegram.get(agent);
  if (tg) return tg.sent.filter((s) => String(s.chatId) === chat).map((s) => s.text);
  return cluster.graph.get(agent)!.sent.filter((s) => s.to === chat).map((s) => s.text ?? "");
}

export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
