// preflight: everything that can be known before the first write, checked without writing:
// the inputs' problems, the kubeconfig and that its cluster answers, every permission the run
// will use (access reviews, ./access.ts), discovery, the plan (a read), and what discovery
// decides for the hosts (the sidecar version). Any problem stops the
// run here with all of them listed; the cluster and the hosts are untouched.
import type { Connection } from '../../cluster/connection.ts'
import { discover } from '../../cluster/discovery.ts'
import { ClusterError } from '../../cluster/errors.ts'
import { conflictProblem, planConflicts, type Plan } from '../../cluster/plan.ts'
import { prepareCluster } from '../../cluster/prepare.ts'
import { packageSourceFor } from '../../host/fleet.ts'
import { checkMeshConfigKeys, MeshConfigError } from '../../istio/index.ts'
import { errorMessage } from '../../util/errors.ts'
import { chooseStrategy } from '../generation.ts'
import { clusterReport } from '../report.ts'
import type { Phase, PhaseContext } from '../runner.ts'
import type { RunState } from '../state.ts'
import { runAccess } from './access.ts'

/** The access check found permissions missing: listed already, nothing more to read. */
class MissingAccess extends Error {}

export interface PreflightOptions {
  /** discovery and the plan (apply, verify, plan) or discovery alone, a failure of which only
   * warns (cleanup: the owner's objects are found by label without it) */
  readonly plan: boolean
  /** the run onboards hosts: what discovery decides for them (the sidecar version) is checked */
  readonly onboards?: boolean
}

async function open(state: RunState, run: PhaseContext): Promise<Connection> {
  if (typeof state.access !== 'function') return state.access
  const connection = await state.access()
  run.defer(() => connection.close())
  return connection
}

/** What settings.adopt does to this plan: each object taken over, each entry that matches none. */
function adoptionNotes(
  thePlan: Plan,
  adopt: readonly { kind: string; namespace: string; name: string }[]
): string[] {
  const notes = thePlan.entries
    .filter(e => e.adopted !== undefined)
    .map(
      e =>
        `taking over ${e.kind} ${e.namespace ?? ''}/${e.name} (settings.adopt): it ${e.adopted ?? ''}`
    )
  for (const a of adopt) {
    const planned = thePlan.entries.some(
      e => e.kind === a.kind && e.name === a.name && (e.namespace ?? '') === a.namespace
    )
    if (!planned)
      notes.push(
        `settings.adopt lists ${a.kind} ${a.namespace}/${a.name}, which this description does not create: nothing is taken over`
      )
  }
  return notes
}

export function preflightPhase(what: PreflightOptions): Phase<RunState> {
  return {
    name: 'preflight',
    title: () =>
      what.plan
        ? 'the cluster answers, discovery and the plan; nothing is written'
        : 'the cluster answers',
    needs: ['description', 'access'],
    produces: what.plan ? ['connection', 'prepared', 'strategy'] : ['connection', 'strategy'],
    async run(state, run) {
      const { description, options, report } = state
      const inputProblems = state.inputs?.problems ?? []
      const problems: string[] = []
      let kubeconfigBad = false
      try {
        state.connection = await open(state, run)
      } catch (error) {
        // a kubeconfig that cannot be used is bad input; a cluster that does not answer is not
        kubeconfigBad = error instanceof ClusterError && error.kind === 'invalid'
        const message = errorMessage(error)
        const what = kubeconfigBad ? 'kubeconfig' : 'cluster'
        problems.push(message.startsWith(what) ? message : `${what}: ${message}`)
      }
      const { connection } = state
      // every permission the run will use, asked before discovery reads anything
      const access = connection ? runAccess(connection.client, state) : undefined
      const before = access ? await access.first() : undefined
      problems.push(...(before?.problems ?? []))
      if (connection && before?.blocksDiscovery !== true) {
        const ownership = { owner: options.owner, createdAt: new Date().toISOString() }
        try {
          const discovery = await discover(connection.client, description.cluster)
          const after = access ? await access.second(discovery.generation) : undefined
          // a plan would read what the identity may not: the missing permissions say it all
          if (after && after.problems.length > 0) {
            problems.push(...after.problems)
            throw new MissingAccess()
          }
          const prepared = what.plan
            ? await prepareCluster(connection.client, description, {
                owner: options.owner,
                dryRun: true,
                discovery
              })
            : undefined
          if (prepared) {
            state.prepared = prepared
            report.cluster = clusterReport(prepared)
            for (const warning of discovery.warnings) options.warn(warning)
            // the ownership contract: an existing object not ours is never written; apply (and
            // the plan that predicts it) stops here listing every one; verify writes nothing
            if (report.command !== 'verify')
              problems.push(...planConflicts(prepared.plan).map(conflictProblem))
            for (const line of adoptionNotes(prepared.plan, description.settings.adopt))
              options.warn(line)
          }
          state.strategy = chooseStrategy({
            client: connection.client,
            description: { ...description, vms: [...state.vms] },
            discovery,
            ownership: prepared?.ownership ?? ownership,
            log: options.log,
            warn: options.warn,
            onSecret: options.onSecret,
            tokenSeconds: description.settings.tokenDuration
          })
          // cluster.env gets the mesh's proxyMetadata keys: one a root shell would run is
          // refused here, before anything is written (a description's keys were validated)
          if (what.onboards === true && discovery.generation === 'modern') {
            try {
              checkMeshConfigKeys(discovery.meshConfig)
            } catch (error) {
              if (!(error instanceof MeshConfigError)) throw error
              problems.push(`cluster: ${error.message}`)
            }
          }
          for (const vm of what.onboards === true ? state.vms : []) {
            try {
              packageSourceFor(vm, discovery.istioVersion ?? '', options.runnerPackageCache)
            } catch (error) {
              problems.push(errorMessage(error))
            }
          }
        } catch (error) {
          if (error instanceof MissingAccess) state.strategy = null
          else if (what.plan) problems.push(`cluster: ${errorMessage(error)}`)
          else {
            options.warn(
              `discovery failed (${errorMessage(error)}): only the owner's objects are removed`
            )
            state.strategy = null
            problems.push(...((await access?.second())?.problems ?? []))
          }
        }
      }
      const all = [...inputProblems, ...problems]
      if (all.length === 0) return
      // nothing was changed: a problem of the inputs alone is bad input (exit 2)
      report.invalid = problems.length === (kubeconfigBad ? 1 : 0)
      return { failed: true, problems: all }
    }
  }
}
