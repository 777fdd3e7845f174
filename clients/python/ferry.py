"""ferry - a pure-Python client of ferryd's local API.

Speaks the protocol of docs/protocol.md (version 1) over ferryd's Unix
socket, the way libferry (lib/client.c, lib/request.c) does, with the
standard library only:

    import ferry

    with ferry.connect() as c:              # FERRY_SOCKET, or the default
        mid = c.send("base/reports", b"water level 3.2 m", priority=7)
        msg = c.recv("reports", wait=5)     # taken and acked
        print(msg.id, msg.src, msg.payload)

Payloads of any size move in bounded memory: send() takes bytes or a
binary file object (read in 256 KiB pieces), and a received payload larger
than 64 KiB is not read into memory but offered as msg.stream, a file
object reading from the socket.

Times are in seconds (floats allowed); ids are 32 lower-case hex digits.
Every error is a ferry.Error, of the subclass named after its FERRY_E*
code (ferry.EEMPTY, ferry.ENOTFOUND, ...), with .code (the negative
number of lib/ferry_err.h) and .text (ferryd's words).

Bytes from the socket are untrusted: every length is checked against the
limits of lib/frame.c before anything is read or kept for it, and a frame
that breaks a rule raises ferry.EPROTO and ends the connection.

A Client is used by one thread at a time (as a libferry connection);
open one per thread.
"""

import collections
import io
import os
import select
import socket as _socket
import struct
import time

__version__ = "0.1.0"

__all__ = [
    "connect",
    "default_socket",
    "Client",
    "Message",
    "QueueInfo",
    "Subscription",
    "Error",
    "error_class",
    "strerror",
    "FOREVER",
    "PROTO_VERSION",
]

# ------------------------------------------------------------- limits

PROTO_VERSION = 1
FRAME_HDR = 12  # the length field + 8
FRAME_MAX = 1024 * 1024  # the length field's maximum
DATA_MAX = 256 * 1024  # payload bytes per DATA frame
INLINE_MAX = 64 * 1024  # payload carried in a SEND or MSG frame
ID_LEN = 16
NODE_MAX = 63
QUEUE_MAX = 127
CORR_MAX = 127
PRIO_MAX = 7
PRIO_DEFAULT = 3
DEAD_TEXT_MAX = 511
DEAD_HANDLER_FAILED = 6
REQUEST_MARGIN_MS = 60000  # a reply queue stays open this long past
REPLY_PREFIX = "reply."
WAIT_FOREVER_MS = (1 << 64) - 1
ERR_MIN = -24

FOREVER = float("inf")  # recv(wait=FOREVER)

# message flags
MSG_TRANSIENT = 0x1
MSG_RECEIPT = 0x2
MSG_TRACK = 0x4  # receipts from every relay too (ferry track)

# Message.origin: who vouches for its source (docs/routing.md section 7)
ORIGINS = {0: "unknown", 1: "local", 2: "peer", 3: "verified",
           4: "unverified", 5: "forged"}

# frame flags
FL_FIN = 0x01
FL_ABORT = 0x02
FL_ALL = FL_FIN | FL_ABORT

# frame types
F_HELLO = 1
F_SEND = 2
F_DATA = 3
F_RECV = 4
F_ACK = 5
F_NACK = 6
F_BROWSE = 7
F_QCREATE = 8
F_QLIST = 9
F_QPURGE = 10
F_QSTATS = 11
F_STATUS = 12
F_INFO = 13
F_SUBSCRIBE = 14
F_CREDIT = 15
F_UNSUBSCRIBE = 16
F_FETCH = 17
F_PEERS = 18
F_EXPORT = 19
F_IMPORT = 20
F_PARTIALS = 21
F_HELLO_OK = 64
F_OK = 65
F_ERROR = 66
F_MSG = 67
F_QINFO = 68
F_END = 69
F_STATUS_OK = 70
F_INFO_OK = 71
F_PEER = 72
F_PROGRESS = 73
F_SEND_FD = 74
F_PARTIAL = 75

_TYPE_NAMES = {
    v: k[2:] for k, v in globals().items() if k.startswith("F_") and k != "F_"
}


def _type_name(t):
    return _TYPE_NAMES.get(t, "type %d" % t)


# ------------------------------------------------------------- errors

_STRERROR = {
    0: "success",
    -1: "invalid argument",
    -2: "out of memory",
    -3: "input/output error",
    -4: "disk full: free space is below the configured reserve",
    -5: "store quota exceeded",
    -6: "queue quota exceeded",
    -7: "not found",
    -8: "duplicate: this message id was already accepted",
    -9: "queue is empty",
    -10: "lease not held: it ran out or the token is wrong",
    -11: "store was written by a newer version of ferry",
    -12: "data is corrupt",
    -13: "too large",
    -14: "not allowed in the current state",
    -15: "closed",
    -16: "busy: in use by another process or transfer",
    -17: "database error (see the log)",
    -18: "permission denied",
    -19: "protocol error",
    -20: "nothing available yet",
    -21: "cannot connect to ferryd: is it running, and is the socket "
    "path right?",
    -22: "timed out",
    -23: "too many clients: ferryd refused the connection",
    -24: "no route to that node",
}


def strerror(code):
    """What a FERRY_E* code means, in words (as ferry_strerror())."""
    return _STRERROR.get(code, "unknown error")


class Error(Exception):
    """An error of ferry: .code is the FERRY_E* number (negative), .name
    its name ("ENOTFOUND"), .text what went wrong (ferryd's words when
    ferryd said it).  EDUPLICATE also has .id, the id the message was
    stored under."""

    code = None
    name = "Error"

    def __init__(self, text=None, code=None, id=None):
        if code is not None:
            self.code = code
        self.text = text if text else strerror(self.code)
        self.id = id
        super().__init__(self.text)

    def __str__(self):
        return "%s (%s): %s" % (self.name, self.code, self.text)


class EINVAL(Error):
    """An argument or a field is out of range."""
    code, name = -1, "EINVAL"


class ENOMEM(Error):
    """Out of memory."""
    code, name = -2, "ENOMEM"


class EIO(Error):
    """The operating system reported an I/O error."""
    code, name = -3, "EIO"


class ENOSPC(Error):
    """Disk full (free space below the reserve)."""
    code, name = -4, "ENOSPC"


class EQUOTA(Error):
    """The store quota would be exceeded."""
    code, name = -5, "EQUOTA"


class EQUEUEQUOTA(Error):
    """The queue's quota would be exceeded."""
    code, name = -6, "EQUEUEQUOTA"


class ENOTFOUND(Error):
    """No such message, queue or transfer."""
    code, name = -7, "ENOTFOUND"


class EDUPLICATE(Error):
    """The message id was accepted before (.id: the stored id)."""
    code, name = -8, "EDUPLICATE"


