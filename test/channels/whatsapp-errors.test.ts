// Graph error codes Meta lists as authorization errors ("200-299 API Permission: permission is either not granted or
// has been removed", beside 0, 3, 10 and 190; developers.facebook.com/documentation/business-messaging/whatsapp/
// support/error-codes) hold every send like a refused token, never drop the reply silently.
import { describe, expect, it } from "vitest";
import { isAuthError, toGraphOutcome } from "../../src/agents/whatsapp/errors.ts";
import type { GraphResult } from "../../src/agents/whatsapp/graph.ts";

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

// Graph down or out of reach: retried without counting towards the bus's attempts (egress `retryLaterOf`), where an
// outage of a few minutes once dead-lettered every reply in flight. Limits and refusals still count.
describe("Graph unavailable", () => {
  it("5xx, a connection never made, 2, 131000, 131016 and 133004 say Graph is unavailable; limits and refusals do not", () => {
    type Failed = Exclude<GraphResult, { ok: true }>;
    const unavailable: Failed[] = [
      { ok: false, status: 502, error: undefined },
      { ok: false, status: 0, network: "unsent" },
      ...[2, 131000, 131016, 133004].map((code) => refused(code, 400)),
      refused(1, 500),
    ];
    for (const result of unavailable) {
      expect(toGraphOutcome(result, 1, undefined), JSON.stringify(result)).toMatchObject({ kind: "retry", unavailable: true });
    }
    const limits: Failed[] = [{ ok: false, status: 429, error: undefined }, refused(130429, 400), refused(131056, 400), refused(190, 401)];
    for (const result of limits) {
      const outcome = toGraphOutcome(result, 1, undefined);
      expect(outcome.kind === "retry" && outcome.unavailable, JSON.stringify(result)).toBeFalsy();
    }
  });
});
