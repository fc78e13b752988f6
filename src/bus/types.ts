/**
 * The bus contract: durable, per-key ordered, leased delivery between agents (separate processes) on one
 * libSQL database. Two implementations pass one shared contract test: `sqlite.ts` (production) and
 * `memory.ts` (unit tests of other modules).
 *
 * @module
 */
import type { InStatement } from "../store/mod.ts";

/** JSON-serializable payload. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface PublishInput {
  topic: string;
  /** Ordering key (the chat): a consumer group handles one key's messages strictly in publish order. */
  key: string;
  payload: Json;
  /** A second publish with the same idempotency key is a no-op that reports the original id. */
  idempotencyKey?: string;
  /** Deliver not before this time (epoch ms): rate-limit back-off, pacing. */
  notBefore?: number;
  /** Trace id carried to consumers, router decisions and sends. */
  traceId?: string;
}

export interface PublishResult {
  id: number;
  /** True when the idempotency key was already known and nothing new was written. */
  duplicate: boolean;
}

export interface Delivery {
  id: number;
  topic: string;
  group: string;
  key: string;
  payload: Json;
  traceId: string | undefined;
  /** 1 on first delivery, 2 on the first retry, … */
  attempt: number;
  publishedAt: number;
  /** The fencing token of this lease: acks and sends from an older lease are refused. */
  fence: number;
  /**
   * Aborted when this lease is lost (heartbeat found it taken), released at a stop timeout, or at the handler's
   * deadline (`HandlerTimeoutError`).
   */
  signal: AbortSignal;
  /** Extends the lease (heartbeat); throws `LeaseLostError` when the lease was lost. */
  extendLease(ms?: number): Promise<void>;
  /** Asserts the lease is still held (use before an external side effect); throws `LeaseLostError` otherwise. */
  assertLease(): Promise<void>;
  /**
   * Runs `write` so that what it commits commits only while this lease holds. On a bus on the handler's database
   * `guard` is one statement for `write` to put first in its write batch: the lease check and the write are one
   * transaction, with no read before it; `write` must then write to the bus's database, as `ackWith` does. Elsewhere
   * `assertLease()` runs first and `guard` is empty. Throws `LeaseLostError` when the lease was lost (then nothing of
   * the batch was written).
   */
  underLease<T>(write: (guard: InStatement[]) => Promise<T>): Promise<T>;
  /**
   * The handler's last write, committed in the same transaction as this delivery's ack once the handler returns,
   * instead of in a transaction of its own, and only while the lease holds: when it was lost, nothing of it commits
   * and the handler's outcome is a lost lease. A handler that fails after the call commits none of it either.
   * Throws when called twice or after the handler returned. Only a bus on the handler's database can take it.
   */
  ackWith(write: AckWrite): void;
}

/** What a handler commits with its delivery's ack (`Delivery.ackWith`). */
export interface AckWrite {
  /** The handler's own rows, before the messages. */
  before?: InStatement[];
  /** Published in that transaction; their consumers are woken once it commits. */
  publish?: PublishInput[];
}

export type Handler = (delivery: Delivery) => Promise<void>;

export interface ConsumeOptions {
  topic: string;
  group: string;
  handler: Handler;
  /** Deliveries handled at once by this consumer (different keys). Default 8. */
  concurrency?: number;
  /** Lease length in ms (default 30 s); extended while the handler runs unless `heartbeat` is false. */
  leaseMs?: number;
  heartbeat?: boolean;
  /**
   * A handler still running this long (ms) is abandoned: its signal aborts, its slot is freed and its message
   * goes back for a retry (a failed attempt). The heartbeat would otherwise keep a stuck handler's lease, and its
   * key blocked, forever. Default: 20 leases.
   */
  handlerTimeoutMs?: number | undefined;
  /** Attempts before a message is dead-lettered (default 5). */
  maxAttempts?: number;
  /** Retry delay: d = min(retryMaxMs, retryBaseMs * 2^(attempt-1)), then equal jitter: a random value in
   * [d/2, d], so delays never shrink from one attempt to the next. Defaults 1 s and 5 min. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Called once a delivery's dead letter is committed (e.g. to record it on the message's trace). */
  onDeadLetter?: (dead: { id: number; traceId: string | undefined; error: string }) => void;
}

