// The Action's log: text that may come from outside (names, messages of the cluster or a host)
// is shown on one line and never obeyed as a workflow command (`::error::`, `::stop-commands::`).
import * as core from '@actions/core'
import { logLine } from '../report/escape.ts'

export const say = (text: string): void => core.info(logLine(text))
