/**
 * The "working on it" notice for channels that cannot edit a message (WhatsApp): one short message before a
 * slow reply, at most one per turn (its reply key is derived from the turn, so a redelivered turn never sends a
 * second one). A turn gets it at once when it is predicted slow — the first provider its chain would try is of a
 * slow kind (a CPU-only llama.cpp) or its measured latency is over the threshold — and otherwise when it is still
 * unanswered `thresholdMs` after the model call started (fallbacks, retries, a deadline coming near).
 *
 * @module
 */
import type { ChainProviderInfo } from "../../../router/chain.ts";
import type { NoticeSettings } from "../../channel/experience.ts";

/** Recent latency per provider (an exponentially weighted mean of successful calls in this process). */
export interface LatencyEstimates {
  observe(provider: string, ms: number): void;
  get(provider: string): number | undefined;
}

export function createLatencyEstimates(weight = 0.3): LatencyEstimates {
  const means = new Map<string, number>();
  return {
    observe(provider, ms) {
      const m = means.get(provider);
      means.set(provider, m === undefined ? ms : m + weight * (ms - m));
    },
    get: (provider) => means.get(provider),
  };
}

/** Why a turn is predicted to take longer than the threshold, or undefined when it is not. */
export function predictSlow(
  chain: readonly ChainProviderInfo[],
  settings: NoticeSettings,
  latency: LatencyEstimates,
): string | undefined {
  const first = chain.find((p) => p.breaker !== "open");
  if (!first) return undefined;
  if (settings.slowKinds.includes(first.kind)) return `${first.name} is a slow provider (${first.kind})`;
  const ms = latency.get(first.name);
  return ms !== undefined && ms >= settings.thresholdMs
    ? `${first.name} answers in ~${Math.round(ms)} ms`
    : undefined;
}

export interface NoticeTimer {
  /** The answer has started to show (a partial): no notice after this moment. */
  cancel(): void;
  /** The turn is answered (or failed): no notice any more; resolves once a notice being published is out. */
  finish(): Promise<void>;
}

/** Publishes the notice now (`slowReason` set) or after `thresholdMs`, at most once. */
export function startNotice(opts: {
  settings: NoticeSettings;
  slowReason: string | undefined;
  publish: (reason: string) => Promise<void>;
  onError: (err: unknown) => void;
}): NoticeTimer {
  let sending: Promise<void> | undefined;
  const send = (reason: string) => {
    sending ??= opts.publish(reason).catch(opts.onError);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (opts.slowReason !== undefined) send(opts.slowReason);
  else {timer = setTimeout(() =>
      send(`no answer after ${opts.settings.thresholdMs} ms`), opts.settings.thresholdMs);}
  return {
    cancel() {
      clearTimeout(timer);
    },
    async finish() {
      clearTimeout(timer);
      await sending;
    },
  };
}
