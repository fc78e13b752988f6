/**
 * The in-memory twin of the SQLite schema: the same rows (messages, per-group deliveries with a head per key,
 * dead letters) and the same rules (fenced settles, head promotion, finished messages dropped), so the memory
 * bus behaves like the SQLite one in other modules' unit tests.
 *
 * @module
 */
import type { Claimed, CycleInput, CycleResult, Lease, Queue } from "./queue.ts";
import type { DeadLetter, GroupStats, Json } from "./types.ts";
import type { MessageRow } from "./validate.ts";

interface Message {
  id: number;
  topic: string;
  key: string;
  payload: string;
  idem: string | undefined;
  traceId: string | undefined;
  publishedAt: number;
}

interface Row {
  id: number;
  group: string;
  topic: string;
  key: string;
  head: boolean;
  state: 0 | 1;
  visibleAt: number;
  leaseUntil: number;
  fence: number;
  attempts: number;
  lastError: string | undefined;
}

interface Dead {
  id: number;
  group: string;
  topic: string;
  key: string;
  attempts: number;
  lastError: string;
  deadAt: number;
  /** The dead delivery's fence: a retry's leases go on from it, so no lease of before is valid again. */
  fence: number;
}

const LEASE_EXPIRED = "lease expired (the handler crashed, hung or lost its heartbeat)";
/** When a head is claimable, as `due_at` in SQLite: ready from its visible time, leased from its lease's end. */
const dueAt = (r: Row) => (r.state === 0 ? r.visibleAt : r.leaseUntil);
const gk = (topic: string, group: string) => `${topic}\u0000${group}`;
const rk = (group: string, id: number) => `${group}\u0000${id}`;

export class MemoryStore {
  readonly #messages = new Map<number, Message>();
  readonly #idem = new Map<string, number>();
  readonly #subs = new Map<string, Set<string>>();
  /** topic+group → key → rows of that key in queue order (a dead letter re-queued goes to the end). */
  readonly #queues = new Map<string, Map<string, Row[]>>();
  readonly #rows = new Map<string, Row>();
  readonly #dead = new Map<string, Dead>();
  /** Message id → deliveries plus dead letters referring to it. */
  readonly #refs = new Map<number, number>();
  #nextId = 1;

  subscribe(topic: string, group: string): void {
    let groups = this.#subs.get(topic);
    if (!groups) this.#subs.set(topic, groups = new Set());
    groups.add(group);
  }

