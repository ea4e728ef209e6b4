// OpenAPI (v3 form) schemas of the built-in kinds the product and its tests use, for the sandbox's
// /openapi documents (lab/cluster/openapi.ts): `kubectl explain` reads them, and kubectl's
// client-side apply takes the strategic-merge keys of lists from them. No package in node_modules
// ships Kubernetes' core schemas, so these are written by hand: the definition names, field
// names, types, descriptions (shortened) and list merge keys of kube-apiserver's published
// document (api/openapi-spec/v3/api__v1_openapi.json and apis__apps__v1_openapi.json,
// apis__rbac.authorization.k8s.io__v1_openapi.json, apis__authentication.k8s.io__v1_openapi.json
// in kubernetes/kubernetes). Stand-in: only the fields the lab uses are described; a nested type
// that is not (PodSpec beyond containers, statuses) is an object that keeps unknown fields.
import { isObject, type Obj } from './fields.ts'

const ref = (name: string): Obj => ({ allOf: [{ $ref: `#/components/schemas/${name}` }] })
const str = (description: string, extra: Obj = {}): Obj => ({
  type: 'string',
  description,
  ...extra
})
const int = (description: string, format = 'int32'): Obj => ({
  type: 'integer',
  format,
  description
})
const bool = (description: string): Obj => ({ type: 'boolean', description })
const strMap = (description: string): Obj => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string', default: '' }
})
const strList = (description: string, atomic = true): Obj => ({
  type: 'array',
  description,
  items: { type: 'string', default: '' },
  ...(atomic ? { 'x-kubernetes-list-type': 'atomic' } : {})
})
const list = (item: string, description: string, mergeKey?: string): Obj => ({
  type: 'array',
  description,
  items: { ...ref(item), default: {} },
  ...(mergeKey
    ? {
        'x-kubernetes-patch-merge-key': mergeKey,
        'x-kubernetes-patch-strategy': 'merge',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': [mergeKey]
      }
    : { 'x-kubernetes-list-type': 'atomic' })
})
const loose = (description: string): Obj => ({
  type: 'object',
  description,
  'x-kubernetes-preserve-unknown-fields': true
})
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1'

/** The apiVersion, kind and metadata every kind has, and its GVK extension. */
function kind(
  group: string,
  version: string,
  k: string,
  description: string,
  props: Obj,
  required: string[] = []
): Obj {
  return {
    type: 'object',
    description,
    properties: {
      apiVersion: str(
        'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.'
      ),
      kind: str(
        'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.'
      ),
      metadata: {
        ...ref(`${META}.ObjectMeta`),
        default: {},
        description: "Standard object's metadata."
      },
      ...props
    },
    ...(required.length > 0 ? { required } : {}),
    'x-kubernetes-group-version-kind': [{ group, kind: k, version }]
  }
}

