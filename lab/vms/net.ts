// The lab's network (see lab/README.md): one bridge in the root namespace, one network
// namespace per VM and one for the cluster, each joined to the bridge by a veth pair.
// Everything lives in 198.18.0.0/15; nothing routes anywhere else (no default route, no NAT).
import { run, must } from './exec.ts'

export const BRIDGE = 'mxlab0'
export const BRIDGE_ADDRESS = '198.18.0.1'
/** The east-west gateway's load-balancer IP: a second address on the bridge. */
export const GATEWAY_ADDRESS = '198.18.0.2'
export const CLUSTER_NETNS = 'mxlab-cluster'
export const CLUSTER_ADDRESS = '198.18.0.10'
export const POD_CIDR = '198.18.1.0/24'
export const SERVICE_CIDR = '198.19.0.0/16'
export const PREFIX = 16
export const NETNS_PREFIX = 'mxlab-'
/** Root-namespace end of the cluster namespace's veth pair. */
const CLUSTER_VETH = 'mxlc0'
export const VETH_PREFIX = 'mxv'
/** The lab's own routes: pods and services live inside the cluster namespace. */
const CLUSTER_ROUTES = [SERVICE_CIDR, POD_CIDR]
export const MAX_VMS = 500

export function vmName(index: number): string {
  return `mxlab-vm${index}`
}

/** VM i (1-based) gets 198.18.2.(i+1), continuing into 198.18.3.x and beyond. */
export function vmAddress(index: number): string {
  if (!Number.isInteger(index) || index < 1 || index > MAX_VMS) {
    throw new Error(`VM index must be 1..${MAX_VMS}, got ${index}`)
  }
  const n = index + 1
  return `198.18.${2 + Math.floor(n / 256)}.${n % 256}`
}

export function vmVeth(index: number): string {
  return `${VETH_PREFIX}${index}`
}

async function linkExists(name: string): Promise<boolean> {
  return (await run(['ip', 'link', 'show', 'dev', name])).code === 0
}

export async function listLabNetns(): Promise<string[]> {
  const out = await must(['ip', '-j', 'netns', 'list'])
  const list = out.trim() === '' ? [] : (JSON.parse(out) as { name: string }[])
  return list.map(n => n.name).filter(n => n.startsWith(NETNS_PREFIX))
}

async function setSysctlIn(netns: string | undefined, key: string, value: string): Promise<void> {
  const argv = ['sysctl', '-q', '-w', `${key}=${value}`]
  await run(netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv)
}

/** Creates the bridge with the runner's and the gateway's addresses and the cluster routes. */
export async function ensureBridge(): Promise<void> {
  if (!(await linkExists(BRIDGE))) {
    await must(['ip', 'link', 'add', BRIDGE, 'type', 'bridge'])
  }
  // Bridged frames must not go through the host's iptables (br_netfilter), whatever its rules.
  await run(['ip', 'link', 'set', BRIDGE, 'type', 'bridge', 'nf_call_iptables', '0'])
  await run(['ip', 'link', 'set', BRIDGE, 'type', 'bridge', 'nf_call_ip6tables', '0'])
  await setSysctlIn(undefined, `net.ipv6.conf.${BRIDGE}.disable_ipv6`, '1')
  await run(['ip', 'addr', 'replace', `${BRIDGE_ADDRESS}/${PREFIX}`, 'dev', BRIDGE])
  await run(['ip', 'addr', 'replace', `${GATEWAY_ADDRESS}/${PREFIX}`, 'dev', BRIDGE])
  await must(['ip', 'link', 'set', BRIDGE, 'up'])
  for (const cidr of CLUSTER_ROUTES) {
    await must(['ip', 'route', 'replace', cidr, 'via', CLUSTER_ADDRESS, 'dev', BRIDGE])
  }
}

/**
 * Creates network namespace `netns` with `eth0` at `address`/16, joined to the bridge by a veth
 * whose root-side end is `hostVeth`, loopback up, and routes to the cluster's pod and service
 * ranges (unless it is the cluster namespace itself).
 */
export async function createNetns(
  netns: string,
  hostVeth: string,
  address: string,
  routeToCluster: boolean
): Promise<void> {
  await must(['ip', 'netns', 'add', netns])
  await must([
    'ip',
    'link',
    'add',
    hostVeth,
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    netns
  ])
  await must(['ip', 'link', 'set', hostVeth, 'master', BRIDGE])
  await setSysctlIn(undefined, `net.ipv6.conf.${hostVeth}.disable_ipv6`, '1')
  await must(['ip', 'link', 'set', hostVeth, 'up'])
  const script = [
    'set -e',
    'ip link set lo up',
    'sysctl -q -w net.ipv6.conf.eth0.disable_ipv6=1 || true',
    `ip addr add ${address}/${PREFIX} dev eth0`,
    'ip link set eth0 up',
    ...(routeToCluster
      ? CLUSTER_ROUTES.map(c => `ip route add ${c} via ${CLUSTER_ADDRESS} dev eth0`)
      : [])
  ].join('\n')
  await must(['ip', 'netns', 'exec', netns, '/bin/sh', '-c', script])
}

/** The cluster's namespace at 198.18.0.10: pods run there (`ip netns exec mxlab-cluster ...`). */
export async function ensureClusterNetns(): Promise<void> {
  if ((await listLabNetns()).includes(CLUSTER_NETNS)) return
  await run(['ip', 'link', 'del', CLUSTER_VETH]) // a leftover end without its namespace
  await createNetns(CLUSTER_NETNS, CLUSTER_VETH, CLUSTER_ADDRESS, false)
}

function withPrefix(address: string): string {
  return address.includes('/') ? address : `${address}/32`
}

/**
 * Adds an address inside the cluster namespace, e.g. a service ClusterIP (198.19.x.y) or a pod
 * IP (198.18.1.x): traffic from the VMs and the runner is routed to the namespace and delivered
 * locally. Without a prefix it is a /32 on `lo`. Adding an address that is there is fine.
 */
export async function addClusterAddress(address: string, dev = 'lo'): Promise<void> {
  const r = await run([
    'ip',
    '-n',
    CLUSTER_NETNS,
    'addr',
    'replace',
    withPrefix(address),
    'dev',
    dev
  ])
  if (r.code !== 0) {
    throw new Error(`cannot add ${address} to ${CLUSTER_NETNS}: ${r.stderr.trim()}`)
  }
}

export async function removeClusterAddress(address: string, dev = 'lo'): Promise<void> {
  await run(['ip', '-n', CLUSTER_NETNS, 'addr', 'del', withPrefix(address), 'dev', dev])
}

export async function deleteNetns(netns: string): Promise<void> {
  await run(['ip', 'netns', 'delete', netns])
}

/** Removes every lab namespace, veth and the bridge (its routes go with it). */
export async function deleteLabNetwork(): Promise<void> {
  for (const ns of await listLabNetns()) await deleteNetns(ns)
  const out = await run(['ip', '-j', 'link', 'show'])
  const links = out.code === 0 ? (JSON.parse(out.stdout) as { ifname: string }[]) : []
  for (const { ifname } of links) {
    if (ifname === CLUSTER_VETH || /^mxv\d+$/.test(ifname)) await run(['ip', 'link', 'del', ifname])
  }
  if (await linkExists(BRIDGE)) await run(['ip', 'link', 'del', BRIDGE])
}
