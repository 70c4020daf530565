import { CONFIG_VARIABLES as VARIABLES } from './schema.js'

export { loadConfig } from './load.js'
export type { LoadOptions } from './load.js'
export { describeConfig } from './describe.js'
export { readSecretFile } from './secrets.js'
export { parseConfigFile } from './config-file.js'
export { mappingOptions, recordOptions, siemClientOptions, siemSecrets } from './part-options.js'
export { parseDuration, formatDuration } from './duration.js'
export type { LoadedConfig, ReceiverConfig } from './types.js'

/** Typed as strings, so that callers can ask whether any name is one. */
export const CONFIG_VARIABLES: readonly string[] = VARIABLES
