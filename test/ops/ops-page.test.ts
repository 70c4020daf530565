/**
 * The status page for people (`GET /`): every field it promises, HTML escaping of whatever an attacker can
 * influence, and the security headers of a real listening server.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { escapeHtml, html, humanDuration, renderStatusPage } from '../../src/ops/page.js'
import { buildOpsServer } from '../../src/ops/server.js'
import type { ReceiverStatus } from '../../src/status/index.js'
import { MIN, T0, newStatus as sharedStatus, send, startOps } from '../helpers/ops.js'

const SCRIPT = '<script>alert(1)</script>'
const ESCAPED_SCRIPT = '&lt;script&gt;alert(1)&lt;/script&gt;'

const newStatus = (): ReceiverStatus => sharedStatus({ version: '9.8.7' })

/** A receiver that has been running 3 h, 3 min behind, with counts in every column. */
function busyStatus(): { status: ReceiverStatus; now: number } {
  const status = newStatus()
  const now = T0 + 3 * 60 * MIN
  status.setPhase('waiting')
  status.setCursor(new Date(now - 3 * MIN).toISOString())
  status.setLastEventAt(new Date(now - 5 * MIN).toISOString())
  status.recordPoll({ at: now - 20_000, outcome: 'ok', httpStatus: 200, events: 17 })
  status.recordExport({ at: now - 19_000, outcome: 'ok', records: 17 })
  status.count('messagesDelivered', { received: 1101, exported: 1002, malformed: 3, duplicates: 96, rejected: 0 })
  status.count('clicksPermitted', { received: 2201, exported: 2102, malformed: 0, duplicates: 98, rejected: 1 })
  status.setApiRequestCounter(() => 181)
  status.setRequestBudget(1800, undefined)
  status.setGapSeconds(0)
  status.progress(now - 19_000)
  // The 10-minute stage keeps up; the 35-minute one is behind (read through 90 min ago: more than age + span).
  status.sweeps.configure([10 * MIN, 35 * MIN], 20 * MIN)
  status.sweeps.setThroughs([now - 25 * MIN, now - 90 * MIN])
  status.sweeps.found(0, 3)
  status.sweeps.swept(0, now - 5 * MIN, now - 45 * MIN, now - 25 * MIN, 3)
  return { status, now }
}

