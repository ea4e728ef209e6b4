// The hosts phase of apply with settings.rollout: what each host runs is read first (one exec
// over the connection its onboarding then uses), the hosts whose package version or revision
// differ from the description are upgraded batch by batch, each batch's checks run before the
// next, and the first batch with more failures than maxUnavailable stops the rollout: later
// batches are not touched. New and current hosts follow the batches (docs/rollout.md).
import type { Rollout, Vm } from '../../config/index.ts'
import type { FanoutReport } from '../../host/fanout.ts'
import { readFleet, rollbackFleet, sidecarVersion, type RunningRead } from '../../host/fleet.ts'
import { emptyResult, type HostResult } from '../../host/onboard.ts'
import type { RolloutBatchReport, RolloutReport } from '../report.ts'
import {
  differenceText,
  hostState,
  planRollout,
  revisionOfAddress,
  type PlannedHost,
  type Running
} from '../rollout.ts'
import { produced } from '../runner.ts'
import type { RunState } from '../state.ts'
import { checkVms, runChecksOf } from './verify.ts'

/** What a host runs, as the planner takes it. */
function runningOf(read: RunningRead | undefined): Running | { error: string } {
  if (read === undefined) return { error: 'not read' }
  if ('error' in read) return read
  return {
    packageVersion: read.packageVersion,
    // no CA_ADDR in cluster.env: the default revision (istioctl names only another one)
    revision:
      read.caAddress === null
        ? null
        : read.caAddress === ''
          ? ''
          : revisionOfAddress(read.caAddress)
  }
}

/** The plan of `vms`, each as `state` says (plan: every host to upgrade). */
export function rolloutReport(
  hosts: readonly PlannedHost[],
  rollout: Rollout,
  result: RolloutBatchReport['result']
): RolloutReport {
  const plan = planRollout(hosts, rollout)
  return {
    batches: plan.batches.map(batch => ({
      number: batch.number,
      hosts: [...batch.hosts],
      maxUnavailable: batch.maxUnavailable,
      result,
      failed: [],
      rolledBack: [],
      checks: { passed: 0, failed: 0 }
    })),
    upgrades: hosts.flatMap(host =>
      host.state.kind === 'upgrade'
        ? [{ host: host.name, differs: differenceText(host.state.differs) }]
        : []
    ),
    rest: [...plan.rest],
    stoppedAt: null
  }
}

/** `plan`: the batches if every host of the shard needed the upgrade. */
export function plannedRollout(vms: readonly Vm[], rollout: Rollout): RolloutReport {
  const every: PlannedHost[] = vms.map(vm => ({
    name: vm.name,
    state: { kind: 'upgrade', differs: [] }
  }))
  return { ...rolloutReport(every, rollout, 'planned'), upgrades: [] }
}

function skipped(host: string, message: string): HostResult {
  return { ...emptyResult(host, 'skipped'), error: { phase: 'rollout', message } }
}

/** The fan-outs of the batches and the rest as one, in the shard's order. */
function combined(vms: readonly Vm[], results: ReadonlyMap<string, HostResult>): FanoutReport {
  const all = vms.flatMap(vm => {
    const result = results.get(vm.name)
    return result ? [result] : []
  })
  const count = (status: HostResult['status']): number =>
    all.filter(result => result.status === status).length
  const skippedCount = count('skipped')
  return {
    results: all,
    succeeded: count('ok'),
    failed: count('failed'),
    skipped: skippedCount,
    ok: count('failed') === 0 && skippedCount === 0
  }
}

export interface RolloutOutcome {
  readonly fleet: FanoutReport
  /** why the rollout stopped (the hosts phase fails with it); null when it did not */
  readonly stopped: string | null
}