  /** Publishes validated rows atomically (nothing here can fail half-way). */
  publish(rows: readonly MessageRow[], now: number): { id: number; duplicate: boolean }[] {
    return rows.map((r) => {
      const known = r.i === undefined ? undefined : this.#idem.get(r.i);
      if (known !== undefined) return { id: known, duplicate: true };
      const id = this.#nextId++;
      const payload = JSON.stringify(r.p);
      this.#messages.set(id, {
        id,
        topic: r.t,
        key: r.k,
        payload,
        idem: r.i,
        traceId: r.r,
        publishedAt: now,
      });
      if (r.i !== undefined) this.#idem.set(r.i, id);
      const visibleAt = Math.max(now, r.n ?? 0);
      for (const group of this.#subs.get(r.t) ?? []) this.#insertRow(id, group, r.t, r.k, visibleAt);
      this.#dropIfFinished(id);
      return { id, duplicate: false };
    });
  }

  #insertRow(id: number, group: string, topic: string, key: string, visibleAt: number, fence = 0): void {
    let byKey = this.#queues.get(gk(topic, group));
    if (!byKey) this.#queues.set(gk(topic, group), byKey = new Map());
    let list = byKey.get(key);
    if (!list) byKey.set(key, list = []);
    const row: Row = {
      id,
      group,
      topic,
      key,
      head: list.length === 0,
      state: 0,
      visibleAt,
      leaseUntil: 0,
      fence,
      attempts: 0,
      lastError: undefined,
    };
    list.push(row);
    this.#rows.set(rk(group, id), row);
    this.#ref(id, 1);
  }

  #deleteRow(row: Row): void {
    this.#rows.delete(rk(row.group, row.id));
    const byKey = this.#queues.get(gk(row.topic, row.group))!;
    const list = byKey.get(row.key)!.filter((r) => r !== row);
    if (list.length === 0) byKey.delete(row.key);
    else byKey.set(row.key, list);
    // Only heads are deleted (acked or dead-lettered under a lease); the key's next one takes over.
    if (row.head && list[0]) list[0].head = true;
    this.#ref(row.id, -1);
  }

  #ref(id: number, by: number): void {
    const n = (this.#refs.get(id) ?? 0) + by;
    if (n > 0) return void this.#refs.set(id, n);
    this.#refs.delete(id);
    this.#dropIfFinished(id);
  }

  /** A message without an idempotency key goes once no delivery or dead letter refers to it. */
  #dropIfFinished(id: number): void {
    const m = this.#messages.get(id);
    if (m && m.idem === undefined && !this.#refs.has(id)) this.#messages.delete(id);
  }

  #fenced(group: string, lease: Lease): Row | undefined {
    const row = this.#rows.get(rk(group, lease.id));
    return row && row.fence === lease.fence ? row : undefined;
  }

  #heads(topic: string, group: string): Row[] {
    const byKey = this.#queues.get(gk(topic, group));
    if (!byKey) return [];
    const heads: Row[] = [];
    for (const list of byKey.values()) for (const r of list) if (r.head) heads.push(r);
    return heads;
  }

  nextAt(topic: string, group: string): number | null {
    let next: number | null = null;
    for (const r of this.#heads(topic, group)) {
      const t = dueAt(r);
      if (next === null || t < next) next = t;
    }
    return next;
  }

  cycle(input: CycleInput): CycleResult {
    const { topic, group, now } = input;
    const applied = input.settles.map((s) => {
      const row = this.#fenced(group, s);
      if (!row) return false;
      if (s.kind === "retry") {
        Object.assign(row, { state: 0, visibleAt: s.visibleAt, lastError: s.error, leaseUntil: 0 });
        if (s.uncounted) row.attempts = Math.max(row.attempts - 1, 0);
      } else {
        if (s.kind === "dead") {
          const dead = {
            id: row.id,
            group,
            topic: row.topic,
            key: row.key,
            attempts: s.attempts,
            lastError: s.error,
            deadAt: now,
            fence: row.fence,
          };
          this.#dead.set(rk(group, row.id), dead);
          this.#ref(row.id, 1);
        }
        this.#deleteRow(row);
      }
      return true;
    });
    if (input.claim <= 0) return { applied, claimed: [] };
    // Visible ready heads and expired leases, by due time: an expired lease no claim takes stays its holder's.
    const ready = this.#heads(topic, group).filter((r) => dueAt(r) <= now);
    ready.sort((a, b) => dueAt(a) - dueAt(b) || a.id - b.id);
    const claimed = ready.slice(0, input.claim).map((r): Claimed => {
      if (r.state === 1) r.lastError = LEASE_EXPIRED;
      Object.assign(r, {
        state: 1,
        leaseUntil: now + input.leaseMs,
        fence: r.fence + 1,
        attempts: r.attempts + 1,
      });
      const m = this.#messages.get(r.id)!;
      return {
        id: r.id,
        key: r.key,
        payload: JSON.parse(m.payload) as Json,
        traceId: m.traceId,
        publishedAt: m.publishedAt,
        fence: r.fence,
        attempt: r.attempts,
        lastError: r.lastError,
      };
    });
    claimed.sort((a, b) => a.id - b.id);
    return { applied, claimed };
  }

  extend(group: string, leases: readonly Lease[], until: number): boolean[] {
    return leases.map((l) => {
      const row = this.#fenced(group, l);
      if (!row || row.state !== 1) return false;
      row.leaseUntil = Math.max(row.leaseUntil, until);
      return true;
    });
  }

  holds(group: string, lease: Lease, now: number): boolean {
    const row = this.#fenced(group, lease);
    return row !== undefined && row.state === 1 && row.leaseUntil > now;
  }

  release(group: string, leases: readonly Lease[], now: number): void {
    for (const l of leases) {
      const row = this.#fenced(group, l);
      if (!row || row.state !== 1) continue;
      Object.assign(row, {
        state: 0,
        fence: row.fence + 1,
        attempts: Math.max(0, row.attempts - 1),
        visibleAt: now,
        leaseUntil: 0,
      });
    }
  }

  stats(now: number): GroupStats[] {
    const out: GroupStats[] = [];
    const subs = [...this.#subs].flatMap(([topic, groups]) => [...groups].map((group) => ({ topic, group })));
    subs.sort((
      a,
      b,
    ) => (a.topic < b.topic
      ? -1
      : a.topic > b.topic
      ? 1
      : a.group < b.group
      ? -1
      : a.group > b.group
      ? 1
      : 0)
    );
    for (const { topic, group } of subs) {
      const rows = [...(this.#queues.get(gk(topic, group))?.values() ?? [])].flat();
      const oldest = rows.reduce<number | null>((min, r) => {
        const t = this.#messages.get(r.id)!.publishedAt;
        return min === null || t < min ? t : min;
      }, null);
      out.push({
        topic,
        group,
        ready: rows.filter((r) => r.state === 0 && r.visibleAt <= now).length,
        inFlight: rows.filter((r) => r.state === 1).length,
        delayed: rows.filter((r) => r.state === 0 && r.visibleAt > now).length,
        oldestAgeMs: oldest === null ? null : Math.max(0, now - oldest),
        deadLetters: [...this.#dead.values()].filter((d) => d.topic === topic && d.group === group).length,
      });
    }
    return out;
  }

  deadLetters(filter: { topic?: string; group?: string; limit?: number }): DeadLetter[] {
    const list = [...this.#dead.values()]
      .filter((d) =>
        (filter.topic === undefined || d.topic === filter.topic) &&
        (filter.group === undefined || d.group === filter.group)
      )
      .sort((a, b) => a.deadAt - b.deadAt || a.id - b.id)
      .slice(0, filter.limit ?? 100);
    return list.map(({ fence: _, ...d }) => {
      const m = this.#messages.get(d.id)!;
      return { ...d, payload: JSON.parse(m.payload) as Json, traceId: m.traceId };
    });
  }

  /** Requeues the dead letter(s) of message `id`; returns their topics (empty: none found). */
  retryDeadLetter(id: number, group: string | undefined, now: number): string[] {
    const found = [...this.#dead.values()].filter((d) =>
      d.id === id && (group === undefined || d.group === group)
    );
    for (const d of found) {
      this.#insertRow(d.id, d.group, d.topic, d.key, now, d.fence);
      this.#dead.delete(rk(d.group, d.id));
      this.#ref(d.id, -1);
    }
    return found.map((d) => d.topic);
  }

  purgeDeadLetters(filter: { topic?: string; group?: string }, cut: number): number {
    const gone = [...this.#dead.values()].filter((d) =>
      (filter.topic === undefined || d.topic === filter.topic) &&
      (filter.group === undefined || d.group === filter.group) &&
      d.deadAt <= cut
    );
    for (const d of gone) {
      this.#dead.delete(rk(d.group, d.id));
      this.#ref(d.id, -1);
    }
    return gone.length;
  }

  /** Number of stored messages (finished ones without an idempotency key are dropped). */
  get messageCount(): number {
    return this.#messages.size;
  }
}

/** The consumer-side Queue over a MemoryStore. */
export function memoryQueue(store: MemoryStore): Queue {
  return {
    subscribe: (topic, group) => Promise.resolve(store.subscribe(topic, group)),
    nextAt: (topic, group) => Promise.resolve(store.nextAt(topic, group)),
    ackCommit() {
      throw new TypeError("ackWith: the in-memory bus has no database to commit a handler's write in");
    },
    cycle: (input) => Promise.resolve(store.cycle(input)),
    extend: (_topic, group, leases, until) => Promise.resolve(store.extend(group, leases, until)),
    holds: (_topic, group, lease, now) => Promise.resolve(store.holds(group, lease, now)),
    release: (_topic, group, leases, now) => Promise.resolve(store.release(group, leases, now)),
  };
}
