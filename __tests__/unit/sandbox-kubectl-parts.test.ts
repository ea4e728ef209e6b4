// The pure parts behind kubectl's view of the sandbox API that __tests__/integration/kubectl.test.ts
// does not reach through kubectl: strategic merge patch directives, ages, Table negotiation, the
// OpenAPI v3 index hashes and the protobuf refusal. Upstream for each: the file's header comment.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { documentHash, openApiV3Document, openApiV3Index } from '../../lab/cluster/openapi.ts'
import { decodeObject } from '../../lab/cluster/protobuf.ts'
import { resourceTypes } from '../../lab/cluster/resources.ts'
import { strategicMergePatch } from '../../lab/cluster/strategic.ts'
import { humanDuration, wantsTable } from '../../lab/cluster/table.ts'
import { ApiError } from '../../lab/cluster/status.ts'

const SERVICE = 'io.k8s.api.core.v1.Service'

describe('strategic merge patch (apimachinery pkg/util/strategicpatch)', () => {
  const live = {
    metadata: { name: 'db', finalizers: ['a'], labels: { x: '1', y: '2' } },
    spec: {
      selector: { app: 'db' },
      ports: [
        { name: 'tcp', port: 3306, protocol: 'TCP' },
        { name: 'http', port: 80, protocol: 'TCP' }
      ]
    }
  }

  test('lists with a merge key merge by it; $patch: delete removes an item', () => {
    const out = strategicMergePatch(
      live,
      {
        spec: {
          ports: [
            { port: 80, $patch: 'delete' },
            { port: 3306, name: 'mysql' }
          ]
        }
      },
      SERVICE
    ) as { spec: { ports: unknown[] } }
    assert.deepEqual(out.spec.ports, [{ name: 'mysql', port: 3306, protocol: 'TCP' }])
  })

  test('$setElementOrder orders the merged list; new items are added', () => {
    const out = strategicMergePatch(
      live,
      {
        spec: {
          '$setElementOrder/ports': [{ port: 9090 }, { port: 80 }, { port: 3306 }],
          ports: [{ port: 9090, name: 'metrics' }]
        }
      },
      SERVICE
    ) as { spec: { ports: Array<{ port: number }> } }
    assert.deepEqual(
      out.spec.ports.map(p => p.port),
      [9090, 80, 3306]
    )
  })

  test('sets merge as unions, $deleteFromPrimitiveList removes, null deletes a key', () => {
    const out = strategicMergePatch(
      live,
      {
        metadata: {
          finalizers: ['b'],
          '$deleteFromPrimitiveList/finalizers': ['a'],
          labels: { x: null }
        }
      },
      SERVICE
    ) as { metadata: { finalizers: string[]; labels: Record<string, string> } }
    assert.deepEqual(out.metadata.finalizers, ['b'])
    assert.deepEqual(out.metadata.labels, { y: '2' })
  })

  test('$patch: replace on a map and $retainKeys keep only what the patch says', () => {
    const replaced = strategicMergePatch(
      live,
      { spec: { selector: { $patch: 'replace', tier: 'db' } } },
      SERVICE
    ) as { spec: { selector: Record<string, string> } }
    assert.deepEqual(replaced.spec.selector, { tier: 'db' })
    const retained = strategicMergePatch(
      live,
      { spec: { $retainKeys: ['ports'], ports: [] } },
      SERVICE
    ) as { spec: Record<string, unknown> }
    assert.deepEqual(Object.keys(retained.spec), ['ports'])
  })

  test('in a merged item (a container by name), an atomic list is replaced (its command)', () => {
    const pod = {
      spec: {
        containers: [{ name: 'a', command: ['x', 'y'] }]
      }
    }
    const out = strategicMergePatch(
      pod,
      { spec: { containers: [{ name: 'a', command: ['z'] }] } },
      'io.k8s.api.core.v1.Pod'
    ) as { spec: { containers: Array<{ command: string[] }> } }
    assert.deepEqual(out.spec.containers[0]?.command, ['z'])
  })
})

describe('Tables and ages (pkg/printers, apimachinery duration.HumanDuration)', () => {
  test('HumanDuration boundaries', () => {
    const s = 1000
    assert.equal(humanDuration(-5 * s), '<invalid>')
    assert.equal(humanDuration(119 * s), '119s')
    assert.equal(humanDuration(125 * s), '2m5s')
    assert.equal(humanDuration(10 * 60 * s), '10m')
    assert.equal(humanDuration(3 * 3600 * s + 5 * 60 * s), '3h5m')
    assert.equal(humanDuration(30 * 3600 * s), '30h')
    assert.equal(humanDuration(3 * 86400 * s + 4 * 3600 * s), '3d4h')
    assert.equal(humanDuration(400 * 86400 * s), '400d')
    assert.equal(humanDuration(3 * 365 * 86400 * s + 10 * 86400 * s), '3y10d')
  })

  test('the Accept header kubectl sends asks for a v1 Table; plain JSON does not', () => {
    assert.equal(
      wantsTable(
        'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'
      ),
      'v1'
    )
    assert.equal(wantsTable('application/json;as=Table;v=v1beta1;g=meta.k8s.io'), 'v1beta1')
    assert.equal(wantsTable('application/json'), undefined)
    assert.equal(wantsTable(undefined), undefined)
  })
})

describe('OpenAPI v3 index and protobuf bodies', () => {
  test('every group-version of the index names its document by that document’s hash', () => {
    const types = resourceTypes()
    const index = openApiV3Index(types, 'v1.33.0') as {
      paths: Record<string, { serverRelativeURL: string }>
    }
    assert.ok(index.paths['api/v1'] && index.paths['apis/networking.istio.io/v1'])
    const doc = openApiV3Document(types, 'networking.istio.io', 'v1', 'v1.33.0')
    assert.ok(doc)
    assert.equal(
      index.paths['apis/networking.istio.io/v1']?.serverRelativeURL,
      `/openapi/v3/apis/networking.istio.io/v1?hash=${documentHash(doc)}`
    )
    assert.equal(openApiV3Document(types, 'networking.istio.io', 'v9', 'v1.33.0'), undefined)
  })

  test('a protobuf body of a kind not decoded is a 415; a body without the magic is a 400', () => {
    const refuse = (f: () => unknown, code: number): void => {
      assert.throws(f, (e: unknown) => e instanceof ApiError && e.code === code)
    }
    refuse(() => decodeObject(Buffer.from('k8s\0'), 'apps', 'v1', 'Deployment'), 415)
    refuse(() => decodeObject(Buffer.from('{}'), '', 'v1', 'Namespace'), 400)
  })
})
