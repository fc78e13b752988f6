/**
 * The consumer loop, shared by the SQLite and the memory bus. One round hands the queue the outcomes of the
 * handlers that finished since the last round (acks, retries, dead letters: one statement per kind, however
 * many; the writes handlers handed to `Delivery.ackWith` ride on their acks, in one batch) and a claim for the
 * free slots. Rounds run on a macrotask, after the handlers that finished in the meantime have queued their outcomes,
 * so under load acks are group-committed. With nothing to settle, a read (`nextAt`) decides whether claiming is
 * worth a write, and arms a timer for the next visible message or lease expiry.
 *
 * @module
 */
import { steadyClock } from "../deadline.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/registry.ts";
import { isStoreUnavailable, storeErrorCode } from "../store/errors.ts";
import type { AckCommit, Claimed, Lease, Queue, Settle } from "./queue.ts";
import { errorText, retryDelayMs } from "./retry.ts";
import {
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  HandlerTimeoutError,
  LeaseLostError,
  NotYetError,
  PermanentError,
  RetryLaterError,
} from "./types.ts";
import type { WakeHub } from "./wake.ts";

export interface ConsumerDeps {
  queue: Queue;
  hub: WakeHub;
  now: () => number;
  random: () => number;
  consumerId: string;
  log?: Logger | undefined;
  metrics?: Metrics | undefined;
  /** Applied to error text before it is stored (secrets must never reach the database). */
  redact?: ((text: string) => string) | undefined;
}

interface Running {
  claimed: Claimed;
  /** When it was handed to the handler, on the consumer's steady clock (its deadline counts from here). */
  startedAt: number;
  ctrl: AbortController;
  lost: boolean;
  released: boolean;
  done: boolean;
  /** The handler's last write, to commit with the ack (`Delivery.ackWith`). */
  write: AckCommit | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) {
    throw new TypeError(`consume: ${name} must be a number ≥ ${min}, got ${v}`);
  }
  return v;
}

