/**
 * The narrow queue interface the consumer loop (consumer.ts) runs on. SQLite (sqlite-queue.ts) and memory
 * (memory-queue.ts) implement it, so both buses share one consumer loop and behave the same way.
 *
 * @module
 */
import type { InStatement } from "../store/mod.ts";
import type { AckWrite, Json } from "./types.ts";

/** A delivery as claimed from the queue (the consumer turns it into a `Delivery`). */
export interface Claimed {
  id: number;
  key: string;
  payload: Json;
  traceId: string | undefined;
  publishedAt: number;
  fence: number;
  attempt: number;
  /** Why the previous attempt ended, when there was one (e.g. "lease expired …"). */
  lastError: string | undefined;
}

/** The outcome of one handled delivery, applied only if its fence still matches. */
export type Settle =
  & Lease
  & (
    | { kind: "ack"; with?: AckCommit; traceId?: string | undefined }
    /** `uncounted`: the attempt failed on the store, not on the message: it does not count towards maxAttempts. */
    | { kind: "retry"; visibleAt: number; error: string; uncounted?: boolean }
    | { kind: "dead"; error: string; attempts: number; traceId?: string | undefined }
  );

/** A handler's last write (`Delivery.ackWith`), committed in the transaction that acks its delivery. */
export interface AckCommit {
  /** The handler's own rows. */
  stmts: InStatement[];
  /** The messages it publishes as the publish statement reads them: a JSON array, taken when `ackWith` was called. */
  rowsJson: string;
  /** Topics it publishes to: woken after the commit. */
  topics: string[];
}

/** A held delivery of the consumer's (topic, group). */
export interface Lease {
  key: string;
  id: number;
  fence: number;
}

export interface CycleInput {
  topic: string;
  group: string;
  now: number;
  settles: readonly Settle[];
  /** How many deliveries to claim after settling (0: settle only). */
  claim: number;
  leaseMs: number;
  consumer: string;
}

export interface CycleResult {
  /** Per settle: false when its fence no longer matched (the lease was lost). */
  applied: boolean[];
  /** Per settle (sparse): why the write riding on its ack failed (the ack failed with it). */
  errors?: (unknown | undefined)[];
  claimed: Claimed[];
}

export interface Queue {
  subscribe(topic: string, group: string, now: number): Promise<void>;
  /** Earliest time something of (topic, group) is claimable (a visible head or an expired lease); null: none. */
  nextAt(topic: string, group: string): Promise<number | null>;
  /** The statements of a handler's `ackWith` (validated now; throws TypeError for bad input). */
  ackCommit(write: AckWrite): AckCommit;
  /**
   * One write: applies `settles` (with the writes that ride on their acks), returns expired leases to the queue,
   * then claims up to `claim`.
   */
  cycle(input: CycleInput): Promise<CycleResult>;
  /** Extends held leases to `until`; per lease, false when it was lost. */
  extend(topic: string, group: string, leases: readonly Lease[], until: number): Promise<boolean[]>;
  holds(topic: string, group: string, lease: Lease, now: number): Promise<boolean>;
  /**
   * A statement that fails unless `lease` holds at `now` (as `holds` would say), for a write batch that must commit
   * only under it, and how to tell its failure; absent where the queue is not on the handlers' database.
   */
  guard?(topic: string, group: string, lease: Lease, now: number): { stmt: InStatement; lost(err: unknown): boolean };
  /** Gives leases back: ready now, new fence, the attempt not counted. */
  release(topic: string, group: string, leases: readonly Lease[], now: number): Promise<void>;
}
