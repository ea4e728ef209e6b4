// `drift`: what differs between the description and what the hosts and the cluster have now,
// reading only. One SSH connection per host (hosts in parallel, `settings.parallelism` at once):
// the host's address asked when the description does not give it, then one probe (./probe.ts).
// The cluster: discovery, the plan apply would carry out (a dry run), the owner's objects and the
// WorkloadEntries' health. No token is minted and nothing is written anywhere.
import type { Description, Vm } from '../config/index.ts'
import type { Connection } from '../cluster/connection.ts'
import { discover, type Discovery } from '../cluster/discovery.ts'
import { ClusterError } from '../cluster/errors.ts'
import { rootCert } from '../cluster/identity.ts'
import { managedSelector } from '../cluster/objects.ts'
import { prepareCluster } from '../cluster/prepare.ts'
import type { KubeObject } from '../cluster/types.ts'
import { remoteCommand } from '../host/bundle.ts'
import { askOver } from '../host/connections.ts'
import { fanOut } from '../host/fanout.ts'
import { packageSourceFor, shardVms, sidecarVersion } from '../host/fleet.ts'
import { emptyResult } from '../host/onboard.ts'
import { packageSha256 } from '../host/package.ts'
import { checkKnownHostsCover, checkPrivateKey } from '../host/preflight.ts'
import { hostTarget, readSshSecrets, type SshSecrets } from '../host/targets.ts'
import type { HostTransport } from '../host/transport.ts'
import { workloadEntryName } from '../istio/index.ts'
import { errorMessage } from '../util/errors.ts'
import { workloadEntryHealthOf } from '../verify/index.ts'
import type { WorkloadEntryHealth } from '../verify/types.ts'
import { addressOptionsOf, meshAddress } from '../engine/addresses.ts'
import { filesRenderer } from '../engine/files.ts'
import { clusterFindings, OWNED_KINDS } from './cluster.ts'
import { compareHost, hostsBlockBody, sha256, type HostExpectation } from './compare.ts'
import { parseProbe, probeScript, TMPFILES_CONTENT, type HostFacts } from './probe.ts'
import type { ClusterDrift, DriftFinding, DriftReport, HostDrift } from './types.ts'

export interface DriftOptions {
  owner: string
  /** where the secrets the description names are read */
  env: Record<string, string | undefined>
  log: (line: string) => void
  warn: (message: string) => void
  /** a host was read (progress) */
  onHost?: (host: HostDrift) => void
  /** runner clock in ms (tests) */
  now?: () => number
  /** per probe (default 60 s) */
  probeTimeoutMs?: number
}

/** The report and whether the inputs themselves were wrong (exit 2). */
export interface DriftOutcome {
  readonly report: DriftReport
  readonly invalid: boolean
}

/** What one host gave: its probe's facts, or why it could not be read. */
interface HostRead {
  readonly address?: string
  readonly facts?: HostFacts
  readonly error?: string
  readonly expectation?: Omit<HostExpectation, 'entry'>
}

function inputProblems(
  description: Description,
  vms: readonly Vm[],
  env: DriftOptions['env']
): {
  secrets: SshSecrets | undefined
  problems: string[]
} {
  const overSsh = vms.filter(vm => vm.host !== 'local')
  if (overSsh.length === 0) return { secrets: undefined, problems: [] }
  const read = readSshSecrets(description.ssh, env)
  const keyProblems = read.secrets ? checkPrivateKey(read.secrets) : []
  const problems = [
    ...read.problems,
    ...keyProblems,
    ...checkKnownHostsCover(overSsh, env[description.ssh.knownHostsEnv] ?? '', description.ssh)
  ]
  return { secrets: keyProblems.length === 0 ? read.secrets : undefined, problems }
}

/** The package a host should have: the version, and the file's SHA-256 when it is pushed. */
async function wantedPackage(
  vm: Vm,
  discovery: Discovery
): Promise<Pick<HostExpectation, 'wantedVersion' | 'wantedSha256'>> {
  const version = sidecarVersion(vm, discovery.istioVersion ?? '')
  const source = packageSourceFor(vm, discovery.istioVersion ?? '')
  if (source.kind === 'push')
    return { wantedVersion: version, wantedSha256: await packageSha256(source.path) }
  if (source.kind === 'url' && source.sha256 !== undefined)
    return { wantedVersion: version, wantedSha256: source.sha256 }
  return { wantedVersion: version }
}

function hostDrift(host: string, findings: DriftFinding[]): HostDrift {
  const status = findings.some(f => f.state === 'drift') ? 'drift' : 'ok'
  return { host, status, findings }
}

function unchecked(host: string, why: string): HostDrift {
  return {
    host,
    status: 'unchecked',
    findings: [{ area: 'connection', subject: host, state: 'unknown', detail: why }]
  }
}

async function entryHealth(
  connection: Connection,
  discovery: Discovery,
  namespace: string,
  name: string
): Promise<WorkloadEntryHealth> {
  const live = await connection.client.get({
    apiVersion: `networking.istio.io/${discovery.networkingVersion}`,
    kind: 'WorkloadEntry',
    namespace,
    name
  })
  return workloadEntryHealthOf(live)
}

