/**
 * The deployment examples (examples/, otel-config/, Dockerfile, .dockerignore) checked against the code, so that
 * none of them can drift from the receiver: every variable an example sets is one the configuration schema knows
 * and loads; the shippers listen where the exporter sends by default (port and /v1/logs); probes, scrape paths
 * and the ops port are the ops server's; the Dockerfile's entry point exists in the compiled output.
 * Nothing here repeats a constant of the code: the expectations come from loadConfig's defaults, OPS_ROUTES,
 * the ops server itself and the export pipeline's limits.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { open as openFile } from 'node:fs/promises'
import { dirname, join, posix, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import { CONFIG_VARIABLES, loadConfig } from '../../src/config/index.js'
import type { ReceiverConfig } from '../../src/config/index.js'
import { DEFAULT_MAX_BATCH_BYTES } from '../../src/export/batches.js'
import { LAUNCH_ENV, nodeFlags } from '../../src/node-flags.js'
import { OPS_ROUTES, buildOpsServer } from '../../src/ops/server.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import { ReceiverStatus } from '../../src/status/index.js'

/** The repository root (this file runs as dist/test/project/examples.test.js). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const at = (...parts: string[]): string => join(ROOT, ...parts)
const read = (...parts: string[]): string => readFileSync(at(...parts), 'utf8')
const execFileAsync = promisify(execFile)

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type Obj = Record<string, Json>

function isObj(v: Json | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
function obj(v: Json | undefined, what: string): Obj {
  if (!isObj(v)) throw new Error(`${what}: expected a map, got ${JSON.stringify(v)}`)
  return v
}
function arr(v: Json | undefined, what: string): Json[] {
  if (!Array.isArray(v)) throw new Error(`${what}: expected a list, got ${JSON.stringify(v)}`)
  return v
}
function str(v: Json | undefined, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string, got ${JSON.stringify(v)}`)
  return v
}
/** A scalar as text (an object or list as JSON), for messages and comparisons. */
function text(v: Json | undefined): string {
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return `${v}`
  return JSON.stringify(v) ?? 'undefined'
}
/** Optional map member: undefined when absent. */
function get(o: Obj | undefined, key: string): Json | undefined {
  return o ? o[key] : undefined
}

/** Every YAML document of a file, parsed strictly (any error or warning fails). */
function yamlDocs(text: string, file: string): Json[] {
  return parseAllDocuments(text, { strict: true, prettyErrors: true }).map((doc, i) => {
    if (doc.errors.length > 0 || doc.warnings.length > 0) {
      throw new Error(`${file} document ${i + 1}: ${[...doc.errors, ...doc.warnings].map((e) => e.message).join('; ')}`)
    }
    return doc.toJS() as Json
  })
}
function yamlFile(file: string): Json {
  const docs = yamlDocs(read(file), file)
  if (docs.length !== 1) throw new Error(`${file}: expected one YAML document, found ${docs.length}`)
  return docs[0] as Json
}

/** KEY=value lines (comments and blank lines skipped), as `docker run --env-file` and systemd read them. */
function envFile(file: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [i, raw] of read(file).split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (!m) throw new Error(`${file}:${i + 1}: not KEY=value: ${line}`)
    env[m[1] as string] = m[2] as string
  }
  return env
}

/** The code's defaults: what the exporter sends to and where the ops server listens when nothing is set. */
const DEFAULTS = loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: 's' } }).config
const DEFAULT_LOGS_URL = new URL(DEFAULTS.otel.logsEndpoint)
/** The port the exporter sends to by default (the URL's own port, or the scheme's). */
const OTLP_PORT = portOf(DEFAULT_LOGS_URL)
const OTLP_PATH = DEFAULT_LOGS_URL.pathname
const OPS_PORT = DEFAULTS.receiver.httpPort
/** Where OTEL_EXPORTER_OTLP_PROTOCOL=grpc sends when no endpoint is set. */
const GRPC_DEFAULT_ENDPOINT = loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: 's', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } }).config.otel.logsEndpoint
const KNOWN_VARIABLES = new Set<string>(CONFIG_VARIABLES)

function portOf(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
}

/** `host:port` (or `[v6]:port`) as the collector, Vector and Fluent Bit write listen addresses. */
function listenAddress(text: string, what: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]*):(\d+)$/.exec(text)
  if (!m) throw new Error(`${what}: "${text}" is not host:port`)
  return { host: m[1] as string, port: Number(m[2]) }
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * The receiver's configuration from an example's environment, loaded by the real loader. The secret file an
 * example names does not exist here: reading it returns a stand-in. Any other file read fails the test.
 */
function receiverConfig(env: Record<string, string>, what: string): ReceiverConfig {
  const secretFile = env.PROOFPOINT_SECRET_FILE
  return loadConfig({
    env,
    readFile: (path) => {
      if (path === secretFile) return 'example-secret\n'
      throw new Error(`${what}: unexpected file read ${path}`)
    },
  }).config
}

function checkReceiverEnv(t: Test, env: Record<string, string>, what: string): ReceiverConfig {
  const unknown = Object.keys(env).filter((name) => !KNOWN_VARIABLES.has(name))
  t.same(unknown, [], `${what}: every variable it sets is one of CONFIG_VARIABLES`)
  let config: ReceiverConfig | undefined
  t.doesNotThrow(() => {
    config = receiverConfig(env, what)
  }, `${what}: the configuration loads`)
  if (!config) throw new Error(`${what}: configuration did not load`)
  t.notOk(env.PROOFPOINT_SECRET, `${what}: the secret is given as a file, not a value`)
  return config
}

/** The ops server with a fresh status (and a metrics source), to ask the paths the examples probe and scrape. */
async function askOpsServer(path: string): Promise<{ statusCode: number; body: string }> {
  const status = new ReceiverStatus({
    startedAt: Date.now(),
    noEventsAlertAfterMs: DEFAULTS.receiver.noEventsAlertAfterMs,
    pollIntervalMs: DEFAULTS.receiver.pollIntervalMs,
    eventTypes: [...EVENT_TYPES],
    version: '0.0.0-test',
  })
  const app = buildOpsServer({
    status,
    metrics: { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => 'proofpoint_receiver_up 1\n' },
  })
  try {
    const r = await app.inject({ method: 'GET', url: path })
    return { statusCode: r.statusCode, body: r.body }
  } finally {
    await app.close()
  }
}

/** `/healthz`-like: the liveness route of the ops server (200 {"status":"ok"} on a fresh receiver). */
async function checkLivenessPath(t: Test, path: string, what: string): Promise<void> {
  t.ok((OPS_ROUTES as readonly string[]).includes(path), `${what}: ${path} is an ops route`)
  const r = await askOpsServer(path)
  t.equal(r.statusCode, 200, `${what}: ${path} answers 200 on a live receiver`)
  t.same(JSON.parse(r.body), { status: 'ok' }, `${what}: ${path} is the liveness answer`)
}

