// The phases of a run, in order: cluster, hosts, registration, verification. It holds no I/O
// details of its own: each phase is a call into src/cluster, src/host or src/verify.
import type { Description, Vm } from '../config/index.ts'
import type { Connection } from '../cluster/connection.ts'
import { prepareCluster, type Prepared } from '../cluster/prepare.ts'
import { mintToken, rootCert } from '../cluster/identity.ts'
import { registerWorkloadEntries, waitForAutoRegistration } from '../cluster/registration.ts'
import { cleanup as cleanupCluster } from '../cluster/cleanup.ts'
import { onboardFleet, shardVms, uninstallFleet } from '../host/fleet.ts'
import { hostTarget, sshSecretsFrom } from '../host/targets.ts'
import type { HostTransport } from '../host/transport.ts'
import type { HostResult } from '../host/onboard.ts'
import { runChecks, verifyDeps } from '../verify/index.ts'
import type { CheckResult } from '../verify/types.ts'
import { askOver, knownAddresses, meshAddress, type AddressOptions } from './addresses.ts'
import { cleanupLegacy, isLegacy, prepareLegacyCluster } from './legacy.ts'
import { discover } from '../cluster/discovery.ts'
import { filesRenderer } from './files.ts'
import type { ClusterReport, RunReport } from './report.ts'

export interface EngineOptions {
  owner: string
  /** where the secrets the description names are read (process.env) */
  env: Record<string, string | undefined>
  /** progress lines */
  log: (line: string) => void
  warn: (message: string) => void
  /** called with every secret as soon as it exists (the Action masks it) */
  onSecret: (value: string) => void
  /** a host's turn came: it is connected and its files are being rendered */
  onHostStarted?: (name: string) => void
  onHostResult?: (result: HostResult) => void
  onCheckResult?: (result: CheckResult) => void
  /** run the checks after onboarding (default true) */
  verify?: boolean
  strictMtls?: boolean
  /** air-gapped hosts: official packages are downloaded here on the runner and pushed */
  runnerPackageCache?: string
  readyTimeoutSec?: number
}

function clusterReport(prepared: Prepared): ClusterReport {
  const { discovery, plan, applied } = prepared
  return {
    istioVersion: discovery.istioVersion,
    generation: discovery.generation,
    revision: discovery.revision,
    istioNamespace: discovery.istioNamespace,
    clusterID: discovery.clusterID,
    network: discovery.network,
    gateway: discovery.gateway.address,
    writes: applied?.written.length ?? 0,
    unchanged: applied?.unchanged ?? 0,
    plan: plan.entries.map(entry => ({
      kind: entry.kind,
      ...(entry.namespace !== undefined ? { namespace: entry.namespace } : {}),
      name: entry.name,
      action: entry.action
    })),
    warnings: [...discovery.warnings]
  }
}

function emptyReport(command: RunReport['command'], owner: string): RunReport {
  return {
    command,
    owner,
    ok: false,
    problems: [],
    cluster: null,
    hosts: [],
    skippedHosts: [],
    checks: [],
    removed: [],
    durationMs: 0
  }
}

function hostProblems(results: readonly HostResult[]): string[] {
  return results
    .filter(result => result.status === 'failed')
    .map(r => `${r.host}: ${r.error?.phase ?? 'host'}: ${r.error?.message ?? 'failed'}`)
}

function checkProblems(checks: readonly CheckResult[]): string[] {
  return checks
    .filter(check => check.status === 'fail')
    .map(check => `check "${check.name}": ${check.diagnosis ?? 'failed'}`)
}

/** Discovery and the plan against the live cluster, writing nothing. */
function readCluster(
  description: Description,
  connection: Connection,
  owner: string
): Promise<Prepared> {
  return prepareCluster(connection.client, description, { owner, dryRun: true })
}

