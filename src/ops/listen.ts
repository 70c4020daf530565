import type { FastifyInstance } from 'fastify'
import { ConfigError } from '../errors.js'
import { errorCodeOf } from '../http-util.js'

/**
 * Listens on RECEIVER_HTTP_HOST:RECEIVER_HTTP_PORT; resolves with the address. An address that cannot be taken (a
 * busy port, a privileged port, a host that is not this machine's) is the operator's to fix: it rejects with a
 * ConfigError naming the setting to change (the process exits 78), not with the bare `listen EADDRINUSE`.
 */
export async function listenOpsServer(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port })
  } catch (err) {
    const problem = listenProblem(err, host, port)
    if (problem === undefined) throw err
    throw new ConfigError([problem])
  }
}

/** What to change when listen failed with `err`; undefined when it is not about the address. */
function listenProblem(err: unknown, host: string, port: number): string | undefined {
  const code = errorCodeOf(err)
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  switch (code) {
    case 'EADDRINUSE':
      return `RECEIVER_HTTP_PORT: the ops server cannot listen on ${where}: the port is already in use (EADDRINUSE) by another process (another receiver, or a collector or shipper in the same pod or host); set RECEIVER_HTTP_PORT to a free port, or RECEIVER_HTTP_HOST to another address`
    case 'EACCES':
    case 'EPERM':
      return `RECEIVER_HTTP_PORT: the ops server is not allowed to listen on ${where} (${code}; ports below 1024 need privileges): set RECEIVER_HTTP_PORT to a port above 1023`
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
    case 'EINVAL':
      return `RECEIVER_HTTP_HOST: the ops server cannot listen on ${where} (${code}): "${host}" is not an address of this machine; use 0.0.0.0 (every IPv4 address), 127.0.0.1, or one of this machine's addresses`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
      return `RECEIVER_HTTP_HOST: the ops server cannot listen on ${where}: "${host}" does not resolve (${code}); use an IP address such as 0.0.0.0 or 127.0.0.1`
    default:
      return undefined
  }
}
