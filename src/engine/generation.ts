// The strategy of the generation discovery found, chosen once per run.
import { legacyStrategy, isLegacy } from './legacy.ts'
import { modernStrategy } from './modern.ts'
import type { GenerationStrategy, StrategyContext } from './strategy.ts'

export function chooseStrategy(context: StrategyContext): GenerationStrategy {
  return isLegacy(context.discovery.generation) ? legacyStrategy(context) : modernStrategy(context)
}
