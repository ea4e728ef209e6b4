// The WorkloadEntry look-up behind the istiod stand-in's XDS gate, read from a Kubernetes API
// (v1alpha3, which every Istio the sandbox plays serves).
import type { WorkloadEntryView } from './istiod.ts'
import { getJson, type ServiceNamesOptions } from './names.ts'

interface WorkloadEntryObject {
  metadata?: { annotations?: Record<string, string> }
  spec?: { serviceAccount?: string }
}

/** The finder istiod's XDS gate asks: the entry, or null when the API answers 404. */
export function workloadEntriesFromApi(
  options: Omit<ServiceNamesOptions, 'clusterDomain'>
): (namespace: string, name: string) => Promise<WorkloadEntryView | null> {
  return async (namespace, name) => {
    const path =
      `/apis/networking.istio.io/v1alpha3/namespaces/${encodeURIComponent(namespace)}` +
      `/workloadentries/${encodeURIComponent(name)}`
    let entry: WorkloadEntryObject
    try {
      entry = (await getJson(new URL(path, options.server), options)) as WorkloadEntryObject
    } catch (error) {
      if (error instanceof Error && / HTTP 404:/.test(error.message)) return null
      throw error
    }
    return {
      serviceAccount: entry.spec?.serviceAccount ?? '',
      healthChecks: entry.metadata?.annotations?.['proxy.istio.io/health-checks-enabled'] === 'true'
    }
  }
}
