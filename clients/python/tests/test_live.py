"""Tests of the ferry Python client against a live ferryd.

Run by tests/integration/python_client.sh, which starts the agent and sets
FERRY_SOCKET (its socket) and FERRY_TEST_NODE (its node's name);
FERRY_TEST_SRCDIR (the source tree) lets the error classes be checked
against lib/ferry_err.h and lib/ferry_err.c.  By hand:

    FERRY_SOCKET=/path/ferry.sock python3 clients/python/tests/test_live.py -v

The agent should run with a short sweep_interval (250ms), so that leases
that run out are seen to come back within a second.  The hostile-input
cases (FakeAgentTest) need no agent: they serve frames from a socket of
their own.
"""

import hashlib
import io
import os
import random
import re
import resource
import shutil
import socket
import struct
import tempfile
import threading
import time
import unittest

import ferry

NODE = os.environ.get("FERRY_TEST_NODE")
SRCDIR = os.environ.get("FERRY_TEST_SRCDIR")
BIG = int(os.environ.get("FERRY_TEST_BIG_MIB", "100")) * 1024 * 1024
RSS_LIMIT_MIB = 64


def peak_rss_mib():
    """The process's peak RSS in MiB: ru_maxrss, and VmHWM of
    /proc/self/status (None where there is none).  On Linux ru_maxrss
    also counts the peak of the parent it was forked from (carried across
    exec); VmHWM is this program's own."""
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    hwm = None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) // 1024
    except OSError:
        pass
    return ru, hwm


def setUpModule():
    global NODE
    if NODE is None:
        with ferry.connect() as c:
            NODE = c.node


class LiveCase(unittest.TestCase):
    """A connection to the agent and a queue name of this test's own."""

    def setUp(self):
        self.c = ferry.connect()
        self.q = "py.%s.%s" % (self._testMethodName, os.urandom(4).hex())

    def tearDown(self):
        self.c.close()

    def dest(self, queue=None):
        return "%s/%s" % (NODE, queue or self.q)

    def count(self, queue=None):
        with ferry.connect() as c:
            try:
                return c.queue_stats(queue or self.q)
            except ferry.ENOTFOUND:
                return ferry.QueueInfo(queue or self.q, 0, 0, 0, 0, 0)


