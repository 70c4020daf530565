import { generateKeyPairSync } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { ConfigError } from '../../src/errors.js'
import { CONFIG_VARIABLES, describeConfig, formatDuration, loadConfig, mappingOptions, parseDuration, readSecretFile } from '../../src/config/index.js'
import { checkRequestBudget, sweepSpanFor } from '../../src/state/budget.js'
import type { LoadedConfig } from '../../src/config/index.js'
import type { MappingOptions } from '../../src/mapping/types.js'

const SECRET = 's3cr3t-SHOULD-NOT-LEAK'
const HEADER_SECRET = 'Bearer h3ader-SHOULD-NOT-LEAK'
const REQUIRED = { PROOFPOINT_PRINCIPAL: 'principal@example.com', PROOFPOINT_SECRET: SECRET }

type Env = Record<string, string | undefined>

/** The ConfigError `fn` throws (fails the test if it throws anything else or nothing). */
function configError(t: Test, fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) {
      t.equal(err.code, 'PSR_ERR_CONFIG_INVALID')
      return err
    }
    throw err
  }
  t.fail('expected a ConfigError')
  return new ConfigError([])
}

function problemsFor(t: Test, env: Env, opts: { configFile?: string; readFile?: (path: string) => string } = {}): readonly string[] {
  return configError(t, () => loadConfig({ env, ...opts })).problems
}

/** A readFile over in-memory files; anything else is ENOENT. */
function files(contents: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = contents[path]
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' })
    return text
  }
}

const named = (problems: readonly string[], name: string): string[] => problems.filter((p) => p.startsWith(`${name}:`))

t.test('durations: the accepted forms', (t) => {
  t.equal(parseDuration('1500ms'), 1500)
  t.equal(parseDuration('30s'), 30_000)
  t.equal(parseDuration('5m'), 300_000)
  t.equal(parseDuration('24h'), 86_400_000)
  t.equal(parseDuration('7d'), 604_800_000)
  t.equal(parseDuration('0s'), 0)
  t.equal(parseDuration(' 2m\n'), 120_000, 'surrounding whitespace is ignored')
  t.end()
})

t.test('durations: compound and decimal forms, exact to the millisecond', (t) => {
  t.equal(parseDuration('1m30s'), 90_000)
  t.equal(parseDuration('1.5m'), 90_000)
  t.equal(parseDuration('1h30m'), 5_400_000)
  t.equal(parseDuration('1.5h'), 5_400_000)
  t.equal(parseDuration('1d12h'), 129_600_000)
  t.equal(parseDuration('2m0.5s'), 120_500)
  t.equal(parseDuration('1s500ms'), 1500)
  t.equal(parseDuration('1.1h'), 3_960_000, 'no floating-point residue')
  t.equal(parseDuration('0.001s'), 1)
  t.end()
})

t.test('durations: everything else is refused', (t) => {
  for (const text of ['60', '60000', '5 minutes', '-5m', '+5m', '5M', '5 m', '1h 30m', '', 'm', '10w', '5sec', '9999999999999999d', '30s1m', '1m1m', '1m30', '.5m', '5.m', '1.5ms', '0.0001s', '1,5m', '1m-30s']) {
    t.equal(parseDuration(text), undefined, JSON.stringify(text))
  }
  t.end()
})

t.test('durations: formatted in the largest exact unit and read back', (t) => {
  t.equal(formatDuration(0), '0s')
  t.equal(formatDuration(1500), '1500ms')
  t.equal(formatDuration(90_000), '90s')
  t.equal(formatDuration(60_000), '1m')
  t.equal(formatDuration(3_600_000), '1h')
  t.equal(formatDuration(7 * 86_400_000), '7d')
  for (const ms of [0, 1, 999, 1000, 61_000, 5_400_000, 90_000_000, 604_800_000]) t.equal(parseDuration(formatDuration(ms)), ms)
  t.throws(() => formatDuration(-1), RangeError)
  t.throws(() => formatDuration(1.5), RangeError)
  t.end()
})

t.test('only the required settings: every default of the contract', (t) => {
  const { config, sources } = loadConfig({ env: { ...REQUIRED, UNRELATED: 'x' } })
  t.same(config, {
    proofpoint: {
      baseUrl: 'https://tap-api-v2.proofpoint.com',
      principal: 'principal@example.com',
      secret: SECRET,
      secretFile: undefined,
      eventTypes: ['messagesDelivered', 'messagesBlocked', 'clicksPermitted', 'clicksBlocked'],
      threatStatus: undefined,
      threatType: undefined,
      requestBudget: 1800,
      requestTimeoutMs: 60_000,
    },
    receiver: {
      pollIntervalMs: 60_000,
      startLookbackMs: 3_600_000,
      stateDir: './data',
      noEventsAlertAfterMs: 86_400_000,
      httpHost: '0.0.0.0',
      httpPort: 13380,
      logLevel: 'info',
      body: 'json',
      attributeShape: 'flat',
      indicators: true,
      standardFields: true,
      overlapMs: 1_800_000,
      retryMaxBackoffMs: 300_000,
      noEventsFailsReadiness: false,
      exportBatchSize: 128,
      exportConcurrency: 2,
      workers: 'auto',
      windowMaxEvents: 200_000,
      windowMaxBytes: 256 * 1024 * 1024,
    },
    otel: {
      logsEndpoint: 'http://localhost:4318/v1/logs',
      protocol: 'http/protobuf',
      headers: {},
      compression: 'none',
      timeoutMs: 10_000,
      serviceName: 'proofpoint-siem-receiver',
      resourceAttributes: {},
    },
  })
  t.notOk('tls' in config.otel, 'no TLS settings: no tls field')
  t.notOk('logRecordLimits' in config.otel, 'no limits: the SDK defaults')
  t.equal(sources.PROOFPOINT_PRINCIPAL, 'env')
  t.equal(sources.RECEIVER_POLL_INTERVAL, 'default')
  t.same(Object.keys(sources).sort(), [...CONFIG_VARIABLES].sort(), 'a source for every variable')
  t.end()
})

t.test('the schema knows every variable of the contract', (t) => {
  for (const name of [
    'PROOFPOINT_BASE_URL', 'PROOFPOINT_PRINCIPAL', 'PROOFPOINT_SECRET', 'PROOFPOINT_SECRET_FILE', 'PROOFPOINT_EVENT_TYPES',
    'PROOFPOINT_THREAT_STATUS', 'PROOFPOINT_THREAT_TYPE', 'PROOFPOINT_REQUEST_BUDGET', 'PROOFPOINT_REQUEST_TIMEOUT',
    'RECEIVER_CONFIG_FILE', 'RECEIVER_POLL_INTERVAL', 'RECEIVER_START_LOOKBACK', 'RECEIVER_STATE_DIR',
    'RECEIVER_NO_EVENTS_ALERT_AFTER', 'RECEIVER_HTTP_HOST', 'RECEIVER_HTTP_PORT', 'RECEIVER_LOG_LEVEL', 'RECEIVER_BODY',
    'RECEIVER_ATTRIBUTE_SHAPE', 'RECEIVER_OVERLAP', 'RECEIVER_RETRY_MAX_BACKOFF', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
    'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_COMPRESSION',
    'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES',
    'OTEL_EXPORTER_OTLP_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE', 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE',
    'OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE', 'OTEL_EXPORTER_OTLP_CLIENT_KEY', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY',
    'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT',
    'OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT',
  ]) {
    t.ok(CONFIG_VARIABLES.includes(name), name)
  }
  t.end()
})

t.test('every setting in every accepted form', (t) => {
  const { config } = loadConfig({
    env: {
      ...REQUIRED,
      PROOFPOINT_BASE_URL: 'https://tap.example.com/proxy/',
      PROOFPOINT_EVENT_TYPES: ' clicksBlocked, messagesDelivered,clicksBlocked ',
      PROOFPOINT_THREAT_STATUS: 'falsePositive,active',
      PROOFPOINT_THREAT_TYPE: 'messageText',
      PROOFPOINT_REQUEST_BUDGET: '3200',
      PROOFPOINT_REQUEST_TIMEOUT: '1500ms',
      RECEIVER_POLL_INTERVAL: '30s',
      RECEIVER_START_LOOKBACK: '7d',
      RECEIVER_STATE_DIR: '/var/lib/receiver',
      RECEIVER_NO_EVENTS_ALERT_AFTER: '2h',
      RECEIVER_HTTP_HOST: '127.0.0.1',
      RECEIVER_HTTP_PORT: '0',
      RECEIVER_LOG_LEVEL: 'silent',
      RECEIVER_BODY: 'none',
      RECEIVER_ATTRIBUTE_SHAPE: 'nested',
      RECEIVER_INDICATORS: 'false',
      RECEIVER_STANDARD_FIELDS: 'false',
      RECEIVER_OVERLAP: '0s',
      RECEIVER_NO_EVENTS_FAILS_READINESS: 'true',
      RECEIVER_EXPORT_BATCH_SIZE: '1000',
      RECEIVER_EXPORT_CONCURRENCY: '4',
      RECEIVER_WORKERS: ' 3 ',
      RECEIVER_WINDOW_MAX_EVENTS: '50000',
      RECEIVER_WINDOW_MAX_MB: '64',
      RECEIVER_RETRY_MAX_BACKOFF: '1s',
    },
  })
  t.equal(config.proofpoint.baseUrl, 'https://tap.example.com/proxy', 'trailing slash dropped: the client appends /v2/...')
  t.same(config.proofpoint.eventTypes, ['messagesDelivered', 'clicksBlocked'], 'API order, duplicates dropped')
  t.equal(config.proofpoint.threatStatus, 'active,falsePositive')
  t.equal(config.proofpoint.threatType, 'messageText')
  t.equal(config.proofpoint.requestBudget, 3200, '30s polling (1440 a day: at most one a minute) fits in 90 % of 3200')
  t.equal(config.proofpoint.requestTimeoutMs, 1500)
  t.same(config.receiver, {
    pollIntervalMs: 30_000,
    startLookbackMs: 7 * 86_400_000,
    stateDir: '/var/lib/receiver',
    noEventsAlertAfterMs: 7_200_000,
    httpHost: '127.0.0.1',
    httpPort: 0,
    logLevel: 'silent',
    body: 'none',
    attributeShape: 'nested',
    indicators: false,
    standardFields: false,
    overlapMs: 0,
    retryMaxBackoffMs: 1000,
    noEventsFailsReadiness: true,
    exportBatchSize: 1000,
    exportConcurrency: 4,
    workers: 3,
    windowMaxEvents: 50_000,
    windowMaxBytes: 64 * 1024 * 1024,
  })
  t.equal(loadConfig({ env: { ...REQUIRED, RECEIVER_OVERLAP: '59m' } }).config.receiver.overlapMs, 59 * 60_000, '59m is the largest overlap')
  t.end()
})

