/**
 * `GET /`: the receiver's status for people, as one small self-contained HTML page (inline CSS, no script, no
 * external assets; it reloads itself every 30 s). Pure: the same snapshot, readiness and clock give the same page.
 *
 * Every interpolated value is HTML-escaped: error messages quote SIEM API and collector answers, which an attacker
 * can influence. The {@link html} tag escapes whatever is interpolated unless it is already {@link SafeHtml}
 * built by the same tag, so forgetting to escape is not possible by construction.
 */
import { EVENT_TYPES } from '../siem/types.js'
import type { EventType } from '../siem/types.js'
import type { Liveness, Readiness, StatusSnapshot, SweepView, TypeCounts } from '../status/index.js'

const PAGE_REFRESH_SECONDS = 30

/** HTML that is safe to insert as is: only the {@link html} tag makes it. */
export class SafeHtml {
  private constructor(private readonly text: string) {}
  /** @internal the tag's constructor */
  static trusted(text: string): SafeHtml {
    return new SafeHtml(text)
  }
  toString(): string {
    return this.text
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Escapes text for an HTML element body or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)
}

type Interpolated = SafeHtml | string | number | boolean | null | undefined | readonly Interpolated[]

function fragment(v: Interpolated): string {
  if (v instanceof SafeHtml) return v.toString()
  if (v === null || v === undefined) return ''
  if (Array.isArray(v)) return (v as readonly Interpolated[]).map(fragment).join('')
  return escapeHtml(String(v))
}

/** Tagged template: the literal parts are trusted markup, every `${value}` is escaped (arrays: each element). */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  return SafeHtml.trusted(String.raw({ raw: strings }, ...values.map(fragment)))
}

/** A span of seconds for people: `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return `${s} s`
  const min = Math.floor(s / 60)
  if (min < 60) return `${min} min`
  const h = Math.floor(min / 60)
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`
  const d = Math.floor(h / 24)
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`
}

/** `2024-05-01 00:00:30 UTC (2 min ago)`; `never` when absent. */
function when(isoTime: string | null | undefined, now: number): SafeHtml {
  if (!isoTime) return html`<span class="muted">never</span>`
  const ms = Date.parse(isoTime)
  if (Number.isNaN(ms)) return html`${isoTime}`
  const shown = new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC')
  const delta = Math.round((now - ms) / 1000)
  const rel = delta >= 0 ? `${humanDuration(delta)} ago` : `in ${humanDuration(-delta)}`
  return html`<time datetime="${isoTime}">${shown}</time> <span class="muted">(${rel})</span>`
}

function badge(ok: boolean, good: string, bad: string): SafeHtml {
  return html`<span class="badge ${ok ? 'ok' : 'bad'}">${ok ? good : bad}</span>`
}

function row(label: string, value: SafeHtml | string | number): SafeHtml {
  return html`<tr><th scope="row">${label}</th><td>${value}</td></tr>`
}

function errorText(e: { code: string; message: string; retryable?: boolean } | undefined): SafeHtml | string {
  if (e === undefined) return ''
  const retry = e.retryable === undefined ? '' : e.retryable ? ' (will retry)' : ' (not retryable: fix the configuration)'
  return html`<code>${e.code}</code>: <span class="error">${e.message}</span>${retry}`
}

function lagText(lagSeconds: number | null): string {
  if (lagSeconds === null) return 'no cursor yet'
  if (lagSeconds < 1) return 'up to date'
  return `${humanDuration(lagSeconds)} behind`
}

const COUNT_COLUMNS: ReadonlyArray<keyof TypeCounts> = ['received', 'exported', 'malformed', 'duplicates', 'rejected']

