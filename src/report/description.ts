// What a description covers, in one line: `validate` prints it and the Action logs it.
import type { Description } from '../config/index.ts'

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`

/** One line that says what the description covers. */
export function summarize(file: string, description: Description): string {
  const namespaces = [...new Set(description.workloadGroups.map(group => group.namespace))]
  return (
    `${file}: valid: ${plural(description.workloadGroups.length, 'workload group')}, ` +
    `${plural(description.vms.length, 'VM')}, ${plural(description.checks.length, 'check')} ` +
    `(namespace${namespaces.length === 1 ? '' : 's'} ${namespaces.join(', ')})`
  )
}