t.test('each invalid setting gives a problem naming that variable', (t) => {
  const cases: Array<[string, string]> = [
    ['PROOFPOINT_BASE_URL', 'not a url'],
    ['PROOFPOINT_BASE_URL', 'ftp://tap.example.com'],
    ['PROOFPOINT_BASE_URL', 'http://tap.example.com'],
    ['PROOFPOINT_BASE_URL', 'https://tap.example.com/?x=1'],
    ['PROOFPOINT_PRINCIPAL', '   '],
    ['PROOFPOINT_SECRET', ''],
    ['PROOFPOINT_EVENT_TYPES', 'messagesDelivered,clicks'],
    ['PROOFPOINT_EVENT_TYPES', 'all,clicksBlocked'],
    ['PROOFPOINT_EVENT_TYPES', 'messages,clicks'],
    ['PROOFPOINT_EVENT_TYPES', ' , '],
    ['PROOFPOINT_THREAT_STATUS', 'active,resolved'],
    ['PROOFPOINT_THREAT_STATUS', 'Active,Cleared'],
    ['PROOFPOINT_THREAT_TYPE', 'URL'],
    ['PROOFPOINT_THREAT_TYPE', 'url,attachment'],
    ['PROOFPOINT_REQUEST_BUDGET', '0'],
    ['PROOFPOINT_REQUEST_BUDGET', '-5'],
    ['PROOFPOINT_REQUEST_BUDGET', '1.5'],
    ['PROOFPOINT_REQUEST_BUDGET', '100abc'],
    ['PROOFPOINT_REQUEST_TIMEOUT', '0s'],
    ['PROOFPOINT_REQUEST_TIMEOUT', '60'],
    ['RECEIVER_POLL_INTERVAL', '5 minutes'],
    ['RECEIVER_POLL_INTERVAL', '60'],
    ['RECEIVER_POLL_INTERVAL', '29s'],
    ['RECEIVER_START_LOOKBACK', '8d'],
    ['RECEIVER_START_LOOKBACK', '0s'],
    ['RECEIVER_START_LOOKBACK', '1 hour'],
    ['RECEIVER_NO_EVENTS_ALERT_AFTER', '0m'],
    ['RECEIVER_NO_EVENTS_ALERT_AFTER', 'never'],
    ['RECEIVER_HTTP_HOST', '  '],
    ['RECEIVER_STATE_DIR', ' '],
    ['RECEIVER_HTTP_PORT', '65536'],
    ['RECEIVER_HTTP_PORT', 'http'],
    ['RECEIVER_HTTP_PORT', '80abc'],
    ['RECEIVER_LOG_LEVEL', 'verbose'],
    ['RECEIVER_BODY', 'xml'],
    ['RECEIVER_WORKERS', '-1'],
    ['RECEIVER_WORKERS', '65'],
    ['RECEIVER_WORKERS', '2.5'],
    ['RECEIVER_WORKERS', 'all'],
    ['RECEIVER_ATTRIBUTE_SHAPE', 'deep'],
    ['RECEIVER_OVERLAP', '60m'],
    ['RECEIVER_OVERLAP', '30'],
    ['RECEIVER_RETRY_MAX_BACKOFF', '999ms'],
    ['RECEIVER_RETRY_MAX_BACKOFF', '0s'],
    ['RECEIVER_RETRY_MAX_BACKOFF', '300'],
    ['RECEIVER_RETRY_MAX_BACKOFF', 'forever'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
    ['OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', 'grpc://collector:4317'],
    ['OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', 'https://user:pw@collector/v1/logs'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc+proto'],
    ['OTEL_EXPORTER_OTLP_INSECURE', 'yes'],
    ['OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', 'http'],
    ['OTEL_EXPORTER_OTLP_HEADERS', 'novalue'],
    ['OTEL_EXPORTER_OTLP_LOGS_HEADERS', 'x-bad%zz=1'],
    ['OTEL_EXPORTER_OTLP_LOGS_HEADERS', 'bad header=1'],
    ['OTEL_EXPORTER_OTLP_COMPRESSION', 'zstd'],
    ['OTEL_EXPORTER_OTLP_LOGS_COMPRESSION', 'GZIP'],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', '10s'],
    ['OTEL_EXPORTER_OTLP_LOGS_TIMEOUT', '0'],
    ['OTEL_RESOURCE_ATTRIBUTES', 'deployment.environment=prod,=x'],
    ['OTEL_EXPORTER_OTLP_CERTIFICATE', '/no/such/ca.pem'],
    ['OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE', '   '],
    ['OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', '0'],
    ['OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', '1k'],
    ['OTEL_ATTRIBUTE_COUNT_LIMIT', '-1'],
    ['OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT', '12.5'],
  ]
  for (const [name, value] of cases) {
    const problems = problemsFor(t, { ...REQUIRED, [name]: value })
    t.ok(problems.length > 0 && problems.every((p) => p.startsWith(`${name}:`)), `${name}=${JSON.stringify(value)}: ${problems.join(' | ')}`)
  }
  t.end()
})

t.test('problem texts say what to write instead', (t) => {
  const problems = problemsFor(t, { ...REQUIRED, RECEIVER_POLL_INTERVAL: '5 minutes', RECEIVER_OVERLAP: '60', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc/protobuf' })
  t.match(named(problems, 'RECEIVER_POLL_INTERVAL'), [/"5 minutes" is not a duration \(use a number and a unit \(ms, s, m, h, d\), e\.g\. 30s, 5m, 1\.5m, 1m30s, 24h, 7d\)/])
  t.match(named(problems, 'RECEIVER_OVERLAP'), [/"60" has no unit/])
  t.match(named(problems, 'OTEL_EXPORTER_OTLP_PROTOCOL'), [/"grpc\/protobuf" is not one of http\/protobuf, http\/json, grpc/])
  t.notMatch(problems.join('\n'), /value was/, "convict's own value suffix is not repeated")
  t.end()
})

t.test('several invalid settings are reported together', (t) => {
  const problems = problemsFor(t, {
    PROOFPOINT_BASE_URL: 'http://tap.example.com',
    RECEIVER_POLL_INTERVAL: '10s',
    RECEIVER_HTTP_PORT: 'x',
    RECEIVER_BODY: 'xml',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'br',
  })
  for (const name of ['PROOFPOINT_BASE_URL', 'RECEIVER_POLL_INTERVAL', 'RECEIVER_HTTP_PORT', 'RECEIVER_BODY', 'OTEL_EXPORTER_OTLP_COMPRESSION', 'PROOFPOINT_PRINCIPAL']) {
    t.equal(named(problems, name).length, 1, name)
  }
  t.ok(problems.some((p) => p.includes('PROOFPOINT_SECRET_FILE') && p.includes('required')), 'the missing secret too')
  t.equal(problems.length, 7)
  t.end()
})

t.test('PROOFPOINT_BASE_URL: https, or http to a loopback host only', (t) => {
  for (const url of ['http://127.0.0.1:8080', 'http://127.10.20.30', 'http://localhost:9999', 'http://[::1]:9999', 'https://tap.example.com']) {
    t.equal(loadConfig({ env: { ...REQUIRED, PROOFPOINT_BASE_URL: url } }).config.proofpoint.baseUrl, url, url)
  }
  for (const url of ['http://tap-api-v2.proofpoint.com', 'http://10.0.0.1', 'http://128.0.0.1', 'http://localhost.example.com', 'http://evil.localhost', 'http://[::2]']) {
    t.match(named(problemsFor(t, { ...REQUIRED, PROOFPOINT_BASE_URL: url }), 'PROOFPOINT_BASE_URL'), [/https/], url)
  }
  const [problem] = problemsFor(t, { ...REQUIRED, PROOFPOINT_BASE_URL: 'https://me:hunter2@tap.example.com' })
  t.match(problem, /PROOFPOINT_BASE_URL: .*PROOFPOINT_PRINCIPAL and PROOFPOINT_SECRET/)
  t.notMatch(problem, /hunter2/, 'a password in the URL is not echoed')
  t.end()
})

t.test('the principal is required and not empty', (t) => {
  t.match(named(problemsFor(t, { PROOFPOINT_SECRET: SECRET }), 'PROOFPOINT_PRINCIPAL'), [/required/])
  t.match(named(problemsFor(t, { ...REQUIRED, PROOFPOINT_PRINCIPAL: '' }), 'PROOFPOINT_PRINCIPAL'), [/empty/])
  t.equal(loadConfig({ env: { ...REQUIRED, PROOFPOINT_PRINCIPAL: ' p \n' } }).config.proofpoint.principal, 'p')
  t.end()
})

t.test('secret: exactly one of PROOFPOINT_SECRET and PROOFPOINT_SECRET_FILE', (t) => {
  const readFile = files({ '/run/secrets/tap': `${SECRET}\n` })
  const both = problemsFor(t, { ...REQUIRED, PROOFPOINT_SECRET_FILE: '/run/secrets/tap' }, { readFile })
  t.equal(both.length, 1)
  t.match(both[0], /PROOFPOINT_SECRET and PROOFPOINT_SECRET_FILE are both set/)
  // An env-file template's empty PROOFPOINT_SECRET= beside the file: said as that, not as "both".
  const emptyBeside = problemsFor(t, { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: '', PROOFPOINT_SECRET_FILE: '/run/secrets/tap' }, { readFile })
  t.match(emptyBeside, [/^PROOFPOINT_SECRET is set but empty while PROOFPOINT_SECRET_FILE gives the secret: remove PROOFPOINT_SECRET$/])
  const neither = problemsFor(t, { PROOFPOINT_PRINCIPAL: 'p' })
  t.equal(neither.length, 1)
  t.match(neither[0], /^PROOFPOINT_SECRET or PROOFPOINT_SECRET_FILE: required/)
  t.match(problemsFor(t, { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: ' \n' }), [/^PROOFPOINT_SECRET: must not be empty/])
  t.match(problemsFor(t, { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: '' }), [/^PROOFPOINT_SECRET_FILE: must not be empty/])
  t.end()
})

t.test('requireCredentials: false (map): missing credentials are no problem, given ones are still checked', (t) => {
  const { config } = loadConfig({ env: {}, requireCredentials: false })
  t.same([config.proofpoint.principal, config.proofpoint.secret, config.proofpoint.secretFile], ['', '', undefined])
  const problems = configError(t, () => loadConfig({ env: { PROOFPOINT_PRINCIPAL: '' }, requireCredentials: false })).problems
  t.match(problems, [/^PROOFPOINT_PRINCIPAL: must not be empty/])
  t.end()
})

t.test('secret file: read, surrounding whitespace and a byte-order mark removed, re-readable', (t) => {
  const dir = t.testdir({ secret: `\uFEFF  ${SECRET} \r\n\n`, bom: '\uFEFF\r\n' })
  const path = join(dir, 'secret')
  const { config, sources } = loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: path } })
  t.equal(config.proofpoint.secret, SECRET, 'sent with a BOM, a CR or a newline, the secret gets a 401')
  t.match(problemsFor(t, { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: join(dir, 'bom') }), [/^PROOFPOINT_SECRET_FILE: ".*bom" is empty$/], 'a BOM alone is empty')
  t.equal(loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: ` ${SECRET}\r\n` } }).config.proofpoint.secret, SECRET, 'PROOFPOINT_SECRET likewise')
  t.equal(config.proofpoint.secretFile, path, 'kept so the poller can read it again')
  t.equal(sources.PROOFPOINT_SECRET_FILE, 'env')
  t.equal(sources.PROOFPOINT_SECRET, 'default')
  writeFileSync(path, 'rotated\n')
  t.equal(readSecretFile(path), 'rotated', 'a rotated secret is picked up')
  t.equal(readSecretFile('/s', files({ '/s': 'x\n' })), 'x', 'readFile is injectable')
  t.end()
})

