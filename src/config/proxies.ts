/**
 * Outbound proxies: each variable is checked when set and named in the message, never echoed with its credentials;
 * which proxy a URL goes through is src/proxy.ts's rule.
 */
import { proxyFor } from '../proxy.js'
import type { ProxyChoice } from '../proxy.js'
import { checkHttpUrl } from './formats.js'
import type { Resolving } from './sources.js'
import type { ReceiverConfig } from './types.js'

const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'] as const

/** The proxy of each end, absent for a direct connection. `env`: the whole environment (the proxy variables are not in the schema). */
export function resolveProxies(
  { raw, report, problem }: Resolving,
  env: Record<string, string | undefined>,
  otel: Pick<ReceiverConfig['otel'], 'logsEndpoint' | 'protocol'>,
): { api?: ProxyChoice; otlp?: ProxyChoice } {
  const explicit = raw.PROOFPOINT_PROXY_URL.trim()
  if (explicit !== '') {
    const wrong = checkHttpUrl(explicit)
    if (wrong) report('PROOFPOINT_PROXY_URL', wrong)
  }
  for (const name of PROXY_VARIABLES) {
    const value = env[name]?.trim()
    const wrong = value ? checkHttpUrl(value) : undefined
    if (wrong) problem(`${name}: ${wrong}`)
  }
  const api = proxyFor(raw.PROOFPOINT_BASE_URL, env, explicit === '' ? undefined : { url: explicit, from: 'PROOFPOINT_PROXY_URL' })
  const otlp = proxyFor(otel.logsEndpoint, env)
  if (otlp && otel.protocol === 'grpc' && !/^http:\/\//i.test(otlp.url)) {
    problem(`${otlp.from}: the OTLP/gRPC export tunnels through http:// proxies only (grpc-js); use the proxy's http:// address, or NO_PROXY for the collector`)
  }
  return { ...(api ? { api } : {}), ...(otlp ? { otlp } : {}) }
}
