/**
 * The TypeScript types of every query's parameters and rows, rendered from the catalogue into
 * src/client/query-types.ts, so that the typed SDK (src/client/typed-queries.ts) cannot drift
 * from what the engine serves (test/query-types.test.ts compares the two).
 */
import { QUERIES, type ColumnDef, type FilterDef, type QueryDef, type ValueType } from './catalogue.js'
import { resultColumns } from './docs.js'

export const REGENERATE_QUERY_TYPES =
  'npm run build && node -e "import(\'./dist/src/query/sdk-types.js\').then((m) => process.stdout.write(m.renderQueryTypes()))" > src/client/query-types.ts'

const tsType: Record<ValueType, string> = { int: 'number', float: 'number', time: 'number', string: 'string', bool: 'boolean', json: 'unknown' }

/** `ea_instances` -> `EaInstances`. */
export function typeName(query: string): string {
  return query.replace(/(^|_)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase())
}

/** The whole of src/client/query-types.ts. */
export function renderQueryTypes(): string {
  const header = [
    '// Generated from src/query/catalogue.ts by src/query/sdk-types.ts: do not edit by hand.',
    `// Regenerate: ${REGENERATE_QUERY_TYPES}`,
  ]
  const map = ['/** Every typed query by name: its parameters and the shape of its rows (docs/QUERIES.md). */', 'export interface QueryTypes {']
  for (const q of QUERIES) map.push(`  ${q.name}: { params: ${typeName(q.name)}Params; row: ${typeName(q.name)}Row }`)
  map.push('}', '', 'export type QueryName = keyof QueryTypes')
  return [...header, ...QUERIES.flatMap((q) => ['', ...rowInterface(q), '', ...paramsInterface(q)]), '', ...map].join('\n') + '\n'
}

function rowInterface(def: QueryDef): string[] {
  const column = (c: ColumnDef) => {
    // keys are never null, nor the columns the engine adds (ea_instances.online); unknown holds null already
    const nullable = !def.keys.includes(c.name) && def.columns.includes(c) && c.type !== 'json'
    return `  ${c.name}: ${tsType[c.type]}${nullable ? ' | null' : ''}`
  }
  return [`/** A row of \`${def.name}\`: ${def.doc.replace(/\*\//g, '* /')} */`, `export interface ${typeName(def.name)}Row {`, ...resultColumns(def).map(column), '}']
}

function paramsInterface(def: QueryDef): string[] {
  const filter = (f: FilterDef) => {
    const type = f.values ? f.values.map((v) => `'${v}'`).join(' | ') : tsType[f.type]
    return [`  /** ${f.doc.replace(/\*\//g, '* /')} */`, `  ${f.name}?: ${type}`]
  }
  const needs = def.requireOneOf ? ` Needs ${def.requireOneOf.map((set) => set.join(' + ')).join(', or ')}.` : ''
  return [`/** The filters of \`${def.name}\`.${needs} */`, `export interface ${typeName(def.name)}Params {`, ...def.filters.flatMap(filter), '}']
}