t.test('secret file: missing or empty is a problem naming PROOFPOINT_SECRET_FILE', (t) => {
  const dir = t.testdir({ empty: '\n  \n' })
  const missing = problemsFor(t, { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: join(dir, 'nope') })
  t.match(missing, [/^PROOFPOINT_SECRET_FILE: cannot read ".*nope" \(ENOENT\)/])
  const empty = problemsFor(t, { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: join(dir, 'empty') })
  t.match(empty, [/^PROOFPOINT_SECRET_FILE: ".*empty" is empty/])
  const err = configError(t, () => readSecretFile(join(dir, 'nope')))
  t.match(err.problems, [/^PROOFPOINT_SECRET_FILE: cannot read/])
  const odd = configError(t, () =>
    readSecretFile('/s', () => {
      throw new Error('device busy')
    }),
  )
  t.match(odd.problems, [/\(device busy\)/], 'a reason without a code is passed on')
  t.end()
})

t.test('config file: JSON, the environment wins', (t) => {
  const dir = t.testdir({
    'receiver.json': JSON.stringify({
      PROOFPOINT_PRINCIPAL: 'from-file',
      PROOFPOINT_SECRET: SECRET,
      RECEIVER_POLL_INTERVAL: '2m',
      RECEIVER_HTTP_PORT: 8080,
      RECEIVER_OVERLAP: '10m',
      PROOFPOINT_EVENT_TYPES: ['clicksPermitted', 'clicksBlocked'],
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      PROOFPOINT_THREAT_TYPE: null,
    }),
  })
  const file = join(dir, 'receiver.json')
  const loaded = loadConfig({ env: { RECEIVER_OVERLAP: '5m', RECEIVER_CONFIG_FILE: file } })
  t.equal(loaded.config.proofpoint.principal, 'from-file')
  t.equal(loaded.config.proofpoint.secret, SECRET)
  t.equal(loaded.config.receiver.pollIntervalMs, 120_000)
  t.equal(loaded.config.receiver.httpPort, 8080, 'numbers are accepted in files')
  t.same(loaded.config.proofpoint.eventTypes, ['clicksPermitted', 'clicksBlocked'], 'lists are accepted in files')
  t.equal(loaded.config.receiver.overlapMs, 300_000, 'the environment wins over the file')
  t.equal(loaded.config.proofpoint.threatType, undefined, 'null means unset')
  t.equal(loaded.config.otel.logsEndpoint, 'http://collector:4318/v1/logs', 'OTEL_* settings may be in the file')
  t.equal(loaded.configFile, file)
  t.same(
    [loaded.sources.PROOFPOINT_PRINCIPAL, loaded.sources.RECEIVER_OVERLAP, loaded.sources.RECEIVER_BODY, loaded.sources.RECEIVER_CONFIG_FILE],
    ['file', 'env', 'default', 'env'],
  )
  t.end()
})

t.test('config file: YAML (.yaml and .yml), --config wins over RECEIVER_CONFIG_FILE', (t) => {
  const yaml = [
    'PROOFPOINT_PRINCIPAL: yaml-principal',
    `PROOFPOINT_SECRET: "${SECRET}"`,
    'RECEIVER_START_LOOKBACK: 24h',
    'RECEIVER_LOG_LEVEL: debug',
    'PROOFPOINT_EVENT_TYPES:',
    '  - messagesBlocked',
    'OTEL_RESOURCE_ATTRIBUTES: deployment.environment=prod',
    '',
  ].join('\n')
  const dir = t.testdir({ 'a.yaml': yaml, 'b.yml': yaml.replace('debug', 'warn') })
  const viaArg = loadConfig({ env: { RECEIVER_CONFIG_FILE: join(dir, 'a.yaml') }, configFile: join(dir, 'b.yml') })
  t.equal(viaArg.config.receiver.logLevel, 'warn', '--config is the file read')
  t.equal(viaArg.sources.RECEIVER_CONFIG_FILE, 'arg')
  const viaEnv = loadConfig({ env: { RECEIVER_CONFIG_FILE: join(dir, 'a.yaml'), RECEIVER_LOG_LEVEL: 'error' } })
  t.equal(viaEnv.config.proofpoint.principal, 'yaml-principal')
  t.equal(viaEnv.config.receiver.startLookbackMs, 86_400_000)
  t.same(viaEnv.config.proofpoint.eventTypes, ['messagesBlocked'])
  t.same(viaEnv.config.otel.resourceAttributes, { 'deployment.environment': 'prod' })
  t.equal(viaEnv.config.receiver.logLevel, 'error', 'the environment wins')
  t.end()
})

t.test('config file: an invalid value says it came from the file', (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ ...REQUIRED, RECEIVER_POLL_INTERVAL: 60 }) })
  const problems = problemsFor(t, {}, { configFile: join(dir, 'c.json') })
  t.match(problems, [/^RECEIVER_POLL_INTERVAL: "60" has no unit.*\(set in ".*c\.json"\)$/])
  t.end()
})

t.test('config file: unknown keys are errors naming the key', (t) => {
  const dir = t.testdir({
    'c.yaml': `PROOFPOINT_PRINCIPAL: p\nPROOFPOINT_SECRET: x\nRECEIVER_POLL_INTERVALL: 2m\nsomething_else: 1\nRECEIVER_CONFIG_FILE: other.yaml\n`,
  })
  const problems = problemsFor(t, {}, { configFile: join(dir, 'c.yaml') })
  t.equal(problems.length, 3)
  t.match(problems[0], /^--config: ".*c\.yaml" has an unknown setting "RECEIVER_POLL_INTERVALL" \(did you mean RECEIVER_POLL_INTERVAL\?\)/)
  t.match(problems[1], /unknown setting "something_else"/)
  t.match(problems[2], /RECEIVER_CONFIG_FILE, which only the environment can set/)
  const proxies = problemsFor(t, {}, { readFile: files({ 'p.json': `{"PROOFPOINT_PRINCIPAL":"p","PROOFPOINT_SECRET":"x","HTTPS_PROXY":"http://proxy:3128","no_proxy":"*"}` }), configFile: 'p.json' })
  t.match(proxies, [/sets HTTPS_PROXY, which is read from the environment only/, /sets no_proxy, which is read from the environment only/], 'the proxy variables: said to belong in the environment')
  const lower = problemsFor(t, {}, { readFile: files({ 'x.json': '{"receiver_body":"map"}' }), configFile: 'x.json' })
  t.match(lower, [/did you mean RECEIVER_BODY\?/])
  t.end()
})

t.test('config file: missing, unreadable, unparseable or of the wrong shape', (t) => {
  const dir = t.testdir({
    'bad.json': `{"PROOFPOINT_SECRET": "${SECRET}",\n  "RECEIVER_BODY": json}`,
    'comma.json': `{"PROOFPOINT_SECRET": "${SECRET}",\n}`,
    'bad.yaml': `PROOFPOINT_SECRET: ${SECRET}\nPROOFPOINT_SECRET: again\n`,
    'list.yaml': '- a\n- b\n',
    'nested.json': JSON.stringify({ ...REQUIRED, RECEIVER_BODY: { mode: 'json' } }),
    'empty.yaml': '',
    'c.toml': 'x = 1',
  })
  const cases: Array<[string, RegExp]> = [
    ['missing.json', /^RECEIVER_CONFIG_FILE: cannot read ".*missing\.json" \(ENOENT\)/],
    ['bad.json', /^RECEIVER_CONFIG_FILE: ".*bad\.json" is not valid JSON/],
    ['comma.json', /^RECEIVER_CONFIG_FILE: ".*comma\.json" is not valid JSON at line 2, column 1$/],
    ['bad.yaml', /^RECEIVER_CONFIG_FILE: ".*bad\.yaml" is not valid YAML \(DUPLICATE_KEY at line 2, column 1\)$/],
    ['list.yaml', /must hold a mapping/],
    ['c.toml', /neither JSON nor YAML/],
  ]
  for (const [name, expected] of cases) {
    const problems = problemsFor(t, { RECEIVER_CONFIG_FILE: join(dir, name) })
    t.match(problems, [expected], name)
    t.equal(problems.length, 1, `${name}: settings that may be in the file are not reported missing`)
    t.notMatch(problems.join('\n'), SECRET, `${name}: the file's text is not quoted`)
  }
  t.match(problemsFor(t, {}, { configFile: join(dir, 'nested.json') }), [/^RECEIVER_BODY: in ".*nested\.json" must be a string/])
  t.match(problemsFor(t, {}, { configFile: join(dir, 'empty.yaml') }), [/PROOFPOINT_PRINCIPAL: required/], 'an empty file is an empty mapping')
  t.match(problemsFor(t, { ...REQUIRED, RECEIVER_BODY: 'xml' }, { configFile: join(dir, 'missing.yaml') }), [/^--config: cannot read/, /^RECEIVER_BODY/])
  t.end()
})

t.test('config file: a string setting takes a string, never a list or a mapping (the secret as a list was joined and accepted)', (t) => {
  const cases: Array<[string, string]> = [
    ['list.json', JSON.stringify({ PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: [SECRET, 'b'] })],
    ['list.yaml', `PROOFPOINT_PRINCIPAL: p\nPROOFPOINT_SECRET:\n  - ${SECRET}\n  - b\n`],
    ['flow.yaml', `PROOFPOINT_PRINCIPAL: p\nPROOFPOINT_SECRET: [${SECRET}]\n`],
  ]
  for (const [name, text] of cases) {
    const problems = problemsFor(t, {}, { configFile: name, readFile: files({ [name]: text }) })
    t.same(problems, [`PROOFPOINT_SECRET: in "${name}" must be a string, not a list`], `${name}: refused, naming the setting`)
    t.notMatch(problems.join('\n'), SECRET, `${name}: the value is not echoed`)
  }
  const mapping = problemsFor(t, {}, { configFile: 'm.yaml', readFile: files({ 'm.yaml': `PROOFPOINT_PRINCIPAL: p\nPROOFPOINT_SECRET:\n  value: ${SECRET}\n` }) })
  t.same(mapping, ['PROOFPOINT_SECRET: in "m.yaml" must be a string, not a mapping'])
  // YAML reads an unquoted 0123456789 as the number 123456789: the secret would silently change.
  const digits = problemsFor(t, {}, { configFile: 'n.yaml', readFile: files({ 'n.yaml': 'PROOFPOINT_PRINCIPAL: p\nPROOFPOINT_SECRET: 0123456789\n' }) })
  t.match(digits, [/^PROOFPOINT_SECRET: in "n\.yaml" must be a string, not a number: put the value in quotes/])
  t.notMatch(digits.join('\n'), /123456789/)
  t.equal(loadConfig({ env: {}, configFile: 'q.yaml', readFile: files({ 'q.yaml': 'PROOFPOINT_PRINCIPAL: p\nPROOFPOINT_SECRET: "0123456789"\n' }) }).config.proofpoint.secret, '0123456789', 'quoted, it is the string')
  t.end()
})

