/**
 * The model call of a turn, with what the chat's channel wants around it: the reply streamed into partial
 * replies when the channel edits its messages (partials.ts), and one "working on it" notice first when the
 * channel wants one and the turn is predicted, or turns out, slow (notice.ts). Both are on the bus before this
 * resolves or throws, so the final reply (or the fallback) always comes after them.
 *
 * @module
 */
import type { OutboundReply } from "../../../bus/envelopes.ts";
import type { Delivery } from "../../../bus/mod.ts";
import type { Logger } from "../../../log.ts";
import type { Metrics } from "../../../metrics/registry.ts";
import type { ModelRouter, RouteRequest, RouteResult } from "../../../router/chain.ts";
import type { TurnFacts } from "../../../router/classify.ts";
import type { Tracer } from "../../../trace/mod.ts";
import type { ExperienceSettings } from "../../channel/experience.ts";
import { type LatencyEstimates, predictSlow, startNotice } from "./notice.ts";
import { createPartialPublisher } from "./partials.ts";

/** Partial replies published while a model streamed. */
export const PARTIALS_METRIC = "aideazz_partial_replies_total";
/** "Working on it" notices published before a slow reply. */
export const NOTICES_METRIC = "aideazz_working_notices_total";

export interface ModelCall {
  router: ModelRouter;
  exp: ExperienceSettings;
  delivery: Delivery;
  channel: string;
  request: RouteRequest;
  turn: TurnFacts;
  latency: LatencyEstimates;
  /** Publishes a reply of this turn (`partial`: the sequence number of a partial answer). */
  publish(
    text: string,
    kind: OutboundReply["kind"],
    suffix: "answer" | "working",
    partial?: number,
  ): Promise<void>;
  /** The role's hygiene for a partial text; undefined ends the partials. */
  reviewPartial(text: string): string | undefined;
  metrics: Metrics;
  tracer: Tracer;
  log: Logger;
  now: () => number;
}

/** Routes the turn (streamed when the channel edits messages); throws what the router throws. */
export async function callModel(c: ModelCall): Promise<RouteResult> {
  const { router, exp, delivery, metrics, tracer, log } = c;
  const tier = router.classify(c.turn).tier;
  const notice = exp.notice.enabled
    ? startNotice({
      settings: exp.notice,
      slowReason: predictSlow(router.providersFor(tier), exp.notice, c.latency),
      publish: async (reason) => {
        await c.publish(exp.notice.text, "progress", "working");
        metrics.inc(NOTICES_METRIC, { channel: c.channel });
        tracer.event(delivery.traceId, "route", { purpose: "working notice", reason });
      },
      onError: (err) => log.warn("working-on-it notice not published", { trace: delivery.traceId, err }),
    })
    : undefined;
  const partials = exp.stream
    ? createPartialPublisher({
      settings: exp.stream,
      now: c.now,
      publish: async (text, seq) => {
        notice?.cancel(); // the answer is showing: "working on it" below it would come too late
        await c.publish(text, "answer", "answer", seq);
        metrics.inc(PARTIALS_METRIC, { channel: c.channel });
      },
      review: c.reviewPartial,
      onError: (err) => log.warn("partial reply not published", { trace: delivery.traceId, err }),
    })
    : undefined;
  try {
    const input = { request: c.request, tier, turn: c.turn, signal: delivery.signal };
    return partials
      ? await router.routeStream(input, (text) => partials.update(text), () => partials.shown())
      : await router.route(input);
  } finally {
    const published = await partials?.close();
    await notice?.finish();
    if (published) tracer.event(delivery.traceId, "route", { purpose: "streamed", partials: published });
  }
}
