"""ferry's TCP wire, rebuilt in Python from the documents alone.

Shared by tests/interop/link_interop.py (a live session with ferryd) and
scripts/gen-link-corpus (the seeds of tests/fuzz/fuzz_link.c).  Nothing
here calls ferry's C code:

- node identities follow docs/identity.md: the two subkeys are BLAKE2b
  with key, salt and personalisation (hashlib), the Ed25519 and X25519
  public keys come from python3-cryptography (OpenSSL), the card is
  base32 from the base64 module;
- the Noise handshake is Debian's python3-dissononce (docs/noise.md),
  with CipherState.rekey() patched to the spec as in
  scripts/gen-noise-vectors;
- hop frames follow docs/hop.md (u8 type, u24be length, body; field
  bodies are u8 tag, u16be length, value).

Importing this module raises ImportError when dissononce or cryptography
is missing; callers turn that into a skip.
"""

import base64
import hashlib
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from dissononce.cipher.chachapoly import ChaChaPolyCipher
from dissononce.dh.private import PrivateKey
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.extras.dh.dangerous.dh_nogen import NoGenDH
from dissononce.hash.sha256 import SHA256Hash
from dissononce.processing.handshakepatterns.interactive.IK import \
    IKHandshakePattern
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState


def _spec_rekey(self):
    """Noise rev 34, 4.2 and 5.1: k = REKEY(k)[:32], n unchanged.

    dissononce 0.34.3 keeps the 16-byte tag in the new key and resets the
    nonce; see scripts/gen-noise-vectors, which checks this replacement.
    """
    self._key = self._cipher.rekey(self._key)[:32]


CipherState.rekey = _spec_rekey

# ------------------------------------------------------------- constants

PREAMBLE = b"ferry-tcp/1\n"  # sent first by the caller; the Noise prologue
MSG1_LEN = 96                 # IK message 1 with an empty payload
MSG2_LEN = 48                 # IK message 2 with an empty payload
TAG_LEN = 16                  # ChaChaPoly tag of every record
RECORD_MAX = 65535            # bytes of a Noise transport message
PLAIN_MAX = RECORD_MAX - TAG_LEN  # 65,519 bytes of frames per record
FRAME_HDR = 4
CHUNK_HDR = 24                # id + offset before a CHUNK's bytes

HELLO, MSG, REFUSE, CHUNK, END, CUSTODY, RESUME, KEEPALIVE, REKEY, CLOSE = \
    range(1, 11)
TYPE_NAMES = {HELLO: "HELLO", MSG: "MSG", REFUSE: "REFUSE", CHUNK: "CHUNK",
              END: "END", CUSTODY: "CUSTODY", RESUME: "RESUME",
              KEEPALIVE: "KEEPALIVE", REKEY: "REKEY", CLOSE: "CLOSE"}


# -------------------------------------------------------------- identity

def _kdf(seed, subkey_id):
    """libsodium 1.0.18 crypto_kdf_derive_from_key(32, id, "ferry-id")."""
    return hashlib.blake2b(b"", digest_size=32, key=seed,
                           salt=struct.pack("<Q", subkey_id) + bytes(8),
                           person=b"ferry-id" + bytes(8)).digest()


class Identity:
    """A node identity derived from its 32-byte seed (docs/identity.md)."""

    def __init__(self, seed):
        if len(seed) != 32:
            raise ValueError("a seed is 32 bytes")
        self.seed = seed
        sign = ed25519.Ed25519PrivateKey.from_private_bytes(_kdf(seed, 1))
        self.sign_pk = sign.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        # Subkey 2 is the X25519 secret as derived (X25519 clamps it).
        self.kx = X25519DH().generate_keypair(PrivateKey(_kdf(seed, 2)))
        self.kx_pk = self.kx.public.data

    def card(self):
        """"ferry1" + base32(version 1 || sign_pk || kx_pk || checksum)."""
        body = bytes([1]) + self.sign_pk + self.kx_pk
        check = hashlib.blake2b(b"ferry-card-v1" + body,
                                digest_size=32).digest()[:4]
        b32 = base64.b32encode(body + check).decode("ascii")
        return "ferry1" + b32.rstrip("=").lower()