t.test('config file: every setting takes what its environment text means, and nothing else', (t) => {
  const LISTS = ['PROOFPOINT_EVENT_TYPES', 'PROOFPOINT_THREAT_STATUS', 'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_LOGS_HEADERS', 'OTEL_RESOURCE_ATTRIBUTES']
  const NUMBERS = [
    'PROOFPOINT_REQUEST_BUDGET', 'PROOFPOINT_REQUEST_TIMEOUT', 'RECEIVER_POLL_INTERVAL', 'RECEIVER_START_LOOKBACK', 'RECEIVER_NO_EVENTS_ALERT_AFTER',
    'RECEIVER_HTTP_PORT', 'RECEIVER_OVERLAP', 'RECEIVER_RETRY_MAX_BACKOFF', 'RECEIVER_EXPORT_BATCH_SIZE', 'RECEIVER_EXPORT_CONCURRENCY', 'RECEIVER_WORKERS',
    'RECEIVER_WINDOW_MAX_EVENTS', 'RECEIVER_WINDOW_MAX_MB', 'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT',
    'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT',
  ]
  const BOOLEANS = ['RECEIVER_NO_EVENTS_FAILS_READINESS', 'RECEIVER_INDICATORS', 'RECEIVER_STANDARD_FIELDS', 'OTEL_EXPORTER_OTLP_INSECURE', 'OTEL_EXPORTER_OTLP_LOGS_INSECURE']
  const fileProblems = (name: string, value: unknown): string[] =>
    named(problemsFor(t, REQUIRED, { configFile: 'c.json', readFile: files({ 'c.json': JSON.stringify({ [name]: value }) }) }), name)
  const strings = CONFIG_VARIABLES.filter((n) => n !== 'RECEIVER_CONFIG_FILE' && ![...LISTS, ...NUMBERS, ...BOOLEANS].includes(n))
  t.ok(strings.includes('PROOFPOINT_SECRET') && strings.includes('OTEL_EXPORTER_OTLP_ENDPOINT') && strings.length > 20)
  for (const name of strings) {
    t.same(fileProblems(name, ['a', 'b']), [`${name}: in "c.json" must be a string, not a list`], `${name}: a list`)
    t.same(fileProblems(name, { a: 'b' }), [`${name}: in "c.json" must be a string, not a mapping`], `${name}: a mapping`)
    t.match(fileProblems(name, 42), [new RegExp(`^${name}: in "c\\.json" must be a string, not a number: put the value in quotes`)], `${name}: a number`)
  }
  for (const name of LISTS) t.same(fileProblems(name, { a: 'b' }), [`${name}: in "c.json" must be a string or a list of strings, not a mapping`], `${name}: a mapping`)
  t.same(fileProblems('PROOFPOINT_EVENT_TYPES', ['clicksBlocked', 1]), ['PROOFPOINT_EVENT_TYPES: in "c.json" must be a string or a list of strings, not a list holding other values'])
  for (const name of NUMBERS) t.same(fileProblems(name, [1]), [`${name}: in "c.json" must be a number or a string, not a list`], `${name}: a list`)
  t.same(fileProblems('RECEIVER_NO_EVENTS_FAILS_READINESS', ['true']), ['RECEIVER_NO_EVENTS_FAILS_READINESS: in "c.json" must be true or false, not a list'])

  // What each kind does take.
  const loaded = loadConfig({
    env: REQUIRED,
    configFile: 'ok.json',
    readFile: files({
      'ok.json': JSON.stringify({
        OTEL_EXPORTER_OTLP_HEADERS: ['api-key=k1', 'x-tenant=acme'],
        OTEL_RESOURCE_ATTRIBUTES: ['deployment.environment=prod'],
        PROOFPOINT_THREAT_STATUS: ['active', 'cleared'],
        RECEIVER_HTTP_PORT: 9000,
        OTEL_EXPORTER_OTLP_TIMEOUT: 5000,
        RECEIVER_NO_EVENTS_FAILS_READINESS: true,
        RECEIVER_STATE_DIR: '/data',
        RECEIVER_WORKERS: 0,
      }),
    }),
  })
  t.same(loaded.config.otel.headers, { 'api-key': 'k1', 'x-tenant': 'acme' })
  t.same(loaded.config.otel.resourceAttributes, { 'deployment.environment': 'prod' })
  t.equal(loaded.config.proofpoint.threatStatus, 'active,cleared')
  t.equal(loaded.config.receiver.httpPort, 9000)
  t.equal(loaded.config.otel.timeoutMs, 5000)
  t.equal(loaded.config.receiver.noEventsFailsReadiness, true)
  t.equal(loaded.config.receiver.stateDir, '/data')
  t.equal(loaded.config.receiver.workers, 0, 'a number, and 0 is not unset')
  t.end()
})

t.test('URL settings: a value that does not parse is described, not echoed, when it may hold credentials', (t) => {
  const LEAKS = /alice|p\/ss|p\?ss|SHOULD-NOT-LEAK/
  for (const name of ['PROOFPOINT_BASE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT']) {
    const cases: Array<[string, RegExp]> = [
      ['https://alice:p/ss@tap.example.com', /it holds an @ the URL parser cannot place: a user name or password does not belong in the URL/],
      ['https://alice:p?ss@tap.example.com', /it holds an @/],
      ['https://tap example.com/?token=tok-SHOULD-NOT-LEAK', /it contains whitespace/],
      ['https://tap.example.com:99999/?token=tok-SHOULD-NOT-LEAK', /its port is not a number from 0 to 65535/],
      ['mailto:alice@example.com', /is not an http or https URL: start it with https:\/\//],
    ]
    for (const [value, why] of cases) {
      const problems = named(problemsFor(t, { ...REQUIRED, [name]: value }), name)
      t.equal(problems.length, 1, `${name}=${value}: one problem`)
      t.match(problems[0], new RegExp(`^${name}: the value \\(not shown: it may hold credentials\\) is not `), `${name}: names the setting`)
      t.match(problems[0], why, `${name}: says what is wrong`)
      t.notMatch(problems[0], LEAKS, `${name}: not echoed`)
    }
    // From a file too; and a value without @ or query is still quoted, to help find the typo.
    const fromFile = problemsFor(t, REQUIRED, { configFile: 'u.yaml', readFile: files({ 'u.yaml': `${name}: "https://alice:p/ss@tap.example.com"\n` }) })
    t.match(fromFile, [new RegExp(`^${name}: the value \\(not shown.*\\(set in "u\\.yaml"\\)$`)])
    t.notMatch(fromFile.join('\n'), LEAKS)
    t.match(named(problemsFor(t, { ...REQUIRED, [name]: 'https://tap example.com' }), name), [/^\S+: "https:\/\/tap example\.com" is not a URL: it contains whitespace/])
    t.match(named(problemsFor(t, { ...REQUIRED, [name]: 'https://[::1' }), name), [/^\S+: "https:\/\/\[::1" is not a URL: its IPv6 address has no closing \]/])
  }
  t.end()
})

t.test('URL settings: a valid URL is shown with its user info and query values redacted, in problems and check-config', (t) => {
  const TOKEN = 'tok-SHOULD-NOT-LEAK'
  // Problems that quote a URL that parses.
  t.match(problemsFor(t, { ...REQUIRED, PROOFPOINT_BASE_URL: `https://tap.example.com/?token=${TOKEN}&tenant=acme` }), [
    /^PROOFPOINT_BASE_URL: "https:\/\/tap\.example\.com\/\?token=\[redacted\]&tenant=\[redacted\]" must not have a query or fragment$/,
  ])
  t.match(problemsFor(t, { ...REQUIRED, PROOFPOINT_BASE_URL: `http://tap.example.com/?${TOKEN}` }), [/^PROOFPOINT_BASE_URL: "http:\/\/tap\.example\.com\/\?\[redacted\]" uses http:/])
  t.match(problemsFor(t, { ...REQUIRED, PROOFPOINT_BASE_URL: `https://alice:p@${TOKEN}@tap.example.com` }), [
    /^PROOFPOINT_BASE_URL: "https:\/\/\[redacted\]@tap\.example\.com" must not carry a user name or password/,
  ])
  t.match(problemsFor(t, { ...REQUIRED, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `https://alice:${TOKEN}@collector:4318/v1/logs?k=${TOKEN}` }), [
    /^OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: "https:\/\/\[redacted\]@collector:4318\/v1\/logs\?k=\[redacted\]" must not carry a user name or password/,
  ])
  // check-config's rows: the endpoint's query (an API key, say) is redacted; the exporter still uses the whole URL.
  const endpoint = `https://collector.example.com:4318/v1/logs?api_key=${TOKEN}&tenant=acme&flag`
  const loaded = loadConfig({ env: { ...REQUIRED, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: endpoint } })
  t.equal(loaded.config.otel.logsEndpoint, endpoint)
  const rows = describeConfig(loaded)
  t.same(rows.find((r) => r.name === 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT'), {
    name: 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT',
    value: 'https://collector.example.com:4318/v1/logs?api_key=[redacted]&tenant=[redacted]&[redacted]',
    source: 'env',
  })
  t.notMatch(JSON.stringify(rows), TOKEN)
  t.end()
})

t.test('URL settings: written without // after the scheme (the URL parser reads http:/u:p@host as http://u:p@host), or with user info that is not percent-encoding: refused, never echoed', (t) => {
  const LEAKS = /PXPASS|QTOKEN|pa%ZZss/
  const settings = ['PROOFPOINT_BASE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', 'PROOFPOINT_PROXY_URL', 'HTTPS_PROXY', 'http_proxy']
  for (const name of settings) {
    for (const value of ['http:/puser:PXPASS77@127.0.0.1:13128', 'https:puser:PXPASS77@proxy.example', 'https:\\\\proxy.example/?token=QTOKEN12', 'https:/127.0.0.1:14318/v1/logs?token=QTOKEN12']) {
      const problems = named(problemsFor(t, { ...REQUIRED, [name]: value }), name)
      t.match(problems, [/is not written as https?:\/\/host: the two slashes after the scheme are missing or are backslashes/], `${name}=${value}`)
      t.notMatch(problems.join('\n'), LEAKS, `${name}: not echoed`)
    }
    const bad = named(problemsFor(t, { ...REQUIRED, [name]: 'https://puser:pa%ZZss@proxy.example:3128' }), name)
    t.match(bad, [/the user name or password in the value \(not shown: it may hold credentials\) is not valid percent-encoding \(write a literal % as %25\)/], `${name}: bad %-escape`)
    t.notMatch(bad.join('\n'), LEAKS)
  }
  t.end()
})

t.test('OTLP endpoint: logs-specific as-is, else the base plus /v1/logs, else localhost', (t) => {
  const endpoint = (env: Env): string => loadConfig({ env: { ...REQUIRED, ...env } }).config.otel.logsEndpoint
  t.equal(endpoint({}), 'http://localhost:4318/v1/logs')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318' }), 'https://collector:4318/v1/logs')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318/' }), 'https://collector:4318/v1/logs')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://gw.example.com/otlp/' }), 'https://gw.example.com/otlp/v1/logs')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://gw.example.com/otlp?tenant=acme' }), 'https://gw.example.com/otlp/v1/logs?tenant=acme', 'the path goes before a query')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318?token=x' }), 'http://c:4318/v1/logs?token=x')
  t.equal(
    endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://fluent-bit:4318/custom' }),
    'http://fluent-bit:4318/custom',
  )
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: '', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), 'http://c:4318/v1/logs', 'empty = unset')
  t.equal(
    endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'nonsense', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://ok:4318/v1/logs' }),
    'http://ok:4318/v1/logs',
    'an overridden general endpoint is not used, so not an error',
  )
  t.end()
})

t.test('OTLP protocol: logs-specific, then general, default http/protobuf; grpc', (t) => {
  const protocol = (env: Env): string => loadConfig({ env: { ...REQUIRED, ...env } }).config.otel.protocol
  t.equal(protocol({}), 'http/protobuf')
  t.equal(protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), 'http/json')
  t.equal(protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/protobuf' }), 'http/protobuf')
  t.equal(protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/json' }), 'http/json', 'grpc for other signals is fine')
  t.equal(protocol({ OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'grpc' }), 'grpc')
  t.match(problemsFor(t, { ...REQUIRED, OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'GRPC' }), [/^OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: "GRPC" is not one of http\/protobuf, http\/json, grpc/])
  t.end()
})

t.test('OTLP/gRPC endpoint: scheme://host:port, no /v1/logs; host:port with OTEL_EXPORTER_OTLP_INSECURE; a path is refused', (t) => {
  const grpc = { ...REQUIRED, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }
  const endpoint = (env: Env): string => loadConfig({ env: { ...grpc, ...env } }).config.otel.logsEndpoint
  t.equal(endpoint({}), 'http://localhost:4317', 'the specification default for grpc')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.obs:4317' }), 'https://collector.obs:4317', 'the general endpoint gets no /v1/logs')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317/' }), 'http://collector:4317')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://logs:4317', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://all:4317' }), 'http://logs:4317')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' }), 'https://collector:4317', 'no scheme: TLS unless insecure')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317', OTEL_EXPORTER_OTLP_INSECURE: 'true' }), 'http://collector:4317')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'collector:4317', OTEL_EXPORTER_OTLP_INSECURE: 'false', OTEL_EXPORTER_OTLP_LOGS_INSECURE: 'TRUE' }), 'http://collector:4317', 'the logs variable wins')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4317', OTEL_EXPORTER_OTLP_INSECURE: 'true' }), 'https://collector:4317', 'a scheme decides')
  t.match(problemsFor(t, { ...grpc, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317/v1/logs' }), [/^OTEL_EXPORTER_OTLP_ENDPOINT: "http:\/\/collector:4317\/v1\/logs" has a path or query: an OTLP\/gRPC endpoint is scheme:\/\/host:port/])
  t.match(problemsFor(t, { ...grpc, OTEL_EXPORTER_OTLP_INSECURE: 'yes' }), [/^OTEL_EXPORTER_OTLP_INSECURE: "yes" is not true or false/])
  t.match(problemsFor(t, { ...grpc, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://u:pw@collector:4317' }), [/must not carry a user name or password/])
  t.match(problemsFor(t, { ...grpc, OTEL_EXPORTER_OTLP_HEADERS: 'x-token-bin=abc' }), [/^OTEL_EXPORTER_OTLP_HEADERS: "x-token-bin": gRPC sends keys ending in -bin as binary/])
  t.match(problemsFor(t, { ...grpc, OTEL_EXPORTER_OTLP_HEADERS: 'x-token=caf%C3%A9' }), [/^OTEL_EXPORTER_OTLP_HEADERS: the value of "x-token" has characters gRPC metadata cannot carry/])
  t.same(loadConfig({ env: { ...grpc, OTEL_EXPORTER_OTLP_HEADERS: 'x-token-bin=abc', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' } }).config.otel.headers, { 'x-token-bin': 'abc' }, 'fine over HTTP')
  const proxied = problemsFor(t, { ...grpc, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', http_proxy: 'https://user:pw@proxy:3128' })
  t.match(proxied, [/^http_proxy: the OTLP\/gRPC export tunnels through http:\/\/ proxies only/])
  t.notMatch(proxied.join('\n'), /pw/)
  t.end()
})

t.test('OTLP headers: both variables, percent-decoded, logs-specific wins per key', (t) => {
  const { config } = loadConfig({
    env: {
      ...REQUIRED,
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Basic%20abc%3D%3D, X-Tenant = acme ,,x-scope=general',
      OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-scope=logs,x-extra=a%2Cb%3Dc',
    },
  })
  t.same(config.otel.headers, { authorization: 'Basic abc==', 'x-tenant': 'acme', 'x-scope': 'logs', 'x-extra': 'a,b=c' })
  t.same(loadConfig({ env: { ...REQUIRED, OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'k=v' } }).config.otel.headers, { k: 'v' })
  t.end()
})

t.test('OTLP compression and timeout', (t) => {
  const otel = (env: Env): LoadedConfig['config']['otel'] => loadConfig({ env: { ...REQUIRED, ...env } }).config.otel
  t.equal(otel({ OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' }).compression, 'gzip')
  t.equal(otel({ OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: 'none' }).compression, 'none')
  t.equal(otel({ OTEL_EXPORTER_OTLP_TIMEOUT: '2500' }).timeoutMs, 2500, 'milliseconds, as the specification says')
  t.equal(otel({ OTEL_EXPORTER_OTLP_TIMEOUT: '2500', OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: '30000' }).timeoutMs, 30_000)
  t.match(problemsFor(t, { ...REQUIRED, OTEL_EXPORTER_OTLP_TIMEOUT: '10s' }), [/^OTEL_EXPORTER_OTLP_TIMEOUT: "10s" is not a positive whole number of milliseconds/])
  // Past setTimeout's 2^31 - 1 ms, Node fires the timer after 1 ms: every export would time out at once.
  t.equal(otel({ OTEL_EXPORTER_OTLP_TIMEOUT: String(24 * 24 * 3600 * 1000) }).timeoutMs, 24 * 24 * 3600 * 1000, '24 days is the most')
  t.match(problemsFor(t, { ...REQUIRED, OTEL_EXPORTER_OTLP_TIMEOUT: '99999999999999' }), [/^OTEL_EXPORTER_OTLP_TIMEOUT: "99999999999999" is more than 2073600000 ms \(24d\): Node's timers cannot wait longer/])
  t.end()
})

t.test('durations that become timers: at most 24d (setTimeout fires after 1 ms beyond ~24.8 days)', (t) => {
  for (const name of ['RECEIVER_POLL_INTERVAL', 'RECEIVER_RETRY_MAX_BACKOFF', 'PROOFPOINT_REQUEST_TIMEOUT']) {
    t.match(named(problemsFor(t, { ...REQUIRED, [name]: '30d' }), name), [new RegExp(`^${name}: 30d is more than 24d: Node's timers cannot wait longer than about 24\\.8 days$`)], name)
    t.doesNotThrow(() => loadConfig({ env: { ...REQUIRED, [name]: '24d' } }), `${name}=24d is accepted`)
  }
  t.equal(loadConfig({ env: { ...REQUIRED, RECEIVER_POLL_INTERVAL: '24d' } }).config.receiver.pollIntervalMs, 24 * 24 * 3600 * 1000)
  t.equal(loadConfig({ env: { ...REQUIRED, RECEIVER_NO_EVENTS_ALERT_AFTER: '30d' } }).config.receiver.noEventsAlertAfterMs, 30 * 24 * 3600 * 1000, 'a threshold, not a timer')
  t.end()
})

t.test('OTLP/HTTP header values: what Node can send, checked at start (it threw at the first export)', (t) => {
  for (const value of ['SECRETKEY%0D%0AX-Evil:1', 'a%00b', 'price%E2%82%AC']) {
    const problems = problemsFor(t, { ...REQUIRED, OTEL_EXPORTER_OTLP_HEADERS: `api-key=${value}` })
    t.match(problems, [/^OTEL_EXPORTER_OTLP_HEADERS: the value of "api-key" has characters an HTTP header cannot carry once percent-decoded/], value)
    t.notMatch(problems.join('\n'), /SECRETKEY|Evil|price/, 'the value is not quoted')
  }
  t.match(problemsFor(t, { ...REQUIRED, OTEL_EXPORTER_OTLP_HEADERS: 'a=ok', OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'b=%0A' }), [/^OTEL_EXPORTER_OTLP_LOGS_HEADERS: the value of "b"/], 'names the variable that holds it')
  const ok = loadConfig({ env: { ...REQUIRED, OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20x%09y,x-note=na%C3%AFve' } })
  t.same(ok.config.otel.headers, { authorization: 'Bearer x\ty', 'x-note': 'naïve' }, 'a tab and Latin-1 are fine')
  t.end()
})

t.test('service name and resource attributes', (t) => {
  const otel = (env: Env): LoadedConfig['config']['otel'] => loadConfig({ env: { ...REQUIRED, ...env } }).config.otel
  const attrs = 'service.name=from-attrs,deployment.environment=prod%2Ceu,team=sec%3Dops'
  t.same(otel({ OTEL_RESOURCE_ATTRIBUTES: attrs }).resourceAttributes, {
    'service.name': 'from-attrs',
    'deployment.environment': 'prod,eu',
    team: 'sec=ops',
  })
  t.equal(otel({ OTEL_RESOURCE_ATTRIBUTES: attrs }).serviceName, 'from-attrs')
  t.equal(otel({ OTEL_RESOURCE_ATTRIBUTES: attrs, OTEL_SERVICE_NAME: 'svc' }).serviceName, 'svc', 'OTEL_SERVICE_NAME wins')
  t.equal(otel({ OTEL_SERVICE_NAME: '' }).serviceName, 'proofpoint-siem-receiver')
  t.match(problemsFor(t, { ...REQUIRED, OTEL_RESOURCE_ATTRIBUTES: 'a=%E0%A4%A' }), [/^OTEL_RESOURCE_ATTRIBUTES: entry 1 is not valid percent-encoding/])
  t.end()
})

t.test('the secret and header values never appear in errors', (t) => {
  const env = {
    PROOFPOINT_PRINCIPAL: '',
    PROOFPOINT_SECRET: SECRET,
    PROOFPOINT_SECRET_FILE: '/nope',
    RECEIVER_POLL_INTERVAL: '5 minutes',
    RECEIVER_BODY: 'xml',
    OTEL_EXPORTER_OTLP_HEADERS: `Authorization ${HEADER_SECRET}`,
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: `${HEADER_SECRET}=1,authorization=${encodeURIComponent(HEADER_SECRET)}%`,
  }
  const err = configError(t, () => loadConfig({ env }))
  t.ok(err.problems.length >= 5)
  t.notMatch(err.message, /SHOULD-NOT-LEAK/)
  t.notMatch(JSON.stringify(err), /SHOULD-NOT-LEAK/)
  t.notMatch(String(err.stack), /SHOULD-NOT-LEAK/)
  // only the secret is wrong here (empty principal aside): still no echo
  const only = configError(t, () => loadConfig({ env: { PROOFPOINT_SECRET: SECRET, RECEIVER_LOG_LEVEL: 'loud' } }))
  t.notMatch(only.message, SECRET)
  t.end()
})

t.test('describeConfig: every variable once, sources, secrets and header values redacted', (t) => {
  const dir = t.testdir({ 'c.yaml': 'RECEIVER_BODY: map\nOTEL_EXPORTER_OTLP_HEADERS: "x-tenant=acme"\n' })
  const loaded = loadConfig({
    env: {
      ...REQUIRED,
      RECEIVER_POLL_INTERVAL: '90s',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_LOGS_HEADERS: `authorization=${encodeURIComponent(HEADER_SECRET)}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/protobuf',
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=svc,k=a%2Cb',
    },
    configFile: join(dir, 'c.yaml'),
  })
  const rows = describeConfig(loaded)
  t.same(rows.map((r) => r.name), CONFIG_VARIABLES, 'every variable, in schema order')
  const row = (name: string): [string, string] => {
    const r = rows.find((x) => x.name === name)
    return r ? [r.value, r.source] : ['?', '?']
  }
  t.same(row('PROOFPOINT_SECRET'), ['[redacted]', 'env'])
  t.same(row('PROOFPOINT_SECRET_FILE'), ['(unset)', 'default'])
  t.same(row('PROOFPOINT_PRINCIPAL'), ['principal@example.com', 'env'])
  t.same(row('RECEIVER_POLL_INTERVAL'), ['90s', 'env'])
  t.same(row('RECEIVER_OVERLAP'), ['30m', 'default'])
  t.same(row('RECEIVER_RETRY_MAX_BACKOFF'), ['5m', 'default'])
  t.same(row('RECEIVER_BODY'), ['map', 'file'])
  t.same(row('RECEIVER_CONFIG_FILE'), [join(dir, 'c.yaml'), 'arg'])
  t.same(row('PROOFPOINT_EVENT_TYPES'), ['messagesDelivered,messagesBlocked,clicksPermitted,clicksBlocked', 'default'])
  t.same(row('OTEL_EXPORTER_OTLP_ENDPOINT'), ['http://collector:4318', 'env'])
  t.same(row('OTEL_EXPORTER_OTLP_LOGS_ENDPOINT'), ['http://collector:4318/v1/logs', 'env'], 'the effective endpoint, from the general variable')
  t.same(row('OTEL_EXPORTER_OTLP_PROTOCOL'), ['(overridden by OTEL_EXPORTER_OTLP_LOGS_PROTOCOL)', 'env'])
  t.same(row('OTEL_EXPORTER_OTLP_LOGS_PROTOCOL'), ['http/protobuf', 'env'])
  t.same(row('OTEL_EXPORTER_OTLP_HEADERS'), ['[redacted]', 'file'])
  t.same(row('OTEL_EXPORTER_OTLP_LOGS_HEADERS'), ['x-tenant=[redacted],authorization=[redacted]', 'env'])
  t.same(row('OTEL_EXPORTER_OTLP_TIMEOUT'), ['(unset)', 'default'])
  t.same(row('OTEL_EXPORTER_OTLP_LOGS_TIMEOUT'), ['10000', 'default'])
  t.same(row('OTEL_SERVICE_NAME'), ['svc', 'env'], 'from service.name in OTEL_RESOURCE_ATTRIBUTES')
  t.same(row('OTEL_RESOURCE_ATTRIBUTES'), ['service.name=svc,k=a%2Cb', 'env'])
  const text = JSON.stringify(rows)
  t.notMatch(text, /SHOULD-NOT-LEAK/)
  t.notMatch(text, /acme/, 'no header value, even a harmless one')
  t.ok(rows.every((r) => typeof r.value === 'string' && r.value !== ''), 'every value is a non-empty string')
  t.end()
})

t.test('describeConfig: a secret file shows its path, the secret stays hidden', (t) => {
  const loaded = loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: '/run/s' }, readFile: files({ '/run/s': SECRET }) })
  const rows = describeConfig(loaded)
  t.same(rows.find((r) => r.name === 'PROOFPOINT_SECRET_FILE'), { name: 'PROOFPOINT_SECRET_FILE', value: '/run/s', source: 'env' })
  t.same(rows.find((r) => r.name === 'PROOFPOINT_SECRET'), { name: 'PROOFPOINT_SECRET', value: '(unset)', source: 'default' })
  t.notMatch(JSON.stringify(rows), SECRET)
  t.end()
})

// --- TLS files and SDK attribute limits -------------------------------------------------------------------------

// Tests run from dist/test; the fixtures stay in the source tree (test-only CA, server and client certificates).
const tlsFixture = (name: string): string => readFileSync(new URL(`../../../test/fixtures/tls/${name}`, import.meta.url), 'utf8')
const CA = tlsFixture('ca.pem')
const SERVER_CERT = tlsFixture('server.pem')
const CLIENT_CERT = tlsFixture('client.pem')
const CLIENT_KEY = tlsFixture('client.key')
const SERVER_KEY = tlsFixture('server.key')
/** The base64 lines of a PEM: none of them may ever be printed for a key. */
const pemBody = (pem: string): string[] => pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'))
const KEY_MARKER = 'k3y-SHOULD-NOT-LEAK'

const TLS_FILES = {
  '/etc/otel/ca.pem': CA,
  '/etc/otel/logs-ca.pem': SERVER_CERT, // any valid certificate will do: it shows which file was used
  '/etc/otel/client.pem': CLIENT_CERT,
  '/etc/otel/client.key': CLIENT_KEY,
  '/etc/otel/server.key': SERVER_KEY,
  '/etc/otel/empty.pem': '\n  \n',
  '/etc/otel/not-pem.pem': `just text ${KEY_MARKER}`,
  '/etc/otel/broken-cert.pem': '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
  '/etc/otel/broken.key': `-----BEGIN PRIVATE KEY-----\n${KEY_MARKER}\n-----END PRIVATE KEY-----\n`,
}
const loadTls = (env: Env): LoadedConfig => loadConfig({ env: { ...REQUIRED, ...env }, readFile: files(TLS_FILES) })
const tlsProblems = (t: Test, env: Env): readonly string[] => problemsFor(t, { ...REQUIRED, ...env }, { readFile: files(TLS_FILES) })

t.test('OTLP TLS: the files are read at load time; the _LOGS_ variable wins, each pair on its own', (t) => {
  t.same(loadTls({ OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/ca.pem' }).config.otel.tls, { ca: CA })
  t.same(
    loadTls({ OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/ca.pem', OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: '/etc/otel/logs-ca.pem' }).config.otel.tls,
    { ca: SERVER_CERT },
  )
  t.same(
    loadTls({ OTEL_EXPORTER_OTLP_CERTIFICATE: '/no/such/file', OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: '/etc/otel/ca.pem' }).config.otel.tls,
    { ca: CA },
    'an overridden general file is not read, so not an error',
  )
  t.same(
    loadTls({
      OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: ' /etc/otel/ca.pem ',
      OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE: '/etc/otel/client.pem',
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/no/such/file',
      OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/client.key',
    }).config.otel.tls,
    { ca: CA, cert: CLIENT_CERT, key: CLIENT_KEY },
    'logs-specific certificate with the general key; paths trimmed',
  )
  t.same(
    loadTls({ OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/otel/client.pem', OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: '/etc/otel/client.key' }).config.otel.tls,
    { cert: CLIENT_CERT, key: CLIENT_KEY },
    'mutual TLS with the system CAs',
  )
  t.notOk('tls' in loadTls({ OTEL_EXPORTER_OTLP_CERTIFICATE: '' }).config.otel, 'empty = unset')
  t.end()
})

t.test('OTLP TLS: from real files, also when named in the config file', (t) => {
  const dir = t.testdir({ 'ca.pem': CA, 'client.pem': CLIENT_CERT, 'client.key': CLIENT_KEY })
  const dirFile = join(dir, 'c.json')
  writeFileSync(dirFile, JSON.stringify({ OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: join(dir, 'client.pem'), OTEL_EXPORTER_OTLP_CLIENT_KEY: join(dir, 'client.key') }))
  const loaded = loadConfig({ env: { ...REQUIRED, OTEL_EXPORTER_OTLP_CERTIFICATE: join(dir, 'ca.pem') }, configFile: dirFile })
  t.same(loaded.config.otel.tls, { ca: CA, cert: CLIENT_CERT, key: CLIENT_KEY })
  t.equal(loaded.sources.OTEL_EXPORTER_OTLP_CLIENT_KEY, 'file')
  const problems = problemsFor(t, { ...REQUIRED, OTEL_EXPORTER_OTLP_CERTIFICATE: dir, OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: join(dir, 'nope.key') })
  t.match(named(problems, 'OTEL_EXPORTER_OTLP_CERTIFICATE'), [new RegExp(`cannot read "${dir}" \\(EISDIR\\)`)])
  t.match(named(problems, 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY'), [/needs its certificate/, new RegExp(`cannot read "${join(dir, 'nope.key')}" \\(ENOENT\\)`)])
  t.end()
})

t.test('OTLP TLS: missing, empty or non-PEM files are problems naming the variable and the path', (t) => {
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/missing.pem' }), [
    /^OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read "\/etc\/otel\/missing.pem" \(ENOENT\)$/,
  ])
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: '/etc/otel/empty.pem' }), [
    /^OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: "\/etc\/otel\/empty.pem" is empty$/,
  ])
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/not-pem.pem' }), [
    /^OTEL_EXPORTER_OTLP_CERTIFICATE: "\/etc\/otel\/not-pem.pem" holds no PEM certificate .*openssl x509 -inform der/,
  ])
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/client.key' }), [/^OTEL_EXPORTER_OTLP_CERTIFICATE: .* holds no PEM certificate/], 'a key is not a CA')
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/broken-cert.pem' }), [
    /^OTEL_EXPORTER_OTLP_CERTIFICATE: certificate 1 in "\/etc\/otel\/broken-cert.pem" cannot be parsed$/,
  ])
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: '   ' }), [/^OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: is blank/])
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/otel/ca.pem', OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/not-pem.pem' }), [
    /^OTEL_EXPORTER_OTLP_CLIENT_KEY: "\/etc\/otel\/not-pem.pem" holds no PEM private key/,
  ])
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/otel/client.pem', OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/broken.key' }), [
    /^OTEL_EXPORTER_OTLP_CLIENT_KEY: the private key in "\/etc\/otel\/broken.key" cannot be parsed$/,
  ])
  t.end()
})

t.test('OTLP TLS: client certificate and key come together and belong together', (t) => {
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/otel/client.pem' }), [
    /^OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: a client certificate needs its private key: set OTEL_EXPORTER_OTLP_CLIENT_KEY/,
  ])
  t.match(tlsProblems(t, { OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: '/etc/otel/client.key', OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/ca.pem' }), [
    /^OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: a client key needs its certificate: set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/,
  ])
  const mismatch = tlsProblems(t, { OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/otel/client.pem', OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/server.key' })
  t.match(mismatch, [
    /^OTEL_EXPORTER_OTLP_CLIENT_KEY: "\/etc\/otel\/server.key" is not the private key of the certificate in "\/etc\/otel\/client.pem" \(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE\)$/,
  ])
  t.end()
})

t.test('OTLP TLS: an encrypted key is refused (OpenTelemetry has no passphrase setting)', (t) => {
  const encrypt = (type: 'pkcs8' | 'sec1'): string =>
    generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type, format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' },
    }).privateKey
  for (const type of ['pkcs8', 'sec1'] as const) {
    const pem = encrypt(type)
    const problems = problemsFor(
      t,
      { ...REQUIRED, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/c.pem', OTEL_EXPORTER_OTLP_CLIENT_KEY: '/k.pem' },
      { readFile: files({ '/c.pem': CLIENT_CERT, '/k.pem': pem }) },
    )
    t.match(problems, [/^OTEL_EXPORTER_OTLP_CLIENT_KEY: "\/k.pem" holds an encrypted private key: .*unencrypted/], type)
    for (const line of pemBody(pem)) t.notOk(problems.join('\n').includes(line), `${type}: no key text in the problem`)
  }
  t.end()
})

t.test('OTLP TLS: key contents never appear in errors or in describeConfig', (t) => {
  const env: Env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318',
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/otel/client.pem',
    OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/client.key',
  }
  const rows = describeConfig(loadTls(env))
  const text = JSON.stringify(rows)
  t.ok(text.includes('/etc/otel/client.key'), 'the path is shown')
  for (const line of [...pemBody(CLIENT_KEY), ...pemBody(CLIENT_CERT)]) t.notOk(text.includes(line), 'no PEM text')
  t.notMatch(text, /BEGIN/)

  for (const bad of [
    { ...env, OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/broken.key' },
    { ...env, OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/not-pem.pem' },
    { ...env, OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/not-pem.pem' },
    { ...env, OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/server.key' },
    { ...env, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/otel/client.key', OTEL_EXPORTER_OTLP_CLIENT_KEY: '/etc/otel/client.pem' },
  ]) {
    const err = configError(t, () => loadTls(bad))
    const all = `${err.message}\n${JSON.stringify(err)}\n${String(err.stack)}`
    t.notMatch(all, /SHOULD-NOT-LEAK/)
    t.notMatch(all, /-----(\n|\\n)/, 'no PEM block (the hints name the header, never a file\'s text)')
    for (const line of [...pemBody(CLIENT_KEY), ...pemBody(SERVER_KEY)]) t.notOk(all.includes(line), 'no key text')
  }
  t.end()
})

t.test('describeConfig: TLS paths, which one is used, and whether the endpoint uses them', (t) => {
  const row = (rows: ReturnType<typeof describeConfig>, name: string): [string, string] => {
    const r = rows.find((x) => x.name === name)
    return r ? [r.value, r.source] : ['?', '?']
  }
  const https = describeConfig(
    loadTls({
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'https://collector:4318/v1/logs',
      OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/ca.pem',
      OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: '/etc/otel/logs-ca.pem',
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: '/etc/otel/client.pem',
      OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: '/etc/otel/client.key',
    }),
  )
  t.same(row(https, 'OTEL_EXPORTER_OTLP_CERTIFICATE'), ['(overridden by OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE)', 'env'])
  t.same(row(https, 'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE'), ['/etc/otel/logs-ca.pem', 'env'])
  t.same(row(https, 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE'), ['/etc/otel/client.pem', 'env'])
  t.same(row(https, 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE'), ['/etc/otel/client.pem', 'env'], 'the effective file, from the general variable')
  t.same(row(https, 'OTEL_EXPORTER_OTLP_CLIENT_KEY'), ['(unset)', 'default'])
  t.same(row(https, 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY'), ['/etc/otel/client.key', 'env'])

  const http = describeConfig(loadTls({ OTEL_EXPORTER_OTLP_CERTIFICATE: '/etc/otel/ca.pem' }))
  t.same(row(http, 'OTEL_EXPORTER_OTLP_CERTIFICATE'), ['/etc/otel/ca.pem (not used: the endpoint is not https)', 'env'])
  t.same(row(http, 'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE'), ['/etc/otel/ca.pem (not used: the endpoint is not https)', 'env'])
  t.same(row(http, 'OTEL_EXPORTER_OTLP_CLIENT_KEY'), ['(unset)', 'default'])
  t.end()
})

t.test('SDK attribute limits: log-record-specific over general, whole numbers, unset = SDK defaults', (t) => {
  const limits = (env: Env): LoadedConfig['config']['otel']['logRecordLimits'] => loadConfig({ env: { ...REQUIRED, ...env } }).config.otel.logRecordLimits
  t.equal(limits({}), undefined, 'unset: no value length limit, 128 attributes (the SDK applies them)')
  t.same(limits({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '4096', OTEL_ATTRIBUTE_COUNT_LIMIT: '64' }), { attributeValueLengthLimit: 4096, attributeCountLimit: 64 })
  t.same(limits({ OTEL_ATTRIBUTE_COUNT_LIMIT: '64', OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: '200' }), { attributeCountLimit: 200 })
  t.same(limits({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '100', OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: ' 2048 ' }), { attributeValueLengthLimit: 2048 })
  t.same(limits({ OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: '0' }), { attributeCountLimit: 0 }, 'a count of 0 is valid: no attributes')
  t.same(limits({ OTEL_ATTRIBUTE_COUNT_LIMIT: 'many', OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: '10' }), { attributeCountLimit: 10 }, 'an overridden general value is not used, so not an error')
  t.same(limits({ OTEL_ATTRIBUTE_COUNT_LIMIT: '' }), undefined, 'empty = unset')

  for (const [name, value] of [
    ['OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', '-1'],
    ['OTEL_ATTRIBUTE_COUNT_LIMIT', '1.5'],
    ['OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', '4KB'],
    ['OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT', '99999999999999999999'],
  ] as const) {
    t.match(problemsFor(t, { ...REQUIRED, [name]: value }), [new RegExp(`^${name}: ${JSON.stringify(value).replace(/[.]/g, '\\.')} is not a whole number \\(0 or more\\)$`)], `${name}=${value}`)
  }
  t.match(problemsFor(t, { ...REQUIRED, OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: '0' }), [
    /^OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: 0 would cut every string attribute to nothing .*unset it for no limit/,
  ])
  t.end()
})

t.test('describeConfig: attribute limits show the effective value and where it came from', (t) => {
  const rowsOf = (env: Env): Record<string, [string, string]> =>
    Object.fromEntries(describeConfig(loadConfig({ env: { ...REQUIRED, ...env } })).map((r) => [r.name, [r.value, r.source]]))
  const defaults = rowsOf({})
  t.same(defaults.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, ['(unset)', 'default'])
  t.same(defaults.OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, ['(no limit)', 'default'])
  t.same(defaults.OTEL_ATTRIBUTE_COUNT_LIMIT, ['(unset)', 'default'])
  t.same(defaults.OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, ['128', 'default'])
  const set = rowsOf({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '512', OTEL_ATTRIBUTE_COUNT_LIMIT: '64', OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: '100' })
  t.same(set.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, ['512', 'env'])
  t.same(set.OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, ['512', 'env'])
  t.same(set.OTEL_ATTRIBUTE_COUNT_LIMIT, ['(overridden by OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT)', 'env'])
  t.same(set.OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, ['100', 'env'])
  t.end()
})

t.test('RECEIVER_RETRY_MAX_BACKOFF: a duration, default 5m, at least 1s', (t) => {
  const backoff = (value: string): number => loadConfig({ env: { ...REQUIRED, RECEIVER_RETRY_MAX_BACKOFF: value } }).config.receiver.retryMaxBackoffMs
  t.equal(loadConfig({ env: REQUIRED }).config.receiver.retryMaxBackoffMs, 5 * 60_000)
  t.equal(backoff('1s'), 1000, '1s is the least')
  t.equal(backoff('1000ms'), 1000)
  t.equal(backoff('30m'), 30 * 60_000)
  t.equal(backoff('2h'), 2 * 3_600_000)
  t.match(problemsFor(t, { ...REQUIRED, RECEIVER_RETRY_MAX_BACKOFF: '500ms' }), [/^RECEIVER_RETRY_MAX_BACKOFF: 500ms is less than 1s/])
  t.match(problemsFor(t, { ...REQUIRED, RECEIVER_RETRY_MAX_BACKOFF: '60' }), [/^RECEIVER_RETRY_MAX_BACKOFF: "60" has no unit/])
  const dir = t.testdir({ 'c.yaml': 'RECEIVER_RETRY_MAX_BACKOFF: 10m\n' })
  const loaded = loadConfig({ env: REQUIRED, configFile: join(dir, 'c.yaml') })
  t.equal(loaded.config.receiver.retryMaxBackoffMs, 600_000, 'from a config file')
  t.equal(loaded.sources.RECEIVER_RETRY_MAX_BACKOFF, 'file')
  t.end()
})

t.test('request budget: polling must fit in 90 % of PROOFPOINT_REQUEST_BUDGET per 24 h', (t) => {
  const load = (env: Env) => loadConfig({ env: { ...REQUIRED, ...env } }).config
  // The defaults: 60s polling is 1440 requests a day, within 1620 (90 % of 1800).
  t.equal(load({}).receiver.pollIntervalMs, 60_000)
  t.equal(load({ RECEIVER_POLL_INTERVAL: '54s' }).receiver.pollIntervalMs, 54_000, '54s: 1600 a day fits in 1620')

  // Windows are whole minutes: an interval under a minute still polls once a minute, 1440 a day, which fits.
  t.equal(load({ RECEIVER_POLL_INTERVAL: '30s' }).receiver.pollIntervalMs, 30_000, '30s: 1440 a day, not 2880')
  t.equal(load({ RECEIVER_POLL_INTERVAL: '53s' }).receiver.pollIntervalMs, 53_000, '53s: 1440 a day, not 1631')

  const problems = problemsFor(t, { ...REQUIRED, RECEIVER_POLL_INTERVAL: '30s', PROOFPOINT_REQUEST_BUDGET: '1500' })
  t.equal(problems.length, 1)
  // The late-event sweeps (RECEIVER_OVERLAP, default 30m: two stages) need at least 24 requests a day each.
  t.equal(
    problems[0],
    'RECEIVER_POLL_INTERVAL: 30s means 1440 requests per 24 h (windows are whole minutes: at most one poll a minute), plus at least 48 for the late-event sweeps (RECEIVER_OVERLAP=30m: every hour read again by 2 sweeps), over the 1350 that polling may use of PROOFPOINT_REQUEST_BUDGET=1500 (10 % is kept for retries and catch-up); use at least 67s or raise PROOFPOINT_REQUEST_BUDGET to at least 1654',
  )
  t.equal(load({ PROOFPOINT_REQUEST_BUDGET: '1500', RECEIVER_POLL_INTERVAL: '67s' }).proofpoint.requestBudget, 1500, 'the suggested interval fits')
  t.equal(load({ PROOFPOINT_REQUEST_BUDGET: '1654', RECEIVER_POLL_INTERVAL: '30s' }).proofpoint.requestBudget, 1654, 'and so does the suggested budget')
  t.match(problemsFor(t, { ...REQUIRED, PROOFPOINT_REQUEST_BUDGET: '1000' }), [
    /^RECEIVER_POLL_INTERVAL: 1m means 1440 requests per 24 h, plus at least 48 for the late-event sweeps .*over the 900 that polling may use of PROOFPOINT_REQUEST_BUDGET=1000 .*use at least 102s/,
  ])
  t.equal(load({ PROOFPOINT_REQUEST_BUDGET: '1000', RECEIVER_POLL_INTERVAL: '102s' }).proofpoint.requestBudget, 1000, 'the suggested interval fits')
  t.equal(load({ PROOFPOINT_REQUEST_BUDGET: '3200', RECEIVER_POLL_INTERVAL: '30s' }).receiver.pollIntervalMs, 30_000, 'or a larger budget')
  t.match(problemsFor(t, { ...REQUIRED, PROOFPOINT_REQUEST_BUDGET: '20' }), [/over the 18 that polling may use.*no interval fits: raise PROOFPOINT_REQUEST_BUDGET to at least 55$/])

  // Tests lower the budget (without an overlap, so without sweeps): then the poll interval has to grow with it.
  const bare = { ...REQUIRED, RECEIVER_OVERLAP: '0s' }
  t.match(problemsFor(t, { ...bare, PROOFPOINT_REQUEST_BUDGET: '20' }), [/over the 18 that polling may use.*use at least 80m /])
  t.equal(load({ RECEIVER_OVERLAP: '0s', PROOFPOINT_REQUEST_BUDGET: '20', RECEIVER_POLL_INTERVAL: '80m' }).proofpoint.requestBudget, 20)
  t.match(problemsFor(t, { ...bare, PROOFPOINT_REQUEST_BUDGET: '2', RECEIVER_POLL_INTERVAL: '23h' }), [/use at least 1d/])
  t.equal(load({ RECEIVER_OVERLAP: '0s', PROOFPOINT_REQUEST_BUDGET: '2', RECEIVER_POLL_INTERVAL: '24h' }).proofpoint.requestBudget, 2)
  t.match(problemsFor(t, { ...bare, PROOFPOINT_REQUEST_BUDGET: '1', RECEIVER_POLL_INTERVAL: '7d' }), [
    /^RECEIVER_POLL_INTERVAL: 7d means 1 requests per 24 h, over the 0 .*no interval fits: raise PROOFPOINT_REQUEST_BUDGET to at least 2/,
  ])
  t.end()
})

t.test('request budget: checked only when both settings are valid; a file value says where it came from', (t) => {
  t.match(problemsFor(t, { ...REQUIRED, RECEIVER_POLL_INTERVAL: '10s' }), [/^RECEIVER_POLL_INTERVAL: 10s is less than 30s/], 'the API minimum, not the budget')
  t.match(problemsFor(t, { ...REQUIRED, RECEIVER_POLL_INTERVAL: '30s', PROOFPOINT_REQUEST_BUDGET: '0' }), [/^PROOFPOINT_REQUEST_BUDGET: /])
  t.match(problemsFor(t, { ...REQUIRED, RECEIVER_POLL_INTERVAL: 'x', PROOFPOINT_REQUEST_BUDGET: '10' }), [/^RECEIVER_POLL_INTERVAL: "x" is not a duration/])
  const dir = t.testdir({ 'c.json': JSON.stringify({ RECEIVER_POLL_INTERVAL: '30s', PROOFPOINT_REQUEST_BUDGET: 1000 }) })
  const problems = problemsFor(t, REQUIRED, { configFile: join(dir, 'c.json') })
  t.match(problems, [/^RECEIVER_POLL_INTERVAL: 30s means 1440 requests per 24 h.*PROOFPOINT_REQUEST_BUDGET=1000.* \(set in ".*c\.json"\)$/])
  t.end()
})

t.test('checkRequestBudget: the rule itself', (t) => {
  const MIN = 60_000
  t.equal(checkRequestBudget(MIN, 1800), undefined)
  t.equal(checkRequestBudget(24 * 60 * MIN, 2), undefined, 'one request a day fits in floor(1.8)')
  // Windows are whole minutes: the poller starts at most one poll a minute, whatever the interval.
  t.equal(checkRequestBudget(30_000, 1800), undefined, '30s polls once a minute: 1440 ≤ 1620')
  t.equal(checkRequestBudget(45_000, 1700), undefined, '45s polls once a minute: 1440 ≤ 1530')
  t.match(checkRequestBudget(30_000, 1500), /^30s means 1440 requests per 24 h \(windows are whole minutes: at most one poll a minute\), over the 1350 /)
  t.equal(checkRequestBudget(30_000, 1600), undefined, '1440 ≤ 1440')
  t.match(checkRequestBudget(30_000, 1599), /over the 1439 .*use at least 61s or raise PROOFPOINT_REQUEST_BUDGET to at least 1600$/)
  // ceil: an interval that does not divide the day still costs the partial request.
  t.equal(checkRequestBudget(7 * MIN, 230), undefined, '206 ≤ 207')
  t.match(checkRequestBudget(7 * MIN, 228), /206 requests per 24 h, over the 205 .*use at least 422s/)
  // The suggestion always passes the check, and one second less does not.
  for (const budget of [2, 3, 7, 100, 1000, 1500, 1599, 1800, 5000, 100_000]) {
    const problem = checkRequestBudget(30_000, budget)
    if (!problem) continue
    const suggested = parseDuration(/use at least (\S+)/.exec(problem)![1]!)!
    t.equal(checkRequestBudget(suggested, budget), undefined, `budget ${budget}: ${formatDuration(suggested)} fits`)
    t.ok(checkRequestBudget(suggested - 1000, budget) !== undefined || suggested - 1000 < 30_000, `budget ${budget}: a second less does not`)
    const raiseTo = Number(/raise PROOFPOINT_REQUEST_BUDGET to at least (\d+)$/.exec(problem)![1])
    t.equal(checkRequestBudget(30_000, raiseTo), undefined, `budget ${budget}: raised to ${raiseTo}, 30s fits`)
    t.ok(checkRequestBudget(30_000, raiseTo - 1), `budget ${budget}: ${raiseTo - 1} is not enough`)
  }
  t.end()
})

t.test('checkRequestBudget with the late-event sweeps: what it suggests fits, and the sweep span widens to fit', (t) => {
  const MIN = 60_000
  t.equal(checkRequestBudget(MIN, 1800, 30 * MIN), undefined, 'the defaults: 1440 polls + 144 sweeps = 1584 ≤ 1620')
  t.equal(sweepSpanFor(MIN, 1800, 2), 20 * MIN, 'at the defaults the sweeps read 20 minutes at a time')
  t.equal(sweepSpanFor(MIN, 1700, 2), 32 * MIN, 'a smaller budget: longer spans, fewer sweep requests (45 a day per stage)')
  t.equal(sweepSpanFor(MIN, 1653, 2), undefined, 'not even 1 h spans fit')
  t.equal(sweepSpanFor(MIN, 1654, 2), 60 * MIN)
  t.equal(checkRequestBudget(MIN, 1800, 0), undefined, 'no overlap, no sweeps')
  for (const budget of [60, 100, 1000, 1500, 1653, 1800, 5000]) {
    for (const overlap of [5 * MIN, 30 * MIN]) {
      const problem = checkRequestBudget(30_000, budget, overlap)
      if (!problem) continue
      const raiseTo = Number(/raise PROOFPOINT_REQUEST_BUDGET to at least (\d+)$/.exec(problem)![1])
      t.equal(checkRequestBudget(30_000, raiseTo, overlap), undefined, `budget ${budget}, overlap ${formatDuration(overlap)}: raised to ${raiseTo}, 30s fits`)
      const interval = /use at least (\S+)/.exec(problem)?.[1]
      if (interval === undefined) continue
      const suggested = parseDuration(interval)!
      t.equal(checkRequestBudget(suggested, budget, overlap), undefined, `budget ${budget}, overlap ${formatDuration(overlap)}: ${interval} fits`)
      t.not(checkRequestBudget(suggested - 1000, budget, overlap), undefined, 'a second less does not')
    }
  }
  t.end()
})

t.test('RECEIVER_INDICATORS and RECEIVER_STANDARD_FIELDS: on by default, true or false, also as YAML booleans; the mapping follows', (t) => {
  for (const name of ['RECEIVER_INDICATORS', 'RECEIVER_STANDARD_FIELDS'] as const) {
    t.throws(() => loadConfig({ env: { ...REQUIRED, [name]: 'yes' } }), new RegExp(name))
  }
  t.same(pick(mappingOptions(loadConfig({ env: REQUIRED }).config)), { indicators: true, standardFields: true })
  const off = loadConfig({ env: REQUIRED, configFile: 'r.yaml', readFile: () => 'RECEIVER_INDICATORS: false\nRECEIVER_STANDARD_FIELDS: false\n' })
  t.same(pick(mappingOptions(off.config)), { indicators: false, standardFields: false })
  t.end()
  function pick(o: MappingOptions): Pick<MappingOptions, 'indicators' | 'standardFields'> {
    return { indicators: o.indicators, standardFields: o.standardFields }
  }
})

t.test('RECEIVER_NO_EVENTS_FAILS_READINESS takes true or false, also as a YAML boolean', (t) => {
  t.equal(loadConfig({ env: { ...REQUIRED, RECEIVER_NO_EVENTS_FAILS_READINESS: 'true' } }).config.receiver.noEventsFailsReadiness, true)
  t.throws(() => loadConfig({ env: { ...REQUIRED, RECEIVER_NO_EVENTS_FAILS_READINESS: 'yes' } }), /RECEIVER_NO_EVENTS_FAILS_READINESS/)
  const file = (text: string): string => text
  const loaded = loadConfig({ env: REQUIRED, configFile: 'r.yaml', readFile: () => file('RECEIVER_NO_EVENTS_FAILS_READINESS: true\n') })
  t.equal(loaded.config.receiver.noEventsFailsReadiness, true)
  t.end()
})
