// The generations before 1.8 (scripts-0.8, meshexpansion-1.1, multinetwork-1.4): what differs
// from the modern flow is the cluster side (no WorkloadGroup, no token: certificates from the
// Secret Citadel writes; ILBs or the meshExpansion gateway; a service CIDR; registration as a
// Service + Endpoints or a STATIC ServiceEntry) and the files. Hosts, checks and reports are the
// modern flow's. Each step is a call into src/cluster/legacy or a pure renderer.
import { reachablePortsOf, type Description, type Vm, type WorkloadGroup } from '../config/index.ts'
import type { Discovery } from '../cluster/discovery.ts'
import type { Ownership } from '../cluster/objects.ts'
import type { ClusterClient } from '../cluster/types.ts'
import { clusterServiceIPs, gatewayIp } from '../cluster/legacy/addresses.ts'
import { discoverServiceCidr } from '../cluster/legacy/serviceCidr.ts'
import { legacyCertificates, type LegacyCerts } from '../cluster/legacy/certificates.ts'
import {
  ilbAddresses,
  meshExpansionGateway,
  revertMeshExpansionPorts
} from '../cluster/legacy/gateways.ts'
import { applyHostService, deregisterVm, registerVm } from '../cluster/legacy/registry.ts'
import {
  checkGlobalDnsStub,
  ensureGlobalServiceEntries,
  revertGlobalDnsStub
} from '../cluster/legacy/global.ts'
import { renderLegacyVmFiles, type LegacyGeneration } from '../istio/legacy/index.ts'
import type { HostFiles } from '../host/bundle.ts'
import type { GenerationStrategy, StrategyContext } from './strategy.ts'

export function isLegacy(generation: Discovery['generation']): generation is LegacyGeneration {
  return generation !== 'modern'
}

export interface LegacyCluster {
  readonly generation: LegacyGeneration
  /** writes made while preparing (gateway ports, .global entries, the DNS stub) */
  readonly written: number
  /** reads the certificates of every VM's service account (waits, bounded, for Citadel) */
  readIdentity(): Promise<void>
  /** the files of one VM (certificates read once per service account) */
  render(vm: Vm): Promise<HostFiles>
  /** registers the VMs that came up; returns the writes */
  register(ready: ReadonlyMap<string, string>): Promise<number>
}

export interface LegacyOptions {
  log: (line: string) => void
  warn: (message: string) => void
  onSecret: (value: string) => void
}

function splitService(ref: string): { name: string; namespace: string } {
  const [name = '', namespace = ''] = ref.split('.')
  return { name, namespace }
}

/** Ports the VM serves, as its group lists them (the sidecar captures these inbound). */
function inboundPorts(group: WorkloadGroup): number[] {
  return [...new Set(Object.values(group.ports))].sort((a, b) => a - b)
}

