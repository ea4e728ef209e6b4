// YAML parsing that cannot be made to overflow the stack: the nesting is bounded while the text is
// parsed (the parser keeps its own stack; composing is recursive and only runs when the nesting
// is within the bound), then, through aliases, before anything turns the documents into values.
import {
  Composer,
  Lexer,
  Parser,
  isAlias,
  type CST,
  isCollection,
  isPair,
  type Document,
  type DocumentOptions,
  type LineCounter,
  type Node,
  type ParseOptions,
  type SchemaOptions
} from 'yaml'

export type BoundedParse =
  | { ok: true; docs: Document.Parsed[] }
  /** nested deeper than allowed at this offset of the text */
  | { ok: false; offset: number }

/** parseAllDocuments, stopped as soon as the nesting goes beyond `maxDepth` levels. */
export function parseBounded(
  text: string,
  maxDepth: number,
  options: ParseOptions & DocumentOptions & SchemaOptions & { lineCounter: LineCounter }
): BoundedParse {
  const parser = new Parser(options.lineCounter.addNewLine)
  options.lineCounter.addNewLine(0)
  let tooDeep: number | undefined
  function* tokens(): Generator<CST.Token> {
    for (const lexeme of new Lexer().lex(text)) {
      const start = parser.offset
      yield* parser.next(lexeme)
      // the parser's stack holds the document and one entry per open collection
      if (parser.stack.length > maxDepth + 1) {
        tooDeep = start
        return
      }
    }
    yield* parser.end()
  }
  const composer = new Composer({ ...options, prettyErrors: false })
  const docs = Array.from(composer.compose(tokens(), true, text.length))
  if (tooDeep !== undefined) return { ok: false, offset: tooDeep }
  return { ok: true, docs }
}

function childrenOf(node: unknown): Node[] {
  if (!isCollection(node)) return []
  const out: Node[] = []
  for (const item of node.items as unknown[]) {
    if (isPair(item)) {
      if (item.key !== null && typeof item.key === 'object') out.push(item.key as Node)
      if (item.value !== null && typeof item.value === 'object') out.push(item.value as Node)
    } else if (item !== null && typeof item === 'object') out.push(item as Node)
  }
  return out
}

/** Each alias's node: the last node with its anchor that starts before it (YAML's rule). */
function aliasTargets(root: Node): Map<Node, Node | undefined> {
  const anchors = new Map<string, Node>()
  const targets = new Map<Node, Node | undefined>()
  const stack: Node[] = [root]
  while (stack.length > 0) {
    const node = stack.pop() as Node
    if (isAlias(node)) {
      targets.set(node, anchors.get(node.source))
      continue
    }
    if (node.anchor !== undefined) anchors.set(node.anchor, node)
    // one by one: a list of a million items is not a million arguments
    const children = childrenOf(node)
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as Node)
  }
  return targets
}

export interface NestingProblem {
  /** the alias that makes it too deep or refers to a value holding it */
  readonly node: Node
  readonly message: string
}

/**
 * How deep the values of a document go once its aliases are followed: an alias without an anchor,
 * an alias inside the value it refers to (a cycle), or aliases nesting values deeper than
 * `maxDepth`, are problems.
 */
export function aliasNesting(doc: Document, maxDepth: number): NestingProblem | undefined {
  const root = doc.contents
  if (root === null || typeof root !== 'object') return undefined
  const targets = aliasTargets(root as Node)
  if (targets.size === 0) return undefined
  for (const [alias, target] of targets) {
    if (target === undefined && isAlias(alias)) {
      return {
        node: alias,
        message: `the alias ${JSON.stringify(`*${alias.source}`)} has no anchor before it (define &${alias.source} first)`
      }
    }
  }
  const follow = (node: Node): Node[] => {
    if (!isAlias(node)) return childrenOf(node)
    const target = targets.get(node)
    return target ? [target] : []
  }
  // heights by an iterative post-order walk; a node met again while open is a cycle
  const height = new Map<Node, number>()
  const open = new Set<Node>()
  const stack: { node: Node; next: Node[] }[] = [{ node: root as Node, next: follow(root as Node) }]
  open.add(root as Node)
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as { node: Node; next: Node[] }
    const child = frame.next.pop()
    if (child !== undefined) {
      if (height.has(child)) continue
      if (open.has(child)) {
        const alias = isAlias(frame.node) ? frame.node : child
        return {
          node: alias,
          message: 'this alias is inside the value it refers to: a value cannot contain itself'
        }
      }
      open.add(child)
      stack.push({ node: child, next: follow(child) })
      continue
    }
    stack.pop()
    open.delete(frame.node)
    let h = 0
    for (const c of follow(frame.node)) h = Math.max(h, height.get(c) ?? 0)
    height.set(frame.node, isAlias(frame.node) ? h : h + (isCollection(frame.node) ? 1 : 0))
  }
  if ((height.get(root as Node) ?? 0) <= maxDepth) return undefined
  // walk down the deepest branch: the last alias on it before the bound is passed is the cause
  let node = root as Node
  let depth = 0
  let lastAlias: Node | undefined
  while (depth <= maxDepth) {
    if (isAlias(node)) lastAlias = node
    else if (isCollection(node)) depth++
    let deepest: Node | undefined
    for (const c of follow(node)) {
      if (deepest === undefined || (height.get(c) ?? 0) > (height.get(deepest) ?? 0)) deepest = c
    }
    if (deepest === undefined) break
    node = deepest
  }
  return {
    node: lastAlias ?? node,
    message: `nested more than ${maxDepth} levels deep through aliases`
  }
}
