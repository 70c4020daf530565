/** Configuration: the schema, loading (environment, config file, secret file), validation and description. */
import { CONFIG_VARIABLES as VARIABLES } from './schema.js'

export { loadConfig, describeConfig, readSecretFile, checkRequestBudget } from './load.js'
export type { LoadedConfig, LoadOptions, ConfigRow } from './load.js'
export { parseDuration, formatDuration } from './duration.js'
export type { ConfigVariable } from './schema.js'
/** A URL with its user info and query values redacted, for logs and output. */
export { redactUrl } from './schema.js'
export type { ConfigSource, ReceiverConfig } from './types.js'

/** Every variable the receiver knows (environment and config file keys), in schema order. */
export const CONFIG_VARIABLES: readonly string[] = VARIABLES
