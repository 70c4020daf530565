/** The SIEM API simulator: a deterministic event generator and a loopback HTTP server that serves it. */
export { indexingLagMs, startSimulator } from './server.js'
export type { SiemSimulator, SimulatorOptions, SimulatorRequest } from './server.js'
export { forEachGeneratedEvent, generateEvents, generateMinute, minuteSeed, Rng } from './generator.js'