export const coreSchemas: Record<string, Obj> = {
  [`${META}.Time`]: {
    type: 'string',
    format: 'date-time',
    description:
      'Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON.'
  },
  [`${META}.ObjectMeta`]: {
    type: 'object',
    description:
      'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
    properties: {
      name: str('Name must be unique within a namespace. Cannot be updated.'),
      generateName: str(
        'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.'
      ),
      namespace: str('Namespace defines the space within which each name must be unique.'),
      selfLink: str(
        'Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.'
      ),
      uid: str(
        'UID is the unique in time and space value for this object. Populated by the system. Read-only.'
      ),
      resourceVersion: str(
        'An opaque value that represents the internal version of this object. Populated by the system. Read-only.'
      ),
      generation: int(
        'A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.',
        'int64'
      ),
      creationTimestamp: {
        ...ref(`${META}.Time`),
        description:
          'CreationTimestamp is a timestamp representing the server time when this object was created. Populated by the system. Read-only.'
      },
      deletionTimestamp: {
        ...ref(`${META}.Time`),
        description:
          'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. Populated by the system.'
      },
      deletionGracePeriodSeconds: int(
        'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system.',
        'int64'
      ),
      labels: strMap(
        'Map of string keys and values that can be used to organize and categorize (scope and select) objects.'
      ),
      annotations: strMap(
        'Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.'
      ),
      ownerReferences: {
        ...list(`${META}.OwnerReference`, 'List of objects depended by this object.', 'uid'),
        'x-kubernetes-list-map-keys': ['uid']
      },
      finalizers: {
        ...strList('Must be empty before the object is deleted from the registry.', false),
        'x-kubernetes-list-type': 'set',
        'x-kubernetes-patch-strategy': 'merge'
      },
      managedFields: list(
        `${META}.ManagedFieldsEntry`,
        'ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.'
      )
    }
  },
  [`${META}.OwnerReference`]: {
    type: 'object',
    description: 'OwnerReference contains enough information to let you identify an owning object.',
    properties: {
      apiVersion: str('API version of the referent.'),
      kind: str('Kind of the referent.'),
      name: str('Name of the referent.'),
      uid: str('UID of the referent.'),
      controller: bool('If true, this reference points to the managing controller.'),
      blockOwnerDeletion: bool(
        'If true, AND if the owner has the "foregroundDeletion" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.'
      )
    },
    required: ['apiVersion', 'kind', 'name', 'uid'],
    'x-kubernetes-map-type': 'atomic'
  },
  [`${META}.ManagedFieldsEntry`]: {
    type: 'object',
    description:
      'ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.',
    properties: {
      apiVersion: str(
        'APIVersion defines the version of this resource that this field set applies to.'
      ),
      fieldsType: str(
        'FieldsType is the discriminator for the different fields format and version.'
      ),
      fieldsV1: {
        type: 'object',
        description:
          'FieldsV1 holds the first JSON version format as described in the "FieldsV1" type.'
      },
      manager: str('Manager is an identifier of the workflow managing these fields.'),
      operation: str(
        'Operation is the type of operation which lead to this ManagedFieldsEntry being created.'
      ),
      subresource: str('Subresource is the name of the subresource used to update that object.'),
      time: {
        ...ref(`${META}.Time`),
        description: 'Time is the timestamp of when the ManagedFields entry was added.'
      }
    }
  },
  [`${META}.LabelSelector`]: {
    type: 'object',
    description: 'A label selector is a label query over a set of resources.',
    properties: {
      matchLabels: strMap('matchLabels is a map of {key,value} pairs.'),
      matchExpressions: list(
        `${META}.LabelSelectorRequirement`,
        'matchExpressions is a list of label selector requirements. The requirements are ANDed.'
      )
    },
    'x-kubernetes-map-type': 'atomic'
  },
  [`${META}.LabelSelectorRequirement`]: {
    type: 'object',
    description:
      'A label selector requirement is a selector that contains values, a key, and an operator that relates the key and values.',
    properties: {
      key: str('key is the label key that the selector applies to.'),
      operator: str(
        "operator represents a key's relationship to a set of values. Valid operators are In, NotIn, Exists and DoesNotExist."
      ),
      values: strList('values is an array of string values.')
    },
    required: ['key', 'operator']
  },
  'io.k8s.api.core.v1.Namespace': kind(
    '',
    'v1',
    'Namespace',
    'Namespace provides a scope for Names. Use of multiple namespaces is optional.',
    {
      spec: {
        ...ref('io.k8s.api.core.v1.NamespaceSpec'),
        default: {},
        description: 'Spec defines the behavior of the Namespace.'
      },
      status: {
        ...ref('io.k8s.api.core.v1.NamespaceStatus'),
        default: {},
        description: 'Status describes the current status of a Namespace.'
      }
    }
  ),
  'io.k8s.api.core.v1.NamespaceSpec': {
    type: 'object',
    description: 'NamespaceSpec describes the attributes on a Namespace.',
    properties: {
      finalizers: strList(
        'Finalizers is an opaque list of values that must be empty to permanently remove object from storage.'
      )
    }
  },
  'io.k8s.api.core.v1.NamespaceStatus': {
    type: 'object',
    description: 'NamespaceStatus is information about the current status of a Namespace.',
    properties: {
      phase: str('Phase is the current lifecycle phase of the namespace.', {
        enum: ['Active', 'Terminating']
      }),
      conditions: loose(
        "Represents the latest available observations of a namespace's current state."
      )
    }
  },
  'io.k8s.api.core.v1.ServiceAccount': kind(
    '',
    'v1',
    'ServiceAccount',
    'ServiceAccount binds together: * a name, understood by users, and perhaps by peripheral systems, for an identity * a principal that can be authenticated and authorized * a set of secrets',
    {
      automountServiceAccountToken: bool(
        'AutomountServiceAccountToken indicates whether pods running as this service account should have an API token automatically mounted.'
      ),
      imagePullSecrets: list(
        'io.k8s.api.core.v1.LocalObjectReference',
        'ImagePullSecrets is a list of references to secrets in the same namespace to use for pulling any images in pods that reference this ServiceAccount.'
      ),
      secrets: list(
        'io.k8s.api.core.v1.ObjectReference',
        'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.',
        'name'
      )
    }
  ),
  'io.k8s.api.core.v1.LocalObjectReference': {
    type: 'object',
    description:
      'LocalObjectReference contains enough information to let you locate the referenced object inside the same namespace.',
    properties: { name: str('Name of the referent.', { default: '' }) },
    'x-kubernetes-map-type': 'atomic'
  },
  'io.k8s.api.core.v1.ObjectReference': {
    type: 'object',
    description:
      'ObjectReference contains enough information to let you inspect or modify the referred object.',
    properties: {
      apiVersion: str('API version of the referent.'),
      fieldPath: str(
        'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.'
      ),
      kind: str('Kind of the referent.'),
      name: str('Name of the referent.'),
      namespace: str('Namespace of the referent.'),
      resourceVersion: str('Specific resourceVersion to which this reference is made, if any.'),
      uid: str('UID of the referent.')
    },
    'x-kubernetes-map-type': 'atomic'
  },
  'io.k8s.api.core.v1.ConfigMap': kind(
    '',
    'v1',
    'ConfigMap',
    'ConfigMap holds configuration data for pods to consume.',
    {
      binaryData: {
        type: 'object',
        description: 'BinaryData contains the binary data.',
        additionalProperties: { type: 'string', format: 'byte' }
      },
      data: strMap('Data contains the configuration data.'),
      immutable: bool(
        'Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated (only object metadata can be modified).'
      )
    }
  ),
  'io.k8s.api.core.v1.Secret': kind(
    '',
    'v1',
    'Secret',
    'Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.',
    {
      data: {
        type: 'object',
        description:
          "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string.",
        additionalProperties: { type: 'string', format: 'byte' }
      },
      immutable: bool(
        'Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object metadata can be modified).'
      ),
      stringData: strMap(
        'stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience.'
      ),
      type: str('Used to facilitate programmatic handling of secret data.')
    }
  ),
  'io.k8s.api.core.v1.Service': kind(
    '',
    'v1',
    'Service',
    'Service is a named abstraction of software service (for example, mysql) consisting of local port (for example 3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.',
    {
      spec: {
        ...ref('io.k8s.api.core.v1.ServiceSpec'),
        default: {},
        description: 'Spec defines the behavior of a service.'
      },
      status: loose(
        'Most recently observed status of the service. Populated by the system. Read-only.'
      )
    }
  ),
  'io.k8s.api.core.v1.ServiceSpec': {
    type: 'object',
    description: 'ServiceSpec describes the attributes that a user creates on a service.',
    properties: {
      clusterIP: str(
        'clusterIP is the IP address of the service and is usually assigned randomly.'
      ),
      clusterIPs: strList(
        'ClusterIPs is a list of IP addresses assigned to this service, and are usually assigned randomly.'
      ),
      externalIPs: strList(
        'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'
      ),
      externalName: str(
        'externalName is the external reference that discovery mechanisms will return as an alias for this service (e.g. a DNS CNAME record).'
      ),
      externalTrafficPolicy: str(
        'externalTrafficPolicy describes how nodes distribute service traffic they receive on one of the Service\'s "externally-facing" addresses.'
      ),
      internalTrafficPolicy: str(
        'InternalTrafficPolicy describes how nodes distribute service traffic they receive on the ClusterIP.'
      ),
      ipFamilies: strList(
        'IPFamilies is a list of IP families (e.g. IPv4, IPv6) assigned to this service.'
      ),
      ipFamilyPolicy: str(
        'IPFamilyPolicy represents the dual-stack-ness requested or required by this Service.'
      ),
      loadBalancerIP: str('Only applies to Service Type: LoadBalancer. Deprecated.'),
      ports: {
        ...list(
          'io.k8s.api.core.v1.ServicePort',
          'The list of ports that are exposed by this service.',
          'port'
        ),
        'x-kubernetes-list-map-keys': ['port', 'protocol']
      },
      publishNotReadyAddresses: bool(
        'publishNotReadyAddresses indicates that any agent which deals with endpoints for this Service should disregard any indications of ready/not-ready.'
      ),
      selector: {
        ...strMap(
          'Route service traffic to pods with label keys and values matching this selector.'
        ),
        'x-kubernetes-map-type': 'atomic'
      },
      sessionAffinity: str('Supports "ClientIP" and "None". Used to maintain session affinity.'),
      type: str('type determines how the Service is exposed. Defaults to ClusterIP.', {
        enum: ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort']
      })
    }
  },
  'io.k8s.api.core.v1.ServicePort': {
    type: 'object',
    description: "ServicePort contains information on service's port.",
    properties: {
      appProtocol: str('The application protocol for this port.'),
      name: str('The name of this port within the service.'),
      nodePort: int(
        'The port on each node on which this service is exposed when type is NodePort or LoadBalancer.'
      ),
      port: int('The port that will be exposed by this service.'),
      protocol: str(
        'The IP protocol for this port. Supports "TCP", "UDP", and "SCTP". Default is TCP.',
        { default: 'TCP' }
      ),
      targetPort: {
        'x-kubernetes-int-or-string': true,
        description: 'Number or name of the port to access on the pods targeted by the service.'
      }
    },
    required: ['port']
  },
  'io.k8s.api.core.v1.Endpoints': kind(
    '',
    'v1',
    'Endpoints',
    'Endpoints is a collection of endpoints that implement the actual service.',
    {
      subsets: list(
        'io.k8s.api.core.v1.EndpointSubset',
        'The set of all endpoints is the union of all subsets.'
      )
    }
  ),
  'io.k8s.api.core.v1.EndpointSubset': {
    type: 'object',
    description: 'EndpointSubset is a group of addresses with a common set of ports.',
    properties: {
      addresses: list(
        'io.k8s.api.core.v1.EndpointAddress',
        'IP addresses which offer the related ports that are marked as ready.'
      ),
      notReadyAddresses: list(
        'io.k8s.api.core.v1.EndpointAddress',
        'IP addresses which offer the related ports but are not currently marked as ready.'
      ),
      ports: list(
        'io.k8s.api.core.v1.EndpointPort',
        'Port numbers available on the related IP addresses.'
      )
    }
  },
  'io.k8s.api.core.v1.EndpointAddress': {
    type: 'object',
    description: 'EndpointAddress is a tuple that describes single IP address.',
    properties: {
      hostname: str('The Hostname of this endpoint'),
      ip: str('The IP of this endpoint.', { default: '' }),
      nodeName: str('Optional: Node hosting this endpoint.'),
      targetRef: {
        ...ref('io.k8s.api.core.v1.ObjectReference'),
        description: 'Reference to object providing the endpoint.'
      }
    },
    required: ['ip'],
    'x-kubernetes-map-type': 'atomic'
  },
  'io.k8s.api.core.v1.EndpointPort': {
    type: 'object',
    description: 'EndpointPort is a tuple that describes a single port.',
    properties: {
      appProtocol: str('The application protocol for this port.'),
      name: str('The name of this port.'),
      port: int('The port number of the endpoint.'),
      protocol: str('The IP protocol for this port. Default is TCP.')
    },
    required: ['port'],
    'x-kubernetes-map-type': 'atomic'
  },
  'io.k8s.api.core.v1.Pod': kind(
    '',
    'v1',
    'Pod',
    'Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.',
    {
      spec: {
        ...ref('io.k8s.api.core.v1.PodSpec'),
        default: {},
        description: 'Specification of the desired behavior of the pod.'
      },
      status: loose(
        'Most recently observed status of the pod. This data may not be up to date. Populated by the system. Read-only.'
      )
    }
  ),
  'io.k8s.api.core.v1.PodSpec': {
    type: 'object',
    description: 'PodSpec is a description of a pod.',
    properties: {
      containers: list(
        'io.k8s.api.core.v1.Container',
        'List of containers belonging to the pod.',
        'name'
      ),
      nodeName: str('NodeName indicates in which node this pod is scheduled.'),
      serviceAccountName: str(
        'ServiceAccountName is the name of the ServiceAccount to use to run this pod.'
      )
    },
    'x-kubernetes-preserve-unknown-fields': true
  },
  'io.k8s.api.core.v1.Container': {
    type: 'object',
    description: 'A single application container that you want to run within a pod.',
    properties: {
      name: str('Name of the container specified as a DNS_LABEL.', { default: '' }),
      image: str('Container image name.'),
      command: strList('Entrypoint array. Not executed within a shell.'),
      args: strList('Arguments to the entrypoint.')
    },
    required: ['name'],
    'x-kubernetes-preserve-unknown-fields': true
  },
  'io.k8s.api.core.v1.PodTemplateSpec': {
    type: 'object',
    description:
      'PodTemplateSpec describes the data a pod should have when created from a template',
    properties: {
      metadata: {
        ...ref(`${META}.ObjectMeta`),
        default: {},
        description: "Standard object's metadata."
      },
      spec: {
        ...ref('io.k8s.api.core.v1.PodSpec'),
        default: {},
        description: 'Specification of the desired behavior of the pod.'
      }
    }
  },
  'io.k8s.api.apps.v1.Deployment': kind(
    'apps',
    'v1',
    'Deployment',
    'Deployment enables declarative updates for Pods and ReplicaSets.',
    {
      spec: {
        ...ref('io.k8s.api.apps.v1.DeploymentSpec'),
        default: {},
        description: 'Specification of the desired behavior of the Deployment.'
      },
      status: loose('Most recently observed status of the Deployment.')
    }
  ),
  'io.k8s.api.apps.v1.DeploymentSpec': {
    type: 'object',
    description: 'DeploymentSpec is the specification of the desired behavior of the Deployment.',
    properties: {
      replicas: int('Number of desired pods. Defaults to 1.'),
      selector: { ...ref(`${META}.LabelSelector`), description: 'Label selector for pods.' },
      template: {
        ...ref('io.k8s.api.core.v1.PodTemplateSpec'),
        default: {},
        description: 'Template describes the pods that will be created.'
      }
    },
    required: ['selector', 'template'],
    'x-kubernetes-preserve-unknown-fields': true
  },
  'io.k8s.api.authentication.v1.TokenRequest': kind(
    'authentication.k8s.io',
    'v1',
    'TokenRequest',
    'TokenRequest requests a token for a given service account.',
    {
      spec: {
        ...ref('io.k8s.api.authentication.v1.TokenRequestSpec'),
        default: {},
        description: 'Spec holds information about the request being evaluated'
      },
      status: loose(
        'Status is filled in by the server and indicates whether the token can be authenticated.'
      )
    },
    ['spec']
  ),
  'io.k8s.api.authentication.v1.TokenRequestSpec': {
    type: 'object',
    description: 'TokenRequestSpec contains client provided parameters of a token request.',
    properties: {
      audiences: strList('Audiences are the intendend audiences of the token.'),
      boundObjectRef: loose(
        'BoundObjectRef is a reference to an object that the token will be bound to.'
      ),
      expirationSeconds: int(
        'ExpirationSeconds is the requested duration of validity of the request.',
        'int64'
      )
    },
    required: ['audiences']
  },
  'io.k8s.api.rbac.v1.PolicyRule': {
    type: 'object',
    description:
      'PolicyRule holds information that describes a policy rule, but does not contain information about who the rule applies to or which namespace the rule applies to.',
    properties: {
      apiGroups: strList('APIGroups is the name of the APIGroup that contains the resources.'),
      nonResourceURLs: strList(
        'NonResourceURLs is a set of partial urls that a user should have access to.'
      ),
      resourceNames: strList(
        'ResourceNames is an optional white list of names that the rule applies to.'
      ),
      resources: strList('Resources is a list of resources this rule applies to.'),
      verbs: strList(
        'Verbs is a list of Verbs that apply to ALL the ResourceKinds contained in this rule.'
      )
    },
    required: ['verbs']
  },
  'io.k8s.api.rbac.v1.Subject': {
    type: 'object',
    description:
      'Subject contains a reference to the object or user identities a role binding applies to.',
    properties: {
      apiGroup: str('APIGroup holds the API group of the referenced subject.'),
      kind: str(
        'Kind of object being referenced. Values defined by this API group are "User", "Group", and "ServiceAccount".'
      ),
      name: str('Name of the object being referenced.'),
      namespace: str('Namespace of the referenced object.')
    },
    required: ['kind', 'name'],
    'x-kubernetes-map-type': 'atomic'
  },
  'io.k8s.api.rbac.v1.RoleRef': {
    type: 'object',
    description: 'RoleRef contains information that points to the role being used',
    properties: {
      apiGroup: str('APIGroup is the group for the resource being referenced'),
      kind: str('Kind is the type of resource being referenced'),
      name: str('Name is the name of resource being referenced')
    },
    required: ['apiGroup', 'kind', 'name'],
    'x-kubernetes-map-type': 'atomic'
  },
  'io.k8s.api.rbac.v1.Role': kind(
    'rbac.authorization.k8s.io',
    'v1',
    'Role',
    'Role is a namespaced, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding.',
    {
      rules: list('io.k8s.api.rbac.v1.PolicyRule', 'Rules holds all the PolicyRules for this Role')
    }
  ),
  'io.k8s.api.rbac.v1.ClusterRole': kind(
    'rbac.authorization.k8s.io',
    'v1',
    'ClusterRole',
    'ClusterRole is a cluster level, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding or ClusterRoleBinding.',
    {
      aggregationRule: loose(
        'AggregationRule is an optional field that describes how to build the Rules for this ClusterRole.'
      ),
      rules: list(
        'io.k8s.api.rbac.v1.PolicyRule',
        'Rules holds all the PolicyRules for this ClusterRole'
      )
    }
  ),
  'io.k8s.api.rbac.v1.RoleBinding': kind(
    'rbac.authorization.k8s.io',
    'v1',
    'RoleBinding',
    'RoleBinding references a role, but does not contain it.',
    {
      roleRef: {
        ...ref('io.k8s.api.rbac.v1.RoleRef'),
        default: {},
        description:
          'RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.'
      },
      subjects: list(
        'io.k8s.api.rbac.v1.Subject',
        'Subjects holds references to the objects the role applies to.'
      )
    },
    ['roleRef']
  ),
  'io.k8s.api.rbac.v1.ClusterRoleBinding': kind(
    'rbac.authorization.k8s.io',
    'v1',
    'ClusterRoleBinding',
    'ClusterRoleBinding references a ClusterRole, but not contain it.',
    {
      roleRef: {
        ...ref('io.k8s.api.rbac.v1.RoleRef'),
        default: {},
        description: 'RoleRef can only reference a ClusterRole in the global namespace.'
      },
      subjects: list(
        'io.k8s.api.rbac.v1.Subject',
        'Subjects holds references to the objects the role applies to.'
      )
    },
    ['roleRef']
  )
}

