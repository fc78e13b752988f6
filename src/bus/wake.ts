/**
 * Wake-ups for consumers, without fixed-interval polling.
 *
 * - Same process: `publish()` notifies the topic's local consumers directly.
 * - Other processes: after a publish commits, the publisher writes one byte into its topic's file in a wake
 *   directory next to the database (`<db>-wake/<topic>`, kept open: a write to an open file costs a third of a
 *   `utimes` by path); each process watches the files of the topics it consumes (inotify through `node:fs`
 *   watch, ~0.3 ms from write to wake-up). Watching the whole directory woke every process on every publish of
 *   any topic (with 12 agents, 12 wake-ups per publish, which pre-empted the process holding the write lock);
 *   watching the `-wal` file woke every consumer on every commit (≈ 9 per answered message), each costing a read.
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
import { closeSync, fstatSync, mkdirSync, openSync, watch as fsWatch, writeSync } from "node:fs";
import { join } from "node:path";

/**
 * Watches a file; calls `onEvent("change")` when it was written, `onEvent("gone")` when the watch broke (the file
 * was removed or renamed). Throws if it cannot watch.
 */
export type FileWatch = (path: string, onEvent: (kind: "change" | "gone") => void) => { close(): void };

export interface WakeOptions {
  /** How to watch the topics' wake files; false: never (poll adaptively). Default: `node:fs` watch. */
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
  /** How long a consumer of `topic` that found nothing claimable `idleRounds` times in a row may sleep. */
  idleDelayMs(topic: string, idleRounds: number): number;
  close(): void;
}

/** The default FileWatch: `node:fs` watch of a file (inotify on Linux; works under Node and Deno). */
export const nodeFileWatch: FileWatch = (path, onEvent) => {
  const watcher = fsWatch(path, { persistent: false }, (type) => onEvent(type === "rename" ? "gone" : "change"));
  // A watch alone must not keep the process alive (Deno ignores `persistent: false`; unref works in both).
  watcher.unref?.();
  watcher.on("error", () => onEvent("gone"));
  return { close: () => watcher.close() };
};

const WAKE_BYTE = new Uint8Array([1]);

/** The file of a topic: topic names may hold any character, file names may not. */
const fileOf = (topic: string) => encodeURIComponent(topic).replace(/^\./, "%2E");

/** A hub for one bus. `wakeDir`: the directory of wake files (undefined: none, e.g. a remote database). */
export function createWakeHub(wakeDir: string | undefined, opts: WakeOptions = {}): WakeHub {
  const fallbackMs = opts.fallbackMs ?? 1_000;
  const pollMinMs = opts.pollMinMs ?? 2;
  const pollMaxMs = opts.pollMaxMs ?? 100;
  const watchFile = opts.watch === false ? undefined : opts.watch ?? nodeFileWatch;
  const listeners = new Map<string, Set<() => void>>();
  const watchers = new Map<string, { close(): void }>();
  const rearms = new Map<string, ReturnType<typeof setTimeout>>();
  let closed = false;

  const wake = (topic: string) => {
    for (const fn of listeners.get(topic) ?? []) fn();
  };

  // The files this process publishes to, kept open.
  const files = new Map<string, { fd: number; checked: number }>();
  const closeFile = (topic: string) => {
    const file = files.get(topic);
    files.delete(topic);
    try {
      if (file) closeSync(file.fd);
    } catch { /* closed either way */ }
  };
  const openFile = (topic: string, flags: "w" | "a") => {
    mkdirSync(wakeDir!, { recursive: true });
    return openSync(join(wakeDir!, fileOf(topic)), flags);
  };
  const touch = (topic: string) => {
    if (wakeDir === undefined) return;
    try {
      let file = files.get(topic);
      // Once a second: is the file still there (the directory may have been removed and made again)?
      if (file && Date.now() - file.checked > 1_000) {
        file.checked = Date.now();
        if (fstatSync(file.fd).nlink === 0) {
          closeFile(topic);
          file = undefined;
        }
      }
      if (!file) files.set(topic, file = { fd: openFile(topic, "w"), checked: Date.now() });
      writeSync(file.fd, WAKE_BYTE, 0, 1, 0);
    } catch {
      closeFile(topic); // consumers' fallback poll finds the message; the next publish opens the file again
    }
  };

  const unwatch = (topic: string) => {
    watchers.get(topic)?.close();
    watchers.delete(topic);
    clearTimeout(rearms.get(topic));
    rearms.delete(topic);
  };
  const watchTopic = (topic: string) => {
    if (closed || watchers.has(topic) || !watchFile || wakeDir === undefined || !listeners.has(topic)) return;
    rearms.delete(topic);
    try {
      closeSync(openFile(topic, "a")); // a watch needs the file
      watchers.set(
        topic,
        watchFile(join(wakeDir, fileOf(topic)), (kind) => {
          if (kind === "gone") {
            // Removed (with the directory?): poll meanwhile, watch the new file shortly.
            unwatch(topic);
            rearms.set(topic, setTimeout(() => watchTopic(topic), fallbackMs));
          }
          wake(topic);
        }),
      );
    } catch {
      rearms.set(topic, setTimeout(() => watchTopic(topic), fallbackMs * 10));
    }
  };

  return {
    listen(topic, fn) {
      let set = listeners.get(topic);
      if (!set) listeners.set(topic, set = new Set());
      set.add(fn);
      watchTopic(topic);
      return () => {
        set.delete(fn);
        if (set.size > 0) return;
        listeners.delete(topic);
        unwatch(topic);
      };
    },
    notify(topics) {
      for (const topic of topics) {
        wake(topic);
        touch(topic);
      }
    },
    idleDelayMs(topic, idleRounds) {
      if (watchers.has(topic)) return fallbackMs;
      return Math.min(pollMaxMs, pollMinMs * 2 ** Math.min(idleRounds, 20));
    },
    close() {
      closed = true;
      for (const topic of [...watchers.keys(), ...rearms.keys()]) unwatch(topic);
      listeners.clear();
      for (const topic of [...files.keys()]) closeFile(topic);
    },
  };
}
