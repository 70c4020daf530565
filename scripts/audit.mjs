#!/usr/bin/env node
// Supply-chain gate for CI (.ci/run, issue 7): `npm audit --omit=dev`, failing on any high or critical advisory
// against a production dependency unless audit-allowlist.json lists it with a reason and an expiry date that has
// not passed. Prints a summary either way.
//
//   node scripts/audit.mjs [--allowlist FILE] [--report FILE] [--today YYYY-MM-DD] [--strict] [--cwd DIR]
//
//   --allowlist FILE  the exceptions (default: audit-allowlist.json next to package.json)
//   --report FILE     read a saved `npm audit --omit=dev --json` output instead of running npm (tests)
//   --today DATE      the date expiry is judged against (default: today, UTC; tests)
//   --strict          also fail when the audit endpoint cannot be reached (see below)
//   --cwd DIR         the project to audit (default: this repository; tests)
//
// Exit codes: 0 pass (or endpoint unreachable without --strict), 1 blocking findings, 2 the gate itself could not
// run (no lock file, unreadable npm output, an invalid allow-list), 3 endpoint unreachable with --strict.
//
// When the registry's audit endpoint cannot be reached (connection refused, DNS, timeout, or an HTTP error status
// instead of a report, e.g. a registry mirror that does not serve /-/npm/v1/security/advisories/bulk), this
// WARNS AND CONTINUES: on CI the npm registry is the only host reachable, so an outage there (or a mirror without
// the endpoint) must not block landing unrelated changes; the next run audits again. Findings never pass: only
// the failure to get a report at all is tolerated, and it is printed loudly. Use --strict where that is not
// acceptable (a release build).
import { spawnSync } from 'node:child_process'
import console from 'node:console'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const BLOCKING = new Set(['high', 'critical'])
const SEVERITIES = ['critical', 'high', 'moderate', 'low', 'info']
const NPM_TIMEOUT_MS = 180_000

function parseArgs(argv) {
  const opts = { allowlist: join(ROOT, 'audit-allowlist.json'), report: undefined, today: undefined, strict: false, cwd: ROOT }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    if (arg === '--allowlist') opts.allowlist = value()
    else if (arg === '--report') opts.report = value()
    else if (arg === '--today') opts.today = value()
    else if (arg === '--strict') opts.strict = true
    else if (arg === '--cwd') opts.cwd = value()
    else throw new Error(`unknown argument ${arg}`)
  }
  return opts
}

/** `npm audit --omit=dev --json`'s output: its stdout text, or what stopped it. */
function runNpmAudit(cwd) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const r = spawnSync(npm, ['audit', '--omit=dev', '--json'], { cwd, encoding: 'utf8', timeout: NPM_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 })
  if (r.error && r.error.code === 'ETIMEDOUT') return { unreachable: `npm audit did not finish within ${NPM_TIMEOUT_MS / 1000} s` }
  if (r.error) return { fatal: `cannot run npm: ${r.error.message}` }
  return { text: r.stdout, stderr: r.stderr }
}

/** Node/undici network error codes npm reports when the request never got an HTTP answer. */
const NETWORK_CODES = /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ESOCKETTIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|ECONNABORTED|CERT_[A-Z_]+|UNABLE_TO_[A-Z_]+|socket hang up)\b/

/**
 * Classifies npm's JSON: a report, the endpoint being unreachable (warn), or anything else (fail). npm prints
 * `{ message, statusCode, ... }` for an HTTP error from the endpoint, `{ message: "request to ... failed, reason:
 * ..." }` for a network failure, and `{ error: { code, summary } }` for local problems such as ENOLOCK.
 */
export function classify(report) {
  if (report === null || typeof report !== 'object' || Array.isArray(report)) return { fatal: 'npm audit printed no JSON object' }
  if (report.vulnerabilities && typeof report.vulnerabilities === 'object' && report.metadata) return { report }
  const message = typeof report.message === 'string' ? report.message : ''
  const code = report.error && typeof report.error.code === 'string' ? report.error.code : ''
  const summary = report.error && typeof report.error.summary === 'string' ? report.error.summary : ''
  if (typeof report.statusCode === 'number') return { unreachable: `the audit endpoint answered HTTP ${report.statusCode}: ${message}` }
  if (/^request to .* failed/.test(message) || NETWORK_CODES.test(message) || NETWORK_CODES.test(code)) {
    return { unreachable: message || code }
  }
  return { fatal: `npm audit failed: ${[code, summary, message].filter(Boolean).join(': ') || JSON.stringify(report).slice(0, 500)}` }
}

/** The advisories in a report (npm 7+ format), one per advisory and package. */
export function advisoriesOf(report) {
  const found = new Map()
  for (const vuln of Object.values(report.vulnerabilities)) {
    for (const via of vuln.via ?? []) {
      // A string names another vulnerable package (a transitive path); its own entry carries the advisory.
      if (typeof via !== 'object' || via === null) continue
      const url = typeof via.url === 'string' ? via.url : ''
      const ghsa = /GHSA(-[0-9a-z]{4}){3}/.exec(url)?.[0]
      const pkg = via.name ?? vuln.name
      const key = `${pkg}\0${via.source ?? url}`
      if (found.has(key)) continue
      found.set(key, { package: pkg, id: ghsa ?? String(via.source ?? url), source: via.source, url, title: via.title ?? '', severity: via.severity ?? vuln.severity, range: via.range ?? '' })
    }
  }
  return [...found.values()]
}

const DATE = /^\d{4}-\d{2}-\d{2}$/

