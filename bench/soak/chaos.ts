/**
 * The soak's chaos script: every 5–30 s (seeded) a random agent is killed with SIGKILL (the orchestrator is the
 * first victim and every third one after), every 10–40 s another agent is recycled with SIGTERM (a graceful
 * stop, then started again at once, like `systemctl restart`), and every 10–40 s the model providers fail in a
 * burst of 3–10 s: fake Groq answers 500 or 429 (retry-after 2), and in every other burst fake Claude answers
 * 529 at the same time, so some turns find every provider down. With `cutSend`, every so often a WhatsApp
 * agent is killed while a send is on the wire, before Graph got it or after, its `modes` in turn (the fake
 * Graph never answers that send): the agent comes back to an unknown outcome that only the status webhooks can
 * settle.
 * Crashed agents come back after the cluster's restart delay (`supervise.crashDelayMs`, systemd's RestartSec).
 *
 * @module
 */
import type { CutMode } from "../../test/fakes/graph.ts";
import type { Cluster } from "../system/cluster.ts";
import { seeded } from "./plan.ts";

export interface ChaosEvent {
  at: number;
  action: "kill" | "recycle" | "burst-start" | "burst-end" | "cut-send";
  target: string;
  /** How a "cut-send" cut the send. */
  mode?: CutMode;
}

export interface ChaosOptions {
  seed: number;
  killEveryS: [number, number];
  recycleEveryS: [number, number];
  burstEveryS: [number, number];
  burstLengthS: [number, number];
  /**
   * Kill a WhatsApp agent mid-send every `everyS` (its own seeded draws: the other events keep their times), the
   * `modes` in turn, one per cut. No cut is armed after `until` (epoch ms): a "lost" send's resend needs statuses of
   * later sends stored within half its status wait (`whatsapp.statusWaitS`) after it.
   */
  cutSend?: { everyS: [number, number]; until: number; modes: CutMode[] };
  /** The providers' healthy behaviour, restored after each burst. */
  healthy(): void;
  log?(line: string): void;
}

export interface Chaos {
  readonly events: ChaosEvent[];
  /** Stops scheduling; ends a running burst (providers healthy again). */
  stop(): void;
}

export function startChaos(cluster: Cluster, opts: ChaosOptions): Chaos {
  const random = seeded(opts.seed ^ 0xc4a05);
  const cutRandom = seeded(opts.seed ^ 0xc07);
  const between = ([lo, hi]: [number, number], r = random) => (lo + r() * (hi - lo)) * 1_000;
  const events: ChaosEvent[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const names = [...cluster.agents.keys()];
  let stopped = false;
  let kills = 0;
  let bursts = 0;
  let bursting = false;
  let cuts = 0;
  let disarm: (() => void) | undefined;

  const record = (action: ChaosEvent["action"], target: string, mode?: CutMode) => {
    events.push({ at: Date.now(), action, target, ...(mode && { mode }) });
    opts.log?.(`chaos: ${action} ${target}${mode ? ` (${mode})` : ""}`);
  };
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };
  const pick = (except?: string) => {
    const pool = names.filter((n) => n !== except && cluster.agents.get(n)!.pid() !== undefined);
    return pool[Math.floor(random() * pool.length)];
  };

  let lastKilled: string | undefined;
  const kill = () => {
    const target = kills % 3 === 0 ? "orchestrator" : pick();
    kills++;
    if (target && cluster.signal(target, "SIGKILL")) {
      lastKilled = target;
      record("kill", target);
    }
    later(between(opts.killEveryS), kill);
  };
  const recycle = () => {
    const target = pick(lastKilled);
    if (target && cluster.signal(target, "SIGTERM")) record("recycle", target);
    later(between(opts.recycleEveryS), recycle);
  };
  const burst = () => {
    const claudeToo = bursts % 2 === 1;
    const groq = random() < 0.5
      ? { kind: "server_error" as const }
      : { kind: "rate_limit" as const, retryAfterS: 2 };
    cluster.groq.setDefault(groq);
    if (claudeToo) cluster.anthropic.setDefault({ kind: "overloaded" });
    bursts++;
    bursting = true;
    record("burst-start", claudeToo ? `groq ${groq.kind} + claude 529` : `groq ${groq.kind}`);
    later(between(opts.burstLengthS), () => {
      opts.healthy();
      bursting = false;
      record("burst-end", "providers");
      later(between(opts.burstEveryS), burst);
    });
  };

  const cutSend = (cut: NonNullable<ChaosOptions["cutSend"]>) => {
    if (Date.now() > cut.until) return;
    const pool = [...cluster.graph.keys()].filter((n) => cluster.agents.get(n)!.pid() !== undefined);
    const target = pool[Math.floor(cutRandom() * pool.length)];
    const next = () => later(between(cut.everyS, cutRandom), () => cutSend(cut));
    if (!target) return next();
    const mode = cut.modes[cuts++ % cut.modes.length]!;
    disarm = cluster.graph.get(target)!.cutNextSend(mode, () => {
      disarm = undefined;
      if (cluster.signal(target, "SIGKILL")) record("cut-send", target, mode);
      next();
    });
  };

  later(between(opts.killEveryS), kill);
  later(between(opts.recycleEveryS), recycle);
  later(between(opts.burstEveryS), burst);
  const cut = opts.cutSend;
  if (cut) later(between(cut.everyS, cutRandom), () => cutSend(cut));
  return {
    events,
    stop() {
      stopped = true;
      disarm?.();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      if (bursting) {
        opts.healthy();
        record("burst-end", "providers");
      }
    },
  };
}