class EEMPTY(Error):
    """Nothing to take."""
    code, name = -9, "EEMPTY"


class ELEASE(Error):
    """Lease not held (expired or wrong token)."""
    code, name = -10, "ELEASE"


class ESCHEMA(Error):
    """Store written by a newer ferry."""
    code, name = -11, "ESCHEMA"


class ECORRUPT(Error):
    """Stored or received data is damaged."""
    code, name = -12, "ECORRUPT"


class ETOOBIG(Error):
    """Larger than a configured limit."""
    code, name = -13, "ETOOBIG"


class ESTATE(Error):
    """Not allowed in the object's current state."""
    code, name = -14, "ESTATE"


class ECLOSED(Error):
    """The store or connection is closing."""
    code, name = -15, "ECLOSED"


class EBUSY(Error):
    """In use by another process or transfer."""
    code, name = -16, "EBUSY"


class EDB(Error):
    """Unexpected database error (see ferryd's log)."""
    code, name = -17, "EDB"


class EPERM(Error):
    """Permission denied."""
    code, name = -18, "EPERM"


class EPROTO(Error):
    """Malformed frame or protocol violation."""
    code, name = -19, "EPROTO"


class EAGAIN(Error):
    """Nothing yet (non-blocking mode)."""
    code, name = -20, "EAGAIN"


class ECONNECT(Error):
    """Cannot reach ferryd (or the connection was lost)."""
    code, name = -21, "ECONNECT"


class ETIMEDOUT(Error):
    """Waited long enough."""
    code, name = -22, "ETIMEDOUT"


class ETOOMANY(Error):
    """ferryd refused the connection: too many clients."""
    code, name = -23, "ETOOMANY"


class ENOROUTE(Error):
    """The node is neither this one nor a peer."""
    code, name = -24, "ENOROUTE"


_ERRORS = {
    cls.code: cls
    for cls in (
        EINVAL, ENOMEM, EIO, ENOSPC, EQUOTA, EQUEUEQUOTA, ENOTFOUND,
        EDUPLICATE, EEMPTY, ELEASE, ESCHEMA, ECORRUPT, ETOOBIG, ESTATE,
        ECLOSED, EBUSY, EDB, EPERM, EPROTO, EAGAIN, ECONNECT, ETIMEDOUT,
        ETOOMANY, ENOROUTE,
    )
}
__all__ += [cls.name for cls in _ERRORS.values()]


def error_class(code):
    """The Error subclass of a FERRY_E* code (Error for an unknown one)."""
    return _ERRORS.get(code, Error)


def _error(code, text=None, id=None):
    cls = _ERRORS.get(code)
    if cls is None:
        return Error(text, code=code, id=id)
    return cls(text, id=id)


# ------------------------------------------------------------- fields

# kinds of field values
_STR, _U8, _U32, _U64, _ID, _BYTES = range(6)

# tag: (name, kind, longest string in bytes) -- lib/frame.h, lib/frame.c
_TAGS = {
    1: ("dst_node", _STR, NODE_MAX),
    2: ("dst_queue", _STR, QUEUE_MAX),
    3: ("priority", _U8, 0),
    4: ("ttl_ms", _U64, 0),
    5: ("flags", _U32, 0),
    6: ("reply_to", _STR, QUEUE_MAX),
    7: ("correlation", _STR, CORR_MAX),
    8: ("payload_len", _U64, 0),
    9: ("payload", _BYTES, 0),
    10: ("id", _ID, 0),
    11: ("queue", _STR, QUEUE_MAX),
    12: ("lease_ms", _U64, 0),
    13: ("wait_ms", _U64, 0),
    14: ("token", _U64, 0),
    15: ("limit", _U32, 0),
    16: ("code", _U32, 0),
    17: ("text", _STR, 511),
    18: ("src_node", _STR, NODE_MAX),
    19: ("created_ms", _U64, 0),
    20: ("expires_ms", _U64, 0),
    21: ("state", _U8, 0),
    22: ("dead_reason", _U8, 0),
    23: ("deliveries", _U32, 0),
    24: ("count", _U64, 0),
    25: ("bytes", _U64, 0),
    26: ("max_bytes", _U64, 0),
    27: ("max_msgs", _U64, 0),
    28: ("leased", _U64, 0),
    29: ("version", _U32, 0),
    30: ("node", _STR, NODE_MAX),
    31: ("card", _STR, 159),
    32: ("fingerprint", _STR, 31),
    33: ("credit", _U32, 0),
    34: ("at_ms", _U64, 0),
    35: ("peer", _STR, NODE_MAX),
    36: ("status", _U8, 0),
    37: ("hop_since_ms", _U64, 0),
    38: ("stored_ms", _U64, 0),
    39: ("dead_ms", _U64, 0),
    40: ("peek", _U8, 0),
    41: ("out_count", _U64, 0),
    42: ("out_bytes", _U64, 0),
    43: ("lease_until_ms", _U64, 0),
    44: ("offset", _U64, 0),
    45: ("connected", _U8, 0),
    46: ("addr", _STR, 79),
    47: ("last_seen_ms", _U64, 0),
    48: ("next_retry_ms", _U64, 0),
    49: ("bytes_in", _U64, 0),
    50: ("bytes_out", _U64, 0),
    51: ("msgs_in", _U64, 0),
    52: ("msgs_out", _U64, 0),
    53: ("receipts", _STR, 2047),
    54: ("dir", _STR, 1023),
    55: ("peers", _STR, 1023),
    56: ("summary", _STR, 8191),
    57: ("segment", _U64, 0),
    58: ("total", _U64, 0),
    59: ("skew_ms", _U64, 0),
    60: ("medium", _STR, 199),
    61: ("medium_ms", _U64, 0),
    62: ("bundles", _U64, 0),
    63: ("rejected", _U64, 0),
    64: ("receiving", _U8, 0),
    65: ("hold", _U8, 0),
    66: ("via", _STR, 15),
    67: ("why", _STR, 511),
    68: ("origin", _U8, 0),
    69: ("path", _STR, 1023),
}
_TAG_OF = {name: tag for tag, (name, _k, _m) in _TAGS.items()}
_SIZE = {_U8: 1, _U32: 4, _U64: 8, _ID: ID_LEN}
_INT_FMT = {_U8: ">B", _U32: ">I", _U64: ">Q"}


