// GitHub's own parsers for workflows and action.yml (@actions/workflow-parser) and the
// diagnostics of its language service (@actions/languageservice), loaded for node's test runner.
// Both packages are built for bundlers: they import their JSON schemas without the
// `with { type: 'json' }` attribute Node requires, so a resolve hook adds it for their files.
import { readFileSync } from 'node:fs'
import { registerHooks } from 'node:module'
import { parse as parseYaml } from 'yaml'

registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context)
    if (resolved.url.endsWith('.json') && resolved.url.includes('/node_modules/@actions/')) {
      return { ...resolved, importAttributes: { type: 'json' } }
    }
    return resolved
  }
})

const workflowParser = await import('@actions/workflow-parser')
const actionParser = await import('@actions/workflow-parser/actions/index')
const languageService = await import('@actions/languageservice')
const { TextDocument } = await import('vscode-languageserver-textdocument')

export interface Finding {
  line: number
  message: string
}

function file(path: string): { name: string; content: string } {
  return { name: path, content: readFileSync(path, 'utf8') }
}

/** Errors of the workflow parser and its conversion (what GitHub shows as "Invalid workflow file"). */
export async function workflowErrors(path: string): Promise<string[]> {
  const trace = new workflowParser.NoOperationTraceWriter()
  const parsed = workflowParser.parseWorkflow(file(path), trace)
  const errors = parsed.context.errors.getErrors().map(e => e.message)
  if (parsed.value === undefined) return errors
  const template = await workflowParser.convertWorkflowTemplate(parsed.context, parsed.value)
  return [...errors, ...(template.errors ?? []).map(e => e.Message)]
}

/** Errors of the action.yml parser, and the converted template (inputs, outputs, runs). */
export function parseActionFile(path: string): {
  errors: string[]
  template: ReturnType<typeof actionParser.convertActionTemplate>
} {
  const parsed = actionParser.parseAction(file(path), new workflowParser.NoOperationTraceWriter())
  if (parsed.value === undefined) throw new Error(`${path}: not parsed`)
  const template = actionParser.convertActionTemplate(parsed.context, parsed.value)
  return { errors: parsed.context.errors.getErrors().map(e => e.message), template }
}

/**
 * The language service's diagnostics for a workflow. Our own action (`./` or
 * `mesh-expansion/mesh-expansion@…`) is resolved from `actionYml`, so its inputs are checked;
 * other actions cannot be fetched here (no network) and come back as "Unable to resolve".
 */
export async function languageDiagnostics(path: string, actionYml: string): Promise<Finding[]> {
  const metadata = parseYaml(readFileSync(actionYml, 'utf8')) as {
    name: string
    description: string
  }
  const document = TextDocument.create(`file:///${path}`, 'yaml', 1, readFileSync(path, 'utf8'))
  const diagnostics = await languageService.validate(document, {
    actionsMetadataProvider: {
      fetchActionMetadata: ref =>
        Promise.resolve(
          ref.owner === 'mesh-expansion' && ref.name === 'mesh-expansion' ? metadata : undefined
        )
    }
  })
  return diagnostics.map(d => ({
    line: d.range.start.line + 1,
    message: typeof d.message === 'string' ? d.message : d.message.value
  }))
}
