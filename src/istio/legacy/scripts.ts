// scripts-0.8 generation (and the 2017 draft before it): the files setupMeshEx.sh wrote on
// the admin machine and setupIstioVM.sh installed on the VM. Follows the reference
// legacy-generations.md, "Gen 0" and "Gen 1" (generateClusterEnv, generateDnsmasq,
// machineCerts, the VM package contract), and seeds 000 (0.2/0.3) and 003 (the draft).

import { Buffer } from 'node:buffer'
import {
  LegacyInputError,
  formatEnvFile,
  portList,
  requireCidrList,
  requireDnsLabel,
  requireIP
} from './common.ts'

export type ControlPlaneAuthPolicy = 'MUTUAL_TLS' | 'NONE'

/**
 * Which release's cluster.env: `0.2` (0.2/0.3: the CIDR only), `0.4` (0.4–0.8: adds
 * ISTIO_SYSTEM_NAMESPACE and CONTROL_PLANE_AUTH_POLICY), `1.0` (1.0+: the auth key is
 * ISTIO_CP_AUTH, #5950).
 */
export type ScriptsClusterEnvForm = '0.2' | '0.4' | '1.0'

export interface ScriptsClusterEnvInput {
  readonly form: ScriptsClusterEnvForm
  /** The cluster's Service CIDR (comma list allowed): the outbound capture range. */
  readonly serviceCidr: string
  /** ISTIO_NAMESPACE of the scripts; default istio-system. */
  readonly systemNamespace?: string
  /** CONTROL_PLANE_AUTH_POLICY of the scripts; default MUTUAL_TLS. */
  readonly authPolicy?: ControlPlaneAuthPolicy
  /**
   * Write both CONTROL_PLANE_AUTH_POLICY and ISTIO_CP_AUTH (default true for 0.4 and 1.0):
   * the 0.8 VM package reads only ISTIO_CP_AUTH while the 0.8 script still wrote the old key,
   * and 0.5–0.7 read only the old key, so both is right for every release. `false`
   * reproduces exactly what the script of that release wrote.
   */
  readonly bothAuthKeys?: boolean
}

/** cluster.env in the form setupMeshEx.sh generateClusterEnv wrote it (key order kept). */
export function renderScriptsClusterEnv(input: ScriptsClusterEnvInput): string {
  const entries: [string, string][] = [
    ['ISTIO_SERVICE_CIDR', requireCidrList('serviceCidr', input.serviceCidr)]
  ]
  if (input.form === '0.2') return formatEnvFile(entries)
  const ns = requireDnsLabel('systemNamespace', input.systemNamespace ?? 'istio-system')
  const auth = input.authPolicy ?? 'MUTUAL_TLS'
  if (auth !== 'MUTUAL_TLS' && auth !== 'NONE') {
    throw new LegacyInputError(`authPolicy: "${String(auth)}" is neither MUTUAL_TLS nor NONE`)
  }
  entries.push(['ISTIO_SYSTEM_NAMESPACE', ns])
  const both = input.bothAuthKeys ?? true
  if (input.form === '0.4' || both) entries.push(['CONTROL_PLANE_AUTH_POLICY', auth])
  if (input.form === '1.0' || both) entries.push(['ISTIO_CP_AUTH', auth])
  return formatEnvFile(entries)
}

/**
 * The dnsmasq file `kubedns` (installed as /etc/dnsmasq.d/kubedns), one form per era:
 * - `draft`: the 2017 istio_vm_common.sh (seed 003): mixer, its `mixer-server` alias, pilot, CA;
 * - `0.2`: 0.2–0.7: mixer, pilot, CA, each bare and with the `.<ns>` suffix;
 * - `0.8`: 0.8–1.5: policy and telemetry (both the mixer ILB), pilot, citadel and the
 *   deprecated istio-ca alias, bare then suffixed;
 * - `1.6`: 1.6/1.7 (#21658): pilot and istiod at the ingress gateway.
 * Every form starts with `server=/svc.cluster.local/<DNS ILB>`.
 */
export type KubednsInput =
  | {
      readonly form: 'draft' | '0.2' | '0.8'
      readonly namespace?: string
      readonly dns: string
      readonly pilot: string
      readonly mixer: string
      readonly ca: string
    }
  | {
      readonly form: '1.6'
      readonly namespace?: string
      readonly dns: string
      readonly gateway: string
    }

export function renderKubedns(input: KubednsInput): string {
  const ns = requireDnsLabel('namespace', input.namespace ?? 'istio-system')
  const lines = [`server=/svc.cluster.local/${requireIP('dns', input.dns)}`]
  const address = (name: string, ip: string): string => `address=/${name}/${ip}`
  if (input.form === '1.6') {
    const gw = requireIP('gateway', input.gateway)
    lines.push(address('istio-pilot', gw), address(`istiod.${ns}.svc`, gw))
    return lines.join('\n') + '\n'
  }
  const pilot = requireIP('pilot', input.pilot)
  const mixer = requireIP('mixer', input.mixer)
  const ca = requireIP('ca', input.ca)
  let names: [string, string][]
  if (input.form === 'draft') {
    lines.push(
      address('istio-mixer', mixer),
      address('mixer-server', mixer),
      address('istio-pilot', pilot),
      address('istio-ca', ca)
    )
    return lines.join('\n') + '\n'
  } else if (input.form === '0.2') {
    names = [
      ['istio-mixer', mixer],
      ['istio-pilot', pilot],
      ['istio-ca', ca]
    ]
  } else {
    names = [
      ['istio-policy', mixer],
      ['istio-telemetry', mixer],
      ['istio-pilot', pilot],
      ['istio-citadel', ca],
      ['istio-ca', ca]
    ]
  }
  for (const [n, ip] of names) lines.push(address(n, ip))
  for (const [n, ip] of names) lines.push(address(`${n}.${ns}`, ip))
  return lines.join('\n') + '\n'
}