def _encode(fields):
    """A body from (name, value) pairs; a value that breaks the rules of
    its tag is EINVAL (the caller's input, checked before sending)."""
    out = []
    for name, value in fields:
        tag = _TAG_OF[name]
        kind, longest = _TAGS[tag][1], _TAGS[tag][2]
        if kind == _STR:
            v = value.encode("utf-8") if isinstance(value, str) else value
            if len(v) > longest or b"\0" in v:
                raise EINVAL("%s: at most %d bytes of UTF-8 without NUL"
                             % (name, longest))
        elif kind in _INT_FMT:
            v = struct.pack(_INT_FMT[kind], value)
        elif kind == _ID:
            v = bytes(value)
            if len(v) != ID_LEN:
                raise EINVAL("an id is %d bytes" % ID_LEN)
        else:
            v = bytes(value)
        out.append(struct.pack(">BI", tag, len(v)))
        out.append(v)
    return b"".join(out)


def _decode(body):
    """The fields of a frame body, checked as ferry_fields_parse() does:
    a dict of name to value (str, int, or bytes for id and payload).
    Raises EPROTO with the rule that was broken."""
    fields = {}
    mv = memoryview(body)
    p, end = 0, len(body)
    while p < end:
        if end - p < 5:
            raise EPROTO("truncated field header")
        tag, n = struct.unpack_from(">BI", mv, p)
        p += 5
        if n > end - p:
            raise EPROTO("field longer than the frame")
        d = _TAGS.get(tag)
        if d is None:  # a newer agent's field (or tag 0): skip it
            p += n
            continue
        name, kind, longest = d
        if name in fields:
            raise EPROTO("duplicate field %s" % name)
        v = mv[p:p + n]
        if kind == _STR:
            if n > longest:
                raise EPROTO("string field %s too long (%d > %d bytes)"
                             % (name, n, longest))
            v = bytes(v)
            if b"\0" in v:
                raise EPROTO("NUL inside the string field %s" % name)
            fields[name] = v.decode("utf-8", "surrogateescape")
        elif kind == _BYTES:
            fields[name] = bytes(v)
        else:
            if n != _SIZE[kind]:
                raise EPROTO("field %s of wrong size (%d bytes)" % (name, n))
            if kind == _ID:
                fields[name] = bytes(v)
            else:
                fields[name] = struct.unpack(_INT_FMT[kind], v)[0]
        p += n
    return fields


# -------------------------------------------------------------- names


def _node_name_valid(name):
    # 1..63 of [a-z0-9-_.], not starting with '.' or '-' (ferry_msg.c)
    if not 0 < len(name) <= NODE_MAX or name[0] in ".-":
        return False
    return all(c.isascii() and (c.islower() or c.isdigit() or c in "-_.")
               for c in name)


def _queue_name_valid(name):
    # 1..127 of [A-Za-z0-9-_./], no empty path component, no ".."
    if not isinstance(name, str) or not 0 < len(name) <= QUEUE_MAX:
        return False
    for part in name.split("/"):
        if part == "" or part == "..":
            return False
        if not all(c.isascii() and (c.isalnum() or c in "-_.") for c in part):
            return False
    return True


def _check_queue(queue, what="queue"):
    if not _queue_name_valid(queue):
        raise EINVAL("%r is not a valid %s name (1 to 127 of A-Z a-z 0-9 "
                     "- _ . /, no empty part, no '..')" % (queue, what))
    return queue


def _parse_dest(dest):
    """"node/queue" into its parts, as ferry_parse_dest()."""
    if not isinstance(dest, str) or "/" not in dest:
        raise EINVAL("%r is not a NODE/QUEUE address" % (dest,))
    node, queue = dest.split("/", 1)
    # "@group/queue": one copy for every member (docs/groups.md)
    name = node[1:] if node.startswith("@") and len(node) <= NODE_MAX \
        else node
    if not _node_name_valid(name) or not _queue_name_valid(queue):
        raise EINVAL("%r is not a NODE/QUEUE address (node: 1 to 63 of "
                     "a-z 0-9 - _ .; queue: 1 to 127 of A-Z a-z 0-9 - _ "
                     ". /)" % (dest,))
    return node, queue


def _id_bytes(mid):
    """An id given as 32 hex digits, 16 bytes or a Message."""
    if isinstance(mid, Message):
        mid = mid.id
    if isinstance(mid, str):
        try:
            b = bytes.fromhex(mid)
        except ValueError:
            b = b""
        if len(mid) != 2 * ID_LEN or len(b) != ID_LEN:
            raise EINVAL("%r is not an id (32 hex digits)" % (mid,))
        return b
    if isinstance(mid, (bytes, bytearray, memoryview)) and \
            len(mid) == ID_LEN:
        return bytes(mid)
    raise EINVAL("%r is not an id (32 hex digits or 16 bytes)" % (mid,))