/** Every live object of the owner in the kinds its runs create. */
async function ownedObjects(
  connection: Connection,
  discovery: Discovery,
  owner: string
): Promise<KubeObject[]> {
  const lists = await Promise.all(
    OWNED_KINDS.map(k =>
      connection.client.list(k.apiVersion(discovery.networkingVersion), k.kind, {
        labelSelector: managedSelector(owner)
      })
    )
  )
  return lists.flat()
}

function emptyCluster(): ClusterDrift {
  return { status: 'unchecked', istioVersion: null, revision: '', findings: [] }
}

function finish(
  description: Description,
  options: DriftOptions,
  started: number,
  parts: { hosts: HostDrift[]; cluster: ClusterDrift; problems: string[] }
): DriftReport {
  const now = options.now ?? Date.now
  const driftedHosts = parts.hosts.filter(h => h.status === 'drift').map(h => h.host)
  const uncheckedHosts = parts.hosts.filter(h => h.status === 'unchecked').map(h => h.host)
  const drifted = driftedHosts.length > 0 || parts.cluster.status === 'drift'
  return {
    command: 'drift',
    owner: options.owner,
    ok:
      !drifted &&
      uncheckedHosts.length === 0 &&
      parts.cluster.status === 'ok' &&
      parts.problems.length === 0,
    drifted,
    driftedHosts,
    uncheckedHosts,
    hosts: parts.hosts,
    cluster: parts.cluster,
    problems: parts.problems,
    tokenRefreshWithinSeconds: description.settings.tokenRefreshWithin,
    checkedAt: new Date(started).toISOString(),
    durationMs: now() - started
  }
}

/** Compares this shard's hosts and the cluster with the description; never writes. */
export async function drift(
  description: Description,
  openCluster: () => Promise<Connection>,
  options: DriftOptions
): Promise<DriftOutcome> {
  const now = options.now ?? Date.now
  const started = now()
  const vms = shardVms(description)
  const shard: Description = { ...description, vms }
  const { secrets, problems: inputs } = inputProblems(description, vms, options.env)
  if (inputs.length > 0)
    return {
      report: finish(description, options, started, {
        hosts: [],
        cluster: emptyCluster(),
        problems: inputs
      }),
      invalid: true
    }
  let connection: Connection
  try {
    connection = await openCluster()
  } catch (error) {
    // a kubeconfig that cannot be used is bad input (exit 2); a cluster that does not answer is not
    const invalid = error instanceof ClusterError && error.kind === 'invalid'
    return {
      report: finish(description, options, started, {
        hosts: invalid
          ? []
          : vms.map(vm => unchecked(vm.name, 'not checked: the cluster could not be read')),
        cluster: emptyCluster(),
        problems: [`${invalid ? 'kubeconfig' : 'cluster'}: ${errorMessage(error)}`]
      }),
      invalid
    }
  }
  try {
    return { report: await driftWith(shard, connection, secrets, options, started), invalid: false }
  } finally {
    await connection.close()
  }
}

