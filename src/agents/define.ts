/**
 * What an agent kind is: a small module that builds its routes, health checks and background work from shared
 * parts. The runtime (runtime.ts) owns the lifecycle: store, HTTP server, /health, /metrics, graceful stop.
 *
 * @module
 */
import type { Hono } from "hono";
import type { AgentConfig, AgentKind, Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/registry.ts";
import type { Store } from "../store/mod.ts";
import type { Tracer } from "../trace/mod.ts";

/** The world as an agent sees it: injected so tests can move time and swap HTTP. */
export interface AgentDeps {
  store: Store;
  log: Logger;
  metrics: Metrics;
  /** Records trace stages: `tracer.event(traceId, "claimed", { group })` (see src/trace/tracer.ts). */
  tracer: Tracer;
  config: Config;
  now: () => number;
  fetch: typeof fetch;
  version: string;
  /** Configured secret values by environment variable name (only the ones this agent references). */
  secrets: Readonly<Record<string, string>>;
  /**
   * Removes those secrets from a text by value (src/redact.ts), as the logger does: applied to what is
   * stored or served from a platform's error, as a proxy or a self-hosted Bot API may echo the token in it.
   */
  redact: (text: string) => string;
}

export interface CheckResult {
  ok: boolean;
  detail?: string;
}

export interface AgentInstance {
  /** Mounts the agent's own routes (webhooks, pages) on the agent's HTTP app. */
  routes?(app: Hono): void;
  /** Agent-specific health checks, merged into GET /health. */
  checks?(): Promise<Record<string, CheckResult>>;
  /** Starts background work (consumers, pollers, flush loops). */
  start?(): Promise<void>;
  /** Stops background work gracefully: stop claiming, finish or release leases, flush. */
  stop?(): Promise<void>;
}

export interface AgentDefinition<K extends AgentKind = AgentKind> {
  kind: K;
  summary: string;
  create(deps: AgentDeps, agent: Extract<AgentConfig, { kind: K }>): AgentInstance | Promise<AgentInstance>;
}

/** Types an agent declaration (the identity function: it only checks the shape). */
export function defineAgent<K extends AgentKind>(def: AgentDefinition<K>): AgentDefinition<K> {
  return def;
}
