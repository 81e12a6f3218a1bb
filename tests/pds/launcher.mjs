// Starts a PLC directory (in memory) and the official Bluesky PDS (@atproto/pds), both bound to
// 127.0.0.1 only, on free ports, for engage's integration tests. See README.md.
//
// Run it with Node >= 22 from a folder whose node_modules has @atproto/pds and @did-plc/server
// (tests/pds_support.py copies this file into the cache folder that setup.sh fills).
//
// When both servers answer, prints ONE JSON line on stdout and nothing else there:
//   {"pds": "http://127.0.0.1:PORT", "plc": "http://127.0.0.1:PORT2", "pid": N, "dataDir": "..."}
// Stops cleanly (servers closed, data folder removed) on SIGTERM/SIGINT/SIGHUP, or when stdin is
// a pipe and it closes (so the servers die with the process that started them).
//
// Environment:
//   TMPDIR                  where the data folder (sqlite files, blobs) is created (os.tmpdir())
//   ENGAGE_PDS_KEEP_DATA=1  keep the data folder on exit
//   ENGAGE_PDS_LOG=1        let the PDS and PLC log (pino JSON) to stderr
//   ENGAGE_PDS_PORT / ENGAGE_PLC_PORT   fixed ports instead of free ones
//   ENGAGE_PDS_APPVIEW_URL  an AppView (e.g. a test's fake one) the PDS proxies app.bsky.* to,
//                           with ENGAGE_PDS_APPVIEW_DID (default did:web:appview.test) as the
//                           audience of its service-auth JWTs. Unset: no AppView (see README).
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const HOST = '127.0.0.1'
const log = (...args) => console.error('[launcher]', ...args)

// Logging must be configured before the servers' modules are loaded. pino writes to stdout
// by default, which is reserved for the ready line: send it to stderr or switch it off.
if (process.env.ENGAGE_PDS_LOG === '1') {
  process.env.LOG_ENABLED ??= 'true'
  process.env.LOG_DESTINATION ??= '/dev/stderr'
} else {
  process.env.LOG_ENABLED = 'false'
}

// Both servers call app.listen(port) without a host, which listens on every interface.
// Force loopback for any listen() that names no host.
const origListen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const first = args[0]
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, HOST)
  } else if (first && typeof first === 'object' && !(first instanceof net.Server) &&
             first.path === undefined && first.fd === undefined && first.handle === undefined &&
             first.host === undefined) {
    args[0] = { ...first, host: HOST }
  }
  return origListen.apply(this, args)
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    origListen.call(srv, 0, HOST, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })

// secp256k1 private key as hex, for the PDS's PLC rotation key (no @atproto/crypto needed).
const k256PrivateKeyHex = () => {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const d = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url')
  return d.toString('hex').padStart(64, '0')
}

// Handles ending in .test cannot resolve through DNS; resolve them against the PDS itself, as
// @atproto/dev-env does (GET /.well-known/atproto-did with the handle as Host).
const resolveHandleLocally = (pdsPort, handle) =>
  new Promise((resolve) => {
    const req = http.get(
      { host: HOST, port: pdsPort, path: '/.well-known/atproto-did', headers: { host: handle }, timeout: 3000 },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c) => (body += c))
        res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : undefined))
      },
    )
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => req.destroy())
  })

let plc = null
let pds = null
let dataDir = null
let stopping = false

async function stop(reason, code = 0) {
  if (stopping) return
  stopping = true
  log(`stopping (${reason})`)
  const force = setTimeout(() => {
    log('forced exit after 10 s')
    process.exit(code || 1)
  }, 10_000)
  force.unref()
  for (const [name, server] of [['pds', pds], ['plc', plc]]) {
    if (!server) continue
    try {
      await server.destroy()
    } catch (err) {
      log(`error closing ${name}:`, err?.message ?? err)
    }
  }
  if (dataDir && process.env.ENGAGE_PDS_KEEP_DATA !== '1') {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
  process.exit(code)
}

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => stop(sig))
try {
  const st = fs.fstatSync(0)
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', () => stop('stdin closed'))
    process.stdin.on('close', () => stop('stdin closed'))
    process.stdin.on('error', () => stop('stdin error'))
    process.stdin.resume()
  }
} catch {
  // no stdin at all
}

