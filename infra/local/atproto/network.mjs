// A private Bluesky network for ReplyWatch's integration tests: the reference PLC directory,
// PDS, AppView (bsky) and Ozone from @atproto/dev-env, on loopback ports.
//
//   node network.mjs            (after ./setup.sh: PostgreSQL and Redis running, npm ci done)
//
// When everything is up and the accounts exist it prints ONE JSON line on stdout:
//   {"pds": "http://localhost:2583", "appview": "http://localhost:2584", "plc": ..., "ozone": ...,
//    "control": "http://localhost:2580", "schema": "rwbcd",
//    "accounts": {"brand": {"handle": "brand.test", "did": "did:plc:...", "password": <app password>,
//                           "account_password": ..., "email": ...}, "alice": {...}}}
// and runs until SIGTERM/SIGINT, or until its stdin closes when stdin is a pipe (so a parent
// that dies takes the network with it). Everything else it says goes to stderr.
//
// The AppView indexes the PDS's firehose asynchronously. `POST <control>/process-all` returns
// (200) once everything written so far is indexed (notifications included); 500 if not within
// ?timeout=MS (default 10000).
//
// Environment (all optional):
//   DB_POSTGRES_URL   default postgresql://pg:password@localhost:5432/replywatch_atproto
//   REDIS_HOST        default localhost:6379
//   ATPROTO_PLC_PORT / _PDS_PORT / _APPVIEW_PORT / _OZONE_PORT / _CONTROL_PORT
//                     defaults 2582 / 2583 / 2584 / 2587 / 2580; 0 picks a free port
//   ATPROTO_ACCOUNTS  comma-separated short names, default "brand,alice" (handles NAME.test)
//
// Each run gets its own PostgreSQL schemas (appview_<s>, ozone_<s>), dropped on exit; ones left
// by a run that was killed are dropped by the next run. The PDS keeps its data (SQLite, blobs)
// in a temporary directory removed on exit.

import { fstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Library code logs with console.log: keep stdout for the one ready line.
const say = (...args) => console.error('[atproto]', ...args)
console.log = console.error
console.info = console.error
const ready = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

const env = process.env
const port = (name, fallback) => {
  const raw = env[`ATPROTO_${name}_PORT`]
  return raw === undefined || raw === '' ? fallback : Number.parseInt(raw, 10)
}
const PORTS = {
  plc: port('PLC', 2582),
  pds: port('PDS', 2583),
  appview: port('APPVIEW', 2584),
  ozone: port('OZONE', 2587),
  control: port('CONTROL', 2580),
}
// dev-env spreads these objects over its own settings: a `port: undefined` would undo the port
// it picked, so leave the key out for "any free port".
const portOf = (name) => (PORTS[name] ? { port: PORTS[name] } : {})
const ACCOUNTS = (env.ATPROTO_ACCOUNTS || 'brand,alice').split(',').map((s) => s.trim()).filter(Boolean)
env.DB_POSTGRES_URL ||= 'postgresql://pg:password@localhost:5432/replywatch_atproto'
env.REDIS_HOST ||= 'localhost:6379'

// The PDS puts its SQLite databases and blobs under os.tmpdir(): give it a directory of our own
// (named after our pid, so that a later run can remove it if we were killed).
const baseTmp = tmpdir()
const workDir = mkdtempSync(join(baseTmp, `replywatch-atproto-${process.pid}-`))
env.TMPDIR = workDir

// Schema names may hold only [A-Za-z_]: encode the pid in letters so a later run can tell
// whether the run that made a schema is still alive.
const pidToLetters = (pid) => [...String(pid)].map((d) => 'abcdefghij'[Number(d)]).join('')
const lettersToPid = (s) => Number([...s].map((c) => 'abcdefghij'.indexOf(c)).join(''))
const SCHEMA = `rw${pidToLetters(process.pid)}`

const { default: pg } = await import('pg')
const { TestNetwork } = await import('@atproto/dev-env')
const { AtpAgent } = await import('@atproto/api')

const withDb = async (fn) => {
  const client = new pg.Client({ connectionString: env.DB_POSTGRES_URL })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

const alive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

const dropSchemas = (which) =>
  withDb(async (db) => {
    const { rows } = await db.query(
      "SELECT nspname FROM pg_namespace WHERE nspname ~ '^(appview|ozone|bsync)_rw[a-j]+$'",
    )
    for (const { nspname } of rows) {
      const suffix = nspname.slice(nspname.indexOf('_') + 1)
      if (which(suffix)) await db.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`)
    }
  })

let network
let control
let stopping = false

const stop = async (code) => {
  if (stopping) return
  stopping = true
  say('stopping')
  const timer = setTimeout(() => {
    say('shutdown took too long: exiting anyway')
    process.exit(code || 1)
  }, 20_000)
  timer.unref()
  if (control) control.close()
  if (network) {
    try {
      // close() indexes what is left first; don't let a stuck subscription hold shutdown.
      await Promise.race([network.close(), new Promise((resolve) => setTimeout(resolve, 10_000))])
    } catch (err) {
      say('close failed:', err?.message ?? err)
    }
  }
  try {
    await dropSchemas((suffix) => suffix === SCHEMA)
  } catch (err) {
    say('could not drop schemas:', err?.message ?? err)
  }
  rmSync(workDir, { recursive: true, force: true })
  process.exit(code)
}

process.on('SIGTERM', () => stop(0))
process.on('SIGINT', () => stop(0))
process.on('SIGHUP', () => stop(0))
try {
  const st = fstatSync(0)
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', () => stop(0))
    process.stdin.on('close', () => stop(0))
    process.stdin.resume()
  }
} catch {
  // no stdin at all
}

const startControl = (net) =>
  new Promise((resolve, reject) => {
    const server = createServer(async (req, res) => {
      const url = new URL(req.url, 'http://localhost')
      const reply = (status, body) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.method === 'GET' && url.pathname === '/health') return reply(200, { ok: true })
      if (req.method === 'POST' && url.pathname === '/process-all') {
        const timeout = Number.parseInt(url.searchParams.get('timeout') || '10000', 10)
        const started = Date.now()
        try {
          await net.processAll(timeout)
          return reply(200, { ok: true, ms: Date.now() - started })
        } catch (err) {
          return reply(500, { ok: false, error: String(err?.message ?? err) })
        }
      }
      return reply(404, { error: 'not found' })
    })
    server.once('error', reject)
    server.listen(PORTS.control, '127.0.0.1', () => resolve(server))
  })

const createAccount = async (net, name) => {
  const handle = `${name}.test`
  const email = `${name}@example.com`
  const accountPassword = `${name}-password`
  const agent = new AtpAgent({ service: net.pds.url })
  await agent.createAccount({ handle, email, password: accountPassword })
  const did = agent.session.did
  const { data: appPassword } = await agent.com.atproto.server.createAppPassword({ name: 'replywatch' })
  const displayName = name.charAt(0).toUpperCase() + name.slice(1)
  await agent.com.atproto.repo.putRecord({
    repo: did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName },
  })
  return { handle, did, password: appPassword.password, account_password: accountPassword, email }
}

const removeStaleDirs = () => {
  for (const name of readdirSync(baseTmp)) {
    const pid = /^replywatch-atproto-(\d+)-/.exec(name)?.[1]
    if (pid && Number(pid) !== process.pid && !alive(Number(pid))) {
      rmSync(join(baseTmp, name), { recursive: true, force: true })
    }
  }
}

try {
  const started = Date.now()
  // Left by runs that were killed.
  await dropSchemas((suffix) => suffix !== SCHEMA && !alive(lettersToPid(suffix.slice(2))))
  removeStaleDirs()
  network = await TestNetwork.create({
    dbPostgresSchema: SCHEMA,
    plc: { ...portOf('plc') },
    pds: { ...portOf('pds'), hostname: 'localhost' },
    bsky: { ...portOf('appview'), dbPostgresSchema: `appview_${SCHEMA}` },
    ozone: { ...portOf('ozone'), dbPostgresSchema: `ozone_${SCHEMA}` },
  })
  say(`servers up in ${Date.now() - started} ms`)
  control = await startControl(network)
  const accounts = {}
  for (const name of ACCOUNTS) accounts[name] = await createAccount(network, name)
  await network.processAll()
  say(`ready in ${Date.now() - started} ms`)
  ready({
    pds: network.pds.url,
    appview: network.bsky.url,
    plc: network.plc.url,
    ozone: network.ozone.url,
    control: `http://localhost:${control.address().port}`,
    schema: SCHEMA,
    accounts,
  })
} catch (err) {
  say('failed to start:', err?.stack ?? err)
  await stop(1)
}
