#!/usr/bin/python3
# seal_fetch.py SRCDIR SOCKET ID FILE OFFSET...: FETCH message ID from each
# OFFSET over the raw protocol (no client asks for an offset yet) and
# compare with FILE from there; the MSG header must say FILE's length.
# Used by route_seal.sh.
import sys
sys.path.insert(0, sys.argv[1])
import ferry
sock, mid, path = sys.argv[2], sys.argv[3], sys.argv[4]
want = open(path, "rb").read()
for off in (int(a) for a in sys.argv[5:]):
    c = ferry.connect(sock)
    reqid = c._next_reqid()
    c._send_frame(ferry.F_FETCH, 0, reqid, ferry._encode(
        [("id", bytes.fromhex(mid)), ("offset", off)]))
    t, flags, _r, body = c._read_reply(reqid)
    if t != ferry.F_MSG:
        c._reply_error(t, body)
    f = c._fields(t, body)
    if f["payload_len"] != len(want):
        sys.exit("payload_len %d, wanted %d" % (f["payload_len"], len(want)))
    got = bytearray()
    while True:
        t, flags, _r, body = c._read_reply(reqid)
        got += body
        if flags & ferry.FL_FIN:
            break
    if bytes(got) != want[off:]:
        sys.exit("offset %d: %d bytes, not the plaintext's %d" %
                 (off, len(got), len(want) - off))
    c.close()
print("fetched from every offset")
