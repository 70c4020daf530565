/**
 * Loading: defaults < config file < environment, then validation that reports every problem at once. Each concern
 * resolves its own settings; this module puts them together. Pure apart from `readFile`.
 */
import { ConfigError } from '../errors.js'
import { EVENT_TYPES } from '../siem/types.js'
import type { EventType } from '../siem/types.js'
import { noConfigFile, readConfigFile } from './config-file.js'
import { resolveOtel } from './otel.js'
import { resolveProxies } from './proxies.js'
import { defaultReadFile } from './read-file.js'
import type { ReadFile } from './read-file.js'
import { THREAT_STATUSES, quote } from './formats.js'
import { CONFIG_VARIABLES, createConvict, isConfigVariable } from './schema.js'
import type { ConfigVariable } from './schema.js'
import { resolveAuthToken, resolveCredentials } from './secrets.js'
import { checkSiemLimits } from './siem-limits.js'
import { settingsFromEnv } from './sources.js'
import type { Resolving, Sources } from './sources.js'
import { resolveApiCa, tlsFilePaths } from './tls.js'
import type { LoadedConfig, ReceiverConfig } from './types.js'

export interface LoadOptions {
  /** The environment (main passes process.env). Unknown variables are ignored. */
  env: Record<string, string | undefined>
  /** `--config FILE`: wins over RECEIVER_CONFIG_FILE. */
  configFile?: string
  /** Reads a config, secret or certificate file as UTF-8 text; defaults to fs.readFileSync. */
  readFile?: ReadFile
  /**
   * false: the SIEM API credentials are not required (`map` never calls the API). Credentials that are given are
   * checked either way; missing ones leave `config.proofpoint.principal` and `secret` empty.
   */
  requireCredentials?: boolean
}

/**
 * convict reports all invalid settings in one message, a line each: `NAME: what is wrong[: value was "..."]`.
 * Our formats already quote the value where it is not sensitive, so convict's suffix is cut.
 */
function convictProblems(err: unknown): { problems: Map<ConfigVariable, string>; other: string[] } {
  const problems = new Map<ConfigVariable, string>()
  const other: string[] = []
  const message = err instanceof Error ? err.message : String(err)
  for (const line of message.split('\n')) {
    if (line.trim() === '') continue
    const sep = line.indexOf(': ')
    const name = sep > 0 ? line.slice(0, sep) : ''
    if (!isConfigVariable(name)) {
      other.push(line)
      continue
    }
    const text = line.slice(sep + 2)
    const cut = text.indexOf(': value was ')
    problems.set(name, cut >= 0 ? text.slice(0, cut) : text)
  }
  return { problems, other }
}

function eventTypesOf(names: string[]): EventType[] {
  if (names.includes('all')) return [...EVENT_TYPES]
  return EVENT_TYPES.filter((t) => names.includes(t))
}

function threatStatusOf(text: string): string | undefined {
  const statuses = THREAT_STATUSES.filter((s) => text.split(',').some((item) => item.trim() === s))
  return statuses.length > 0 ? statuses.join(',') : undefined
}