export interface Consumer {
  /**
   * Stops claiming, waits for running handlers (or releases their leases after `timeoutMs`). A delivery whose
   * handler fails meanwhile is given back too, its attempt not counted: the stop most likely cut it short.
   */
  stop(timeoutMs?: number): Promise<void>;
}

export interface GroupStats {
  topic: string;
  group: string;
  ready: number;
  inFlight: number;
  delayed: number;
  oldestAgeMs: number | null;
  deadLetters: number;
}

export interface DeadLetter {
  id: number;
  topic: string;
  group: string;
  key: string;
  payload: Json;
  attempts: number;
  lastError: string;
  deadAt: number;
  traceId: string | undefined;
}

/** Statements committed with a publish (see `Bus.publish`). */
export interface AlsoCommit {
  before?: InStatement[];
  after?: InStatement[];
  /** Resolve only once on disk (Store.durableBatch): what a webhook's 2xx follows (RELIABILITY.md C5). */
  durable?: boolean;
}

export interface Bus {
  /** Declares that `group` receives every message published to `topic` from now on (idempotent). */
  subscribe(topic: string, group: string): Promise<void>;
  /**
   * Publishes atomically: every message is durable when this resolves, or none is written. `also` are the
   * caller's own statements committed in the same transaction (`before` the messages, `after` them: e.g. rows
   * that name the new message by its idempotency key); only a bus on the caller's database can take them. A
   * message whose original retention purged while this publish ran is published by a second attempt, with `after`
   * again: those statements must be idempotent.
   */
  publish(messages: PublishInput[], also?: AlsoCommit): Promise<PublishResult[]>;
  consume(opts: ConsumeOptions): Consumer;
  stats(): Promise<GroupStats[]>;
  deadLetters(opts?: { topic?: string; group?: string; limit?: number }): Promise<DeadLetter[]>;
  /** Moves a dead letter back to its group's queue; false when no such dead letter exists. */
  retryDeadLetter(id: number, group?: string): Promise<boolean>;
  purgeDeadLetters(opts?: { topic?: string; group?: string; olderThanMs?: number }): Promise<number>;
  close(): Promise<void>;
}

/**
 * Thrown by a handler for a message that can never be handled (a malformed payload): it is dead-lettered at once,
 * with this error as its recorded reason, instead of being retried `maxAttempts` times.
 */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermanentError";
  }
}

/**
 * Thrown by a handler to have its message retried, not before `retryAt` (epoch ms) when given: a platform's back-off,
 * which the process taking the message over must honour too (a stop gives the message back at that time, not at
 * once). `uncounted`: the attempt failed on something outside the message (the platform unavailable, as
 * `isStoreUnavailable` says of the store), so it does not count towards `maxAttempts`.
 */
export class RetryLaterError extends Error {
  readonly retryAt: number | undefined;
  readonly uncounted: boolean;
  constructor(message: string, opts: { retryAt?: number | undefined; uncounted?: boolean | undefined } = {}) {
    super(message);
    this.name = "RetryLaterError";
    // Due times are whole epoch ms (an INTEGER column): a fractional one (a proxy's `retry_after` of 1.5 s) is
    // rounded up, one that is not a number means no time.
    this.retryAt = Number.isFinite(opts.retryAt) ? Math.ceil(opts.retryAt!) : undefined;
    this.uncounted = opts.uncounted ?? false;
  }
}

/**
 * Thrown by a handler that did nothing yet and asks for its message again at `retryAt` (epoch ms): not a failure
 * (a send slot further off than is worth holding a consumer slot for). Uncounted, logged at debug, outcome "later".
 */
export class NotYetError extends RetryLaterError {
  constructor(message: string, retryAt: number) {
    super(message, { retryAt, uncounted: true });
    this.name = "NotYetError";
  }
}

export class LeaseLostError extends Error {
  constructor(readonly id: number, readonly fence: number) {
    super(`lease on message ${id} (fence ${fence}) was lost; another consumer owns it now`);
    this.name = "LeaseLostError";
  }
}

/** Why a handler was abandoned at its deadline (`ConsumeOptions.handlerTimeoutMs`): its signal's reason and recorded error. */
export class HandlerTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`handler gave no outcome within ${ms} ms; abandoned, its signal aborted`);
    this.name = "HandlerTimeoutError";
  }
}
