import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (this file runs from dist/bench/lib/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const resultsDir = join(repoRoot, 'bench', 'results')
/** A compiled bench module next to this one. */
export const benchModule = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url))
