/**
 * Server-rendered inline SVG charts: a line chart for time series, vertical bars with a reference line (spend
 * vs budget), and horizontal bars (mixes, headroom, errors). Hand-written rather than a chart library: the
 * candidates render in the browser (canvas or DOM), while these ~150 lines give SVG that needs no script, no CDN
 * and loads behind Basic auth with the page. Every text goes through hono's `html` escaping.
 *
 * @module
 */
import { html } from "hono/html";

export type Html = ReturnType<typeof html>;

export const PALETTE = [
  "#2563eb",
  "#16a34a",
  "#dc2626",
  "#9333ea",
  "#ea580c",
  "#0891b2",
  "#ca8a04",
  "#db2777",
];

/** The smallest "nice" number (1, 2, 2.5, 5 × 10^k) at or above v. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * mag * (1 + 1e-9)) return m * mag;
  return 10 * mag;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

export interface LineSeries {
  name: string;
  /** One value per slot; null leaves a gap. */
  values: readonly (number | null)[];
  color?: string;
}

export interface LineChartOptions {
  series: readonly LineSeries[];
  /** Label of slot i on the x axis. */
  xLabel: (i: number) => string;
  format: (v: number) => string;
  yMax?: number;
  width?: number;
  height?: number;
}

/** The SVG path of one series: M/L commands, a new M after each gap. */
export function linePath(
  values: readonly (number | null)[],
  x: (i: number) => number,
  y: (v: number) => number,
): string {
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    d += `${pen ? "L" : "M"}${r1(x(i))} ${r1(y(v))} `;
    pen = true;
  });
  // A lone point is drawn as a dot (round caps on a zero-length segment).
  return d.replace(/M([\d.]+) ([\d.]+) (?!L)/g, "M$1 $2 l0 0 ").trim();
}

function empty(width: number, height: number, text = "no data in this window"): Html {
  return html`
    <svg class="chart empty" viewBox="0 0 ${width} ${height}" role="img" aria-label="${text}">
      <text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="muted">${text}</text>
    </svg>
  `;
}

function legend(series: readonly LineSeries[], format: (v: number) => string): Html {
  return html`<div class="legend">${
    series.map((s, i) => {
      const last = [...s.values].reverse().find((v): v is number => v !== null);
      return html`<span><i style="background:${s.color ?? PALETTE[i % PALETTE.length]}"></i>${s.name}${
        last === undefined ? "" : html`
          <b>${format(last)}</b>
        `
      }</span>`;
    })
  }</div>`;
}

/** A time-series line chart with y gridlines, x time labels and a legend (last values). */
export function lineChart(opts: LineChartOptions): Html {
  const W = opts.width ?? 560;
  const H = opts.height ?? 180;
  const [L, R, T, B] = [56, 10, 10, 22];
  const all = opts.series.flatMap((s) =>
    s.values.filter((v): v is number => v !== null && Number.isFinite(v))
  );
  if (all.length === 0) return empty(W, H);
  const n = Math.max(...opts.series.map((s) => s.values.length));
  const yMax = opts.yMax ?? niceCeil(Math.max(...all));
  const x = (i: number) => L + (n <= 1 ? (W - L - R) / 2 : (i / (n - 1)) * (W - L - R));
  const y = (v: number) => T + (1 - Math.min(v, yMax) / yMax) * (H - T - B);
  const ticks = [0, yMax / 2, yMax];
  const xticks = n <= 1 ? [0] : [0, Math.round((n - 1) / 3), Math.round((2 * (n - 1)) / 3), n - 1];
  return html`<svg class="chart line" viewBox="0 0 ${W} ${H}" role="img">
${
    ticks.map((t) =>
      html`
        <line class="grid" x1="${L}" x2="${W - R}" y1="${r1(y(t))}" y2="${r1(y(t))}" />
        <text class="axis" x="${L - 6}" y="${r1(y(t)) + 4}" text-anchor="end">${opts.format(t)}</text>
      `
    )
  }
${
    xticks.map((i, k) =>
      html`<text class="axis" x="${r1(x(i))}" y="${H - 6}" text-anchor="${
        k === 0 && n > 1 ? "start" : k === xticks.length - 1 && n > 1 ? "end" : "middle"
      }">${opts.xLabel(i)}</text>`
    )
  }
${
    opts.series.map((s, i) =>
      html`
        <path class="series" data-series="${s.name}" d="${linePath(s.values, x, y)}" stroke="${s.color ??
          PALETTE[i % PALETTE.length]}" />
      `
    )
  }