/** Opens one transport per VM for the checks; a VM that cannot be reached gets none. */
async function openTransports(
  description: Description,
  vms: readonly Vm[],
  options: EngineOptions
): Promise<Map<string, HostTransport>> {
  const needsSsh = vms.some(vm => vm.host !== 'local')
  const secrets = needsSsh ? sshSecretsFrom(description.ssh, options.env) : undefined
  const transports = new Map<string, HostTransport>()
  await Promise.all(
    vms.map(async vm => {
      try {
        const target = hostTarget(vm, description.ssh, secrets, options.warn)
        transports.set(vm.name, await target.connect())
      } catch (error) {
        options.warn(`${vm.name}: no connection for the checks: ${(error as Error).message}`)
      }
    })
  )
  return transports
}

async function verifyHosts(
  description: Description,
  connection: Connection,
  prepared: Prepared,
  addresses: ReadonlyMap<string, string>,
  options: EngineOptions,
  /** the connections onboarding kept open (apply); absent: one is opened per VM (verify) */
  kept?: ReadonlyMap<string, HostTransport>
): Promise<CheckResult[]> {
  const vms = shardVms(description)
  const transports = kept ?? (await openTransports(description, vms, options))
  try {
    // Only this shard's VMs and the checks that start from them or from pods.
    const names = new Set(vms.map(vm => vm.name))
    const scoped: Description = {
      ...description,
      vms,
      checks: description.checks.filter(
        check =>
          (check.from.kind !== 'vm' || names.has(check.from.name)) &&
          (check.to?.kind !== 'vm' || names.has(check.to.name))
      )
    }
    return await runChecks(
      scoped,
      verifyDeps({
        description: scoped,
        transports,
        addresses,
        kubeConfig: connection.kubeConfig,
        client: connection.client,
        istioNamespace: prepared.discovery.istioNamespace,
        revision: prepared.discovery.revision,
        networkingVersion: prepared.discovery.networkingVersion,
        ...(options.strictMtls !== undefined ? { strictMtls: options.strictMtls } : {}),
        ...(options.onCheckResult ? { onResult: options.onCheckResult } : {})
      })
    )
  } finally {
    if (!kept) await Promise.all([...transports.values()].map(transport => transport.close()))
  }
}

function addressOptionsOf(description: Description): AddressOptions {
  const url = description.settings.publicAddressLookup
  return url === null ? {} : { publicLookupUrl: url }
}

/** Whether the failed hosts are within what the description tolerates. */
function hostsOk(description: Description, failed: number, skipped: number): boolean {
  const tolerated = description.settings.maxFailures ?? 0
  return skipped === 0 && failed <= tolerated
}

