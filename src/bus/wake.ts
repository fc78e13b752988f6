/**
 * Wake-ups for consumers, without fixed-interval polling.
 *
 * - Same process: `publish()` notifies the topic's local consumers directly.
 * - Other processes: every commit appends to the database's `-wal` file, so a file-change notification on it
 *   (inotify through `node:fs` watch, ~0.3 ms from commit to wake-up, measured) tells consumers to look. A
 *   change only triggers a cheap read (is anything claimable for my group?), never a write.
 * - Fallback: a slow poll (default 1 s) covers a missed notification; where no file can be watched (a remote
 *   libSQL server, a watch error) consumers poll adaptively instead: 2 ms right after activity, doubling to
 *   100 ms when idle.
 *
 * `PRAGMA data_version` was the other candidate: it is per connection, and the client pools connections, so it
 * needs a dedicated connection, and polling it still costs a call (~25 µs) plus a timer tick (≥ 1 ms under Node,
 * ~2 ms under Deno) per check, so its wake-up latency is the poll interval. The notification is immediate and
 * costs nothing while idle.
 *
 * @module
 */
import { watch as fsWatch } from "node:fs";

/** Watches a file; calls `onEvent("gone")` when it was replaced or the watch broke. Throws if it cannot watch. */
export type FileWatch = (path: string, onEvent: (kind: "change" | "gone") => void) => { close(): void };

export interface WakeOptions {
  /** How to watch the `-wal` file; false: never (poll adaptively). Default: `node:fs` watch. */
  watch?: FileWatch | false;
  /** Poll interval while a watch is active (a safety net). Default 1000 ms. */
  fallbackMs?: number;
  /** Adaptive poll bounds without a watch. Default 2 ms and 100 ms. */
  pollMinMs?: number;
  pollMaxMs?: number;
}

export interface WakeHub {
  /** Calls `fn` on local publishes to `topic` and on any change from another process; returns an unsubscribe. */
  listen(topic: string, fn: () => void): () => void;
  notify(topics: Iterable<string>): void;
  /** How long a consumer that found nothing claimable `idleRounds` times in a row may sleep. */
  idleDelayMs(idleRounds: number): number;
  close(): void;
}

/** The default FileWatch: `node:fs` watch (inotify on Linux; works under Node and Deno). */
export const nodeFileWatch: FileWatch = (path, onEvent) => {
  const watcher = fsWatch(
    path,
    { persistent: false },
    (type) => onEvent(type === "rename" ? "gone" : "change"),
  );
  // A watch alone must not keep the process alive (Deno ignores `persistent: false`; unref works in both).
  watcher.unref?.();
  watcher.on("error", () => onEvent("gone"));
  return { close: () => watcher.close() };
};

/** A hub for one bus. `walPath` is the file to watch (undefined: nothing to watch, e.g. a remote database). */
export function createWakeHub(walPath: string | undefined, opts: WakeOptions = {}): WakeHub {
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
  const stopWatch = () => {
    watcher?.close();
    watcher = undefined;
    if (rearm !== undefined) clearTimeout(rearm);
    rearm = undefined;
  };
  const startWatch = () => {
    if (closed || watcher || !watchFile || walPath === undefined || listeners.size === 0) return;
    try {
      watcher = watchFile(walPath, (kind) => {
        if (kind === "gone") {
          // The file was replaced (or the watch broke): poll meanwhile, watch the new file shortly.
          stopWatch();
          rearm = setTimeout(startWatch, fallbackMs);
        }
        wakeAll();
      });
    } catch {
      rearm = setTimeout(startWatch, fallbackMs * 10);
    }
  };

  return {
    listen(topic, fn) {
      let set = listeners.get(topic);
      if (!set) listeners.set(topic, set = new Set());
      set.add(fn);
      startWatch();
      return () => {
        set.delete(fn);
        if (set.size === 0) listeners.delete(topic);
        if (listeners.size === 0) stopWatch();
      };
    },
    notify(topics) {
      for (const topic of topics) for (const fn of listeners.get(topic) ?? []) fn();
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
