// action.yml and every workflow (ours and the examples users copy) as GitHub reads them: its own
// parser and its language service, not ours. Then the rules the safety issue asks of workflows:
// no expression inside a script, no secret in GITHUB_ENV, a token where a comment is wanted.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { languageDiagnostics, parseActionFile, workflowErrors } from '../helpers/github-parsers.ts'

const WORKFLOW_DIRS = ['.github/workflows', 'examples/workflows']
const workflows = WORKFLOW_DIRS.flatMap(dir =>
  readdirSync(dir)
    .filter(name => /\.ya?ml$/.test(name))
    .map(name => `${dir}/${name}`)
)

// Actions of other owners the workflows use on purpose; anything else is a finding.
const EXTERNAL_ACTIONS = new Set([
  'actions/checkout',
  'actions/setup-node',
  'actions/upload-artifact',
  'helm/kind-action'
])

interface Step {
  uses?: string
  run?: string
  with?: Record<string, unknown>
  env?: Record<string, unknown>
}
interface Workflow {
  permissions?: Record<string, string>
  jobs: Record<string, { steps?: Step[]; permissions?: Record<string, string> }>
}

const read = (path: string): Workflow => parseYaml(readFileSync(path, 'utf8')) as Workflow
const isOurAction = (uses: string | undefined): boolean =>
  uses === './' || (uses ?? '').startsWith('mesh-expansion/mesh-expansion@')

describe('action.yml and workflows, read by GitHub’s own parser', () => {
  it('workflows were found (the list is not empty)', () => {
    assert.ok(workflows.length >= 5, workflows.join(', '))
  })

  it('action.yml parses without errors and runs on node24', () => {
    const { errors, template } = parseActionFile('action.yml')
    assert.deepEqual(errors, [])
    assert.equal(template.runs?.using, 'node24')
  })

  for (const path of workflows) {
    it(`${path}: no parser or conversion errors`, async () => {
      assert.deepEqual(await workflowErrors(path), [])
    })

    it(`${path}: the language service finds nothing but unresolvable external actions`, async () => {
      const findings = (await languageDiagnostics(path, 'action.yml')).filter(f => {
        const m = /^Unable to resolve action `([^@`]+)@[^`]+`/.exec(f.message)
        return !(m && EXTERNAL_ACTIONS.has(m[1] ?? ''))
      })
      assert.deepEqual(findings, [])
    })
  }
})

describe('workflow rules', () => {
  const { template } = parseActionFile('action.yml')
  const inputs = new Map((template.inputs ?? []).map(input => [input.id, input] as const))

  for (const path of workflows) {
    const workflow = read(path)
    const steps = Object.values(workflow.jobs).flatMap(job => job.steps ?? [])

    it(`${path}: every input given to this action exists, every required one is given`, () => {
      for (const step of steps.filter(s => isOurAction(s.uses))) {
        for (const key of Object.keys(step.with ?? {})) {
          assert.ok(inputs.has(key), `${path}: unknown input ${key}`)
        }
        for (const [name, input] of inputs) {
          if (input.required === true) assert.ok(name in (step.with ?? {}), `${path}: ${name}`)
        }
      }
    })

    it(`${path}: no expression inside a run script (values come through env:)`, () => {
      for (const step of steps) {
        if (step.run === undefined) continue
        assert.doesNotMatch(step.run, /\$\{\{/, `${path}: a run script interpolates an expression`)
      }
    })

    it(`${path}: no secret reaches GITHUB_ENV (every later step would see it)`, () => {
      for (const step of steps) {
        const env = JSON.stringify(step.env ?? {})
        if (step.run?.includes('GITHUB_ENV')) {
          assert.doesNotMatch(env, /secrets\./, `${path}: a step with a secret writes GITHUB_ENV`)
        }
      }
    })

    it(`${path}: a workflow allowed to comment on pull requests gives the action a token`, () => {
      const jobs = Object.values(workflow.jobs)
      for (const job of jobs) {
        const permissions = { ...workflow.permissions, ...job.permissions }
        if (permissions['pull-requests'] !== 'write') continue
        for (const step of (job.steps ?? []).filter(s => isOurAction(s.uses))) {
          assert.ok('github-token' in (step.with ?? {}), `${path}: pull-requests: write, no token`)
        }
      }
    })
  }
})