def _ms(seconds, what):
    """Seconds (int or float, >= 0) as whole milliseconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or seconds != seconds or seconds < 0:
        raise EINVAL("%s must be a number of seconds >= 0, not %r"
                     % (what, seconds))
    if seconds == FOREVER:
        return WAIT_FOREVER_MS
    return min(int(round(seconds * 1000)), (1 << 63) - 1)


# ------------------------------------------------------------- socket


def default_socket():
    """The socket libferry and the ferry command use when none is given:
    $FERRY_SOCKET, else the first that exists of $XDG_STATE_HOME/ferry/
    ferry.sock (or ~/.local/state/ferry/ferry.sock) and the system
    agent's /run/ferry/ferry.sock; when neither exists, the first for
    users and the second for root (ferry_default_socket())."""
    env = os.environ.get("FERRY_SOCKET")
    if env:
        return env
    system = "/run/ferry/ferry.sock"
    xdg = os.environ.get("XDG_STATE_HOME")
    home = os.environ.get("HOME")
    if xdg:
        path = xdg + "/ferry/ferry.sock"
    elif home:
        path = home + "/.local/state/ferry/ferry.sock"
    else:
        path = ""
    if path and os.path.exists(path):
        return path
    if os.path.exists(system):
        return system
    if not path or os.geteuid() == 0:
        return system
    return path


def connect(socket=None):
    """Connect to ferryd at socket (a path; None: default_socket()).
    ECONNECT when no agent listens there, EPERM when the socket refuses
    this user."""
    path = default_socket() if socket is None else os.fspath(socket)
    if len(os.fsencode(path)) >= 108:
        raise EINVAL("socket path too long: %s" % path)
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(path)
    except PermissionError as e:
        s.close()
        raise EPERM("cannot connect to %s: %s" % (path, e.strerror))
    except OSError as e:
        s.close()
        raise ECONNECT("cannot connect to ferryd at %s: %s (is it "
                       "running?)" % (path, e.strerror or e))
    return Client(s, path)


# ------------------------------------------------------------ messages

QueueInfo = collections.namedtuple(
    "QueueInfo", "name messages bytes leased max_bytes max_msgs")


class Message:
    """A message taken (or peeked at) from a queue.

    id           32 hex digits
    src          the source node
    dst          "node/queue" it was sent to (dst_node, dst_queue)
    queue        the local queue it is in
    priority     0 (bulk) .. 7 (urgent)
    correlation  str or None
    reply_to     a queue on src, or None
    token        the lease token (0 when only peeked at)
    receipt      the source asked for receipts (flags bit 1)
    payload_len  the payload's size in bytes
    payload      the payload (bytes) when it came in the message frame
                 (at most 64 KiB), else None: read .stream
    stream       a binary file object reading the payload (from the
                 socket for a large one: read it, or close it, before
                 the next call on the client)
    created_ms, expires_ms (0: never), stored_ms, lease_until_ms,
    deliveries, state, dead_reason, dead_text: the rest of its header
    origin       who vouches for its source: "local", "peer" (from its
                 source directly), "verified" (through relays, its
                 signature checked), "unverified", or "unknown" (an
                 older agent)
    via          the nodes it came through, its source first ("" if
                 none)
    """

    def __init__(self, f):
        self.id = f.get("id", bytes(ID_LEN)).hex()
        self.src = f.get("src_node", "")
        self.dst_node = f.get("dst_node", "")
        self.dst_queue = f.get("dst_queue", "")
        self.dst = "%s/%s" % (self.dst_node, self.dst_queue)
        self.queue = f.get("queue", "")
        self.priority = f.get("priority", PRIO_DEFAULT)
        self.flags = f.get("flags", 0)
        self.receipt = bool(self.flags & MSG_RECEIPT)
        self.transient = bool(self.flags & MSG_TRANSIENT)
        self.correlation = f.get("correlation") or None
        self.reply_to = f.get("reply_to") or None
        self.token = f.get("token", 0)
        self.payload_len = f.get("payload_len", 0)
        self.created_ms = f.get("created_ms", 0)
        self.expires_ms = f.get("expires_ms", 0)
        self.stored_ms = f.get("stored_ms", 0)
        self.lease_until_ms = f.get("lease_until_ms", 0)
        self.deliveries = f.get("deliveries", 0)
        self.state = f.get("state", 0)
        self.dead_reason = f.get("dead_reason", 0)
        self.dead_text = f.get("text", "") if self.dead_reason else ""
        self.origin = ORIGINS.get(f.get("origin", 0), "unknown")
        self.via = f.get("path", "")
        self.payload = None
        self.stream = None

    def _set_payload(self, data):
        self.payload = data
        self.stream = io.BytesIO(data)

    def read(self):
        """The whole payload as bytes (a large one is read from .stream
        into memory: mind its size)."""
        if self.payload is not None:
            return self.payload
        return self.stream.read()

    def __repr__(self):
        return ("<ferry.Message %s from %s to %s priority %d, %d bytes>"
                % (self.id, self.src, self.dst, self.priority,
                   self.payload_len))


class _PayloadStream(io.RawIOBase):
    """A payload arriving in DATA frames for request reqid; see
    Message.stream.  on_end(abandoned) runs once, when the last byte has
    been read from it (abandoned False), or when it is closed before
    that (True); not after an error."""

    def __init__(self, client, reqid, expected, on_end=None):
        super().__init__()
        self._c = client
        self._reqid = reqid
        self._left = expected  # bytes still due
        self._chunk = memoryview(b"")
        self._done = False
        self._on_end = on_end

    def readable(self):
        return True

    def _next_frame(self):
        c = self._c
        t, flags, _rid, body = c._read_reply(self._reqid)
        if t != F_DATA:
            self._finish(failed=True)
            c._reply_error(t, body)  # raises
        if flags & FL_ABORT:
            self._finish(failed=True)
            raise EIO("ferryd could not read the payload (the message "
                      "left the store meanwhile?)")
        if len(body) > DATA_MAX:
            self._finish(failed=True)
            c._break()
            raise EPROTO("DATA frame of %d bytes from ferryd (at most %d)"
                         % (len(body), DATA_MAX))
        if len(body) > self._left:
            self._finish(failed=True)
            c._break()
            raise EPROTO("ferryd sent more payload than the message's "
                         "payload_len")
        self._left -= len(body)
        self._chunk = memoryview(body)
        if flags & FL_FIN:
            if self._left != 0:
                self._finish(failed=True)
                c._break()
                raise EPROTO("the payload ended %d bytes short of its "
                             "payload_len" % self._left)
            self._finish()

    def _finish(self, failed=False):
        """The stream's last frame is in: the connection is free."""
        self._done = True
        if failed:
            self._on_end = None
            self._chunk = memoryview(b"")
        if self._c._busy is self:
            self._c._busy = None

    def _end(self, abandoned):
        if self._on_end is not None:
            on_end, self._on_end = self._on_end, None
            on_end(abandoned)

    def readinto(self, b):
        if self.closed:
            raise ValueError("read of a closed payload stream")
        while not self._chunk and not self._done:
            self._next_frame()
        n = min(len(b), len(self._chunk))
        b[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        if self._done and not self._chunk:
            self._end(False)  # the last byte is out: ack (with ack=True)
        return n

    def readall(self):
        if self.closed:
            raise ValueError("read of a closed payload stream")
        out = bytearray()
        while True:
            while not self._chunk and not self._done:
                self._next_frame()
            if not self._chunk:
                break
            out += self._chunk
            self._chunk = memoryview(b"")
        self._end(False)
        return bytes(out)

    def close(self):
        """Stop reading: what is left of the payload is read from the
        socket and dropped (the connection stays in step), and, with
        ack=True, the message is given back (nack)."""
        if not self.closed:
            try:
                if self._c._broken is None:
                    while not self._done:
                        self._next_frame()
                    self._chunk = memoryview(b"")
                    self._end(True)
            finally:
                self._on_end = None
                self._chunk = memoryview(b"")
                if self._c._busy is self:
                    self._c._busy = None
                super().close()

    def __del__(self):
        # Nothing on the socket from the garbage collector, which may run
        # in the middle of another call: a message dropped unread comes
        # back when its lease runs out.  (An unfinished stream is held by
        # its client, which refuses other calls until it is closed.)
        pass


# -------------------------------------------------------------- client


class Client:
    """A connection to ferryd (see connect())."""

    def __init__(self, sock, path=None):
        self._sock = sock
        self.path = path
        self._rbuf = bytearray()
        self._reqid = 0
        self._broken = None  # why the connection is unusable
        self._busy = None  # an open payload stream
        self._sub = None  # the Subscription of this connection
        self._node = None

    # -- lifetime

    def close(self):
        """Close the connection (a subscription ends with it; messages
        it holds come back when their leases end)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            if self._broken is None:
                self._broken = "the client was closed"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self):
        return self._sock.fileno()

    # -- frames

    def _break(self, why="the connection is out of step"):
        if self._broken is None:
            self._broken = why

    def _next_reqid(self):
        self._reqid = self._reqid + 1 if self._reqid < 0xFFFFFFFF else 1
        return self._reqid

    def _send_frame(self, ftype, flags, reqid, body=b""):
        if self._broken is not None:
            raise ECONNECT("connection unusable: %s" % self._broken)
        if len(body) + FRAME_HDR - 4 > FRAME_MAX:
            raise ETOOBIG("request too large for one frame")
        hdr = struct.pack(">IBBHI", len(body) + FRAME_HDR - 4, ftype, flags,
                          0, reqid)
        try:
            if len(body) <= 4096:
                self._sock.sendall(hdr + body)
            else:
                self._sock.sendall(hdr)
                self._sock.sendall(body)
        except OSError as e:
            self._lost(e)
        except BaseException:
            # Interrupted (KeyboardInterrupt, ...) with part of a frame
            # written, perhaps: the connection is out of step.
            self._break("interrupted while writing a frame")
            raise

    def _lost(self, e):
        """A write failed: ferryd may have said why before it closed (a
        refusal at accept), which beats EPIPE."""
        try:
            self._read_frame(timeout=0)
        finally:
            self._break("lost the connection")
        raise ECONNECT("lost the connection to ferryd: %s"
                       % (e.strerror or e))

    def _fill(self, n, deadline):
        """At least n bytes in the read buffer; False on timeout."""
        while len(self._rbuf) < n:
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                r, _w, _x = select.select([self._sock], [], [], left)
                if not r:
                    return False
            try:
                data = self._sock.recv(max(n - len(self._rbuf), 65536))
            except OSError as e:
                self._break("lost the connection")
                raise ECONNECT("lost the connection to ferryd: %s"
                               % (e.strerror or e))
            if not data:
                self._break("ferryd closed the connection")
                raise ECONNECT("ferryd closed the connection")
            self._rbuf += data
        return True

    def _read_frame(self, timeout=None):
        """The next frame (type, flags, reqid, body), of any request;
        None when timeout (seconds) passed first.  ferryd's goodbye (an
        ERROR of request id 0) is raised."""
        if self._broken is not None:
            raise ECONNECT("connection unusable: %s" % self._broken)
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._fill(4, deadline):
            return None
        (length,) = struct.unpack_from(">I", self._rbuf, 0)
        # Refused from these four bytes alone, before anything is read
        # or kept for the body (lib/frame.c, ferry_frame_size).
        if length < FRAME_HDR - 4 or length > FRAME_MAX:
            self._break("ferryd sent a malformed frame")
            raise EPROTO("ferryd sent a frame length of %d (allowed %d to "
                         "%d)" % (length, FRAME_HDR - 4, FRAME_MAX))
        if not self._fill(length + 4, deadline):
            return None
        ftype, flags, reserved, reqid = struct.unpack_from(
            ">BBHI", self._rbuf, 4)
        body = bytes(self._rbuf[FRAME_HDR:length + 4])
        del self._rbuf[:length + 4]
        if flags & ~FL_ALL or reserved != 0:
            self._break("ferryd sent a malformed frame")
            raise EPROTO("ferryd sent a frame with unknown flags or a "
                         "reserved field set")
        if reqid == 0 and ftype == F_ERROR:
            self._break("ferryd ended the connection")
            code, text, _f = self._error_fields(body)
            raise _error(code, "ferryd %s the connection: %s"
                         % ("refused" if code == ETOOMANY.code else
                            "closed", text))
        return ftype, flags, reqid, body

    def _fields(self, ftype, body):
        try:
            return _decode(body)
        except EPROTO as e:
            self._break("ferryd sent a malformed frame")
            raise EPROTO("malformed %s from ferryd: %s"
                         % (_type_name(ftype), e.text))

    def _error_fields(self, body):
        f = self._fields(F_ERROR, body)
        code = f.get("code")
        if code is not None and code >= 0x80000000:
            code -= 1 << 32
        if code is None or code >= 0 or code < ERR_MIN - 100:
            self._break("ferryd sent a malformed error")
            raise EPROTO("malformed ERROR from ferryd (code %r)" % (code,))
        return code, f.get("text", ""), f

    def _reply_error(self, ftype, body):
        """Raise what an answer of the wrong type means."""
        if ftype != F_ERROR:
            self._break("unexpected answer")
            raise EPROTO("unexpected %s from ferryd" % _type_name(ftype))
        code, text, f = self._error_fields(body)
        mid = f.get("id")
        raise _error(code, text, id=mid.hex() if mid else None)

    def _take_push(self, frame):
        """A subscription's MSG that came while something else was read:
        kept for the iterator, never more than the credit granted."""
        sub = self._sub
        if sub is None or frame[2] != sub._reqid or frame[0] != F_MSG:
            return False
        if sub._outstanding <= 0:
            self._break("pushes beyond the credit")
            raise EPROTO("ferryd pushed more messages than the credit "
                         "granted")
        sub._outstanding -= 1
        sub._pushed.append(frame)
        return True

    def _read_reply(self, reqid):
        """The next frame for reqid; pushes met on the way are kept."""
        while True:
            try:
                frame = self._read_frame()
            except Error:
                raise
            except BaseException:
                # Interrupted while an answer is due: it would come out
                # of turn later.
                self._break("interrupted while waiting for an answer")
                raise
            if frame[2] == reqid:
                return frame
            if self._take_push(frame):
                continue
            self._break("answer out of turn")
            raise EPROTO("ferryd answered out of turn (%s for request %d)"
                         % (_type_name(frame[0]), frame[2]))

    def _idle(self):
        if self._broken is not None:
            raise ECONNECT("connection unusable: %s" % self._broken)
        if self._busy is not None:
            raise ESTATE("a payload stream is still open on this "
                         "connection: read it to its end or close it")

    def _call(self, ftype, fields, want, flags=0):
        """Send one request and return the fields of its one answer."""
        self._idle()
        reqid = self._next_reqid()
        self._send_frame(ftype, flags, reqid, _encode(fields))
        t, _fl, _r, body = self._read_reply(reqid)
        if t != want:
            self._reply_error(t, body)
        return self._fields(t, body)

    def _list(self, ftype, fields, item):
        """A request answered by item frames until END."""
        self._idle()
        reqid = self._next_reqid()
        self._send_frame(ftype, 0, reqid, _encode(fields))
        out = []
        while True:
            t, _fl, _r, body = self._read_reply(reqid)
            if t == F_END:
                return out
            if t != item:
                self._reply_error(t, body)
            out.append(self._fields(t, body))

    # -- the node

    def hello(self):
        """HELLO: (protocol version, node name) of the agent."""
        f = self._call(F_HELLO, [("version", PROTO_VERSION)], F_HELLO_OK)
        self._node = f.get("node")
        return f.get("version"), self._node

    @property
    def node(self):
        """The name of the agent's node (asked once with HELLO)."""
        if self._node is None:
            self.hello()
        return self._node

    # -- sending

    def send(self, dest, data, priority=PRIO_DEFAULT, ttl=None,
             receipt=False, reply_to=None, correlation=None, id=None,
             track=False):
        """Send data to dest ("node/queue") and return the message's id
        once ferryd has committed it durably.

        data: bytes-like, a binary file object (read in 256 KiB pieces,
        never whole), or an iterable of bytes pieces.  priority 0..7;
        ttl in seconds (None: the agent's default_ttl, 0: never
        expires); receipt asks for delivery receipts; reply_to (a queue
        on this node) and correlation (text) for request and reply; id
        (32 hex digits or 16 bytes) makes a retry idempotent: the id is
        scoped to this user, and the stored id (returned) differs from
        it; track asks for receipts and a report from every relay on the
        way (ferry track).  EDUPLICATE (with .id) when it was accepted
        before."""
        node, queue = _parse_dest(dest)
        if isinstance(priority, bool) or not isinstance(priority, int) \
                or not 0 <= priority <= PRIO_MAX:
            raise EINVAL("priority must be 0..7, not %r" % (priority,))
        fields = [("dst_node", node), ("dst_queue", queue),
                  ("priority", priority)]
        if ttl is not None:
            ms = _ms(ttl, "ttl")
            fields.append(("ttl_ms", 0 if ms == WAIT_FOREVER_MS else ms))
        fields.append(("flags", (MSG_RECEIPT if receipt or track else 0) |
                       (MSG_TRACK if track else 0)))
        if reply_to:
            fields.append(("reply_to", _check_queue(reply_to, "reply-to")))
        if correlation:
            if not isinstance(correlation, str):
                raise EINVAL("correlation must be a str")
            fields.append(("correlation", correlation))
        if id is not None:
            fields.append(("id", _id_bytes(id)))
        self._idle()

        if isinstance(data, (bytes, bytearray, memoryview)):
            mv = memoryview(data).cast("B")
            fields.append(("payload_len", len(mv)))
            if len(mv) <= INLINE_MAX:
                fields.append(("payload", mv))
                return self._send_whole(fields)
            return self._send_stream(fields, _slices(mv))
        if isinstance(data, str):
            raise EINVAL("data must be bytes or a binary file, not str")
        if hasattr(data, "read"):
            pieces = _file_pieces(data)
        else:
            try:
                pieces = iter(data)
            except TypeError:
                raise EINVAL("data must be bytes, a binary file object or "
                             "an iterable of bytes")
        # A short one goes in one frame, as libferry does.
        first = bytearray()
        for piece in pieces:
            first += _as_bytes(piece)
            if len(first) > INLINE_MAX:
                break
        else:
            fields.append(("payload_len", len(first)))
            fields.append(("payload", first))
            return self._send_whole(fields)
        return self._send_stream(fields, _chain(first, pieces))

    def _send_whole(self, fields):
        f = self._call(F_SEND, fields, F_OK, flags=FL_FIN)
        return f.get("id", b"").hex()

    def _send_stream(self, fields, pieces):
        reqid = self._next_reqid()
        self._send_frame(F_SEND, 0, reqid, _encode(fields))
        buf = bytearray()
        refused = None
        try:
            for piece in pieces:
                buf += _as_bytes(piece)
                while len(buf) >= DATA_MAX:
                    self._send_frame(F_DATA, 0, reqid, bytes(buf[:DATA_MAX]))
                    del buf[:DATA_MAX]
                    refused = self._early_error(reqid)
                    if refused is not None:
                        break
                if refused is not None:
                    break
        except BaseException:
            # Nothing is stored: the stream ends with FIN|ABORT, which
            # ferryd answers with an ERROR.
            if self._broken is None:
                self._send_frame(F_DATA, FL_FIN | FL_ABORT, reqid)
                self._read_reply(reqid)
            raise
        if refused is not None:
            # Refused while it streamed: ferryd ignores the rest up to
            # FIN and sends nothing more for it.
            self._send_frame(F_DATA, FL_FIN | FL_ABORT, reqid)
            self._reply_error(*refused)
        self._send_frame(F_DATA, FL_FIN, reqid, bytes(buf))
        del buf
        t, _fl, _r, body = self._read_reply(reqid)
        if t != F_OK:
            self._reply_error(t, body)
        return self._fields(t, body).get("id", b"").hex()

    def _early_error(self, reqid):
        """An ERROR ferryd sent already for the stream reqid (type,
        body), or None; pushes met are kept."""
        while self._rbuf or select.select([self._sock], [], [], 0)[0]:
            frame = self._read_frame(timeout=0)
            if frame is None:
                return None
            if frame[2] == reqid:
                if frame[0] != F_ERROR:
                    self._break("stream answered before its end")
                    raise EPROTO("ferryd answered a stream before its end")
                return frame[0], frame[3]
            if not self._take_push(frame):
                self._break("answer out of turn")
                raise EPROTO("ferryd sent %s for request %d during a send"
                             % (_type_name(frame[0]), frame[2]))
        return None

    # -- receiving

    def recv(self, queue, wait=None, lease=None, ack=True, peek=False):
        """Take the next message of a local queue (priority, then FIFO)
        under a lease, and return it (a Message).

        wait: seconds to wait for one (None or 0: do not wait;
        ferry.FOREVER).  lease: seconds to hold it (None: the agent's
        default_lease).  ack: acknowledge it once its payload is read --
        at once for a payload of at most 64 KiB (msg.payload), when the
        last byte is read from msg.stream for a larger one (closed
        before that, the message is given back instead, and dropped
        unread it comes back when its lease runs out); with ack=False
        call ack() or nack() yourself.  peek: look at it without taking it
        (no lease, no token, nothing to ack).  EEMPTY when the queue
        stayed empty."""
        _check_queue(queue)
        fields = [("queue", queue)]
        if lease is not None:
            ms = _ms(lease, "lease")
            if ms > 0:
                fields.append(("lease_ms", ms))
        if wait is not None:
            ms = _ms(wait, "wait")
            if ms > 0:
                fields.append(("wait_ms", ms))
        if peek:
            fields.append(("peek", 1))
        self._idle()
        reqid = self._next_reqid()
        self._send_frame(F_RECV, 0, reqid, _encode(fields))
        t, flags, _r, body = self._read_reply(reqid)
        if t != F_MSG:
            self._reply_error(t, body)
        f = self._fields(t, body)
        return self._message(f, flags, reqid, ack and not peek)

    def _message(self, f, flags, reqid, ack):
        """A Message from a MSG frame's fields; its payload inline, or a
        stream of the DATA frames of reqid that follow."""
        msg = Message(f)
        if flags & FL_FIN:
            data = f.get("payload", b"")
            if len(data) != msg.payload_len:
                self._break("payload length mismatch")
                raise EPROTO("a MSG of %d payload bytes says payload_len "
                             "%d" % (len(data), msg.payload_len))
            msg._set_payload(data)
            if ack and msg.token:
                self.ack(msg)
            return msg
        if "payload" in f:
            self._break("payload in a streamed MSG")
            raise EPROTO("a MSG without FIN carries a payload field")

        def on_end(abandoned):
            if not ack or not msg.token:
                return
            if abandoned:
                self.nack(msg)
            else:
                self.ack(msg)

        msg.stream = _PayloadStream(self, reqid, msg.payload_len, on_end)
        self._busy = msg.stream
        return msg

    def _settle(self, ftype, mid, token, extra=()):
        fields = [("id", _id_bytes(mid))]
        if token:
            fields.append(("token", token))
        fields.extend(extra)
        self._call(ftype, fields, F_OK)

    @staticmethod
    def _id_token(msg, token):
        if isinstance(msg, Message):
            return msg.id, msg.token if token is None else token
        return msg, token or 0

    def ack(self, msg, token=None):
        """Done with a message (a Message, or an id with its token): it
        leaves its queue.  Without a token, any local message may be
        acked by id.  ELEASE if the lease was lost, ESTATE if it is not
        here any more, ENOTFOUND for an unknown id."""
        mid, tok = self._id_token(msg, token)
        self._settle(F_ACK, mid, tok)

    def nack(self, msg, token=None, delay=None):
        """Give a leased message back: at once, or (delay, seconds) when
        a lease renewed for delay runs out."""
        mid, tok = self._id_token(msg, token)
        extra = []
        if delay:
            if not tok:
                raise EINVAL("a delayed nack needs the lease token")
            extra.append(("lease_ms", max(1, _ms(delay, "delay"))))
        self._settle(F_NACK, mid, tok, extra)

    def renew(self, msg, lease, token=None):
        """Keep holding a leased message: its lease now ends lease
        seconds from now (at most the agent's max_lease)."""
        mid, tok = self._id_token(msg, token)
        if not tok:
            raise EINVAL("renewing needs the lease token")
        ms = _ms(lease, "lease")
        if ms == 0:
            raise EINVAL("lease must be above 0")
        self._settle(F_NACK, mid, tok, [("lease_ms", ms)])

    def dead_letter(self, msg, text=None, token=None):
        """Give up on a leased message: it moves to the dead queue as
        "handler failed", with text (at most 511 bytes)."""
        mid, tok = self._id_token(msg, token)
        if not tok:
            raise EINVAL("dead-lettering needs the lease token")
        extra = [("dead_reason", DEAD_HANDLER_FAILED)]
        if text:
            if len(text.encode("utf-8")) > DEAD_TEXT_MAX:
                raise EINVAL("text is longer than %d bytes" % DEAD_TEXT_MAX)
            extra.append(("text", text))
        self._settle(F_NACK, mid, tok, extra)

    def subscribe(self, queue, lease=None, ack=True, credit=1, wait=None):
        """Push delivery: an iterator of the messages of queue, each
        taken under a lease (lease seconds; None: default_lease).  At
        most credit messages are held by this client at once that the
        iteration has not reached yet.  ack as for recv(); wait: end the
        iteration when nothing came for that many seconds (None: wait
        for ever).  Close it (or use it in a with block) to unsubscribe:
        messages pushed and not yet handed out are given back."""
        return Subscription(self, queue, lease, ack, credit, wait)

    # -- request and reply

    def request(self, dest, data, timeout, priority=PRIO_DEFAULT, ttl=None,
                out=None):
        """Send data to dest as a request and wait up to timeout seconds
        for its reply, as ferry_request() and `ferry request` do: a fresh
        reply queue ("reply." and 32 hex digits) opened for the timeout
        plus 60 s, a fresh correlation, the reply taken from that queue
        (strays with another correlation acked and dropped), then acked,
        and the queue closed on every path.  Returns the reply
        (a Message); its payload is in .payload, or written to out (a
        binary file object) in pieces when out is given.  ETIMEDOUT when
        no reply came in time (a later one goes to dead, "no one
        waiting")."""
        if isinstance(timeout, bool) or \
                not isinstance(timeout, (int, float)) or \
                not 0 < timeout < 1e15:
            raise EINVAL("timeout must be a number of seconds above 0")
        _parse_dest(dest)
        self._idle()
        timeout_ms = max(1, _ms(timeout, "timeout"))
        rq = REPLY_PREFIX + os.urandom(ID_LEN).hex()
        corr = os.urandom(ID_LEN).hex()
        deadline = time.monotonic() + timeout
        self._call(F_QCREATE, [("queue", rq),
                               ("ttl_ms", timeout_ms + REQUEST_MARGIN_MS)],
                   F_OK)
        reply = None
        failed = False
        try:
            self.send(dest, data, priority=priority, ttl=ttl, reply_to=rq,
                      correlation=corr)
            while reply is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ETIMEDOUT("no reply from %s within %g s"
                                    % (dest, timeout))
                try:
                    m = self.recv(rq, wait=max(left, 0.001), ack=False)
                except (EEMPTY, ETIMEDOUT):
                    continue  # the deadline decides
                if m.correlation == corr:
                    reply = m
                    break
                # A stray (another correlation): not ours to answer.
                m.stream.close()
                self.ack(m)
            if reply.payload is not None:
                if out is not None:
                    out.write(reply.payload)
                    reply.payload = reply.stream = None
            else:
                with reply.stream as s:
                    if out is None:
                        reply._set_payload(s.read())
                    else:
                        while True:
                            piece = s.read(DATA_MAX)
                            if not piece:
                                break
                            out.write(piece)
        except BaseException:
            failed = True
            raise
        finally:
            # Acked even if it could not be written: the queue closes
            # now, nobody could take it again.
            if self._broken is None:
                try:
                    if self._busy is not None:
                        self._busy.close()
                    if reply is not None:
                        self.ack(reply)
                    self._call(F_QPURGE, [("queue", rq)], F_OK)
                except Error:
                    if not failed:
                        raise
        return reply

    def reply(self, request, data, priority=None, ttl=None):
        """Send data as the reply to request (a Message with reply_to):
        to <its src>/<its reply_to>, with its correlation, at its
        priority unless given.  Returns the reply's id."""
        if not request.reply_to:
            raise EINVAL("message %s has no reply-to" % request.id)
        return self.send("%s/%s" % (request.src, request.reply_to), data,
                         priority=request.priority if priority is None
                         else priority,
                         ttl=ttl, correlation=request.correlation)

    # -- queues

    def queues(self):
        """The queues this user may receive from or administer
        (QueueInfo tuples)."""
        return [_queue_info(f) for f in self._list(F_QLIST, [], F_QINFO)]

    def queue_stats(self, queue):
        """A QueueInfo of one queue."""
        _check_queue(queue)
        return _queue_info(self._call(F_QSTATS, [("queue", queue)],
                                      F_QINFO))

    def queue_create(self, queue, max_bytes=0, max_msgs=0):
        """Create a queue or change its limits (0: the default)."""
        _check_queue(queue)
        self._call(F_QCREATE, [("queue", queue), ("max_bytes", max_bytes),
                               ("max_msgs", max_msgs)], F_OK)

    def queue_purge(self, queue):
        """Remove every message of a queue; returns how many."""
        _check_queue(queue)
        return self._call(F_QPURGE, [("queue", queue)], F_OK).get("count",
                                                                  0)

    def browse(self, queue, limit=0):
        """Headers (Messages without payload) of the next available
        messages of queue, in delivery order; nothing is taken."""
        _check_queue(queue)
        fields = [("queue", queue)]
        if limit:
            fields.append(("limit", min(int(limit), 0xFFFFFFFF)))
        return [Message(f) for f in self._list(F_BROWSE, fields, F_MSG)]