async function main() {
  const t0 = Date.now()
  const [{ PDS, envToCfg, envToSecrets }, plcModule] = await Promise.all([
    import('@atproto/pds'),
    import('@did-plc/server'),
  ])
  const plcLib = plcModule.default ?? plcModule

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'engage-pds-'))

  // PLC directory, in memory.
  const plcPort = Number(process.env.ENGAGE_PLC_PORT) || (await freePort())
  plc = plcLib.PlcServer.create({ db: plcLib.Database.mock(), port: plcPort })
  await plc.start()
  const plcUrl = `http://${HOST}:${plcPort}`

  // PDS. envToCfg makes publicUrl http://localhost:PORT; every DID document the PDS writes to
  // the PLC directory carries it, and clients (the atproto SDK too) switch to it after login.
  // Use 127.0.0.1 instead, the only address the server listens on.
  const pdsPort = Number(process.env.ENGAGE_PDS_PORT) || (await freePort())
  const pdsUrl = `http://${HOST}:${pdsPort}`
  const env = {
    devMode: true,
    port: pdsPort,
    hostname: 'localhost',
    dataDirectory: path.join(dataDir, 'pds'),
    blobstoreDiskLocation: path.join(dataDir, 'blobs'),
    didPlcUrl: plcUrl,
    serviceHandleDomains: ['.test'],
    inviteRequired: false,
    disableSsrfProtection: true,
    jwtSecret: crypto.randomBytes(16).toString('hex'),
    adminPassword: process.env.ENGAGE_PDS_ADMIN_PASSWORD || 'admin-pass',
    plcRotationKeyK256PrivateKeyHex: k256PrivateKeyHex(),
    serviceName: 'engage test PDS',
    // By default no AppView, moderation or report service: every app.bsky.* query fails with
    // "No service configured for ...", and so do app.bsky.actor.getPreferences/putPreferences,
    // which the PDS serves itself only when an AppView is configured.
    // No crawlers, no email (nodemailer JSON transport).
  }
  if (process.env.ENGAGE_PDS_APPVIEW_URL) {
    env.bskyAppViewUrl = process.env.ENGAGE_PDS_APPVIEW_URL
    env.bskyAppViewDid = process.env.ENGAGE_PDS_APPVIEW_DID || 'did:web:appview.test'
  }
  fs.mkdirSync(env.dataDirectory, { recursive: true })
  fs.mkdirSync(env.blobstoreDiskLocation, { recursive: true })
  const cfg = envToCfg(env)
  cfg.service.publicUrl = pdsUrl
  if (cfg.oauth && cfg.oauth.issuer) cfg.oauth.issuer = pdsUrl
  pds = await PDS.create(cfg, envToSecrets(env))

  const handleResolver = pds.ctx.idResolver.handle
  const origResolve = handleResolver.resolve.bind(handleResolver)
  handleResolver.resolve = async (handle) =>
    cfg.identity.serviceHandleDomains.some((d) => handle.endsWith(d))
      ? resolveHandleLocally(pdsPort, handle)
      : origResolve(handle)

  await pds.start()
  if (stopping) return

  // Check that both answer before saying ready.
  const health = await fetch(`${pdsUrl}/xrpc/_health`)
  if (!health.ok) throw new Error(`PDS health check failed: ${health.status}`)
  const plcHealth = await fetch(`${plcUrl}/_health`)
  if (!plcHealth.ok) throw new Error(`PLC health check failed: ${plcHealth.status}`)

  log(`ready in ${Date.now() - t0} ms; rss ${Math.round(process.memoryUsage().rss / 1048576)} MB`)
  process.stdout.write(
    JSON.stringify({ pds: pdsUrl, plc: plcUrl, pid: process.pid, dataDir }) + '\n',
  )
}

main().catch((err) => {
  log('failed to start:', err?.stack ?? err)
  stop('start-up failure', 1)
})