async function driftWith(
  description: Description,
  connection: Connection,
  secrets: SshSecrets | undefined,
  options: DriftOptions,
  started: number
): Promise<DriftReport> {
  const now = options.now ?? Date.now
  const problems: string[] = []
  const { vms } = description
  let discovery: Discovery
  try {
    discovery = await discover(connection.client, description.cluster)
  } catch (error) {
    return finish(description, options, started, {
      hosts: vms.map(vm => unchecked(vm.name, 'not checked: discovery failed')),
      cluster: emptyCluster(),
      problems: [`cluster: discovery: ${errorMessage(error)}`]
    })
  }
  if (discovery.generation !== 'modern')
    return finish(description, options, started, {
      hosts: vms.map(vm =>
        unchecked(
          vm.name,
          `not checked: drift compares hosts of the modern generation (Istio 1.8 and later); this cluster is ${discovery.generation}`
        )
      ),
      cluster: {
        ...emptyCluster(),
        istioVersion: discovery.istioVersion,
        revision: discovery.revision
      },
      problems: [
        `drift supports the modern generation only; the cluster is ${discovery.generation}`
      ]
    })
  options.log(
    `istiod ${discovery.istioVersion ?? '(version unknown)'}, ${discovery.revision === '' ? 'default revision' : `revision ${discovery.revision}`}`
  )

  const ownership = { owner: options.owner, createdAt: new Date(started).toISOString() }
  const groups = new Map(description.workloadGroups.map(g => [g.name, g]))
  const rootCerts = new Map<string, Promise<string>>()
  const rootOf = (ns: string): Promise<string> => {
    let cert = rootCerts.get(ns)
    if (!cert) {
      cert = rootCert(connection.client, ns)
      rootCerts.set(ns, cert)
    }
    return cert
  }
  const addresses = new Map<string, string>()
  const addressOptions = addressOptionsOf(description)
  // the token is compared with its own copy on the host: none is minted (drift writes nothing)
  const render = filesRenderer(
    description,
    discovery,
    ownership,
    addresses,
    { rootCert: rootOf, token: async () => '' },
    () => undefined
  )
  const reads = new Map<string, HostRead>()
  const probe = probeScript()
  const timeoutMs = options.probeTimeoutMs ?? 60_000

  const readHost = async (vm: Vm): Promise<HostRead> => {
    let transport: HostTransport | undefined
    try {
      transport = await hostTarget(vm, description.ssh, secrets, options.warn).connect()
      const held = transport
      const address = await meshAddress(
        vm,
        askOver(() => held, addressOptions.publicLookupUrl),
        addressOptions
      )
      addresses.set(vm.name, address)
      // files that cannot be rendered (a namespace without its root certificate) are not
      // compared; the rest of the host is
      let rendered: {
        files: HostExpectation['files']
        hostsBlock: string | null
        clusterEnv: string | null
        unrendered?: string
      }
      try {
        const files = await render(vm)
        rendered = {
          files: {
            'cluster.env': sha256(files['cluster.env']),
            mesh: sha256(files['mesh.yaml']),
            'root-cert.pem': sha256(files['root-cert.pem']),
            tmpfiles: sha256(TMPFILES_CONTENT)
          },
          hostsBlock: files.hosts === '' ? null : sha256(hostsBlockBody(files.hosts)),
          clusterEnv: files['cluster.env']
        }
      } catch (error) {
        rendered = {
          files: null,
          hostsBlock: null,
          clusterEnv: null,
          unrendered: errorMessage(error)
        }
      }
      const expectation: Omit<HostExpectation, 'entry'> = {
        ...rendered,
        ...(await wantedPackage(vm, discovery)),
        istioVersion: discovery.istioVersion,
        revision: discovery.revision,
        tokenRefreshWithin: description.settings.tokenRefreshWithin
      }
      const result = await transport.exec(remoteCommand(timeoutMs / 1000), {
        stdin: probe,
        timeoutMs: timeoutMs + 10_000
      })
      if (result.code !== 0)
        throw new Error(
          `the probe ${result.timedOut ? 'timed out' : `exited with ${result.code}`}: ${result.stdout.split('\n').find(l => l.startsWith('MX-FAIL')) ?? result.stderr.trim().split('\n').slice(-2).join(' | ')}`
        )
      return { address, facts: parseProbe(result.stdout), expectation }
    } catch (error) {
      return { error: errorMessage(error) }
    } finally {
      await transport?.close().catch(() => undefined)
    }
  }

  await fanOut(
    vms,
    async vm => {
      const read = await readHost(vm)
      reads.set(vm.name, read)
      return emptyResult(vm.name, read.error === undefined ? 'ok' : 'failed')
    },
    { parallelism: description.settings.parallelism, failFast: false, maxFailures: null }
  )

  // the cluster: the plan apply would carry out now, with the addresses the hosts told
  let cluster: ClusterDrift
  try {
    const prepared = await prepareCluster(connection.client, description, {
      owner: options.owner,
      dryRun: true,
      discovery,
      addresses
    })
    const names = new Set(description.vms.map(vm => vm.name))
    const owned = (await ownedObjects(connection, discovery, options.owner)).filter(
      // a host's own entry is its finding (its address may be unknown when it was not reached)
      o => !(o.kind === 'WorkloadEntry' && names.has(o.metadata.name))
    )
    const findings = clusterFindings(prepared.plan, owned)
    cluster = {
      status: findings.some(f => f.state === 'drift') ? 'drift' : 'ok',
      istioVersion: discovery.istioVersion,
      revision: discovery.revision,
      findings
    }
  } catch (error) {
    problems.push(`cluster: ${errorMessage(error)}`)
    cluster = {
      ...emptyCluster(),
      istioVersion: discovery.istioVersion,
      revision: discovery.revision
    }
  }

  const hosts: HostDrift[] = []
  for (const vm of vms) {
    const read = reads.get(vm.name)
    let host: HostDrift
    if (!read?.facts || !read.expectation) {
      host = unchecked(vm.name, `not checked: ${read?.error ?? 'not reached'}`)
      problems.push(`${vm.name}: ${read?.error ?? 'not reached'}`)
    } else {
      const group = groups.get(vm.group)
      let entry: HostExpectation['entry']
      if (group && group.registration === 'manual' && group.probe !== null) {
        const name = workloadEntryName(vm, group, read.address ?? '')
        try {
          entry = { name, health: await entryHealth(connection, discovery, group.namespace, name) }
        } catch (error) {
          problems.push(
            `${vm.name}: cannot read WorkloadEntry ${group.namespace}/${name}: ${errorMessage(error)}`
          )
        }
      }
      host = hostDrift(
        vm.name,
        compareHost(read.facts, { ...read.expectation, ...(entry ? { entry } : {}) }, now())
      )
    }
    hosts.push(host)
    options.onHost?.(host)
  }
  return finish(description, options, started, { hosts, cluster, problems })
}
