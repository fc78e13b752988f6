/** Shared pieces of the router tests: a store, a clock tests move, seeded randomness, a captured log. */
import { join } from "node:path";
import { migrate, openStore, type Store } from "../../../src/store/mod.ts";
import type { Logger } from "../../../src/log.ts";
import { tempDir } from "../../support/tmp.ts";

export interface TestStore {
  store: Store;
  url: string;
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

/** A migrated store in a fresh temporary file. */
export async function testStore(): Promise<TestStore> {
  const { dir, cleanup } = await tempDir("aideazz-router-");
  const url = `file:${join(dir, "router.db")}`;
  const opened: Store[] = [];
  const open = async () => {
    const s = await openStore({ url });
    opened.push(s);
    return s;
  };
  const store = await open();
  await migrate(store.client);
  return {
    store,
    url,
    reopen: open,
    async cleanup() {
      for (const s of opened) s.close();
      await cleanup();
    },
  };
}

export interface FakeClock {
  now(): number;
  advance(ms: number): void;
  set(t: number): void;
  /** A sleep for the chain: moves the clock by `ms` and yields to the event loop. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Every sleep asked for, in ms. */
  readonly slept: number[];
}

export function fakeClock(start = Date.UTC(2030, 0, 15, 12, 0, 0)): FakeClock {
  let t = start;
  const slept: number[] = [];
  return {
    now: () => t,
    advance: (ms) => void (t += ms),
    set: (v) => void (t = v),
    slept,
    sleep(ms, signal) {
      slept.push(ms);
      if (signal.aborted) return Promise.reject(signal.reason);
      t += ms;
      return new Promise((resolve) => setImmediate(resolve));
    },
  };
}

/** mulberry32: a seeded `random()` so distributions are reproducible. */
export function seededRandom(seed = 42): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CapturedLog extends Logger {
  readonly lines: { level: string; msg: string; fields: Record<string, unknown> }[];
}

export function captureLog(): CapturedLog {
  const lines: CapturedLog["lines"] = [];
  const make = (bound: Record<string, unknown>): Logger => {
    const emit = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
      void lines.push({ level, msg, fields: { ...bound, ...fields } });
    return {
      debug: emit("debug"),
      info: emit("info"),
      warn: emit("warn"),
      error: emit("error"),
      with: (f) => make({ ...bound, ...f }),
    };
  };
  return Object.assign(make({}), { lines });
}
