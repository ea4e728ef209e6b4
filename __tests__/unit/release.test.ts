// The release's checks and local steps (scripts/release.ts), run as the release workflow runs
// them, on a scratch tag in a temporary clone of this repository: the notes come from the
// CHANGELOG section, the major tag moves, and a wrong tag or a missing section stops it.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { planRelease, releaseNotes } from '../../scripts/release.ts'

const repo = fileURLToPath(new URL('../..', import.meta.url))
const script = join(repo, 'scripts/release.ts')

describe('release notes and plan (pure)', () => {
  const changelog = [
    '# Changelog',
    '## [Unreleased]',
    '- next',
    '## [1.2.0] - 2026-12-01',
    '### Fixed',
    '- a thing',
    '## [1.1.0] - 2026-11-01',
    '- older'
  ].join('\n')

  it('takes the dated section of the version, without its heading or the next one', () => {
    assert.equal(releaseNotes(changelog, '1.2.0'), '### Fixed\n- a thing\n')
  })

  it('refuses a version without a section, or a section without a date', () => {
    assert.throws(() => releaseNotes(changelog, '1.3.0'), /no "## \[1\.3\.0\]/)
    assert.throws(() => releaseNotes('## [1.3.0]\n- x\n', '1.3.0'), /needs its date/)
  })

  it('a pre-release moves no major tag; the package version must be the tag', () => {
    const pkg = (v: string): string => JSON.stringify({ version: v })
    const rc = planRelease('v1.2.0-rc.1', pkg('1.2.0-rc.1'), '## [1.2.0-rc.1] - 2026-12-01\n- x')
    assert.equal(rc.prerelease, true)
    assert.equal(planRelease('v1.2.0', pkg('1.2.0'), changelog).majorTag, 'v1')
    assert.throws(() => planRelease('v1.2.0', pkg('1.1.0'), changelog), /package\.json says/)
    assert.throws(() => planRelease('1.2.0', pkg('1.2.0'), changelog), /not a version tag/)
  })
})

describe('release dry run in a temporary clone', () => {
  let clone = ''
  const git = (...args: string[]): string =>
    execFileSync(
      'git',
      ['-c', 'user.name=release-test', '-c', 'user.email=release@test.invalid', ...args],
      {
        cwd: clone,
        encoding: 'utf8'
      }
    ).trim()
  const release = (...args: string[]) =>
    spawnSync(process.execPath, [script, ...args], { cwd: clone, encoding: 'utf8' })

  before(() => {
    clone = mkdtempSync(join(tmpdir(), 'mx-release-'))
    execFileSync('git', ['clone', '-q', '--no-local', repo, clone])
    // an earlier major tag somewhere else, which the release must move
    git('tag', '--force', 'v0', 'HEAD~1')
    const pkg = JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >
    writeFileSync(
      join(clone, 'package.json'),
      JSON.stringify({ ...pkg, version: '0.99.0' }, null, 2) + '\n'
    )
    const changelog = readFileSync(join(clone, 'CHANGELOG.md'), 'utf8')
    assert.match(changelog, /^## \[Unreleased\]$/m)
    writeFileSync(
      join(clone, 'CHANGELOG.md'),
      changelog.replace(/^## \[Unreleased\]$/m, '## [Unreleased]\n\n## [0.99.0] - 2026-12-07')
    )
    git('commit', '-qam', 'Release 0.99.0')
    git('tag', 'v0.99.0')
  })
  after(() => rmSync(clone, { recursive: true, force: true }))

  it('writes the notes of the CHANGELOG section and moves v0 to the release', () => {
    const result = release('v0.99.0', '--notes', 'notes.md', '--move-major')
    assert.equal(result.status, 0, result.stderr)
    const notes = readFileSync(join(clone, 'notes.md'), 'utf8')
    assert.match(notes, /^### Added/m)
    assert.doesNotMatch(notes, /Unreleased|## \[0\.99\.0\]/)
    assert.equal(git('rev-parse', 'v0^{commit}'), git('rev-parse', 'v0.99.0^{commit}'))
  })

  it('a tag whose version is not the package version stops it, and v0 stays', () => {
    git('tag', 'v0.99.1')
    const before = git('rev-parse', 'v0^{commit}')
    const result = release('v0.99.1', '--move-major')
    assert.equal(result.status, 1)
    assert.match(result.stderr, /package\.json says version 0\.99\.0, the tag says 0\.99\.1/)
    assert.equal(git('rev-parse', 'v0^{commit}'), before)
  })

  it('a tag that is not the commit checked out stops it', () => {
    git('commit', '-q', '--allow-empty', '-m', 'after the release')
    const result = release('v0.99.0', '--move-major')
    assert.equal(result.status, 1)
    assert.match(result.stderr, /the tag v0\.99\.0 is not the commit checked out/)
    assert.notEqual(git('rev-parse', 'v0^{commit}'), git('rev-parse', 'HEAD'))
  })
})
