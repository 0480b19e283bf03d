/**
 * docs/ERRORS.md against the source, both ways: every code of ErrorCodes, ProtocolErrors and
 * CloseCodes, and every code src/ raises, has its row; every row is a real code. docs/PROTOCOL.md
 * sections 6 and 7 likewise. And src/ compares no code as a string literal, where a misspelled
 * code would compile and never match.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ErrorCodes } from '../src/errors.js'
import { CloseCodes, ProtocolErrors } from '../src/protocol/messages.js'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const errorsDoc = readFileSync(join(repoRoot, 'docs', 'ERRORS.md'), 'utf8')
const protocolDoc = readFileSync(join(repoRoot, 'docs', 'PROTOCOL.md'), 'utf8')

/**
 * Codes that are not the engine's: a database's, the file system's or a driver's own, which reach
 * the code unwrapped (STYLE.md, "Errors"). SQLSTATEs (`23505`, `42P07`) start with a digit and are
 * never taken for a code. Only these may appear in src/ as string literals where a code is compared
 * or set.
 */
const NATIVE_CODES = new Set([
  // better-sqlite3's result codes
  'SQLITE_BUSY',
  'SQLITE_CONSTRAINT_FOREIGNKEY',
  // Node's errno codes: a database file that exists, a port that cannot be listened on
  'EEXIST',
  'EADDRINUSE',
  'EACCES',
  'EADDRNOTAVAIL',
  // postgres.js's code for a connection that timed out, which the PostgreSQL backend raises too
  'CONNECT_TIMEOUT',
])

const engineCodes = new Set<string>(Object.values(ErrorCodes))
const wireCodes = new Set<string>(Object.values(ProtocolErrors))
const closeCodes = new Set(Object.entries(CloseCodes).map(([name, code]) => `${code} ${name}`))

// ---------------------------------------------------------------------------------------------
// Reading the docs

/** The body of each section, by its heading's text (`## On the wire` -> `On the wire`). */
function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>()
  let heading = ''
  for (const line of markdown.split('\n')) {
    const h = /^#{1,6}\s+(.*)$/.exec(line)
    if (h) {
      heading = h[1]!.trim()
      out.set(heading, '')
    } else out.set(heading, (out.get(heading) ?? '') + line + '\n')
  }
  return out
}

/** The body rows of every table in `text`, as trimmed cells (header and separator rows left out). */
function tableRows(text: string): string[][] {
  const rows: string[][] = []
  let inTable = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      inTable = 0
      continue
    }
    // escaped pipes (`\|`) stay inside their cell
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim())
    if (++inTable > 2) rows.push(cells)
  }
  return rows
}

function section(markdown: string, heading: string): string {
  const body = sections(markdown).get(heading)
  if (body === undefined) throw new Error(`no section "${heading}"`)
  return body
}