def _queue_info(f):
    return QueueInfo(f.get("queue", ""), f.get("count", 0),
                     f.get("bytes", 0), f.get("leased", 0),
                     f.get("max_bytes", 0), f.get("max_msgs", 0))


def _as_bytes(piece):
    if isinstance(piece, (bytes, bytearray)):
        return piece
    if isinstance(piece, memoryview):
        return piece.cast("B")
    raise EINVAL("payload pieces must be bytes, not %s"
                 % type(piece).__name__)


def _slices(mv):
    for i in range(0, len(mv), DATA_MAX):
        yield mv[i:i + DATA_MAX]


def _file_pieces(f):
    """A binary file read in DATA_MAX pieces, into one buffer when the
    file can (readinto), so memory stays at one piece."""
    readinto = getattr(f, "readinto", None)
    if readinto is not None:
        buf = bytearray(DATA_MAX)
        mv = memoryview(buf)
        while True:
            n = readinto(mv)
            if n is None:
                raise EINVAL("the file is in non-blocking mode")
            if n == 0:
                return
            yield mv[:n]
    else:
        while True:
            piece = f.read(DATA_MAX)
            if piece is None:
                raise EINVAL("the file is in non-blocking mode")
            if isinstance(piece, str):
                raise EINVAL("the file is open in text mode: open it "
                             "with 'rb'")
            if not piece:
                return
            yield piece


