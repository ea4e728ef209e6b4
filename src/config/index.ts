// Public API of the description file: parse + validate, types, the schema, path locations.
export {
  formatError,
  formatPath,
  parseDescription,
  type ConfigError,
  type Locate,
  type ParseResult,
  type PathSegment,
  type Position
} from './parse.ts'
export {
  protocolOfPortName,
  reachablePortsOf,
  resolveDefaults,
  type Check,
  type ClusterConfig,
  type Description,
  type Endpoint,
  type Generation,
  type JumpHost,
  type Probe,
  type Protocol,
  type Rollout,
  type ServiceConfig,
  type ServicePort,
  type Settings,
  type SidecarConfig,
  type SshConfig,
  type Vm,
  type WorkloadGroup
} from './defaults.ts'
export { descriptionSchema, GENERATIONS, PROTOCOLS, type ParsedDescription } from './schema.ts'
export {
  DESCRIPTION_MAX_BYTES,
  InputFileError,
  KEY_MAX_BYTES,
  KUBECONFIG_MAX_BYTES,
  MAX_NESTING,
  checkInlineSize,
  oneLine,
  quoteText,
  readInputFile,
  shownName
} from './inputFile.ts'
export { aliasNesting, parseBounded } from './yamlBounded.ts'
