// Pure renderers of the older generations' files (issue #7 groundwork): no I/O anywhere.
export * from './common.ts'
export * from './scripts.ts'
export * from './register.ts'
export * from './meshExpansion.ts'
export * from './multiNetwork.ts'
export * from './vmFiles.ts'
