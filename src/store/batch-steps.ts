/**
 * @libsql/client runs a batch on a libSQL server as hrana steps (BEGIN, each statement, COMMIT), awaits their
 * promises in order and stops at the first failure. A transaction the server rolled back (sqld's TRANSACTION_TIMEOUT:
 * the write lock held past 5 s while another client waits) fails every later step too, and nothing awaits those:
 * unhandled rejections, which end a Deno or Node process (libsql-client-ts#126) — the agent, or a CLI command before
 * it printed the batch's error. `batch()` already rejects with the first failure, so each step's promise is marked
 * observed where it is made; whoever awaits one still gets its rejection.
 *
 * @module
 */
import { BatchStep } from "@libsql/hrana-client";

let observed = false;

/** Marks every hrana batch step's promise observed (once per process). */
export function observeBatchSteps(): void {
  if (observed) return;
  observed = true;
  for (const method of ["query", "queryRow", "queryValue", "run"] as const) {
    const original = BatchStep.prototype[method] as (this: BatchStep, ...args: unknown[]) => Promise<unknown>;
    const wrapped = function (this: BatchStep, ...args: unknown[]) {
      const step = original.apply(this, args);
      step.catch(() => {});
      return step;
    };
    (BatchStep.prototype as unknown as Record<string, unknown>)[method] = wrapped;
  }
}
