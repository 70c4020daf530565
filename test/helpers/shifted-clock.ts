/**
 * Environment that starts a child receiver's clock `offsetMs` ahead of the real one: loaded with node --import,
 * Date (now, new Date(), Date()) and performance.timeOrigin (its monotonic clock) run ahead; timers are untouched.
 */
export function shiftedClockEnv(offsetMs: number): Record<string, string> {
  if (offsetMs === 0) return {}
  const code = [
    `const OFFSET = ${offsetMs}, RealDate = globalThis.Date, realNow = RealDate.now`,
    'class Date extends RealDate {',
    '  constructor(...a) { if (a.length === 0) super(realNow() + OFFSET); else super(...a) }',
    '  static now() { return realNow() + OFFSET }',
    '  static [Symbol.hasInstance](x) { return x instanceof RealDate }',
    '}',
    'globalThis.Date = new Proxy(Date, { apply: () => new Date().toString() })',
    'const origin = performance.timeOrigin + OFFSET',
    "Object.defineProperty(performance, 'timeOrigin', { get: () => origin, configurable: true })",
  ].join('\n')
  // Added to the NODE_OPTIONS this process got (tap's process-info and coverage hooks stay).
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --import=data:text/javascript,${encodeURIComponent(code)}`.trim()
  return { NODE_OPTIONS: nodeOptions }
}
