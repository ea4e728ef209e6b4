// CLI commands of the cluster side alone: `plan` (discover, compute, diff; writes nothing),
// `cleanup` (what one owner created) and `sweep` (owners older than an age).
import { parseArgs } from 'node:util'
import type { Description } from '../config/defaults.ts'
import { loadDescription } from './validate.ts'
import { ExitCode, UsageError, type Command, type CommandIO } from './types.ts'
import {
  checkAccess,
  deletePermissions,
  listPermissions,
  missingPermissionProblem
} from '../cluster/access.ts'
import type { Permission } from '../cluster/permissions.ts'
import { cleanup, sweep, type CleanupOptions, type CleanupResult } from '../cluster/cleanup.ts'
import { connect, type Connection } from '../cluster/connection.ts'
import { renderDiscovery } from '../cluster/discovery.ts'
import { conflictProblem, planConflicts, renderPlan } from '../cluster/plan.ts'
import { prepareCluster } from '../cluster/prepare.ts'
import { describeRef } from '../cluster/types.ts'
import { errorMessage } from '../util/errors.ts'
import { ClusterError } from '../cluster/errors.ts'
import { logLine } from '../report/escape.ts'

export interface CommonFlags {
  config?: string | undefined
  kubeconfig?: string | undefined
  context?: string | undefined
  owner?: string | undefined
  json: boolean
  help: boolean
}

export function parseCommonFlags(
  args: readonly string[],
  help: string,
  extra: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {}
): { common: CommonFlags; values: Record<string, unknown> } {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        owner: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        ...extra
      },
      allowPositionals: true,
      strict: true
    })
    if (positionals.length > 0)
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`)
    const v = values as Record<string, unknown>
    const str = (k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined)
    return {
      common: {
        config: str('config'),
        kubeconfig: str('kubeconfig'),
        context: str('context'),
        owner: str('owner'),
        json: v.json === true,
        help: v.help === true
      },
      values: v
    }
  } catch (error) {
    // our own complaint or parseArgs': either way the help follows
    throw new UsageError(`${errorMessage(error)}\n\n${help}`)
  }
}

export async function openCluster(
  flags: CommonFlags,
  io: CommandIO,
  description: Description | undefined
): Promise<Connection> {
  return connect({
    kubeconfigPath: flags.kubeconfig ?? description?.cluster.kubeconfig ?? null,
    context: flags.context ?? description?.cluster.context ?? null,
    env: io.env,
    cwd: io.cwd,
    log: line => io.stderr(`${logLine(line)}\n`)
  })
}

/** The commands that read the cluster themselves: a kubeconfig that cannot be used is bad
 * input (exit 2), as in the engine's preflight; a cluster that does not answer is not. */
async function openClusterOrRefuse(
  flags: CommonFlags,
  io: CommandIO,
  description: Description | undefined
): Promise<Connection> {
  try {
    return await openCluster(flags, io, description)
  } catch (error) {
    if (error instanceof ClusterError && error.kind === 'invalid')
      throw new UsageError(errorMessage(error))
    throw error
  }
}

const PLAN_HELP = `Usage: mesh-expansion plan -c FILE [--owner OWNER] [--kubeconfig PATH] [--context NAME] [--json]

