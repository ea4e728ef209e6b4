// Prints the tables of bench/results.json as Markdown (for the README's Performance section),
// with the per-host figures and the projection to 1,000 hosts: node bench/markdown.ts [FILE]
// (round trips per host, when FILE measured one RTT only, come from bench/results.json)
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { projectionInputs, renderProjection, roundTripsPerHost } from './projection.ts'
import {
  scaleRows,
  type FleetRun,
  type RerunResult,
  type ScaleRow,
  type Target
} from './results.ts'
import type { StartupRow } from './startup.ts'

interface Results {
  date: string
  commit?: string
  uncommittedChanges?: boolean
  measuredCodeChanges?: string[]
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
  scale?: ScaleRow[]
  targets: Target[]
}

/** A Markdown table ('' without rows: a part the file did not measure is left out). */
function table(header: string[], rows: Array<Array<string | number>>): string {
  if (rows.length === 0) return ''
  const line = (cells: Array<string | number>): string => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

const s = (ms: number): string => (ms / 1000).toFixed(2)
const dash = (v: number | null | undefined): string | number =>
  v === null || v === undefined ? '–' : v

const defaultFile = fileURLToPath(new URL('results.json', import.meta.url))
const file = process.argv[2] ?? defaultFile
const r = JSON.parse(readFileSync(file, 'utf8')) as Results
const out: string[] = []
out.push(
  `Measured ${r.date.slice(0, 10)} at commit ${(r.commit ?? 'unknown').slice(0, 12)}${r.uncommittedChanges ? ` (with uncommitted changes${r.measuredCodeChanges?.length ? `, to the code measured: ${r.measuredCodeChanges.join(', ')}` : r.measuredCodeChanges ? ', none to src/, dist/ or lab/' : ''})` : ''} on ${r.machine.cpus} CPU(s) (${r.machine.cpuModel}), ${r.machine.memoryMiB} MiB, Node ${r.node}.`
)
out.push(
  table(
    [
      'tool',
      'hosts',
      'parallelism',
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
      .sort(
        (a, b) =>
          a.rttMs - b.rttMs ||
          a.tool.localeCompare(b.tool) ||
          a.hosts - b.hosts ||
          (b.parallelism ?? b.hosts) - (a.parallelism ?? a.hosts)
      )
      .map(f => [
        f.tool,
        f.hosts,
        f.tool === 'product' ? (f.parallelism ?? f.hosts) : '–',
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
const scale = r.scale ?? scaleRows(r.fleet, r.machine.cpus)
if (scale.length > 0)
  out.push(
    table(
      [
        'per host: hosts',
        'parallelism',
        'RTT ms',
        'ready',
        'runner CPU ms/host',
        'peak RSS MiB',
        'RSS MiB/host',
        'RSS over 1 host MiB',
        'KiB per host added',
        'API requests/host',
        'bytes/host',
        `CPU floor s ((runner + VM) / ${r.machine.cpus} cores)`,
        'wall s',
        'wall / floor'
      ],
      scale.map(x => [
        x.hosts,
        x.parallelism,
        x.rttMs,
        `${x.ready}/${x.hosts}`,
        dash(x.runnerCpuMsPerHost),
        dash(x.peakRssMiB),
        dash(x.rssMiBPerHost),
        dash(x.rssIncrementMiB),
        dash(x.rssIncrementKiBPerHost),
        x.apiRequestsPerHost,
        x.bytesPerHost,
        dash(x.cpuFloorSec),
        x.wallSec,
        dash(x.wallOverFloor)
      ])
    )
  )
const adaptive = [
  ...r.fleet
    .filter(f => f.concurrency !== undefined)
    .map(f => ({ ...f, what: 'apply', failed: f.failed })),
  ...r.reruns.filter(x => x.concurrency !== undefined).map(x => ({ ...x, what: 're-run' }))
]
if (adaptive.length > 0)
  out.push(
    table(
      [
        'run',
        'hosts',
        'parallelism',
        'RTT ms',
        'ready',
        'failed',
        'hosts tried again',
        'extra attempts',
        'concurrency over time',
        'peak load (1 min)',
        'failures'
      ],
      adaptive.map(x => [
        x.what,
        x.hosts,
        x.parallelism ?? x.hosts,
        x.rttMs,
        `${x.ready}/${x.hosts}`,
        x.failed ?? '–',
        x.retriedHosts ?? '–',
        x.retries ?? '–',
        concurrencyText(x.concurrency ?? []),
        x.loadAvgPeak ?? '–',
        Object.entries(x.failureReasons ?? {})
          .map(([why, n]) => `${n}× ${why.replace(/\|/g, '\\|')}`)
          .join('; ') || '–'
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
      'parallelism',
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
      x.parallelism ?? x.hosts,
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

// The projection: this file's per-host figures; the round trips from bench/results.json when
// this file measured a single RTT.
const fallback =
  resolve(file) !== resolve(defaultFile) && existsSync(defaultFile)
    ? (JSON.parse(readFileSync(defaultFile, 'utf8')) as Results)
    : undefined
const fallbackTrips = fallback ? roundTripsPerHost(fallback.fleet) : null
const inputs = projectionInputs(
  r.fleet,
  fallback && fallbackTrips !== null
    ? {
        value: fallbackTrips,
        source: `bench/results.json, commit ${(fallback.commit ?? 'unknown').slice(0, 12)}: its 1-host runs at two RTTs`
      }
    : undefined
)
out.push(
  inputs
    ? `Projection to 1,000 hosts (\`bench/projection.ts\`, from this file's figures):\n\n${renderProjection(inputs)}`
    : 'Projection to 1,000 hosts: not computed (it needs a complete 1-host run and a larger one at the same RTT).'
)
console.log(out.filter(Boolean).join('\n\n'))

/** "4 → 5 → … → 100 (at 12.3 s) → 50 (at 40.0 s)": the limit's changes, the last ones with their times. */
function concurrencyText(series: ReadonlyArray<{ atMs: number; limit: number }>): string {
  if (series.length === 0) return '–'
  const limits = series.map(p => p.limit)
  const head = limits.length <= 12 ? limits : [...limits.slice(0, 6), '…', ...limits.slice(-6)]
  const last = series[series.length - 1] as { atMs: number; limit: number }
  const peak = Math.max(...limits)
  return `${head.join(' → ')} (peak ${peak}, last change at ${(last.atMs / 1000).toFixed(1)} s)`
}
