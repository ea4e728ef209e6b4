// The hostile corpus: descriptions, kubeconfigs and SSH keys written to hurt (deep nesting, alias
// cycles, huge files, devices, FIFOs, sockets, symlinks to devices, names carrying newlines and
// workflow commands, HTML, YAML errors next to secrets, files that are not kubeconfigs, exec
// plugins, keys whose parse error would echo their bytes). Each goes through the CLI
// (dist/cli.js) and through the Action (dist/main.js as the runner runs it), and each must end
// as bad input: exit 2 (the Action: the step fails with a clear ::error), a clear message, no
// stack trace, no connection to the cluster (every kubeconfig points at a loopback listener that
// counts connections), no file written (HOME, the workspace and TMPDIR are compared before and
// after), no workflow command smuggled into the log, and no secret of the input shown.
// Needs a current bundle: `npm run bundle`.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import {
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { repoRoot, runAction } from '../../lab/github.ts'

interface Case {
  name: string
  /** the CLI's arguments, run in the workspace */
  cli: string[]
  /** more environment for the CLI */
  cliEnv?: Record<string, string>
  /** the Action's inputs (none: a CLI argument the Action has no input for) */
  action?: Record<string, string>
  /** what the error says, in the CLI's output and in the Action's */
  expect: RegExp
  /** the Action's wording when it differs */
  actionExpect?: RegExp
  /** text that must never be shown */
  secrets?: string[]
  /** text that must never start a line (a workflow command smuggled in a name) */
  injected?: string[]
  /** text that must never reach the Action's job summary or outputs (raw HTML) */
  notInSummary?: string[]
}

interface Outcome {
  code: number
  stdout: string
  stderr: string
  /** the Action's summary and outputs; '' for the CLI */
  extra: string
}

const GiB = 1024 * 1024 * 1024
const TOKEN = 'sk-hostile-token-7c1f0e2d9b8a'
const PASSWORD = 'hunter2xyz'
const KEY_BYTES = 'KEYBYTES-pr1vate-9f3e'

let base = ''
let home = ''
let work = ''
let temp = ''
let listener: net.Server
let socketServer: net.Server
let port = 0
let connections = 0
let before_: string[] = []
const cases: Case[] = []
const cliOutcomes = new Map<string, Outcome>()
const actionOutcomes = new Map<string, Outcome>()

/** Every entry under a directory with its size and modification time (symlinks not followed). */
function listing(dir: string): string[] {
  const out: string[] = []
  const walk = (path: string, depth: number): void => {
    for (const name of readdirSync(path)) {
      const full = join(path, name)
      const info = lstatSync(full)
      out.push(`${full} ${info.size} ${info.mtimeMs}`)
      if (info.isDirectory() && depth < 10) walk(full, depth + 1)
    }
  }
  walk(dir, 0)
  return out.sort()
}

const file = (name: string, content: string | Buffer): string => {
  writeFileSync(join(work, name), content)
  return name
}

const sparse = (name: string, bytes: number): string => {
  closeSync(openSync(join(work, name), 'w'))
  execFileSync('truncate', ['-s', String(bytes), join(work, name)])
  return name
}

/** Without known_hosts, the key is not parsed: host keys are not checked in the key cases. */
const NO_KNOWN_HOSTS = '  strictHostKeyChecking: false\n'

const description = (extra = ''): string =>
  `workloadGroups:
  - name: web
    namespace: shop
    ports: {http: 8080}
vms:
  - name: vm-1
    host: 192.0.2.10
${extra}`

/** The description with one check of that (YAML) name. */
const withCheck = (name: string, from = 'vm/vm-1'): string =>
  description(`checks:\n  - name: ${name}\n    from: ${from}\n    url: http://example.com/\n`)

const kubeconfig = (users: string): string =>
  `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:${port}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
users:
${users}`

/** A description run through validate (CLI) and the Action's validate. */
function describing(
  name: string,
  content: string | Buffer,
  expect: RegExp,
  more: Partial<Case> = {}
): void {
  const path = file(`${name}.yaml`, content)
  cases.push({
    name,
    cli: ['validate', '-c', path],
    action: { 'config-file': path, command: 'validate' },
    expect,
    ...more
  })
}

type Target = 'description' | 'kubeconfig' | 'key'

