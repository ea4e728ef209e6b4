// The request log (for counting requests in tests and benchmarks), the fault switch (status codes,
// delays, dropped connections) and the deny list (403 for authorization tests).

export interface RequestInfo {
  method: string
  /** path with query string (tokens never travel in it) */
  path: string
  verb: string
  /** plural, with '/subresource' when there is one: 'pods/exec', 'serviceaccounts/token' */
  resource: string
  group: string
  namespace: string | undefined
  name: string | undefined
  userAgent: string | undefined
}

export interface RequestLogEntry extends RequestInfo {
  /** HTTP status sent; 0 when the connection was dropped; 101 for exec upgrades */
  status: number
  /** ISO time the request arrived */
  time: string
  durationMs: number
  user: string | undefined
  /** set when a fault rule acted on the request */
  fault?: string
}

export interface LogFilter {
  verb?: string
  resource?: string
  namespace?: string
  name?: string
  method?: string
  status?: number
  path?: RegExp
}

/**
 * Whether a request can change what the API stores: a write method, but not the reviews (a
 * SelfSubjectAccessReview, SelfSubjectRulesReview, TokenReview is a POST that stores nothing:
 * kubernetes/kubernetes pkg/registry/authorization/selfsubject{access,rules}review/rest.go, pkg/registry/authentication/tokenreview/storage.go)
 * and not a dry run.
 */
export function isWrite(entry: Pick<RequestInfo, 'method' | 'group' | 'path'>): boolean {
  if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(entry.method)) return false
  if (entry.group === 'authorization.k8s.io' || entry.group === 'authentication.k8s.io')
    return false
  return !/[?&]dryRun=All(&|$)/.test(entry.path)
}

function matches(entry: RequestInfo & { status?: number }, f: LogFilter): boolean {
  return (
    (f.verb === undefined || entry.verb === f.verb) &&
    (f.resource === undefined || entry.resource === f.resource) &&
    (f.namespace === undefined || entry.namespace === f.namespace) &&
    (f.name === undefined || entry.name === f.name) &&
    (f.method === undefined || entry.method === f.method) &&
    (f.status === undefined || entry.status === f.status) &&
    (f.path === undefined || f.path.test(entry.path))
  )
}

export class RequestLog {
  readonly entries: RequestLogEntry[] = []
  /** bounded: the oldest entries go first */
  readonly limit: number

  constructor(limit = 100_000) {
    this.limit = limit
  }

  private readonly listeners = new Set<(entry: RequestLogEntry) => void>()

  /** Calls `listener` with every new entry; returns an unsubscribe function. */
  onEntry(listener: (entry: RequestLogEntry) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** entries ever added: a mark that stays right when the oldest entries have gone */
  private added = 0

  /** A mark for `since`: where the log stands now. */
  mark(): number {
    return this.added
  }

  /** The entries added after `mark`; throws when some of them have gone already (past the limit),
   * so that a count taken over them is never silently short. */
  since(mark: number): RequestLogEntry[] {
    const wanted = this.added - mark
    if (wanted > this.entries.length)
      throw new Error(
        `the request log kept ${this.entries.length} of the ${wanted} requests since the mark (limit ${this.limit})`
      )
    return this.entries.slice(this.entries.length - wanted)
  }

  add(entry: RequestLogEntry): void {
    for (const l of this.listeners) l(entry)
    this.added++
    this.entries.push(entry)
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit)
  }

  /** Entries matching every given field. */
  filter(filter: LogFilter = {}): RequestLogEntry[] {
    return this.entries.filter(e => matches(e, filter))
  }

  count(filter: LogFilter = {}): number {
    return this.filter(filter).length
  }

  /** { get: 3, list: 1, patch: 2 } */
  countByVerb(filter: LogFilter = {}): Record<string, number> {
    const out: Record<string, number> = {}
    for (const e of this.filter(filter)) out[e.verb] = (out[e.verb] ?? 0) + 1
    return out
  }

  clear(): void {
    this.entries.length = 0
  }
}

export interface FaultRule {
  match?: { verb?: string; resource?: string; namespace?: string; name?: string; path?: RegExp }
  /** answer with this HTTP status and a Kubernetes Status body */
  status?: number
  /** for 429/503: the Retry-After header in seconds (default 1) */
  retryAfterSeconds?: number
  /** wait before answering (or before handling normally when no status/drop is set) */
  delayMs?: number
  /** destroy the connection without an answer */
  drop?: boolean
  /** how many requests it acts on, then it retires (default: unlimited) */
  times?: number
}

export interface ActiveFault {
  rule: FaultRule
  /** requests it acted on so far */
  hits: number
  remove(): void
}

export class Faults {
  private readonly active: ActiveFault[] = []

  /** Adds a rule; the first matching rule acts on a request. */
  add(rule: FaultRule): ActiveFault {
    const fault: ActiveFault = {
      rule,
      hits: 0,
      remove: () => {
        const i = this.active.indexOf(fault)
        if (i >= 0) this.active.splice(i, 1)
      }
    }
    this.active.push(fault)
    return fault
  }

  /** Replaces every rule. */
  set(rules: FaultRule[]): ActiveFault[] {
    this.clear()
    return rules.map(r => this.add(r))
  }

  clear(): void {
    this.active.length = 0
  }

  get rules(): FaultRule[] {
    return this.active.map(a => a.rule)
  }

  /** The rule acting on this request (counted), if any. */
  take(info: RequestInfo): FaultRule | undefined {
    for (const fault of this.active) {
      const m = fault.rule.match ?? {}
      if (!matches(info, m)) continue
      fault.hits++
      if (fault.rule.times !== undefined && fault.hits >= fault.rule.times) fault.remove()
      return fault.rule
    }
    return undefined
  }
}

interface DenyRule {
  user: string
  verb: string
  resource: string
}

/** Users denied verbs on resources ('*' matches anything). */
export class DenyList {
  private readonly rules: DenyRule[] = []

  add(user: string, verb: string, resource: string): () => void {
    const rule = { user, verb, resource }
    this.rules.push(rule)
    return () => {
      const i = this.rules.indexOf(rule)
      if (i >= 0) this.rules.splice(i, 1)
    }
  }

  clear(): void {
    this.rules.length = 0
  }

  denies(user: string, verb: string, resource: string): boolean {
    // like RBAC, 'pods' does not cover 'pods/exec'
    return this.rules.some(
      r =>
        (r.user === '*' || r.user === user) &&
        (r.verb === '*' || r.verb === verb) &&
        (r.resource === '*' || r.resource === resource)
    )
  }
}