class RoundTripTest(LiveCase):
    def test_all_fields(self):
        payload = bytes(range(256)) * 3 + b"\0end"
        chosen = os.urandom(16).hex()
        t0 = time.time() * 1000
        mid = self.c.send(self.dest(), payload, priority=6, ttl=3600,
                          receipt=True, reply_to="py.replies",
                          correlation="corr-\u00e9-1", id=chosen)
        self.assertRegex(mid, "^[0-9a-f]{32}$")
        # A chosen id is scoped to the user: stored under another one.
        self.assertNotEqual(mid, chosen)
        with self.assertRaises(ferry.EDUPLICATE) as cm:
            self.c.send(self.dest(), payload, id=chosen)
        self.assertEqual(cm.exception.id, mid)
        self.assertEqual(cm.exception.code, -8)
        self.assertEqual(self.count().messages, 1)

        m = self.c.recv(self.q)
        self.assertEqual(m.id, mid)
        self.assertEqual(m.payload, payload)
        self.assertEqual(m.stream.read(), payload)
        self.assertEqual(m.read(), payload)
        self.assertEqual(m.payload_len, len(payload))
        self.assertEqual(m.src, NODE)
        self.assertEqual(m.dst, self.dest())
        self.assertEqual(m.queue, self.q)
        self.assertEqual(m.priority, 6)
        self.assertEqual(m.correlation, "corr-\u00e9-1")
        self.assertEqual(m.reply_to, "py.replies")
        self.assertTrue(m.receipt)
        self.assertFalse(m.transient)
        self.assertNotEqual(m.token, 0)
        self.assertEqual(m.deliveries, 1)
        # Made on this node: nobody else vouches for its source.
        self.assertEqual(m.origin, "local")
        self.assertEqual(m.via, "")
        self.assertGreaterEqual(m.created_ms, t0 - 1000)
        self.assertEqual(m.expires_ms - m.created_ms, 3600 * 1000)
        # ack=True: it is gone.
        self.assertEqual(self.count().messages, 0)
        with self.assertRaises(ferry.EEMPTY):
            self.c.recv(self.q)

    def test_defaults(self):
        mid = self.c.send(self.dest(), b"plain")
        m = self.c.recv(self.q)
        self.assertEqual(m.id, mid)
        self.assertEqual(m.priority, 3)
        self.assertIsNone(m.correlation)
        self.assertIsNone(m.reply_to)
        self.assertFalse(m.receipt)
        self.assertEqual(m.expires_ms, 0)  # default_ttl 0: never
        # track asks for receipts too (flags 2 and 4).
        self.c.send(self.dest(), b"tracked", track=True)
        t = self.c.recv(self.q)
        self.assertTrue(t.receipt)
        self.assertEqual(t.flags & ferry.MSG_TRACK, ferry.MSG_TRACK)
        self.c.send(self.dest(), b"ttl 0", ttl=0)
        self.assertEqual(self.c.recv(self.q).expires_ms, 0)

    def test_payload_kinds_and_sizes(self):
        sizes = [0, 1, 65535, 65536, 65537, 256 * 1024, 256 * 1024 + 1,
                 3 * 256 * 1024 + 7]
        r = random.Random(17)
        for size in sizes:
            data = r.randbytes(size) if hasattr(r, "randbytes") else \
                os.urandom(size)
            kinds = [
                ("bytes", data),
                ("bytearray", bytearray(data)),
                ("memoryview", memoryview(data)),
                ("file", io.BytesIO(data)),
                ("buffered file", io.BufferedReader(io.BytesIO(data))),
                ("iterable", (data[i:i + 1000]
                              for i in range(0, len(data), 1000))),
            ]
            for kind, value in kinds:
                with self.subTest(size=size, kind=kind):
                    mid = self.c.send(self.dest(), value)
                    m = self.c.recv(self.q)
                    self.assertEqual(m.id, mid)
                    self.assertEqual(m.payload_len, size)
                    if size <= 64 * 1024:
                        self.assertEqual(m.payload, data)
                    else:
                        # Not read into memory: a stream of the socket.
                        self.assertTrue(m.payload is None)
                        got = bytearray()
                        while True:
                            piece = m.stream.read(100000)
                            if not piece:
                                break
                            got += piece
                        self.assertEqual(bytes(got), data)
        self.assertEqual(self.count().messages, 0)

    def test_stream_must_be_finished(self):
        self.c.send(self.dest(), b"x" * 200000)
        self.c.send(self.dest(), b"second")
        m = self.c.recv(self.q)
        self.assertTrue(m.payload is None)
        with self.assertRaises(ferry.ESTATE):
            self.c.recv(self.q)
        self.assertEqual(m.stream.read(10), b"x" * 10)
        m.stream.close()  # the rest is read and dropped: given back
        m2 = self.c.recv(self.q)
        self.assertEqual(m2.id, m.id)  # it came back, first in line
        self.assertEqual(m2.deliveries, 2)
        self.assertEqual(len(m2.read()), 200000)
        self.assertEqual(self.c.recv(self.q).payload, b"second")
        self.assertEqual(self.count().messages, 0)

    def test_refused_while_streaming(self):
        # ferryd refuses a streamed send at once (here: a duplicate id);
        # the client notices between DATA frames and stops reading data.
        chosen = os.urandom(16)
        first = self.c.send(self.dest(), b"first", id=chosen)
        taken = [0]

        def pieces():
            for _ in range(400):  # 100 MiB, if it were all read
                taken[0] += 1
                yield b"d" * 262144

        with self.assertRaises(ferry.EDUPLICATE) as cm:
            self.c.send(self.dest(), pieces(), id=chosen)
        self.assertEqual(cm.exception.id, first)
        self.assertLess(taken[0], 40)
        self.c.send(self.dest(), b"in step")
        self.assertEqual([self.c.recv(self.q).payload for _ in range(2)],
                         [b"first", b"in step"])

    def test_aborted_send_stores_nothing(self):
        def pieces():
            yield b"a" * 300000
            raise RuntimeError("the producer failed")

        with self.assertRaises(RuntimeError):
            self.c.send(self.dest(), pieces())
        # The connection is still in step, nothing was stored.
        self.assertEqual(self.count().messages, 0)
        self.c.send(self.dest(), b"after")
        self.assertEqual(self.c.recv(self.q).payload, b"after")