export async function rolloutFleet(
  state: RunState,
  rollout: Rollout,
  onboardVms: (vms: readonly Vm[]) => Promise<FanoutReport>
): Promise<RolloutOutcome> {
  const { description, options, report, vms } = state
  const { discovery } = produced(state, 'prepared')
  const transports = produced(state, 'transports')
  const reads = await readFleet({
    description,
    env: options.env,
    warn: options.warn,
    vms,
    keepOpen: transports
  })
  const hosts: PlannedHost[] = vms.map(vm => ({
    name: vm.name,
    state: hostState(runningOf(reads.get(vm.name)), {
      version: sidecarVersion(vm, discovery.istioVersion ?? ''),
      revision: discovery.revision
    })
  }))
  const plan = rolloutReport(hosts, rollout, 'not run')
  report.rollout = plan
  const byName = new Map(vms.map(vm => [vm.name, vm]))
  const vmsOf = (names: readonly string[]): Vm[] =>
    names.flatMap(name => {
      const vm = byName.get(name)
      return vm ? [vm] : []
    })
  const results = new Map<string, HostResult>()
  const onboarded = async (names: readonly string[]): Promise<FanoutReport> => {
    const fleet = await onboardVms(vmsOf(names))
    for (const result of fleet.results) results.set(result.host, result)
    return fleet
  }
  let stopped: string | null = null
  // the failed checks of the batch that stopped the rollout (else the verify phase reports them)
  let stopProblems: string[] = []
  for (const batch of plan.batches) {
    const fleet = await onboarded(batch.hosts)
    const failed = new Set(
      fleet.results.filter(result => result.status !== 'ok').map(result => result.host)
    )
    batch.rolledBack = fleet.results.filter(r => r.rolledBack).map(r => r.host)
    if (options.verify !== false) {
      // the batch's own checks, before the next batch: each VM's and those between its VMs
      const up = vmsOf(batch.hosts.filter(name => !failed.has(name)))
      const checks = await runChecksOf(state, up, true)
      const byCheck = new Map(description.checks.map(check => [check.name, check]))
      for (const check of checks.filter(c => c.status === 'fail')) {
        const described = byCheck.get(check.name)
        const involved = check.vm ? [check.vm] : described ? checkVms(described) : []
        for (const name of involved) if (batch.hosts.includes(name)) failed.add(name)
      }
      batch.checks = {
        passed: checks.filter(c => c.status === 'pass').length,
        failed: checks.filter(c => c.status === 'fail').length
      }
      report.checks.push(...checks)
      stopProblems = checks
        .filter(check => check.status === 'fail')
        .map(check => `check "${check.name}": ${check.diagnosis ?? 'failed'}`)
    }
    batch.failed = batch.hosts.filter(name => failed.has(name))
    // ready, then failed one of the batch's checks: back to the sidecar it had, as a host whose
    // new sidecar was not ready went back by itself
    const checkFailed = batch.failed.filter(name => results.get(name)?.status === 'ok')
    if (checkFailed.length > 0) {
      const back = await rollbackFleet({
        description,
        env: options.env,
        warn: options.warn,
        vms: vmsOf(checkFailed),
        keepOpen: transports
      })
      for (const rolled of back) {
        const upgraded = results.get(rolled.host)
        if (!upgraded) continue
        const how =
          rolled.status === 'ok'
            ? 'rolled back to the previous sidecar, which is ready'
            : `rolling back failed: ${rolled.error?.message ?? 'unknown'}`
        results.set(rolled.host, {
          ...upgraded,
          status: 'failed',
          ready: rolled.ready,
          restarted: true,
          rolledBack: rolled.status === 'ok' && rolled.rolledBack,
          package: rolled.package,
          phases: [...upgraded.phases, ...rolled.phases],
          logs: [...upgraded.logs, ...rolled.logs],
          error: { phase: 'checks', message: `its batch's checks failed; ${how}` }
        })
        options.log(`${rolled.host}: its batch's checks failed; ${how}`)
      }
      batch.rolledBack = batch.hosts.filter(name => results.get(name)?.rolledBack)
    }
    if (failed.size > batch.maxUnavailable) {
      batch.result = 'failed'
      plan.stoppedAt = batch.number
      stopped =
        `rollout stopped at batch ${batch.number}: ${failed.size} of ${batch.hosts.length} ` +
        `host(s) failed (${batch.failed.join(', ')}), more than maxUnavailable ` +
        `${batch.maxUnavailable}; later batches were not touched`
      report.problems.push(...stopProblems)
      break
    }
    batch.result = 'passed'
  }
  if (stopped === null) {
    if (plan.rest.length > 0) await onboarded(plan.rest)
  } else {
    const message = `rollout stopped at batch ${plan.stoppedAt ?? 0}`
    for (const vm of vms.filter(vm => !results.has(vm.name))) {
      const result = skipped(vm.name, message)
      results.set(vm.name, result)
      options.onHostResult?.(result)
    }
  }
  // the adaptive limit of each batch is not kept: one series per fan-out would not read as one
  return { fleet: combined(vms, results), stopped }
}
