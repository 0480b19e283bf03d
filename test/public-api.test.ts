import t from 'tap'
import * as api from '../src/index.js'

// The package's runtime exports, exactly: adding or removing one is a change of the public API
// (README "API"), made on purpose and noted in CHANGELOG.md.
const expected = [
  'COMMAND_ACK_STATUSES',
  'COMMAND_TYPES',
  'ClientError',
  'CloseCodes',
  'EA_LOG_LEVELS',
  'EA_STATES',
  'EngineError',
  'ErrorCodes',
  'PROTOCOL_VERSION',
  'ProtocolError',
  'ProtocolErrors',
  'SIGNAL_TYPES',
  'connectDashboard',
  'connectEA',
  'createLogger',
  'createMigrator',
  'decode',
  'defaultOptions',
  'describeDatabase',
  'encode',
  'envNames',
  'flagNames',
  'hasCode',
  'isEngineError',
  'limits',
  'openPostgres',
  'openSqlite',
  'openStorage',
  'resolveConfig',
  'startEngine',
  'typedQueries',
]

t.test('the public API exports exactly what a program builds on', async (t) => {
  t.same(Object.keys(api).sort(), expected)
})

t.test('internals stay out of the public API', async (t) => {
  for (const name of ['runCli', 'lintSql', 'checksum', 'loadMigrations', 'createToken', 'verifyToken', 'parseEaMessage', 'prepareDatabase']) {
    t.notOk(name in api, `${name} is internal`)
  }
})

t.test('the package resolves by its own name to the same module', async (t) => {
  const byName = (await import('mt5-engine')) as typeof api
  t.equal(byName.startEngine, api.startEngine)
})
