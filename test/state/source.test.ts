/** The state's source (the SIEM API account and event selection its cursor covers), and what a change of it means. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { FileStateStore, STATE_VERSION, sourceChanges, stateSource } from '../../src/state/index.js'
import type { StateSource } from '../../src/state/index.js'

const CURSOR = '2026-11-24T12:00:00.000Z'
const A: StateSource = stateSource({ baseUrl: 'https://user:pw@tap-api-v2.proofpoint.com/', principal: 'sp-a', eventTypes: ['messagesDelivered'], threatStatus: 'active', threatType: undefined })

t.test('the source of a configuration: the base URL without credentials or trailing slash', (t) => {
  t.same(A, { api: 'https://tap-api-v2.proofpoint.com', principal: 'sp-a', eventTypes: ['messagesDelivered'], threatStatus: 'active' })
  t.end()
})

t.test('what a change means for the events before the cursor', (t) => {
  t.same(sourceChanges(undefined, A, CURSOR), [], 'a file from before sources: taken over silently')
  t.same(sourceChanges(A, { ...A }, CURSOR), [], 'the same source')
  t.same(sourceChanges(A, { ...A, eventTypes: [] }, CURSOR), [], 'types narrowed: nothing missing')
  const account = sourceChanges(A, { ...A, principal: 'sp-b' }, CURSOR)
  t.equal(account.length, 1)
  t.match(account[0], /principal "sp-a" at https:\/\/tap-api-v2\.proofpoint\.com.*"sp-b".*rotated credential.*another tenant.*own RECEIVER_STATE_DIR/)
  t.match(sourceChanges(A, { ...A, api: 'https://other.example' }, CURSOR)[0], /another tenant/)
  const types = sourceChanges(A, { ...A, eventTypes: ['messagesDelivered', 'clicksBlocked', 'clicksPermitted'] }, CURSOR)
  t.equal(types.length, 1)
  t.match(types[0], new RegExp(`now includes clicksBlocked, clicksPermitted.*\\(${CURSOR}\\).*not before it`))
  const loosened = sourceChanges(A, stateSource({ baseUrl: 'https://tap-api-v2.proofpoint.com', principal: 'sp-a', eventTypes: ['messagesDelivered'], threatStatus: undefined, threatType: undefined }), CURSOR)
  t.match(loosened, [/PROOFPOINT_THREAT_STATUS was "active".*now unset/])
  t.same(sourceChanges({ ...A, threatStatus: undefined }, A, CURSOR), [], 'a filter added (narrowed): nothing missing')
  t.end()
})

t.test('kept in the state file; a source that is not one is refused with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'state-source-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = new FileStateStore(dir)
  await store.init()
  await store.save({ version: STATE_VERSION, cursor: CURSOR, exportedKeys: {}, source: A })
  t.same((await store.load())?.source, A, 'saved and loaded')
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ version: STATE_VERSION, cursor: CURSOR, exportedKeys: {}, source: { api: 1 } }))
  await t.rejects(store.load(), /source\.api and source\.principal are not strings/)
})
