/**
 * Supply chain (issue 7): no install scripts in our package, a committed lock file in step with package.json, and
 * the CI audit gate (scripts/audit.mjs) deciding correctly on saved `npm audit --json` outputs. Hermetic: the gate
 * is run with --report, never against the registry.
 */
import t from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const at = (...parts: string[]): string => join(ROOT, ...parts)

interface PackageJson {
  name: string
  version: string
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}
interface LockEntry {
  name?: string
  version?: string
  dev?: boolean
  optional?: boolean
  link?: boolean
  hasInstallScript?: boolean
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}
interface Lock {
  name: string
  version: string
  lockfileVersion: number
  packages: Record<string, LockEntry>
}

const pkg = JSON.parse(readFileSync(at('package.json'), 'utf8')) as PackageJson

/**
 * Production dependencies whose install script was read, at that version, and why it is acceptable. A new version
 * or a new package with a script fails the test until someone reads it and adds it here.
 */
const REVIEWED_INSTALL_SCRIPTS: Record<string, string> = {
  // Pulled in by @grpc/grpc-js (via @grpc/proto-loader). scripts/postinstall.js reads its own and the parent's
  // package.json and may print a version-scheme warning to stderr; no network, no build, no file written.
  'node_modules/protobufjs@7.6.6': 'prints a version warning at most (reviewed 2026-11-27)',
}

t.test('our package runs nothing at install time', (t) => {
  // npm runs these on `npm install` of the package (prepare also for git dependencies; prepublish on old npm).
  for (const name of ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare', 'prepublish']) {
    t.notOk(pkg.scripts && name in pkg.scripts, `no "${name}" script`)
  }
  t.notOk(existsSync(at('binding.gyp')), 'no binding.gyp (npm would run node-gyp rebuild on install)')
  t.end()
})

t.test('the lock file is committed and in step with package.json', (t) => {
  t.ok(existsSync(at('package-lock.json')), 'package-lock.json exists')
  const lock = JSON.parse(readFileSync(at('package-lock.json'), 'utf8')) as Lock
  t.ok(lock.lockfileVersion >= 2, `lockfileVersion ${lock.lockfileVersion} has the packages map`)
  t.equal(lock.name, pkg.name)
  t.equal(lock.version, pkg.version)
  const root = lock.packages[''] ?? {}
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies'] as const) {
    t.same(root[field] ?? {}, pkg[field] ?? {}, `the lock's root ${field} are package.json's`)
  }
  // Every direct dependency is locked at the version package.json pins (all pins are exact).
  for (const [name, spec] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
    const entry = lock.packages[`node_modules/${name}`]
    t.ok(entry, `${name} is in the lock`)
    t.match(spec, /^\d+\.\d+\.\d+(-[\w.]+)?$/, `${name}: an exact version, so a fresh install gets what was tested`)
    t.equal(entry?.version, spec, `${name}: locked at ${spec}`)
    if (name in (pkg.dependencies ?? {})) t.notOk(entry?.dev, `${name} is a production dependency in the lock too`)
  }
  // What a user's `npm install proofpoint-siem-receiver` runs: no production dependency has an install script that
  // was not read, at the version that was read.
  const withScripts = Object.entries(lock.packages)
    .filter(([path, e]) => path !== '' && e.hasInstallScript === true && e.dev !== true)
    .map(([path, e]) => `${path}@${e.version ?? '?'}`)
  t.same(withScripts, Object.keys(REVIEWED_INSTALL_SCRIPTS), 'no production dependency has an install script nobody reviewed')

  const git = spawnSync('git', ['ls-files', '--error-unmatch', 'package-lock.json'], { cwd: ROOT, encoding: 'utf8' })
  if (git.error || !existsSync(at('.git'))) t.comment('not a git checkout: skipping the tracked-file check')
  else t.equal(git.status, 0, 'package-lock.json is tracked by git')
  t.end()
})

