/** The no-events rule (NoEventsAlert): when it fires, once per silence, what it hands out to raise and to clear. */
import t from 'tap'
import { EVENTS_RESUMED_EVENT_NAME, NO_EVENTS_EVENT_NAME, NoEventsAlert } from '../../src/alerts/no-events.js'

const H = 3_600_000
const START = Date.parse('2026-11-27T00:00:00Z')

t.test('silent since the start when no event was ever exported, else since the last one', (t) => {
  const alert = new NoEventsAlert(24 * H, START)
  t.equal(alert.alerting(START + 24 * H - 1), false)
  t.equal(alert.alerting(START + 24 * H), true, 'at the threshold')
  alert.eventsExportedAt(new Date(START + 10 * H).toISOString())
  t.equal(alert.alerting(START + 24 * H), false, 'an event resets the silence')
  t.equal(alert.alerting(START + 34 * H), true)
  t.same(alert.view(START + 12 * H), { alerting: false, thresholdSeconds: 86_400, lastEventAt: '2026-11-27T10:00:00.000Z', silentSeconds: 7200 })
  t.end()
})

t.test('raised once per silence, cleared when events flow again, kept across a restart', (t) => {
  const alert = new NoEventsAlert(H, START)
  t.equal(alert.toRaise(START + H - 1), undefined, 'not yet')
  const raised = alert.toRaise(START + 2 * H)
  t.equal(raised?.eventName, NO_EVENTS_EVENT_NAME)
  t.equal(raised?.severityText, 'WARN')
  t.equal(alert.toClear(START + 2 * H), undefined, 'nothing raised yet: nothing to clear')
  alert.markRaised()
  t.equal(alert.toRaise(START + 3 * H), undefined, 'not raised twice')

  const restarted = new NoEventsAlert(H, START + 3 * H)
  restarted.restore(undefined, true, START + 3 * H)
  t.equal(restarted.toRaise(START + 5 * H), undefined, 'the state file says it was raised')
  const cleared = restarted.toClear(START + 5 * H)
  t.equal(cleared?.eventName, EVENTS_RESUMED_EVENT_NAME)
  t.equal(cleared?.severityText, 'INFO')
  restarted.markCleared()
  restarted.eventsExportedAt(new Date(START + 5 * H).toISOString())
  t.equal(restarted.toClear(START + 5 * H), undefined)
  t.ok(restarted.toRaise(START + 7 * H), 'a new silence raises again')
  t.end()
})

t.test('the same silence gives the same record uid (a re-sent alert is a recognisable duplicate)', (t) => {
  const a = new NoEventsAlert(H, START)
  const b = new NoEventsAlert(H, START)
  t.equal(a.toRaise(START + 2 * H)?.uid, b.toRaise(START + 2 * H + 5000)?.uid)
  t.end()
})

t.test('with a monotonic clock, a wall clock step neither raises nor delays the alert; a restart counts what passed before', (t) => {
  let mono = 1_000
  const clock = { now: () => mono, startedMono: mono }
  const alert = new NoEventsAlert(24 * H, START, clock)
  mono += H
  t.equal(alert.alerting(START + 25 * H), false, 'one hour silent, though the wall clock jumped 25 h forward')
  t.equal(alert.view(START + 25 * H).silentSeconds, 3600)
  mono += 23 * H
  t.equal(alert.alerting(START - 48 * H), true, 'silent for 24 h, though the wall clock was stepped back')
  alert.eventsExportedAt(new Date(START + 30 * H).toISOString())
  t.equal(alert.alerting(START + 100 * H), false, 'an event resets the silence, whatever the wall clock says')
  alert.eventsExportedAt(new Date(START + 30 * H).toISOString())
  mono += 24 * H
  t.equal(alert.alerting(START), true, 'the same lastEventAt handed over again (a save without events) does not reset it')

  const restarted = new NoEventsAlert(24 * H, START + 40 * H, { now: () => mono, startedMono: mono })
  restarted.restore(new Date(START + 30 * H).toISOString(), false, START + 40 * H)
  t.equal(restarted.view(START + 40 * H).silentSeconds, 10 * 3600, 'the state file\'s lastEventAt: 10 h silent at load')
  mono += 14 * H
  t.equal(restarted.alerting(START), true, '10 h before the restart and 14 h since: alerting')
  t.end()
})
