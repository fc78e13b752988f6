/**
 * Per-client limits on public HTTP surfaces (the web chat's messages, the dashboard's failed logins): who the
 * client is, and a count per client in fixed one-minute windows.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { networkInterfaces } from "node:os";
import type { Context } from "hono";
import { monotonicClock } from "../deadline.ts";
import type { ConnInfo } from "../platform.ts";

/**
 * The client a limit counts: an IPv4 address (also when written IPv4-mapped), or an IPv6 address's /64, which one
 * client usually holds whole. A proxy's way of writing it is read too: with a port (`198.51.100.7:4711`,
 * `[2001:db8::1]:4711`, each source port would otherwise be its own client), and as a `Forwarded` element
 * (`for="[2001:db8::1]:4711";proto=https`).
 */
export function clientKey(written: string): string {
  const forwarded = /(?:^|;)\s*for=("?)([^";]*)\1/i.exec(written)?.[2];
  const addr = (forwarded ?? written).trim().replace(/^\[([^\]]*)\](?::\d*)?$|^(\d+\.\d+\.\d+\.\d+):\d*$/, "$1$2");
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr)?.[1];
  if (v4 !== undefined) return v4;
  if (!addr.includes(":")) return addr;
  const [head = "", tail] = addr.split("%")[0]!.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/**
 * The key of the request's client: the peer address, or behind a reverse proxy the last entry of `header` (the
 * one the proxy added; earlier entries are the client's to write).
 */
export function clientOf(c: Context, header: string | undefined): string {
  const addr = (header ? c.req.header(header)?.split(",").at(-1)?.trim() : undefined) ||
    (c.env as ConnInfo | undefined)?.remoteAddr || "unknown";
  return clientKey(addr);
}

/** Headers reverse proxies add: a request carrying one came through a proxy, whatever its peer address. */
const PROXY_HEADERS = ["forwarded", "x-forwarded-for", "x-real-ip", "cf-connecting-ip", "true-client-ip"];

/**
 * True when the request came straight from this machine: its peer is a loopback address or one of this machine's
 * own addresses (a local client connecting to a public one), and it carries no proxy's forwarding header (a
 * reverse proxy on this machine relays other clients' requests; `proxyHeader`: the one the agent's config names).
 * What an agent's `/health` details and `/metrics` are served to: the health job and an operator on the VM, not
 * whoever can reach a webhook port.
 */
export function fromThisMachine(c: Context, proxyHeader?: string): boolean {
  if ([...PROXY_HEADERS, proxyHeader].some((h) => h !== undefined && c.req.header(h) !== undefined)) return false;
  const peer = (c.env as ConnInfo | undefined)?.remoteAddr;
  if (!peer) return false;
  const addr = peer.split("%")[0]!.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
  if (/^127\./.test(addr) || addr === "::1") return true;
  try {
    return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === addr));
  } catch {
    // Listing them takes a netlink socket, which the units' RestrictAddressFamilies= refuses: not known to be ours.
    return false;
  }
}

/**
 * What the bus and the store keep of a client (`clientKey`): a hash, since an address is personal data. Unkeyed
 * (no agent holds a secret of its own), so whoever holds the store can still test an IPv4 address against it: a
 * pseudonym, kept only as long as the messages and the day's token counts that carry it.
 */
export function clientHash(key: string): string {
  return createHash("sha256").update(`aideazz client\u0000${key}`).digest("hex").slice(0, 32);
}

export interface MinuteCounter {
  /** 0 while `key` is under the limit in its current minute, else the seconds until its next minute. */
  waitS(key: string): number;
  count(key: string): void;
  /** Gives back what `count` took in the current minute. */
  uncount(key: string): void;
}

/** Counts per key in fixed one-minute windows, `perMinute` allowed in each. */
export function createMinuteCounter(perMinute: number, wallNow: () => number): MinuteCounter {
  const now = monotonicClock(wallNow); // a wall clock stepped back would hold a window for the step
  const windows = new Map<string, { start: number; count: number }>();
  let swept = 0;
  const current = (key: string) => {
    const t = now();
    if (t - swept > 60_000) {
      swept = t;
      for (const [k, w] of windows) if (t - w.start >= 60_000) windows.delete(k);
    }
    let w = windows.get(key);
    if (!w || t - w.start >= 60_000) windows.set(key, w = { start: t, count: 0 });
    return { w, t };
  };
  return {
    waitS(key) {
      const { w, t } = current(key);
      return w.count < perMinute ? 0 : Math.max(1, Math.ceil((w.start + 60_000 - t) / 1000));
    },
    count(key) {
      current(key).w.count++;
    },
    uncount(key) {
      const { w } = current(key);
      w.count = Math.max(0, w.count - 1);
    },
  };
}