/** `/readyz`-like: the readiness route (200 ready or 503 with reasons). */
async function checkReadinessPath(t: Test, path: string, what: string): Promise<void> {
  t.ok((OPS_ROUTES as readonly string[]).includes(path), `${what}: ${path} is an ops route`)
  const r = await askOpsServer(path)
  const body = JSON.parse(r.body) as { status?: string; reasons?: unknown }
  t.ok(
    (r.statusCode === 200 && body.status === 'ready') || (r.statusCode === 503 && Array.isArray(body.reasons)),
    `${what}: ${path} is the readiness answer (got ${r.statusCode} ${r.body})`,
  )
}

async function checkMetricsPath(t: Test, path: string, what: string): Promise<void> {
  const r = await askOpsServer(path)
  t.equal(r.statusCode, 200, `${what}: the ops server serves ${path} when metrics are wired`)
  t.match(r.body, /^proofpoint_receiver_/m, `${what}: ${path} is the Prometheus exposition`)
}

// ---------------------------------------------------------------------------------------------------------------
// Every file parses

const EXAMPLE_DIRS = ['examples', 'otel-config']

function walk(dir: string): string[] {
  return readdirSync(at(dir)).flatMap((name) => {
    const rel = posix.join(dir, name)
    return statSync(at(rel)).isDirectory() ? walk(rel) : [rel]
  })
}

const FILES = EXAMPLE_DIRS.flatMap(walk).sort()

t.test('the code defaults the examples are checked against are the OTLP and design defaults', async (t) => {
  // One place where the numbers are spelled out: if the code's defaults ever change, the examples' checks follow
  // the code, and this says that the documented defaults changed too.
  t.equal(OTLP_PORT, 4318, 'OTLP/HTTP default port')
  t.equal(OTLP_PATH, '/v1/logs', 'OTLP/HTTP logs path')
  t.equal(OPS_PORT, 13380, 'ops port')
})

/**
 * Ports that a collector or shipper next to the receiver (same pod, same host) listens on by default, and the
 * Prometheus exporter allocations: the receiver's default ops port must be none of them.
 */
const WELL_KNOWN_PORTS: ReadonlyArray<[number, string]> = [
  [4317, 'OTLP/gRPC'],
  [4318, 'OTLP/HTTP (Collector, Fluent Bit)'],
  [13133, 'Collector health_check'],
  [55679, 'Collector zpages'],
  [1777, 'Collector pprof'],
  [8888, 'Collector metrics'],
  [8889, 'Collector prometheus exporter'],
  [2020, 'Fluent Bit HTTP server'],
  [2021, 'Fluent Bit hot reload / health'],
  [24224, 'Fluent Bit / Fluentd forward'],
  [8686, 'Vector API'],
  [9598, 'Vector prometheus_exporter'],
  [9090, 'Prometheus'],
  [9093, 'Alertmanager'],
  [8080, 'HTTP alternative'],
  [3000, 'Grafana'],
]

t.test('the default ops port is no well-known port of a collector, shipper or Prometheus exporter', async (t) => {
  for (const [port, what] of WELL_KNOWN_PORTS) t.not(OPS_PORT, port, `not ${port} (${what})`)
  t.notOk(OPS_PORT >= 9100 && OPS_PORT <= 10100, 'outside the Prometheus exporter allocations (9100-9999 and the first ones above)')
  t.ok(OPS_PORT > 1023 && OPS_PORT < 32768, 'unprivileged, below the usual ephemeral port range')
})

t.test('every YAML, JSON and env example parses; every file is a kind this test checks', async (t) => {
  t.ok(FILES.length >= 10, `found ${FILES.length} files`)
  for (const file of FILES) {
    if (/\.ya?ml$/.test(file)) t.doesNotThrow(() => yamlDocs(read(file), file), `${file} parses as YAML`)
    else if (file.endsWith('.json')) t.doesNotThrow(() => JSON.parse(read(file)) as unknown, `${file} parses as JSON`)
    else if (file.endsWith('.env')) t.doesNotThrow(() => envFile(file), `${file} parses as KEY=value lines`)
    else if (file.endsWith('.md')) t.pass(`${file} is documentation`)
    else t.fail(`${file}: no check for this kind of file; add one to test/project/examples.test.ts`)
  }
  for (const expected of [
    'examples/README.md',
    'examples/docker-compose.yaml',
    'examples/fluent-bit/fluent-bit.yaml',
    'examples/vector/vector.yaml',
    'examples/kubernetes/receiver.yaml',
    'examples/kubernetes/sidecar.yaml',
    'otel-config/collector.yaml',
    'otel-config/collector-durable.yaml',
  ]) {
    t.ok(FILES.includes(expected), `${expected} exists`)
  }
})

