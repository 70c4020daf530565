/**
 * `demo`: the built-in SIEM API simulator on loopback + the real receiver, each exported record printed as a
 * line. No credentials, no collector: the records go to stdout unless an OTLP endpoint is configured, in
 * which case they are exported there too (and printed once the collector acknowledged them).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../app.js'
import { loadConfig } from '../config/index.js'
import { ConfigError } from '../errors.js'
import { createLogger } from '../logger.js'
import type { MappedRecord } from '../mapping/types.js'
import { startSimulator } from '../simulator/index.js'
import { formatRecordLine } from './format-record.js'

const DEMO_PRINCIPAL = 'demo-principal'
const DEMO_SECRET = 'demo-secret-not-a-real-one'

export interface DemoIo {
  env: NodeJS.ProcessEnv
  untilStopped: () => Promise<unknown>
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
}

export async function runDemo(io: DemoIo): Promise<number> {
  const sim = await startSimulator({ principal: DEMO_PRINCIPAL, secret: DEMO_SECRET, eventsPerMinute: 8 })
  const exportsToCollector = Boolean(io.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? io.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT)
  let loaded
  try {
    loaded = loadConfig({
      env: {
        RECEIVER_START_LOOKBACK: '15m',
        RECEIVER_LOG_LEVEL: 'warn',
        ...io.env,
        // The demo always talks to its own simulator, never to Proofpoint, and keeps no state between runs.
        PROOFPOINT_BASE_URL: sim.url,
        PROOFPOINT_PRINCIPAL: DEMO_PRINCIPAL,
        PROOFPOINT_SECRET: DEMO_SECRET,
        PROOFPOINT_SECRET_FILE: undefined,
        RECEIVER_STATE_DIR: mkdtempSync(join(tmpdir(), 'proofpoint-siem-receiver-demo-')),
      },
    })
  } catch (err) {
    await sim.close()
    if (err instanceof ConfigError) {
      io.stderr.write(`demo: ${err.message}\n`)
      return 78
    }
    throw err
  }
  const { config } = loaded
  const logger = createLogger(config.receiver.logLevel)
  const print = (records: readonly MappedRecord[]): void => {
    for (const r of records) io.stdout.write(`${formatRecordLine(r)}\n`)
  }
  const app = createApp(config, {
    logger,
    onExported: print,
    ...(exportsToCollector ? {} : { sink: { exportRecords: () => Promise.resolve() } }),
  })
  const { opsAddress } = await app.start()
  io.stderr.write(
    `demo: simulated SIEM API at ${sim.url}, ops server at ${opsAddress} (/healthz /readyz /status)` +
      `${exportsToCollector ? `, exporting to ${config.otel.logsEndpoint}` : ', printing records (set OTEL_EXPORTER_OTLP_ENDPOINT to export them)'}; Ctrl-C stops\n`,
  )
  await io.untilStopped()
  await app.shutdown()
  await sim.close()
  return 0
}
