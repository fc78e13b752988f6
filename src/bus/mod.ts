/**
 * The bus: durable, per-key ordered, leased delivery between agents (separate processes) on one libSQL
 * database. `createSqliteBus` is the production implementation, `createMemoryBus` its in-memory twin for unit
 * tests; both pass test/bus/contract.ts. `createSendLedger` keeps a redelivered reply from being sent twice,
 * `createRetention` purges finished rows and bounds the WAL.
 *
 * @example
 * ```ts
 * const bus = createSqliteBus(store, { log });
 * await bus.publish([{ topic: "inbound", key: "telegram:42", payload, idempotencyKey: `telegram:bot:${updateId}` }]);
 * const consumer = bus.consume({ topic: "inbound", group: "orchestrator", handler: async (d) => handle(d) });
 * await consumer.stop(10_000);
 * ```
 *
 * @module
 */
export type {
  AlsoCommit,
  Bus,
  ConsumeOptions,
  Consumer,
  DeadLetter,
  Delivery,
  GroupStats,
  Handler,
  Json,
  PublishInput,
  PublishResult,
} from "./types.ts";
export { HandlerTimeoutError, LeaseLostError, NotYetError, PermanentError, RetryLaterError } from "./types.ts";
export { createSqliteBus, type SqliteBusOptions } from "./sqlite.ts";
export { createMemoryBus, type MemoryBusOptions } from "./memory.ts";
export { type FileWatch, nodeFileWatch, type WakeOptions } from "./wake.ts";
export { retryDelayMs } from "./retry.ts";
export {
  type BeginOptions,
  type BeginResult,
  createSendLedger,
  type ResendUnknown,
  type SendLedger,
  type SendLedgerOptions,
} from "./ledger.ts";
export {
  createRetention,
  REDACTED_PAYLOAD,
  type Retention,
  type RetentionOptions,
  type RetentionReport,
} from "./retention.ts";
