// Live progress for a terminal: one line per host that is rewritten as the host moves on
// (waiting, shipping, done). Without a terminal each change is printed once, as a plain line.
import type { HostResult } from '../host/onboard.ts'
import { hostLine } from './terminal.ts'

type State =
  { kind: 'waiting' } | { kind: 'working'; since: number } | { kind: 'done'; line: string }

/** The lines for the current states: pure. */
export function progressLines(
  names: readonly string[],
  states: ReadonlyMap<string, State>,
  now: number
): string[] {
  return names.map(name => {
    const state = states.get(name) ?? { kind: 'waiting' }
    if (state.kind === 'done') return state.line
    if (state.kind === 'waiting') return `· ${name}: waiting`
    return `… ${name}: installing (${((now - state.since) / 1000).toFixed(0)}s)`
  })
}

export class HostProgress {
  private readonly states = new Map<string, State>()
  private drawn = 0
  private timer: NodeJS.Timeout | undefined
  private readonly names: readonly string[]
  private readonly write: (text: string) => void
  private live: boolean

  constructor(names: readonly string[], write: (text: string) => void, live: boolean) {
    this.names = names
    this.write = write
    this.live = live
    if (live && names.length > 0) {
      this.draw()
      // redraws the elapsed seconds; stopped by finish()
      this.timer = setInterval(() => this.draw(), 1000)
      this.timer.unref()
    }
  }

  started(name: string): void {
    this.states.set(name, { kind: 'working', since: Date.now() })
    if (this.live) this.draw()
  }

  finished(result: HostResult): void {
    const line = hostLine(result)
    this.states.set(result.host, { kind: 'done', line })
    if (this.live) this.draw()
    else this.write(`${line}\n`)
    if (this.names.every(name => this.states.get(name)?.kind === 'done')) this.finish()
  }

  /** Stops redrawing: whatever is printed next goes below the block. */
  finish(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    this.live = false
  }

  private draw(): void {
    const lines = progressLines(this.names, this.states, Date.now())
    // back to the first line of the block, then each line cleared and written again
    const up = this.drawn > 0 ? `\u001b[${this.drawn}A` : ''
    this.write(`${up}${lines.map(line => `\u001b[2K${line}\n`).join('')}`)
    this.drawn = lines.length
  }
}