t.test('.ci/run: npm ci, then the audit gate, then npm test', (t) => {
  const lines = readFileSync(at('.ci', 'run'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  const ci = lines.findIndex((l) => l.startsWith('npm ci'))
  const audit = lines.indexOf('node scripts/audit.mjs')
  const test = lines.indexOf('npm test')
  t.ok(ci >= 0 && audit > ci && test > audit, `in that order: ${lines.join(' | ')}`)
  t.match(lines[ci] ?? '', /--ignore-scripts/, 'no dependency install script runs on CI')
  t.ok(lines.includes('set -euo pipefail'), 'a failing step fails CI')
  t.end()
})

// ---- the audit gate, on saved reports ----

const dir = mkdtempSync(join(tmpdir(), 'audit-gate-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
let n = 0

function file(content: unknown): string {
  const path = join(dir, `f${n++}.json`)
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}

function gate(report: unknown, allowlist: unknown = { exceptions: [] }, ...extra: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [at('scripts', 'audit.mjs'), '--report', file(report), '--allowlist', file(allowlist), '--today', '2026-06-01', ...extra], {
    encoding: 'utf8',
  })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

const GHSA = 'GHSA-abcd-2345-wxyz'
const ADVISORY_URL = `https://github.com/advisories/${GHSA}`

function report(severity: string): unknown {
  return {
    auditReportVersion: 2,
    vulnerabilities: {
      'find-my-way': {
        name: 'find-my-way',
        severity,
        isDirect: false,
        via: [{ source: 1099999, name: 'find-my-way', dependency: 'find-my-way', title: 'ReDoS in route matching', url: ADVISORY_URL, severity, range: '<9.0.1' }],
        effects: ['fastify'],
        range: '<9.0.1',
        nodes: ['node_modules/find-my-way'],
        fixAvailable: true,
      },
      fastify: { name: 'fastify', severity, isDirect: true, via: ['find-my-way'], effects: [], range: '*', nodes: ['node_modules/fastify'], fixAvailable: true },
    },
    metadata: {
      vulnerabilities: { info: 0, low: 0, moderate: severity === 'moderate' ? 2 : 0, high: severity === 'high' ? 2 : 0, critical: severity === 'critical' ? 2 : 0, total: 2 },
      dependencies: { prod: 120, dev: 300, optional: 10, peer: 0, peerOptional: 0, total: 420 },
    },
  }
}
const CLEAN = { auditReportVersion: 2, vulnerabilities: {}, metadata: { vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, total: 0 }, dependencies: { prod: 120, total: 420 } } }
const exception = (fields: Record<string, string> = {}): unknown => ({
  exceptions: [
    { advisory: GHSA, package: 'find-my-way', reason: 'only reachable through routes with regexp parameters; the ops server has none', expires: '2026-07-01', ...fields },
  ],
})

t.test('audit gate: a clean report and moderate findings pass, with a summary', (t) => {
  const clean = gate(CLEAN)
  t.equal(clean.code, 0)
  t.match(clean.out, /120 production dependencies; vulnerable packages: critical 0, high 0, moderate 0, low 0, info 0/)
  t.match(clean.out, /PASS/)
  const moderate = gate(report('moderate'))
  t.equal(moderate.code, 0, 'moderate is not blocking')
  t.match(moderate.out, /moderate 2/)
  t.end()
})

t.test('audit gate: high and critical findings fail, naming the advisory once', (t) => {
  for (const severity of ['high', 'critical']) {
    const r = gate(report(severity))
    t.equal(r.code, 1, severity)
    t.match(r.out, new RegExp(`BLOCKING: ${severity.toUpperCase()} find-my-way \\(<9\\.0\\.1\\) ${GHSA}: ReDoS in route matching`))
    t.equal(r.out.match(/BLOCKING/g)?.length, 1, 'the transitive path (fastify) is not counted again')
    t.match(r.out, /FAIL: 1 high\/critical advisory/)
  }
  t.end()
})

t.test('audit gate: the allow-list excepts a finding until it expires', (t) => {
  for (const advisory of [GHSA, ADVISORY_URL, '1099999']) {
    const r = gate(report('critical'), exception({ advisory }))
    t.equal(r.code, 0, `matched by ${advisory}`)
    t.match(r.out, /allowed until 2026-07-01: CRITICAL find-my-way/)
    t.match(r.out, /reason: only reachable/)
  }
  const expired = gate(report('high'), exception({ expires: '2026-05-31' }))
  t.equal(expired.code, 1, 'expired the day before --today')
  t.match(expired.out, /EXPIRED on 2026-05-31/)
  t.equal(gate(report('high'), exception({ expires: '2026-06-01' })).code, 0, 'valid through its expiry day')
  const otherPackage = gate(report('high'), exception({ package: 'fastify' }))
  t.equal(otherPackage.code, 1, 'an exception is for one package')
  t.match(otherPackage.out, /matches no current finding: remove it/)
  t.end()
})

t.test('audit gate: an invalid allow-list fails the gate', (t) => {
  for (const [what, list] of [
    ['no reason', exception({ reason: '' })],
    ['a vague reason', exception({ reason: 'fine' })],
    ['no expiry', exception({ expires: '' })],
    ['a bad date', exception({ expires: '2026-13-45' })],
    ['not a date', exception({ expires: 'next year' })],
    ['no advisory', exception({ advisory: ' ' })],
    ['no exceptions array', { exceptions: {} }],
    ['not JSON', '{ nope'],
  ] as const) {
    const r = gate(CLEAN, list)
    t.equal(r.code, 2, what)
    t.match(r.out, /invalid allow-list/)
  }
  t.end()
})

t.test('audit gate: an unreachable endpoint warns and continues (fails with --strict); other npm failures fail', (t) => {
  const refused = { message: 'request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: connect ECONNREFUSED 127.0.0.1:443', error: { summary: '', detail: '' } }
  const dns = { message: 'request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo EAI_AGAIN registry.npmjs.org' }
  const status503 = { message: '503 Service Unavailable - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk', statusCode: 503, body: '' }
  for (const [what, out] of [['refused', refused], ['DNS', dns], ['HTTP 503', status503]] as const) {
    const r = gate(out)
    t.equal(r.code, 0, `${what}: continues`)
    t.match(r.out, /WARNING: NO AUDIT WAS DONE: the npm audit endpoint could not be reached/)
    t.match(r.out, /only host CI reaches/)
    const strict = gate(out, undefined, '--strict')
    t.equal(strict.code, 3, `${what}: --strict fails`)
  }
  const noLock = { error: { code: 'ENOLOCK', summary: 'This command requires an existing lockfile.', detail: '' } }
  const r = gate(noLock)
  t.equal(r.code, 2, 'no lock file is not a network problem')
  t.match(r.out, /ENOLOCK/)
  t.equal(gate('not json at all').code, 2, 'unreadable output fails')
  t.equal(gate([]).code, 2, 'unexpected JSON fails')
  t.end()
})

t.test("the repository's allow-list is valid", (t) => {
  const r = spawnSync(process.execPath, [at('scripts', 'audit.mjs'), '--report', file(CLEAN)], { encoding: 'utf8' })
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  t.end()
})

// ---- the gate running npm audit for real, against a registry on 127.0.0.1 ----

/** A project whose lock file has one production dependency (not installed: npm audit reads the lock). */
function fixtureProject(withLock = true): string {
  const project = join(dir, `project${n++}`)
  mkdirSync(project)
  const manifest = { name: 'fixture', version: '1.0.0', dependencies: { 'left-pad': '1.3.0' } }
  writeFileSync(join(project, 'package.json'), JSON.stringify(manifest))
  if (withLock) {
    const lock = { name: 'fixture', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': manifest, 'node_modules/left-pad': { version: '1.3.0' } } }
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify(lock))
  }
  return project
}

/** Runs the gate without --report (so it runs npm), asynchronously: the fake registry lives in this process. */
function gateNpm(project: string, registry: string, ...extra: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, npm_config_registry: registry, npm_config_fetch_retries: '0', npm_config_update_notifier: 'false' }
    execFile(process.execPath, [at('scripts', 'audit.mjs'), '--cwd', project, '--allowlist', file({ exceptions: [] }), ...extra], { env, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0
      resolve({ code, out: `${stdout}${stderr}` })
    })
  })
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

t.test('audit gate end to end: npm audit against a local registry that reports a high advisory', async (t) => {
  const bulkRequests: string[] = []
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/-/npm/v1/security/advisories/bulk') {
        bulkRequests.push(req.url)
        res.setHeader('content-type', 'application/json')
        const advisory = { id: 1099999, url: ADVISORY_URL, title: 'Test advisory', severity: 'high', vulnerable_versions: '<2.0.0', cwe: [], cvss: { score: 7.5, vectorString: null } }
        res.end(JSON.stringify({ 'left-pad': [advisory] }))
      } else {
        res.statusCode = 404
        res.end('{}')
      }
    })
  })
  const registry = await listen(server)
  t.teardown(() => server.close())
  const r = await gateNpm(fixtureProject(), registry)
  t.equal(bulkRequests.length, 1, 'npm asked the registry')
  t.equal(r.code, 1, r.out)
  t.match(r.out, new RegExp(`BLOCKING: HIGH left-pad \\(<2\\.0\\.0\\) ${GHSA}: Test advisory`))
})

t.test('audit gate end to end: a registry that refuses connections is a warning; no lock file is a failure', async (t) => {
  // A port that was just free: connections are refused.
  const probe = createServer()
  const registry = await listen(probe)
  await new Promise((resolve) => probe.close(resolve))
  const project = fixtureProject()
  const r = await gateNpm(project, registry)
  t.equal(r.code, 0, r.out)
  t.match(r.out, /NO AUDIT WAS DONE[\s\S]*ECONNREFUSED/)
  t.equal((await gateNpm(project, registry, '--strict')).code, 3)
  const noLock = await gateNpm(fixtureProject(false), registry)
  t.equal(noLock.code, 2)
  t.match(noLock.out, /no package-lock.json/)
})