/** `apply`: prepare the cluster, onboard this shard's hosts, register them, verify. */
export async function apply(
  description: Description,
  connection: Connection,
  options: EngineOptions
): Promise<RunReport> {
  const started = Date.now()
  const report = emptyReport('apply', options.owner)
  const { client } = connection

  options.log('cluster: discovering and preparing')
  const prepared = await prepareCluster(client, description, {
    owner: options.owner,
    log: options.log
  })
  report.cluster = clusterReport(prepared)
  for (const warning of prepared.discovery.warnings) options.warn(warning)

  const vms = shardVms(description)
  const addressOptions = addressOptionsOf(description)
  // decided now where the description or the SSH host tells; the others ask their host once
  // it is connected (filesFor below), over that same connection
  const addresses = knownAddresses(vms, addressOptions)
  const open = new Map<string, HostTransport>()
  const ask = askOver(vm => open.get(vm.name), addressOptions)
  const legacy = isLegacy(prepared.discovery.generation)
    ? await prepareLegacyCluster(client, description, prepared.discovery, prepared.ownership, {
        log: options.log,
        warn: options.warn,
        onSecret: options.onSecret
      })
    : undefined
  if (legacy && report.cluster) report.cluster.writes += legacy.written
  const rootCerts = new Map<string, Promise<string>>()
  const modernRender = filesRenderer(
    description,
    prepared.discovery,
    prepared.ownership,
    addresses,
    {
      rootCert: namespace => {
        if (!rootCerts.has(namespace)) rootCerts.set(namespace, rootCert(client, namespace))
        return rootCerts.get(namespace) as Promise<string>
      },
      token: (namespace, serviceAccount) =>
        mintToken(client, namespace, serviceAccount, {
          seconds: description.settings.tokenDuration,
          onSecret: options.onSecret
        })
    },
    options.warn
  )
  const render = legacy ? (vm: Vm) => legacy.render(vm) : modernRender

  // A manual entry of a group with a probe carries health checks: istiod sends it no traffic until
  // the proxy reports it healthy, and the proxy reports health as it changes, so the entry must
  // exist before the sidecar starts or it never learns the first report.
  const groups = new Map(description.workloadGroups.map(group => [group.name, group]))
  const probed = (vm: Vm): boolean => {
    const group = groups.get(vm.group)
    return !legacy && group !== undefined && group.registration === 'manual' && group.probe !== null
  }
  const early = await registerWorkloadEntries(
    client,
    { ...description, vms: vms.filter(probed) },
    prepared.discovery,
    prepared.ownership,
    addresses,
    options.log
  )
  if (report.cluster) report.cluster.writes += early.written.length
  const registeredEarly = new Set(
    vms.filter(vm => probed(vm) && addresses.has(vm.name)).map(vm => vm.name)
  )

  options.log(`hosts: onboarding ${vms.length} of ${description.vms.length} VM(s)`)
  // Each host's one connection serves the checks too; closed when the run ends.
  try {
    const fleet = await onboardFleet({
      keepOpen: open,
      description,
      env: options.env,
      warn: options.warn,
      filesFor: async vm => {
        options.onHostStarted?.(vm.name)
        if (!addresses.has(vm.name))
          addresses.set(vm.name, await meshAddress(vm, ask, addressOptions))
        return render(vm)
      },
      istioVersion: prepared.discovery.istioVersion ?? '',
      ...(options.onHostResult ? { onResult: options.onHostResult } : {}),
      ...(options.runnerPackageCache ? { runnerPackageCache: options.runnerPackageCache } : {}),
      ...(options.readyTimeoutSec !== undefined ? { readyTimeoutSec: options.readyTimeoutSec } : {})
    })
    report.hosts = fleet.results.filter(result => result.status !== 'skipped')
    report.skippedHosts = fleet.results
      .filter(result => result.status === 'skipped')
      .map(r => r.host)
    report.problems.push(...hostProblems(fleet.results))

    const readyAddresses = new Map(
      fleet.results
        .filter(r => r.status === 'ok' && r.ready)
        .map(r => [r.host, addresses.get(r.host) ?? ''])
    )
    // Entries without health checks go in only for the hosts that came up: such an entry draws
    // traffic at once. Entries of probed groups were registered before (see above); the failed
    // hosts' ones are taken out again. Older generations register their own way.
    const registered = legacy
      ? { written: { length: await legacy.register(readyAddresses) } }
      : await registerWorkloadEntries(
          client,
          { ...description, vms: vms.filter(vm => !registeredEarly.has(vm.name)) },
          prepared.discovery,
          prepared.ownership,
          readyAddresses,
          options.log
        )
    for (const vm of vms.filter(
      vm => registeredEarly.has(vm.name) && !readyAddresses.has(vm.name)
    )) {
      const group = groups.get(vm.group)
      if (!group) continue
      await client.delete({
        apiVersion: `networking.istio.io/${prepared.discovery.networkingVersion}`,
        kind: 'WorkloadEntry',
        name: vm.name,
        namespace: group.namespace
      })
    }
    if (report.cluster) report.cluster.writes += registered.written.length
    let registrationFailures = 0
    await Promise.all(
      vms
        .filter(
          vm =>
            !legacy && readyAddresses.has(vm.name) && groups.get(vm.group)?.registration === 'auto'
        )
        .map(async vm => {
          const group = groups.get(vm.group)
          if (!group) return
          try {
            await waitForAutoRegistration(client, {
              namespace: group.namespace,
              group: group.name,
              address: readyAddresses.get(vm.name) ?? '',
              apiVersion: `networking.istio.io/${prepared.discovery.networkingVersion}`
            })
          } catch (error) {
            registrationFailures++
            report.problems.push(`${vm.name}: auto-registration: ${(error as Error).message}`)
          }
        })
    )

    if (options.verify !== false) {
      options.log('verify: running the checks')
      report.checks = await verifyHosts(description, connection, prepared, addresses, options, open)
      report.problems.push(...checkProblems(report.checks))
    }
    const checksOk = report.checks.every(check => check.status !== 'fail')
    report.ok =
      hostsOk(description, fleet.failed, fleet.skipped) && checksOk && registrationFailures === 0
    report.durationMs = Date.now() - started
    return report
  } finally {
    await Promise.all([...open.values()].map(transport => transport.close()))
  }
}