def parse_card(card):
    """(sign_pk, kx_pk) of a card; ValueError if it is not a good one."""
    card = card.strip().lower()
    if not card.startswith("ferry1") or len(card) != 117:
        raise ValueError("not a ferry card: %r" % card)
    raw = base64.b32decode(card[6:].upper() + "=")
    body, check = raw[:65], raw[65:]
    want = hashlib.blake2b(b"ferry-card-v1" + body, digest_size=32).digest()
    if body[0] != 1 or check != want[:4]:
        raise ValueError("card checksum or version wrong: %r" % card)
    return body[1:33], body[33:65]


# ----------------------------------------------------------------- Noise

def handshake_state(e_sk=None):
    """A fresh IK HandshakeState; e_sk fixes the ephemeral secret."""
    dh = X25519DH()
    if e_sk is not None:
        dh = NoGenDH(dh, PrivateKey(e_sk))
    return HandshakeState(
        SymmetricState(CipherState(ChaChaPolyCipher()), SHA256Hash()), dh)


def initiator(static_kp, responder_pk, e_sk=None):
    """An IK initiator with the ferry prologue."""
    hs = handshake_state(e_sk)
    hs.initialize(IKHandshakePattern(), True, PREAMBLE, s=static_kp,
                  rs=X25519DH().create_public(responder_pk))
    return hs


def responder(static_kp, e_sk=None):
    """An IK responder with the ferry prologue."""
    hs = handshake_state(e_sk)
    hs.initialize(IKHandshakePattern(), False, PREAMBLE, s=static_kp)
    return hs


def write_msg(hs):
    """The next handshake message with an empty payload, and the split
    cipher states when it was the last one (else None)."""
    buf = bytearray()
    split = hs.write_message(b"", buf)
    return bytes(buf), split


def u16(data):
    """data behind its u16 big-endian length, as every message on TCP."""
    if len(data) > 0xffff:
        raise ValueError("%d bytes do not fit a u16 length" % len(data))
    return struct.pack(">H", len(data)) + data


# ------------------------------------------------------------ hop frames

def frame(ftype, body=b""):
    """One frame: u8 type, u24be body length, body."""
    return struct.pack(">B", ftype) + struct.pack(">I", len(body))[1:] + body


def field(tag, value):
    """One field of a HELLO, MSG or CLOSE body: u8 tag, u16be len, value."""
    return struct.pack(">BH", tag, len(value)) + value


def hello(node, version=1, max_record=RECORD_MAX, keepalive_ms=30000,
          clock_ms=0):
    return frame(HELLO, field(1, bytes([version])) +
                 field(2, node.encode()) +
                 field(3, struct.pack(">H", max_record)) +
                 field(4, struct.pack(">I", keepalive_ms)) +
                 field(5, struct.pack(">q", clock_ms)))


def msg(msg_id, src, dst, queue, payload_len, priority=3, flags=0,
        created_ms=0, ttl_ms=0, offset=0, reply_to="", correlation="",
        path=None, hop_limit=None, origin_sig=None, body=None):
    """A MSG frame.  The relaying fields (docs/routing.md) are sent only
    when given: path (str, tag 13; "" sends an empty field), hop_limit
    (int, tag 14, one byte) and origin_sig (bytes, tag 15, sent as given,
    whatever their length, for negative tests); body (bytes, tag 19: the
    whole payload in the MSG, no CHUNK nor END after it)."""
    b = (field(1, msg_id) + field(2, src.encode()) +
            field(3, dst.encode()) + field(4, queue.encode()))
    if reply_to:
        b += field(5, reply_to.encode())
    if correlation:
        b += field(6, correlation.encode())
    b += (field(7, bytes([priority])) + field(8, struct.pack(">I", flags)) +
             field(9, struct.pack(">q", created_ms)) +
             field(10, struct.pack(">Q", ttl_ms)) +
             field(11, struct.pack(">Q", payload_len)) +
             field(12, struct.pack(">Q", offset)))
    if path is not None:
        b += field(13, path.encode())
    if hop_limit is not None:
        b += field(14, bytes([hop_limit]))
    if origin_sig is not None:
        b += field(15, origin_sig)
    if body is not None:
        b += field(19, body)
    return frame(MSG, b)


def chunk(msg_id, offset, data):
    return frame(CHUNK, msg_id + struct.pack(">Q", offset) + data)


