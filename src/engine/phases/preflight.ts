// preflight: everything that can be known before the first write, checked without writing:
// the inputs' problems, the kubeconfig and that its cluster answers, discovery, the plan (a
// read), and what discovery decides for the hosts (the sidecar version). Any problem stops the
// run here with all of them listed; the cluster and the hosts are untouched.
import type { Connection } from '../../cluster/connection.ts'
import { discover } from '../../cluster/discovery.ts'
import { prepareCluster } from '../../cluster/prepare.ts'
import { packageSourceFor } from '../../host/fleet.ts'
import { errorMessage } from '../../util/errors.ts'
import { chooseStrategy } from '../generation.ts'
import { clusterReport } from '../report.ts'
import type { Phase, PhaseContext } from '../runner.ts'
import type { RunState } from '../state.ts'

export interface PreflightOptions {
  /** discovery and the plan (apply, verify, plan) or discovery alone, a failure of which only
   * warns (cleanup: the owner's objects are found by label without it) */
  readonly plan: boolean
}

async function open(state: RunState, run: PhaseContext): Promise<Connection> {
  if (typeof state.access !== 'function') return state.access
  const connection = await state.access()
  run.defer(() => connection.close())
  return connection
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
      try {
        state.connection = await open(state, run)
      } catch (error) {
        problems.push(`kubeconfig: ${errorMessage(error)}`)
      }
      const kubeconfigBad = problems.length > 0
      const { connection } = state
      if (connection) {
        const ownership = { owner: options.owner, createdAt: new Date().toISOString() }
        try {
          const prepared = what.plan
            ? await prepareCluster(connection.client, description, {
                owner: options.owner,
                dryRun: true
              })
            : undefined
          const discovery =
            prepared?.discovery ?? (await discover(connection.client, description.cluster))
          if (prepared) {
            state.prepared = prepared
            report.cluster = clusterReport(prepared)
            for (const warning of discovery.warnings) options.warn(warning)
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
          for (const vm of state.vms) {
            try {
              packageSourceFor(vm, discovery.istioVersion ?? '', options.runnerPackageCache)
            } catch (error) {
              problems.push(errorMessage(error))
            }
          }
        } catch (error) {
          if (what.plan) problems.push(`cluster: ${errorMessage(error)}`)
          else {
            options.warn(
              `discovery failed (${errorMessage(error)}): only the owner's objects are removed`
            )
            state.strategy = null
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