t.test('every relative link in examples/README.md points at a file that exists', async (t) => {
  const text = read('examples/README.md')
  const links = [...text.matchAll(/\]\(([^)#\s]+)\)/g)].map((m) => m[1] as string).filter((l) => !/^[a-z]+:/.test(l))
  t.ok(links.length >= 8, `${links.length} links`)
  for (const link of links) t.ok(existsSync(join(at('examples'), link)), `examples/README.md links ${link}`)
})

// ---------------------------------------------------------------------------------------------------------------
// OpenTelemetry Collector configurations

interface CollectorCheck {
  /** The receiver's effective logs URL, when the configuration is paired with one. */
  receiverLogsUrl?: URL
  /** Only loopback listeners (a sidecar). */
  loopbackOnly?: boolean
  durable?: boolean
}

/** Checks a collector configuration; returns the ports it listens on. */
function checkCollector(t: Test, config: Json, what: string, opts: CollectorCheck = {}): number[] {
  const c = obj(config, what)
  const receivers = obj(c.receivers, `${what} receivers`)
  const processors = obj(get(c, 'processors') ?? {}, `${what} processors`)
  const exporters = obj(c.exporters, `${what} exporters`)
  const extensions = obj(get(c, 'extensions') ?? {}, `${what} extensions`)
  const service = obj(c.service, `${what} service`)
  const otlp = obj(receivers.otlp, `${what} receivers.otlp`)
  const http = obj(obj(otlp.protocols, `${what} otlp.protocols`).http, `${what} otlp.protocols.http`)
  const listen = listenAddress(str(http.endpoint, `${what} otlp http endpoint`), `${what} otlp http endpoint`)
  t.equal(listen.port, OTLP_PORT, `${what}: the otlp receiver listens on the exporter's default port`)
  const logsPath = get(http, 'logs_url_path')
  t.ok(logsPath === undefined || logsPath === OTLP_PATH, `${what}: logs are served at ${OTLP_PATH}`)
  if (opts.receiverLogsUrl) {
    t.equal(portOf(opts.receiverLogsUrl), listen.port, `${what}: the receiver sends to the port the collector listens on`)
    t.equal(opts.receiverLogsUrl.pathname, logsPath ?? OTLP_PATH, `${what}: and to the logs path`)
  }
  if (opts.loopbackOnly) t.ok(LOOPBACK.has(listen.host), `${what}: OTLP listens on loopback only (${listen.host})`)
  const grpc = get(obj(otlp.protocols, `${what} otlp.protocols`), 'grpc')
  if (grpc !== undefined) {
    const grpcListen = listenAddress(str(obj(grpc, `${what} otlp.protocols.grpc`).endpoint, `${what} otlp grpc endpoint`), `${what} otlp grpc endpoint`)
    t.equal(grpcListen.port, portOf(new URL(GRPC_DEFAULT_ENDPOINT)), `${what}: the otlp gRPC listener is on the receiver's default gRPC port`)
  }

  const pipelines = obj(service.pipelines, `${what} service.pipelines`)
  const logs = obj(pipelines.logs, `${what} logs pipeline`)
  const names = (key: string): string[] => arr(get(logs, key) ?? [], `${what} logs.${key}`).map((n) => str(n, key))
  const type = (id: string): string => id.split('/')[0] as string
  t.ok(names('receivers').includes('otlp'), `${what}: the logs pipeline takes the otlp receiver`)
  for (const id of names('receivers')) t.ok(id in receivers, `${what}: receiver ${id} is defined`)
  for (const id of names('processors')) t.ok(id in processors, `${what}: processor ${id} is defined`)
  for (const id of names('exporters')) t.ok(id in exporters, `${what}: exporter ${id} is defined`)
  t.equal(type(names('processors')[0] ?? ''), 'memory_limiter', `${what}: memory_limiter comes first`)
  t.ok(names('exporters').some((id) => type(id) === 'debug'), `${what}: a debug exporter`)
  const serviceExtensions = arr(get(service, 'extensions') ?? [], `${what} service.extensions`).map((n) => str(n, 'extension'))
  for (const id of serviceExtensions) t.ok(id in extensions, `${what}: extension ${id} is defined`)
  const health = serviceExtensions.find((id) => type(id) === 'health_check')
  t.ok(health, `${what}: the health_check extension is enabled`)
  const ports = [listen.port]
  if (health) {
    const hc = obj(extensions[health], `${what} ${health}`)
    ports.push(listenAddress(str(hc.endpoint, `${what} health_check endpoint`), `${what} health_check`).port)
  }

  const backend = names('exporters').filter((id) => ['otlp_http', 'otlphttp'].includes(type(id)))
  if (opts.durable) {
    t.notOk(names('processors').some((id) => type(id) === 'batch'), `${what}: no batch processor in front of the disk queue`)
    t.ok(backend.length > 0, `${what}: an OTLP/HTTP backend exporter`)
    for (const id of backend) {
      const e = obj(exporters[id], `${what} ${id}`)
      const queue = obj(e.sending_queue, `${what} ${id}.sending_queue`)
      t.not(queue.enabled, false, `${what}: ${id} queue enabled`)
      const storage = str(queue.storage, `${what} ${id}.sending_queue.storage`)
      t.equal(type(storage), 'file_storage', `${what}: ${id} queues in file_storage`)
      t.ok(serviceExtensions.includes(storage) && storage in extensions, `${what}: ${storage} is defined and enabled`)
      t.equal(get(obj(e.retry_on_failure, `${what} retry`), 'max_elapsed_time'), 0, `${what}: ${id} never drops a batch after retries`)
      const batch = get(queue, 'batch')
      if (isObj(batch)) t.ok(['items', 'bytes'].includes(text(batch.sizer)), `${what}: queue batches by items or bytes`)
    }
  }
  return ports
}

t.test('otel-config/collector.yaml: otlp on the default port, memory_limiter, batch, health_check, debug + otlp_http', async (t) => {
  const config = yamlFile('otel-config/collector.yaml')
  checkCollector(t, config, 'collector.yaml')
  const c = obj(config, 'collector.yaml')
  const logs = obj(obj(obj(c.service, 's').pipelines, 'p').logs, 'l')
  t.ok(arr(logs.processors, 'processors').includes('batch'), 'batch processor in the pipeline')
  t.ok(arr(logs.exporters, 'exporters').some((e) => e === 'otlp_http' || e === 'otlphttp'), 'a generic OTLP/HTTP backend exporter')
})

t.test('otel-config/collector-durable.yaml: the backend queue is in file_storage, nothing batched in memory first', async (t) => {
  checkCollector(t, yamlFile('otel-config/collector-durable.yaml'), 'collector-durable.yaml', { durable: true })
})

// ---------------------------------------------------------------------------------------------------------------
// Fluent Bit and Vector

/** Fluent Bit sizes: 4M, 512K, 1G (binary multiples, as Fluent Bit reads them). */
function fluentBitSize(text: string): number {
  const m = /^(\d+)([KMG])?B?$/i.exec(text)
  if (!m) throw new Error(`not a Fluent Bit size: ${text}`)
  const unit = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase() as 'K' | 'M' | 'G'] ?? 1
  return Number(m[1]) * unit
}

/** Fluent Bit `match` patterns: `*` for any run of characters. */
function fluentBitMatches(pattern: string, tag: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
  return re.test(tag)
}

t.test('Fluent Bit: the opentelemetry input listens where the receiver sends (receiver.env), with room for its requests', async (t) => {
  const fb = obj(yamlFile('examples/fluent-bit/fluent-bit.yaml'), 'fluent-bit.yaml')
  const pipeline = obj(fb.pipeline, 'pipeline')
  const inputs = arr(pipeline.inputs, 'inputs').map((i) => obj(i, 'input'))
  const otel = inputs.filter((i) => i.name === 'opentelemetry')
  t.equal(otel.length, 1, 'one opentelemetry input')
  const input = otel[0] as Obj
  const port = Number(input.port)
  t.equal(port, OTLP_PORT, "the input's port is the exporter's default port")
  // Fluent Bit serves OTLP/HTTP logs at the fixed path /v1/logs on that port.
  const bufferMax = fluentBitSize(text(get(input, 'buffer_max_size') ?? '4M'))
  t.ok(bufferMax > DEFAULT_MAX_BATCH_BYTES, `buffer_max_size ${bufferMax} > the exporter's largest request ${DEFAULT_MAX_BATCH_BYTES}`)
  const code = get(input, 'successful_response_code')
  t.ok(code === undefined || (Number(code) >= 200 && Number(code) < 300), 'the input answers 2xx, which the receiver takes as the acknowledgement')
  const tag = str(input.tag, 'input tag')
  t.equal(text(input.tag_from_uri), 'false', 'tag_from_uri off, so the configured tag is used')

  const parsers = new Set(arr(get(fb, 'parsers') ?? [], 'parsers').map((p) => str(obj(p, 'parser').name, 'parser name')))
  for (const f of arr(get(pipeline, 'filters') ?? [], 'filters').map((x) => obj(x, 'filter'))) {
    t.ok(fluentBitMatches(str(f.match, 'filter match'), tag), `filter ${text(f.name)} matches the input's tag`)
    if (f.name === 'parser') t.ok(parsers.has(str(f.parser, 'parser')), `parser ${text(f.parser)} is defined`)
  }
  const outputs = arr(pipeline.outputs, 'outputs').map((o) => obj(o, 'output'))
  t.ok(outputs.some((o) => o.name === 'stdout'), 'a stdout output')
  t.ok(outputs.some((o) => o.name !== 'stdout'), 'and a real backend')
  for (const o of outputs) t.ok(fluentBitMatches(str(o.match, 'output match'), tag), `output ${text(o.name)} matches the input's tag`)

  const env = envFile('examples/fluent-bit/receiver.env')
  const config = checkReceiverEnv(t, env, 'fluent-bit/receiver.env')
  const url = new URL(config.otel.logsEndpoint)
  t.equal(portOf(url), port, 'the receiver sends to the input port')
  t.equal(url.pathname, OTLP_PATH, 'at the logs path Fluent Bit serves')
  t.equal(config.receiver.attributeShape, 'flat', 'flat attributes: Fluent Bit rejects nested maps')
})

t.test('Vector: the opentelemetry source listens (HTTP) where the receiver sends (receiver.env), protobuf', async (t) => {
  const v = obj(yamlFile('examples/vector/vector.yaml'), 'vector.yaml')
  const sources = obj(v.sources, 'sources')
  const transforms = obj(get(v, 'transforms') ?? {}, 'transforms')
  const sinks = obj(v.sinks, 'sinks')
  const otelSources = Object.entries(sources).filter(([, s]) => isObj(s) && s.type === 'opentelemetry')
  t.equal(otelSources.length, 1, 'one opentelemetry source')
  const [sourceId, source] = otelSources[0] as [string, Obj]
  const listen = listenAddress(str(obj(source.http, 'http').address, 'http.address'), 'vector http.address')
  t.equal(listen.port, OTLP_PORT, "the source's HTTP port is the exporter's default port")
  const grpcListen = listenAddress(str(obj(source.grpc, 'grpc').address, 'grpc.address'), 'vector grpc.address')
  t.equal(grpcListen.port, portOf(new URL(GRPC_DEFAULT_ENDPOINT)), "the source's gRPC port is the gRPC exporter's default port")

  // Component graph: every input names a defined component (the opentelemetry source's outputs are .logs etc.).
  const outputsOf = new Set<string>([
    ...Object.keys(transforms),
    ...Object.entries(sources).flatMap(([id, s]) => (isObj(s) && s.type === 'opentelemetry' ? [`${id}.logs`, `${id}.metrics`, `${id}.traces`] : [id])),
  ])
  const consumers = { ...transforms, ...sinks }
  for (const [id, c] of Object.entries(consumers)) {
    for (const input of arr(obj(c, id).inputs, `${id}.inputs`)) t.ok(outputsOf.has(str(input, 'input')), `${id} reads ${text(input)}, which exists`)
  }
  const reachesLogs = (id: string, seen = new Set<string>()): boolean => {
    if (seen.has(id)) return false
    seen.add(id)
    const c = consumers[id]
    if (!isObj(c)) return false
    return arr(c.inputs, 'inputs').some((i) => i === `${sourceId}.logs` || reachesLogs(str(i, 'input'), seen))
  }
  for (const id of Object.keys(sinks)) {
    t.ok(reachesLogs(id), `sink ${id} gets the source's logs`)
    t.equal(get(obj(get(obj(sinks[id], id), 'acknowledgements') ?? {}, 'ack'), 'enabled'), true, `sink ${id}: end-to-end acknowledgements`)
  }
  t.ok(Object.values(sinks).some((s) => isObj(s) && s.type === 'console'), 'a console sink')
  t.ok(Object.values(sinks).some((s) => isObj(s) && s.type !== 'console'), 'and a real backend')

  const env = envFile('examples/vector/receiver.env')
  const config = checkReceiverEnv(t, env, 'vector/receiver.env')
  const url = new URL(config.otel.logsEndpoint)
  t.equal(portOf(url), listen.port, 'the receiver sends to the source port')
  t.equal(url.pathname, OTLP_PATH, 'at the logs path Vector serves')
  t.equal(config.otel.protocol, 'http/protobuf', 'protobuf: Vector takes nothing else')
})

// ---------------------------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

interface Instruction {
  op: string
  args: string
}
interface Stage {
  from: string
  name?: string
  instructions: Instruction[]
}

/** Dockerfile instructions by stage: comments dropped, `\` continuations joined. */
function dockerStages(text: string): Stage[] {
  const lines: string[] = []
  let current = ''
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue
    if (raw.trimEnd().endsWith('\\')) {
      current += `${raw.trimEnd().slice(0, -1)} `
      continue
    }
    current += raw
    if (current.trim() !== '') lines.push(current.trim())
    current = ''
  }
  const stages: Stage[] = []
  for (const line of lines) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line)
    if (!m) throw new Error(`Dockerfile: cannot read "${line}"`)
    const op = (m[1] as string).toUpperCase()
    const args = (m[2] as string).trim()
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      if (!f) throw new Error(`Dockerfile: FROM ${args}`)
      stages.push({ from: f[1] as string, ...(f[2] ? { name: f[2] } : {}), instructions: [] })
    } else {
      const stage = stages.at(-1)
      if (!stage) throw new Error(`Dockerfile: ${op} before FROM`)
      stage.instructions.push({ op, args })
    }
  }
  return stages
}

