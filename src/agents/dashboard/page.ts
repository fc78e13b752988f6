/**
 * The dashboard page: server-rendered HTML with inline SVG charts and inline CSS (no script, no CDN), refreshed
 * by a `<meta http-equiv="refresh">`.
 *
 * @module
 */
import { html, raw } from "hono/html";
import {
  agentStatus,
  formatBytes,
  formatCount,
  formatDuration,
  formatMs,
  formatPercent,
  formatPercentDown,
  formatUsd,
} from "../../metrics/mod.ts";
import { shortTraceId } from "../../trace/mod.ts";
import { barChart, hbarChart, type Html, lineChart, PALETTE } from "./charts.ts";
import type { DashboardData } from "./data.ts";
import { STYLE } from "./style.ts";

export interface PageOptions {
  data: DashboardData;
  agent: string;
  version: string;
  refreshS: number;
  /** No login configured: say that the page is served on loopback only. */
  loopbackOnly: boolean;
  windowText: string;
}

export const WINDOWS = ["15m", "1h", "6h", "24h", "7d"] as const;

const hhmm = (at: number) => new Date(at).toISOString().slice(11, 16);

function card(title: string, body: Html, opts: { wide?: boolean; id?: string } = {}): Html {
  return html`<section class="card${opts.wide ? " wide" : ""}" id="${
    opts.id ?? ""
  }"><h2>${title}</h2>${body}</section>`;
}

function kpi(label: string, value: string | undefined, sub?: string): Html {
  return html`
    <div
      class="kpi"><div class="kpi-label">${label}</div><div class="kpi-value">${value ?? "—"}</div>${sub
        ? html`<div class="kpi-sub">${sub}</div>`
        : ""}</div>
  `;
}

function kpis(d: DashboardData): Html {
  const k = d.kpis;
  const today = d.costPerDay.at(-1)?.usd;
  const restarts = Object.values(k.starts ?? {}).reduce((a, b) => a + b, 0);
  return html`<div class="kpis">
${
    kpi(
      "messages in / out",
      k.messagesIn === undefined
        ? undefined
        : `${formatCount(k.messagesIn)} / ${formatCount(k.messagesOut ?? 0)}`,
      k.answerRate === undefined ? undefined : `answered ${formatPercentDown(k.answerRate)}`,
    )
  }
${
    kpi(
      "reply p50 / p99",
      k.replyLatency ? `${formatMs(k.replyLatency.p50)} / ${formatMs(k.replyLatency.p99)}` : undefined,
    )
  }
${
    kpi(
      "cache hit rate",
      k.cacheHitRate === undefined ? undefined : formatPercent(k.cacheHitRate),
      k.cacheFalseHitRate === undefined ? undefined : `false hits ${formatPercent(k.cacheFalseHitRate)} of checked`,
    )
  }
${
    kpi(
      "spend today",
      today === undefined ? undefined : formatUsd(today),
      d.dailyBudgetUsd === undefined ? "no daily budget" : `of ${formatUsd(d.dailyBudgetUsd)} budget`,
    )
  }
${kpi("dead letters", k.deadLetters === undefined ? undefined : formatCount(k.deadLetters))}
${
    kpi(
      "send errors",
      k.sendErrors === undefined ? undefined : formatCount(k.sendErrors),
      k.http5xx ? `HTTP 5xx ${k.http5xx}` : undefined,
    )
  }
${kpi("agent starts", formatCount(restarts), "in this window")}
${
    kpi(
      "write lock held",
      k.lockHeldMs === undefined ? undefined : formatPercent(k.lockHeldMs / (d.window.to - d.window.from)),
      k.lockWait ? `wait p99 ${formatMs(k.lockWait.p99)}` : undefined,
    )
  }
</div>`;
}

function agentsTable(d: DashboardData): Html {
  return html`
    <table>
      <thead>
        <tr>
          <th>agent</th>
          <th>kind</th>
          <th>status</th>
          <th>pid</th>
          <th>version</th>
          <th>up</th>
          <th>last seen</th>
          <th>memory</th>
          <th>starts</th>
        </tr>
      </thead>
      <tbody>${d.agents.map((a) => {
        const status = agentStatus(a, d.now);
        return html`
          <tr>
            <td>${a.name}</td>
            <td>${a.kind}</td>
            <td><span class="pill ${status === "up" ? "ok" : "bad"}">${status}</span></td>
            <td>${a.pid ?? "—"}</td>
            <td>${a.version ?? "—"}</td>
            <td>${a.startedAt === undefined || status === "stopped" ? "—" : formatDuration(d.now - a.startedAt)}</td>
            <td>${a.seenAt === undefined ? "—" : `${formatDuration(d.now - a.seenAt)} ago`}</td>
            <td>${a.rssBytes === undefined ? "—" : formatBytes(a.rssBytes)}</td>
            <td>${a.starts}</td>
          </tr>
        `;
      })}</tbody>
    </table>
  `;
}

