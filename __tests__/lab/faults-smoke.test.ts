// The fault suite's smoke subset (issue 17; the whole suite is `npm run faults`, not part of
// npm test): an API 503 on the applies and an istiod that stalls new connections while the
// sidecar starts, each with its re-run and every invariant, on real lab VMs.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { labTestOptions } from '../helpers/lab.ts'
import { startLabEnvironment, type LabEnvironment } from '../../lab/environment.ts'
import { apiCases, istiodCases } from '../../bench/faults/cases.ts'
import { FaultSuite, type FaultCase } from '../../bench/faults/framework.ts'

function find(cases: FaultCase[], name: string): FaultCase {
  const found = cases.find(c => c.name === name)
  assert.ok(found, `no fault case named ${name}`)
  return found
}

describe('fault injection smoke (issue 17)', labTestOptions(), () => {
  let env: LabEnvironment
  let suite: FaultSuite
  let workdir: string

  before(async () => {
    env = await startLabEnvironment({ vms: 1 })
    workdir = await mkdtemp(join(tmpdir(), 'mx-faults-smoke-'))
    suite = await FaultSuite.connect(env, workdir)
  })

  after(async () => {
    await suite?.close()
    await env?.close()
    if (workdir) await rm(workdir, { recursive: true, force: true })
  })

  test('503 on the applies: retried within the run, the re-run converges, nothing leaks', async () => {
    const result = await suite.runCase(find(apiCases(), '503 on applies'), env.vms)
    const why = JSON.stringify(result, null, 1)
    assert.equal(result.firstRun, 'recovered', why)
    assert.match(result.evidence.fault.join('\n'), /acted on 2 request/, why)
    assert.equal(result.converged, true, why)
    assert.deepEqual(result.violations, [], why)
    assert.equal(result.cleanedUp, true, why)
    assert.equal(result.hostsCutOff + result.objectsLeaked + result.secretsPrinted, 0, why)
  })

  test('istiod stalls new connections as the sidecar starts: ready within the run, nothing leaks', async () => {
    const result = await suite.runCase(
      find(istiodCases(), 'stalls new connections 15 s during ready'),
      env.vms
    )
    const why = JSON.stringify(result, null, 1)
    assert.match(result.evidence.fault.join('\n'), /injected as istio.service started/, why)
    assert.equal(result.firstRun, 'recovered', why)
    assert.equal(result.converged, true, why)
    assert.deepEqual(result.violations, [], why)
    assert.equal(result.cleanedUp, true, why)
  })
})