/** A path given as the description, the kubeconfig and/or the SSH key. */
function pathCase(name: string, path: string, expect: RegExp, as: Target[]): void {
  const quoted = JSON.stringify(path)
  const runs: Record<Target, { command: string; file: string }> = {
    description: { command: 'plan', file: path },
    kubeconfig: {
      command: 'apply',
      file: file(`kc-${name}.yaml`, description(`cluster:\n  kubeconfig: ${quoted}\n`))
    },
    key: {
      command: 'apply',
      file: file(`key-${name}.yaml`, description(`ssh:\n  privateKeyPath: ${quoted}\n`))
    }
  }
  for (const target of as) {
    const { command, file: config } = runs[target]
    cases.push({
      name: `${target}: ${name}`,
      cli: [command, '-c', config],
      action: { 'config-file': config, command },
      expect
    })
  }
}

/** A kubeconfig file, given with --kubeconfig (CLI) and cluster.kubeconfig (Action). */
function kubeconfigCase(name: string, content: string, expect: RegExp, secrets: string[]): void {
  const kc = file(`kcf-${name}.kubeconfig`, content)
  const desc = file(`kcf-${name}.yaml`, description(`cluster:\n  kubeconfig: ${kc}\n`))
  const plain = file(`kcf-${name}-plain.yaml`, description())
  cases.push({
    name: `kubeconfig file: ${name}`,
    cli: ['apply', '-c', plain, '--kubeconfig', kc],
    action: { 'config-file': desc, command: 'apply' },
    expect,
    secrets
  })
}

function keyCase(name: string, content: string, expect: RegExp, secrets: string[]): void {
  const key = file(`keyf-${name}.key`, content)
  const desc = file(
    `keyf-${name}.yaml`,
    description(`ssh:\n  privateKeyPath: ${key}\n${NO_KNOWN_HOSTS}`)
  )
  cases.push({
    name: `key file: ${name}`,
    cli: ['apply', '-c', desc],
    action: { 'config-file': desc, command: 'apply' },
    expect,
    secrets
  })
}

const pem = (body: Buffer): string =>
  `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.toString('base64').replace(/(.{70})/g, '$1\n')}\n-----END OPENSSH PRIVATE KEY-----\n`