/** Throws one ConfigError listing every problem, each naming its setting; secret values never appear in it. */
export function loadConfig(opts: LoadOptions): LoadedConfig {
  const readFile = opts.readFile ?? defaultReadFile
  const env = settingsFromEnv(opts.env)
  const configFile = opts.configFile ?? env.RECEIVER_CONFIG_FILE
  const setting = opts.configFile !== undefined ? '--config' : 'RECEIVER_CONFIG_FILE'
  const file = configFile === undefined ? noConfigFile() : readConfigFile(configFile, setting, readFile)
  const problems = [...file.problems]

  const sources = {} as Sources
  for (const name of CONFIG_VARIABLES) sources[name] = name in env ? 'env' : name in file.values ? 'file' : 'default'
  if (opts.configFile !== undefined) sources.RECEIVER_CONFIG_FILE = 'arg'

  // A value that came from the file says so.
  const report = (name: ConfigVariable, problem: string): void => {
    const where = sources[name] === 'file' && configFile !== undefined ? ` (set in ${quote(configFile)})` : ''
    problems.push(`${name}: ${problem}${where}`)
  }

  const cfg = createConvict(env)
  cfg.load(file.values) // the environment is applied again on top: it wins
  const raw = cfg.getProperties()
  let invalid = new Map<ConfigVariable, string>()
  try {
    cfg.validate({ allowed: 'strict' })
  } catch (err) {
    const found = convictProblems(err)
    invalid = found.problems
    problems.push(...found.other)
  }
  for (const [name, problem] of invalid) report(name, problem)
  checkSiemLimits(raw, (name) => !invalid.has(name), report)

  const resolving: Resolving = { raw, sources, report, problem: (text) => problems.push(text), readFile }
  // Credentials are not reported missing when the command needs none, or a config file that may hold them failed.
  const mayBeMissing = (name: ConfigVariable): boolean => opts.requireCredentials === false || file.failed || file.refused.has(name)
  const { principal, secret, secretFile } = resolveCredentials(resolving, mayBeMissing)
  const httpAuth = resolveAuthToken(resolving)
  const apiCa = resolveApiCa(resolving)
  const otel = resolveOtel(resolving)
  const proxies = resolveProxies(resolving, opts.env, otel)
  if (proxies.otlp) otel.proxy = proxies.otlp

  if (problems.length > 0) throw new ConfigError(problems)

  const config: ReceiverConfig = {
    proofpoint: {
      baseUrl: raw.PROOFPOINT_BASE_URL.replace(/\/+$/, ''),
      principal,
      secret,
      secretFile,
      ...apiCa,
      ...(proxies.api ? { proxy: proxies.api } : {}),
      eventTypes: eventTypesOf(raw.PROOFPOINT_EVENT_TYPES),
      threatStatus: threatStatusOf(raw.PROOFPOINT_THREAT_STATUS),
      threatType: raw.PROOFPOINT_THREAT_TYPE || undefined,
      requestBudget: raw.PROOFPOINT_REQUEST_BUDGET,
      requestTimeoutMs: raw.PROOFPOINT_REQUEST_TIMEOUT,
    },
    receiver: {
      pollIntervalMs: raw.RECEIVER_POLL_INTERVAL,
      startLookbackMs: raw.RECEIVER_START_LOOKBACK,
      stateDir: raw.RECEIVER_STATE_DIR,
      noEventsAlertAfterMs: raw.RECEIVER_NO_EVENTS_ALERT_AFTER,
      httpHost: raw.RECEIVER_HTTP_HOST,
      httpPort: raw.RECEIVER_HTTP_PORT,
      logLevel: raw.RECEIVER_LOG_LEVEL,
      body: raw.RECEIVER_BODY,
      attributeShape: raw.RECEIVER_ATTRIBUTE_SHAPE,
      indicators: raw.RECEIVER_INDICATORS === 'true',
      standardFields: raw.RECEIVER_STANDARD_FIELDS === 'true',
      overlapMs: raw.RECEIVER_OVERLAP,
      retryMaxBackoffMs: raw.RECEIVER_RETRY_MAX_BACKOFF,
      noEventsFailsReadiness: raw.RECEIVER_NO_EVENTS_FAILS_READINESS === 'true',
      exportBatchSize: raw.RECEIVER_EXPORT_BATCH_SIZE,
      exportConcurrency: raw.RECEIVER_EXPORT_CONCURRENCY,
      workers: raw.RECEIVER_WORKERS,
      windowMaxEvents: raw.RECEIVER_WINDOW_MAX_EVENTS,
      windowMaxBytes: raw.RECEIVER_WINDOW_MAX_MB * 1024 * 1024,
      ...httpAuth,
    },
    otel,
  }
  const tlsFiles = tlsFilePaths(raw, sources)
  return {
    config,
    sources,
    ...(configFile !== undefined ? { configFile } : {}),
    ...(Object.keys(tlsFiles).length > 0 ? { tlsFiles } : {}),
  }
}