function execForm(args: string, what: string): string[] {
  const parsed = JSON.parse(args) as unknown
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`${what}: not exec (JSON) form`)
  return parsed
}

/** COPY [--from=x] [--chown=..] src... dest, shell form only (the Dockerfile uses no JSON COPY). */
function copyOf(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/)
  let from: string | undefined
  while (words[0]?.startsWith('--')) {
    const flag = words.shift() as string
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length)
  }
  const dest = words.pop()
  if (!dest || words.length === 0) throw new Error(`COPY ${args}`)
  return { ...(from ? { from } : {}), sources: words, dest }
}

function workdirOf(stage: Stage, upTo?: Instruction): string {
  let dir = '/'
  for (const i of stage.instructions) {
    if (i === upTo) break
    if (i.op === 'WORKDIR') dir = posix.resolve(dir, i.args)
  }
  return dir
}

/** The path inside the image a stage's COPY puts `source` (a single-source COPY to a directory or file). */
function copiedTo(stage: Stage, copy: Instruction): { from?: string; source: string; dest: string } {
  const c = copyOf(copy.args)
  if (c.sources.length !== 1) throw new Error(`COPY ${copy.args}: one source expected`)
  return { ...(c.from ? { from: c.from } : {}), source: c.sources[0] as string, dest: posix.resolve(workdirOf(stage, copy), c.dest) }
}

/** A stage's COPY --from=<stage> instructions, resolved to image paths. */
function stageCopies(stage: Stage): Array<{ from?: string; source: string; dest: string }> {
  return stage.instructions.filter((i) => i.op === 'COPY' && copyOf(i.args).from).map((i) => copiedTo(stage, i))
}

/** .dockerignore semantics: patterns in order, the last match wins; a path is excluded if it or a parent is. */
function dockerignored(patterns: string[], path: string): boolean {
  const toRegex = (p: string): RegExp =>
    new RegExp(
      `^${p
        .replace(/^\/+|\/+$/g, '')
        .split('/')
        .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')}$`,
    )
  const parts = path.split('/')
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  let excluded = false
  for (const raw of patterns) {
    const negate = raw.startsWith('!')
    const re = toRegex(negate ? raw.slice(1) : raw)
    if (prefixes.some((p) => re.test(p))) excluded = !negate
  }
  return excluded
}