/** Starts consuming `opts.topic` as `opts.group` (subscribing the group if needed). */
export function startConsumer(deps: ConsumerDeps, opts: ConsumeOptions): Consumer {
  const { queue, hub, now } = deps;
  const steady = steadyClock(now); // the handlers' deadlines: a clock stepped back does not postpone them
  const { topic, group, handler } = opts;
  if (typeof topic !== "string" || topic === "") {
    throw new TypeError("consume: topic must be a non-empty string");
  }
  if (typeof group !== "string" || group === "") {
    throw new TypeError("consume: group must be a non-empty string");
  }
  if (typeof handler !== "function") throw new TypeError("consume: handler must be a function");
  const concurrency = Math.floor(positive("concurrency", opts.concurrency, 8));
  // Whole ms: a lease's end is stored in an INTEGER column (a fractional one failed every round of the SQLite bus).
  const leaseMs = Math.ceil(positive("leaseMs", opts.leaseMs, 30_000));
  const maxAttempts = Math.floor(positive("maxAttempts", opts.maxAttempts, 5));
  const handlerTimeoutMs = positive("handlerTimeoutMs", opts.handlerTimeoutMs, 20 * leaseMs);
  const retry = {
    baseMs: positive("retryBaseMs", opts.retryBaseMs, 1_000, 0),
    maxMs: positive("retryMaxMs", opts.retryMaxMs, 300_000, 0),
  };
  const redact = deps.redact ?? ((t: string) => t);
  const labels = { topic, group };
  const log = deps.log?.with({ topic, group });

  // A Set, not a map by id: a handler that outlived its lease may still run when its message comes back.
  const running = new Set<Running>();
  let pending: Settle[] = [];
  let dirty = true;
  let idleRounds = 0;
  let failures = 0;
  let subscribed = false;
  let busy = false;
  let again = false;
  let scheduled = false;
  let stopping = false;
  let stopped = false;
  /** Deliveries whose handler failed while the consumer stops. */
  const givenBack: Claimed[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopPromise: Promise<void> | undefined;

  // A macrotask tick (MessageChannel: ~10 µs; setTimeout(0) costs 1–2 ms).
  const channel = new MessageChannel();
  channel.port1.onmessage = () => void round();
  const schedule = () => {
    if (stopped) return;
    if (busy) {
      again = true;
      return;
    }
    if (scheduled) return;
    scheduled = true;
    channel.port2.postMessage(0);
  };
  /** Wake-ups so far: a round that awaited the store tells whether one came meanwhile (it must not clear `dirty`). */
  let wakes = 0;
  const wake = () => {
    wakes++;
    dirty = true;
    schedule();
  };
  /** `backoff`: wait `ms` itself, not at most the idle poll interval (a 2 ms poll would undo a store's back-off). */
  const armTimer = (ms: number, backoff = false) => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      wake();
    }, Math.max(0, backoff ? ms : Math.min(ms, hub.idleDelayMs(topic, idleRounds))));
  };
  const unlisten = hub.listen(topic, wake);

  const markLost = (r: Running) => {
    if (r.lost) return;
    r.lost = true;
    deps.metrics?.inc("aideazz_bus_lease_lost_total", labels);
    log?.warn("bus lease lost", { id: r.claimed.id, fence: r.claimed.fence });
    r.ctrl.abort(new LeaseLostError(r.claimed.id, r.claimed.fence));
  };

  /**
   * A failed attempt: retried later (not before the handler's `RetryLaterError.retryAt`), or dead-lettered after
   * `maxAttempts` (at once for a PermanentError). One that failed on the store (locked, full, unreachable), or that
   * the handler says failed on its platform (`RetryLaterError.uncounted`), does not count: an outage longer than the
   * retries would dead-letter every message in flight, which nothing was wrong with.
   */
  const fail = ({ key, id, fence, traceId }: Lease & { traceId?: string | undefined }, attempt: number, err: unknown) => {
    const error = errorText(err, redact);
    if (err instanceof NotYetError) {
      pending.push({ kind: "retry", key, id, fence, error, visibleAt: err.retryAt ?? now(), uncounted: true });
      log?.debug("bus handler handed its message back until later", { id, attempt, error });
      deps.metrics?.inc("aideazz_bus_handled_total", { ...labels, outcome: "later" });
      return;
    }
    const later = err instanceof RetryLaterError ? err : undefined;
    const uncounted = later?.uncounted === true || (isStoreUnavailable(err) && !(err instanceof PermanentError));
    const dead = !uncounted && (attempt >= maxAttempts || err instanceof PermanentError);
    if (dead) {
      pending.push({ kind: "dead", key, id, fence, error, attempts: attempt, traceId });
      log?.error("bus message dead-lettered", { id, attempt, error, trace: traceId });
    } else {
      pending.push({
        kind: "retry",
        key,
        id,
        fence,
        error,
        visibleAt: Math.max(now() + retryDelayMs(attempt, retry, deps.random), later?.retryAt ?? 0),
        ...(uncounted ? { uncounted } : {}),
      });
      log?.warn("bus handler failed; will retry", { id, attempt, error });
    }
    deps.metrics?.inc("aideazz_bus_handled_total", {
      ...labels,
      outcome: dead ? "dead" : "retry",
    });
  };
  /** The attempt of each ack that carries a handler's write (the write failing is that attempt failing). */
  const attemptOf = new WeakMap<Settle, number>();
  const backoffMs = () => Math.min(5_000, 25 * 2 ** Math.min(failures, 8));

  const finish = (r: Running, err: unknown, ok: boolean) => {
    running.delete(r);
    r.done = true;
    const { key, id, fence, attempt } = r.claimed;
    if (r.released) return;
    if (r.lost || err instanceof LeaseLostError) {
      markLost(r);
    } else if (ok) {
      const settle: Settle = {
        kind: "ack",
        key,
        id,
        fence,
        ...(r.write ? { with: r.write, traceId: r.claimed.traceId } : {}),
      };
      if (r.write) attemptOf.set(settle, attempt);
      pending.push(settle);
      deps.metrics?.inc("aideazz_bus_handled_total", { ...labels, outcome: "ack" });
    } else if (stopping) {
      // Most likely the stop cut it short (an aborted wait), not the message: given back, uncounted. By stop(), at
      // once; at the time the handler named (a platform's back-off it was waiting out), which the process taking it
      // over must not send before, as a retry.
      const retryAt = err instanceof RetryLaterError ? err.retryAt ?? 0 : 0;
      if (retryAt > now()) {
        const error = errorText(err, redact);
        pending.push({ kind: "retry", key, id, fence, error, visibleAt: retryAt, uncounted: true });
      } else givenBack.push(r.claimed);
    } else {
      fail(r.claimed, attempt, err);
    }
    schedule();
  };

  const dispatch = (c: Claimed) => {
    if (c.attempt > maxAttempts) {
      // Its earlier leases expired (a crash or hang on this message each time): stop handing it out.
      pending.push({
        kind: "dead",
        key: c.key,
        id: c.id,
        fence: c.fence,
        error: c.lastError ?? "attempts exhausted",
        attempts: c.attempt - 1, // this claim only found it exhausted
        traceId: c.traceId,
      });
      log?.error("bus message dead-lettered", {
        id: c.id,
        attempt: c.attempt - 1,
        error: c.lastError,
        trace: c.traceId,
      });
      deps.metrics?.inc("aideazz_bus_handled_total", { ...labels, outcome: "dead" });
      return;
    }
    const r: Running = {
      claimed: c,
      startedAt: steady(),
      ctrl: new AbortController(),
      lost: false,
      released: false,
      done: false,
      write: undefined,
    };
    running.add(r);
    const lease: Lease = { key: c.key, id: c.id, fence: c.fence };
    const lost = () => {
      markLost(r);
      return new LeaseLostError(c.id, c.fence);
    };
    const delivery: Delivery = {
      id: c.id,
      topic,
      group,
      key: c.key,
      payload: c.payload,
      traceId: c.traceId,
      attempt: c.attempt,
      publishedAt: c.publishedAt,
      fence: c.fence,
      signal: r.ctrl.signal,
      async extendLease(ms = leaseMs) {
        if (r.lost || r.released) throw lost();
        const [ok] = await queue.extend(topic, group, [lease], now() + Math.ceil(ms));
        if (!ok) throw lost();
      },
      async assertLease() {
        if (r.lost || r.released || !(await queue.holds(topic, group, lease, now()))) throw lost();
      },
      async underLease(write) {
        const guard = queue.guard?.(topic, group, lease, now());
        if (!guard) {
          await delivery.assertLease();
          return await write([]);
        }
        if (r.lost || r.released) throw lost();
        try {
          return await write([guard.stmt]);
        } catch (err) {
          if (guard.lost(err)) throw lost();
          throw err;
        }
      },
      ackWith(write) {
        if (r.done) throw new Error("ackWith: the handler already returned or was abandoned");
        if (r.write) throw new Error("ackWith: called twice for one delivery");
        r.write = queue.ackCommit(write);
      },
    };
    // Its first claim ever (fences only grow): an uncounted retry (a hand-back until later, a store outage) or a
    // stop's release claims attempt 1 again, and its wait is no hop.
    if (c.fence === 1) {
      deps.metrics?.observe("aideazz_bus_hop_ms", Math.max(0, now() - c.publishedAt), labels);
    }
    Promise.resolve().then(() => handler(delivery)).then(
      () => finish(r, undefined, true),
      (err) => finish(r, err, false),
    );
  };

  const step = async (): Promise<boolean> => {
    const slots = stopping ? 0 : concurrency - running.size;
    const wantClaim = slots > 0 && dirty;
    const settles = pending;
    if (settles.length === 0 && !wantClaim) return false;
    const seen = wakes;
    pending = [];
    try {
      if (!subscribed) {
        await queue.subscribe(topic, group, now());
        subscribed = true;
      }
      if (settles.length === 0) {
        const next = await queue.nextAt(topic, group);
        const t = now();
        if (next === null || next > t) {
          if (wakes !== seen) return true; // woken while it read (a round trip to a libSQL server): read again
          dirty = false;
          idleRounds++;
          armTimer(next === null ? Infinity : next - t);
          return false;
        }
      }
      const res = await queue.cycle({
        topic,
        group,
        now: now(),
        settles,
        claim: wantClaim ? slots : 0,
        leaseMs,
        consumer: deps.consumerId,
      });
      const woken = new Set<string>();
      let unavailable: unknown;
      res.applied.forEach((ok, i) => {
        const s = settles[i]!;
        const err = res.errors?.[i];
        if (err !== undefined && isStoreUnavailable(err)) {
          unavailable = err;
          pending.push(s); // written again after a back-off
        } else if (err !== undefined) {
          fail(s, attemptOf.get(s) ?? 1, err); // rolled back with its ack: the handler's attempt failed
        } else if (s.kind === "ack") {
          // Also when the guard refused it: an earlier round may have committed it (on a libSQL server).
          s.with?.topics.forEach((t) => woken.add(t));
        } else if (s.kind === "dead" && ok) {
          opts.onDeadLetter?.({ id: s.id, traceId: s.traceId, error: s.error });
        }
        if (!ok && err === undefined) {
          log?.warn("bus settle refused: the lease was lost", { id: s.id, kind: s.kind });
        }
      });
      if (woken.size > 0) hub.notify(woken);
      failures = unavailable === undefined ? 0 : failures + 1;
      if (wantClaim) idleRounds = res.claimed.length > 0 ? 0 : idleRounds + 1;
      // Fewer than asked: drained for now; the next round reads when more becomes claimable.
      dirty = wantClaim || settles.length > 0 || wakes !== seen;
      if (stopping && res.claimed.length > 0) {
        // Claimed by a round that began before stop(): given back unhandled, as stop() gives back its leases.
        try {
          await queue.release(topic, group, res.claimed, now());
          hub.notify([topic]);
        } catch (err) {
          log?.error("bus could not release leases; they expire instead", { code: storeErrorCode(err) });
        }
      } else for (const c of res.claimed) dispatch(c);
      if (unavailable !== undefined) {
        log?.warn("bus store unavailable; retrying", { code: storeErrorCode(unavailable), failures });
        armTimer(backoffMs(), true);
        return false;
      }
      return pending.length > 0 || (dirty && !stopping && running.size < concurrency);
    } catch (err) {
      pending = settles.concat(pending);
      failures++;
      if (failures === 1 || failures % 20 === 0) {
        const fields = { code: storeErrorCode(err), failures, error: errorText(err, redact) };
        if (isStoreUnavailable(err)) log?.warn("bus store unavailable; retrying", fields);
        else log?.error("bus round failed; retrying", fields);
      }
      dirty = true;
      armTimer(backoffMs(), true);
      return false;
    }
  };

  async function round() {
    scheduled = false;
    if (busy || stopped) return;
    busy = true;
    again = false;
    let more = false;
    try {
      more = await step();
    } finally {
      busy = false;
    }
    if (more || again) schedule();
    else if (timer === undefined && !stopping) armTimer(Infinity);
  }

  /** A handler past its deadline (a call without timeout, a bug): its slot and its key go on without it. */
  const abandon = (r: Running) => {
    const err = new HandlerTimeoutError(handlerTimeoutMs);
    finish(r, err, false); // a failed attempt: retried, or dead-lettered with this reason
    r.released = true; // its late writes and extensions are refused, as its ack is (done)
    r.ctrl.abort(err);
  };
  const tick = setInterval(async () => {
    for (const r of running) if (steady() - r.startedAt >= handlerTimeoutMs) abandon(r);
    if (opts.heartbeat === false) return;
    const live = [...running].filter((r) => !r.lost && !r.released);
    if (live.length === 0) return;
    try {
      const held = await queue.extend(topic, group, live.map((r) => r.claimed), now() + leaseMs);
      held.forEach((ok, i) => {
        if (!ok) markLost(live[i]!);
      });
    } catch (err) {
      log?.warn("bus heartbeat failed", { code: storeErrorCode(err) });
    }
  }, Math.max(5, leaseMs / 3));

  /** Waits `ms` on a steady clock: a wall clock stepped back meanwhile would stretch a stop's wait by the step. */
  const waitUntil = async (cond: () => boolean, ms: number) => {
    const end = performance.now() + ms;
    while (!cond() && performance.now() < end) await sleep(2);
    return cond();
  };

  schedule();
  return {
    stop(timeoutMs = 10_000) {
      stopPromise ??= (async () => {
        stopping = true;
        unlisten();
        await waitUntil(() => running.size === 0, timeoutMs);
        const rest = [...running];
        if (rest.length > 0) log?.warn("bus consumer stopped with handlers still running: abandoned", { running: rest.length, timeoutMs });
        for (const r of rest) {
          r.released = true;
          r.ctrl.abort(new Error(`consumer stopped after ${timeoutMs} ms; lease released`));
        }
        running.clear();
        const leases = [...rest.filter((r) => !r.lost).map((r) => r.claimed), ...givenBack];
        if (leases.length > 0) {
          try {
            await queue.release(topic, group, leases, now());
            hub.notify([topic]); // another process consuming this group takes them over now
          } catch (err) {
            log?.error("bus could not release leases; they expire instead", { code: storeErrorCode(err) });
          }
        }
        // Flush the outcomes of handlers that finished.
        schedule();
        await waitUntil(() => pending.length === 0 && !busy && !scheduled, Math.max(1_000, timeoutMs));
        stopped = true;
        clearInterval(tick);
        if (timer !== undefined) clearTimeout(timer);
        channel.port1.close();
      })();
      return stopPromise;
    },
  };
}
