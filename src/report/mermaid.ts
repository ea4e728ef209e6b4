// Pictures for the job summary as Mermaid, which GitHub renders from a ```mermaid block wherever
// it renders Markdown: a gantt chart of where the time went, and a graph of the checks between
// the cluster and the VMs. Pure. No name from outside reaches Mermaid's syntax: node ids are
// ours (v0, v1…), and every label is quoted with each character outside [A-Za-z0-9 ._/-]
// written as a Mermaid entity (`#34;`), which Mermaid shows as the character and never parses.
import type { RunReport } from '../engine/report.ts'
import type { HostResult } from '../host/onboard.ts'
import type { CheckResult } from '../verify/types.ts'
import { oneLine } from './escape.ts'
import { phaseTree } from './phases.ts'

/** A label's text for Mermaid: one line, every character outside a safe set as `#<code>;`. */
export function mermaidText(text: string): string {
  return [...oneLine(text)]
    .map(c => (/^[A-Za-z0-9 ._/-]$/.test(c) ? c : `#${c.codePointAt(0) ?? 63};`))
    .join('')
}

/** A quoted label: `"…"`, its text escaped. Our own marks (✅ ❌) go in `mark`, unescaped. */
const label = (text: string, mark = ''): string => `"${mark}${mark ? ' ' : ''}${mermaidText(text)}"`

/** More hosts than this and the gantt shows the slowest and the failed ones only. */
const GANTT_HOSTS = 8
/** Up to this many hosts, each host's nested phases are bars of their own. */
const GANTT_NESTED_HOSTS = 3

/** The run's phases, then each host's, on one time axis (ms from the start of the run). */
export function ganttChart(report: RunReport): string {
  const lines = ['gantt', '  dateFormat x', '  axisFormat %M:%S', '  todayMarker off']
  let at = 0
  let hostsStart = 0
  lines.push(`  section ${mermaidText('run')}`)
  for (const phase of report.phases) {
    if (phase.name === 'hosts') hostsStart = at
    const end = at + Math.max(phase.durationMs, 1)
    lines.push(`  ${mermaidText(phase.name)} :${phase.ok ? '' : 'crit, '}${at}, ${end}`)
    at += phase.durationMs
  }
  const hosts = ganttHosts(report.hosts)
  const nested = report.hosts.length <= GANTT_NESTED_HOSTS
  for (const host of hosts.shown) {
    const failed = host.status === 'failed'
    lines.push(`  section ${mermaidText(host.host)}`)
    let t = hostsStart
    for (const node of phaseTree(host.phases)) {
      const crit = node.ok ? '' : 'crit, '
      lines.push(`  ${mermaidText(node.label)} :${crit}${t}, ${t + Math.max(node.ms, 1)}`)
      if (nested) {
        // the host's own phases, each a bar under the exec that ran them
        let c = t + Math.max(0, node.ms - node.children.reduce((sum, n) => sum + n.ms, 0))
        for (const child of node.children) {
          const end = c + Math.max(child.ms, 1)
          lines.push(
            `  ${mermaidText(`· ${child.label}`)} :${child.ok ? '' : 'crit, '}${c}, ${end}`
          )
          c += child.ms
        }
      }
      t += node.ms
    }
    if (host.phases.length === 0) {
      lines.push(`  ${mermaidText(failed ? 'failed' : 'no phases')} :crit, ${t}, ${t + 1}`)
    }
  }
  if (hosts.hidden > 0) {
    lines.push(
      `  section ${mermaidText(`${hosts.hidden} more hosts`)}`,
      `  ${mermaidText('within the slowest shown')} :done, ${hostsStart}, ${hostsStart + 1}`
    )
  }
  return lines.join('\n')
}

/** Which hosts get bars: all of a small fleet; else the failed ones, then the slowest. */
function ganttHosts(hosts: readonly HostResult[]): { shown: HostResult[]; hidden: number } {
  if (hosts.length <= GANTT_HOSTS) return { shown: [...hosts], hidden: 0 }
  const failed = hosts.filter(h => h.status === 'failed').slice(0, GANTT_HOSTS / 2)
  const slowest = hosts
    .filter(h => h.status !== 'failed')
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, GANTT_HOSTS - failed.length)
  return { shown: [...failed, ...slowest], hidden: hosts.length - failed.length - slowest.length }
}

/** The checks that are about one VM and need no request (they go on its istiod edge). */
const VM_STATE = new Set<CheckResult['kind']>([
  'sidecar-ready',
  'istiod-connection',
  'workload-entry-health'
])

/** More VMs than this and the graph shows the VMs with a failed check, the rest as one node. */
const GRAPH_VMS = 10

/** `caller identity spiffe://td/ns/N/sa/S` → `N/S`. */
export function callerIdentity(check: CheckResult): string | undefined {
  const note = check.evidence.notes?.find(n => n.startsWith('caller identity '))
  const m = note ? /\/ns\/([^/]+)\/sa\/(\S+)/.exec(note) : null
  return m ? `${m[1]}/${m[2]}` : undefined
}

