/**
 * The configuration of `map` and `demo`, read the way `run` reads it (the environment, then the `--config` file or
 * RECEIVER_CONFIG_FILE, then the defaults), with the settings the command decides itself taken out of both.
 */
import { readFileSync } from 'node:fs'
import { loadConfig, parseConfigFile } from '../config/index.js'
import type { LoadedConfig, LoadOptions } from '../config/index.js'
import { ConfigError } from '../errors.js'

export interface CommandConfigOptions {
  /** Names the command in the message of a ConfigError, written to `stderr`. */
  command: string
  stderr: NodeJS.WritableStream
  env: Record<string, string | undefined>
  /** `--config FILE`; else RECEIVER_CONFIG_FILE from `env`, as for `run`. */
  configFile?: string | undefined
  /**
   * Settings the command decides (undefined: unset): they replace what the environment and the file say, so a
   * production file's PROOFPOINT_SECRET_FILE, say, is neither read nor in conflict with the command's own secret.
   */
  fixed: Record<string, string | undefined>
  /** Used where neither the environment nor the file sets the variable. */
  defaults?: Record<string, string>
  requireCredentials?: LoadOptions['requireCredentials']
}

/** undefined when the configuration is invalid (ConfigError, written to `stderr`). */
export function loadCommandConfig(opts: CommandConfigOptions): LoadedConfig | undefined {
  const path = opts.configFile ?? (opts.env.RECEIVER_CONFIG_FILE || undefined)
  const file = path === undefined ? undefined : fileWithout(path, Object.keys(opts.fixed))
  const defaults: Record<string, string> = {}
  for (const [name, value] of Object.entries(opts.defaults ?? {})) {
    if (!opts.env[name] && !file?.keys.has(name)) defaults[name] = value
  }
  try {
    return loadConfig({
      env: { ...defaults, ...opts.env, ...opts.fixed },
      configFile: opts.configFile,
      requireCredentials: opts.requireCredentials,
      // The file as loadConfig would read it, less the fixed settings; every other file (secret, CA, token) as usual.
      readFile: (p) => (p === path && file?.text !== undefined ? file.text : readFileSync(p, 'utf8')),
    })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    opts.stderr.write(`${opts.command}: ${err.message}\n`)
    return undefined
  }
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
