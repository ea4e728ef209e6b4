import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cpuBetween, parseProcStat } from '../../bench/cpu.ts'

describe('bench CPU accounting', () => {
  it('reads busy and total jiffies from /proc/stat (idle and iowait are not busy)', () => {
    const text = 'cpu  100 5 50 800 40 0 5 0 0 0\ncpu0 50 2 25 400 20 0 2 0 0 0\n'
    assert.deepEqual(parseProcStat(text), { busy: 160, total: 1000 })
  })

  it('gives the machine busy share and the VMs CPU seconds between two snapshots', () => {
    const before = { busy: 1000, total: 4000, vmUsec: 1_000_000 }
    const after = { busy: 2800, total: 6000, vmUsec: 4_250_000 }
    assert.deepEqual(cpuBetween(before, after), { machineBusyPct: 90, vmCpuSec: 3.3 })
  })

  it('says nothing it did not measure', () => {
    const snapshot = { busy: 0, total: 0, vmUsec: null }
    assert.deepEqual(cpuBetween(snapshot, snapshot), { machineBusyPct: null, vmCpuSec: null })
  })
})
