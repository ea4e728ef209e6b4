// hosts: the VMs of this shard, each over its one connection: onboarded (apply), connected for
// the checks (verify), or cleaned (cleanup).
import pLimit from 'p-limit'
import { transientApiFailure } from '../../cluster/retry.ts'
import { closeTransports, askOver, openTransports } from '../../host/connections.ts'
import type { Vm } from '../../config/index.ts'
import type { FanoutReport } from '../../host/fanout.ts'
import { onboardFleet, uninstallFleet } from '../../host/fleet.ts'
import { ControlPlaneError, type HostResult } from '../../host/onboard.ts'
import { diagnosisTail } from '../../host/readiness.ts'
import type { HostTransport } from '../../host/transport.ts'
import { errorMessage } from '../../util/errors.ts'
import { knownAddresses, meshAddress } from '../addresses.ts'
import { produced, type Phase } from '../runner.ts'
import type { RunState } from '../state.ts'
import { rolloutFleet } from './rollout.ts'

function hostProblems(results: readonly HostResult[]): string[] {
  return results
    .filter(result => result.status === 'failed')
    .map(
      r =>
        `${r.host}: ${r.error?.phase ?? 'host'}: ${r.error?.message ?? 'failed'}${diagnosisTail(r)}`
    )
}

/**
 * Hosts whose files are rendered at once (their WorkloadEntry and token: a few API requests
 * each). Rendering takes milliseconds, the host's install seconds, so this holds back no host;
 * it keeps a large `parallelism` from opening that many API connections (TLS handshakes) in the
 * same moment, which a busy API server answers with connect timeouts.
 */
export const RENDER_CONCURRENCY = 8

const ofShard = (state: RunState): string =>
  `${state.vms.length} of ${state.description.vms.length} VM(s)`

export const onboard: Phase<RunState> = {
  name: 'hosts',
  title: state =>
    state.description.settings.rollout
      ? `onboarding ${ofShard(state)}, upgrades in batches (settings.rollout)`
      : `onboarding ${ofShard(state)}`,
  needs: ['inputs', 'prepared', 'strategy', 'addresses', 'render'],
  produces: ['transports', 'fleet', 'ready'],
  async run(state, run) {
    const { description, options, report } = state
    const addresses = produced(state, 'addresses')
    const render = produced(state, 'render')
    const strategy = produced(state, 'strategy')
    const { addressOptions } = produced(state, 'inputs')
    const { discovery } = produced(state, 'prepared')
    // each host's one connection serves the checks too; closed when the run ends
    const transports = new Map<string, HostTransport>()
    state.transports = transports
    run.defer(() => closeTransports(transports))
    const ask = askOver(vm => transports.get(vm.name), addressOptions.publicLookupUrl)
    const rendering = pLimit(RENDER_CONCURRENCY)
    const onboardVms = (vms?: readonly Vm[]): Promise<FanoutReport> =>
      onboardFleet({
        keepOpen: transports,
        description,
        env: options.env,
        warn: options.warn,
        ...(vms ? { vms } : {}),
        filesFor: async vm => {
          options.onHostStarted?.(vm.name)
          if (!addresses.has(vm.name))
            addresses.set(vm.name, await meshAddress(vm, ask, addressOptions))
          return rendering(async () => {
            try {
              const writes = await strategy.beforeStart(vm, addresses.get(vm.name) ?? '')
              if (report.cluster) report.cluster.writes += writes
              return await render(vm)
            } catch (error) {
              // the API's requests were retried within their bounds and it still did not answer:
              // the control plane's, so the host is tried again later with fewer at once
              if (transientApiFailure(error)) throw new ControlPlaneError(errorMessage(error))
              throw error
            }
          })
        },
        reconnect: vm => strategy.reconnect(vm),
        istioVersion: discovery.istioVersion ?? '',
        controlPlaneHosts: [discovery.gateway.address, discovery.gateway.hostname ?? ''].filter(
          host => host !== ''
        ),
        ...(options.onHostResult ? { onResult: options.onHostResult } : {}),
        ...(options.runnerPackageCache ? { runnerPackageCache: options.runnerPackageCache } : {}),
        ...(options.readyTimeoutSec !== undefined
          ? { readyTimeoutSec: options.readyTimeoutSec }
          : {})
      })
    const rollout = description.settings.rollout
    const outcome = rollout
      ? await rolloutFleet(state, rollout, onboardVms)
      : { fleet: await onboardVms(), stopped: null }
    const { fleet } = outcome
    state.fleet = fleet
    if (fleet.concurrency) report.concurrency = fleet.concurrency
    report.hosts = fleet.results.filter(result => result.status !== 'skipped')
    report.skippedHosts = fleet.results.filter(r => r.status === 'skipped').map(r => r.host)
    report.problems.push(...hostProblems(fleet.results))
    // a host that went back to its previous sidecar is up (rollout): its entry stays
    state.ready = new Map(
      fleet.results
        .filter(r => r.ready && (r.status === 'ok' || (rollout && r.rolledBack)))
        .map(r => [r.host, addresses.get(r.host) ?? ''])
    )
    if (outcome.stopped) return { failed: true, problems: [outcome.stopped] }
  }
}

export const connect: Phase<RunState> = {
  name: 'hosts',
  title: state => `connecting to ${ofShard(state)} for the checks`,
  needs: ['inputs'],
  produces: ['transports', 'addresses'],
  async run(state, run) {
    const { description, vms, options } = state
    const { secrets, addressOptions } = produced(state, 'inputs')
    const transports = await openTransports(description, vms, secrets, options.warn)
    state.transports = transports
    run.defer(() => closeTransports(transports))
    const addresses = knownAddresses(vms, addressOptions)
    const ask = askOver(vm => transports.get(vm.name), addressOptions.publicLookupUrl)
    for (const vm of vms.filter(vm => !addresses.has(vm.name))) {
      try {
        addresses.set(vm.name, await meshAddress(vm, ask, addressOptions))
      } catch (error) {
        options.warn(errorMessage(error))
      }
    }
    state.addresses = addresses
  }
}

export const uninstall: Phase<RunState> = {
  name: 'hosts',
  title: state => `removing the sidecar from ${state.vms.length} VM(s)`,
  needs: ['inputs'],
  produces: [],
  async run(state) {
    const { description, options, report } = state
    const fleet = await uninstallFleet({
      description,
      env: options.env,
      warn: options.warn,
      keepPackage: options.keepPackage ?? false,
      ...(options.onHostResult ? { onResult: options.onHostResult } : {})
    })
    report.hosts = fleet.results
    report.problems.push(...hostProblems(fleet.results))
  }
}
