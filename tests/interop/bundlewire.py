"""ferry's sealed offline bundles (docs/formats.md), rebuilt in Python from
the documents alone.

Used by tests/interop/bundle_interop.py against ferry's C code
(tests/interop/bundle_peer).  Nothing here calls ferry's C code:

- identities follow docs/identity.md: the subkeys are BLAKE2b with key,
  salt and personalisation (hashlib), the Ed25519 key pair and labelled
  signatures are PyNaCl's nacl.signing, the X25519 public key is
  dissononce's;
- the key wrap is Noise_K_25519_ChaChaPoly_SHA256 from Debian's
  python3-dissononce (pattern K: pre-messages -> s, <- s; -> e, es, ss);
- the body key is crypto_kdf_derive_from_key rebuilt from hashlib's BLAKE2b
  (docs/identity.md section 2), the body is PyNaCl's binding of
  crypto_secretstream_xchacha20poly1305.

Importing this module raises ImportError when dissononce or PyNaCl is
missing; callers turn that into a skip.
"""

import hashlib
import os
import struct

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing

from dissononce.cipher.chachapoly import ChaChaPolyCipher
from dissononce.dh.private import PrivateKey
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.exceptions.decrypt import DecryptFailedException
from dissononce.hash.sha256 import SHA256Hash
from dissononce.processing.handshakepatterns.oneway.K import \
    KHandshakePattern
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState

MAGIC = b"FERRYBDL"
VERSION = 1
KIND_HOP = 1
FLAG_ZSTD = 0x0001  # frames may include CHUNKZ (docs/formats.md 1.1)
HDR_LEN = 128
WRAP_LEN = 80
SS_HDR_LEN = 24
SS_ABYTES = 17
SIG_LEN = 64
CHUNK_DEFAULT = 65536
CHUNK_MIN = 4096
CHUNK_MAX = 1048576
SIGN_LABEL = b"ferry-bundle-v1"
BODY_KDF_CTX = b"ferrybdy"
SIZE_OFF = 112  # the size field, zero in the prologue

TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL

assert sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES == SS_HDR_LEN
assert sodium.crypto_secretstream_xchacha20poly1305_ABYTES == SS_ABYTES


class BundleError(Exception):
    """A bundle refused; .step is the step of docs/formats.md 1.5."""

    def __init__(self, step, why):
        super().__init__("step %d: %s" % (step, why))
        self.step = step


# -------------------------------------------------------------- identity

def kdf(key, subkey_id, ctx):
    """libsodium 1.0.18 crypto_kdf_derive_from_key(32, subkey_id, ctx, key):
    BLAKE2b-256 of nothing, keyed, salt = id (u64 LE) || 8 zero bytes,
    personalisation = ctx || 8 zero bytes."""
    assert len(ctx) == 8 and len(key) == 32
    return hashlib.blake2b(b"", digest_size=32, key=key,
                           salt=struct.pack("<Q", subkey_id) + bytes(8),
                           person=ctx + bytes(8)).digest()


def node_id(sign_pk, kx_pk):
    return hashlib.blake2b(b"ferry-node-id-v1" + sign_pk + kx_pk,
                           digest_size=32).digest()


def _digest(label, msg):
    """BLAKE2b-512(u8 len(label) || label || msg)."""
    return hashlib.blake2b(bytes([len(label)]) + label + msg,
                           digest_size=64).digest()


class Identity:
    """A node identity derived from its 32-byte seed (docs/identity.md)."""

    def __init__(self, seed):
        if len(seed) != 32:
            raise ValueError("a seed is 32 bytes")
        self.seed = seed
        self.signer = nacl.signing.SigningKey(kdf(seed, 1, b"ferry-id"))
        self.sign_pk = bytes(self.signer.verify_key)
        # Subkey 2 is the X25519 secret as derived (X25519 clamps it).
        self.kx = X25519DH().generate_keypair(
            PrivateKey(kdf(seed, 2, b"ferry-id")))
        self.kx_pk = self.kx.public.data
        self.node_id = node_id(self.sign_pk, self.kx_pk)

    def sign(self, label, msg):
        """A labelled signature (docs/identity.md section 5)."""
        return self.signer.sign(_digest(label, msg)).signature


