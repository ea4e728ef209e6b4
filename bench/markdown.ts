// Prints the tables of bench/results.json as Markdown (for the README's Performance section):
// node bench/markdown.ts [FILE]
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { FleetRun, RerunResult, Target } from './results.ts'
import type { StartupRow } from './startup.ts'

interface Results {
  date: string
  commit?: string
  uncommittedChanges?: boolean
  node: string
  machine: { cpus: number; cpuModel: string; memoryMiB: number }
  startup: StartupRow[]
  bundleBytes: Record<string, number>
  fleet: FleetRun[]
  speedups: Array<{
    hosts: number
    rttMs: number
    productMs: number
    baselineMs: number
    speedup: number
  }>
  reruns: RerunResult[]
  targets: Target[]
}

function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

const s = (ms: number): string => (ms / 1000).toFixed(2)

const file = process.argv[2] ?? fileURLToPath(new URL('results.json', import.meta.url))
const r = JSON.parse(readFileSync(file, 'utf8')) as Results
const out: string[] = []
out.push(
  `Measured ${r.date.slice(0, 10)} at commit ${(r.commit ?? 'unknown').slice(0, 12)}${r.uncommittedChanges ? ' (with uncommitted changes)' : ''} on ${r.machine.cpus} CPU(s) (${r.machine.cpuModel}), ${r.machine.memoryMiB} MiB, Node ${r.node}.`
)
out.push(
  table(
    [
      'tool',
      'hosts',
      'RTT ms',
      'all ready s',
      'ready',
      'SSH logins/host',
      'connections/host',
      'channels/host',
      'bytes sent',
      'API requests',
      'API writes',
      'peak RSS MiB',
      'runner CPU s',
      'VM CPU s',
      'machine busy %'
    ],
    r.fleet
      .slice()
      .sort((a, b) => a.rttMs - b.rttMs || a.tool.localeCompare(b.tool) || a.hosts - b.hosts)
      .map(f => [
        f.tool,
        f.hosts,
        f.rttMs,
        s(f.wallMs),
        `${f.ready}/${f.hosts}`,
        Math.round((f.sshLogins / f.hosts) * 10) / 10,
        f.connectionsPerHost,
        f.channelsPerHost,
        f.bytesSent,
        f.apiRequests,
        f.apiWrites,
        f.peakRssKiB === null ? '–' : Math.round(f.peakRssKiB / 1024),
        f.runnerCpuSec ?? '–',
        f.vmCpuSec ?? '–',
        f.machineBusyPct ?? '–'
      ])
  )
)
out.push(
  table(
    ['hosts', 'RTT ms', 'product s', 'baseline s', 'speed-up'],
    r.speedups.map(x => [x.hosts, x.rttMs, s(x.productMs), s(x.baselineMs), `${x.speedup}×`])
  )
)
out.push(
  table(
    [
      're-run: hosts',
      'RTT ms',
      'wall s',
      'objects written',
      'API writes',
      'hosts changed',
      'restarts',
      'ready'
    ],
    r.reruns.map(x => [
      x.hosts,
      x.rttMs,
      s(x.wallMs),
      x.clusterWrites,
      x.apiWrites,
      x.changedHosts,
      x.restartedHosts,
      x.ready
    ])
  )
)
out.push(
  table(
    ['start-up', 'first output: median ms', 'min ms', 'max ms', 'exit: median ms', 'min ms'],
    r.startup.map(x => [
      x.what,
      x.medianMs,
      x.minMs,
      x.maxMs,
      x.exitMedianMs ?? '',
      x.exitMinMs ?? ''
    ])
  )
)
out.push(
  table(
    ['bundle', 'bytes'],
    Object.entries(r.bundleBytes).map(([k, v]) => [
      k === 'total' ? 'total (dist/ and dist/chunks/)' : `dist/${k}`,
      v
    ])
  )
)
out.push(
  table(
    ['target', 'met', 'measured'],
    r.targets.map(t => [
      t.target,
      t.met === null ? 'not measured' : t.met ? 'yes' : 'no',
      t.measured
    ])
  )
)
console.log(out.join('\n\n'))
