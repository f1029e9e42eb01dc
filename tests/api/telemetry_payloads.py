"""Realistic bodies of the peermetrics browser SDK, for tests and the bench.

The shapes follow the SDK's sources (npm `@peermetrics/sdk`, `src/index.ts` and
`src/api-wrapper.ts`; its stats come from `@peermetrics/webrtc-stats`,
`src/utils.ts` `parseStats`), with the member names of Chrome's RTCStats:

* `/stats`: `{peerId, connectionId, timeTaken, data, token}` where `data` is
  parseStats' object `{audio:{inbound, outbound}, video:{inbound, outbound},
  connection:{<selected candidate-pair>, local:{<local-candidate>},
  remote:{<remote-candidate>}}, remote:{audio:{inbound:[remote-inbound-rtp],
  outbound:[remote-outbound-rtp]}, video:{…}}}`; each RTP report carries the
  codec's clockRate/mimeType/payloadType and a `track` copy of its media source
  (outbound) or track (inbound); from the second sample on, the SDK adds
  `bitrate`, `packetRate` (and `packetLossRate` inbound).
* `/connection`: `{eventName, peerId, connectionId, data, token}`;
  `addConnection` is `{eventName, peerId, peerName, connectionState, isSfu}`;
  state changes (`oniceconnectionstatechange`, `onconnectionstatechange`, …)
  carry the new state as `data`; `onicecandidate` a candidate's fields.
* `/connection/batch`: `{token, data:[{eventName, peerId, connectionId,
  timeDelta, data}]}` (API.md §6.1 wraps the SDK's array in `data`).
* `/events/get-user-media`: `{eventName:"getUserMedia", data:{constraints}}`,
  then the stream's details, or `data:{error:{name, message}}`.

Everything is deterministic for a given seed.  `dumps` writes JSON as
JSON.stringify does (no spaces).
"""

import json
import random

STATS_INTERVAL_MS = 10000
EPOCH_MS = 1_763_900_000_000.0  # a fixed start, so bodies do not depend on the clock