function buildCorpus(): void {
  const deep = 3000
  // ---- descriptions ----
  describing(
    'deep-flow',
    description(`checks: ${'['.repeat(deep)}${']'.repeat(deep)}\n`),
    /nested more than 64 levels deep/
  )
  describing(
    'deep-block',
    description(`checks:\n${'- '.repeat(deep)}x\n`),
    /nested more than 64 levels deep/
  )
  describing(
    'deep-map',
    `a: ${'{a: '.repeat(deep)}1${'}'.repeat(deep)}\n`,
    /nested more than 64 levels deep/,
    {
      action: { config: `a: ${'{a: '.repeat(deep)}1${'}'.repeat(deep)}\n`, command: 'validate' }
    }
  )
  describing(
    'alias-cycle',
    description().replace(
      'ports: {http: 8080}',
      'ports: {http: 8080}\n    proxyConfig: &a {x: *a}'
    ),
    /inside the value it refers to/
  )
  const chain = ['    proxyConfig:', `      a0: &a0 ${'['.repeat(40)}1${']'.repeat(40)}`]
  for (let i = 1; i < 10; i++)
    chain.push(`      a${i}: &a${i} ${'['.repeat(40)}*a${i - 1}${']'.repeat(40)}`)
  describing(
    'alias-chain',
    description().replace('ports: {http: 8080}', `ports: {http: 8080}\n${chain.join('\n')}`),
    /nested more than 64 levels deep through aliases/
  )
  const laughs = ['    proxyConfig:', '      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]']
  for (let i = 1; i < 9; i++)
    laughs.push(
      `      l${i}: &l${i} [${Array(9)
        .fill(`*l${i - 1}`)
        .join(', ')}]`
    )
  describing(
    'alias-bomb',
    description().replace('ports: {http: 8080}', `ports: {http: 8080}\n${laughs.join('\n')}`),
    /alias/i
  )
  describing(
    'binary',
    Buffer.from([0, 1, 2, 0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a, 10, 0, 0x3a, 0x3a]),
    /binary\.yaml:\d+:\d+ /
  )
  describing('empty', '', /the description is empty/)
  const items = Array.from({ length: 100_000 }, (_, i) => `  - ${i}`).join('\n')
  describing(
    'a-list-of-100k-items',
    `workloadGroups:\n${items}\n`,
    /99900 more error\(s\) not listed/
  )
  const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}: 1`).join('\n')
  describing(
    '100k-unknown-keys',
    `${keys}\nk5: 2\n`,
    /100001:1 k5: duplicate key "k5" \(first at 6:1\)/
  )
  describing(
    'vm-name-newline',
    description().replace('name: vm-1', 'name: "vm-1\\n::error::pwned-vm"'),
    /vms\[0\]\.name/,
    { injected: ['::error::pwned-vm'] }
  )
  describing(
    'group-name-stop-commands',
    description().replace('name: web', 'name: "web\\n::stop-commands::tok42"'),
    /workloadGroups\[0\]\.name/,
    { injected: ['::stop-commands::tok42', '::tok42::'] }
  )
  describing(
    'check-name-set-output',
    withCheck('"ok\\n::set-output name=report::forged"'),
    /checks\[0\]\.name: the value contains a line break/,
    { injected: ['::set-output'] }
  )
  describing(
    'annotation-key-newline',
    description().replace(
      'ports: {http: 8080}',
      'ports: {http: 8080}\n    annotations: {"a\\n::add-path::/evil": x}'
    ),
    /annotations\["a\\n::add-path::\/evil"\]: invalid key/,
    { injected: ['::add-path::'] }
  )
  describing(
    'check-name-escape',
    withCheck('"\\e[2J\\e[1;1Hall good"'),
    /control character U\+001B/
  )
  describing(
    'html-vm-name',
    description().replace('name: vm-1', 'name: "<script>alert(1)</script>"'),
    /vms\[0\]\.name/,
    { notInSummary: ['<script>'] }
  )
  describing(
    'html-check-name',
    withCheck('"<img src=x onerror=alert(1)>"', 'vm/nowhere'),
    /checks\[0\]\.from/,
    { notInSummary: ['<img src'] }
  )
  describing(
    'inline-private-key',
    description(
      `ssh:\n  privateKeyPath: |\n${pem(Buffer.from(`openssh-key-v1\0${KEY_BYTES}`.repeat(3)))
        .split('\n')
        .map(l => `    ${l}`)
        .join('\n')}\n`
    ),
    /secrets are never accepted in the description/,
    {
      secrets: [
        Buffer.from(`openssh-key-v1\0${KEY_BYTES}`.repeat(3)).toString('base64').slice(0, 40)
      ]
    }
  )
  const evil = file('evil\n::error::pwned-file.yaml', 'not: [closed\n')
  cases.push({
    name: 'file name with a newline and a command',
    cli: ['validate', '-c', evil],
    action: { 'config-file': evil, command: 'validate' },
    expect: /"evil\\n::error::pwned-file\.yaml":\d+:\d+ YAML syntax error/,
    actionExpect: /YAML syntax error/,
    injected: ['::error::pwned-file']
  })
  cases.push({
    name: 'an inline description with a name carrying a command',
    cli: [
      'validate',
      '-c',
      file('inline-cmd.yaml', description().replace('name: web', 'name: "w\\n::warning::fake"'))
    ],
    action: {
      config: description().replace('name: web', 'name: "w\\n::warning::fake"'),
      command: 'validate'
    },
    expect: /workloadGroups\[0\]\.name/,
    injected: ['::warning::fake']
  })

  cases.push({
    name: 'a CLI argument carrying a command',
    cli: ['validate', 'x\n::error::pwned-arg'],
    expect: /unexpected argument "x\\n::error::pwned-arg"/,
    injected: ['::error::pwned-arg']
  })
  cases.push({
    name: 'a CLI option carrying a command',
    cli: ['validate', '--x\n::error::pwned-option'],
    expect: /Unknown option '--x\\n::error::pwned-option'/,
    injected: ['::error::pwned-option']
  })

  // ---- what a path may be: for the description, the kubeconfig and the key ----
  execFileSync('mkfifo', [join(work, 'fifo')])
  symlinkSync('/dev/zero', join(work, 'zero-link'))
  symlinkSync(join(work, 'fifo'), join(work, 'fifo-link'))
  symlinkSync(join(work, 'loop-b'), join(work, 'loop-a'))
  symlinkSync(join(work, 'loop-a'), join(work, 'loop-b'))
  mkdirSync(join(work, 'a-directory'))
  const all: Target[] = ['description', 'kubeconfig', 'key']
  pathCase('dev-zero', '/dev/zero', /character device, not a regular file/, all)
  pathCase('fifo', 'fifo', /named pipe \(FIFO\), not a regular file/, all)
  pathCase('huge-sparse', sparse('huge', 5 * GiB), /5368709120 bytes, more than the limit/, all)
  pathCase('dev-urandom', '/dev/urandom', /character device, not a regular file/, ['kubeconfig'])
  pathCase('symlink-to-dev-zero', 'zero-link', /character device, not a regular file/, ['key'])
  pathCase('symlink-to-fifo', 'fifo-link', /named pipe \(FIFO\), not a regular file/, [
    'description'
  ])
  pathCase('directory', 'a-directory', /a directory, not a regular file/, ['key'])
  pathCase('socket', 'a-socket', /a socket, not a regular file/, ['description'])
  cases.push({
    name: 'description: dev-null',
    cli: ['validate', '-c', '/dev/null'],
    action: { 'config-file': '/dev/null', command: 'validate' },
    expect: /character device, not a regular file/
  })
  cases.push({
    name: 'description: symlink loop',
    cli: ['validate', '-c', 'loop-a'],
    action: { 'config-file': 'loop-a', command: 'validate' },
    expect: /too many symbolic links/
  })

  // ---- kubeconfigs ----
  const user = `- name: u\n  user:\n    token: ${TOKEN}\n`
  kubeconfigCase(
    'yaml-error-next-to-a-token',
    kubeconfig(`- name: u\n  user:\n    token: [${TOKEN}\n`),
    /kubeconfig .* cannot be read: it is not valid YAML: .*\(line \d+, column \d+\)/,
    [TOKEN]
  )
  kubeconfigCase(
    'bad-indent-after-a-short-password',
    kubeconfig(`- name: u\n  user:\n    password: ${PASSWORD}\n   username: admin\n`),
    /it is not valid YAML/,
    [PASSWORD]
  )
  kubeconfigCase(
    'duplicate-key-with-secrets',
    kubeconfig(`- name: u\n  user:\n    token: ${TOKEN}\n    token: ${PASSWORD}\n`),
    /it is not valid YAML: a duplicate key/,
    [TOKEN, PASSWORD]
  )
  kubeconfigCase(
    'a-passwd-file',
    `root:x:0:0:root:/root:/bin/bash\n${PASSWORD}:x:1000:1000::/home/u:/bin/sh\n`,
    /it is not a kubeconfig: it holds a single value/,
    [PASSWORD, 'root:x:0']
  )
  kubeconfigCase(
    'a-dotenv-file',
    `AWS_ACCESS_KEY_ID=AKIA1234567890\nAWS_SECRET_ACCESS_KEY=${TOKEN}\n`,
    /it is not a kubeconfig/,
    [TOKEN, 'AKIA1234567890']
  )
  kubeconfigCase(
    'the-description-itself',
    description(`settings:\n  owner: ${PASSWORD}\n`),
    /it is not a kubeconfig: it has none of the keys clusters, contexts, users/,
    [PASSWORD]
  )
  kubeconfigCase(
    'a-private-key',
    pem(Buffer.from(`openssh-key-v1\0${KEY_BYTES}`.repeat(3))),
    /it is not a kubeconfig/,
    [
      KEY_BYTES,
      Buffer.from(`openssh-key-v1\0${KEY_BYTES}`.repeat(3)).toString('base64').slice(0, 30)
    ]
  )
  kubeconfigCase(
    'exec-plugin-without-api-version',
    kubeconfig(
      `- name: u\n  user:\n    exec:\n      command: sh\n      args: [-c, "touch ${join(home, 'pwned')}"]\n`
    ),
    /users\[0\]\.user\.exec\.apiVersion is missing/,
    []
  )
  kubeconfigCase(
    'exec-plugin-command-not-text',
    kubeconfig(
      `- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: [sh, -c, "touch ${join(home, 'pwned')}"]\n`
    ),
    /users\[0\]\.user\.exec\.command is missing or not text/,
    []
  )
  kubeconfigCase(
    'cluster-without-server',
    kubeconfig(user).replace(
      `server: https://127.0.0.1:${port}`,
      `certificate-authority-data: ${TOKEN}`
    ),
    /clusters\[0\]\.cluster\.server is missing/,
    [TOKEN]
  )
  kubeconfigCase(
    'deep',
    kubeconfig(user) + `preferences: ${'['.repeat(3000)}${']'.repeat(3000)}\n`,
    /nested more than 64 levels deep/,
    [TOKEN]
  )
  kubeconfigCase(
    'alias-cycle',
    kubeconfig(user) + 'extensions: &e [*e]\n',
    /alias that cannot be resolved, refers to itself or nests too deep/,
    [TOKEN]
  )
  const named = file(
    'context-name.kubeconfig',
    kubeconfig(user).replace(/\bx\b/g, '"x\\n::stop-commands::ctx9"')
  )
  cases.push({
    name: 'kubeconfig: a context name carrying a command, and a context that is not there',
    cli: [
      'apply',
      '-c',
      file('context-plain.yaml', description()),
      '--kubeconfig',
      named,
      '--context',
      'nope'
    ],
    action: {
      'config-file': file(
        'context.yaml',
        description(`cluster:\n  kubeconfig: ${named}\n  context: nope\n`)
      ),
      command: 'apply'
    },
    expect: /context "nope" is not in the kubeconfig \(it has: "x\\n::stop-commands::ctx9"\)/,
    injected: ['::stop-commands::ctx9'],
    secrets: [TOKEN]
  })
  const plain = file('input-plain.yaml', description())
  cases.push({
    name: 'kubeconfig input: a YAML error next to a short password',
    cli: [
      'apply',
      '-c',
      plain,
      '--kubeconfig',
      file(
        'input.kubeconfig',
        kubeconfig(`- name: u\n  user:\n    password: ${PASSWORD}\n     x: [\n`)
      )
    ],
    action: {
      'config-file': plain,
      command: 'apply',
      kubeconfig: kubeconfig(`- name: u\n  user:\n    password: ${PASSWORD}\n     x: [\n`)
    },
    expect: /it is not valid YAML/,
    secrets: [PASSWORD]
  })

  // ---- SSH keys ----
  keyCase(
    'bad-magic-with-bytes',
    pem(Buffer.from(`${KEY_BYTES}\0${'A'.repeat(64)}`)),
    /the text between its BEGIN and END lines is not an OpenSSH private key/,
    [KEY_BYTES.slice(0, 15)]
  )
  keyCase(
    'truncated',
    pem(
      Buffer.concat([
        Buffer.from('openssh-key-v1\0'),
        Buffer.from([0, 0, 0, 4]),
        Buffer.from('none'),
        Buffer.alloc(20, 0x41)
      ])
    ),
    /malformed or truncated/,
    []
  )
  keyCase(
    'not-a-key',
    `${KEY_BYTES}\n`,
    /does not start with a "-----BEGIN \.\.\. PRIVATE KEY-----" line/,
    [KEY_BYTES]
  )
  const badKey = pem(Buffer.from(`${KEY_BYTES}\0${'B'.repeat(64)}`))
  const keyFromEnv = file('key-env.yaml', description(`ssh:\n${NO_KNOWN_HOSTS}`))
  cases.push({
    name: 'key input: bad magic with bytes',
    cli: ['apply', '-c', keyFromEnv],
    cliEnv: { SSH_PRIVATE_KEY: badKey },
    action: { 'config-file': keyFromEnv, command: 'apply', 'ssh-private-key': badKey },
    expect: /not an OpenSSH private key/,
    secrets: [KEY_BYTES.slice(0, 15)]
  })
}