function textOf(page: string): string {
  return page
    .replace(/<style>[\s\S]*?<\/style>/, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
}

void t.test('humanDuration and the html tag', async (t) => {
  t.equal(humanDuration(0), '0 s')
  t.equal(humanDuration(59), '59 s')
  t.equal(humanDuration(180), '3 min')
  t.equal(humanDuration(3600), '1 h')
  t.equal(humanDuration(2 * 3600 + 5 * 60), '2 h 5 min')
  t.equal(humanDuration(86400), '24 h')
  t.equal(humanDuration(3 * 86400 + 4 * 3600), '3 d 4 h')
  t.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;')
  const inner = html`<b>${'<i>'}</b>`
  t.equal(html`<p>${inner}${[SCRIPT, html`<br>`]}${null}${undefined}${3}</p>`.toString(), `<p><b>&lt;i&gt;</b>${ESCAPED_SCRIPT}<br>3</p>`)
})

void t.test('a healthy receiver: every field the page promises', async (t) => {
  const { status, now } = busyStatus()
  const page = renderStatusPage(status.snapshot(now), status.readiness(now), now, status.liveness(now))
  const text = textOf(page)
  t.match(page, /^<!DOCTYPE html>/)
  t.match(page, /<meta http-equiv="refresh" content="30">/)
  t.notMatch(page, /<script|<link|<img|src=|@import|url\(/i, 'no script, no external asset')

  t.match(text, /overall ready alive phase waiting/, 'overall state')
  t.notMatch(text, /not ready because/)
  t.match(text, /SIEM API credentials accepted state directory usable/)
  t.match(text, /cursor 2024-05-01 02:57:00 UTC \(3 min ago\)/, 'cursor')
  t.match(text, /lag 3 min behind/, 'lag for people')
  t.match(text, /Last poll time 2024-05-01 02:59:40 UTC \(20 s ago\) outcome ok HTTP status 200 events 17/, 'last poll')
  t.match(text, /last successful poll 2024-05-01 02:59:40 UTC/)
  t.match(text, /Last export time 2024-05-01 02:59:41 UTC \(19 s ago\) outcome ok records 17/, 'last export')

  t.match(text, /event type received exported malformed duplicates rejected/, 'totals header')
  t.match(text, /messagesDelivered 1101 1002 3 96 0/, 'a row per event type')
  t.match(text, /messagesBlocked 0 0 0 0 0/, 'configured types show from the start')
  t.match(text, /clicksPermitted 2201 2102 0 98 1/)
  t.match(text, /clicksBlocked 0 0 0 0 0/)
  t.match(text, /all 3302 3104 3 194 1/, 'the totals row')
  const order = ['messagesDelivered', 'messagesBlocked', 'clicksPermitted', 'clicksBlocked'].map((k) => page.indexOf(`<th scope="row">${k}</th>`))
  t.same([...order].sort((a, b) => a - b), order, 'the API order of event types')

  t.match(text, /No-events alert alert not alerting threshold 24 h last event 2024-05-01 02:55:00 UTC \(5 min ago\) without events for 5 min/, 'no-events state')
  t.match(
    text,
    /Late-event sweeps stage read again through schedule next late events found last sweep 10m \(20 min spans\) 2024-05-01 02:35:00 UTC \(25 min ago\) keeps up 2024-05-01 03:05:00 UTC \(in 5 min\) 3 2024-05-01 02:55:00 UTC \(5 min ago\) ?: 3 late/,
    'a sweep stage that keeps up, and what it found',
  )
  t.match(text, /35m \(20 min spans\) 2024-05-01 01:30:00 UTC \(1 h 30 min ago\) 1 h 30 min behind 2024-05-01 02:25:00 UTC \(35 min ago\) 0 none yet/, 'a stage behind')
  t.match(text, /last 24 h 181 of 1800 allowed \(10 %\)/, 'requests vs budget')
  t.match(text, /gap none \(0 s\)/, 'gap')
  t.match(text, /version 9\.8\.7/, 'version')
  t.match(text, /up 3 h, started 2024-05-01T00:00:00\.000Z/, 'uptime')
  t.match(page, /<title>ready · proofpoint-siem-receiver<\/title>/)
})

void t.test('a failing receiver: reasons, errors, alert, budget wait, gap', async (t) => {
  const status = newStatus()
  const now = T0 + 30 * 60 * MIN // 30 h: past the 24 h no-events threshold, never an event
  status.setPhase('backing_off')
  status.setAuthFailing(true)
  status.setStateDirOk(false, 'EACCES: permission denied')
  status.recordPoll({ at: now - MIN, outcome: 'error', httpStatus: 401, events: 0, error: { code: 'PSR_ERR_SIEM_AUTH', message: 'refused the credentials' } })
  status.recordExport({ at: now - 2 * MIN, outcome: 'error', records: 12, error: { code: 'PSR_ERR_EXPORT_FAILED', message: 'collector down', retryable: true } })
  status.setRequestBudget(1800, now + 90 * MIN)
  status.setApiRequestCounter(() => 1800)
  status.setGapSeconds(7200)
  status.progress(now - 10 * MIN)
  const page = renderStatusPage(status.snapshot(now), status.readiness(now), now, status.liveness(now))
  const text = textOf(page)

  t.match(text, /overall not ready not alive phase backing_off/)
  t.match(text, /not ready because .*refuses the credentials/)
  t.match(text, /state directory \(RECEIVER_STATE_DIR\) is not usable: EACCES/)
  t.match(text, /liveness the poll loop has made no progress toward new data/)
  t.match(text, /SIEM API credentials refused/)
  t.notMatch(text, /Late-event sweeps/, 'no sweeps configured (RECEIVER_OVERLAP=0s): no section')
  t.match(text, /state directory not usable EACCES: permission denied/)
  t.match(text, /cursor none yet lag no cursor yet/)
  t.match(text, /outcome error HTTP status 401 events 0 error PSR_ERR_SIEM_AUTH : refused the credentials/)
  t.match(text, /last successful poll never/)
  t.match(text, /outcome error records 12 error PSR_ERR_EXPORT_FAILED : collector down \(will retry\)/)
  t.match(text, /alert alerting threshold 24 h last event never without events for 30 h/)
  t.match(text, /last 24 h 1800 of 1800 allowed \(100 %\) waiting for the budget until 2024-05-02 07:30:00 UTC \(in 1 h 30 min\)/)
  t.match(text, /gap 2 h \(7200 s\) of events skipped/)
  t.match(page, /<title>not ready · /)
})

void t.test('attacker-controlled text appears only escaped', async (t) => {
  const status = newStatus()
  const now = T0 + MIN
  const evil = `${SCRIPT}"'&<img src=x onerror=alert(2)>`
  status.recordPoll({ at: now, outcome: 'error', httpStatus: 400, events: 0, error: { code: 'PSR_ERR_SIEM_BAD_REQUEST', message: evil } })
  status.recordExport({ at: now, outcome: 'error', records: 1, error: { code: `X${SCRIPT}`, message: evil, retryable: false } })
  status.setStateDirOk(false, evil)
  const page = renderStatusPage(status.snapshot(now), status.readiness(now), now)
  t.notMatch(page, /<script/i, 'no script element')
  t.notMatch(page, /<img/i, 'no injected element')
  t.ok(page.includes(ESCAPED_SCRIPT), 'the message is shown, escaped')
  t.ok(page.includes('&quot;&#39;&amp;&lt;img src=x onerror=alert(2)&gt;'), 'quotes and ampersands escaped too')
  // rows: poll error, export code and message, state dir; reasons: state dir, poll error, export code and message
  t.equal(page.split(ESCAPED_SCRIPT).length - 1, 8, 'every place it appears is escaped')
})

async function start(t: Test, app: FastifyInstance): Promise<string> {
  return (await startOps(t, app)).base
}

void t.test('GET / on a real server: HTML, security headers, escaped', async (t) => {
  const { status, now } = busyStatus()
  status.recordPoll({ at: now, outcome: 'error', events: 0, error: { code: 'PSR_ERR_SIEM_NETWORK', message: SCRIPT } })
  const base = await start(t, buildOpsServer({ status, now: () => now }))

  const r = await send(base, 'GET', '/')
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(r.headers['content-security-policy'], "default-src 'none'; style-src 'unsafe-inline'")
  t.equal(r.headers['x-content-type-options'], 'nosniff')
  t.equal(r.headers['x-frame-options'], 'DENY')
  t.equal(r.headers['referrer-policy'], 'no-referrer')
  t.equal(r.headers['cache-control'], 'no-store')
  t.notMatch(r.text, /<script/i)
  t.ok(r.text.includes(ESCAPED_SCRIPT))
  const text = textOf(r.text)
  t.match(text, /overall not ready alive/, 'readiness and liveness from the live status')
  t.match(text, /lag 3 min behind/)
  t.match(text, /HTTP status no answer/)

  const head = await send(base, 'HEAD', '/')
  t.equal(head.status, 200)
  t.equal(head.text, '')
  t.equal(head.headers['content-type'], 'text/html; charset=utf-8')

  const post = await send(base, 'POST', '/')
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET, HEAD')
})
