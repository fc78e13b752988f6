/**
 * The duplicate-port check reads every spelling of a wildcard address as the wildcard: "::0" or
 * "0:0:0:0:0:0:0:0" is "::", "0" is 0.0.0.0. Compared as another host, a second agent on the port would pass the
 * check and fail to start with EADDRINUSE.
 */
import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, loadConfig } from "../../src/config.ts";
import { freePort } from "../support/ports.ts";

function issuesOf(config: unknown): ConfigIssue[] {
  try {
    loadConfig(JSON.stringify(config), {}, []);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

const listen = (port: number, host: string) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(port, host, () => resolve(s));
  });

describe("wildcard hosts however they are spelled", () => {
  it("two agents on one port, one of them on ::0, are refused as the platform refuses the second bind", async () => {
    const port = await freePort();
    const first = await listen(port, "127.0.0.1");
    const second = await listen(port, "::0").then(
      (s) => s,
      (err: NodeJS.ErrnoException) => err.code ?? "error",
    );
    first.close();
    if (typeof second !== "string") second.close();
    expect(second).toBe("EADDRINUSE");
    const agents = [{ name: "web", kind: "webchat", port }, {
      name: "orchestrator",
      kind: "orchestrator",
      port,
      host: "::0",
    }];
    expect(issuesOf({ agents }).map((i) => i.path)).toEqual(["agents[1].port"]);
  });

  it.each(["0:0:0:0:0:0:0:0", "[::0]", "0"])("%s is a wildcard too", (host) => {
    const agents = [{ name: "web", kind: "webchat", port: 9102, host: "127.0.0.1" }, {
      name: "orchestrator",
      kind: "orchestrator",
      port: 9102,
      host,
    }];
    expect(issuesOf({ agents }).map((i) => i.path)).toEqual(["agents[1].port"]);
  });

  it("other hosts on one port still pass", () => {
    const agents = [{ name: "web", kind: "webchat", port: 9102, host: "127.0.0.1" }, {
      name: "orchestrator",
      kind: "orchestrator",
      port: 9102,
      host: "::1",
    }];
    expect(issuesOf({ agents })).toEqual([]);
  });
});
