/** Configuration: the schema, loading (environment, config file, secret files), validation and description. */
import { CONFIG_VARIABLES as VARIABLES } from './schema.js'

export { loadConfig } from './load.js'
export type { LoadOptions } from './load.js'
export { describeConfig } from './describe.js'
export type { ConfigRow } from './describe.js'
export { readSecretFile } from './secrets.js'
export { parseConfigFile } from './config-file.js'
export { mappingOptions, recordOptions, siemClientOptions, siemSecrets } from './part-options.js'
export { checkRequestBudget } from '../state/budget.js'
export { parseDuration, formatDuration } from './duration.js'
export type { ConfigVariable } from './schema.js'
export type { ConfigSource, LoadedConfig, ReceiverConfig } from './types.js'

/** Every variable the receiver knows (environment and config file keys), in schema order. */
export const CONFIG_VARIABLES: readonly string[] = VARIABLES