class PriorityTest(LiveCase):
    def test_priority_then_fifo(self):
        sent = [(0, b"p0"), (7, b"p7a"), (3, b"p3a"), (5, b"p5"),
                (3, b"p3b"), (7, b"p7b"), (0, b"p0b")]
        for prio, data in sent:
            self.c.send(self.dest(), data, priority=prio)
        got = []
        for _ in sent:
            m = self.c.recv(self.q)
            got.append((m.priority, m.payload))
        self.assertEqual(got, [(7, b"p7a"), (7, b"p7b"), (5, b"p5"),
                               (3, b"p3a"), (3, b"p3b"), (0, b"p0"),
                               (0, b"p0b")])
        # Also for payloads that stream.
        self.c.send(self.dest(), b"L" * 100000, priority=1)
        self.c.send(self.dest(), b"H" * 100000, priority=2)
        self.assertEqual(self.c.recv(self.q).read()[:1], b"H")
        self.assertEqual(self.c.recv(self.q).read()[:1], b"L")


class AckNackTest(LiveCase):
    def test_ack_and_nack(self):
        mid = self.c.send(self.dest(), b"work")
        m = self.c.recv(self.q, ack=False)
        self.assertEqual(m.id, mid)
        st = self.count()
        self.assertEqual((st.messages, st.leased), (1, 1))
        with self.assertRaises(ferry.EEMPTY):
            self.c.recv(self.q)  # leased: hidden from others
        self.c.nack(m)
        self.assertEqual(self.count().leased, 0)
        m2 = self.c.recv(self.q, ack=False)
        self.assertEqual(m2.id, mid)
        self.assertEqual(m2.deliveries, 2)
        with self.assertRaises(ferry.ELEASE):
            self.c.ack(m2.id, token=m2.token + 1)
        with self.assertRaises(ferry.ELEASE):
            self.c.ack(m)  # the first lease's token
        self.c.ack(m2)
        self.assertEqual(self.count().messages, 0)
        with self.assertRaises(ferry.ESTATE) as cm:
            self.c.ack(m2)
        self.assertIn("acknowledged already", cm.exception.text)
        with self.assertRaises(ferry.EEMPTY):
            self.c.recv(self.q)

    def test_lease_runs_out(self):
        mid = self.c.send(self.dest(), b"lease me")
        m = self.c.recv(self.q, lease=1, ack=False)
        self.assertEqual(m.id, mid)
        self.assertLessEqual(m.lease_until_ms - time.time() * 1000, 1100)
        t0 = time.monotonic()
        m2 = self.c.recv(self.q, wait=5, ack=False)
        took = time.monotonic() - t0
        self.assertEqual(m2.id, mid)
        self.assertEqual(m2.deliveries, 2)
        self.assertGreater(took, 0.5)
        with self.assertRaises(ferry.ELEASE):
            self.c.ack(m)
        self.c.ack(m2)

    def test_renew_and_delayed_nack(self):
        self.c.send(self.dest(), b"slow")
        m = self.c.recv(self.q, lease=1, ack=False)
        self.c.renew(m, 3)
        time.sleep(1.6)
        with self.assertRaises(ferry.EEMPTY):
            self.c.recv(self.q)  # the renewed lease holds
        self.c.nack(m, delay=0.5)  # given back half a second from now
        with self.assertRaises(ferry.EEMPTY):
            self.c.recv(self.q)
        m2 = self.c.recv(self.q, wait=5)
        self.assertEqual(m2.id, m.id)

    def test_peek(self):
        mid = self.c.send(self.dest(), b"look")
        for _ in range(2):
            p = self.c.recv(self.q, peek=True)
            self.assertEqual((p.id, p.payload, p.token), (mid, b"look", 0))
        self.assertEqual(self.count().messages, 1)
        m = self.c.recv(self.q)
        self.assertEqual(m.id, mid)
        self.assertNotEqual(m.token, 0)
        with self.assertRaises(ferry.EEMPTY):
            self.c.recv(self.q, peek=True)

    def test_wait_woken_by_send(self):
        def later():
            time.sleep(0.5)
            with ferry.connect() as c2:
                c2.send(self.dest(), b"woken")

        t = threading.Thread(target=later)
        t0 = time.monotonic()
        t.start()
        m = self.c.recv(self.q, wait=10)
        t.join()
        self.assertEqual(m.payload, b"woken")
        self.assertLess(time.monotonic() - t0, 5)
        t0 = time.monotonic()
        with self.assertRaises(ferry.EEMPTY):
            self.c.recv(self.q, wait=0.3)
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)

    def test_dead_letter(self):
        mid = self.c.send(self.dest(), b"poison")
        m = self.c.recv(self.q, ack=False)
        self.c.dead_letter(m, "it broke: line 3")
        self.assertEqual(self.count().messages, 0)
        for d in self.c.browse("dead"):
            if d.id == mid:
                self.assertEqual(d.dead_reason, 6)
                self.assertEqual(d.dead_text, "it broke: line 3")
                break
        else:
            self.fail("the dead letter is not in dead")
        self.c.ack(mid)  # by id alone: gone from dead


