// The product's own version, from package.json (inlined into dist/ by the bundler).
import manifest from '../../package.json' with { type: 'json' }

export const VERSION: string = manifest.version
