// What differs between Istio's generations, as one interface chosen once after discovery: the
// modern flow (src/engine/modern.ts) and the older ones (src/engine/legacy.ts). The phases call
// only this, so the flow itself has no generation branch.
import type { Description, Vm } from '../config/index.ts'
import type { Discovery } from '../cluster/discovery.ts'
import type { Ownership } from '../cluster/objects.ts'
import type { PlanEntry } from '../cluster/plan.ts'
import type { ClusterClient } from '../cluster/types.ts'
import type { HostFiles } from '../host/bundle.ts'

export interface StrategyContext {
  readonly client: ClusterClient
  /** the description with this shard's VMs only */
  readonly description: Description
  readonly discovery: Discovery
  readonly ownership: Ownership
  readonly log: (line: string) => void
  readonly warn: (message: string) => void
  readonly onSecret: (value: string) => void
  readonly tokenSeconds: number
}

export interface Registered {
  readonly written: number
  readonly problems: readonly string[]
}

export interface GenerationStrategy {
  readonly generation: Discovery['generation']
  /**
   * Cluster writes of this generation beyond the description's objects, before any host is
   * touched (gateway ports, .global entries; the entries that must exist before a sidecar
   * starts). `addresses`: the VMs' addresses known so far; `written`: what the cluster phase
   * wrote of the description's objects just before. Returns the number of writes.
   */
  prepare(addresses: ReadonlyMap<string, string>, written: readonly PlanEntry[]): Promise<number>
  /** Reads the identity material; returns the renderer of one VM's files (a token per host,
   * minted just in time). */
  identity(addresses: ReadonlyMap<string, string>): Promise<(vm: Vm) => Promise<HostFiles>>
  /**
   * Cluster writes for one host once its address is known, before its install runs: the entry
   * its sidecar names must exist when it connects (istiod 1.18+ refuses it otherwise). Returns
   * the number of writes.
   */
  beforeStart(vm: Vm, address: string): Promise<number>
  /**
   * Whether the host's sidecar must connect again even when nothing of its own changed: this
   * run created its health-checked WorkloadEntry (it was missing: deleted by hand). The agent
   * sends its health when it changes and when it connects, so a running sidecar would leave the
   * new entry without a Healthy condition, and istiod sends it no traffic. Asked after
   * beforeStart.
   */
  reconnect(vm: Vm): boolean
  /** Registers the hosts that came up (VM → address) and withdraws what must not stay. */
  register(ready: ReadonlyMap<string, string>): Promise<Registered>
  /** Cleanup's share before the owner's objects are deleted; returns what was given back. */
  withdraw(addresses: ReadonlyMap<string, string>): Promise<string[]>
}
