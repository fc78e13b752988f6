/**
 * Handoff commands and forwards retried after a write of theirs committed (a kill -9, a lost lease or a store error
 * between two writes of one handler): the retry tells the user and the operator what the first attempt did not, and
 * saves no turn twice. As in roles-handoff-marker.test.ts, a trigger refuses one write on the first attempt only.
 */
import { afterEach, describe, expect, it } from "vitest";
import { OPERATOR, type RolesHarness, startRolesHarness } from "./roles-harness.ts";

let h: RolesHarness;
afterEach(async () => {
  await h?.close();
});

const RESUMED = "You're chatting with our assistant again.";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const toOperator = () => h.replies.filter((r) => r.agent === OPERATOR.agent).map((r) => r.text.split("\n")[0]);
const toUser = () => h.replies.filter((r) => r.agent === "web").map((r) => r.text);
const turnsWith = async (text: string) =>
  (await h.rows("SELECT text FROM conversation_turns WHERE chat = 'web:c1'")).filter((t) => t["text"] === text);

async function pausedChat() {
  h = await startRolesHarness({
    roles: {
      support: {
        kind: "support",
        systemPrompt: "You are Example Co's support bot. Be brief and friendly with every customer.",
        operator: OPERATOR,
      },
    },
    channels: { web: "support" },
  });
  await h.ask("web", "c1", "/human");
  await h.waitForReplies(2);
}

/** Refuses the publish of a reply whose text matches `like`, on the first attempt of the message it answers. */
async function failPublishOnce(like: string) {
  await h.rows(`CREATE TRIGGER fail_once BEFORE INSERT ON bus_messages
    WHEN NEW.payload LIKE '${like}'
      AND (SELECT max(attempts) FROM bus_deliveries WHERE msg_id = json_extract(NEW.payload, '$.inReplyTo[0]')) = 1
    BEGIN SELECT RAISE(ABORT, 'injected: the publish failed'); END`);
}

describe("a handoff command retried after its first write committed", () => {
  it("/resume: the user is told the bot is back, and the operator is not told the chat 'is not paused'", async () => {
    await pausedChat();
    await failPublishOnce("%chatting with our assistant again%");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/resume 1");
    await h.waitFor(() => h.replies.length >= 3);
    await sleep(1_000);
    expect(await h.rows("SELECT state FROM handoffs WHERE chat = 'web:c1'")).toMatchObject([{ state: "active" }]);
    expect(toUser().slice(1)).toEqual([RESUMED]);
    expect(toOperator().slice(1)).toEqual(["#1 web:c1 is back with the bot."]);
  });

  it("/close: the user is told the bot is back, and so is the operator", async () => {
    await pausedChat();
    await failPublishOnce("%chatting with our assistant again%");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/close 1");
    await h.waitFor(() => h.replies.length >= 3);
    await sleep(1_000);
    expect(toUser().slice(1)).toEqual([RESUMED]);
    expect(toOperator().slice(1)).toEqual(["#1 web:c1 is back with the bot."]);
  });

  it("the user's /bot: the operator is told the user took the chat back", async () => {
    await pausedChat();
    await failPublishOnce("%gave the chat back to the bot%");
    await h.ask("web", "c1", "/bot");
    await h.waitFor(() => h.replies.length >= 3);
    await sleep(1_000);
    expect(toUser().slice(1)).toEqual([RESUMED]);
    expect(toOperator().slice(1)).toEqual(["#1 web:c1: the user gave the chat back to the bot."]);
  });

  it("/reply: the operator's answer is in the chat's history once, not twice", async () => {
    await pausedChat();
    await failPublishOnce("%Sent to #1%");
    await h.ask(OPERATOR.agent, OPERATOR.chatId, "/reply 1 Hi, this is Ana. Your refund went out today.");
    await h.waitFor(() => h.replies.some((r) => r.text.startsWith("Sent to #1")));
    await sleep(500);
    expect(toUser().slice(1)).toEqual(["Hi, this is Ana. Your refund went out today."]);
    expect(await turnsWith("Hi, this is Ana. Your refund went out today.")).toHaveLength(1);
  });
});

describe("a paused chat's message retried after its forward committed", () => {
  it("reaches the operator once and is in the chat's history once", async () => {
    await pausedChat();
    // The turn's last write (its inbox row) fails on the first attempt, after the forward and its turn committed.
    await h.rows(`CREATE TRIGGER fail_once BEFORE INSERT ON chat_inbox
      WHEN NEW.text LIKE '%parcel%' AND (SELECT attempts FROM bus_deliveries WHERE msg_id = NEW.bus_id) = 1
      BEGIN SELECT RAISE(ABORT, 'injected: the inbox write failed'); END`);
    const id = await h.ask("web", "c1", "Where is my parcel?");
    await h.waitFor(async () => (await h.rows("SELECT 1 FROM chat_inbox WHERE bus_id = ?", [id])).length === 1);
    await sleep(300);
    expect(toOperator().slice(1)).toEqual(["#1 web:c1: Where is my parcel?"]);
    expect(await turnsWith("Where is my parcel?")).toHaveLength(1);
  });
});
