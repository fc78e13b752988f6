/**
 * The dashboard's inline stylesheet (no external assets: the page must work offline and behind Basic auth).
 *
 * @module
 */
export const STYLE = `
:root { --fg: #0f172a; --muted: #64748b; --bg: #f1f5f9; --card: #fff; --line: #e2e8f0; --ok: #16a34a; --bad: #dc2626; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 14px 20px 6px; display: flex; flex-wrap: wrap; gap: 8px 20px; align-items: baseline; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
nav a { margin-right: 4px; padding: 2px 8px; border-radius: 10px; color: var(--fg); text-decoration: none; border: 1px solid var(--line); background: var(--card); }
nav a.on { background: var(--fg); color: #fff; }
.muted { color: var(--muted); fill: var(--muted); }
.notice { margin: 6px 20px; padding: 8px 12px; border-radius: 6px; background: #fef9c3; border: 1px solid #fde047; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; padding: 8px 20px; }
.kpi { background: var(--card); border-radius: 8px; padding: 10px 12px; border: 1px solid var(--line); }
.kpi-label { color: var(--muted); font-size: 12px; }
.kpi-value { font-size: 20px; font-weight: 600; }
.kpi-sub { color: var(--muted); font-size: 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(420px, 100%), 1fr)); gap: 12px; padding: 8px 20px 20px; }
.card { background: var(--card); border-radius: 8px; padding: 12px 14px; border: 1px solid var(--line); min-width: 0; overflow-x: auto; }
@media (max-width: 480px) { header, .kpis, .grid { padding-left: 8px; padding-right: 8px; } .notice { margin: 6px 8px; } }
.card.wide { grid-column: 1 / -1; }
svg.chart { width: 100%; height: auto; display: block; }
svg.waterfall { max-width: 1100px; margin: 6px 0 12px; }
.summary { margin: 0 0 6px; }
svg .grid { stroke: var(--line); }
svg .axis, svg .label, svg .value, svg .ref-label { font-size: 11px; fill: var(--muted); }
svg .label { fill: var(--fg); }
svg path.series { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
svg path.track { fill: var(--bg); }
svg path.ref { stroke: var(--bad); stroke-dasharray: 5 4; fill: none; }
svg .ref-label { fill: var(--bad); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
.legend b { color: var(--fg); font-weight: 600; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; color: var(--muted); font-weight: 500; border-bottom: 1px solid var(--line); padding: 4px 6px; }
td { border-bottom: 1px solid var(--line); padding: 4px 6px; }
.pill { padding: 1px 8px; border-radius: 10px; background: var(--bg); font-size: 12px; }
.pill.ok { background: #dcfce7; color: #166534; }
.pill.bad { background: #fee2e2; color: #991b1b; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
a { color: #2563eb; }
`;