export interface SidecarEnvInput {
  /** Inbound ports to capture, or `*` for all; empty = no ISTIO_INBOUND_PORTS line. */
  readonly inboundPorts: readonly number[] | '*'
  /** ISTIO_SVC_IP: the address the sidecar announces (multi-NIC hosts). */
  readonly serviceIP?: string
  /**
   * ISTIO_LOCAL_EXCLUDE_PORTS: the ports that must stay reachable (the VM's SSH port,
   * reachablePorts). istio-iptables honours it with `*` only: an explicit inbound list that
   * holds one of them is refused.
   */
  readonly localExcludePorts?: readonly number[]
}

/** /var/lib/istio/envoy/sidecar.env, sourced by istio-start.sh before cluster.env. */
export function renderSidecarEnv(input: SidecarEnvInput): string {
  const entries: [string, string][] = []
  const excluded = input.localExcludePorts ?? []
  const captured =
    input.inboundPorts === '*' ? [] : input.inboundPorts.filter(port => excluded.includes(port))
  if (captured.length > 0) {
    throw new LegacyInputError(
      `inboundPorts: port ${captured.join(', ')} must stay reachable (the SSH port or ` +
        'reachablePorts) but an explicit ISTIO_INBOUND_PORTS list is captured whatever ' +
        "ISTIO_LOCAL_EXCLUDE_PORTS says: take it out of the group's ports"
    )
  }
  if (input.inboundPorts === '*') entries.push(['ISTIO_INBOUND_PORTS', '*'])
  else if (input.inboundPorts.length > 0) {
    entries.push(['ISTIO_INBOUND_PORTS', portList('inboundPorts', input.inboundPorts)])
  }
  if (input.serviceIP !== undefined) {
    entries.push(['ISTIO_SVC_IP', requireIP('serviceIP', input.serviceIP)])
  }
  if (input.localExcludePorts && input.localExcludePorts.length > 0) {
    entries.push([
      'ISTIO_LOCAL_EXCLUDE_PORTS',
      portList('localExcludePorts', input.localExcludePorts)
    ])
  }
  return formatEnvFile(entries)
}

/** The secret machineCerts read: ISTIO_SECRET_PREFIX (default `istio.`) + the service account. */
export function certSecretName(serviceAccount: string, prefix = 'istio.'): string {
  const name = `${prefix}${serviceAccount}`
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
    throw new LegacyInputError(`"${name}" (prefix + service account) is not a valid secret name`)
  }
  return name
}

export const CERTS_DIR = '/etc/certs'

export interface CertFile {
  /** The secret key, which is also the file name. */
  readonly name: 'root-cert.pem' | 'cert-chain.pem' | 'key.pem'
  readonly path: string
  readonly content: string
  /** key.pem is private to istio-proxy; the scripts left it at the umask's default. */
  readonly mode: number
  readonly owner: 'istio-proxy'
}

export interface CertSecretView {
  readonly metadata?: { readonly name?: string; readonly namespace?: string }
  /** base64 values, as the API returns them. */
  readonly data?: Readonly<Record<string, string>>
}

/**
 * The files machineCerts decoded from `istio.<sa>`: all three for machineSetup (and for
 * 0.2–0.5), root-cert.pem only for gceMachineSetup (`rootOnly`, 0.6+). Keys are file names.
 * A missing or malformed key is an error that names the key, never the content.
 */
export function certFilesFromSecret(
  secret: CertSecretView,
  options: { readonly rootOnly?: boolean } = {}
): CertFile[] {
  const names = options.rootOnly
    ? (['root-cert.pem'] as const)
    : (['root-cert.pem', 'cert-chain.pem', 'key.pem'] as const)
  const where = `secret ${secret.metadata?.namespace ?? '?'}/${secret.metadata?.name ?? '?'}`
  return names.map(name => {
    const b64 = secret.data?.[name]
    if (b64 === undefined || b64 === '') throw new LegacyInputError(`${where} has no ${name}`)
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new LegacyInputError(`${where}: ${name} is not valid base64`)
    }
    const content = Buffer.from(b64, 'base64').toString('utf8')
    if (!content.includes('-----BEGIN ')) {
      throw new LegacyInputError(`${where}: ${name} does not hold a PEM block`)
    }
    return {
      name,
      path: `${CERTS_DIR}/${name}`,
      content,
      mode: name === 'key.pem' ? 0o600 : 0o644,
      owner: 'istio-proxy' as const
    }
  })
}