/** HOME and TMPDIR watched; Node's compile cache (outside them) makes the ~100 starts cheaper. */
const childEnv = (): Record<string, string> => ({
  HOME: home,
  TMPDIR: temp,
  NODE_COMPILE_CACHE: join(base, 'compile-cache')
})

function runCli(args: string[], extraEnv: Record<string, string> = {}): Promise<Outcome> {
  return new Promise(resolve => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist', 'cli.js'), ...args], {
      cwd: work,
      env: { ...childEnv(), PATH: process.env.PATH ?? '/usr/bin:/bin', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout, stderr, extra: '' })
    })
  })
}

async function runActionCase(inputs: Record<string, string>, secrets: string[]): Promise<Outcome> {
  const run = await runAction('main', {
    inputs,
    cwd: work,
    env: childEnv(),
    timeoutMs: 30_000,
    secrets: Object.fromEntries(secrets.map((s, i) => [`corpus secret ${i}`, s]))
  })
  return {
    code: run.code,
    stdout: run.stdout,
    stderr: run.stderr,
    extra: [run.summary, ...Object.values(run.outputs)].join('\n')
  }
}

async function pool<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) await work(items[next++] as T)
    })
  )
}

const COMMANDS = /^::(error|warning|notice|debug|add-mask|group|endgroup)( [^:]*)?::/