export async function prepareLegacyCluster(
  client: ClusterClient,
  description: Description,
  discovery: Discovery,
  ownership: Ownership,
  options: LegacyOptions
): Promise<LegacyCluster> {
  const generation = discovery.generation
  if (!isLegacy(generation)) throw new Error('internal: not an older generation')
  const settings = description.cluster.legacy
  const ns = discovery.istioNamespace
  const istioVersion = discovery.istioVersion ?? ''
  let written = 0

  let serviceCidrs = settings.serviceCidrs
  if (serviceCidrs.length === 0) {
    const found = await discoverServiceCidr(client)
    serviceCidrs = found.cidrs
    options.log(`cluster: service CIDR ${found.cidrs.join(',')} (from ${found.source})`)
  }

  const services = settings.services.map(splitService)
  let ilb: Awaited<ReturnType<typeof ilbAddresses>> | undefined
  let gateway: string | undefined
  let clusterServices: { name: string; namespace: string; clusterIP: string }[] = []
  let globalAllocations: Record<string, string> = {}
  if (generation === 'scripts-0.8') {
    ilb = await ilbAddresses(client, ns)
    options.log(`cluster: ILBs pilot ${ilb.pilot}, dns ${ilb.dns}, citadel ${ilb.ca}`)
  } else {
    const gw = await meshExpansionGateway(client, {
      istioNamespace: ns,
      enable: settings.enableMeshExpansionPorts,
      owner: ownership.owner
    })
    if (gw.addedPorts.length > 0) {
      written++
      options.log(
        `cluster: meshExpansion ports ${gw.addedPorts.join(', ')} added to istio-ingressgateway`
      )
    }
    gateway = await gatewayIp(gw.address)
    options.log(`cluster: meshExpansion gateway ${gateway}`)
    if (generation === 'meshexpansion-1.1') {
      clusterServices = await clusterServiceIPs(client, services)
    } else {
      const global = await ensureGlobalServiceEntries(client, {
        services,
        gateway,
        networkingVersion: discovery.networkingVersion,
        ownership
      })
      globalAllocations = global.allocations
      written += global.written
      const stub = await checkGlobalDnsStub(client, {
        istioNamespace: ns,
        fix: settings.fixGlobalDns,
        owner: ownership.owner
      })
      if (stub.status === 'fixed') written++
      if (stub.status === 'missing') options.warn(stub.message)
      else options.log(`cluster: .global DNS stub ${stub.status} (${stub.where})`)
    }
  }

  const groups = new Map(description.workloadGroups.map(group => [group.name, group]))
  const certs = new Map<string, Promise<LegacyCerts>>()
  const certsFor = (group: WorkloadGroup): Promise<LegacyCerts> => {
    const key = `${group.namespace}/${group.serviceAccount}`
    let pending = certs.get(key)
    if (!pending) {
      pending = legacyCertificates(client, {
        namespace: group.namespace,
        serviceAccount: group.serviceAccount,
        prefix: settings.secretPrefix,
        onSecret: options.onSecret
      })
      certs.set(key, pending)
    }
    return pending
  }
  const groupOf = (vm: Vm): WorkloadGroup => {
    const group = groups.get(vm.group)
    if (!group) throw new Error(`${vm.name}: unknown group ${vm.group}`)
    return group
  }

  return {
    generation,
    written,
    async readIdentity() {
      await Promise.all(description.vms.map(vm => certsFor(groupOf(vm))))
    },
    async render(vm) {
      const group = groupOf(vm)
      const c = await certsFor(group)
      return renderLegacyVmFiles({
        generation,
        istioVersion,
        istioNamespace: ns,
        serviceCidrs,
        inboundPorts: inboundPorts(group),
        // the way in (the VM's SSH port) and reachablePorts stay out of the capture
        localExcludePorts: reachablePortsOf(vm, group, description.settings),
        controlPlaneAuth: settings.controlPlaneAuth,
        certs: { rootCert: c.rootCert, certChain: c.certChain, key: c.key },
        ...(ilb ? { ilb } : {}),
        ...(gateway !== undefined ? { gateway } : {}),
        clusterServices,
        globalAllocations
      })
    },
    async register(ready) {
      let writes = 0
      for (const group of description.workloadGroups) {
        if (group.service.kind === 'none') continue
        const vms = description.vms.filter(vm => vm.group === group.name && ready.has(vm.name))
        if (generation !== 'scripts-0.8' && vms.length > 0) {
          // the 1.1 and 1.4 docs: a STATIC ServiceEntry and a selector-less Service...
          const result = await applyHostService(client, {
            namespace: group.namespace,
            name: group.service.name,
            ...(group.service.hosts.length > 0 ? { hosts: group.service.hosts } : {}),
            ports: group.service.ports.map(p => ({
              name: p.name,
              number: p.number,
              protocol: p.protocol,
              targetPort: p.targetPort
            })),
            endpoints: vms.map(vm => ({ address: ready.get(vm.name) ?? '', labels: group.labels })),
            labels: group.labels,
            serviceAccount: group.serviceAccount,
            networkingVersion: discovery.networkingVersion,
            ownership
          })
          writes += result.written
        }
        // ...and, as in every generation before 1.8, `istioctl register`: the Service's
        // Endpoints, one address per VM (scripts-0.8 has only these)
        for (const vm of vms) {
          const result = await registerVm(
            client,
            {
              namespace: group.namespace,
              service: group.service.name,
              address: ready.get(vm.name) ?? '',
              ports: group.service.ports.map(p => ({ name: p.name, port: p.targetPort })),
              serviceAccount: group.serviceAccount,
              labels: group.labels,
              ownership
            },
            options.log
          )
          writes += result.written
        }
      }
      return writes
    }
  }
}

/**
 * Cleanup's part for the older generations, before the owner's objects are deleted: take the
 * VMs' addresses out of Endpoints someone else made (register), and give back the gateway ports
 * and the DNS stub this owner added.
 */
export async function cleanupLegacy(
  context: StrategyContext,
  addresses: ReadonlyMap<string, string>
): Promise<string[]> {
  const { client, description, discovery, log } = context
  const owner = context.ownership.owner
  const done: string[] = []
  const groups = new Map(description.workloadGroups.map(group => [group.name, group]))
  for (const vm of description.vms) {
    const group = groups.get(vm.group)
    const address = addresses.get(vm.name)
    if (!group || group.service.kind === 'none' || address === undefined) continue
    const result = await deregisterVm(
      client,
      { namespace: group.namespace, service: group.service.name, address },
      log
    )
    if (result.outcome === 'removed' || result.outcome === 'deleted')
      done.push(`Endpoints/${group.namespace}/${group.service.name} ${address}`)
  }
  if (discovery.generation === 'meshexpansion-1.1' || discovery.generation === 'multinetwork-1.4') {
    const ports = await revertMeshExpansionPorts(client, discovery.istioNamespace, owner)
    if (ports.length > 0)
      done.push(`Service/${discovery.istioNamespace}/istio-ingressgateway ports ${ports.join(',')}`)
  }
  if (discovery.generation === 'multinetwork-1.4' && (await revertGlobalDnsStub(client, owner)))
    done.push('the .global DNS stub')
  return done
}

/** The older generations as the engine's strategy: the cluster side is prepared, then rendered. */
export function legacyStrategy(context: StrategyContext): GenerationStrategy {
  const { client, description, discovery, ownership } = context
  let prepared: LegacyCluster | undefined
  const ready = (): LegacyCluster => {
    if (!prepared) throw new Error("internal: the older generation's cluster side is not prepared")
    return prepared
  }
  return {
    generation: discovery.generation,
    async prepare() {
      prepared = await prepareLegacyCluster(client, description, discovery, ownership, context)
      return prepared.written
    },
    async identity() {
      const cluster = ready()
      await cluster.readIdentity()
      return vm => cluster.render(vm)
    },
    // no entry is named by an older sidecar: nothing to do before it starts
    beforeStart: async () => 0,
    // no health-checked entries before 1.8
    reconnect: () => false,
    async register(addresses) {
      return { written: await ready().register(addresses), problems: [] }
    },
    withdraw: addresses => cleanupLegacy(context, addresses)
  }
}
