// The dashboard's window (`?window=`): what is shown is what the label says, also when the request is clamped.
import { describe, expect, it } from "vitest";
import { windowOf } from "../../src/agents/dashboard/routes.ts";

describe("dashboard window", () => {
  it("reads the window, defaults to 1 h, and labels a clamped one with its bound", () => {
    expect(windowOf("6h")).toEqual({ ms: 6 * 3_600_000, text: "6h" });
    expect(windowOf(undefined)).toEqual({ ms: 3_600_000, text: "1h" });
    expect(windowOf("nonsense")).toEqual({ ms: 3_600_000, text: "1h" });
    expect(windowOf("1m")).toEqual({ ms: 5 * 60_000, text: "5m" });
    expect(windowOf("400d")).toEqual({ ms: 90 * 86_400_000, text: "90d" });
  });
});