</svg>${legend(opts.series, opts.format)}`;
}

export interface Bar {
  label: string;
  value: number;
  color?: string;
}

/** Vertical bars (e.g. spend per day) with an optional dashed reference line (e.g. the daily budget). */
export function barChart(
  opts: {
    bars: readonly Bar[];
    format: (v: number) => string;
    ref?: { value: number; label: string };
    width?: number;
    height?: number;
  },
): Html {
  const W = opts.width ?? 560;
  const H = opts.height ?? 180;
  const [L, R, T, B] = [56, 10, 14, 22];
  if (opts.bars.length === 0) return empty(W, H);
  const yMax = niceCeil(Math.max(...opts.bars.map((b) => b.value), opts.ref?.value ?? 0, 1e-9));
  const y = (v: number) => T + (1 - v / yMax) * (H - T - B);
  const slot = (W - L - R) / opts.bars.length;
  const every = Math.ceil(opts.bars.length / 8);
  return html`<svg class="chart bars" viewBox="0 0 ${W} ${H}" role="img">
${
    [0, yMax / 2, yMax].map((t) =>
      html`
        <line class="grid" x1="${L}" x2="${W - R}" y1="${r1(y(t))}" y2="${r1(y(t))}" />
        <text class="axis" x="${L - 6}" y="${r1(y(t)) + 4}" text-anchor="end">${opts.format(t)}</text>
      `
    )
  }
${
    opts.bars.map((b, i) => {
      const x0 = L + i * slot + slot * 0.15;
      const h = Math.max(b.value > 0 ? 1 : 0, y(0) - y(b.value));
      return html`
        <path class="bar" d="M${r1(x0)} ${r1(y(0))} v${-r1(h)} h${r1(slot * 0.7)} v${r1(
          h,
        )} Z" fill="${b.color ?? PALETTE[0]}">
          <title>${b.label}: ${opts.format(b.value)}</title>
        </path>${i % every === 0
          ? html`<text class="axis" x="${r1(x0 + slot * 0.35)}" y="${
            H - 6
          }" text-anchor="middle">${b.label}</text>`
          : ""}
      `;
    })
  }
${
    opts.ref
      ? html`
        <path class="ref" d="M${L} ${r1(y(opts.ref.value))} H${W - R}" />
        <text class="ref-label" x="${W - R}" y="${r1(y(opts.ref.value)) - 4}" text-anchor="end">${opts.ref
          .label}</text>
      `
      : ""
  }
</svg>`;
}

export interface HBar {
  label: string;
  value: number;
  /** Full scale of this row (default: the largest value). */
  max?: number;
  text?: string;
  color?: string;
}

/** Horizontal bars with labels and values: mixes, quota headroom, error counts. */
export function hbarChart(opts: { rows: readonly HBar[]; width?: number; emptyText?: string }): Html {
  const W = opts.width ?? 560;
  const row = 24;
  const H = opts.rows.length * row + 8;
  if (opts.rows.length === 0) return empty(W, 60, opts.emptyText);
  // Room for the longest label (about 6.2 px per character at the 11 px axis font).
  const labelW = Math.min(260, Math.max(90, 12 + 6.2 * Math.max(...opts.rows.map((r) => r.label.length))));
  const valueW = 80;
  const scale = Math.max(...opts.rows.map((r) => r.value), 1e-9);
  const barW = W - labelW - valueW;
  return html`<svg class="chart hbars" viewBox="0 0 ${W} ${H}" role="img">
${
    opts.rows.map((r, i) => {
      const y0 = 4 + i * row;
      const w = Math.max(r.value > 0 ? 1 : 0, (Math.min(r.value, r.max ?? scale) / (r.max ?? scale)) * barW);
      return html`
        <text class="label" x="${labelW - 8}" y="${y0 + 15}" text-anchor="end">${r.label}</text>
        <path class="track" d="M${labelW} ${y0 + 3} h${barW} v14 h${-barW} Z" />
        <path class="bar" d="M${labelW} ${y0 + 3} h${r1(w)} v14 h${-r1(w)} Z" fill="${r.color ??
          PALETTE[i % PALETTE.length]}" />
        <text class="value" x="${W - valueW + 8}" y="${y0 + 15}">${r.text ?? String(r.value)}</text>
      `;
    })
  }
</svg>`;
}