def verify(sign_pk, label, msg, sig):
    """True if sig is sign_pk's labelled signature of msg."""
    try:
        nacl.signing.VerifyKey(sign_pk).verify(_digest(label, msg), sig)
        return True
    except (nacl.exceptions.BadSignatureError, ValueError):
        return False


def _hs():
    return HandshakeState(
        SymmetricState(CipherState(ChaChaPolyCipher()), SHA256Hash()),
        X25519DH())


# ---------------------------------------------------------------- header

def encode_header(sender_id, rcpt_id, bundle_id, seq, created_ms, size,
                  chunk=CHUNK_DEFAULT, version=VERSION, kind=KIND_HOP,
                  flags=0):
    h = (MAGIC + struct.pack(">BBHI", version, kind, flags, chunk) +
         sender_id + rcpt_id + bundle_id +
         struct.pack(">QqQ", seq, created_ms, size) + bytes(8))
    assert len(h) == HDR_LEN
    return h


def decode_header(h):
    """The header's fields as a dict (no checks)."""
    version, kind, flags, chunk = struct.unpack(">BBHI", h[8:16])
    seq, created_ms, size = struct.unpack(">QqQ", h[96:120])
    return {"magic": h[:8], "version": version, "kind": kind,
            "flags": flags, "chunk": chunk, "sender": h[16:48],
            "recipient": h[48:80], "id": h[80:96], "seq": seq,
            "created_ms": created_ms, "size": size, "reserved": h[120:128]}


