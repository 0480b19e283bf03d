/** Writes a report (and a chart) into bench/results/: `<scenario>-<dialect>[-quick].json`, the latest run of each. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { repoRoot, resultsDir } from './paths.js'

export function saveResult(name: string, report: unknown, svg?: string): string[] {
  mkdirSync(resultsDir, { recursive: true })
  const written: string[] = []
  const json = join(resultsDir, `${name}.json`)
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`)
  written.push(relative(repoRoot, json))
  if (svg !== undefined) {
    const file = join(resultsDir, `${name}.svg`)
    writeFileSync(file, svg)
    written.push(relative(repoRoot, file))
  }
  return written
}