Discovers the cluster, computes every object the description needs and prints the difference
with the live cluster. Writes nothing. Exits 1 when an object exists that is not the owner's
(a conflict: apply would change nothing; settings.adopt takes such an object over).
`

export const planCommand: Command = async (args, io) => {
  const { common } = parseCommonFlags(args, PLAN_HELP)
  if (common.help) {
    io.stdout(PLAN_HELP)
    return ExitCode.ok
  }
  if (!common.config) throw new UsageError(`missing -c FILE (the description)\n\n${PLAN_HELP}`)
  const { description } = await loadDescription(common.config, io)
  const connection = await openClusterOrRefuse(common, io, description)
  try {
    const prepared = await prepareCluster(connection.client, description, {
      owner: common.owner ?? description.settings.owner,
      dryRun: true
    })
    if (common.json) {
      const { meshConfig: _mesh, ...discovery } = prepared.discovery
      void _mesh
      io.stdout(
        `${JSON.stringify(
          {
            discovery,
            plan: prepared.plan.entries.map(e => ({
              kind: e.kind,
              name: e.name,
              namespace: e.namespace ?? null,
              action: e.action,
              diff: e.diff,
              ...(e.reason !== undefined ? { reason: e.reason } : {}),
              ...(e.adopted !== undefined ? { adopted: e.adopted } : {})
            }))
          },
          null,
          2
        )}\n`
      )
    } else {
      io.stdout(`${renderDiscovery(prepared.discovery).join('\n')}\n\n`)
      io.stdout(renderPlan(prepared.plan))
    }
    // the ownership contract: apply would stop in preflight on any of these, changing nothing
    const conflicts = planConflicts(prepared.plan)
    for (const c of conflicts) io.stderr(`${conflictProblem(c)}\n`)
    return conflicts.length > 0 ? ExitCode.failed : ExitCode.ok
  } finally {
    await connection.close()
  }
}

/** The identity lacks permissions a cleanup or sweep needs: nothing was deleted. */
class AccessRefused extends Error {
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super('permissions missing')
    this.problems = problems
  }
}

/**
 * Before the first list and again before the first delete, asks the API whether each is allowed
 * (the lists by label in every namespace; then each delete, and for a namespace the list of
 * everything in it); refuses listing all that are not. An API that does not answer the reviews
 * gets one warning, and the work goes on.
 */
function checkedAccess(
  connection: Connection,
  io: CommandIO,
  phase: string
): Required<Pick<CleanupOptions, 'beforeDeleting' | 'beforeListing'>> {
  const known = new Map<string, boolean>()
  let unanswered = false
  const check = async (permissions: Permission[]): Promise<void> => {
    if (unanswered) return
    const checked = await checkAccess(connection.client, permissions, known)
    if (checked.unavailable !== undefined) {
      unanswered = true
      io.stderr(
        `warning: permissions not checked before ${phase}: the API did not answer an access review (${logLine(checked.unavailable)})\n`
      )
    } else if (checked.missing.length > 0)
      throw new AccessRefused(checked.missing.map(missingPermissionProblem))
  }
  return {
    beforeListing: kinds => check(listPermissions(kinds, phase)),
    beforeDeleting: objects => check(deletePermissions(objects, phase))
  }
}

/** Runs a cleanup or sweep; a refusal of the access check is printed, exit 1. */
async function refusedOr(io: CommandIO, work: () => Promise<void>): Promise<number> {
  try {
    await work()
    return ExitCode.ok
  } catch (error) {
    if (!(error instanceof AccessRefused)) throw error
    for (const line of error.problems) io.stderr(`${line}\n`)
    io.stderr('nothing was deleted\n')
    return ExitCode.failed
  }
}

function printCleanup(io: CommandIO, owner: string, result: CleanupResult): void {
  for (const ref of result.deleted) io.stdout(`deleted ${describeRef(ref)}\n`)
  for (const k of result.kept) io.stdout(`kept ${describeRef(k.ref)}: ${k.reason}\n`)
  io.stdout(`owner ${owner}: ${result.deleted.length} deleted, ${result.kept.length} kept\n`)
}

const CLEANUP_HELP = `Usage: mesh-expansion cleanup [-c FILE] [--owner OWNER] [--kubeconfig PATH] [--context NAME]

Deletes every object labelled with the owner (default: the description's settings.owner), in
dependency order, and nothing else; a namespace the owner created only when nothing in it is
someone else's (it is kept, and the reason printed). Running it again deletes nothing.
`

export const cleanupCommand: Command = async (args, io) => {
  const { common } = parseCommonFlags(args, CLEANUP_HELP)
  if (common.help) {
    io.stdout(CLEANUP_HELP)
    return ExitCode.ok
  }
  const description = common.config
    ? (await loadDescription(common.config, io)).description
    : undefined
  const owner = common.owner ?? description?.settings.owner
  if (!owner) throw new UsageError(`give --owner OWNER or -c FILE\n\n${CLEANUP_HELP}`)
  const connection = await openClusterOrRefuse(common, io, description)
  try {
    return await refusedOr(io, async () => {
      const result = await cleanup(
        connection.client,
        owner,
        checkedAccess(connection, io, 'cleanup')
      )
      printCleanup(io, owner, result)
    })
  } finally {
    await connection.close()
  }
}

/** `90`, `90s`, `15m`, `24h`, `7d` → seconds. */
export function parseAge(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (!match)
    throw new UsageError(`--older-than "${text}" is not a duration such as 3600s, 90m, 24h or 7d`)
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] ?? ''] ?? 1
  return Number(match[1]) * unit
}

const SWEEP_HELP = `Usage: mesh-expansion sweep --older-than AGE [--except OWNER]... [--kubeconfig PATH] [--context NAME]

Cleans up after every owner whose oldest object is older than AGE (3600s, 90m, 24h, 7d): for
preview environments whose own cleanup never ran.
`

export const sweepCommand: Command = async (args, io) => {
  const { common, values } = parseCommonFlags(args, SWEEP_HELP, {
    'older-than': { type: 'string' },
    except: { type: 'string', multiple: true }
  })
  if (common.help) {
    io.stdout(SWEEP_HELP)
    return ExitCode.ok
  }
  const age = values['older-than']
  if (typeof age !== 'string') throw new UsageError(`missing --older-than AGE\n\n${SWEEP_HELP}`)
  const seconds = parseAge(age)
  const except = Array.isArray(values.except) ? (values.except as string[]) : []
  const description = common.config
    ? (await loadDescription(common.config, io)).description
    : undefined
  const connection = await openClusterOrRefuse(common, io, description)
  try {
    return await refusedOr(io, async () => {
      const swept = await sweep(connection.client, seconds, {
        except,
        ...checkedAccess(connection, io, 'sweep')
      })
      for (const s of swept) printCleanup(io, s.owner, s.result)
      io.stdout(`${swept.length} owner${swept.length === 1 ? '' : 's'} swept\n`)
    })
  } finally {
    await connection.close()
  }
}