/** Where a check starts and ends: `cluster`, or a VM's name. */
function ends(check: CheckResult): { from: string; to: string } {
  const source = /^vm\/(\S+)/.exec(check.evidence.where ?? '')?.[1]
  const vm = check.vm ?? source ?? 'cluster'
  switch (check.kind) {
    case 'host-to-cluster':
      return { from: source ?? vm, to: 'cluster' }
    case 'host-to-host':
      return { from: source ?? vm, to: check.vm ?? 'cluster' }
    case 'pod-to-pod':
      return { from: 'cluster', to: 'cluster' }
    default:
      return { from: 'cluster', to: vm }
  }
}

interface Edge {
  from: string
  to: string
  /** the istiod edge of a VM (its state checks) is drawn dotted */
  state: boolean
  checks: CheckResult[]
}

/** The checks as a graph: the cluster, the VMs, each check (or group of checks) on an edge. */
export function checkGraph(report: RunReport): string {
  const vms = [
    ...new Set([
      ...report.hosts.map(h => h.host),
      ...report.checks.flatMap(c => Object.values(ends(c)))
    ])
  ].filter(name => name !== 'cluster')
  const failing = new Set(
    report.checks.filter(c => c.status === 'fail').flatMap(c => Object.values(ends(c)))
  )
  for (const host of report.hosts) if (host.status === 'failed') failing.add(host.host)
  const shown =
    vms.length <= GRAPH_VMS ? vms : vms.filter(vm => failing.has(vm)).slice(0, GRAPH_VMS - 1)
  const ids = new Map<string, string>(shown.map((vm, i) => [vm, `v${i}`]))
  const others = vms.length - shown.length
  const node = (name: string): string => (name === 'cluster' ? 'C' : (ids.get(name) ?? 'others'))

  const edges = new Map<string, Edge>()
  for (const check of report.checks) {
    const { from, to } = ends(check)
    const state = VM_STATE.has(check.kind)
    const key = `${node(from)} ${node(to)} ${state}`
    const edge = edges.get(key) ?? { from: node(from), to: node(to), state, checks: [] }
    edge.checks.push(check)
    edges.set(key, edge)
  }

  const lines = ['flowchart LR', `  C((${label('cluster')}))`]
  const failedHosts = new Set(report.hosts.filter(h => h.status === 'failed').map(h => h.host))
  for (const vm of shown) {
    const mark = failedHosts.has(vm) ? '❌' : ''
    lines.push(`  ${node(vm)}[${label(vm, mark)}]`)
  }
  if (others > 0) lines.push(`  others[${label(`${others} more VMs`)}]`)
  const failedEdges: number[] = []
  let index = 0
  for (const edge of edges.values()) {
    const bad = edge.checks.some(c => c.status === 'fail')
    const arrow = edge.state ? '-.-' : '-->'
    lines.push(`  ${edge.from} ${arrow}|${edgeLabel(edge)}| ${edge.to}`)
    if (bad) failedEdges.push(index)
    index++
  }
  if (failedEdges.length > 0) {
    lines.push(`  linkStyle ${failedEdges.join(',')} stroke:#cf222e,stroke-width:3px,color:#cf222e`)
  }
  const failedNodes = shown.filter(vm => failedHosts.has(vm)).map(node)
  if (failedNodes.length > 0) {
    lines.push(
      '  classDef failed stroke:#cf222e,stroke-width:3px',
      `  class ${failedNodes.join(',')} failed`
    )
  }
  return lines.join('\n')
}

const MARK = { pass: '✅', fail: '❌', skip: '➖' } as const

/** One check: its mark, name and caller identity; several: counts per mark and what failed. */
function edgeLabel(edge: Edge): string {
  if (edge.checks.length === 1) {
    const check = edge.checks[0] as CheckResult
    const identity = callerIdentity(check)
    const name = edge.state ? stateName(check.kind) : check.name
    return label(`${name}${identity ? ` as ${identity}` : ''}`, MARK[check.status])
  }
  const count = (status: CheckResult['status']): number =>
    edge.checks.filter(c => c.status === status).length
  if (edge.state && edge.checks.length <= 3 && new Set(edge.checks.map(c => c.vm)).size === 1) {
    // one VM's state: sidecar, istiod, WorkloadEntry, each with its mark
    return `"${edge.checks.map(c => `${MARK[c.status]} ${mermaidText(stateName(c.kind))}`).join('<br/>')}"`
  }
  const parts = (['pass', 'fail', 'skip'] as const)
    .filter(s => count(s) > 0)
    .map(s => `${MARK[s]} ${count(s)}`)
  const failedKinds = [...new Set(edge.checks.filter(c => c.status === 'fail').map(c => c.kind))]
  const kinds = [...new Set(edge.checks.map(c => (edge.state ? stateName(c.kind) : c.kind)))]
  const what = failedKinds.length > 0 ? `failed: ${failedKinds.join(', ')}` : kinds.join(', ')
  return `"${parts.join(' ')}<br/>${mermaidText(what)}"`
}

function stateName(kind: CheckResult['kind']): string {
  return kind === 'sidecar-ready'
    ? 'sidecar ready'
    : kind === 'istiod-connection'
      ? 'connected to istiod'
      : kind === 'workload-entry-health'
        ? 'WorkloadEntry healthy'
        : kind
}

/** A fenced block GitHub renders as a picture. */
export const mermaidBlock = (diagram: string): string => `\`\`\`mermaid\n${diagram}\n\`\`\``