def payload_hash(payload):
    """What END carries: BLAKE2b-256 of the whole payload."""
    return hashlib.blake2b(payload, digest_size=32).digest()


def end(msg_id, payload):
    return frame(END, msg_id + struct.pack(">Q", len(payload)) +
                 payload_hash(payload))


def custody(ids):
    return frame(CUSTODY, struct.pack(">H", len(ids)) + b"".join(ids))


def resume(msg_id, offset):
    return frame(RESUME, msg_id + struct.pack(">Q", offset))


def refuse(msg_id, reason, offset=0):
    return frame(REFUSE, msg_id + bytes([reason]) + struct.pack(">Q", offset))


def keepalive(time_ms=None):
    """Empty, or carrying the sender's clock (u64 signed)."""
    return frame(KEEPALIVE,
                 b"" if time_ms is None else struct.pack(">q", time_ms))


def rekey():
    return frame(REKEY)


def close(code, text=""):
    return frame(CLOSE, field(1, struct.pack(">H", code)) +
                 (field(2, text.encode()) if text else b""))


def message_records(msg_id, src, dst, queue, payload, plain_max=PLAIN_MAX,
                    **kw):
    """The records that carry one whole message: the MSG, as many CHUNKs
    as fit in each record (at least one byte each), and the END.  Frames
    share records where they fit; none spans two."""
    records, cur = [], msg(msg_id, src, dst, queue, len(payload), **kw)
    off = 0
    while off < len(payload):
        room = plain_max - len(cur) - FRAME_HDR - CHUNK_HDR
        if room < 1:
            records.append(cur)
            cur = b""
            continue
        part = payload[off:off + room]
        cur += chunk(msg_id, off, part)
        off += len(part)
    last = end(msg_id, payload)
    if len(cur) + len(last) > plain_max:
        records.append(cur)
        cur = b""
    records.append(cur + last)
    return records


def frames(record):
    """The (type, body) frames of one decrypted record; ValueError if a
    header is cut short or a length runs past the record."""
    out, off = [], 0
    while off < len(record):
        if len(record) - off < FRAME_HDR:
            raise ValueError("frame header cut short at %d" % off)
        ftype = record[off]
        n = struct.unpack(">I", b"\0" + record[off + 1:off + 4])[0]
        off += FRAME_HDR
        if n > len(record) - off:
            raise ValueError("frame of %d bytes past the record" % n)
        out.append((ftype, record[off:off + n]))
        off += n
    return out


def fields(body):
    """{tag: value} of a field body; ValueError on a malformed one."""
    out, off = {}, 0
    while off < len(body):
        if len(body) - off < 3:
            raise ValueError("field header cut short")
        tag, n = struct.unpack(">BH", body[off:off + 3])
        off += 3
        if tag == 0 or tag in out or n > len(body) - off:
            raise ValueError("bad field %d" % tag)
        out[tag] = body[off:off + n]
        off += n
    return out


def parse_hello(body):
    """A HELLO body as a dict (version, node, max_record, keepalive_ms,
    clock_ms); ValueError when a required field is missing."""
    f = fields(body)
    try:
        return {
            "version": struct.unpack(">B", f[1])[0],
            "node": f[2].decode(),
            "max_record": struct.unpack(">H", f[3])[0],
            "keepalive_ms": struct.unpack(">I", f[4])[0],
            "clock_ms": struct.unpack(">q", f[5])[0],
            # tag 6, optional: the features it takes (0x1 CHUNKZ, 0x2 MSG body)
            "features": struct.unpack(">I", f[6])[0] if 6 in f else 0,
        }
    except (KeyError, struct.error) as e:
        raise ValueError("bad HELLO: %s" % e)


def parse_custody(body):
    """The 16-byte ids of a CUSTODY body."""
    count = struct.unpack(">H", body[:2])[0]
    if count == 0 or len(body) != 2 + 16 * count:
        raise ValueError("bad CUSTODY of %d bytes" % len(body))
    return [body[2 + 16 * i:18 + 16 * i] for i in range(count)]


def parse_close(body):
    """(code, text) of a CLOSE body."""
    f = fields(body)
    return struct.unpack(">H", f[1])[0], f.get(2, b"").decode("utf-8",
                                                             "replace")
