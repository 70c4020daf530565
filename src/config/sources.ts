/** Where each setting's value comes from, which empty values count as set, and what every resolver shares. */
import { CONFIG_VARIABLES } from './schema.js'
import type { ReadFile } from './read-file.js'
import type { ConfigVariable, RawConfig } from './schema.js'
import type { ConfigSource } from './types.js'

export type Sources = Record<ConfigVariable, ConfigSource>

/** Reports a problem with a setting; the loader names the setting (and the file it came from). */
export type Report = (name: ConfigVariable, problem: string) => void

/** An empty value means unset (as OpenTelemetry says), except where "empty" is itself the mistake to report. */
export const EMPTY_IS_A_VALUE: ReadonlySet<ConfigVariable> = new Set<ConfigVariable>([
  'PROOFPOINT_PRINCIPAL',
  'PROOFPOINT_SECRET',
  'PROOFPOINT_SECRET_FILE',
  // Set but empty is a mistake: the operator meant to protect the ops server, so do not silently leave it open.
  'RECEIVER_HTTP_AUTH_TOKEN_FILE',
])

/** The receiver's variables from the environment, unset and (mostly) empty ones left out. */
export function settingsFromEnv(env: Record<string, string | undefined>): Partial<Record<ConfigVariable, string>> {
  const out: Partial<Record<ConfigVariable, string>> = {}
  for (const name of CONFIG_VARIABLES) {
    const value = env[name]
    if (value === undefined || (value === '' && !EMPTY_IS_A_VALUE.has(name))) continue
    out[name] = value
  }
  return out
}

export function isSet(sources: Sources, name: ConfigVariable): boolean {
  return sources[name] !== 'default'
}

export type OtelVariable = Extract<ConfigVariable, `OTEL_${string}`>

/** A setting that is set: its name and its value, trimmed. */
export interface Setting {
  name: OtelVariable
  value: string
}

/** The signal-specific variable if set, else the general one; undefined when neither is. */
export type PickSetting = (general: OtelVariable, logs: OtelVariable) => Setting | undefined

/** The OpenTelemetry rule for a general/signal-specific pair (OTEL_EXPORTER_OTLP_X, OTEL_EXPORTER_OTLP_LOGS_X). */
export function pickerFor(raw: RawConfig, sources: Sources): PickSetting {
  return (general, logs) => {
    if (isSet(sources, logs)) return { name: logs, value: raw[logs].trim() }
    if (isSet(sources, general)) return { name: general, value: raw[general].trim() }
    return undefined
  }
}

/** What every resolver works from: the values, where they came from, and where its problems go. */
export interface Resolving {
  raw: RawConfig
  sources: Sources
  /** A problem with one setting (named first, and the config file when it came from there). */
  report: Report
  /** A problem that concerns several settings, or a variable outside the schema: the text names them. */
  problem: (text: string) => void
  readFile: ReadFile
}
