/**
 * Long polling without losing an update: `getUpdates(offset)` confirms every update below `offset`, so the
 * offset moves past a batch only after the whole batch is committed. When the commit fails the poller stops
 * fetching, reports itself unhealthy and retries the same batch with back-off — it never confirms an update it
 * has not stored. (grammY's `bot.start()` confirms updates whose middleware threw, and `bot.stop()` confirms
 * the one in flight: that is why this loop is ours.) After a restart Telegram hands out every unconfirmed
 * update again; the idempotency keys make the second commit a no-op.
 *
 * @module
 */
import { GrammyError } from "grammy/web";
import { deadline } from "../../deadline.ts";
import type { Logger } from "../../log.ts";
import { isStoreUnavailable, storeErrorCode } from "../../store/mod.ts";
import type { CheckResult } from "../define.ts";
import { backoffMs } from "../channel/outcome.ts";
import type { Sleep } from "../channel/sleep.ts";
import { isTokenRefused } from "./api.ts";
import { ALLOWED_UPDATES, type AllowedUpdate, readUpdate, type TelegramUpdate } from "./update.ts";

export interface UpdatesSource {
  getUpdates(
    params: { offset?: number; timeout: number; limit: number; allowed_updates: readonly AllowedUpdate[] },
    signal: AbortSignal,
  ): Promise<readonly unknown[]>;
  /** Removes a webhook that is set (getUpdates answers 409 while one is), keeping the updates pending. */
  deleteWebhook?(signal: AbortSignal): Promise<unknown>;
}

export interface PollerOptions {
  source: UpdatesSource;
  ingest(updates: TelegramUpdate[]): Promise<void>;
  timeoutS: number;
  log: Logger;
  sleep: Sleep;
  /** Updates per getUpdates call (Telegram allows 1–100). */
  limit?: number;
}

export interface Poller {
  start(): void;
  /** Aborts the long poll, lets a commit in progress finish, and resolves when the loop has ended. */
  stop(): Promise<void>;
  check(): CheckResult;
  /** The next offset to confirm (diagnostics and tests). */
  offset(): number | undefined;
}

/** How long past its own timeout a long poll may take before it is abandoned. */
const POLL_GRACE_S = 10;
/** How long polling waits for a deleteWebhook after a 409 (grammY's own timeout is 500 s). */
const DELETE_WEBHOOK_MS = 10_000;

export function createPoller(opts: PollerOptions): Poller {
  const ctrl = new AbortController();
  let offset: number | undefined;
  let health: CheckResult = { ok: true, detail: "polling" };
  let loop: Promise<void> | undefined;

  const fetchBatch = async (attempt: number): Promise<unknown[] | undefined> => {
    // A long poll answers within its timeout; one that does not (a connection a NAT or proxy dropped silently) is
    // given up on, or ingress would wait for the client's own timeout (grammY: 500 s).
    const poll = deadline((opts.timeoutS + POLL_GRACE_S) * 1000, ctrl.signal);
    try {
      const params = { timeout: opts.timeoutS, limit: opts.limit ?? 100, allowed_updates: ALLOWED_UPDATES };
      return [...await opts.source.getUpdates(offset === undefined ? params : { ...params, offset }, poll.signal)];
    } catch (err) {
      if (ctrl.signal.aborted) return undefined;
      let waitMs = backoffMs(attempt, 1_000, 2, 60_000);
      let detail = "getUpdates failed (network)";
      if (err instanceof GrammyError) {
        detail = err.error_code === undefined
          ? "getUpdates failed: the API root answered without a Bot API error (check telegram.apiRoot)"
          : `getUpdates failed (${err.error_code}: ${err.description})`;
        if (err.error_code === 429) waitMs = (err.parameters.retry_after ?? 5) * 1000;
        if (isTokenRefused(err.error_code)) {
          detail = "getUpdates refused: the bot token is invalid";
        }
        if (err.error_code === 409) {
          detail = "getUpdates conflict: a webhook is set or another poller runs";
          // A webhook set (the start's deleteWebhook failed, or someone set one since): removed, then polled again.
          // A stop gives the call up too: stop() waits for this loop.
          if (opts.source.deleteWebhook && /webhook/i.test(err.description)) {
            const call = deadline(DELETE_WEBHOOK_MS, ctrl.signal);
            await opts.source.deleteWebhook(call.signal)
              .catch((e) => opts.log.warn("deleteWebhook failed", { err: e }))
              .finally(call.clear);
          }
        }
      }
      health = { ok: false, detail };
      opts.log.warn("telegram poll failed", { detail, waitMs });
      await opts.sleep(waitMs, ctrl.signal).catch(() => {});
      return undefined;
    } finally {
      poll.clear();
    }
  };

  const commit = async (raw: unknown[]): Promise<void> => {
    const updates: TelegramUpdate[] = [];
    for (const u of raw) {
      const update = readUpdate(u);
      if (update) updates.push(update);
      else opts.log.error("telegram sent an update without update_id; it is skipped");
    }
    for (let attempt = 1;; attempt++) {
      try {
        await opts.ingest(updates);
        return;
      } catch (err) {
        const code = storeErrorCode(err);
        health = {
          ok: false,
          detail: isStoreUnavailable(err)
            ? `poller stopped: store unavailable (${code})`
            : "poller stopped: commit failed",
        };
        opts.log.error("updates not stored; polling stopped until the store takes them", {
          code,
          updates: updates.length,
        });
        // Keep the batch and retry; a stop request ends the loop without confirming anything.
        await opts.sleep(backoffMs(attempt, 1_000, 2, 30_000), ctrl.signal).catch(() => {});
        if (ctrl.signal.aborted) throw err;
      }
    }
  };

  const run = async () => {
    let failures = 0;
    while (!ctrl.signal.aborted) {
      const raw = await fetchBatch(failures + 1);
      if (raw === undefined) {
        failures++;
        continue;
      }
      failures = 0;
      if (raw.length > 0) {
        try {
          await commit(raw);
        } catch {
          return; // stopping with an uncommitted batch: its offset is never confirmed
        }
        // Over every element, the unreadable ones (skipped by the commit, even `null`) included.
        const ids = raw.map((u) => (u as { update_id?: unknown } | null)?.update_id).filter((id) =>
          typeof id === "number"
        );
        if (ids.length > 0) offset = Math.max(...ids) + 1;
      }
      health = { ok: true, detail: "polling" };
    }
  };

  return {
    start() {
      loop ??= run().catch((err) => {
        health = { ok: false, detail: "poller crashed" };
        opts.log.error("telegram poller crashed", { err });
      });
    },
    async stop() {
      ctrl.abort(new Error("poller stopping"));
      await loop;
    },
    check: () => health,
    offset: () => offset,
  };
}
