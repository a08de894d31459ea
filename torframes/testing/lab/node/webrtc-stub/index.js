// The lab's WebTorrent talks TCP to loopback peers only: WebRTC is never used.
// Any use is a bug in the lab's configuration, so say so at once.
class Unavailable {
  constructor () {
    throw new Error('WebRTC is not available in the torframes swarm lab (TCP peers only)')
  }
}

export class RTCPeerConnection extends Unavailable {}
export class RTCSessionDescription extends Unavailable {}
export class RTCIceCandidate extends Unavailable {}
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate }
