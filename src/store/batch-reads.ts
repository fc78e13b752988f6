/**
 * Calls issued in the same tick, answered by one statement. The orchestrator's consumer starts the turns it claimed
 * together, and each begins with the same lookups (its chat inbox row, an answer saved by an earlier attempt, its
 * recent turns, the exact cache entry) and counts its user's message: in the running system a statement costs
 * 20–80 µs whatever it does, so one statement for a round's turns replaces one per turn.
 *
 * `batchCalls`: `load` gets every argument asked for since the last statement, in order (the same one twice when it
 * was asked twice), and returns one value for each, in the same order. `batchReads`: lookups by key; a key asked
 * for twice in a tick is read once, and a key `load` did not return reads as undefined. When `load` throws, every
 * call of that statement rejects with its error.
 *
 * @module
 */
export function batchCalls<A, V>(load: (asked: A[]) => Promise<V[]>): (arg: A) => Promise<V> {
  let asked: A[] | undefined;
  let answered: Promise<V[]>;
  return (arg) => {
    if (asked === undefined) {
      const args = (asked = []);
      // A microtask after the ones already queued: the other turns the consumer started in the same tick ask first.
      answered = Promise.resolve().then(() => {
        asked = undefined;
        return load(args);
      });
    }
    const i = asked.push(arg) - 1;
    return answered.then((values) => values[i]!);
  };
}

export function batchReads<V>(
  load: (keys: string[]) => Promise<Map<string, V>>,
): (key: string) => Promise<V | undefined> {
  return batchCalls(async (keys: string[]) => {
    const found = await load([...new Set(keys)]);
    return keys.map((k) => found.get(k));
  });
}
