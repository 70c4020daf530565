/**
 * Outbound proxy (issue 12 item 3): a real forward proxy on loopback (CONNECT tunnels, absolute-form HTTP), the real
 * SIEM client and OTLP exporter through it, the proxy variables as the configuration reads them.
 */
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { describeConfig, loadConfig } from '../src/config/index.js'
import { SiemNetworkError } from '../src/errors.js'
import { OtlpHttpLogExporter } from '../src/export/otlp-http-exporter.js'
import { bypassesProxy, proxyFor } from '../src/proxy.js'
import { SiemClient } from '../src/siem/client.js'
import { EVENT_TYPES } from '../src/siem/types.js'
import { startSimulator } from '../src/simulator/index.js'
import { startOtlpSink } from './helpers/otlp-sink.js'

const TLS_DIR = new URL('../../test/fixtures/tls/', import.meta.url)
const tlsPath = (name: string): string => fileURLToPath(new URL(name, TLS_DIR))
const FIXTURE = readFileSync(new URL('../../test/fixtures/siem-all-response.json', import.meta.url))
const PROXY_PASSWORD = 'pr0xy-PASSWORD-must-not-leak'
const SECRET = 'siem-SECRET-must-not-leak'

interface Proxy {
  url: string
  /** CONNECT targets and absolute-form request URLs, in order. */
  seen: string[]
  /** Proxy-Authorization headers received. */
  auth: string[]
  mode: 'ok' | 407 | 502 | 'close'
}