/** The definition name kube-apiserver gives a built-in kind (`io.k8s.api.core.v1.Pod`). */
export function builtInDefinitionName(group: string, version: string, kindName: string): string {
  const short =
    group === '' ? 'core' : group.replace(/\.k8s\.io$/, '').replace(/\.authorization$/, '')
  return `io.k8s.api.${short}.${version}.${kindName}`
}

/** A schema for a built-in kind not described above: its type meta and metadata, the rest kept. */
export function looseKind(group: string, version: string, kindName: string): Obj {
  return {
    ...kind(
      group,
      version,
      kindName,
      `${kindName} (the sandbox API does not describe its fields)`,
      {}
    ),
    'x-kubernetes-preserve-unknown-fields': true
  }
}

/** Follows `$ref` / `allOf: [{$ref}]` through coreSchemas to the schema itself (bounded). */
export function resolveSchema(schema: Obj | undefined): Obj | undefined {
  let s = schema
  for (let i = 0; i < 10 && s; i++) {
    const target =
      typeof s.$ref === 'string'
        ? s.$ref
        : Array.isArray(s.allOf) && isObject(s.allOf[0]) && typeof s.allOf[0].$ref === 'string'
          ? s.allOf[0].$ref
          : undefined
    if (target === undefined) return s
    s = coreSchemas[target.replace('#/components/schemas/', '')]
  }
  return s
}
