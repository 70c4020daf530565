/**
 * The config file (`--config FILE` or RECEIVER_CONFIG_FILE): JSON or YAML, its keys the environment variable names,
 * each value turned into the text the environment would carry. An unknown key is reported with the nearest name
 * (did you mean ...?). Parser messages are never passed on: they quote the file, which may hold the secret.
 */
import { extname } from 'node:path'
import { parse as parseYaml, YAMLError } from 'yaml'
import { quote } from './formats.js'
import { CONFIG_VARIABLES, fileValueKind, isConfigVariable } from './schema.js'
import type { ConfigVariable } from './schema.js'
import { readText } from './read-file.js'
import type { ReadFile } from './read-file.js'
import { EMPTY_IS_A_VALUE } from './sources.js'

export interface FileResult {
  values: Partial<Record<ConfigVariable, string>>
  problems: string[]
  /** The file could not be read or parsed: settings it may hold are unknown. */
  failed: boolean
  /** Settings the file gives a value of the wrong kind for: reported as such, not as missing. */
  refused: ReadonlySet<ConfigVariable>
}

/** The file's mapping of setting names to values, or what is wrong with it. An empty file is an empty mapping. */
export function parseConfigFile(path: string, readFile: ReadFile): { settings: Record<string, unknown> } | { problem: string } {
  const ext = extname(path).toLowerCase()
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    return { problem: `${quote(path)} is neither JSON nor YAML: name it *.json, *.yaml or *.yml` }
  }
  const file = readText(path, readFile, true)
  if ('problem' in file) return file
  const { text } = file
  let parsed: unknown
  try {
    parsed = text.trim() === '' ? {} : ext === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    if (ext === '.json') return { problem: `${quote(path)} is not valid JSON${jsonErrorPosition(err, text)}` }
    if (!(err instanceof YAMLError)) return { problem: `${quote(path)} is not valid YAML` }
    const at = err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : ''
    return { problem: `${quote(path)} is not valid YAML (${err.code}${at})` }
  }
  parsed ??= {}
  if (!isPlainObject(parsed)) {
    return { problem: `${quote(path)} must hold a mapping of setting names (the environment variable names) to values` }
  }
  return { settings: parsed }
}

/** The config file's settings as the environment's text; `setting` (--config or RECEIVER_CONFIG_FILE) names it in problems. */
export function readConfigFile(path: string, setting: string, readFile: ReadFile): FileResult {
  const file = parseConfigFile(path, readFile)
  if ('problem' in file) return { values: {}, problems: [`${setting}: ${file.problem}`], failed: true, refused: new Set() }

  const values: Partial<Record<ConfigVariable, string>> = {}
  const problems: string[] = []
  const refused = new Set<ConfigVariable>()
  for (const [key, value] of Object.entries(file.settings)) {
    if (/^(https?_proxy|no_proxy)$/i.test(key)) {
      // Read by the HTTP clients from the environment, as every tool reads them: one place, not two that may disagree.
      problems.push(`${setting}: ${quote(path)} sets ${key}, which is read from the environment only (as curl and Node read it): set it there, or PROOFPOINT_PROXY_URL in the file for the SIEM API`)
      continue
    }
    if (!isConfigVariable(key)) {
      problems.push(`${setting}: ${quote(path)} has an unknown setting ${quote(key)}${suggestion(key)}; keys are the environment variable names`)
      continue
    }
    if (key === 'RECEIVER_CONFIG_FILE') {
      problems.push(`${setting}: ${quote(path)} sets RECEIVER_CONFIG_FILE, which only the environment can set`)
      continue
    }
    const text = settingText(key, value)
    if (typeof text !== 'string') {
      // Names what was given (a list, a number, ...), never the value: it may be the secret.
      problems.push(`${key}: in ${quote(path)} ${text.problem}`)
      refused.add(key)
      continue
    }
    if (text === '' && !EMPTY_IS_A_VALUE.has(key)) continue
    values[key] = text
  }
  return { values, problems, failed: false, refused }
}

/** What a file value is, for messages: never the value itself. */
function fileValueType(value: unknown): string {
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object' && value !== null) return 'a mapping'
  return `a ${typeof value}`
}

/**
 * File values become the text the environment would carry, where the setting takes that kind of value
 * (see FileValueKind): 8080 → "8080" for a port, [a, b] → "a,b" for a comma list; null → unset ('').
 */
function settingText(name: ConfigVariable, value: unknown): string | { problem: string } {
  if (value === null || typeof value === 'string') return value ?? ''
  const kind = fileValueKind(name)
  if (kind === 'number' && typeof value === 'number') return String(value)
  if (kind === 'boolean' && typeof value === 'boolean') return String(value)
  if (kind === 'list' && Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(',')
  const given = fileValueType(value)
  switch (kind) {
    case 'number':
      return { problem: `must be a number or a string, not ${given}` }
    case 'boolean':
      return { problem: `must be true or false, not ${given}` }
    case 'list':
      return { problem: `must be a string or a list of strings, not ${given === 'a list' ? 'a list holding other values' : given}` }
    default:
      if (typeof value === 'number' || typeof value === 'boolean') {
        return { problem: `must be a string, not ${given}: put the value in quotes (a YAML number loses leading zeros and digits)` }
      }
      return { problem: `must be a string, not ${given}` }
  }
}

/** No config file: nothing set, nothing wrong. */
export function noConfigFile(): FileResult {
  return { values: {}, problems: [], failed: false, refused: new Set() }
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length] ?? 0
}

function suggestion(key: string): string {
  const upper = key.toUpperCase().replace(/[.-]/g, '_')
  let best: ConfigVariable | undefined
  let bestDistance = 4
  for (const name of CONFIG_VARIABLES) {
    const d = name === upper ? 0 : levenshtein(upper, name)
    if (d < bestDistance) {
      best = name
      bestDistance = d
    }
  }
  return best ? ` (did you mean ${best}?)` : ''
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function jsonErrorPosition(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : ''
  const lineCol = /line (\d+) column (\d+)/.exec(message)
  if (lineCol) return ` at line ${lineCol[1]}, column ${lineCol[2]}`
  const pos = /at position (\d+)/.exec(message)
  if (!pos) return ''
  const before = text.slice(0, Number(pos[1]))
  const line = before.split('\n').length
  const column = before.length - before.lastIndexOf('\n')
  return ` at line ${line}, column ${column}`
}
