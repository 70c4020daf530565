import { pino } from 'pino'
import type { Logger } from 'pino'
import { NAME } from './version.js'

/** Paths pino blanks in every log line: the second line of defence, secrets are kept out of log objects by construction. */
export const REDACT_PATHS = [
  'secret',
  '*.secret',
  '*.*.secret',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'headers',
  '*.headers',
]

/** The receiver's own logs: JSON lines on stderr (stdout belongs to `demo` and `map` output). */
export function createLogger(level: string, destination: NodeJS.WritableStream | number = 2): Logger {
  return pino(
    {
      level,
      base: { service: NAME },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination,
  )
}

/**
 * Node's process warnings (grpc-js's DEP0123 for an https://<IP> endpoint, say) go to stderr as plain text by
 * default: into the JSON log stream instead, where a log shipper can parse them. Returns a function that undoes it.
 */
export function routeProcessWarnings(logger: Logger): () => void {
  const before = process.listeners('warning')
  const route = (w: Error & { code?: string }): void => {
    logger.warn({ warning: { name: w.name, code: w.code, message: w.message } }, 'Node.js warning')
  }
  process.removeAllListeners('warning')
  process.on('warning', route)
  return () => {
    process.off('warning', route)
    for (const l of before) process.on('warning', l)
  }
}
