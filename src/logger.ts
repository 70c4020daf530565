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