def size_for(plain, chunk=CHUNK_DEFAULT):
    """Bytes of a bundle carrying plain frame bytes."""
    nchunks = max(1, -(-plain // chunk))
    return HDR_LEN + WRAP_LEN + SS_HDR_LEN + plain + nchunks * SS_ABYTES + \
        SIG_LEN


# ---------------------------------------------------------------- writer

def write_bundle(sender_seed, rcpt_seed, seq, frames, chunk=CHUNK_DEFAULT,
                 created_ms=1700000000000, bundle_id=None, signer=None,
                 wrap_from=None):
    """A sealed bundle of frames (bytes) from sender to recipient.

    For negative tests: signer, an Identity, signs the trailer instead of
    the sender; wrap_from, an Identity, seals the key wrap with its X25519
    key instead of the sender's.  The header still names the sender."""
    me, rcpt = Identity(sender_seed), Identity(rcpt_seed)
    signer = signer or me
    wrap_from = wrap_from or me
    bundle_id = bundle_id if bundle_id is not None else os.urandom(16)
    size = size_for(len(frames), chunk)
    header = encode_header(me.node_id, rcpt.node_id, bundle_id, seq,
                           created_ms, size, chunk)
    prologue = header[:SIZE_OFF] + bytes(8) + header[SIZE_OFF + 8:]

    file_key = os.urandom(32)
    hs = _hs()
    hs.initialize(KHandshakePattern(), True, prologue, s=wrap_from.kx,
                  rs=rcpt.kx.public)
    wrap = bytearray()
    hs.write_message(file_key, wrap)
    wrap = bytes(wrap)
    assert len(wrap) == WRAP_LEN

    body_key = kdf(file_key, 1, BODY_KDF_CTX)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sshdr = sodium.crypto_secretstream_xchacha20poly1305_init_push(state,
                                                                   body_key)
    parts = [wrap, sshdr]
    off = 0
    while True:
        piece = frames[off:off + chunk]
        off += len(piece)
        last = off >= len(frames)
        parts.append(sodium.crypto_secretstream_xchacha20poly1305_push(
            state, piece, None, TAG_FINAL if last else TAG_MESSAGE))
        if last:
            break
    body = b"".join(parts)
    sig = signer.sign(SIGN_LABEL,
                      header + hashlib.blake2b(body, digest_size=64).digest())
    out = header + body + sig
    assert len(out) == size
    return out


# ---------------------------------------------------------------- reader

def read_bundle(rcpt_seed, sender_seed, data):
    """The frame bytes of a bundle, checked as docs/formats.md 1.5 steps
    1, 2, 6, 7 and 8 say (3 to 5 are the agent's: the sender is taken
    from sender_seed).  Raises BundleError naming the step."""
    me, sender = Identity(rcpt_seed), Identity(sender_seed)

    # 1. size of the file = header size, magic, version, kind, flags,
    #    chunk size
    if len(data) < HDR_LEN:
        raise BundleError(1, "shorter than a header")
    header = data[:HDR_LEN]
    h = decode_header(header)
    if h["magic"] != MAGIC:
        raise BundleError(1, "bad magic")
    if len(data) != h["size"]:
        raise BundleError(1, "file has %d bytes, header says %d"
                          % (len(data), h["size"]))
    if h["version"] != VERSION:
        raise BundleError(1, "version %d" % h["version"])
    if h["kind"] != KIND_HOP:
        raise BundleError(1, "kind %d" % h["kind"])
    if h["flags"] & ~FLAG_ZSTD:
        raise BundleError(1, "flags %#x" % h["flags"])
    if not CHUNK_MIN <= h["chunk"] <= CHUNK_MAX:
        raise BundleError(1, "chunk size %d" % h["chunk"])
    # Not named in 1.5 step 1, but the table of 1.1 says so (and ferry's
    # bundle_hdr_decode checks both there).
    if h["seq"] == 0:
        raise BundleError(1, "sequence number 0")
    if h["reserved"] != bytes(8):
        raise BundleError(1, "reserved bytes not zero")
    if h["size"] < HDR_LEN + WRAP_LEN + SS_HDR_LEN + SS_ABYTES + SIG_LEN:
        raise BundleError(1, "size %d below the minimum" % h["size"])

    # 2. recipient is this node
    if h["recipient"] != me.node_id:
        raise BundleError(2, "addressed to another node")
    # (3: the sender is the one we were given)
    if h["sender"] != sender.node_id:
        raise BundleError(3, "not from the given sender")

    # 6. key wrap opens
    prologue = header[:SIZE_OFF] + bytes(8) + header[SIZE_OFF + 8:]
    wrap = data[HDR_LEN:HDR_LEN + WRAP_LEN]
    hs = _hs()
    hs.initialize(KHandshakePattern(), False, prologue, s=me.kx,
                  rs=sender.kx.public)
    file_key = bytearray()
    try:
        hs.read_message(wrap, file_key)
    except DecryptFailedException as e:
        raise BundleError(6, "key wrap does not open: %r" % e)
    if len(file_key) != 32:
        raise BundleError(6, "file key of %d bytes" % len(file_key))

    # 7. every chunk opens, FINAL exactly on the last
    pos = HDR_LEN + WRAP_LEN
    sshdr = data[pos:pos + SS_HDR_LEN]
    pos += SS_HDR_LEN
    body_end = len(data) - SIG_LEN
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(
        state, sshdr, kdf(bytes(file_key), 1, BODY_KDF_CTX))
    clen = h["chunk"] + SS_ABYTES
    plain = []
    while True:
        ct = data[pos:min(pos + clen, body_end)]
        if len(ct) < SS_ABYTES:
            raise BundleError(7, "a chunk at byte %d is cut short" % pos)
        try:
            pt, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                state, ct, None)
        except nacl.exceptions.CryptoError as e:
            raise BundleError(7, "chunk at byte %d: %r" % (pos, e))
        pos += len(ct)
        last = pos == body_end
        if last and tag != TAG_FINAL:
            raise BundleError(7, "last chunk not FINAL")
        if not last and tag != TAG_MESSAGE:
            raise BundleError(7, "tag %d before the end at %d" % (tag, pos))
        if not last and len(pt) != h["chunk"]:
            raise BundleError(7, "a chunk of %d plaintext bytes" % len(pt))
        plain.append(pt)
        if last:
            break

    # 8. signature verifies
    signed = header + hashlib.blake2b(data[HDR_LEN:body_end],
                                      digest_size=64).digest()
    if not verify(sender.sign_pk, SIGN_LABEL, signed, data[body_end:]):
        raise BundleError(8, "signature does not verify")
    return b"".join(plain)


def split_frames(stream):
    """(type, body) of each hop frame in a stream; ValueError if the last
    one is cut short."""
    out, off = [], 0
    while off < len(stream):
        if len(stream) - off < 4:
            raise ValueError("frame header cut short at %d" % off)
        ftype = stream[off]
        n = int.from_bytes(stream[off + 1:off + 4], "big")
        if len(stream) - off - 4 < n:
            raise ValueError("frame body cut short at %d" % off)
        out.append((ftype, stream[off + 4:off + 4 + n]))
        off += 4 + n
    return out