const STAGES = dockerStages(read('Dockerfile'))
const RUNTIME = STAGES.at(-1) as Stage
const runtimeOps = (op: string): Instruction[] => RUNTIME.instructions.filter((i) => i.op === op)
/** ENV KEY=value pairs of a stage (the Dockerfile uses the KEY=value form). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const i of stage.instructions.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1] as string] = (m[2] as string).replace(/^"|"$/g, '')
  }
  return env
}
const IMAGE_ENV = envOf(RUNTIME)
const IMAGE_UID = ((): number => {
  const user = runtimeOps('USER').at(-1)?.args ?? 'root'
  return /^\d+/.test(user) ? Number(/^\d+/.exec(user)?.[0]) : user === 'root' ? 0 : NaN
})()

t.test('Dockerfile: multi-stage, pinned Node LTS base, production dependencies only at run time', async (t) => {
  t.ok(STAGES.length >= 2, `${STAGES.length} stages`)
  for (const s of STAGES) {
    const m = /^node:(\d+)\.(\d+)\.(\d+)-[\w.-]+(@sha256:[0-9a-f]{64})?$/.exec(s.from)
    t.ok(m, `${s.name ?? 'stage'}: base ${s.from} is a pinned node image (major.minor.patch-variant)`)
    if (m) {
      t.ok(Number(m[1]) >= 20, `${s.from}: Node 20 or later (engines)`)
      t.equal(Number(m[1]) % 2, 0, `${s.from}: an even major, i.e. an LTS line`)
    }
  }
  t.equal(new Set(STAGES.map((s) => s.from)).size, 1, 'every stage on the same base')
  // One pin: .node-version is what CI installs to run the suite on the container's Node (.ci/run).
  const pinned = read('.node-version').trim()
  t.match(pinned, /^\d+\.\d+\.\d+$/, `.node-version pins a release (${pinned})`)
  for (const s of STAGES) t.equal(/^node:([^-@]+)-/.exec(s.from)?.[1], pinned, `${s.name ?? 'stage'}: FROM ${s.from} is the Node of .node-version`)
  t.match(read('.ci/run'), /\.node-version/, 'CI reads the same pin')
  t.match(read('.ci/node22-version').trim(), /^22\.\d+\.\d+$/, 'CI also pins a Node 22 release')
  t.match(read('.ci/run'), /\.ci\/node22-version/, 'and runs the suite on it')
  const runs = (s: Stage): string => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n')
  const builder = STAGES.find((s) => /\btsc\b/.test(runs(s)))
  t.ok(builder && /npm ci(?![^\n]*--omit=dev)/.test(runs(builder)), 'a build stage installs dev dependencies and runs tsc')
  t.notMatch(runs(RUNTIME), /npm (ci|install)|\btsc\b/, 'the runtime stage installs and compiles nothing')
  const modules = stageCopies(RUNTIME).find((c) => c.dest.endsWith('/node_modules'))
  const depsStage = STAGES.find((s) => s.name === modules?.from)
  t.ok(depsStage && /npm ci[^\n]*--omit=dev/.test(runs(depsStage)), 'node_modules at run time come from `npm ci --omit=dev`')
})

t.test('Dockerfile: non-root, state volume, ops port, node HEALTHCHECK, exec-form node entry point in the built output', async (t) => {
  t.ok(Number.isInteger(IMAGE_UID) && IMAGE_UID > 0, `USER is a numeric non-root uid (${IMAGE_UID}), so runAsNonRoot can verify it`)
  const unknown = Object.keys(IMAGE_ENV).filter((k) => !KNOWN_VARIABLES.has(k) && !(k in LAUNCH_ENV))
  t.same(unknown, [], 'the image sets only variables of the configuration schema, and the launch environment')
  for (const [k, v] of Object.entries(LAUNCH_ENV)) t.equal(IMAGE_ENV[k], v, `the image sets ${k}=${v} (LAUNCH_ENV, as npm start does)`)
  const stateDir = IMAGE_ENV.RECEIVER_STATE_DIR
  t.ok(stateDir?.startsWith('/'), `RECEIVER_STATE_DIR is set to an absolute path (${stateDir})`)
  const volumes = runtimeOps('VOLUME').flatMap((i) => (i.args.startsWith('[') ? execForm(i.args, 'VOLUME') : i.args.split(/\s+/)))
  t.same(volumes, [stateDir], 'the state directory is the only VOLUME')
  t.match(runtimeOps('RUN').map((i) => i.args).join('\n'), new RegExp(`chown ${IMAGE_UID}(:\\d+)? ${stateDir}`), 'the state directory belongs to that user')

  const exposed = runtimeOps('EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => Number(p.split('/')[0]))
  t.same(exposed, [OPS_PORT], 'EXPOSE is the ops port')

  const hc = runtimeOps('HEALTHCHECK')
  t.equal(hc.length, 1, 'one HEALTHCHECK')
  const hcCmd = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(hc[0]?.args ?? '')
  t.ok(hcCmd, 'HEALTHCHECK CMD in exec form')
  const probe = execForm(hcCmd?.[1] ?? '[]', 'HEALTHCHECK')
  t.equal(probe[0], 'node', 'the health check is a node one-liner')
  const script = probe.join(' ')
  t.notMatch(script, /\b(curl|wget|sh|bash)\b/, 'no curl, wget or shell')
  const path = /\/[a-z]+(?=['"])/.exec(script)?.[0] ?? ''
  await checkLivenessPath(t, path, 'HEALTHCHECK')
  t.match(script, new RegExp(`RECEIVER_HTTP_PORT\\|\\|${OPS_PORT}\\b`), 'on RECEIVER_HTTP_PORT, else the default ops port')

  const entry = runtimeOps('ENTRYPOINT')
  t.equal(entry.length, 1, 'one ENTRYPOINT')
  const argv = execForm(entry[0]?.args ?? '[]', 'ENTRYPOINT')
  t.same(argv.slice(0, 2), ['/bin/sh', '-c'], 'a shell script, in exec form')
  const tail = /; exec node \$flags (\S+) "\$@"$/.exec(argv[2] ?? '')
  t.ok(tail, 'it ends by exec-ing node in its place (no npm): node is PID 1 and SIGTERM reaches it')
  const cmd = execForm(runtimeOps('CMD').at(-1)?.args ?? '[]', 'CMD')
  t.same(cmd, ['run'], 'CMD run')
  await checkEntryScript(t, argv.slice(2))
  // Follow the entry script back through the runtime stage's COPY to the build stage, then to the repository's
  // compiled output (the tests run on that output, built by the same tsc).
  const inImage = posix.resolve(workdirOf(RUNTIME), tail?.[1] ?? '')
  const copy = stageCopies(RUNTIME).find((c) => inImage === c.dest || inImage.startsWith(`${c.dest}/`))
  t.ok(copy, `${inImage} is copied from a build stage`)
  if (copy) {
    const fromStage = STAGES.find((s) => s.name === copy.from) as Stage
    const sourceInStage = posix.join(copy.source, posix.relative(copy.dest, inImage))
    const inRepo = posix.relative(workdirOf(fromStage), posix.resolve(workdirOf(fromStage), sourceInStage))
    const exists = existsSync(at(inRepo))
    t.ok(exists, `the entry point ${inRepo} exists in the compiled output`)
    if (exists) t.match(readFileSync(at(inRepo), 'utf8'), /main\(process\.argv/, `${inRepo} is the command line`)
  }
})

/**
 * Runs the image's ENTRYPOINT script (`sh -c SCRIPT NAME ARGS…`) from the repository, whose dist/ is the image's, with
 * a `node` first on the PATH that prints the receiver's command line instead of starting it (and is this node
 * otherwise): node is started with nodeFlags for the threads the receiver will run, on this Node.
 */
