// The preflight's permission check for one run: what the command will ask of the API
// (src/cluster/permissions.ts), asked of the API before the first write (src/cluster/access.ts).
// Two rounds: before discovery for the generation the description names (else the modern one),
// then, once discovery has told the generation and whether the run creates (or removes) its
// namespaces, for what that adds. Answers are kept between rounds: nothing is asked twice.
import { checkAccess, missingPermissionProblem } from '../../cluster/access.ts'
import type { ConcreteGeneration } from '../../cluster/discovery.ts'
import { managedSelector, OWNER_LABEL } from '../../cluster/objects.ts'
import { permissionsFor, type PermissionOptions } from '../../cluster/permissions.ts'
import type { ClusterClient } from '../../cluster/types.ts'
import type { RunReport } from '../report.ts'
import type { RunState } from '../state.ts'

export interface AccessRound {
  /** one line per missing permission, with the rule that grants it */
  readonly problems: string[]
  /** the identity lacks a permission discovery needs: discovery would only fail */
  readonly blocksDiscovery: boolean
}

export interface RunAccess {
  first(): Promise<AccessRound>
  /** for the generation discovery found (absent: discovery failed; the one assumed); once */
  second(generation?: ConcreteGeneration): Promise<AccessRound>
}

const NOTHING: AccessRound = { problems: [], blocksDiscovery: false }

function commandPermissions(
  command: RunReport['command'],
  state: RunState
): Pick<PermissionOptions, 'commands' | 'checks' | 'strictMtls'> {
  const { options } = state
  return command === 'plan'
    ? { commands: ['verify'], checks: false }
    : {
        commands: [command],
        checks: options.verify !== false,
        strictMtls: options.strictMtls === true
      }
}

/**
 * Whether the run creates (apply: a workload namespace is missing, or one is the owner's) or
 * deletes (cleanup: one is the owner's) its namespaces; then its grants must be cluster-wide,
 * as `mesh-expansion rbac --create-namespaces` prints them. A read that fails says no: the
 * access check names the permission it lacked.
 */
async function touchesNamespaces(
  client: ClusterClient,
  state: RunState,
  command: RunReport['command']
): Promise<boolean> {
  const { description, options } = state
  const namespaces = [...new Set(description.workloadGroups.map(g => g.namespace))]
  try {
    if (command === 'apply') {
      for (const name of namespaces) {
        const live = await client.get({ apiVersion: 'v1', kind: 'Namespace', name })
        if (live === null || live.metadata.labels?.[OWNER_LABEL] === options.owner) return true
      }
      return false
    }
    if (command === 'cleanup') {
      const ours = await client.list('v1', 'Namespace', {
        labelSelector: managedSelector(options.owner)
      })
      return ours.some(ns => namespaces.includes(ns.metadata.name))
    }
  } catch {
    return false
  }
  return false
}

export function runAccess(client: ClusterClient, state: RunState): RunAccess {
  const { description, report } = state
  const command = report.command
  const known = new Map<string, boolean>()
  const base = commandPermissions(command, state)
  const named = description.cluster.generation
  const guess: ConcreteGeneration = named === 'auto' ? 'modern' : named
  let unavailable = false
  const notAnswered = (reason: string): AccessRound => {
    unavailable = true
    state.options.warn(
      `permissions not checked before writing: the API did not answer an access review (${reason})`
    )
    return NOTHING
  }

  const askSecond = async (generation: ConcreteGeneration): Promise<AccessRound> => {
    if (unavailable) return NOTHING
    const createNamespaces = await touchesNamespaces(client, state, command)
    const checked = await checkAccess(
      client,
      permissionsFor(description, { ...base, generation, createNamespaces }),
      known
    )
    if (checked.unavailable !== undefined) return notAnswered(checked.unavailable)
    if (checked.missing.length === 0)
      state.options.log(
        `permissions: all ${checked.questions} granted (${known.size} access reviews asked)`
      )
    return { problems: checked.missing.map(missingPermissionProblem), blocksDiscovery: false }
  }
  let secondRound: Promise<AccessRound> | undefined

  return {
    async first() {
      const checked = await checkAccess(
        client,
        permissionsFor(description, { ...base, generation: guess }),
        known
      )
      if (checked.unavailable !== undefined) return notAnswered(checked.unavailable)
      const blocksDiscovery = checked.missing.some(m => m.permission.phase.startsWith('discover'))
      if (!blocksDiscovery) return NOTHING
      // discovery cannot run: report everything missing now, for the generation assumed
      const problems = checked.missing.map(missingPermissionProblem)
      if (named === 'auto')
        problems.push(
          'permissions: checked for the modern generation (cluster.generation is auto, and discovery cannot read the cluster to tell)'
        )
      return { problems, blocksDiscovery }
    },
    second(generation) {
      secondRound ??= askSecond(generation ?? guess)
      return secondRound
    }
  }
}
