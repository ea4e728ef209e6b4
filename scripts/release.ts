// The checks and local steps of a release, run by .github/workflows/release.yml on a version tag
// and by anyone on a scratch tag in a temporary clone (docs/releasing.md):
//   node scripts/release.ts vX.Y.Z [--notes FILE] [--move-major]
// It checks that the tag is a version, that package.json says the same version, that the tag is
// the commit checked out, and that CHANGELOG.md has a dated section for it; it writes that
// section as the release notes and, for a release that is not a pre-release, moves the major tag
// (v0, v1, ...) to the release's commit locally. Pushing and creating the GitHub release are the
// workflow's steps. Exit 1 with one line saying what is wrong.
import { execFileSync } from 'node:child_process'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'

const VERSION_TAG = /^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/

export class ReleaseError extends Error {}

export interface Release {
  version: string
  majorTag: string
  prerelease: boolean
  notes: string
}

/** The section of CHANGELOG.md for `version` ("## [x.y.z] - yyyy-mm-dd"), without its heading. */
export function releaseNotes(changelog: string, version: string): string {
  const lines = changelog.split('\n')
  const heading = `## [${version}]`
  const start = lines.findIndex(line => line.startsWith(heading))
  if (start < 0) {
    throw new ReleaseError(`CHANGELOG.md has no "${heading} - YYYY-MM-DD" section`)
  }
  if (!/^## \[[^\]]+\] - \d{4}-\d{2}-\d{2}$/.test(lines[start] ?? '')) {
    throw new ReleaseError(
      `CHANGELOG.md: "${lines[start] ?? ''}" needs its date: "${heading} - YYYY-MM-DD"`
    )
  }
  const rest = lines.slice(start + 1)
  const end = rest.findIndex(line => /^## /.test(line) || /^\[[^\]]+\]: /.test(line))
  const notes = (end < 0 ? rest : rest.slice(0, end)).join('\n').trim()
  if (notes === '') throw new ReleaseError(`CHANGELOG.md: the ${heading} section is empty`)
  return notes + '\n'
}

/** Everything a release decides from the tag and the files, before anything is written. */
export function planRelease(tag: string, packageJson: string, changelog: string): Release {
  const m = VERSION_TAG.exec(tag)
  if (!m) throw new ReleaseError(`"${tag}" is not a version tag (vMAJOR.MINOR.PATCH[-pre])`)
  const version = tag.slice(1)
  const declared = (JSON.parse(packageJson) as { version?: unknown }).version
  if (declared !== version) {
    throw new ReleaseError(
      `package.json says version ${String(declared)}, the tag says ${version}: bump package.json first`
    )
  }
  return {
    version,
    majorTag: `v${m[1] ?? ''}`,
    prerelease: m[4] !== undefined,
    notes: releaseNotes(changelog, version)
  }
}

function git(args: string[]): string {
  return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

function main(argv: string[]): void {
  const tag = argv[0] ?? ''
  const notesIndex = argv.indexOf('--notes')
  const notesFile = notesIndex >= 0 ? argv[notesIndex + 1] : undefined
  const release = planRelease(
    tag,
    readFileSync('package.json', 'utf8'),
    readFileSync('CHANGELOG.md', 'utf8')
  )
  let tagged: string
  try {
    tagged = git(['rev-parse', '--verify', '--quiet', `refs/tags/${tag}^{commit}`])
  } catch {
    throw new ReleaseError(`the tag ${tag} does not exist here`)
  }
  if (tagged !== git(['rev-parse', 'HEAD'])) {
    throw new ReleaseError(`the tag ${tag} is not the commit checked out (HEAD)`)
  }
  if (notesFile !== undefined) writeFileSync(notesFile, release.notes)
  else process.stdout.write(release.notes)
  let moved = false
  if (argv.includes('--move-major') && !release.prerelease) {
    git(['tag', '--force', release.majorTag, tagged])
    moved = true
  }
  const summary = [
    `version=${release.version}`,
    `prerelease=${String(release.prerelease)}`,
    `major-tag=${moved ? release.majorTag : ''}`
  ]
  if (process.env.GITHUB_OUTPUT)
    appendFileSync(process.env.GITHUB_OUTPUT, summary.join('\n') + '\n')
  console.error(
    `release ${tag}: notes ${notesFile ?? 'on stdout'}` +
      (moved ? `; ${release.majorTag} now points at ${tagged.slice(0, 12)}` : '')
  )
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  try {
    main(process.argv.slice(2))
  } catch (e) {
    console.error(`release: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  }
}