class SubscribeTest(LiveCase):
    def test_iterator(self):
        sent = [b"one", b"two", b"", b"B" * 200000, b"five"]
        ids = [self.c.send(self.dest(), d) for d in sent]
        got = []
        with self.c.subscribe(self.q, wait=1) as sub:
            for m in sub:
                got.append((m.id, m.read()))
                if len(got) == len(sent):
                    break
        self.assertEqual(got, list(zip(ids, sent)))
        self.assertEqual(self.count().messages, 0)  # all acked

    def test_pushed_while_subscribed(self):
        def sender():
            with ferry.connect() as c2:
                for i in range(5):
                    time.sleep(0.1)
                    c2.send(self.dest(), b"m%d" % i)

        t = threading.Thread(target=sender)
        t.start()
        got = []
        with self.c.subscribe(self.q, wait=5) as sub:
            for m in sub:
                got.append(m.payload)
                if len(got) == 5:
                    break
        t.join()
        self.assertEqual(got, [b"m%d" % i for i in range(5)])

    def test_credit_and_give_back(self):
        ids = [self.c.send(self.dest(), b"c%d" % i) for i in range(6)]
        sub = self.c.subscribe(self.q, ack=False, credit=2, wait=2)
        first = next(sub)
        self.assertEqual(first.id, ids[0])
        time.sleep(0.5)
        # Held: the one handed out and at most one more (credit 2).
        self.assertEqual(self.count().leased, 2)
        # Other requests work meanwhile; pushes are kept for the iterator.
        self.c.send(self.dest("py.other"), b"x")
        self.assertEqual(self.c.recv("py.other").payload, b"x")
        second = next(sub)
        self.assertEqual(second.id, ids[1])
        self.c.ack(first)
        sub.close()
        # The pushed message not handed out yet was given back.
        st = self.count()
        self.assertEqual((st.messages, st.leased), (5, 1))
        self.c.nack(second)
        got = [self.c.recv(self.q).id for _ in range(5)]
        self.assertEqual(got, ids[1:])

    def test_unread_stream_is_given_back(self):
        big = self.c.send(self.dest(), b"Z" * 300000)
        with self.c.subscribe(self.q, wait=1) as sub:
            m = next(sub)
            self.assertEqual(m.id, big)
            self.assertTrue(m.payload is None)
            self.assertEqual(m.stream.read(5), b"ZZZZZ")
            # The next step drops the rest of it: given back, it is
            # pushed again.
            m2 = next(sub)
            self.assertEqual(m2.id, big)
            self.assertEqual(m2.deliveries, 2)
            self.assertEqual(m2.read(), b"Z" * 300000)
        self.assertEqual(self.count().messages, 0)


