// Graph error codes Meta lists as authorization errors ("200-299 API Permission: permission is either not granted or
// has been removed", beside 0, 3, 10 and 190; developers.facebook.com/documentation/business-messaging/whatsapp/
// support/error-codes) hold every send like a refused token, never drop the reply silently.
import { describe, expect, it } from "vitest";
import { isAuthError, toGraphOutcome } from "../../src/agents/whatsapp/errors.ts";

const refused = (code: number, status = 403) =>
  ({ ok: false as const, status, error: { code, message: "(#" + code + ") Permission error", type: "OAuthException" } });

describe("Graph authorization error codes", () => {
  it("every code of the 200-299 API Permission range is an auth error that holds every send (not only 200)", () => {
    for (const code of [3, 200, 210, 230, 299]) {
      expect(isAuthError(code), `code ${code}`).toBe(true);
      const outcome = toGraphOutcome(refused(code), 1, undefined);
      expect(outcome, `code ${code}`).toMatchObject({ kind: "retry", scope: "all" });
    }
  });
});
