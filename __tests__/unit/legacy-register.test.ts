// The `istioctl register/deregister` planner (src/istio/legacy/register.ts), run against a
// small in-memory object store that applies its operations the way the API server would.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  LegacyInputError,
  defaultPortName,
  planDeregister,
  planRegister,
  type EndpointsView,
  type RegistryPlan,
  type ServiceView
} from '../../src/istio/legacy/index.ts'

/** Services and Endpoints of one namespace, keyed by kind/name. */
class Store {
  readonly objects = new Map<string, ServiceView | EndpointsView>()
  get(name: string): { service?: ServiceView; endpoints?: EndpointsView } {
    const service = this.objects.get(`Service/${name}`) as ServiceView | undefined
    const endpoints = this.objects.get(`Endpoints/${name}`) as EndpointsView | undefined
    return { ...(service ? { service } : {}), ...(endpoints ? { endpoints } : {}) }
  }
  apply(plan: RegistryPlan): void {
    for (const op of plan.operations) {
      if (op.op === 'delete') {
        assert.ok(
          this.objects.delete(`${op.kind}/${op.name}`),
          `delete of missing ${op.kind}/${op.name}`
        )
        continue
      }
      const key = `${op.object.kind}/${op.object.metadata.name}`
      assert.equal(this.objects.has(key), op.op === 'update', `${op.op} of ${key}`)
      this.objects.set(key, structuredClone(op.object))
    }
  }
  addresses(name: string): string[] {
    return (this.get(name).endpoints?.subsets ?? []).flatMap(s =>
      (s.addresses ?? []).map(a => a.ip)
    )
  }
}

const req = { service: 'mysql', namespace: 'onprem', ports: [{ port: 3306 }] }

describe('register / deregister planner', () => {
  test('register twice lists the address once; deregistering the last address removes both objects', () => {
    const store = new Store()
    store.apply(planRegister(store.get('mysql'), { ...req, address: '198.18.0.10' }))
    const again = planRegister(store.get('mysql'), { ...req, address: '198.18.0.10' })
    assert.equal(again.outcome, 'already-registered')
    store.apply(again)
    assert.deepEqual(store.addresses('mysql'), ['198.18.0.10'])
    store.apply(planRegister(store.get('mysql'), { ...req, address: '198.18.0.11' }))
    assert.deepEqual(store.addresses('mysql'), ['198.18.0.10', '198.18.0.11'])

    store.apply(planDeregister(store.get('mysql'), { ...req, address: '198.18.0.10' }))
    assert.deepEqual(store.addresses('mysql'), ['198.18.0.11'])
    const last = planDeregister(store.get('mysql'), { ...req, address: '198.18.0.11' })
    assert.equal(last.outcome, 'deregistered')
    store.apply(last)
    assert.equal(store.objects.size, 0, 'nothing register created is left behind')
  })

  test('an unknown address or service is reported, with nothing to do', () => {
    const store = new Store()
    const none = planDeregister(store.get('mysql'), { ...req, address: '198.18.0.10' })
    assert.equal(none.outcome, 'unknown-service')
    assert.deepEqual(none.operations, [])
    store.apply(planRegister(store.get('mysql'), { ...req, address: '198.18.0.10' }))
    const unknown = planDeregister(store.get('mysql'), { ...req, address: '198.18.0.99' })
    assert.equal(unknown.outcome, 'unknown-address')
    assert.deepEqual(unknown.operations, [])
    assert.match(unknown.messages.join('\n'), /198\.18\.0\.99 is not registered/)
  })

  test('an address is removed from every subset it is in', () => {
    const store = new Store()
    store.apply(planRegister(store.get('db'), { ...req, service: 'db', address: '198.18.0.10' }))
    const twoPorts = [{ port: 3306 }, { name: 'admin', port: 9000 }]
    store.apply(
      planRegister(store.get('db'), {
        ...req,
        service: 'db',
        address: '198.18.0.10',
        ports: twoPorts
      })
    )
    store.apply(
      planRegister(store.get('db'), {
        ...req,
        service: 'db',
        address: '198.18.0.11',
        ports: twoPorts
      })
    )
    assert.equal(store.get('db').endpoints?.subsets?.length, 2)
    store.apply(planDeregister(store.get('db'), { ...req, service: 'db', address: '198.18.0.10' }))
    assert.deepEqual(store.addresses('db'), ['198.18.0.11'])
    assert.equal(store.get('db').endpoints?.subsets?.length, 1, 'the emptied subset is dropped')
  })

  test('a Service with a selector is refused; bad input is refused', () => {
    const service: ServiceView = {
      metadata: { name: 'mysql', namespace: 'onprem' },
      spec: { selector: { app: 'mysql' }, ports: [{ port: 3306 }] }
    }
    assert.throws(() => planRegister({ service }, { ...req, address: '198.18.0.10' }), /selector/)
    assert.throws(() => planRegister({}, { ...req, address: 'vm-1' }), LegacyInputError)
    assert.throws(
      () => planRegister({}, { ...req, address: '198.18.0.10', ports: [] }),
      /at least one port/
    )
    assert.throws(
      () =>
        planRegister({}, { ...req, address: '198.18.0.10', ports: [{ port: 80 }, { port: 8080 }] }),
      /given twice/,
      'both default to the name http'
    )
    assert.throws(
      () => planRegister({}, { ...req, address: '198.18.0.10', ports: [{ port: 0 }] }),
      /not a port/
    )
  })

  test('istioctl default port names and the service-account annotation', () => {
    assert.deepEqual(
      [80, 8080, 443, 3306, 9000].map(port => defaultPortName({ port })),
      ['http', 'http', 'https', 'mysql', '9000']
    )
    assert.equal(defaultPortName({ name: 'grpc', port: 80 }), 'grpc')
    const none = planRegister({}, { ...req, address: '198.18.0.10', serviceAccount: '' })
    for (const op of none.operations) {
      assert.ok(op.op === 'create')
      assert.equal(op.object.metadata.annotations, undefined)
    }
  })
})