/** Reads and checks the allow-list; returns its entries or throws naming every problem. */
export function loadAllowlist(path) {
  if (!existsSync(path)) return []
  let doc
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${err.message})`)
  }
  const entries = doc?.exceptions
  if (!Array.isArray(entries)) throw new Error(`${path}: "exceptions" must be an array`)
  const problems = []
  entries.forEach((e, i) => {
    const at = `${path}: exceptions[${i}]`
    if (typeof e !== 'object' || e === null) return problems.push(`${at}: must be an object`)
    if (typeof e.advisory !== 'string' || e.advisory.trim() === '') problems.push(`${at}: "advisory" (GHSA id, advisory URL or npm advisory number) is required`)
    if (typeof e.package !== 'string' || e.package.trim() === '') problems.push(`${at}: "package" is required`)
    if (typeof e.reason !== 'string' || e.reason.trim().length < 20) problems.push(`${at}: "reason" must explain why the finding does not apply or cannot be fixed yet (20 characters or more)`)
    if (typeof e.expires !== 'string' || !DATE.test(e.expires) || Number.isNaN(Date.parse(`${e.expires}T00:00:00Z`))) {
      problems.push(`${at}: "expires" must be a date YYYY-MM-DD (the exception is reviewed by then)`)
    }
    return undefined
  })
  if (problems.length > 0) throw new Error(problems.join('\n'))
  return entries
}

function matches(entry, advisory) {
  if (entry.package !== advisory.package) return false
  const id = entry.advisory.trim()
  return id === advisory.id || id === advisory.url || (advisory.source !== undefined && id === String(advisory.source))
}

/** The decision: which findings block, which are allowed, which exceptions are expired or unused. */
export function evaluate(report, allowlist, today) {
  const advisories = advisoriesOf(report)
  const blocking = []
  const allowed = []
  const expired = []
  const used = new Set()
  for (const a of advisories) {
    if (!BLOCKING.has(a.severity)) continue
    const entry = allowlist.find((e) => matches(e, a))
    if (entry) used.add(entry)
    if (entry && entry.expires >= today) allowed.push({ advisory: a, entry })
    else {
      if (entry) expired.push({ advisory: a, entry })
      blocking.push(a)
    }
  }
  const unused = allowlist.filter((e) => !used.has(e))
  return { advisories, blocking, allowed, expired, unused }
}

function describe(a) {
  return `${a.severity.toUpperCase()} ${a.package} ${a.range ? `(${a.range}) ` : ''}${a.id}: ${a.title}${a.url && a.url !== a.id ? ` ${a.url}` : ''}`
}

function main() {
  let opts
  try {
    opts = parseArgs(process.argv.slice(2))
  } catch (err) {
    console.error(`audit: ${err.message}`)
    return 2
  }
  const today = opts.today ?? new Date().toISOString().slice(0, 10)

  let allowlist
  try {
    allowlist = loadAllowlist(opts.allowlist)
  } catch (err) {
    console.error(`audit: FAIL: invalid allow-list\n${err.message}`)
    return 2
  }

  let text
  if (opts.report) text = readFileSync(opts.report, 'utf8')
  else {
    if (!existsSync(join(opts.cwd, 'package-lock.json'))) {
      console.error('audit: FAIL: no package-lock.json: the lock file must be committed')
      return 2
    }
    const run = runNpmAudit(opts.cwd)
    if (run.fatal) {
      console.error(`audit: FAIL: ${run.fatal}`)
      return 2
    }
    if (run.unreachable) text = JSON.stringify({ message: run.unreachable, error: { code: 'ETIMEDOUT' } })
    else text = run.text
  }

  let parsed
  try {
    parsed = JSON.parse(text)
  } catch {
    console.error(`audit: FAIL: npm audit's output is not JSON: ${String(text).slice(0, 300)}`)
    return 2
  }
  const c = classify(parsed)
  if (c.fatal) {
    console.error(`audit: FAIL: ${c.fatal}`)
    return 2
  }
  if (c.unreachable) {
    const line = '='.repeat(78)
    console.error(`${line}\naudit: WARNING: NO AUDIT WAS DONE: the npm audit endpoint could not be reached.\n  ${c.unreachable}`)
    if (opts.strict) {
      console.error(`audit: FAIL (--strict): an unreachable audit endpoint is not accepted here.\n${line}`)
      return 3
    }
    console.error(`  Continuing: the registry is the only host CI reaches; its outage must not block landing.\n  The next run audits again.\n${line}`)
    return 0
  }

  const { report } = c
  const counts = report.metadata.vulnerabilities ?? {}
  const deps = report.metadata.dependencies ?? {}
  const { blocking, allowed, expired, unused } = evaluate(report, allowlist, today)
  console.log(
    `audit: npm audit --omit=dev: ${deps.prod ?? deps.total ?? '?'} production dependencies; vulnerable packages: ` +
      SEVERITIES.map((s) => `${s} ${counts[s] ?? 0}`).join(', '),
  )
  for (const { advisory, entry } of allowed) console.log(`audit: allowed until ${entry.expires}: ${describe(advisory)}\n  reason: ${entry.reason}`)
  for (const { advisory, entry } of expired) console.error(`audit: exception EXPIRED on ${entry.expires}: ${describe(advisory)}`)
  for (const entry of unused) console.log(`audit: note: allow-list entry ${entry.package} ${entry.advisory} matches no current finding: remove it`)
  if (blocking.length > 0) {
    for (const a of blocking) console.error(`audit: BLOCKING: ${describe(a)}`)
    console.error(
      `audit: FAIL: ${blocking.length} high/critical advisor${blocking.length === 1 ? 'y' : 'ies'} in production dependencies. ` +
        'Upgrade (npm audit fix --omit=dev), or add an exception with a reason and an expiry date to audit-allowlist.json.',
    )
    return 1
  }
  console.log(`audit: PASS: no high or critical advisory in production dependencies${allowed.length ? ` (${allowed.length} allowed by exception)` : ''}`)
  return 0
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main()