async function checkEntryScript(t: Test, shArgs: string[]): Promise<void> {
  const bin = t.testdir({ node: `#!/bin/sh\ncase " $* " in *" dist/src/main.js "*) printf '%s\\n' "$@"; exit 0;; esac\nexec "${process.execPath}" "$@"\n` })
  chmodSync(join(bin, 'node'), 0o755)
  const env = { PATH: `${bin}:${process.env.PATH ?? ''}`, NODE_OPTIONS: '' }
  for (const [command, workers, threads] of [['run', '2', 2], ['run', '0', 0], ['demo', '2', 0]] as const) {
    const { stdout } = await execFileAsync('/bin/sh', ['-c', ...shArgs, command], { cwd: ROOT, env: { ...env, RECEIVER_WORKERS: workers } })
    t.same(stdout.split('\n').filter(Boolean), [...nodeFlags(process.version, threads), 'dist/src/main.js', command], `${command}, RECEIVER_WORKERS=${workers}: node with ${process.version}'s options for ${threads} threads`)
  }
  // A stop signal while it asks for the options: it exits 0 and starts nothing (as PID 1 it would ignore the signal).
  const gate = join(bin, 'gate')
  execFileSync('mkfifo', [gate])
  writeFileSync(join(bin, 'node'), `#!/bin/sh\ncase " $* " in *" dist/src/main.js "*) echo started; exit 0;; esac\nread line < "${gate}"\nexec "${process.execPath}" "$@"\n`)
  const sh = spawn('/bin/sh', ['-c', ...shArgs, 'run'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  sh.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
  const exited = new Promise<number | string | null>((resolve) => sh.on('close', (code, signal) => resolve(code ?? signal)))
  const writer = await openFile(gate, 'w') // opened once the script's `node` waits on the gate
  sh.kill('SIGTERM')
  await writer.write('go\n')
  await writer.close()
  t.equal(await exited, 0, 'SIGTERM while it asks: exit 0')
  t.equal(out, '', 'the receiver was not started')
}

t.test('.dockerignore: the build context has what the Dockerfile copies and nothing bulky or secret', async (t) => {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  const contextSources = STAGES.flatMap((s) => s.instructions.filter((i) => i.op === 'COPY').map((i) => copyOf(i.args)))
    .filter((c) => !c.from)
    .flatMap((c) => c.sources)
  t.ok(contextSources.length >= 4, `${contextSources.length} COPY sources from the context`)
  for (const source of contextSources) {
    t.ok(existsSync(at(source)), `${source} exists`)
    t.notOk(dockerignored(patterns, source), `${source} is in the build context`)
    if (statSync(at(source)).isDirectory()) {
      for (const file of walk(source)) t.notOk(dockerignored(patterns, file), `${file} is in the build context`)
    }
  }
  for (const never of ['node_modules/x', 'dist/src/main.js', '.git/config', 'data/state.json', '.tap/x', 'proofpoint-siem-receiver-0.1.0.tgz', 'test/cli.test.ts', '.env']) {
    t.ok(dockerignored(patterns, never), `${never} stays out of the build context`)
  }
  t.ok(existsSync(at('tsconfig.build.json')), 'the build configuration exists')
})

// ---------------------------------------------------------------------------------------------------------------
// docker-compose

t.test('docker-compose.yaml: the receiver (demo) exports to the collector service, which listens on that port', async (t) => {
  const compose = obj(yamlFile('examples/docker-compose.yaml'), 'compose')
  const services = obj(compose.services, 'services')
  const receiver = obj(services.receiver, 'receiver service')
  t.equal(str(obj(receiver.build, 'build').context, 'context'), '..', 'built from the repository Dockerfile')
  t.ok(existsSync(join(at('examples'), '..', 'Dockerfile')), 'the Dockerfile is there')
  const command = arr(receiver.command, 'command')
  t.ok(['demo', 'run'].includes(text(command[0])), `command ${JSON.stringify(command)}`)
  const env = Object.fromEntries(Object.entries(obj(receiver.environment, 'environment')).map(([k, v]) => [k, text(v)]))
  // `demo` brings its own simulator credentials; the loader still wants some to validate the rest.
  const config = checkReceiverEnv(t, { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: '/run/secrets/x', ...env }, 'compose receiver')
  const url = new URL(config.otel.logsEndpoint)
  const collectorName = url.hostname
  t.ok(collectorName in services, `the receiver exports to the compose service "${collectorName}"`)
  const collector = obj(services[collectorName], 'collector service')
  t.match(str(collector.image, 'collector image'), /^otel\/opentelemetry-collector(-contrib)?:\d+\.\d+\.\d+$/, 'a pinned collector image')
  const configRef = obj(arr(collector.configs, 'collector configs')[0], 'config ref')
  const content = str(obj(obj(compose.configs, 'configs')[str(configRef.source, 'source')], 'config').content, 'content')
  const flag = arr(collector.command, 'collector command').map(text).find((a) => a.startsWith('--config='))
  t.equal(flag?.slice('--config='.length), configRef.target, 'the collector reads the config it is given')
  checkCollector(t, yamlDocs(content, 'compose collector config')[0] as Json, 'compose collector config', { receiverLogsUrl: url })

  const ports = arr(receiver.ports, 'ports').map(text)
  t.ok(ports.includes(`${OPS_PORT}:${OPS_PORT}`), 'the ops port is published')
  const volumes = arr(receiver.volumes, 'volumes').map(text)
  const stateDir = env.RECEIVER_STATE_DIR ?? IMAGE_ENV.RECEIVER_STATE_DIR
  t.ok(volumes.some((v) => v.endsWith(`:${stateDir}`)), `a volume on the state directory ${stateDir}`)
  t.equal(receiver.read_only, true, 'read-only root filesystem')
  t.ok(arr(receiver.tmpfs, 'tmpfs').includes('/tmp'), 'with /tmp writable')
})

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes

const K8S_FILES = FILES.filter((f) => f.startsWith('examples/kubernetes/') && /\.ya?ml$/.test(f))
const K8S = K8S_FILES.flatMap((file) => yamlDocs(read(file), file).filter(isObj).map((doc) => ({ file, doc })))
const k8sOfKind = (kind: string): Array<{ file: string; doc: Obj }> => K8S.filter((d) => d.doc.kind === kind)
const nameOf = (doc: Obj): string => str(obj(doc.metadata, 'metadata').name, 'metadata.name')

function secretKeys(name: string): string[] {
  const secret = k8sOfKind('Secret').find((s) => nameOf(s.doc) === name)
  if (!secret) return []
  return [...Object.keys(obj(get(secret.doc, 'stringData') ?? {}, 'stringData')), ...Object.keys(obj(get(secret.doc, 'data') ?? {}, 'data'))]
}

interface Container {
  name: string
  image: string
  ports: Obj[]
  raw: Obj
}

function containerOf(raw: Json): Container {
  const c = obj(raw, 'container')
  return { name: str(c.name, 'name'), image: str(c.image, 'image'), ports: arr(get(c, 'ports') ?? [], 'ports').map((p) => obj(p, 'port')), raw: c }
}

/** A probe's port (a number or a container port name) as a number. */
function probePort(container: Container, port: Json | undefined): number {
  if (typeof port === 'number') return port
  const named = container.ports.find((p) => p.name === port)
  if (!named) throw new Error(`${container.name}: no container port named ${text(port)}`)
  return Number(named.containerPort)
}

/** Environment of a container: literal values, and secretKeyRef values (checked to exist) as a stand-in. */
function containerEnv(t: Test, c: Container, what: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of arr(get(c.raw, 'env') ?? [], 'env').map((x) => obj(x, 'env'))) {
    const name = str(e.name, 'env name')
    if (typeof e.value === 'string') env[name] = e.value
    else {
      const ref = obj(obj(e.valueFrom, `${name}.valueFrom`).secretKeyRef, `${name}.valueFrom.secretKeyRef`)
      t.ok(secretKeys(str(ref.name, 'secret')).includes(str(ref.key, 'key')), `${what}: ${name} comes from Secret ${text(ref.name)} key ${text(ref.key)}, which exists`)
      env[name] = `from-secret-${text(ref.key)}`
    }
  }
  return env
}

/** The volume mounted at `dir`'s closest ancestor mount, with the path inside it. */
function mountFor(c: Container, volumes: Obj[], path: string): { volume: Obj; inside: string } | undefined {
  const mounts = arr(get(c.raw, 'volumeMounts') ?? [], 'volumeMounts').map((m) => obj(m, 'mount'))
  const best = mounts
    .filter((m) => path === m.mountPath || path.startsWith(`${text(m.mountPath)}/`))
    .sort((a, b) => text(b.mountPath).length - text(a.mountPath).length)[0]
  if (!best) return undefined
  const volume = volumes.find((v) => v.name === best.name)
  return volume ? { volume, inside: posix.relative(text(best.mountPath), path) } : undefined
}

function scrapeAnnotations(template: Obj): Obj {
  return obj(get(obj(template.metadata, 'template.metadata'), 'annotations') ?? {}, 'annotations')
}

async function checkReceiverPod(t: Test, file: string, deployment: Obj): Promise<{ config: ReceiverConfig; podPorts: number[] }> {
  const what = `${file} Deployment ${nameOf(deployment)}`
  const spec = obj(deployment.spec, 'spec')
  t.equal(spec.replicas, 1, `${what}: one replica (one poller per credential)`)
  t.equal(obj(spec.strategy, 'strategy').type, 'Recreate', `${what}: Recreate, never two pods at once`)
  const template = obj(spec.template, 'template')
  const pod = obj(template.spec, 'pod spec')
  t.equal(pod.enableServiceLinks, false, `${what}: no service-link variables in the environment`)
  const containers = arr(pod.containers, 'containers').map(containerOf)
  const receivers = containers.filter((c) => c.image.includes('proofpoint-siem-receiver'))
  t.equal(receivers.length, 1, `${what}: one receiver container`)
  const c = receivers[0] as Container
  const volumes = arr(get(pod, 'volumes') ?? [], 'volumes').map((v) => obj(v, 'volume'))
  const env = containerEnv(t, c, what)
  const config = checkReceiverEnv(t, env, what)
  t.ok(arr(get(c.raw, 'args') ?? ['run'], 'args').every((a) => a === 'run'), `${what}: runs \`run\``)

  // Ops port and probes
  const opsPorts = c.ports.filter((p) => Number(p.containerPort) === config.receiver.httpPort)
  t.equal(opsPorts.length, 1, `${what}: the container port is the receiver's ops port ${config.receiver.httpPort}`)
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    const httpGet = obj(obj(c.raw[probe], `${what} ${probe}`).httpGet, `${what} ${probe}.httpGet`)
    t.equal(probePort(c, httpGet.port), config.receiver.httpPort, `${what}: ${probe} on the ops port`)
    const path = str(httpGet.path, `${probe}.path`)
    if (probe === 'readinessProbe') await checkReadinessPath(t, path, `${what} ${probe}`)
    else await checkLivenessPath(t, path, `${what} ${probe}`)
  }

  // Secret file, state volume, /tmp
  const secretFile = config.proofpoint.secretFile
  t.ok(secretFile, `${what}: PROOFPOINT_SECRET_FILE is set`)
  const secretMount = secretFile ? mountFor(c, volumes, secretFile) : undefined
  const secretVolume = secretMount && isObj(secretMount.volume.secret) ? secretMount.volume.secret : undefined
  t.ok(secretVolume, `${what}: ${secretFile} is on a Secret volume`)
  if (secretVolume && secretMount) {
    const items = arr(get(secretVolume, 'items') ?? [], 'items').map((i) => obj(i, 'item'))
    const key = items.length > 0 ? items.find((i) => i.path === secretMount.inside)?.key : secretMount.inside
    t.ok(typeof key === 'string' && secretKeys(str(secretVolume.secretName, 'secretName')).includes(key), `${what}: the file is key ${text(key)} of Secret ${text(secretVolume.secretName)}`)
  }
  const stateMount = mountFor(c, volumes, config.receiver.stateDir)
  t.equal(stateMount?.inside, '', `${what}: a volume is mounted at RECEIVER_STATE_DIR ${config.receiver.stateDir}`)
  const claim = stateMount && isObj(stateMount.volume.persistentVolumeClaim) ? text(stateMount.volume.persistentVolumeClaim.claimName) : undefined
  t.ok(claim && k8sOfKind('PersistentVolumeClaim').some((p) => nameOf(p.doc) === claim), `${what}: the state volume is the PersistentVolumeClaim ${claim}`)
  t.ok(mountFor(c, volumes, '/tmp/x')?.volume.emptyDir !== undefined, `${what}: /tmp is an emptyDir (the root filesystem is read-only)`)

  // Security and resources
  const podSec = obj(get(pod, 'securityContext') ?? {}, 'pod securityContext')
  const sec = obj(c.raw.securityContext, 'securityContext')
  t.equal(sec.runAsNonRoot ?? podSec.runAsNonRoot, true, `${what}: runAsNonRoot`)
  t.equal(sec.runAsUser ?? podSec.runAsUser, IMAGE_UID, `${what}: runs as the image's user`)
  t.equal(sec.readOnlyRootFilesystem, true, `${what}: readOnlyRootFilesystem`)
  t.equal(sec.allowPrivilegeEscalation, false, `${what}: no privilege escalation`)
  t.ok(arr(obj(sec.capabilities, 'capabilities').drop, 'drop').includes('ALL'), `${what}: every capability dropped`)
  t.ok(get(podSec, 'fsGroup') !== undefined, `${what}: fsGroup, so the volume and the secret file are the user's`)
  const resources = obj(c.raw.resources, 'resources')
  for (const kind of ['requests', 'limits']) {
    const r = obj(resources[kind], `resources.${kind}`)
    t.ok(r.cpu !== undefined && r.memory !== undefined, `${what}: cpu and memory ${kind}`)
  }

  // Scraping
  const annotations = scrapeAnnotations(template)
  t.equal(annotations['prometheus.io/scrape'], 'true', `${what}: prometheus.io/scrape`)
  t.equal(Number(annotations['prometheus.io/port']), config.receiver.httpPort, `${what}: scraped on the ops port`)
  await checkMetricsPath(t, str(annotations['prometheus.io/path'], 'prometheus.io/path'), what)

  const podPorts = [config.receiver.httpPort]
  return { config, podPorts }
}