function checkOutput(c: Case, outcome: Outcome, where: string): void {
  const shown = `${outcome.stdout}\n${outcome.stderr}`
  const all = `${shown}\n${outcome.extra}`
  assert.doesNotMatch(
    shown,
    /\n\s+at \S+ \(|Maximum call stack|RangeError|TypeError|heap out of memory/,
    `${where}: no stack trace`
  )
  for (const line of shown.split('\n')) {
    const trimmed = line.trimStart()
    if (trimmed.startsWith('::'))
      assert.match(trimmed, COMMANDS, `${where}: only our own workflow commands`)
    for (const injected of c.injected ?? []) {
      assert.ok(
        !trimmed.startsWith(injected),
        `${where}: a line starts with ${JSON.stringify(injected)}`
      )
    }
  }
  for (const secret of c.secrets ?? []) {
    assert.ok(!all.includes(secret), `${where}: ${JSON.stringify(secret)} is shown`)
  }
  for (const html of c.notInSummary ?? []) {
    assert.ok(!outcome.extra.includes(html), `${where}: ${JSON.stringify(html)} in the summary`)
  }
}

describe('the hostile corpus: bad input never crashes, leaks or changes anything', () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'mesh-expansion-hostile-'))
    ;[home, work, temp] = ['home', 'work', 'tmp'].map(d => join(base, d)) as [
      string,
      string,
      string
    ]
    for (const dir of [home, work, temp]) mkdirSync(dir)
    listener = net.createServer(socket => {
      connections++
      socket.destroy()
    })
    await new Promise<void>(resolve => listener.listen(0, '127.0.0.1', resolve))
    port = (listener.address() as net.AddressInfo).port
    // a socket, as a path
    socketServer = net.createServer()
    await new Promise<void>(resolve => socketServer.listen(join(work, 'a-socket'), resolve))
    buildCorpus()
    before_ = [home, work, temp].flatMap(listing)
    await pool(cases, 4, async c => {
      cliOutcomes.set(c.name, await runCli(c.cli, c.cliEnv))
      if (c.action) actionOutcomes.set(c.name, await runActionCase(c.action, c.secrets ?? []))
    })
  })
  after(async () => {
    await new Promise(resolve => listener.close(resolve))
    await new Promise(resolve => socketServer.close(resolve))
    if (base !== '') rmSync(base, { recursive: true, force: true })
  })

  test('at least 40 inputs', t => {
    t.diagnostic(`${cases.length} inputs, ${cases.filter(c => c.action).length} through the Action`)
    assert.ok(cases.length >= 40, `only ${cases.length}`)
  })

  test('no connection was made, no file written (not even by an exec plugin)', () => {
    assert.equal(connections, 0)
    assert.deepEqual([home, work, temp].flatMap(listing), before_)
  })

  /** Every case's failure, not the first one only. */
  const each = (check: (c: Case) => void): void => {
    const failures: string[] = []
    for (const c of cases) {
      try {
        check(c)
      } catch (error) {
        failures.push((error as Error).message.split('\n').slice(0, 6).join('\n'))
      }
    }
    assert.deepEqual(failures, [])
  }

  test('the CLI: exit 2 with a clear error, every input', () => {
    each(c => {
      const outcome = cliOutcomes.get(c.name) as Outcome
      const where = `CLI ${c.name} (${c.cli.join(' ')})`
      assert.equal(outcome.code, 2, `${where}: ${outcome.stdout}${outcome.stderr}`)
      assert.match(`${outcome.stdout}${outcome.stderr}`, c.expect, where)
      checkOutput(c, outcome, where)
    })
  })

  test('the Action: the step fails with a clear ::error, every input', () => {
    each(c => {
      if (c.action === undefined) return
      const outcome = actionOutcomes.get(c.name) as Outcome
      const where = `Action ${c.name}`
      assert.equal(outcome.code, 2, `${where}: ${outcome.stdout}${outcome.stderr}`)
      const errors = outcome.stdout.split('\n').filter(line => line.startsWith('::error'))
      assert.ok(errors.length > 0, `${where}: no ::error\n${outcome.stdout}`)
      assert.match(errors.join('\n'), c.actionExpect ?? c.expect, `${where}\n${outcome.stdout}`)
      checkOutput(c, outcome, where)
    })
  })
})