function tracesTable(d: DashboardData): Html {
  if (d.traces.length === 0) return html`<p class="muted">no traces yet</p>`;
  return html`
    <table>
      <thead>
        <tr>
          <th>trace</th>
          <th>started</th>
          <th>chat</th>
          <th>agents</th>
          <th>took</th>
          <th>last stage</th>
        </tr>
      </thead>
      <tbody>${d.traces.map((t) =>
        html`
          <tr>
            <td><a href="traces/${t.traceId}" title="${t.traceId}"><code>${shortTraceId(t.traceId)}</code></a></td>
            <td>${new Date(t.startedAt).toISOString().slice(11, 19)}</td>
            <td>${t.chat ?? "—"}</td>
            <td>${t.agents.join(", ")}</td>
            <td>${formatMs(t.endedAt - t.startedAt)}</td>
            <td><span class="pill ${t.lastStage === "sent"
              ? "ok"
              : t.lastStage === "dead_letter" || t.lastStage === "error"
              ? "bad"
              : ""}">${t.lastStage}</span></td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}

/** The whole dashboard page. */
export function renderDashboard(o: PageOptions): Html {
  const d = o.data;
  const slotMs = (d.window.to - d.window.from) / d.slots;
  const xLabel = (i: number) => hhmm(d.window.from + i * slotMs);
  const perMin = (v: number) => `${formatCount(v)}/min`;
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="refresh" content="${o.refreshS}">
        <title>aideazz · ${o.agent}</title>
        <style>${raw(STYLE)}</style>
      </head>
      <body>
    <header><h1>aideazz <span class="muted">dashboard</span></h1>
    <nav>${WINDOWS.map((w) =>
      html`<a class="${w === o.windowText ? "on" : ""}" href="?window=${w}">${w}</a>`
    )}</nav>
    <div class="muted">last ${o.windowText} · updated ${new Date(d.now).toISOString().slice(
      11,
      19,
    )} UTC · refreshes every ${o.refreshS} s · ${o.agent} ${o.version}</div></header>
    ${o.loopbackOnly
      ? html`
        <p class="notice"
          id="loopback-notice">No login is configured: this dashboard is served on the loopback address only. From your machine: <code>ssh -L 8082:127.0.0.1:8082 your-vm</code>, or set <code>dashboard.userEnv</code> and <code>dashboard.passwordEnv</code>.</p>
      `
      : ""}
    ${kpis(d)}
    <main class="grid">
    ${card(
      "Throughput",
      lineChart({
        series: [
          { name: "messages in", values: d.throughput.in },
          { name: "replies out", values: d.throughput.out },
          { name: "HTTP requests", values: d.throughput.http },
        ],
        xLabel,
        format: perMin,
      }),
      { id: "throughput" },
    )}
    ${card(
      "Reply latency",
      lineChart({
        series: [
          { name: "p50", values: d.replyLatency.p50 },
          { name: "p90", values: d.replyLatency.p90 },
          { name: "p99", values: d.replyLatency.p99 },
        ],
        xLabel,
        format: formatMs,
      }),
      { id: "latency" },
    )}
    ${card(
      "Cache",
      lineChart({
        series: [{ name: "hit rate", values: d.cache.hitRate }, {
          name: "false-hit rate",
          values: d.cache.falseHitRate,
        }],
        xLabel,
        format: formatPercent,
        yMax: 1,
      }),
      { id: "cache" },
    )}
    ${card(
      "Provider mix",
      hbarChart({
        rows: Object.entries(d.kpis.providerMix ?? {}).sort((a, b) => b[1] - a[1]).map(([p, n]) => ({
          label: p,
          value: n,
          text: `${formatCount(n)} (${
            formatPercent(n / Object.values(d.kpis.providerMix ?? {}).reduce((a, b) => a + b, 0))
          })`,
        })),
      }),
      { id: "providers" },
    )}
    ${card(
      "Spend per day vs budget",
      barChart({
        bars: d.costPerDay.map((c) => ({
          label: c.day,
          value: c.usd,
          color: d.dailyBudgetUsd !== undefined && c.usd > d.dailyBudgetUsd ? PALETTE[2]! : PALETTE[0]!,
        })),
        format: formatUsd,
        ...(d.dailyBudgetUsd === undefined
          ? {}
          : { ref: { value: d.dailyBudgetUsd, label: `budget ${formatUsd(d.dailyBudgetUsd)}/day` } }),
      }),
      { id: "spend" },
    )}
    ${card(
      "Quota headroom",
      hbarChart({
        rows: d.quota.map((q) => ({
          label: q.label,
          value: q.ratio,
          max: 1,
          text: formatPercent(q.ratio),
          color: q.ratio < 0.1 ? PALETTE[2]! : q.ratio < 0.3 ? PALETTE[4]! : PALETTE[1]!,
        })),
        emptyText: "no provider quotas reported",
      }),
      { id: "quota" },
    )}
    ${card(
      "Errors",
      hbarChart({
        rows: d.errors.map((e) => ({
          label: e.label,
          value: e.count,
          text: formatCount(e.count),
          color: PALETTE[2]!,
        })),
        emptyText: "no errors in this window",
      }),
      { id: "errors" },
    )}
    ${card(
      "Memory per agent",
      lineChart({
        series: d.memory.map((m) => ({ name: m.agent, values: m.values })),
        xLabel,
        format: formatBytes,
      }),
      { id: "memory" },
    )}
    ${card("Agents", agentsTable(d), { wide: true, id: "agents" })}
    ${card("Recent traces", tracesTable(d), { wide: true, id: "traces" })}
    </main></body>
    </html>
  `;
}
