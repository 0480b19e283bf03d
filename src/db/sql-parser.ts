/**
 * node-sql-parser's grammar for one database, loaded once. One grammar is 200-300 kB against
 * 2.5 MB for every dialect the package knows, and only the migration linter and the SQL console
 * need one: it is required on first use instead of imported.
 */
import { createRequire } from 'node:module'
import type { Parser } from 'node-sql-parser'

const parsers = new Map<string, Parser>()

/** `database` as node-sql-parser names it: `sqlite`, `postgresql`. */
export function sqlParser(database: string): Parser {
  let parser = parsers.get(database)
  if (!parser) {
    const require = createRequire(import.meta.url)
    const mod = require(`node-sql-parser/build/${database}`) as { Parser: new () => Parser }
    parser = new mod.Parser()
    parsers.set(database, parser)
  }
  return parser
}
