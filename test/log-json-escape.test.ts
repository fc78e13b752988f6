// The logger redacts each string value, not the serialized line: a secret matched across a JSON escape (one
// ending in a backslash, or starting with "n" after a newline) would break the line, and the log call would throw
// in its caller (often a catch block, replacing the error it was logging).
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/log.ts";

describe("logger: a secret next to a JSON escape", () => {
  it("a log call never throws, and the line is still one JSON object", () => {
    const lines: string[] = [];
    const log = createLogger({ agent: "analytics", secrets: ["Tr0ub4dor&3\\", "nimbus-42"], write: (l) => lines.push(l) });
    expect(() => log.warn("login refused", { detail: 'user typed "Tr0ub4dor&3"', note: "line\nimbus-42" })).not.toThrow();
    // Neither value holds a secret: both are kept as they were.
    expect(JSON.parse(lines[0]!)).toMatchObject({ detail: 'user typed "Tr0ub4dor&3"', note: "line\nimbus-42" });
  });

  it("still redacts the secrets themselves", () => {
    const lines: string[] = [];
    const log = createLogger({ agent: "analytics", secrets: ["Tr0ub4dor&3\\", "nimbus-42"], write: (l) => lines.push(l) });
    log.warn("login refused", { detail: 'user typed "Tr0ub4dor&3\\"', note: "password nimbus-42\n" });
    expect(JSON.parse(lines[0]!)).toMatchObject({ detail: 'user typed "[redacted]"', note: "password [redacted]\n" });
  });
});