/** A forward proxy: CONNECT tunnels and absolute-form HTTP requests, or a refusal by `mode`. */
async function startProxy(t: Test): Promise<Proxy> {
  const proxy: Proxy = { url: '', seen: [], auth: [], mode: 'ok' }
  const server = http.createServer((req, res) => {
    proxy.seen.push(req.url ?? '')
    proxy.auth.push(String(req.headers['proxy-authorization'] ?? ''))
    if (proxy.mode !== 'ok') return void res.writeHead(typeof proxy.mode === 'number' ? proxy.mode : 502).end()
    const upstream = http.request(req.url ?? '', { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    proxy.seen.push(`CONNECT ${req.url ?? ''}`)
    proxy.auth.push(String(req.headers['proxy-authorization'] ?? ''))
    if (proxy.mode === 'close') return void socket.destroy()
    if (proxy.mode !== 'ok') {
      socket.end(`HTTP/1.1 ${proxy.mode} ${http.STATUS_CODES[proxy.mode] ?? ''}\r\n${proxy.mode === 407 ? 'Proxy-Authenticate: Basic realm="p"\r\n' : ''}Content-Length: 0\r\n\r\n`)
      return
    }
    const [host = '', port = ''] = (req.url ?? '').split(':')
    const upstream = net.connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on('error', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  proxy.url = `http://user:${PROXY_PASSWORD}@127.0.0.1:${(server.address() as AddressInfo).port}`
  return proxy
}

const WINDOW = { start: new Date('2026-11-24T11:00:00Z'), end: new Date('2026-11-24T12:00:00Z') }

t.test('NO_PROXY and the proxy variables: which proxy a URL goes through', async (t) => {
  const env = { HTTPS_PROXY: 'http://proxy.corp:3128', http_proxy: 'http://plain.corp:8080', NO_PROXY: '.internal.example, collector:4318, 10.1.2.3' }
  t.same(proxyFor('https://tap-api-v2.proofpoint.com', env), { url: 'http://proxy.corp:3128', from: 'HTTPS_PROXY' })
  t.same(proxyFor('http://collector.svc:4318/v1/logs', env), { url: 'http://plain.corp:8080', from: 'http_proxy' })
  t.equal(proxyFor('https://otel.internal.example/v1/logs', env), undefined, 'a .domain suffix')
  t.equal(proxyFor('http://collector:4318/v1/logs', env), undefined, 'host:port')
  t.ok(proxyFor('http://collector:4317/v1/logs', env), 'another port is proxied')
  t.equal(proxyFor('https://10.1.2.3/', env), undefined, 'an IP')
  t.same(proxyFor('https://x.example', { ...env, https_proxy: 'http://lower:1' }), { url: 'http://lower:1', from: 'https_proxy' }, 'lower case wins')
  t.same(proxyFor('https://x.internal.example', env, { url: 'http://explicit:1', from: 'PROOFPOINT_PROXY_URL' }), { url: 'http://explicit:1', from: 'PROOFPOINT_PROXY_URL' }, 'the explicit setting wins')
  t.ok(bypassesProxy(new URL('https://anything'), '*'))
  t.notOk(bypassesProxy(new URL('https://notinternal.example'), 'internal.example'), 'a suffix matches whole labels only')
  t.ok(bypassesProxy(new URL('https://a.internal.example'), 'internal.example'))
})

t.test('the configuration resolves both ends, checks the proxy URLs and never prints their credentials', async (t) => {
  const base = { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: SECRET }
  const proxied = loadConfig({ env: { ...base, HTTPS_PROXY: `http://u:${PROXY_PASSWORD}@proxy.corp:3128`, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318' } })
  t.same(proxied.config.proofpoint.proxy, { url: `http://u:${PROXY_PASSWORD}@proxy.corp:3128`, from: 'HTTPS_PROXY' })
  t.same(proxied.config.otel.proxy?.from, 'HTTPS_PROXY')
  const explicit = loadConfig({ env: { ...base, PROOFPOINT_PROXY_URL: 'http://explicit.corp:3128', NO_PROXY: '*' } })
  t.equal(explicit.config.proofpoint.proxy?.from, 'PROOFPOINT_PROXY_URL', 'PROOFPOINT_PROXY_URL applies to the SIEM API whatever NO_PROXY says')
  t.equal(explicit.config.otel.proxy, undefined)
  const rows = JSON.stringify(describeConfig(proxied))
  t.match(rows, /proxy\.corp:3128 \(from HTTPS_PROXY\)/, 'check-config shows the proxy and where it came from')
  t.notMatch(rows, PROXY_PASSWORD, 'without its password')
  let message = ''
  try {
    loadConfig({ env: { ...base, PROOFPOINT_PROXY_URL: `http://u:${PROXY_PASSWORD}@bad host:1` } })
  } catch (err) {
    message = err instanceof Error ? err.message : String(err)
  }
  t.match(message, /PROOFPOINT_PROXY_URL: the value \(not shown/)
  t.notMatch(message, PROXY_PASSWORD)
})

t.test('the SIEM client goes through the proxy (CONNECT), with the proxy credentials sent to the proxy only', async (t) => {
  const proxy = await startProxy(t)
  const sim = await startSimulator({ principal: 'p', secret: SECRET, now: () => WINDOW.end.getTime() + 60_000, eventsPerMinute: 3 })
  t.teardown(() => sim.close())
  const client = new SiemClient({ baseUrl: sim.url, principal: 'p', getSecret: () => SECRET, eventTypes: [...EVENT_TYPES], timeoutMs: 5000, proxy: proxy.url })
  t.teardown(() => client.close())
  const result = await client.fetchWindow(WINDOW)
  t.ok(result.events > 0, `${result.events} events through the proxy`)
  t.same(proxy.seen, [`CONNECT ${new URL(sim.url).host}`])
  t.equal(proxy.auth[0], `Basic ${Buffer.from(`user:${PROXY_PASSWORD}`).toString('base64')}`)
  t.equal(sim.requests.length, 1)
})

t.test('https behind the tunnel: PROOFPOINT_CA_FILE still checks the API certificate', async (t) => {
  const proxy = await startProxy(t)
  const server = createHttpsServer({ key: readFileSync(tlsPath('server.key')), cert: readFileSync(tlsPath('server.pem')) }, (_req, res) => {
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
  const make = (ca: string | undefined): SiemClient => {
    const c = new SiemClient({ baseUrl, principal: 'p', getSecret: () => SECRET, eventTypes: [...EVENT_TYPES], timeoutMs: 5000, proxy: proxy.url, ca })
    t.teardown(() => c.close())
    return c
  }
  const ok = await make(readFileSync(tlsPath('ca.pem'), 'utf8')).fetchWindow(WINDOW)
  t.ok(ok.events > 0, 'the API answered through the tunnel')
  const err = await make(undefined).fetchWindow(WINDOW).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.type(err, SiemNetworkError, 'without the CA the certificate is refused behind the tunnel too')
  t.ok(proxy.seen.every((s) => s.startsWith('CONNECT 127.0.0.1:')), 'every request was tunnelled')
})

for (const mode of [407, 502, 'close'] as const) {
  t.test(`a proxy that refuses (${mode}): a clear retryable error naming the proxy, never a secret`, async (t) => {
    const proxy = await startProxy(t)
    proxy.mode = mode
    const client = new SiemClient({ baseUrl: 'http://127.0.0.1:9', principal: 'p', getSecret: () => SECRET, eventTypes: [], timeoutMs: 2000, proxy: proxy.url })
    t.teardown(() => client.close())
    const err = await client.fetchWindow(WINDOW).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(err, SiemNetworkError)
    const message = err instanceof Error ? err.message : ''
    t.equal((err as SiemNetworkError).retryable, true, 'retryable')
    t.match(message, /proxy http:\/\/\[redacted\]@127\.0\.0\.1:\d+/i, `names the proxy: ${message}`)
    if (mode !== 'close') t.match(message, new RegExp(`\\(${mode}\\)`))
    if (mode === 407) t.match(message, /wants credentials/)
    t.notMatch(message, PROXY_PASSWORD)
    t.notMatch(message, SECRET)
  })
}

t.test('the OTLP exporter goes through the proxy (absolute-form for http endpoints) and the collector gets the records', async (t) => {
  const proxy = await startProxy(t)
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const exporter = new OtlpHttpLogExporter({ url: `${sink.url}/v1/logs`, protocol: 'http/protobuf', proxy: proxy.url, timeoutMillis: 5000 })
  t.teardown(() => exporter.shutdown())
  const result = await exporter.sendEncoded(Buffer.alloc(0))
  t.equal(result.status, 200)
  t.same(proxy.seen, [`${sink.url}/v1/logs`], 'the request went through the proxy')
  t.equal(sink.requests.length, 1)
})
