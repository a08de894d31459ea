// WebTorrent 3 seeding one .torrent for the torframes swarm lab.
//
//   node seed.mjs '{"torrent": PATH, "contentDir": DIR, "host": "127.0.0.x", "port": N,
//                   "trackers": bool, "dhtBootstrap": ["127.0.0.y:P", ...]}'
//
// Every socket binds to `host` (WebTorrent itself listens on all interfaces: the
// listen/bind calls are given the host here). One JSON line on stdout per event:
// {"event": "seeding", ...} once the data is verified and the port listens,
// {"uploaded": N} for each "uploaded" line read on stdin. N is the sum of the
// block payloads of the PIECE messages sent: each wire's (bittorrent-protocol's)
// own "upload" count. Not torrent.uploaded: in WebTorrent 3 that counts every byte
// written to the socket (handshakes, bitfields, metadata, message framing).
// The process exits when stdin closes (its owner is gone).
import dgram from 'node:dgram'
import fs from 'node:fs'
import net from 'node:net'
import readline from 'node:readline'
import WebTorrent from 'webtorrent'

const config = JSON.parse(process.argv[2])
const say = message => process.stdout.write(JSON.stringify(message) + '\n')
const fail = error => {
  say({ event: 'error', message: String(error && error.message ? error.message : error) })
  process.exit(1)
}

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (port, ...rest) {
  if (typeof port === 'number') {
    const callback = rest.find(arg => typeof arg === 'function')
    return listen.call(this, port, config.host, callback)
  }
  return listen.call(this, port, ...rest)
}
const bind = dgram.Socket.prototype.bind
dgram.Socket.prototype.bind = function (port, ...rest) {
  if (typeof port === 'number' || port === undefined) {
    const callback = rest.find(arg => typeof arg === 'function')
    return bind.call(this, port || 0, config.host, callback)
  }
  return bind.call(this, port, ...rest)
}

const dht = config.dhtBootstrap.length > 0 ? { bootstrap: config.dhtBootstrap } : false
const client = new WebTorrent({
  torrentPort: config.port,
  dht,
  lsd: false,
  tracker: config.trackers ? {} : false,
  utp: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  utPex: false
})
client.on('error', fail)

const torrent = client.add(fs.readFileSync(config.torrent), { path: config.contentDir }, torrent => {
  let announced = false
  const ready = () => {
    if (!announced && torrent.progress === 1 && client.listening) {
      announced = true
      say({ event: 'seeding', infoHash: torrent.infoHash, port: client.torrentPort })
      return true
    }
    return false
  }
  if (!ready()) {
    torrent.once('done', ready)
    client.once('listening', ready)
  }
})
torrent.on('error', fail)
let payload = 0
torrent.on('wire', wire => wire.on('upload', length => { payload += length }))

const input = readline.createInterface({ input: process.stdin })
input.on('line', line => {
  if (line.trim() === 'uploaded') say({ uploaded: payload })
})
input.on('close', () => client.destroy(() => process.exit(0)))