/** `` `CODE` `` -> CODE; anything else as it is, so that a malformed cell shows in the failure. */
function unquote(cell: string): string {
  return /^`([^`]+)`$/.exec(cell)?.[1] ?? cell
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort()
}

function missing(wanted: Iterable<string>, have: Iterable<string>): string[] {
  const got = new Set(have)
  return sorted([...wanted].filter((x) => !got.has(x)))
}

// ---------------------------------------------------------------------------------------------
// Reading the source

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...sourceFiles(path))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

interface Hit {
  /** `src/gateway/server.ts:745` */
  at: string
  code: string
  line: string
}

const CODE = `[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*`
/** `x.code === 'CODE'`, `(err as {...}).code !== 'CODE'`, and the literal on the left. */
const LITERAL_COMPARISON = [
  new RegExp(`\\.code\\)?\\s*[!=]==?\\s*'(${CODE})'`, 'g'),
  new RegExp(`'(${CODE})'\\s*[!=]==?\\s*[\\w.()?]*\\.code\\b`, 'g'),
]
/** A code set or raised as a literal: `code: 'CODE'`, `new EngineError('CODE'`, `new ProtocolError('CODE'`. */
const LITERAL_CODE = [
  new RegExp(`(?:^|[{,])\\s*code\\s*:\\s*'(${CODE})'`, 'g'),
  new RegExp(`\\bnew\\s+(?:EngineError|ProtocolError|ClientError)\\(\\s*'(${CODE})'`, 'g'),
]
/** A code raised through the constants. */
const CONSTANT_CODE = /\b(ErrorCodes|ProtocolErrors|CloseCodes)\.([A-Z][A-Z0-9_]*)\b/g

function scan(text: string, file: string, patterns: RegExp[]): Hit[] {
  const hits: Hit[] = []
  text.split('\n').forEach((line, i) => {
    if (/^\s*(\/\/|\*|\/\*)/.test(line)) return
    for (const pattern of patterns) {
      for (const m of line.matchAll(pattern)) hits.push({ at: `${file}:${i + 1}`, code: m[1]!, line: line.trim() })
    }
  })
  return hits
}

const sources = sourceFiles(join(repoRoot, 'src')).map((path) => ({
  file: relative(repoRoot, path).split('\\').join('/'),
  text: readFileSync(path, 'utf8'),
}))

// ---------------------------------------------------------------------------------------------

t.test('the scanners find what they look for', async (t) => {
  const sample = [
    "if ((err as { code?: string }).code === 'COMMAND_TARGET_UNKNOWN') answer()",
    "if (err.code !== 'SQLITE_BUSY') throw err",
    "if ('BAD_FRAME' === err.code) return",
    "if (err.code === ProtocolErrors.BAD_FRAME) return",
    "if (e.code === SYNTAX_ERROR) return 'many'",
    "const entry = { seq: 1, code: 'STORAGE_REFUSED' }",
    "dbCode: typeof e?.code === 'string' ? e.code : 'UNKNOWN',",
    "throw new ProtocolError('BAD_FIELD', 'x')",
    '// code: \'IN_A_COMMENT\'',
  ].join('\n')
  t.same(
    scan(sample, 'sample.ts', LITERAL_COMPARISON).map((h) => [h.at, h.code]),
    [['sample.ts:1', 'COMMAND_TARGET_UNKNOWN'], ['sample.ts:2', 'SQLITE_BUSY'], ['sample.ts:3', 'BAD_FRAME']],
  )
  t.same(
    scan(sample, 'sample.ts', LITERAL_CODE).map((h) => [h.at, h.code]),
    [['sample.ts:6', 'STORAGE_REFUSED'], ['sample.ts:8', 'BAD_FIELD']],
  )
  t.same(tableRows('| code | when |\n|---|---|\n| `A` | x \\| y |\n\ntext\n| `B` | z |\n'), [['`A`', 'x \\| y']])
})

t.test('docs/ERRORS.md lists every EngineError code, and only those', async (t) => {
  const rows = tableRows(section(errorsDoc, 'Error codes'))
  const documented = rows.map((r) => unquote(r[0]!))
  t.same(missing(engineCodes, documented), [], 'every code of ErrorCodes has a row')
  t.same(missing(documented, engineCodes), [], 'every row is a code of ErrorCodes')
  t.same(sorted(documented.filter((c, i) => documented.indexOf(c) !== i)), [], 'no code has two rows')
  t.same(rows.filter((r) => r.length !== 3 || r.some((c) => c === '')).map((r) => r[0]), [], 'every row says when and what to do')
})

t.test('docs/ERRORS.md lists every wire error code, and only those', async (t) => {
  const rows = tableRows(section(errorsDoc, 'Error frames'))
  const documented = rows.map((r) => unquote(r[0]!))
  t.same(missing(wireCodes, documented), [], 'every code of ProtocolErrors has a row')
  t.same(missing(documented, wireCodes), [], 'every row is a code of ProtocolErrors')
  t.same(rows.filter((r) => r.length !== 3 || r.some((c) => c === '')).map((r) => r[0]), [], 'every row says when and what to do')
})

t.test('docs/ERRORS.md lists every close code by number and name, and only those', async (t) => {
  const rows = tableRows(section(errorsDoc, 'Close codes'))
  const documented = rows.map((r) => `${r[0]} ${unquote(r[1] ?? '')}`)
  t.same(missing(closeCodes, documented), [], 'every entry of CloseCodes has a row with its number and name')
  t.same(missing(documented, closeCodes), [], 'every row is an entry of CloseCodes')
  t.same(rows.filter((r) => r.length !== 3 || r[2] === '').map((r) => r[0]), [], 'every row says what it means')
})

t.test('docs/PROTOCOL.md sections 6 and 7 cover every wire code and close code', async (t) => {
  const errors = section(protocolDoc, '6. Errors')
  const rows = tableRows(errors).map((r) => unquote(r[0]!))
  t.same(missing(rows, wireCodes), [], 'every row of section 6 is a code of ProtocolErrors')
  t.same(sorted([...wireCodes].filter((c) => !errors.includes(`\`${c}\``))), [], 'section 6 names every code of ProtocolErrors')
  const closes = tableRows(section(protocolDoc, '7. Close codes')).map((r) => r[0]!)
  t.same(missing(Object.values(CloseCodes).map(String), closes), [], 'section 7 has a row for every number of CloseCodes')
  const known = new Set([...Object.values(CloseCodes).map(String), '1006'])
  t.same(missing(closes, known), [], 'every row of section 7 is a number of CloseCodes, or 1006 (what a client sees, never sent)')
})

t.test('every code src/ raises is a code the docs list', async (t) => {
  const constants = sources.flatMap(({ file, text }) =>
    text.split('\n').flatMap((line, i) => [...line.matchAll(CONSTANT_CODE)].map((m) => ({ at: `${file}:${i + 1}`, table: m[1]!, code: m[2]! }))),
  )
  t.ok(constants.some((c) => c.table === 'ErrorCodes') && constants.some((c) => c.table === 'ProtocolErrors'), 'the scan found the constants in use')
  const known: Record<string, Record<string, unknown>> = { ErrorCodes, ProtocolErrors, CloseCodes }
  t.same(constants.filter((c) => !(c.code in known[c.table]!)).map((c) => `${c.at}: ${c.table}.${c.code}`), [], 'every constant used is defined')
  const literals = sources.flatMap(({ file, text }) => scan(text, file, LITERAL_CODE))
  t.same(
    literals.filter((h) => !engineCodes.has(h.code) && !wireCodes.has(h.code) && !NATIVE_CODES.has(h.code)).map((h) => `${h.at}: ${h.line}`),
    [],
    'a code written as a literal is an ErrorCodes or ProtocolErrors code, or a native one',
  )
})

t.test('src/ compares no engine or wire code as a string literal', async (t) => {
  const hits = sources.flatMap(({ file, text }) => scan(text, file, LITERAL_COMPARISON)).filter((h) => !NATIVE_CODES.has(h.code))
  t.same(
    hits.map((h) => `${h.at}: ${h.line}`),
    [],
    "compare through the constants (ErrorCodes.X, ProtocolErrors.X) or hasCode(err, ErrorCodes.X), not 'X'",
  )
})