t.test('kubernetes/receiver.yaml: one Recreate replica, Secret file, claim, probes, security, resources, scraping', async (t) => {
  const deployments = k8sOfKind('Deployment').filter((d) => d.file.endsWith('/receiver.yaml'))
  t.equal(deployments.length, 1, 'one Deployment')
  const { file, doc } = deployments[0] as { file: string; doc: Obj }
  const { config } = await checkReceiverPod(t, file, doc)
  const url = new URL(config.otel.logsEndpoint)
  t.equal(portOf(url), OTLP_PORT, 'exports to a collector on the default OTLP port')
  t.equal(url.pathname, OTLP_PATH, 'at the logs path')

  // The Service and the ServiceMonitor reach the ops port.
  const services = k8sOfKind('Service').filter((s) => s.file === file)
  t.equal(services.length, 1, 'one Service')
  const service = services[0]?.doc as Obj
  const sspec = obj(service.spec, 'service spec')
  const podLabels = obj(obj(obj(obj(doc.spec, 's').template, 't').metadata, 'm').labels, 'labels')
  for (const [k, v] of Object.entries(obj(sspec.selector, 'selector'))) t.equal(podLabels[k], v, `Service selects the pod (${k})`)
  t.equal(sspec.publishNotReadyAddresses, true, 'metrics stay scrapeable while the receiver is not ready')
  const container = containerOf(arr(obj(obj(obj(doc.spec, 's').template, 't').spec, 'p').containers, 'c')[0] as Json)
  const servicePorts = arr(sspec.ports, 'ports').map((p) => obj(p, 'port'))
  for (const sm of k8sOfKind('ServiceMonitor')) {
    const smSpec = obj(sm.doc.spec, 'servicemonitor spec')
    const labels = obj(obj(service.metadata, 'm').labels, 'labels')
    for (const [k, v] of Object.entries(obj(obj(smSpec.selector, 'selector').matchLabels, 'matchLabels'))) t.equal(labels[k], v, `ServiceMonitor selects the Service (${k})`)
    for (const ep of arr(smSpec.endpoints, 'endpoints').map((e) => obj(e, 'endpoint'))) {
      const sp = servicePorts.find((p) => p.name === ep.port)
      t.ok(sp, `ServiceMonitor port ${text(ep.port)} is a Service port`)
      if (sp) t.equal(probePort(container, sp.targetPort), config.receiver.httpPort, 'which targets the ops port')
      await checkMetricsPath(t, str(ep.path, 'path'), 'ServiceMonitor')
    }
  }
  t.ok(k8sOfKind('ServiceMonitor').length > 0, 'a ServiceMonitor example')
})

