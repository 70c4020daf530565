/**
 * PROOFPOINT_CA_FILE (issue 7, item 2): a PEM CA bundle for the SIEM API, read and checked at load like
 * OTEL_EXPORTER_OTLP_CERTIFICATE, passed to the client's pool (`connect.ca`); an https API on 127.0.0.1 with the
 * test-only certificates of test/fixtures/tls/ is reached with it and refused without it.
 */
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ConfigError, SiemNetworkError } from '../../src/errors.js'
import { describeConfig, loadConfig } from '../../src/config/index.js'
import { SiemClient } from '../../src/siem/client.js'
import { EVENT_TYPES } from '../../src/siem/types.js'

const TLS_DIR = new URL('../../../test/fixtures/tls/', import.meta.url)
const tlsPath = (name: string): string => fileURLToPath(new URL(name, TLS_DIR))
const FIXTURE = readFileSync(new URL('../../../test/fixtures/siem-all-response.json', import.meta.url))
const REQUIRED = { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: 's' }
const WINDOW = { start: new Date(Date.UTC(2026, 10, 24, 11)), end: new Date(Date.UTC(2026, 10, 24, 12)) }

function problems(env: Record<string, string>, readFile?: (p: string) => string): string[] {
  try {
    loadConfig({ env: { ...REQUIRED, ...env }, ...(readFile ? { readFile } : {}) })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
}

t.test('PROOFPOINT_CA_FILE: read and checked at load', (t) => {
  const unset = loadConfig({ env: REQUIRED })
  t.notOk('ca' in unset.config.proofpoint, 'unset: no ca, the system CAs')
  t.same(describeConfig(unset).find((r) => r.name === 'PROOFPOINT_CA_FILE')?.value, '(unset: the system CAs)')
  t.notOk('ca' in loadConfig({ env: { ...REQUIRED, PROOFPOINT_CA_FILE: '' } }).config.proofpoint, 'empty: unset')

  const loaded = loadConfig({ env: { ...REQUIRED, PROOFPOINT_CA_FILE: tlsPath('ca.pem') } })
  t.equal(loaded.config.proofpoint.ca, readFileSync(tlsPath('ca.pem'), 'utf8'))
  t.equal(loaded.config.proofpoint.caFile, tlsPath('ca.pem'))
  const row = describeConfig(loaded).find((r) => r.name === 'PROOFPOINT_CA_FILE')
  t.equal(row?.value, tlsPath('ca.pem'), 'check-config shows the path, never the contents')
  t.equal(row?.source, 'env')

  t.match(problems({ PROOFPOINT_CA_FILE: '/nonexistent/ca.pem' }), [/^PROOFPOINT_CA_FILE.*cannot read .*ENOENT/])
  t.match(problems({ PROOFPOINT_CA_FILE: tlsPath('server.key') }), [/^PROOFPOINT_CA_FILE.*holds no PEM certificate/], 'a key is not a CA')
  t.match(problems({ PROOFPOINT_CA_FILE: '/ca.pem' }, () => '   \n'), [/^PROOFPOINT_CA_FILE.*is empty/])
  const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'
  const p = problems({ PROOFPOINT_CA_FILE: '/ca.pem' }, () => broken)
  t.match(p, [/^PROOFPOINT_CA_FILE.*cannot be parsed/])
  t.notMatch(p.join('\n'), /AAAA/, 'the file is not quoted')
  t.end()
})

t.test('the loaded CA reaches an https API with the test certificates; without it, a SiemNetworkError', async (t) => {
  const server = createServer({ key: readFileSync(tlsPath('server.key')), cert: readFileSync(tlsPath('server.pem')) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(FIXTURE)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  const { config } = loadConfig({ env: { ...REQUIRED, PROOFPOINT_BASE_URL: baseUrl, PROOFPOINT_CA_FILE: tlsPath('ca.pem') } })
  const make = (ca: string | undefined): SiemClient => {
    const c = new SiemClient({ baseUrl: config.proofpoint.baseUrl, principal: 'p', getSecret: () => 's', eventTypes: [...EVENT_TYPES], timeoutMs: 3000, ca })
    t.teardown(() => c.close())
    return c
  }
  const ok = await make(config.proofpoint.ca).fetchWindow(WINDOW)
  t.ok(ok.events > 0, `${ok.events} events over https with PROOFPOINT_CA_FILE`)
  const err = await make(undefined).fetchWindow(WINDOW).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.type(err, SiemNetworkError, 'the system CAs do not trust the test CA')
  t.match((err as Error).message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
})

t.test('base URL: https unless the host is loopback, in the config and in the client', (t) => {
  const accepted = ['https://tap-api-v2.proofpoint.com', 'https://tap.example.com/proxy', 'http://127.0.0.1:8080', 'http://127.1.2.3', 'http://localhost:9', 'http://[::1]:9', 'http://2130706433:9']
  const refused = ['http://tap.example.com', 'http://127.0.0.1.evil.example', 'http://localhost.evil.example', 'http://10.0.0.1', 'http://[::ffff:7f00:1]', 'http://0.0.0.0:9', 'ftp://127.0.0.1']
  const client = (baseUrl: string): SiemClient => new SiemClient({ baseUrl, principal: 'p', getSecret: () => 's', eventTypes: [], timeoutMs: 1 })
  for (const url of accepted) {
    t.same(problems({ PROOFPOINT_BASE_URL: url }), [], `config accepts ${url}`)
    t.doesNotThrow(() => void client(url).close(), `client accepts ${url}`)
  }
  for (const url of refused) {
    t.match(problems({ PROOFPOINT_BASE_URL: url }), [/^PROOFPOINT_BASE_URL/], `config refuses ${url}`)
    t.throws(() => client(url), TypeError, `client refuses ${url}`)
  }
  t.end()
})
