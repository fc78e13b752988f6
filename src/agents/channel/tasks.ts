/**
 * Fire-and-forget work that must not hold up a webhook answer (WhatsApp mark-as-read, Telegram's first typing
 * action), tracked so a stopping agent can wait for it.
 *
 * @module
 */

export interface Tasks {
  run(task: () => Promise<unknown>): void;
  /** Resolves when every task started so far has settled. */
  idle(): Promise<void>;
}

export function createTasks(onError: (err: unknown) => void): Tasks {
  const running = new Set<Promise<unknown>>();
  return {
    run(task) {
      const p = task().catch(onError).finally(() => running.delete(p));
      running.add(p);
    },
    async idle() {
      await Promise.allSettled([...running]);
    },
  };
}