t.test('kubernetes/sidecar.yaml: the receiver exports to the collector in its pod on localhost, no port clashes', async (t) => {
  const deployments = k8sOfKind('Deployment').filter((d) => d.file.endsWith('/sidecar.yaml'))
  t.equal(deployments.length, 1, 'one Deployment')
  const { file, doc } = deployments[0] as { file: string; doc: Obj }
  const { config, podPorts } = await checkReceiverPod(t, file, doc)
  const url = new URL(config.otel.logsEndpoint)
  t.ok(LOOPBACK.has(url.hostname), `the receiver exports to loopback (${url.host})`)

  const pod = obj(obj(obj(doc.spec, 's').template, 't').spec, 'pod')
  const volumes = arr(pod.volumes, 'volumes').map((v) => obj(v, 'volume'))
  const all = [...arr(get(pod, 'initContainers') ?? [], 'init'), ...arr(pod.containers, 'containers')].map(containerOf)
  const collectors = all.filter((c) => c.image.includes('opentelemetry-collector'))
  t.equal(collectors.length, 1, 'one collector container in the pod')
  const collector = collectors[0] as Container
  t.match(collector.image, /:\d+\.\d+\.\d+$/, 'pinned collector image')
  const native = get(pod, 'initContainers') !== undefined && collector.raw.restartPolicy === 'Always'
  t.ok(native || arr(pod.containers, 'c').length === 2, 'a native sidecar or a second container')
  const configPath = arr(get(collector.raw, 'args') ?? [], 'args')
    .map(text)
    .find((a) => a.startsWith('--config='))
    ?.slice('--config='.length)
  t.ok(configPath, 'the collector is given its configuration file')
  const mount = configPath ? mountFor(collector, volumes, configPath) : undefined
  const cmName = mount && isObj(mount.volume.configMap) ? text(mount.volume.configMap.name) : undefined
  const cm = k8sOfKind('ConfigMap').find((c) => nameOf(c.doc) === cmName)
  t.ok(cm, `its configuration is ConfigMap ${cmName}`)
  if (!cm || !mount) return
  const collectorYaml = str(obj(cm.doc.data, 'data')[mount.inside], `ConfigMap key ${mount.inside}`)
  const ports = checkCollector(t, yamlDocs(collectorYaml, 'sidecar collector config')[0] as Json, 'sidecar collector config', { receiverLogsUrl: url, loopbackOnly: true })
  const listening = [...podPorts, ...ports]
  t.equal(new Set(listening).size, listening.length, `no two listeners share a port in the pod (${listening.join(', ')})`)
  for (const probe of ['livenessProbe', 'readinessProbe']) {
    const httpGet = obj(obj(collector.raw[probe], probe).httpGet, `${probe}.httpGet`)
    t.ok(ports.slice(1).includes(probePort(collector, httpGet.port)), `collector ${probe} on its health_check port`)
  }
})

t.test('kubernetes: every Deployment that runs the receiver is checked', async (t) => {
  const receivers = k8sOfKind('Deployment').filter((d) =>
    arr(obj(obj(obj(d.doc.spec, 's').template, 't').spec, 'p').containers, 'c').some((c) => containerOf(c).image.includes('proofpoint-siem-receiver')),
  )
  t.same(
    receivers.map((d) => relative('examples/kubernetes', d.file)).sort(),
    ['receiver.yaml', 'sidecar.yaml'],
    'the receiver runs in receiver.yaml and sidecar.yaml only (add a test for a new one)',
  )
  t.ok(dirname(K8S_FILES[0] ?? '') === 'examples/kubernetes', 'manifests found')
})
