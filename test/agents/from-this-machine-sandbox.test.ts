// Under the agents' units (RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX) this machine's addresses cannot be
// listed: getifaddrs() needs a netlink socket. A request from another address is then not from this machine (its
// /health gets the status alone), never a 500.
import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import { fromThisMachine } from "../../src/agents/client-address.ts";

vi.mock("node:os", async (original) => ({
  ...(await original<typeof import("node:os")>()),
  networkInterfaces: () => {
    throw Object.assign(new Error("Address family not supported by protocol (os error 97)"), { code: "EAFNOSUPPORT" });
  },
}));

describe("fromThisMachine where the addresses cannot be listed", () => {
  it("a loopback peer is still this machine; another is not, without an error", async () => {
    const app = new Hono().get("/", (c) => c.text(String(fromThisMachine(c))));
    const from = async (remoteAddr: string) => (await app.fetch(new Request("http://agent/"), { remoteAddr })).text();
    expect(await from("127.0.0.1")).toBe("true");
    expect(await from("203.0.113.9")).toBe("false");
  });
});
