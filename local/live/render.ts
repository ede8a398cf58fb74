/**
 * The live page as HTML: plain tables, no framework. Every value goes through `escapeHtml`; the only script is
 * the small poller below, which replaces the page's main part with the server's newer rendering of it.
 */
import { createHash } from 'node:crypto';
import type { LiveCell, LiveLine, LiveOperation, LiveService, LiveView } from './view.ts';

/** How often the page asks for a newer rendering of itself. */
export const LIVE_REFRESH_MS = 2000;

/** Escape a value for HTML text and for a double-quoted attribute. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ');

const verdict = (healthy: boolean) =>
  healthy ? '<span class="ok">HEALTHY</span>' : '<span class="bad">UNHEALTHY</span>';

function lineHtml(kind: string, line: LiveLine): string {
  const cls = [line.ok ? 'ok' : 'bad', line.master ? 'master' : ''].filter(Boolean).join(' ');
  return `<li class="${cls}" data-kind="${kind}" data-id="${escapeHtml(line.id)}"><b>${escapeHtml(line.id)}</b> ${escapeHtml(line.text)}</li>`;
}

function cellHtml(cell: LiveCell): string {
  const lines = [
    ...cell.nodes.map((l) => lineHtml('redis', l)),
    ...cell.proxies.map((l) => lineHtml('haproxy', l)),
    ...cell.sentinels.map((l) => lineHtml('sentinel', l)),
  ];
  return lines.length ? `<ul>${lines.join('')}</ul>` : '<span class="none">-</span>';
}

function serviceHtml(s: LiveService): string {
  const list = (cls: string, title: string, items: string[]) =>
    items.length
      ? `<p class="${cls}">${title}</p><ul class="${cls}">${items.map((x) => `<li>${escapeHtml(x)}</li>`).join('')}</ul>`
      : '';
  return [
    `<tr class="service" data-cluster="${escapeHtml(s.cluster)}" data-master="${escapeHtml(s.masterId)}">`,
    `<th scope="row"><b>${escapeHtml(s.cluster)}</b> ${verdict(s.healthy)}`,
    `<p>master: <b class="master-name">${escapeHtml(s.master)}</b></p>`,
    `<p>${escapeHtml(s.agreement)}</p>`,
    list('bad', 'unhealthy because:', s.reasons),
    list('warn', 'warnings:', s.warnings),
    '</th>',
    ...s.cells.map((c) => `<td>${cellHtml(c)}</td>`),
    '</tr>',
  ].join('');
}

/** One operation: what happened, then its steps as a table with a bar per step on a shared ms scale. */
function operationHtml(op: LiveOperation): string {
  const span = Math.max(1, ...op.steps.map((s) => s.offsetMs + s.durationMs));
  const pct = (ms: number) => `${((100 * ms) / span).toFixed(2)}%`;
  const rows = op.steps.map(
    (s) =>
      `<tr class="${s.status === 'ok' ? '' : 'bad'}"><td class="num">+${s.offsetMs}</td><td>${escapeHtml(s.step)}</td>` +
      `<td class="num">${s.durationMs}</td><td>${escapeHtml(s.status)}</td>` +
      `<td class="bar"><span style="margin-left:${pct(s.offsetMs)};width:${pct(Math.max(s.durationMs, span / 200))}"></span></td>` +
      `<td>${escapeHtml(s.detail ?? '')}</td></tr>`,
  );
  const facts = [
    `epoch ${op.epoch ?? '-'}`,
    `${op.from} → ${op.to}`,
    `${op.durationMs} ms`,
    ...(op.writeGapMs === undefined ? [] : [`write gap ${op.writeGapMs} ms`]),
    `trigger ${op.trigger}`,
    `started ${time(op.startedAt)}`,
  ];
  return [
    `<article class="operation" data-cluster="${escapeHtml(op.cluster)}" data-to="${escapeHtml(op.to)}">`,
    `<h3>${escapeHtml(op.cluster)}: ${escapeHtml(op.kind)} <span class="${op.outcome === 'succeeded' ? 'ok' : 'bad'}">${escapeHtml(op.outcome)}</span></h3>`,
    `<p>${facts.map(escapeHtml).join(' · ')}${op.error ? ` · <span class="bad">${escapeHtml(op.error)}</span>` : ''}</p>`,
    `<p class="id">${escapeHtml(op.id)}</p>`,
    '<table class="timeline"><thead><tr><th>start (ms)</th><th>step</th><th>duration (ms)</th><th>status</th>',
    `<th>0 – ${span} ms</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
    '</article>',
  ].join('');
}

/** The part of the page the poller replaces: the verdict, the host table and the operations. */
export function renderLiveMain(view: LiveView): string {
  const head = view.hosts
    .map(
      (h) =>
        `<th scope="col">${escapeHtml(h.id)}${h.id === h.address ? '' : `<br><small>${escapeHtml(h.address)}</small>`}</th>`,
    )
    .join('');
  return [
    `<p id="verdict">${verdict(view.healthy)} as observed at <time>${escapeHtml(time(view.observedAt))}</time></p>`,
    '<h2>Services by host</h2>',
    `<table class="hosts"><thead><tr><th scope="col">service</th>${head}</tr></thead>`,
    `<tbody>${view.services.map(serviceHtml).join('')}</tbody></table>`,
    '<h2>Last failovers and switchovers</h2>',
    view.operations.length
      ? view.operations.map(operationHtml).join('')
      : '<p class="none">no failover or switchover in history yet</p>',
  ].join('\n');
}

/** The poller: every LIVE_REFRESH_MS, fetch live.json and put its `html` in place; say when that fails. */
const POLLER = `(() => {
  const main = document.getElementById('live');
  const stamp = document.getElementById('refreshed');
  let refreshes = 0;
  async function refresh() {
    try {
      const answer = await fetch('live.json', { cache: 'no-store' });
      if (!answer.ok) throw new Error('HTTP ' + answer.status);
      const live = await answer.json();
      main.innerHTML = live.html;
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      stamp.textContent = 'refreshes every ${LIVE_REFRESH_MS / 1000} s';
      stamp.className = '';
    } catch (error) {
      stamp.textContent = 'NOT REFRESHED since ' + new Date().toISOString() + ': ' + error.message;
      stamp.className = 'bad';
    }
    setTimeout(refresh, ${LIVE_REFRESH_MS});
  }
  setTimeout(refresh, ${LIVE_REFRESH_MS});
})();`;

/** The Content-Security-Policy: no source but this server, and no script but the poller (by its hash). */
export const LIVE_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(POLLER).digest('base64')}'`,
  "connect-src 'self'",
  "style-src 'unsafe-inline'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const STYLE = `body{font:14px/1.35 system-ui,sans-serif;margin:1em;color:#111}
table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:4px 6px;vertical-align:top;text-align:left}
th[scope=row]{font-weight:normal}ul{margin:0;padding-left:1em}p{margin:2px 0}.ok{color:#075e07}.bad{color:#b00000;font-weight:bold}.warn{color:#8a5a00}
li.master{font-weight:bold}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.bar{width:24em;min-width:12em}td.bar span{display:block;height:10px;background:#3a6ea5;min-width:1px}
.operation{margin:1em 0}.operation h3{margin:0}.id,.none,small{color:#666}`;

/** The whole page: title, the main part as rendered now, and the poller. */
export function renderLivePage(view: LiveView): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ha-redis: ${escapeHtml(view.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><h1>ha-redis: ${escapeHtml(view.title)}</h1>
<p><small>Read-only, on loopback. <span id="refreshed">refreshes every ${LIVE_REFRESH_MS / 1000} s</span></small></p>
<main id="live">${renderLiveMain(view)}</main>
<script>${POLLER}</script></body></html>
`;
}