class RequestReplyTest(LiveCase):
    def responder(self, queue, replies, stray=False):
        """Answer up to replies requests of queue, in a thread."""
        def run():
            with ferry.connect() as c:
                for _ in range(replies):
                    m = c.recv(queue, wait=10, ack=False)
                    body = m.read()
                    if stray:
                        c.send("%s/%s" % (m.src, m.reply_to), b"stray",
                               correlation="not-yours")
                    c.reply(m, b"pong:" + body[:10] + b":%d" % len(body))
                    c.ack(m)

        t = threading.Thread(target=run)
        t.start()
        return t

    def reply_queues(self):
        return [q.name for q in self.c.queues()
                if q.name.startswith("reply.")]

    def test_request_reply(self):
        before = self.reply_queues()
        t = self.responder(self.q, 2, stray=True)
        r = self.c.request(self.dest(), b"ping", timeout=10, priority=6)
        self.assertEqual(r.payload, b"pong:ping:4")
        self.assertRegex(r.correlation, "^[0-9a-f]{32}$")
        self.assertEqual(r.priority, 6)  # the replier kept it
        self.assertEqual(r.src, NODE)
        out = io.BytesIO()
        big = b"q" * 500000
        r = self.c.request(self.dest(), io.BytesIO(big), timeout=10, out=out)
        t.join()
        self.assertIsNone(r.payload)
        self.assertEqual(out.getvalue(), b"pong:qqqqqqqqqq:500000")
        # Replies acked, strays dropped, reply queues closed.
        self.assertEqual(self.reply_queues(), before)
        self.assertEqual(self.count().messages, 0)

    def test_big_reply(self):
        def run():
            with ferry.connect() as c:
                m = c.recv(self.q, wait=10)
                c.reply(m, io.BytesIO(b"R" * 700000))

        t = threading.Thread(target=run)
        t.start()
        r = self.c.request(self.dest(), b"give", timeout=10)
        t.join()
        self.assertEqual(r.payload, b"R" * 700000)

    def test_timeout_and_late_reply(self):
        before = self.reply_queues()
        t0 = time.monotonic()
        with self.assertRaises(ferry.ETIMEDOUT):
            self.c.request(self.dest(), b"anyone?", timeout=0.5)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.45)
        self.assertLess(took, 5)
        self.assertEqual(self.reply_queues(), before)
        # The reply that comes late goes to dead, "no one waiting".
        req = self.c.recv(self.q)
        rid = self.c.reply(req, b"too late")
        for d in self.c.browse("dead"):
            if d.id == rid:
                self.assertEqual(d.dead_reason, 7)
                self.assertEqual(d.correlation, req.correlation)
                break
        else:
            self.fail("the late reply is not in dead")
        self.c.ack(rid)