function totalsTable(totals: StatusSnapshot['totals']): SafeHtml {
  const types = new Set([...EVENT_TYPES, ...(Object.keys(totals.byType) as EventType[])])
  const cells = (c: TypeCounts): SafeHtml[] => COUNT_COLUMNS.map((k) => html`<td class="num">${c[k]}</td>`)
  return html`<table class="totals">
<thead><tr><th scope="col">event type</th>${COUNT_COLUMNS.map((k) => html`<th scope="col" class="num">${k}</th>`)}</tr></thead>
<tbody>
${[...types].map((t) => {
  const c = totals.byType[t]
  return c === undefined ? '' : html`<tr><th scope="row">${t}</th>${cells(c)}</tr>\n`
})}</tbody>
<tfoot><tr><th scope="row">all</th>${cells(totals)}</tr></tfoot>
</table>`
}

/** The late-event sweeps: what each stage has read again, whether it keeps up, and the late events it found. */
function sweepsSection(sweeps: StatusSnapshot['sweeps'], now: number): SafeHtml | string {
  if (sweeps.length === 0) return ''
  const behind = (v: SweepView): boolean => v.lagSeconds !== null && v.lagSeconds > v.ageSeconds + v.spanSeconds
  return html`<h2>Late-event sweeps</h2>
<table class="totals">
<thead><tr><th scope="col">stage</th><th scope="col">read again through</th><th scope="col">schedule</th><th scope="col">next</th><th scope="col" class="num">late events found</th><th scope="col">last sweep</th></tr></thead>
<tbody>
${sweeps.map(
  (v) => html`<tr><th scope="row">${v.age} <span class="muted">(${humanDuration(v.spanSeconds)} spans)</span></th><td>${when(v.through, now)}</td><td>${v.lagSeconds === null ? html`<span class="muted">not started</span>` : badge(!behind(v), 'keeps up', `${humanDuration(v.lagSeconds)} behind`)}</td><td>${when(v.nextAt, now)}</td><td class="num">${v.lateEvents}</td><td>${v.lastSweep === null ? html`<span class="muted">none yet</span>` : html`${when(v.lastSweep.at, now)}: ${v.lastSweep.lateEvents} late`}</td></tr>
`,
)}</tbody>
</table>`
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:60rem;padding:0 1rem;color:#1d232a;background:#fff}
h1{font-size:1.35rem;margin:0 0 .25rem}h2{font-size:1.05rem;margin:1.5rem 0 .4rem;border-bottom:1px solid #d8dee4;padding-bottom:.2rem}
table{border-collapse:collapse}th,td{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}
table.totals th,table.totals td{border-bottom:1px solid #eef1f4;padding-right:1.2rem}
.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#6a737d}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.7rem;font-weight:600}
.ok{background:#dafbe1;color:#116329}.bad{background:#ffebe9;color:#a40e26}.warn{background:#fff8c5;color:#7d4e00}
.error{color:#a40e26;overflow-wrap:anywhere}code{font-size:.92em}ul{margin:.2rem 0 0 1.2rem;padding:0}
footer{margin-top:2rem;color:#6a737d;font-size:.85em}
`

/**
 * The status page. `liveness` is optional (the ops server passes it); without it the page does not claim either way.
 */
export function renderStatusPage(snapshot: StatusSnapshot, readiness: Readiness, now: number, liveness?: Liveness): string {
  const s = snapshot
  const poll = s.lastPoll
  const exp = s.lastExport
  const budget = s.requestBudget
  const used = budget.limit === null || budget.limit <= 0 ? '' : ` (${Math.round((s.apiRequestsLast24h / budget.limit) * 100)} %)`
  const alive = liveness === undefined ? '' : html` ${badge(liveness.alive, 'alive', 'not alive')}`
  const title = `${readiness.ready ? 'ready' : 'not ready'} · proofpoint-siem-receiver`

  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${PAGE_REFRESH_SECONDS}">
<title>${title}</title>
<style>${SafeHtml.trusted(STYLE)}</style>
</head>
<body>
<h1>proofpoint-siem-receiver</h1>
<p class="muted">Proofpoint TAP SIEM API → OpenTelemetry logs over OTLP/HTTP. This page reloads every ${PAGE_REFRESH_SECONDS} s; <a href="status">/status</a> has the same as JSON.</p>

<h2>State</h2>
<table>
${row('overall', html`${badge(readiness.ready, 'ready', 'not ready')}${alive} <span class="muted">phase</span> <strong>${s.state}</strong>`)}
${readiness.ready ? '' : row('not ready because', html`<ul>${readiness.reasons.map((r) => html`<li class="error">${r}</li>`)}</ul>`)}
${liveness !== undefined && !liveness.alive && liveness.reason ? row('liveness', html`<span class="error">${liveness.reason}</span>`) : ''}
${row('SIEM API credentials', s.authFailing ? html`<span class="badge bad">refused</span>` : s.lastApiAnswerAt !== null ? html`<span class="badge ok">accepted</span>` : html`<span class="muted">not tried yet</span>`)}
${row('state directory', s.stateDir.ok ? html`<span class="badge ok">usable</span>` : html`<span class="badge bad">not usable</span> <span class="error">${s.stateDir.reason ?? ''}</span>`)}
${row('mapping', s.workers.threads === 0 ? 'in the main thread' : html`${s.workers.threads} worker threads <span class="muted">(${s.workers.running} running${s.workers.restarts > 0 ? html`, <span class="error">${s.workers.restarts} died</span>` : ''})</span>`)}
</table>

<h2>Cursor</h2>
<table>
${row('cursor', s.cursor === null ? html`<span class="muted">none yet</span>` : when(s.cursor, now))}
${row('lag', html`<strong>${lagText(s.lagSeconds)}</strong>`)}
${row('event types', s.eventTypes.join(', '))}
</table>

<h2>Last poll</h2>
<table>
${
  poll === null
    ? row('last poll', html`<span class="muted">none yet</span>`)
    : html`${row('time', when(poll.at, now))}
${row('outcome', badge(poll.outcome === 'ok', 'ok', 'error'))}
${row('HTTP status', poll.httpStatus === null ? html`<span class="muted">no answer</span>` : poll.httpStatus)}
${row('events', poll.events)}
${poll.error ? row('error', errorText(poll.error)) : ''}`
}
${row('last successful poll', when(s.lastSuccessfulPollAt, now))}
</table>

<h2>Last export</h2>
<table>
${
  exp === null
    ? row('last export', html`<span class="muted">none yet</span>`)
    : html`${row('time', when(exp.at, now))}
${row('outcome', badge(exp.outcome === 'ok', 'ok', 'error'))}
${row('records', exp.records)}
${exp.error ? row('error', errorText(exp.error)) : ''}`
}
</table>

<h2>Totals since start</h2>
${totalsTable(s.totals)}

<h2>No-events alert</h2>
<table>
${row('alert', s.noEvents.alerting ? html`<span class="badge warn">alerting</span>` : html`<span class="badge ok">not alerting</span>`)}
${row('threshold', humanDuration(s.noEvents.thresholdSeconds))}
${row('last event', when(s.noEvents.lastEventAt, now))}
${row('without events for', humanDuration(s.noEvents.silentSeconds))}
</table>

${sweepsSection(s.sweeps, now)}
<h2>SIEM API requests</h2>
<table>
${row('last 24 h', html`${s.apiRequestsLast24h}${budget.limit === null ? '' : html` of ${budget.limit} allowed${used}`}`)}
${budget.waitingUntil === null ? '' : row('waiting for the budget until', when(budget.waitingUntil, now))}
${row('gap', s.gapSeconds > 0 ? html`<span class="error">${humanDuration(s.gapSeconds)} (${s.gapSeconds} s) of events skipped: older than the API serves</span>` : html`none <span class="muted">(0 s)</span>`)}
</table>

<footer>version ${s.version} · up ${humanDuration(s.uptimeSeconds)}, started ${s.startedAt} · poll loop last made progress ${when(s.lastHeartbeatAt, now)}</footer>
</body>
</html>
`
  return page.toString()
}
