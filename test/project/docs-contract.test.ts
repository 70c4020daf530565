/**
 * What the README and the example environment files say, checked against the code: the Operations table lists
 * every /status field and every metric, the configuration table states the real OTLP compression default, and the
 * example env files describe the secret file as the code reads it (on every SIEM API request).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadConfig } from '../../src/config/index.js'
import { createConvict } from '../../src/config/schema.js'
import { METRIC_PREFIX, ReceiverMetrics } from '../../src/ops/metrics.js'
import { ReceiverStatus } from '../../src/status/index.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const README = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** The README table row whose first cell is `cell`. */
function row(cell: string): string {
  const line = README.split('\n').find((l) => l.startsWith(`| ${cell} |`))
  if (line === undefined) throw new Error(`no README row ${cell}`)
  return line
}

/** `a_{b,c}_d` → `a_b_d a_c_d`, as the README abbreviates metric names. */
function expandBraces(text: string): string {
  let out = text
  for (let m = /(\S*?)\{([^{}]+)\}(_\S*)/.exec(out); m; m = /(\S*?)\{([^{}]+)\}(_\S*)/.exec(out)) {
    const [all, pre, alts, post] = m as unknown as [string, string, string, string]
    out = out.replace(all, alts.split(',').map((a) => `${pre}${a}${post}`).join(' '))
  }
  return out
}

function makeStatus(): ReceiverStatus {
  const status = new ReceiverStatus({
    startedAt: 0,
    noEventsAlertAfterMs: 3_600_000,
    pollIntervalMs: 60_000,
    eventTypes: ['messagesDelivered', 'messagesBlocked', 'clicksPermitted', 'clicksBlocked'],
    version: '0.0.0',
  })
  status.recordPoll({ at: 1000, outcome: 'ok', httpStatus: 200, events: 1 })
  status.recordExport({ at: 1000, outcome: 'ok', records: 1 })
  status.setCursor(new Date(0).toISOString())
  return status
}

t.test('README Operations: every /status field is named', (t) => {
  const text = row('`GET /status`')
  const snap = makeStatus().snapshot(2000) as unknown as Record<string, unknown>
  for (const [key, value] of Object.entries(snap)) {
    t.match(text, `\`${key}\``, `/status ${key}`)
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && key !== 'totals') {
      for (const sub of Object.keys(value)) t.match(text, `\`${sub}\``, `/status ${key}.${sub}`)
    }
  }
  for (const sub of Object.keys((snap.totals ?? {}))) t.match(text, `\`${sub}\``, `/status totals.${sub}`)
  t.end()
})

t.test('README Operations: every metric is named, process metrics under their standard names', async (t) => {
  const text = expandBraces(row('`GET /metrics`'))
  const metrics = new ReceiverMetrics({ status: makeStatus(), now: () => 2000, collectProcessMetrics: false })
  const names = [...(await metrics.render()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string)
  t.ok(names.length > 10)
  for (const name of names) {
    t.ok(name.startsWith(METRIC_PREFIX))
    t.match(text, new RegExp(`\\b${name.slice(METRIC_PREFIX.length)}\\b`), `metric ${name}`)
  }
  t.match(text, /process_cpu_seconds_total/, 'the standard process metric names')
  t.match(text, /nodejs_heap_size_used_bytes/)
  t.notMatch(text, /proofpoint_receiver_process_|proofpoint_receiver_nodejs_/)
})

t.test('README configuration: the OTLP compression default is the code\'s', (t) => {
  const { config } = loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: 's' } })
  const line = README.split('\n').find((l) => l.includes('`OTEL_EXPORTER_OTLP_COMPRESSION`'))
  t.ok(line)
  t.match(line, new RegExp(`\`OTEL_EXPORTER_OTLP_COMPRESSION\` \\(\`${config.otel.compression}\``), `default ${config.otel.compression}`)
  t.end()
})

t.test('README configuration: the accepted duration forms', (t) => {
  const durations = /Durations:([\s\S]*?)\n\n/.exec(README)?.[1] ?? ''
  t.match(durations, '`1m30s`')
  t.match(durations, '`1.5m`')
  t.end()
})

t.test('example env files: the secret file is re-read on every request, as the SIEM client does', (t) => {
  const dir = join(ROOT, 'examples')
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.env'))
  t.ok(files.length > 0)
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8')
    if (!text.includes('PROOFPOINT_SECRET_FILE')) continue
    t.notMatch(text, /re-?read (only )?after a 401|read at start/i, `${f}: not "after a 401"`)
    t.match(text, /re-read on every (SIEM API )?request/i, `${f}: says every request`)
  }
  // Nor does any other example (Kubernetes manifests, compose file) say the file is read only after a refusal.
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!/\.(ya?ml|env|md)$/.test(f)) continue
    t.notMatch(readFileSync(join(dir, f), 'utf8'), /re-?reads?[\s#]+(the[\s#]+mounted[\s#]+file[\s#]+|it[\s#]+)?(only[\s#]+)?after[\s#]+a[\s#]+401/i, `${f}: not "after a 401"`)
  }
  t.end()
})

t.test('the configuration schema describes the secret file as the code reads it', (t) => {
  const schema = createConvict({}).getSchema() as unknown as { _cvtProperties: Record<string, { doc?: string }> }
  const doc = schema._cvtProperties.PROOFPOINT_SECRET_FILE?.doc ?? ''
  t.match(doc, /re-read on every (SIEM API )?request/i)
  t.notMatch(doc, /when the API refuses|after a 401/i)
  t.end()
})