/** `verify`: the checks alone, against what an earlier apply set up. */
export async function verify(
  description: Description,
  connection: Connection,
  options: EngineOptions
): Promise<RunReport> {
  const started = Date.now()
  const report = emptyReport('verify', options.owner)
  const prepared = await readCluster(description, connection, options.owner)
  report.cluster = clusterReport(prepared)
  const vms = shardVms(description)
  const transports = await openTransports(description, vms, options)
  try {
    const addressOptions = addressOptionsOf(description)
    const addresses = knownAddresses(vms, addressOptions)
    const ask = askOver(vm => transports.get(vm.name), addressOptions)
    for (const vm of vms.filter(vm => !addresses.has(vm.name))) {
      try {
        addresses.set(vm.name, await meshAddress(vm, ask, addressOptions))
      } catch (error) {
        options.warn((error as Error).message)
      }
    }
    report.checks = await verifyHosts(
      description,
      connection,
      prepared,
      addresses,
      options,
      transports
    )
  } finally {
    await Promise.all([...transports.values()].map(transport => transport.close()))
  }
  report.problems.push(...checkProblems(report.checks))
  report.ok = report.problems.length === 0
  report.durationMs = Date.now() - started
  return report
}

/** `cleanup`: the hosts of this shard, then every cluster object of the owner. */
export async function cleanup(
  description: Description,
  connection: Connection,
  options: EngineOptions & { keepPackage?: boolean }
): Promise<RunReport> {
  const started = Date.now()
  const report = emptyReport('cleanup', options.owner)
  options.log(`hosts: removing the sidecar from ${shardVms(description).length} VM(s)`)
  const fleet = await uninstallFleet({
    description,
    env: options.env,
    warn: options.warn,
    keepPackage: options.keepPackage ?? false,
    ...(options.onHostResult ? { onResult: options.onHostResult } : {})
  })
  report.hosts = fleet.results
  report.problems.push(...hostProblems(fleet.results))
  // The older generations' share: addresses in others' Endpoints, gateway ports, DNS stub.
  const discovery = await discover(connection.client, description.cluster).catch(() => null)
  const legacyRemoved =
    discovery && isLegacy(discovery.generation)
      ? await cleanupLegacy(
          connection.client,
          { ...description, vms: shardVms(description) },
          discovery,
          // the VMs were just cleaned, their connections closed: addresses known without them
          (() => {
            try {
              return knownAddresses(shardVms(description), addressOptionsOf(description))
            } catch {
              return new Map<string, string>()
            }
          })(),
          options.owner,
          options.log
        )
      : []
  options.log(`cluster: deleting the objects of owner ${options.owner}`)
  const removed = await cleanupCluster(connection.client, options.owner)
  report.removed = [
    ...legacyRemoved,
    ...removed.deleted.map(
      ref => `${ref.kind}/${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`
    )
  ]
  for (const kept of removed.kept)
    options.warn(`kept ${kept.ref.kind}/${kept.ref.name}: ${kept.reason}`)
  report.ok = report.problems.length === 0
  report.durationMs = Date.now() - started
  return report
}

/** `plan`: discovery and the cluster diff; reads only. The hosts are listed, not touched. */
export async function plan(
  description: Description,
  connection: Connection,
  options: EngineOptions
): Promise<RunReport> {
  const started = Date.now()
  const report = emptyReport('plan', options.owner)
  report.cluster = clusterReport(await readCluster(description, connection, options.owner))
  report.ok = true
  report.durationMs = Date.now() - started
  return report
}
