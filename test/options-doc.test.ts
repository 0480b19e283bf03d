/**
 * The options table is the one declaration of every engine option: the README's table is rendered
 * from it, and each entry must be usable as declared (its own flag and variable, a default its
 * parser accepts).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { InvalidValue, optionNames, options, optionsMarkdown, type OptionSpec } from '../src/config/options.js'
import { repoRoot, runCliProcess, tempDir } from './helpers.js'

const START = '<!-- options:start -->\n'
const END = '<!-- options:end -->'

function readmeBlock(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const from = readme.indexOf(START)
  const to = readme.indexOf(END)
  if (from < 0 || to < from) throw new Error(`README.md has no ${START.trim()} ... ${END} block`)
  return readme.slice(from + START.length, to)
}

t.test("README's options table is the one rendered from src/config/options.ts", async (t) => {
  t.equal(
    readmeBlock(),
    optionsMarkdown(),
    'README.md differs from the options table: run `npm run build && node dist/src/cli/main.js help options --markdown` ' +
      `and put its output between ${START.trim()} and ${END} in README.md`,
  )
})

t.test('help options --markdown prints that same table', async (t) => {
  const r = await runCliProcess(['help', 'options', '--markdown'], { cwd: tempDir(t) })
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, optionsMarkdown())
  const plain = await runCliProcess(['help', 'options'], { cwd: tempDir(t) })
  t.equal(plain.code, 0, plain.stderr)
  for (const name of optionNames) t.match(plain.stdout, options[name].env, `${name} is listed`)
  const bad = await runCliProcess(['help', 'options', '--html'], { cwd: tempDir(t) })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /help options takes only --markdown; got "--html"/)
})

t.test('every option has a flag and a variable of its own, named by one convention', async (t) => {
  const flags = new Set<string>()
  const variables = new Set<string>()
  for (const name of optionNames) {
    const spec: OptionSpec<unknown> = options[name]
    t.notOk(flags.has(spec.flag), `${spec.flag} (${name}) is unique`)
    t.notOk(variables.has(spec.env), `${spec.env} (${name}) is unique`)
    flags.add(spec.flag)
    variables.add(spec.env)
    t.match(spec.flag, /^--[a-z]+(-[a-z]+)*$/, `${name}: ${spec.flag} is a long kebab-case flag`)
    t.match(spec.env, /^MT5E_[A-Z]+(_[A-Z]+)*$/, `${name}: ${spec.env} is an MT5E_ variable`)
    t.ok(spec.help.length > 0 && !spec.help.includes('\n'), `${name} has one line of help`)
    t.equal(spec.negatable === true, typeof spec.default === 'boolean', `${name}: only a boolean is given as --no-<flag>`)
  }
  t.notOk(optionNames.includes('maxBatchTicks' as never), 'maxBatchTicks is not an engine option')
})

t.test("every default passes its own parser and comes back unchanged", async (t) => {
  for (const name of optionNames) {
    const spec: OptionSpec<unknown> = options[name]
    // the database's default is derived from dataDir when the config is resolved; sqlRole is unset unless given
    if (spec.default === undefined) {
      t.ok(name === 'database' || (name === 'sqlRole' && spec.defaultText === 'none'), `${name}: only the database has a derived default, and only sqlRole none`)
      t.ok(spec.defaultText, 'and the docs say what it is')
      continue
    }
    t.same(spec.parse(spec.default), spec.default, `${name}: the default ${JSON.stringify(spec.default)} parses`)
    t.same(spec.parse(String(spec.default)), spec.default, `${name}: the default parses from its text, as a variable gives it`)
  }
})

t.test('a parser refuses a wrong value by saying what it expects', async (t) => {
  const refusal = (name: keyof typeof options, value: unknown): string => {
    try {
      ;(options[name] as OptionSpec<unknown>).parse(value)
    } catch (err) {
      t.ok(err instanceof InvalidValue)
      return (err as InvalidValue).expected
    }
    t.fail(`${name} accepted ${JSON.stringify(value)}`)
    return ''
  }
  t.equal(refusal('batchRows', '0'), 'a whole number >= 1')
  t.equal(refusal('flushMs', '-1'), 'a whole number >= 0')
  t.equal(refusal('port', 65536), 'a port number from 0 to 65535')
  t.equal(refusal('migrate', 'maybe'), 'true or false')
  t.equal(refusal('synchronous', 'OFF'), 'NORMAL or FULL')
  t.equal(refusal('logLevel', 'verbose'), 'fatal, error, warn, info, debug, trace or silent')
  t.equal(refusal('logFormat', 'xml'), 'auto, json or pretty')
  t.equal(refusal('host', ''), 'a non-empty string')
})
