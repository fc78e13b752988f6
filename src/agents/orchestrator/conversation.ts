/**
 * Conversation memory per chat, in the store: the last turns, trimmed to a token budget, are the context a model
 * sees. The assistant turn records which inbound message it answers, so a redelivered message (the process died
 * after saving the answer, before publishing it) gets the same answer again instead of a second model call.
 *
 * @module
 */
import { estimateTextTokens } from "../../router/chain.ts";
import { batchReads, type Client, type InStatement, purgeInChunks, selectRows } from "../../store/mod.ts";

export interface Turn {
  role: "user" | "assistant";
  text: string;
  at: number;
}

export interface Conversations {
  /** The most recent turns of a chat whose estimated tokens fit `maxTokens`, oldest first. */
  recent(chat: string, maxTokens: number, maxTurns?: number): Promise<Turn[]>;
  /** The answer already saved for an inbound message, if any. */
  answerFor(inboundId: number): Promise<string | undefined>;
  /** Statements saving a question and its answer, for the caller's write batch. */
  saveStatements(chat: string, inboundId: number, question: Turn, answer: Turn): InStatement[];
  /**
   * Forgets a chat's conversation (/reset): its turns, and what the model is told of its lead; the lead keeps the
   * fields it collected (the business's record; `aideazz forget` erases it).
   */
  reset(chat: string): Promise<void>;
  /** Deletes turns older than `cutoff` (epoch ms): the retention job. Returns how many. */
  purgeBefore(cutoff: number, signal?: AbortSignal): Promise<number>;
}

export function createConversations(client: Client): Conversations {
  const answerOf = batchReads(async (ids) => {
    const rows = await selectRows<[number, string]>(client, {
      sql: `SELECT inbound_id, text FROM json_each(?1) AS j
        CROSS JOIN conversation_turns ON inbound_id = j.value AND role = 'assistant'`,
      args: [JSON.stringify(ids.map(Number))],
    }, ["inbound_id", "text"]);
    return new Map(rows.map(([id, text]) => [String(id), text]));
  });
  /** The last `maxTurns` turns of each chat asked for in one tick, newest first: one statement for a round's turns. */
  const batches = new Map<number, (chat: string) => Promise<Turn[] | undefined>>();
  const lastTurns = (maxTurns: number) => {
    let read = batches.get(maxTurns);
    if (!read) {
      read = batchReads(async (chats) => {
        const rows = await selectRows<[string, string, string, number, number]>(client, {
          sql: `SELECT j.value AS chat, t.role, t.text, t.at, t.id FROM json_each(?1) AS j CROSS JOIN conversation_turns AS t
            ON t.id IN (SELECT id FROM conversation_turns WHERE chat = j.value ORDER BY id DESC LIMIT ?2)`,
          args: [JSON.stringify(chats), maxTurns],
        }, ["chat", "role", "text", "at", "id"]);
        rows.sort((a, b) => b[4] - a[4]); // newest first
        const turns = new Map<string, Turn[]>();
        for (const [chat, role, text, at] of rows) {
          const turn: Turn = { role: role === "assistant" ? "assistant" : "user", text, at };
          const list = turns.get(chat);
          if (list) list.push(turn);
          else turns.set(chat, [turn]);
        }
        return turns;
      });
      batches.set(maxTurns, read);
    }
    return read;
  };
  return {
    async recent(chat, maxTokens, maxTurns = 20) {
      const out: Turn[] = [];
      let used = 0;
      for (const turn of (await lastTurns(maxTurns)(chat)) ?? []) {
        // Counted as the router counts (a CJK character is about a token, not a quarter of one), so the history
        // it is sent fits `maxTokens` there too.
        used += estimateTextTokens(turn.text);
        if (used > maxTokens) break;
        out.push(turn);
      }
      // From a user's turn: an answer whose question did not fit is no context, and Claude refuses a dialogue that
      // starts with one (400, the user told the question cannot be answered).
      while (out.at(-1)?.role === "assistant") out.pop();
      return out.reverse();
    },
    answerFor: (inboundId) => answerOf(String(inboundId)),
    saveStatements(chat, inboundId, question, answer) {
      return [{
        sql:
          "INSERT INTO conversation_turns (chat, role, text, at, inbound_id) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)",
        args: [
          chat,
          question.role,
          question.text,
          question.at,
          null,
          chat,
          answer.role,
          answer.text,
          answer.at,
          inboundId,
        ],
      }];
    },
    async reset(chat) {
      await client.batch([
        { sql: "DELETE FROM conversation_turns WHERE chat = ?", args: [chat] },
        { sql: "UPDATE leads SET known_fields = '{}' WHERE chat = ?", args: [chat] },
      ], "write");
    },
    purgeBefore: (cutoff, signal) =>
      purgeInChunks(
        client,
        "DELETE FROM conversation_turns WHERE id IN (SELECT id FROM conversation_turns WHERE at < ?1 LIMIT ?2)",
        cutoff,
        { signal },
      ),
  };
}