class ErrorTest(LiveCase):
    def test_bad_destinations(self):
        with self.assertRaises(ferry.ENOROUTE) as cm:
            self.c.send("no-such-node/q", b"x")
        self.assertIn("no-such-node", cm.exception.text)
        for dest in ["noslash", "Upper/q", "%s/../x" % NODE, "%s/" % NODE,
                     "/q", "%s/a//b" % NODE, "%s/q q" % NODE,
                     "n" * 64 + "/q", "%s/%s" % (NODE, "q" * 128), None]:
            with self.subTest(dest=dest):
                with self.assertRaises(ferry.EINVAL) as cm:
                    self.c.send(dest, b"x")
                # Refused here, before anything is sent.
                self.assertIn("NODE/QUEUE address", cm.exception.text)
        with self.assertRaises(ferry.EPERM) as cm:
            self.c.send("%s/ferry.mine" % NODE, b"x")
        self.assertIn("reserved", cm.exception.text)
        # The connection is fine after each refusal.
        self.c.send(self.dest(), b"ok")
        self.assertEqual(self.c.recv(self.q).payload, b"ok")

    def test_bad_arguments(self):
        for kw in [{"priority": 8}, {"priority": -1}, {"priority": "3"},
                   {"ttl": -1}, {"correlation": "c" * 128},
                   {"correlation": "a\0b"}, {"reply_to": "a/../b"},
                   {"id": "xyz"}, {"id": b"short"}]:
            with self.subTest(kw=kw):
                with self.assertRaises(ferry.EINVAL):
                    self.c.send(self.dest(), b"x", **kw)
        with self.assertRaises(ferry.EINVAL):
            self.c.send(self.dest(), "text, not bytes")
        with self.assertRaises(ferry.EINVAL):
            self.c.recv("bad queue")
        self.assertEqual(self.count().messages, 0)

    def test_unknown_queue_and_id(self):
        with self.assertRaises(ferry.ENOTFOUND):
            self.c.queue_stats("py.never-used." + os.urandom(4).hex())
        with self.assertRaises(ferry.EEMPTY) as cm:
            self.c.recv("py.never-used." + os.urandom(4).hex())
        self.assertIn("empty", cm.exception.text)
        with self.assertRaises(ferry.ENOTFOUND):
            self.c.ack(os.urandom(16).hex())
        try:
            self.c.ack(os.urandom(16))
        except ferry.Error as e:
            self.assertIsInstance(e, ferry.ENOTFOUND)
            self.assertEqual(e.code, -7)
            self.assertEqual(e.name, "ENOTFOUND")
            self.assertIn("ENOTFOUND", str(e))

    def test_no_agent(self):
        d = tempfile.mkdtemp()
        try:
            with self.assertRaises(ferry.ECONNECT):
                ferry.connect(os.path.join(d, "none.sock"))
        finally:
            os.rmdir(d)
        with self.assertRaises(ferry.EINVAL):
            ferry.connect("/" + "x" * 200)

    def test_default_socket(self):
        env = dict(os.environ)
        try:
            os.environ["FERRY_SOCKET"] = "/some/where.sock"
            self.assertEqual(ferry.default_socket(), "/some/where.sock")
            del os.environ["FERRY_SOCKET"]
            os.environ["XDG_STATE_HOME"] = "/nonexistent-xdg"
            want = ("/run/ferry/ferry.sock"
                    if os.geteuid() == 0 or
                    os.path.exists("/run/ferry/ferry.sock")
                    else "/nonexistent-xdg/ferry/ferry.sock")
            self.assertEqual(ferry.default_socket(), want)
        finally:
            os.environ.clear()
            os.environ.update(env)

    def test_every_code_has_its_class(self):
        if not SRCDIR:
            self.skipTest("FERRY_TEST_SRCDIR is not set")
        with open(os.path.join(SRCDIR, "lib", "ferry_err.h")) as f:
            codes = dict(re.findall(r"FERRY_(E[A-Z]+)\s*=\s*(-\d+)",
                                    f.read()))
        with open(os.path.join(SRCDIR, "lib", "ferry_err.c")) as f:
            words = {
                name: "".join(re.findall(r'"([^"]*)"', text))
                for name, text in re.findall(
                    r"case FERRY_(E[A-Z]+):\s*return\s+((?:\"[^\"]*\"\s*)+);",
                    f.read())
            }
        self.assertEqual(len(codes), 24)
        for name, value in codes.items():
            with self.subTest(code=name):
                cls = getattr(ferry, name)
                self.assertTrue(issubclass(cls, ferry.Error))
                self.assertEqual(cls.code, int(value))
                self.assertIs(ferry.error_class(int(value)), cls)
                self.assertEqual(ferry.strerror(int(value)), words[name])
                self.assertEqual(cls().text, words[name])
        self.assertIs(ferry.error_class(-99), ferry.Error)
        self.assertEqual(ferry.error_class(-99)(code=-99).code, -99)


