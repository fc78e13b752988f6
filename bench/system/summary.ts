/**
 * What the system benchmark's numbers say, as pure functions of the steps: each step's errors, which step is the
 * headline (the highest that met the ack target with every request answered), the comparison with the classic
 * design, and each agent's loaded memory.
 *
 * @module
 */
import type { LoadResult } from "./load.ts";
import { type Dist, type LockUse, round } from "./measure.ts";
import type { Category } from "./workload.ts";

/** Issue 8's webhook ack target: p99 at most this many ms. */
export const ACK_TARGET_MS = 25;

export interface StepResult {
  agents: number;
  workload: string;
  offered_per_s: number;
  seconds: number;
  sent: number;
  /** Requests the generator never sent (queued behind an answer that never came) and how late the sent ones left. */
  unsent: number;
  late_ms: Dist;
  ack_2xx: number;
  /** Requests sent and not answered 2xx: a non-2xx answer or none at all (`unanswered`). */
  errors: number;
  /** Requests sent and never answered while wrk ran: a platform calls that a failed delivery. */
  unanswered: number;
  /** wrk's socket errors (connect, read, write) and its timeout count: the causes, counted apart from `errors`. */
  socket_errors: number;
  timeouts: number;
  missing_replies: number;
  ack_ms: Dist;
  reply_ms: Partial<Record<Category | "all", Dist>>;
  replies_per_s: number;
  drain_s: number;
  answered_by: Record<string, number>;
  /** CPU of each process in % of one core over the step (send window + drain); `other` = everything else on the machine. */
  cpu_pct: Record<string, number>;
  /** CPU milliseconds each process spent per reply delivered (what a reply costs; 2 cores = 2,000 ms/s). */
  cpu_ms_per_reply: Record<string, number>;
  rss_peak_mb: Record<string, number>;
  /**
   * Each agent's use of the database's write lock over the step, send window and drain (its
   * `aideazz_store_lock_*` histograms).
   */
  write_lock: Record<string, LockUse>;
}

/**
 * The webhook answers of a load run. Only an "a" line of wrk.lua is an answer: a request sent without one (the
 * agent hung, the connection dropped) is in no status count and no ack latency, so it is counted from the sends.
 */
export function ackStats(load: LoadResult) {
  const acks = load.targets.flatMap((t) => t.ackMs);
  const sent = load.targets.reduce((a, t) => a + t.sends.length, 0);
  let ok = 0;
  for (const t of load.targets) for (const [s, n] of Object.entries(t.statuses)) if (s.startsWith("2")) ok += n;
  return {
    acks,
    ok,
    errors: Math.max(0, sent - ok),
    unanswered: Math.max(0, sent - acks.length),
    socket_errors: load.targets.reduce((a, t) => a + t.errors, 0),
    timeouts: load.targets.reduce((a, t) => a + t.timeouts, 0),
  };
}

/** Whether a step met the ack target with every request sent, acknowledged 2xx and replied to. */
export function meetsAckTarget(s: StepResult): boolean {
  return s.ack_ms.p99 <= ACK_TARGET_MS && s.errors === 0 && s.unsent === 0 && s.unanswered === 0 &&
    s.missing_replies === 0;
}

/** The headline step: the highest-load step that met the ack target, else the first step. */
export function headlineStep(hits: StepResult[]): { head: StepResult; meeting: StepResult[] } {
  const meeting = hits.filter(meetsAckTarget);
  return { head: meeting.at(-1) ?? hits[0]!, meeting };
}

/**
 * Classic reply p50 over ours at the same offered load, FAQ answers on both sides: the classic pipeline answers
 * only FAQ questions, and our step's cache answers (faster) would inflate the ratio.
 */
export function classicReplyRatio(classic: StepResult | undefined, ours: StepResult): number {
  if (!classic) return NaN;
  return round((classic.reply_ms.faq?.p50 ?? NaN) / (ours.reply_ms.faq?.p50 ?? NaN), 0);
}

/**
 * Each agent's loaded memory: its largest step peak and its VmHWM at the end, or, for an agent no longer running
 * then (it died during the steps), the highest the sampler saw of it — an agent that died is not left out.
 */
export function loadedRss(
  steps: StepResult[],
  end: Record<string, { hwm_mb: number }>,
  highest: ReadonlyMap<string, number>,
): Record<string, { peak_rss: number; hwm: number; exited?: true }> {
  const peaks: Record<string, number> = {};
  for (const s of steps) for (const [n, v] of Object.entries(s.rss_peak_mb)) peaks[n] = Math.max(peaks[n] ?? 0, v);
  const names = new Set([...Object.keys(end), ...Object.keys(peaks), ...highest.keys()]);
  return Object.fromEntries([...names].map((n) => {
    const hwm = round(Math.max(end[n]?.hwm_mb ?? 0, highest.get(n) ?? 0) || NaN);
    return [n, { peak_rss: round(peaks[n] ?? NaN), hwm, ...(end[n] ? {} : { exited: true as const }) }];
  }));
}
