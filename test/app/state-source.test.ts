/**
 * A state directory reused with other event types (found by a review of restarts): the added types start at the
 * saved cursor, and the receiver says so at start, with what to do; the state keeps the source it now covers.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { MIN, T0, readState, rig } from '../helpers/e2e-rig.js'

type WithSource = ReturnType<typeof readState> & { source?: { eventTypes: string[] } }

t.test('event types added over an existing state: said at start, with the cursor they start from; the state records the new source', async (t) => {
  // One directory for both runs (each rig's own test directory is made afresh).
  const dir = mkdtempSync(join(tmpdir(), 'state-source-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const first = await rig(t, 'http/protobuf', { PROOFPOINT_EVENT_TYPES: 'messagesDelivered', RECEIVER_STATE_DIR: dir })
  const app1 = await first.startApp()
  first.time.advanceTo(T0 + 2 * MIN)
  await first.time.idle()
  await app1.shutdown()
  t.same((readState(dir) as WithSource).source?.eventTypes, ['messagesDelivered'], 'the state records what its cursor covers')
  t.notOk(first.logs.some((l) => l.includes('now includes')), 'nothing said by the first run')

  const second = await rig(t, 'http/protobuf', { PROOFPOINT_EVENT_TYPES: 'all', RECEIVER_STATE_DIR: dir })
  await second.startApp()
  second.time.advanceTo(T0 + 5 * MIN)
  await second.time.idle()
  const warning = second.logs.find((l) => l.includes('PROOFPOINT_EVENT_TYPES now includes'))
  t.match(warning, /"level":"warn".*messagesBlocked, clicksPermitted, clicksBlocked.*not before it.*own RECEIVER_STATE_DIR/, 'said, with what to do')
  t.same((readState(dir) as WithSource).source?.eventTypes, ['messagesDelivered', 'messagesBlocked', 'clicksPermitted', 'clicksBlocked'], 'and the state now records all four')
})
