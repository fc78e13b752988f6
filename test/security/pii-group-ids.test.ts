/**
 * A Telegram group's id ("-1002345678901": a supergroup's is -100 and 10 digits) is not personal data: the operator
 * must read it in the warning that asks them to set it (test/orchestrator/roles-handoff-supergroup.test.ts). A
 * negative number inside running text is still scrubbed.
 */
import { describe, expect, it } from "vitest";
import { scrubPii } from "../../src/log.ts";

describe("scrubPii and group ids", () => {
  it("keeps a whole value that is a group id, not a negative number inside text", () => {
    expect(scrubPii("-1002345678901")).toBe("-1002345678901");
    expect(scrubPii("-4012345678")).toBe("-4012345678");
    expect(scrubPii("call me -600123456")).toBe("call me -[phone]");
  });
});