def _chain(first, rest):
    yield first
    for piece in rest:
        yield piece


# ------------------------------------------------------- subscriptions


class Subscription:
    """Messages of a queue pushed by ferryd (Client.subscribe)."""

    def __init__(self, client, queue, lease, ack, credit, wait):
        _check_queue(queue)
        if isinstance(credit, bool) or not isinstance(credit, int) or \
                not 1 <= credit <= 1000000:
            raise EINVAL("credit must be 1..1000000")
        if client._sub is not None:
            raise ESTATE("already subscribed on this connection")
        self._c = client
        self.queue = queue
        self._ack = ack
        self._wait = wait
        self._pushed = collections.deque()
        self._outstanding = credit  # pushes ferryd may still send
        self._owed = 0  # credit to grant back at the next step
        self._last = None
        self.closed = False
        fields = [("queue", queue), ("credit", credit)]
        if lease is not None:
            ms = _ms(lease, "lease")
            if ms > 0:
                fields.append(("lease_ms", ms))
        client._idle()
        self._reqid = client._next_reqid()
        client._sub = self  # pushes may follow the OK at once
        try:
            client._send_frame(F_SUBSCRIBE, 0, self._reqid, _encode(fields))
            t, _fl, _r, body = client._read_reply(self._reqid)
            if t != F_OK:
                client._reply_error(t, body)
        except BaseException:
            client._sub = None
            self.closed = True
            raise

    def __iter__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __next__(self):
        c = self._c
        if self.closed:
            raise StopIteration
        if self._last is not None:
            # Done with the last one; its stream, unread, is dropped (and
            # the message given back, with ack=True).
            if self._last.stream is not None:
                self._last.stream.close()
            self._last = None
        c._idle()
        if self._owed:
            c._send_frame(F_CREDIT, 0, self._reqid,
                          _encode([("credit", self._owed)]))
            self._outstanding += self._owed
            self._owed = 0
        if self._pushed:
            frame = self._pushed.popleft()
        else:
            timeout = None if self._wait is None else max(0, self._wait)
            frame = c._read_frame(timeout=timeout)
            if frame is None:
                raise StopIteration
            if frame[2] != self._reqid or frame[0] not in (F_MSG, F_ERROR):
                c._break("push out of turn")
                raise EPROTO("ferryd sent %s for request %d to a subscriber"
                             % (_type_name(frame[0]), frame[2]))
            if frame[0] == F_ERROR:
                c._reply_error(frame[0], frame[3])
            if self._outstanding <= 0:
                c._break("pushes beyond the credit")
                raise EPROTO("ferryd pushed more messages than the credit "
                             "granted")
            self._outstanding -= 1
        self._owed += 1
        ftype, flags, _rid, body = frame
        f = c._fields(ftype, body)
        if not flags & FL_FIN and "payload" not in f:
            msg = self._fetch(f)
        else:
            msg = c._message(f, flags, self._reqid, self._ack)
        self._last = msg
        return msg

    def _fetch(self, header):
        """A large payload is not pushed: FETCH it (from offset 0).  The
        lease token is the push's."""
        c = self._c
        token = header.get("token", 0)
        reqid = c._next_reqid()
        c._send_frame(F_FETCH, 0, reqid, _encode([("id", header["id"])]))
        t, flags, _r, body = c._read_reply(reqid)
        if t != F_MSG:
            c._reply_error(t, body)
        f = c._fields(t, body)
        f["token"] = token
        return c._message(f, flags, reqid, self._ack)

    def close(self):
        """Unsubscribe.  Messages pushed but not handed out yet are given
        back at once."""
        c = self._c
        if self.closed:
            return
        self.closed = True
        try:
            if c._broken is not None or c._sub is not self:
                return
            if self._last is not None and self._last.stream is not None:
                self._last.stream.close()
            self._last = None
            reqid = c._next_reqid()
            c._send_frame(F_UNSUBSCRIBE, 0, reqid)
            t, _fl, _r, body = c._read_reply(reqid)
            if t != F_OK:
                c._reply_error(t, body)
            c._sub = None
            while self._pushed:
                f = c._fields(F_MSG, self._pushed.popleft()[3])
                if f.get("id") is not None and f.get("token"):
                    try:
                        c._settle(F_NACK, f["id"], f["token"])
                    except (ELEASE, ESTATE, ENOTFOUND):
                        pass
        finally:
            if c._sub is self:
                c._sub = None
