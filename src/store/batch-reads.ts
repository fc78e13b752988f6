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
  let asked: Set<string> | undefined;
  let found: Promise<Map<string, V>>;
  return (key) => {
    if (asked === undefined) {
      const keys = (asked = new Set());
      // A microtask after the ones already queued: the other turns the consumer started in the same tick ask first.
      found = Promise.resolve().then(() => {
        asked = undefined;
        return load([...keys]);
      });
    }
    asked.add(key);
    return found.then((values) => values.get(key));
  };
}
