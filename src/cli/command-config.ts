/**
 * The configuration of `map` and `demo`, read the way `run` reads it (the environment, then the `--config` file or
 * RECEIVER_CONFIG_FILE, then the defaults), with the settings the command decides itself taken out of both.
 */
import { readFileSync } from 'node:fs'
import { loadConfig, parseConfigFile } from '../config/index.js'
import type { LoadedConfig, LoadOptions } from '../config/index.js'

export interface CommandConfigOptions {
  env: Record<string, string | undefined>
  /** `--config FILE`; else RECEIVER_CONFIG_FILE from `env`, as for `run`. */
  configFile?: string | undefined
  /**
   * Settings the command decides (undefined: unset): they replace what the environment and the file say, so a
   * production file's PROOFPOINT_SECRET_FILE, say, is neither read nor in conflict with the command's own secret.
   */
  fixed: Record<string, string | undefined>
  /** The command's own defaults: used where neither the environment nor the file sets the variable. */
  defaults?: Record<string, string>
  /** false: the command never calls the SIEM API, so it needs no credentials (see LoadOptions). */
  requireCredentials?: LoadOptions['requireCredentials']
}

/** Throws ConfigError as loadConfig does. */
export function loadCommandConfig(opts: CommandConfigOptions): LoadedConfig {
  const path = opts.configFile ?? (opts.env.RECEIVER_CONFIG_FILE || undefined)
  const file = path === undefined ? undefined : fileWithout(path, Object.keys(opts.fixed))
  const defaults: Record<string, string> = {}
  for (const [name, value] of Object.entries(opts.defaults ?? {})) {
    if (!opts.env[name] && !file?.keys.has(name)) defaults[name] = value
  }
  return loadConfig({
    env: { ...defaults, ...opts.env, ...opts.fixed },
    ...(opts.configFile === undefined ? {} : { configFile: opts.configFile }),
    ...(opts.requireCredentials === undefined ? {} : { requireCredentials: opts.requireCredentials }),
    // The file as loadConfig would read it, less the fixed settings; every other file (secret, CA, token) as usual.
    readFile: (p) => (p === path && file?.text !== undefined ? file.text : readFileSync(p, 'utf8')),
  })
}

/**
 * The config file's text without `drop`, and the keys it sets. A file that cannot be read or parsed, or is not a
 * mapping, is left to loadConfig, which reports it exactly as for `run` (text undefined).
 */
function fileWithout(path: string, drop: readonly string[]): { text?: string; keys: Set<string> } {
  const file = parseConfigFile(path, (p) => readFileSync(p, 'utf8'))
  if ('problem' in file) return { keys: new Set() }
  const values = { ...file.settings }
  for (const name of drop) delete values[name]
  // JSON is YAML too: loadConfig parses the text by the file's extension either way.
  return { text: JSON.stringify(values), keys: new Set(Object.keys(values)) }
}