def _js(obj):
    """Numbers as JavaScript holds them: an integral float is an integer (JSON.stringify(10.0) is "10")."""
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2 ** 53:
        return int(obj)
    if isinstance(obj, dict):
        return {k: _js(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_js(v) for v in obj]
    return obj


def dumps(obj):
    """JSON as the SDK's JSON.stringify sends it."""
    return json.dumps(_js(obj), separators=(",", ":"))


def _hex(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _ip(rng, public):
    if public:
        return f"{rng.randint(80, 212)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"192.168.{rng.randint(0, 3)}.{rng.randint(2, 254)}"


def candidate(rng, ctype, protocol, remote, transport_id="T01"):
    """An RTCIceCandidateStats as getCandidatePairInfo copies it in."""
    public = ctype != "host"
    c = {
        "id": f"I{_hex(rng, 8)}",
        "timestamp": 0,
        "type": "remote-candidate" if remote else "local-candidate",
        "transportId": transport_id,
        "isRemote": remote,
        "ip": _ip(rng, public),
        "address": None,
        "port": rng.randint(1024, 65535),
        "protocol": protocol,
        "candidateType": ctype,
        "priority": rng.randint(1 << 20, 1 << 31),
        "foundation": str(rng.randint(100000000, 4000000000)),
        "usernameFragment": _hex(rng, 4),
    }
    c["address"] = c["ip"]
    if not remote:
        c["networkType"] = "wifi"
        if ctype == "relay":
            c["url"] = "turn:turn.example.net:3478?transport=" + ("tcp" if protocol == "tcp" else "udp")
            c["relayProtocol"] = "tcp" if protocol == "tcp" else "udp"
            c["relatedAddress"] = _ip(rng, True)
            c["relatedPort"] = rng.randint(1024, 65535)
        elif ctype == "srflx":
            c["url"] = "stun:stun.example.net:19302"
            c["relatedAddress"] = _ip(rng, False)
            c["relatedPort"] = rng.randint(1024, 65535)
        if protocol == "tcp":
            c["tcpType"] = "active"
    return c


class Call:
    """One side of a 2-party call's connection, sampled every 10 s.

    `kinds` are the media sent and received; `relay`/`tcp` choose the selected
    pair (a TURN relay, TCP); `loss` is the fraction of packets lost each way;
    `remote` adds the remote-inbound/-outbound reports (the SDK's `remote`
    option).  `sample(i)` is the i-th (0-based) /stats body's `data`;
    `totals(i)` the cumulative counters it carries."""

    AUDIO_BPS = 32000
    VIDEO_BPS = 1_200_000
    AUDIO_PPS = 50
    VIDEO_PPS = 110

    def __init__(self, seed=1, kinds=("audio", "video"), relay=False, tcp=False, loss=0.0, remote=True):
        self.rng = random.Random(seed)
        self.kinds = kinds
        self.loss = loss
        self.remote = remote
        rng = self.rng
        ltype = "relay" if relay else ("host" if tcp else "srflx")
        protocol = "tcp" if tcp else "udp"
        # A relay reached over TCP still speaks UDP to the peer.
        self.local = candidate(rng, ltype, "udp" if relay else protocol, False)
        if relay and tcp:
            self.local["relayProtocol"] = "tcp"
            self.local["url"] = "turn:turn.example.net:443?transport=tcp"
        self.remote_cand = candidate(rng, "srflx" if not tcp else "host", "udp" if relay else protocol, True)
        self.ssrc = {k: (rng.randint(1 << 20, 1 << 32), rng.randint(1 << 20, 1 << 32)) for k in kinds}
        self.track = {k: f"{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}" for k in kinds}
        self.jitter = {"audio": 0.003 + rng.random() * 0.004, "video": 0.008 + rng.random() * 0.01}
        self.rtt = 0.02 + rng.random() * 0.08

    def time(self, i):
        return EPOCH_MS + (i + 1) * STATS_INTERVAL_MS + 0.25

    def totals(self, i):
        """Cumulative counters after sample i, per kind: packets/bytes each
        way and packets lost each way (inbound: ours; remote: the peer's)."""
        out = {}
        secs = (i + 1) * STATS_INTERVAL_MS / 1000
        for k in self.kinds:
            bps = self.AUDIO_BPS if k == "audio" else self.VIDEO_BPS
            pps = self.AUDIO_PPS if k == "audio" else self.VIDEO_PPS
            packets = int(pps * secs)
            lost = int(packets * self.loss)
            out[k] = {
                "packetsSent": packets,
                "bytesSent": int(bps * secs / 8),
                "packetsReceived": packets - lost,
                "bytesReceived": int(bps * secs / 8 * (1 - self.loss)),
                "packetsLost": lost,
                "remotePacketsLost": lost,
            }
        return out

    def _codec(self, kind):
        if kind == "audio":
            return {"clockRate": 48000, "mimeType": "audio/opus", "payloadType": 111}
        return {"clockRate": 90000, "mimeType": "video/VP8", "payloadType": 96}

    def _rates(self, report, i, bytes_key, packets_key, inbound):
        if i == 0:
            return
        prev = report[bytes_key] - report[bytes_key] * i // (i + 1)
        report["bitrate"] = prev * 8 / (STATS_INTERVAL_MS / 1000)
        report["packetRate"] = (report[packets_key] - report[packets_key] * i // (i + 1)) / (STATS_INTERVAL_MS / 1000)
        if inbound:
            report["packetLossRate"] = self.loss

    # Per RTP report type: its id's prefix, whose stream it is (0: the one we
    # send, 1: the one we receive) and its codec id's prefix, as Chrome names them.
    RTP_TYPES = {"inbound-rtp": ("IT01", 1, "CIT01"), "outbound-rtp": ("OT01", 0, "COT01"),
                 "remote-inbound-rtp": ("RI", 0, "COT01"), "remote-outbound-rtp": ("RO", 1, "CIT01")}

    def _id(self, kind, stype):
        prefix, which, _ = self.RTP_TYPES[stype]
        return f"{prefix}{'A' if kind == 'audio' else 'V'}{self.ssrc[kind][which]}"

    def _rtp(self, kind, stype, ts, **members):
        """The members every RTP report has, the codec's, then `members`."""
        _, which, codec = self.RTP_TYPES[stype]
        r = {"id": self._id(kind, stype), "timestamp": ts, "type": stype,
             "codecId": f"{codec}_{self._codec(kind)['payloadType']}", "kind": kind, "mediaType": kind,
             "ssrc": self.ssrc[kind][which], "transportId": "T01"}
        r.update(members)
        r.update(self._codec(kind))
        return r

    def inbound(self, kind, i):
        t = self.totals(i)[kind]
        ts = self.time(i)
        r = self._rtp(
            kind, "inbound-rtp", ts, jitter=round(self.jitter[kind], 6), packetsLost=t["packetsLost"],
            packetsReceived=t["packetsReceived"], bytesReceived=t["bytesReceived"],
            headerBytesReceived=t["packetsReceived"] * 12, lastPacketReceivedTimestamp=ts - 7.5,
            trackIdentifier=self.track[kind], mid="0" if kind == "audio" else "1",
            remoteId=self._id(kind, "remote-outbound-rtp"), jitterBufferDelay=1234.5 * (i + 1),
            jitterBufferEmittedCount=48000 * (i + 1), nackCount=i, fecPacketsReceived=0, fecPacketsDiscarded=0)
        if kind == "audio":
            r.update({"audioLevel": 0.0213, "totalAudioEnergy": 1.37 * (i + 1), "totalSamplesReceived": 480000 * (i + 1),
                      "concealedSamples": 1920 * i, "silentConcealedSamples": 0, "concealmentEvents": i,
                      "totalSamplesDuration": 10.0 * (i + 1), "playoutId": "AP"})
        else:
            r.update({"framesDecoded": 300 * (i + 1), "keyFramesDecoded": 1 + i // 6, "framesReceived": 301 * (i + 1),
                      "frameWidth": 1280, "frameHeight": 720, "framesPerSecond": 30, "framesDropped": i,
                      "qpSum": 8123 * (i + 1), "totalDecodeTime": 1.9 * (i + 1), "totalInterFrameDelay": 9.98 * (i + 1),
                      "pliCount": i // 3, "firCount": 0, "decoderImplementation": "libvpx", "powerEfficientDecoder": False})
        r["track"] = {"id": f"DEPRECATED_TI{self.ssrc[kind][1]}", "kind": kind, "trackIdentifier": self.track[kind]}
        self._rates(r, i, "bytesReceived", "packetsReceived", True)
        return r

    def outbound(self, kind, i):
        t = self.totals(i)[kind]
        ts = self.time(i)
        r = self._rtp(
            kind, "outbound-rtp", ts, packetsSent=t["packetsSent"], bytesSent=t["bytesSent"],
            headerBytesSent=t["packetsSent"] * 12, retransmittedPacketsSent=i * 2, retransmittedBytesSent=i * 2300,
            mediaSourceId=f"S{1 if kind == 'audio' else 2}", remoteId=self._id(kind, "remote-inbound-rtp"),
            mid="0" if kind == "audio" else "1", nackCount=i, active=True)
        if kind == "video":
            r.update({"framesEncoded": 300 * (i + 1), "keyFramesEncoded": 1 + i // 6, "framesSent": 300 * (i + 1),
                      "frameWidth": 1280, "frameHeight": 720, "framesPerSecond": 30, "qpSum": 7990 * (i + 1),
                      "totalEncodeTime": 2.1 * (i + 1), "targetBitrate": self.VIDEO_BPS, "hugeFramesSent": 0,
                      "qualityLimitationReason": "none", "qualityLimitationDurations": {"other": 0, "cpu": 0, "bandwidth": 0, "none": 10.0 * (i + 1)},
                      "qualityLimitationResolutionChanges": 0, "encoderImplementation": "libvpx",
                      "powerEfficientEncoder": False, "scalabilityMode": "L1T1", "pliCount": 0, "firCount": 0})
            r["track"] = {"id": "S2", "timestamp": ts, "type": "media-source", "kind": "video",
                          "trackIdentifier": self.track[kind], "width": 1280, "height": 720, "frames": 300 * (i + 1), "framesPerSecond": 30}
        else:
            r["targetBitrate"] = self.AUDIO_BPS
            r["track"] = {"id": "S1", "timestamp": ts, "type": "media-source", "kind": "audio", "trackIdentifier": self.track[kind],
                          "audioLevel": 0.0412, "totalAudioEnergy": 2.11 * (i + 1), "totalSamplesDuration": 10.0 * (i + 1),
                          "echoReturnLoss": -30, "echoReturnLossEnhancement": 0.17}
        self._rates(r, i, "bytesSent", "packetsSent", False)
        return r

    def remote_inbound(self, kind, i):
        """The peer's report on the stream we send."""
        return self._rtp(
            kind, "remote-inbound-rtp", self.time(i) - 412.5, jitter=round(self.jitter[kind] * 1.1, 6),
            packetsLost=self.totals(i)[kind]["remotePacketsLost"], localId=self._id(kind, "outbound-rtp"),
            roundTripTime=round(self.rtt, 6), totalRoundTripTime=round(self.rtt * 5 * (i + 1), 6),
            fractionLost=self.loss, roundTripTimeMeasurements=5 * (i + 1))

    def remote_outbound(self, kind, i):
        """The peer's report on the stream it sends us."""
        t = self.totals(i)[kind]
        return self._rtp(
            kind, "remote-outbound-rtp", self.time(i) - 380.0, packetsSent=t["packetsSent"],
            bytesSent=t["bytesSent"], localId=self._id(kind, "inbound-rtp"), remoteTimestamp=self.time(i) - 395.0,
            reportsSent=4 * (i + 1), roundTripTimeMeasurements=0)

    def pair(self, i):
        t = self.totals(i)
        ts = self.time(i)
        sent = sum(v["bytesSent"] for v in t.values()) + 1000 * (i + 1)
        received = sum(v["bytesReceived"] for v in t.values()) + 1000 * (i + 1)
        local = dict(self.local, timestamp=ts)
        remote = dict(self.remote_cand, timestamp=ts)
        return {
            "id": f"CP{local['id'][1:]}_{remote['id'][1:]}",
            "timestamp": ts,
            "type": "candidate-pair",
            "transportId": "T01",
            "localCandidateId": local["id"],
            "remoteCandidateId": remote["id"],
            "state": "succeeded",
            "priority": 9114723795186310000,
            "nominated": True,
            "writable": True,
            "packetsSent": sum(v["packetsSent"] for v in t.values()) + 10 * (i + 1),
            "packetsReceived": sum(v["packetsReceived"] for v in t.values()) + 10 * (i + 1),
            "bytesSent": sent,
            "bytesReceived": received,
            "totalRoundTripTime": round(self.rtt * 4 * (i + 1), 6),
            "currentRoundTripTime": round(self.rtt, 3),
            "availableOutgoingBitrate": 1_520_000 + 1000 * (i % 7),
            "requestsReceived": 4 * (i + 1),
            "requestsSent": 4 * (i + 1) + 1,
            "responsesReceived": 4 * (i + 1),
            "responsesSent": 4 * (i + 1),
            "consentRequestsSent": 4 * (i + 1),
            "packetsDiscardedOnSend": 0,
            "bytesDiscardedOnSend": 0,
            "lastPacketReceivedTimestamp": ts - 3.0,
            "lastPacketSentTimestamp": ts - 2.0,
            "local": local,
            "remote": remote,
        }

    def sample(self, i):
        """parseStats' object for sample i."""
        data = {k: {"inbound": [], "outbound": []} for k in ("audio", "video")}
        for k in self.kinds:
            data[k]["inbound"].append(self.inbound(k, i))
            data[k]["outbound"].append(self.outbound(k, i))
        data["connection"] = self.pair(i)
        if self.remote:
            data["remote"] = {k: {"inbound": [], "outbound": []} for k in ("audio", "video")}
            for k in self.kinds:
                data["remote"][k]["inbound"].append(self.remote_inbound(k, i))
                data["remote"][k]["outbound"].append(self.remote_outbound(k, i))
        return data


def stats_body(token, peer_id, connection_id, data, time_taken=3, delta=None):
    """A /stats body as sendWebrtcStats posts it."""
    body = {"data": data, "peerId": peer_id, "connectionId": connection_id, "timeTaken": time_taken, "token": token}
    if delta is not None:
        body["delta"] = delta
    return body


def large_stats_data(seed=1, min_bytes=100 * 1024):
    """parseStats' object of a connection to an SFU forwarding many
    participants' audio and video: inbound reports until the JSON is at
    least min_bytes."""
    call = Call(seed)
    data = call.sample(4)
    n = 0
    while len(dumps(data)) < min_bytes:
        n += 1
        other = Call(seed * 1000 + n)
        for k in ("audio", "video"):
            data[k]["inbound"].append(other.inbound(k, 4))
    return data


STATE_EVENTS = {
    "oniceconnectionstatechange": ("new", "checking", "connected", "completed", "failed", "disconnected", "closed"),
    "onconnectionstatechange": ("new", "connecting", "connected", "disconnected", "failed", "closed"),
    "onicegatheringstatechange": ("new", "gathering", "complete"),
}
SIGNALING_STATES = ("stable", "have-local-offer", "have-remote-offer", "have-local-pranswer",
                    "have-remote-pranswer", "closed")


def sdp(rng, kind="offer"):
    """A session description as Chrome writes it for one audio and one video
    section (its size, not its every line, is what matters here)."""
    sess = rng.randint(10 ** 18, 10 ** 19 - 1)
    ufrag, pwd, fp = _hex(rng, 4), _hex(rng, 24), ":".join(_hex(rng, 2).upper() for _ in range(32))
    lines = ["v=0", f"o=- {sess} 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
             "a=extmap-allow-mixed", "a=msid-semantic: WMS stream"]
    for mid, (media, pts) in enumerate((("audio", "111 63 9 0 8 13 110 126"),
                                        ("video", "96 97 102 103 104 105 106 107 108 109 127 125 39 40"))):
        lines += [f"m={media} 9 UDP/TLS/RTP/SAVPF {pts}", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
                  f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}", "a=ice-options:trickle",
                  f"a=fingerprint:sha-256 {fp}", "a=setup:" + ("actpass" if kind == "offer" else "active"),
                  f"a=mid:{mid}", "a=sendrecv", f"a=msid:stream {_hex(rng, 8)}-{_hex(rng, 4)}", "a=rtcp-mux"]
        for pt in pts.split():
            lines += [f"a=rtpmap:{pt} {'opus/48000/2' if media == 'audio' else 'VP8/90000'}",
                      f"a=rtcp-fb:{pt} transport-cc", f"a=fmtp:{pt} minptime=10;useinbandfec=1"]
        lines.append(f"a=ssrc:{rng.randint(1 << 20, 1 << 32)} cname:{_hex(rng, 16)}")
    return "\r\n".join(lines) + "\r\n"


def signaling_data(rng, state):
    """onsignalingstatechange's data: the state and both descriptions."""
    local = {"type": "offer", "sdp": sdp(rng, "offer")} if state != "stable" or rng.random() < 0.5 else None
    remote = {"type": "answer", "sdp": sdp(rng, "answer")} if state == "stable" and local else None
    return {"signalingState": state, "localDescription": local, "remoteDescription": remote}


def add_connection(token, peer_id, peer_name=None, connection_state="new", is_sfu=False):
    """The SDK's addConnection body (the answer holds the server's ids)."""
    body = {"eventName": "addConnection", "peerId": peer_id, "connectionState": connection_state, "isSfu": is_sfu,
            "token": token}
    if peer_name is not None:
        body["peerName"] = peer_name
    return body


def connection_event(token, peer_id, connection_id, event, data=None, delta=None):
    """A /connection body: a state change carries the state as `data`
    (onsignalingstatechange: signaling_data())."""
    body = {"eventName": event, "peerId": peer_id, "connectionId": connection_id, "data": data, "token": token}
    if delta is not None:
        body["delta"] = delta
    return body


def ice_candidate_data(rng, ctype="host", protocol="udp"):
    """onicecandidate's data: the fields _handleConnectionEvent keeps."""
    c = candidate(rng, ctype, protocol, False)
    return {
        "address": c["ip"], "candidate": f"candidate:{c['foundation']} 1 {protocol} {c['priority']} {c['ip']} {c['port']} typ {ctype} generation 0 ufrag {c['usernameFragment']} network-id 1",
        "component": "rtp", "foundation": c["foundation"], "port": c["port"], "priority": c["priority"],
        "protocol": protocol, "relatedAddress": c.get("relatedAddress"), "relatedPort": c.get("relatedPort"),
        "sdpMLineIndex": 0, "sdpMid": "0", "tcpType": c.get("tcpType"), "type": ctype,
        "usernameFragment": c["usernameFragment"],
    }


def batch_items(seed, peer_id, connection_id, min_bytes):
    """Connection events as the SDK batches them (candidates gathered, state
    changes, negotiation), until their JSON is at least min_bytes."""
    rng = random.Random(seed)
    items = []
    size = 2
    states = list(STATE_EVENTS.items())
    while size < min_bytes:
        r = rng.random()
        if r < 0.7:
            event, data = "onicecandidate", ice_candidate_data(rng, rng.choice(("host", "srflx", "relay")),
                                                               rng.choice(("udp", "udp", "tcp")))
        elif r < 0.9:
            event, values = states[rng.randrange(len(states))]
            data = rng.choice(values[:-1])  # a benign state, never "failed"/"closed" at random
            if data == "failed":
                data = values[0]
        elif r < 0.95:
            event, data = "onsignalingstatechange", signaling_data(rng, rng.choice(SIGNALING_STATES[:-1]))
        else:
            event, data = "onnegotiationneeded", None
        item = {"eventName": event, "peerId": peer_id, "connectionId": connection_id,
                "timeDelta": rng.randint(0, 499), "data": data}
        items.append(item)
        size += len(dumps(item)) + 1
    return items


def batch_body(token, peer_id, connection_id, min_bytes=100 * 1024, seed=1, delta=None):
    """A /connection/batch body of at least min_bytes."""
    body = {"token": token, "data": batch_items(seed, peer_id, connection_id, min_bytes - 64)}
    if delta is not None:
        body["delta"] = delta
    return body


def gum_event(token, kind="constraints", error_name="NotAllowedError", delta=None):
    """A /events/get-user-media body: the constraints asked ("constraints"),
    the stream obtained ("stream"), or the error ("error")."""
    if kind == "constraints":
        data = {"constraints": {"audio": {"echoCancellation": True, "noiseSuppression": True},
                                "video": {"width": {"ideal": 1280}, "height": {"ideal": 720}, "frameRate": 30}}}
    elif kind == "stream":
        data = {"id": "{1b0c5a9e-3f6d-4c1e-9a5b-2d7e8f901234}", "active": True,
                "tracks": [{"id": "a1", "kind": "audio", "label": "Default - MacBook Pro Microphone (Built-in)",
                            "enabled": True, "muted": False, "readyState": "live"},
                           {"id": "v1", "kind": "video", "label": "FaceTime HD Camera (Built-in) (05ac:8514)",
                            "enabled": True, "muted": False, "readyState": "live"}]}
    else:
        messages = {"NotAllowedError": "Permission denied", "NotFoundError": "Requested device not found",
                    "NotReadableError": "Could not start video source", "OverconstrainedError": ""}
        data = {"error": {"name": error_name, "message": messages.get(error_name, "")}}
    body = {"eventName": "getUserMedia", "data": data, "token": token}
    if delta is not None:
        body["delta"] = delta
    return body
