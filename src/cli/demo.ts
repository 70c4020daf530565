/**
 * `demo`: the built-in SIEM API simulator on loopback + the real receiver, each exported record printed as a
 * line. No credentials, no collector: the records go to stdout unless an OTLP endpoint is configured, in
 * which case they are exported there too (and printed once the collector acknowledged them).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, startFailed } from '../app.js'
import { createLogger } from '../logger.js'
import type { MappedRecord } from '../mapping/types.js'
import { startSimulator } from '../simulator/index.js'
import { EXIT_CONFIG } from '../errors.js'
import { loadCommandConfig } from './command-config.js'
import { formatRecordLine } from './format-record.js'

const DEMO_PRINCIPAL = 'demo-principal'
const DEMO_SECRET = 'demo-secret-not-a-real-one'

export interface DemoIo {
  env: NodeJS.ProcessEnv
  /** `--config FILE`: read as `run` reads it. */
  configFile?: string
  untilStopped: () => Promise<unknown>
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

export async function runDemo(io: DemoIo): Promise<number> {
  const sim = await startSimulator({ principal: DEMO_PRINCIPAL, secret: DEMO_SECRET, eventsPerMinute: 8 })
  // Removed on every way out: the demo keeps no state between runs.
  const stateDir = mkdtempSync(join(tmpdir(), 'proofpoint-siem-receiver-demo-'))
  try {
    return await demo(io, sim, stateDir)
  } finally {
    await sim.close()
    rmSync(stateDir, { recursive: true, force: true })
  }
}

async function demo(io: DemoIo, sim: Awaited<ReturnType<typeof startSimulator>>, stateDir: string): Promise<number> {
  const loaded = loadCommandConfig({
    command: 'demo',
    stderr: io.stderr,
    env: io.env,
    configFile: io.configFile,
    defaults: { RECEIVER_START_LOOKBACK: '15m', RECEIVER_LOG_LEVEL: 'warn' },
    // The demo always talks to its own simulator, never to Proofpoint, and keeps no state between runs.
    fixed: {
      PROOFPOINT_BASE_URL: sim.url,
      PROOFPOINT_PRINCIPAL: DEMO_PRINCIPAL,
      PROOFPOINT_SECRET: DEMO_SECRET,
      PROOFPOINT_SECRET_FILE: undefined,
      PROOFPOINT_CA_FILE: undefined,
      PROOFPOINT_PROXY_URL: undefined,
      RECEIVER_STATE_DIR: stateDir,
    },
  })
  if (!loaded) return EXIT_CONFIG
  const { config, sources } = loaded
  // An endpoint from the environment or the config file: export there too.
  const exportsToCollector = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT'].some((name) => (sources[name] ?? 'default') !== 'default')
  const logger = createLogger(config.receiver.logLevel)
  const print = (records: readonly MappedRecord[]): void => {
    for (const r of records) io.stdout.write(`${formatRecordLine(r)}\n`)
  }
  const app = createApp(config, {
    logger,
    onExported: print,
    ...(exportsToCollector ? {} : { sink: { exportRecords: () => Promise.resolve() } }),
  })
  try {
    await app.start()
  } catch (err) {
    // As `run` says it (a busy ops port: exit 78 and a message naming RECEIVER_HTTP_PORT), not as a crash.
    const code = startFailed(logger, err)
    await app.shutdown()
    return code
  }
  io.stderr.write(
    `demo: simulated SIEM API at ${sim.url}, ops server ${listening(app.ops.server.address(), config.receiver.httpHost)} (/healthz /readyz /status /metrics)` +
      `${exportsToCollector ? `, exporting to ${config.otel.logsEndpoint}` : ', printing records (set OTEL_EXPORTER_OTLP_ENDPOINT to export them)'}; Ctrl-C stops\n`,
  )
  await io.untilStopped()
  await app.shutdown()
  return 0
}

/**
 * Where the ops server really listens: on every interface for 0.0.0.0 or ::, which the banner says (with a loopback
 * URL to open on this machine), else the address itself.
 */
export function listening(address: AddressInfo | string | null, host: string): string {
  if (address === null || typeof address === 'string') return `listening on ${host}`
  const { address: ip, port } = address
  const url = (h: string): string => `http://${h.includes(':') ? `[${h}]` : h}:${port}`
  if (ip === '0.0.0.0' || ip === '::') {
    return `listening on ${ip === '::' ? '[::]' : ip}:${port}, all interfaces (${url(ip === '::' ? '::1' : '127.0.0.1')} from this machine)`
  }
  return `listening on ${url(ip)}`
}
