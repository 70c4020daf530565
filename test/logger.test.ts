import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger, routeProcessWarnings } from '../src/logger.js'

t.test('process warnings go into the JSON log stream (grpc-js DEP0123 was a plain-text line on stderr)', async (t) => {
  const lines: string[] = []
  const logger = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }))
  const undo = routeProcessWarnings(logger)
  t.teardown(undo)
  const seen = new Promise<void>((resolve) => process.once('warning', () => setImmediate(resolve)))
  process.emitWarning('Setting the TLS ServerName to an IP address is not permitted', { type: 'DeprecationWarning', code: 'DEP0123' })
  await seen
  const line = JSON.parse(lines.find((l) => l.includes('Node.js warning')) ?? '{}') as { level?: string; warning?: { code?: string; name?: string } }
  t.equal(line.level, 'warn')
  t.same(line.warning, { name: 'DeprecationWarning', code: 'DEP0123', message: 'Setting the TLS ServerName to an IP address is not permitted' })
  t.equal(process.listeners('warning').length, 1, 'ours only: Node\'s stderr printer is off')
})
