/**
 * Wake-ups for consumers, without fixed-interval polling.
 *
 * - Same process: `publish()` notifies the topic's local consumers directly.
 * - Other processes: after a publish commits, the publisher touches one file per topic in a wake directory next
 *   to the database (`<db>-wake/<topic>`); consumers watch that directory (inotify through `node:fs` watch,
 *   ~0.3 ms from touch to wake-up) and wake only the consumers of the topic named. Watching the `-wal` file
 *   instead woke every consumer of every process on every commit of any process (≈ 9 commits per answered
 *   message), each wake-up costing a read: most of the CPU of a lightly loaded system.
 * - Fallback: a slow poll (default 1 s) covers a missed notification and work that becomes claimable without a
 *   publish to its topic from a process that notifies (a lease expiring is timed by the consumer itself); where
 *   nothing can be watched (a remote libSQL server, a watch error) consumers poll adaptively instead: 2 ms right
 *   after activity, doubling to 100 ms when idle.
 *
 * `PRAGMA data_version` was the other candidate: it is per connection, and the client pools connections, so it
 * needs a dedicated connection, and polling it still costs a call (~25 µs) plus a timer tick (≥ 1 ms under Node,
 * ~2 ms under Deno) per check, so its wake-up latency is the poll interval. The notification is immediate and
 * costs nothing while idle.
 *
 * @module
 */
import { mkdirSync, utimesSync, watch as fsWatch, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Watches a directory; calls `onEvent("change", name)` when a file in it changed (name undefined when the
 * platform does not say which), `onEvent("gone")` when the watch broke. Throws if it cannot watch.
 */
export type FileWatch = (path: string, onEvent: (kind: "change" | "gone", name?: string) => void) => { close(): void };

export interface WakeOptions {
  /** How to watch the wake directory; false: never (poll adaptively). Default: `node:fs` watch. */
  watch?: FileWatch | false;
  /** Poll interval while a watch is active (a safety net). Default 1000 ms. */
  fallbackMs?: number;
  /** Adaptive poll bounds without a watch. Default 2 ms and 100 ms. */
  pollMinMs?: number;
  pollMaxMs?: number;
}

export interface WakeHub {
  /** Calls `fn` on publishes to `topic` by this process or by another one that notifies; returns an unsubscribe. */
  listen(topic: string, fn: () => void): () => void;
  /** Wakes the topics' consumers here and, through the wake directory, in other processes. */
  notify(topics: Iterable<string>): void;
  /** How long a consumer that found nothing claimable `idleRounds` times in a row may sleep. */
  idleDelayMs(idleRounds: number): number;
  close(): void;
}

/** The default FileWatch: `node:fs` watch of a directory (inotify on Linux; works under Node and Deno). */
export const nodeFileWatch: FileWatch = (path, onEvent) => {
  const watcher = fsWatch(path, { persistent: false }, (_type, name) => onEvent("change", name ?? undefined));
  // A watch alone must not keep the process alive (Deno ignores `persistent: false`; unref works in both).
  watcher.unref?.();
  watcher.on("error", () => onEvent("gone"));
  return { close: () => watcher.close() };
};

/** The file a topic's publishes touch: topic names may hold any character, file names may not. */
const fileOf = (topic: string) => encodeURIComponent(topic).replace(/^\./, "%2E");

/** A hub for one bus. `wakeDir`: the directory to touch and watch (undefined: none, e.g. a remote database). */
export function createWakeHub(wakeDir: string | undefined, opts: WakeOptions = {}): WakeHub {
  const fallbackMs = opts.fallbackMs ?? 1_000;
  const pollMinMs = opts.pollMinMs ?? 2;
  const pollMaxMs = opts.pollMaxMs ?? 100;
  const watchFile = opts.watch === false ? undefined : opts.watch ?? nodeFileWatch;
  const listeners = new Map<string, Set<() => void>>();
  let watcher: { close(): void } | undefined;
  let rearm: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const wakeAll = () => {
    for (const set of listeners.values()) for (const fn of set) fn();
  };
  const wake = (topic: string) => {
    for (const fn of listeners.get(topic) ?? []) fn();
  };
  const byFile = new Map<string, string>();
  let dirReady = false;
  const ensureDir = () => {
    if (!dirReady && wakeDir !== undefined) mkdirSync(wakeDir, { recursive: true });
    dirReady = true;
  };
  const touch = (topic: string) => {
    if (wakeDir === undefined) return;
    const path = join(wakeDir, fileOf(topic));
    const t = new Date();
    try {
      ensureDir();
      utimesSync(path, t, t);
    } catch {
      try {
        dirReady = false; // the directory may have been removed: make it again
        ensureDir();
        writeFileSync(path, ""); // first publish to this topic: create it (the watch sees the creation too)
      } catch { /* consumers' fallback poll finds the message */ }
    }
  };
  const stopWatch = () => {
    watcher?.close();
    watcher = undefined;
    if (rearm !== undefined) clearTimeout(rearm);
    rearm = undefined;
  };
  const startWatch = () => {
    if (closed || watcher || !watchFile || wakeDir === undefined || listeners.size === 0) return;
    try {
      ensureDir();
      watcher = watchFile(wakeDir, (kind, name) => {
        if (kind === "gone") {
          // The watch broke (the directory was removed?): poll meanwhile, watch again shortly.
          stopWatch();
          rearm = setTimeout(startWatch, fallbackMs);
          return wakeAll();
        }
        if (name === undefined) return wakeAll();
        const topic = byFile.get(name);
        if (topic !== undefined) wake(topic);
      });
    } catch {
      rearm = setTimeout(startWatch, fallbackMs * 10);
    }
  };

  return {
    listen(topic, fn) {
      let set = listeners.get(topic);
      if (!set) listeners.set(topic, set = new Set());
      byFile.set(fileOf(topic), topic);
      set.add(fn);
      startWatch();
      return () => {
        set.delete(fn);
        if (set.size === 0) {
          listeners.delete(topic);
          byFile.delete(fileOf(topic));
        }
        if (listeners.size === 0) stopWatch();
      };
    },
    notify(topics) {
      for (const topic of topics) {
        wake(topic);
        touch(topic);
      }
    },
    idleDelayMs(idleRounds) {
      if (watcher) return fallbackMs;
      return Math.min(pollMaxMs, pollMinMs * 2 ** Math.min(idleRounds, 20));
    },
    close() {
      closed = true;
      stopWatch();
      listeners.clear();
    },
  };
}
