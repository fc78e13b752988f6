/**
 * Lookups by key issued in the same tick, answered by one statement. The orchestrator's consumer starts the turns
 * it claimed together, and each begins with the same lookups (its chat inbox row, an answer saved by an earlier
 * attempt): in the running system a statement costs 20–80 µs whatever it reads, so one statement for a round's
 * turns replaces one per turn. A key asked for twice in a tick is read once.
 *
 * `load` gets the distinct keys asked for since the last statement and returns the value of each key it found;
 * a key it did not return reads as undefined. When it throws, every lookup of that statement rejects with its error.
 *
 * @module
 */
export function batchReads<V>(
  load: (keys: string[]) => Promise<Map<string, V>>,
): (key: string) => Promise<V | undefined> {
  type Waiter = { resolve(v: V | undefined): void; reject(err: unknown): void };
  let pending: Map<string, { promise: Promise<V | undefined>; waiter: Waiter }> | undefined;
  const flush = async () => {
    const batch = pending!;
    pending = undefined;
    try {
      const found = await load([...batch.keys()]);
      batch.forEach(({ waiter }, key) => waiter.resolve(found.get(key)));
    } catch (err) {
      batch.forEach(({ waiter }) => waiter.reject(err));
    }
  };
  return (key) => {
    if (pending === undefined) {
      pending = new Map();
      // After the microtasks already queued: the other turns the consumer started in the same tick ask first.
      queueMicrotask(() => void flush());
    }
    let entry = pending.get(key);
    if (entry === undefined) {
      let waiter!: Waiter;
      const promise = new Promise<V | undefined>((resolve, reject) => (waiter = { resolve, reject }));
      entry = { promise, waiter };
      pending.set(key, entry);
    }
    return entry.promise;
  };
}
