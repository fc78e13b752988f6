/**
 * One trace on the dashboard: a waterfall (each stage at its offset, timed stages as bars) and the timeline table.
 *
 * @module
 */
import { html, raw } from "hono/html";
import { formatMs } from "../../metrics/mod.ts";
import { formatDetail, formatOffset, shortTraceId, summarizeTrace, type TraceEvent } from "../../trace/mod.ts";
import { type Html, PALETTE } from "./charts.ts";
import { STYLE } from "./style.ts";

function waterfall(events: readonly TraceEvent[]): Html {
  const s = summarizeTrace(events)!;
  const span = Math.max(1, s.endedAt - s.startedAt);
  const agents = s.agents;
  const [W, L, row] = [1100, 300, 22];
  const H = events.length * row + 10;
  const x = (at: number) => L + ((at - s.startedAt) / span) * (W - L - 20);
  return html`<svg class="chart waterfall" viewBox="0 0 ${W} ${H}" role="img">${
    events.map((e, i) => {
      const y = 6 + i * row;
      const x0 = x(e.at);
      const w = Math.max(3, e.durationMs === undefined ? 3 : x(e.at + e.durationMs) - x0);
      const color = PALETTE[agents.indexOf(e.agent) % PALETTE.length]!;
      return html`
        <text class="label" x="${L - 8}" y="${y + 13}" text-anchor="end">${e.agent} · ${e.stage}</text>
        <path class="bar" d="M${x0.toFixed(1)} ${y + 3} h${w.toFixed(1)} v12 h${(-w).toFixed(
          1,
        )} Z" fill="${color}">
          <title>${formatOffset(e.at - s.startedAt)}</title>
        </path>
      `;
    })
  }</svg>`;
}

/** The page of one trace (or a "not found" page when it has no events). */
export function renderTracePage(traceId: string, events: readonly TraceEvent[]): Html {
  const s = summarizeTrace(events);
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>trace ${shortTraceId(traceId)}</title>
        <style>${raw(STYLE)}</style>
      </head>
      <body>
        <header><h1>trace <code>${traceId}</code></h1><a href="../">← dashboard</a></header>
        <main class="grid">${s
          ? html`
            <section
              class="card wide"><p class="summary">${s.chat
                ? html`
                  chat <b>${s.chat}</b> ·
                `
                : ""}started ${new Date(s.startedAt).toISOString().replace("T", " ").slice(
                  0,
                  23,
                )} UTC · took <b>${formatMs(s.endedAt - s.startedAt)}</b> · ${s.agents
                .length} agents · last stage <b>${s.lastStage}</b></p>
            ${waterfall(events)}
            <table><thead><tr><th>at</th><th>agent</th><th>stage</th><th>took</th><th>detail</th></tr></thead><tbody>${events
              .map((e) =>
                html`
                  <tr>
                    <td>${formatOffset(e.at - s.startedAt)}</td>
                    <td>${e.agent}</td>
                    <td>${e.stage}</td>
                    <td>${e.durationMs === undefined ? "" : formatMs(e.durationMs)}</td>
                    <td><code>${formatDetail(e.detail)}</code></td>
                  </tr>
                `
              )}</tbody></table></section>
          `
          : html`
            <section class="card wide">
              <p class="muted">No events for this trace (it may be older than the trace retention).</p>
            </section>
          `}</main>
      </body>
    </html>
  `;
}