class BigPayloadTest(LiveCase):
    """100 MiB sent from a generator-backed file object and received
    through msg.stream, while the process's peak RSS stays under
    RSS_LIMIT_MIB."""

    class Generated(io.RawIOBase):
        """A file object whose bytes come from a generator of pieces."""

        def __init__(self, size, seed):
            super().__init__()
            self.sha = hashlib.sha256()
            self._gen = self._pieces(size, seed)
            self._piece = memoryview(b"")

        def _pieces(self, size, seed):
            r = random.Random(seed)
            while size > 0:
                n = min(size, 100000 + r.randrange(200000))
                block = (r.getrandbits(64).to_bytes(8, "big") *
                         ((n + 7) // 8))[:n]
                self.sha.update(block)
                size -= n
                yield block

        def readable(self):
            return True

        def readinto(self, b):
            if not self._piece:
                self._piece = memoryview(next(self._gen, b""))
            n = min(len(b), len(self._piece))
            b[:n] = self._piece[:n]
            self._piece = self._piece[n:]
            return n

    def test_100mib_both_ways(self):
        ru0, hwm0 = peak_rss_mib()
        src = self.Generated(BIG, 1717)
        t0 = time.monotonic()
        mid = self.c.send(self.dest(), src)
        t_send = time.monotonic() - t0
        self.assertEqual(self.count().bytes, BIG)

        t0 = time.monotonic()
        m = self.c.recv(self.q)
        self.assertEqual(m.id, mid)
        self.assertEqual(m.payload_len, BIG)
        self.assertTrue(m.payload is None, "the payload was read whole")
        sha = hashlib.sha256()
        buf = bytearray(1024 * 1024)
        total = 0
        while True:
            n = m.stream.readinto(buf)
            if not n:
                break
            sha.update(memoryview(buf)[:n])
            total += n
        t_recv = time.monotonic() - t0
        self.assertEqual(total, BIG)
        self.assertEqual(sha.hexdigest(), src.sha.hexdigest())
        self.assertEqual(self.count().messages, 0)  # acked at its end
        ru, hwm = peak_rss_mib()
        print("\n# %d MiB: send %.1f s, recv %.1f s; peak RSS (ru_maxrss) "
              "%d MiB, %d MiB before; VmHWM %s MiB, %s MiB before"
              % (BIG >> 20, t_send, t_recv, ru, ru0, hwm, hwm0))
        if hwm is not None:
            self.assertLess(hwm, RSS_LIMIT_MIB)
        if ru0 < RSS_LIMIT_MIB:  # else the parent's peak, inherited
            self.assertLess(ru, RSS_LIMIT_MIB)


# ------------------------------------------------------ hostile frames


def frame(ftype, reqid, body=b"", flags=0, reserved=0):
    return struct.pack(">IBBHI", 8 + len(body), ftype, flags, reserved,
                       reqid) + body


def field(tag, value):
    return struct.pack(">BI", tag, len(value)) + value


def u64(tag, v):
    return field(tag, struct.pack(">Q", v))


def header(payload_len, token=9):
    return (field(10, b"\x01" * 16) + field(18, b"node") +
            field(1, b"node") + field(2, b"q") + u64(8, payload_len) +
            u64(14, token))


class FakeAgent:
    """A socket that reads one request frame per connection and answers
    it with respond(reqid): bytes (then holds the connection open until
    the client goes, or closes it with close=True)."""

    def __init__(self, respond, close=False):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "fake.sock")
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(1)
        self.respond = respond
        self.close_after = close
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def recvall(self, conn, n):
        data = b""
        while len(data) < n:
            more = conn.recv(n - len(data))
            if not more:
                raise EOFError
            data += more
        return data

    def serve(self):
        conn, _ = self.srv.accept()
        with conn:
            try:
                (n,) = struct.unpack(">I", self.recvall(conn, 4))
                req = self.recvall(conn, n)
                conn.sendall(self.respond(struct.unpack(">I", req[4:8])[0]))
                if self.close_after:
                    return
                conn.settimeout(10)
                while conn.recv(65536):
                    pass
            except (EOFError, OSError):
                pass

    def stop(self):
        self.srv.close()
        self.thread.join(15)
        shutil.rmtree(self.dir)


class FakeAgentTest(unittest.TestCase):
    """Bytes from the socket are hostile: every rule of lib/frame.c is
    checked, and breaking one is a clear EPROTO (or ECONNECT), at once."""

    def expect(self, respond, exc, words, call=None, close=False):
        fake = FakeAgent(respond, close=close)
        try:
            c = ferry.connect(fake.path)
            t0 = time.monotonic()
            with self.assertRaises(exc) as cm:
                (call or (lambda c: c.recv("q").read()))(c)
            self.assertLess(time.monotonic() - t0, 3)
            self.assertIn(words, str(cm.exception))
            if exc is ferry.EPROTO:
                # Out of step: the connection is not used again.
                with self.assertRaises(ferry.ECONNECT):
                    c.recv("q")
            c.close()
        finally:
            fake.stop()
        return cm.exception

    def test_frame_length_too_large(self):
        # Refused from the four bytes alone: nothing waits for 2 GiB.
        self.expect(lambda r: struct.pack(">I", 0x7FFFFFFF), ferry.EPROTO,
                    "frame length")
        self.expect(lambda r: struct.pack(">I", 1024 * 1024 + 1),
                    ferry.EPROTO, "frame length")

    def test_frame_length_too_small(self):
        self.expect(lambda r: struct.pack(">I", 4) + b"\x43\0\0\0",
                    ferry.EPROTO, "frame length")

    def test_bad_flags_and_reserved(self):
        self.expect(lambda r: frame(67, r, header(0), flags=4),
                    ferry.EPROTO, "flags")
        self.expect(lambda r: frame(67, r, header(0), reserved=1),
                    ferry.EPROTO, "reserved")

    def test_bad_fields(self):
        cases = [
            (field(11, b"q" * 128), "too long"),
            (field(7, b"a\0b"), "NUL"),
            (field(3, b"\1") + field(3, b"\2"), "duplicate"),
            (field(14, b"\0\0\0\1"), "wrong size"),
            (field(10, b"\1" * 15), "wrong size"),
            (b"\x03" + struct.pack(">I", 100) + b"\1", "longer than"),
            (b"\x03\0\0", "truncated"),
        ]
        for body, words in cases:
            with self.subTest(words=words):
                self.expect(lambda r: frame(67, r, body, flags=1),
                            ferry.EPROTO, words)

    def test_unknown_fields_are_skipped(self):
        body = field(0, b"zero") + field(99, b"future") + header(2) + \
            field(9, b"hi") + field(127, b"")
        fake = FakeAgent(lambda r: frame(67, r, body, flags=1) +
                         frame(65, r + 1))
        try:
            with ferry.connect(fake.path) as c:
                m = c.recv("q")  # acked: the OK after it answers
                self.assertEqual(m.payload, b"hi")
        finally:
            fake.stop()

    def test_inline_payload_length(self):
        self.expect(lambda r: frame(67, r, header(10) + field(9, b"abc"),
                                    flags=1), ferry.EPROTO, "payload_len")

    def test_data_frame_too_large(self):
        n = 300 * 1024
        self.expect(lambda r: frame(67, r, header(n)) +
                    frame(3, r, b"d" * n, flags=1), ferry.EPROTO,
                    "DATA frame")

    def test_stream_longer_than_declared(self):
        self.expect(lambda r: frame(67, r, header(100000)) +
                    frame(3, r, b"d" * 100001, flags=1), ferry.EPROTO,
                    "more payload")

    def test_stream_shorter_than_declared(self):
        self.expect(lambda r: frame(67, r, header(100000)) +
                    frame(3, r, b"d" * 50000, flags=1), ferry.EPROTO,
                    "short")

    def test_error_code_out_of_range(self):
        self.expect(lambda r: frame(66, r, field(16, b"\0\0\0\5")),
                    ferry.EPROTO, "malformed ERROR")

    def test_answer_out_of_turn(self):
        self.expect(lambda r: frame(65, r + 7), ferry.EPROTO, "out of turn")

    def test_goodbye(self):
        e = self.expect(lambda r: frame(66, 0, field(16, struct.pack(
            ">i", -23)) + field(17, b"too many clients from uid 7")),
            ferry.ETOOMANY, "refused the connection: too many clients")
        self.assertEqual(e.code, -23)

    def test_cut_mid_frame(self):
        self.expect(lambda r: frame(65, r, field(10, b"\1" * 16))[:15],
                    ferry.ECONNECT, "closed the connection",
                    call=lambda c: c.send("n/q", b"x"), close=True)

    def test_pushes_beyond_credit(self):
        push = frame(67, 1, header(1) + field(9, b"p"), flags=1)

        def call(c):
            sub = c.subscribe("q", credit=1)
            c.queues()  # meets two pushes on the way: one too many
            sub.close()

        self.expect(lambda r: frame(65, r) + push + push, ferry.EPROTO,
                    "credit", call=call)


if __name__ == "__main__":
    unittest.main()
