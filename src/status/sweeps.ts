/** The late-event sweeps as /status and /metrics show them: the schedule, and what each stage found. */
import { formatDuration } from '../config/duration.js'
import { iso } from './snapshot.js'

export interface SweepView {
  /** The stage's age as written in durations (`10m`, `35m`): the label of its metrics. */
  age: string
  ageSeconds: number
  /** What the stage reads at once when it keeps up. */
  spanSeconds: number
  /** Every instant before this was read again at least the age after it. */
  through: string | null
  /** When the next span is ripe (through + span + age); a stage behind its schedule is due at once. */
  nextAt: string | null
  /** now − through: between the age and age + span when the stage keeps up; more means it is behind. */
  lagSeconds: number | null
  /** Events this stage found that no earlier request had returned (indexed late), since the process started. */
  lateEvents: number
  lastSweep: { at: string; start: string; end: string; lateEvents: number } | null
  /**
   * Seconds this stage could not read again because the SIEM API no longer served them (7 days, after a long
   * downtime), since the process started: late events there were not looked for.
   */
  unreachableSeconds: number
}

interface Stage {
  ageMs: number
  through: number | undefined
  lateEvents: number
  unreachableMs: number
  last: { at: number; start: number; end: number; lateEvents: number } | undefined
}

export class SweepStatus {
  private stages: Stage[] = []
  private spanMs = 0

  /** The configured stages (ages in ms, youngest first) and their span. */
  configure(agesMs: readonly number[], spanMs: number): void {
    this.spanMs = spanMs
    this.stages = agesMs.map((ageMs) => ({ ageMs, through: undefined, lateEvents: 0, unreachableMs: 0, last: undefined }))
  }

  /** The stages' cursors, as saved. */
  setThroughs(throughs: readonly number[]): void {
    throughs.forEach((through, i) => {
      const stage = this.stages[i]
      if (stage) stage.through = through
    })
  }

  /** `stage` exported `n` events no earlier request had returned: counted as the collector took them, committed or not. */
  found(stage: number, n: number): void {
    const s = this.stages[stage]
    if (s) s.lateEvents += n
  }

  /**
   * A sweep of `stage` over [start, end] was committed at `at`; `lateEvents` of its events were new (counted by
   * `found` as they were exported).
   */
  swept(stage: number, at: number, start: number, end: number, lateEvents: number): void {
    const s = this.stages[stage]
    if (!s) return
    s.last = { at, start, end, lateEvents }
  }

  /** `stage` passed `ms` it had not read again, which the API no longer served. */
  unreachable(stage: number, ms: number): void {
    const s = this.stages[stage]
    if (s) s.unreachableMs += ms
  }

  view(now: number): SweepView[] {
    return this.stages.map((s) => ({
      age: formatDuration(s.ageMs),
      ageSeconds: s.ageMs / 1000,
      spanSeconds: this.spanMs / 1000,
      through: s.through === undefined ? null : iso(s.through),
      nextAt: s.through === undefined ? null : iso(s.through + this.spanMs + s.ageMs),
      lagSeconds: s.through === undefined ? null : Math.max(0, Math.floor((now - s.through) / 1000)),
      lateEvents: s.lateEvents,
      lastSweep: s.last === undefined ? null : { at: iso(s.last.at), start: iso(s.last.start), end: iso(s.last.end), lateEvents: s.last.lateEvents },
      unreachableSeconds: Math.round(s.unreachableMs / 1000),
    }))
  }
}
