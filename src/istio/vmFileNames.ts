// The names of the five files `istioctl x workload entry configure` writes, in its order. A module
// of its own, importing nothing: the host side (and the small entry a runner VM runs) needs the
// names without the renderers and their YAML library.
export const VM_FILE_NAMES = [
  'cluster.env',
  'mesh.yaml',
  'hosts',
  'root-cert.pem',
  'istio-token'
] as const

export type VmFileName = (typeof VM_FILE_NAMES)[number]
