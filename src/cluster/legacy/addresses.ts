// Addresses the older generations' files carry: the meshExpansion gateway's IP (a load balancer
// may publish a host name) and the ClusterIPs of the cluster Services the VMs call (1.1).
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { ClusterClient } from '../types.ts'

export async function gatewayIp(address: string): Promise<string> {
  return isIP(address) !== 0 ? address : (await lookup(address)).address
}

export interface ClusterService {
  readonly name: string
  readonly namespace: string
  readonly clusterIP: string
}

/** Each named Service's ClusterIP; a missing Service or a headless one is an error. */
export function clusterServiceIPs(
  client: ClusterClient,
  services: readonly { readonly name: string; readonly namespace: string }[]
): Promise<ClusterService[]> {
  return Promise.all(
    services.map(async s => {
      const svc = await client.get({ apiVersion: 'v1', kind: 'Service', ...s })
      const spec = (svc?.spec ?? {}) as { clusterIP?: string }
      if (!svc || !spec.clusterIP || spec.clusterIP === 'None') {
        throw new Error(
          `cluster.legacy.services: Service ${s.namespace}/${s.name} ${svc ? 'has no ClusterIP' : 'does not exist'}`
        )
      }
      return { ...s, clusterIP: spec.clusterIP }
    })
  )
}
