#!/usr/bin/python3
"""intake_interop.py - what a peer may hand ferryd, over both transports.

A real ferryd for node "beta" knows three peers: "alpha", played by this
script with an independent implementation of the wire (hopwire.py and
bundlewire.py on Debian's python3-dissononce and PyNaCl, none of ferry's
C code), "gamma", a card only (no address: what beta sends it stays
outbound), and "epsilon", also played here, which never meets beta live
(only its bundles arrive).  It listens on a loopback port and has
`[limits] max_message` as the table says (384K: above the 256 KiB where
both transports stop holding a payload in memory: TCP streams it to a
store writer, an import writes it to the store during the verifying
pass, so the table reaches both paths).

The table is tests/intake_cases.txt, which tests/unit/test_intake.c runs
too over the in-process loopback transport; its comments say what each
column means.  Every case of it runs twice, each time on its own:
- tcp: a fresh Noise IK session as alpha (preamble, handshake, HELLOs),
  the MSG with its CHUNKs and END (above 256 KiB, the MSG first and the
  rest only after ferryd's RESUME, as docs/hop.md says), then what
  ferryd answers (CUSTODY, REFUSE and its reason, or the end of the
  session), then CLOSE;
- bundle: one bundle from alpha sealed in Python (bundlewire.py) put in
  the medium folder for beta, `ferry import`, then the custody receipts
  beta wrote back for alpha are opened in Python.
and then what is stored: `ferry status --json` (message count),
`ferry queues --json`, `ferry status ID`, the new lines of beta's log.

The cases (agent/intake.c, store/receipt.c):
- control: alpha -> beta/in, 1 KiB and 300 KiB: stored, custody back;
- (1) a MSG whose src_node is "delta", not the peer: TCP ends the
  session (a protocol violation), the bundle's message is refused;
  nothing stored, no custody;
- (2) a MSG to the reserved queue ferry.secret: TCP REFUSE no-route (3),
  the bundle's message is refused; nothing stored, no custody;
- (3) a 400 KiB MSG, above max_message: TCP REFUSE too-big (2), the
  bundle's message is refused; nothing stored, no custody;
- control: a receipt "ferry-receipt/1 acked ID alpha T" from alpha for a
  message beta sent to alpha: `ferry status ID` shows it;
- (4a) the same for a message beta sent to gamma (alpha never had it),
  (4b) the same naming gamma as the reporter (alpha speaking for gamma):
  `ferry status ID` shows no receipt, nothing is queued;
- (5) a TTL of 1 day, alpha's clock right, a year behind or a year
  ahead (its HELLO says so: for a bundle, a session that only says
  HELLO goes first, so that ferryd has measured the offset, and the
  bundle and its MSG are dated by alpha's clock): stored, and `ferry
  status ID` says it expires 1 day from now within the clock-skew
  allowance (1 h), neither expired on arrival nor a year later; a
  session with alpha's clock right follows, for the next case;
- (5c) a bundle from epsilon (never met live: its clock is unknown)
  dated a year ahead: refused as from the future, nothing stored, no
  custody (TCP: skipped).

Outside the table: `ferry send beta/ferry.receipts` and
`gamma/ferry.receipts` are refused (exit 5, "reserved"), nothing stored;
a FIFO named like a bundle in the medium folder: `ferry import` ends
within 5 s, says it refused it ("not a regular file", moved to
ferry/rejected/), and `ferry send` answers within 1 s meanwhile.

Every check is reported (ok/not ok) before the verdict.  Exit 0 (pass),
1 (fail), 77 (skip: dissononce or PyNaCl missing), 99 (harness error).

    top_builddir=BUILD tests/interop/intake_interop.py
"""

import calendar
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import bundlewire as bw
    import ferryagent as fa
    import hopwire as hw
    from ferryagent import Fail, Harness, now_ms
except ImportError as e:
    print("intake_interop: %s (python3-dissononce or PyNaCl missing?): "
          "skipped" % e)
    sys.exit(77)

NAME = "intake_interop"
MAX_MESSAGE = None            # [limits] max_message of beta (the table)
BIG = 256 * 1024              # above it: streamed (TCP) / direct (bundle)
STEP_SECS = 10                # the longest any wait may take
BUNDLE_CHUNK = 60000          # bytes per CHUNK frame in a bundle (<65,491)

REFUSE_TOO_BIG, REFUSE_NO_ROUTE = 2, 3  # docs/hop.md 4.1

# What ferryd must do with a case's message (the expect column of
# tests/intake_cases.txt).
STORED = "stored"             # custody, in its queue
FORGED = "forged"             # tcp: session ended; bundle: refused
RESERVED = "reserved"         # tcp: REFUSE no-route; bundle: refused
TOO_BIG = "too-big"           # tcp: REFUSE too-big; bundle: refused
FUTURE = "future"             # bundle: refused, dated in the future
RCPT_COUNTED = "receipt counted"
RCPT_IGNORED = "receipt ignored"
EXPECT = {"stored": STORED, "forged": FORGED, "reserved": RESERVED,
          "too-big": TOO_BIG, "future": FUTURE,
          "receipt-counted": RCPT_COUNTED, "receipt-ignored": RCPT_IGNORED}
REFUSED = (FORGED, RESERVED, TOO_BIG, FUTURE)

SKEW_MS = 3600 * 1000         # ferryd's clock-skew allowance (intake.h)
UNIT_MS = {"s": 1000, "m": 60000, "h": 3600000, "d": 86400000,
           "y": 365 * 86400000}

CASES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          os.pardir, "intake_cases.txt")


class Case:
    """One line of tests/intake_cases.txt (its comments say what each
    column means)."""

    def __init__(self, cols):
        (self.name, self.src, self.queue, size, ttl, clock, self.contact,
         expect) = cols
        if size.startswith("receipt"):
            # (target node of the message it reports on, NODE written in
            # the receipt)
            _, to, by = size.split()
            self.size = (to, by)
        else:
            self.size = parse_size(size)
        self.ttl_ms = 0 if ttl == "-" else parse_ms(ttl)
        self.clock_ms = parse_ms(clock)
        if self.contact not in ("live", "none"):
            raise ValueError("contact %r" % self.contact)
        self.expect = EXPECT[expect]


def parse_size(text):
    if text.endswith("K"):
        return int(text[:-1]) * 1024
    return int(text)


def parse_ms(text):
    if text == "0":
        return 0
    return int(text[:-1]) * UNIT_MS[text[-1]]


def load_cases(path):
    """(settings, [Case]) from the table."""
    settings, cases = {}, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                if "|" not in line:
                    key, value = (x.strip() for x in line.split("=", 1))
                    settings[key] = value
                    continue
                cols = [c.strip() for c in line.split("|")]
                if len(cols) != 8:
                    raise ValueError("%d columns, not 8" % len(cols))
                cases.append(Case(cols))
            except (ValueError, KeyError) as e:
                raise Harness("%s:%d: %s" % (path, n, e))
    return settings, cases


RESULTS = []  # (ok, text)


def note(text):
    print("# " + text)


def report(good, text):
    RESULTS.append((good, text))
    print(("ok - " if good else "not ok - ") + text)


def rfc3339_ms(text):
    """ms since the epoch of ferry's "2026-12-04T21:22:48.123Z"."""
    base, frac = text.rstrip("Z").split(".")
    return (calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) *
            1000 + int(frac))



# ------------------------------------------------------------ the agent

class Agent(fa.Agent):
    """ferryd for beta in a private directory, and `ferry` on it."""

    # --- what is stored

    def snapshot(self):
        """(stored messages, {queue: messages})"""
        st = json.loads(self.run(["status", "--json"]))
        qs = json.loads(self.run(["queues", "--json"]))["queues"]
        return st["messages"], {q["queue"]: q["messages"] for q in qs
                                if q["messages"] > 0}

    def status(self, hexid):
        return json.loads(self.run(["status", hexid, "--json"]))


# ------------------------------------------------------------------- TCP

class Conn(fa.Conn):
    """One Noise session with ferryd as alpha (as link_interop.py)."""

    def __init__(self, port, alpha, beta_pk, clock_ms=0):
        """clock_ms: alpha's clock minus ours, as its HELLO shows it."""
        super().__init__(port)
        self.frames = []      # every frame ferryd sent
        self.eof = False
        hs = hw.initiator(alpha.kx, beta_pk)
        m1, _ = hw.write_msg(hs)
        self.send(hw.PREAMBLE + hw.u16(m1))
        deadline = time.monotonic() + STEP_SECS
        if not self.fill(2, deadline):
            raise Fail("no handshake message 2 within %d s" % STEP_SECS)
        n = int.from_bytes(self.take(2), "big")
        if n != hw.MSG2_LEN or not self.fill(n, deadline):
            raise Fail("bad handshake message 2 (%d bytes)" % n)
        self.tx, self.rx = hs.read_message(self.take(n), bytearray())
        self.send_record(hw.hello("alpha", keepalive_ms=6000,
                                  clock_ms=now_ms() + clock_ms))
        rec = self.recv_record(time.monotonic() + STEP_SECS)
        if rec is None:
            raise Fail("no HELLO from ferryd within %d s" % STEP_SECS)
        fr = hw.frames(rec)
        if not fr or fr[0][0] != hw.HELLO:
            raise Fail("ferryd's first record is not a HELLO")
        h = hw.parse_hello(fr[0][1])
        if h["node"] != "beta":
            raise Fail("HELLO from %r" % h["node"])
        self.plain_max = min(h["max_record"], hw.RECORD_MAX) - hw.TAG_LEN
        self.frames += fr[1:]

    def until(self, done, secs=STEP_SECS):
        """Read frames (KEEPALIVE when silent for 1 s) until done(frame)
        names one, the session ends (None) or secs pass (False)."""
        for fr in self.frames:
            if done(fr):
                return fr
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            try:
                if time.monotonic() - self.last_tx > 1:
                    self.send_record(hw.keepalive())
                rec = self.recv_record(min(deadline,
                                           time.monotonic() + 0.5))
            except (EOFError, ConnectionError, BrokenPipeError):
                self.eof = True
                return None
            if rec is None:
                continue
            new = hw.frames(rec)
            self.frames += new
            for fr in new:
                if done(fr):
                    return fr
        return False

    def finish(self):
        """CLOSE (unless ferryd hung up already), then every frame until
        ferryd hangs up."""
        if self.eof:
            return
        try:
            self.send_record(hw.close(0, "intake test done"))
        except (ConnectionError, BrokenPipeError):
            self.eof = True
            return
        if self.until(lambda fr: False) is False:
            raise Fail("ferryd kept the session open %d s after CLOSE"
                       % STEP_SECS)


def names_id(fr, mid):
    """'custody', 'refuse N', 'resume N' if frame fr names mid."""
    t, body = fr
    if t == hw.CUSTODY and mid in hw.parse_custody(body):
        return "custody"
    if t == hw.REFUSE and body[:16] == mid:
        return "refuse %d" % body[16]
    if t == hw.RESUME and body[:16] == mid:
        return "resume %d" % struct.unpack(">Q", body[16:24])[0]
    return None


def meet(t, clock_ms):
    """A session of alpha's that only says HELLO, its clock clock_ms off
    ours (ferryd measures the offset), and CLOSE."""
    c = Conn(t.agent.port, t.alpha_hw, t.beta_pk, clock_ms)
    try:
        c.finish()
    finally:
        c.close()


def over_tcp(t, mid, src, queue, payload, ttl_ms=0, clock_ms=0):
    """Send one message as alpha, its clock clock_ms off ours; (what
    ferryd answered, custody given).  The answer: 'custody', 'refuse N',
    'ended' (session ended) or 'nothing'."""
    c = Conn(t.agent.port, t.alpha_hw, t.beta_pk, clock_ms)
    try:
        if len(payload) > BIG:
            # Large: the MSG alone; the bytes follow ferryd's RESUME.
            c.send_record(hw.msg(mid, src, "beta", queue, len(payload),
                                 created_ms=now_ms() + clock_ms,
                                 ttl_ms=ttl_ms))
            fr = c.until(lambda fr: names_id(fr, mid) is not None)
            first = names_id(fr, mid) if fr else None
            if first is not None and first.startswith("resume"):
                if first != "resume 0":
                    raise Fail("RESUME at %s for a new message" % first)
                room = c.plain_max - hw.FRAME_HDR - hw.CHUNK_HDR
                for off in range(0, len(payload), room):
                    c.send_record(hw.chunk(mid, off,
                                           payload[off:off + room]))
                c.send_record(hw.end(mid, payload))
        else:
            for rec in hw.message_records(mid, src, "beta", queue, payload,
                                          c.plain_max,
                                          created_ms=now_ms() + clock_ms,
                                          ttl_ms=ttl_ms):
                c.send_record(rec)
        fr = c.until(lambda fr: (names_id(fr, mid) or "resume")
                     .split()[0] != "resume")
        answer = ("ended" if fr is None else "nothing" if fr is False
                  else names_id(fr, mid))
        c.finish()
        custody = any(names_id(fr, mid) == "custody" for fr in c.frames)
        return answer, custody
    finally:
        c.close()


# ---------------------------------------------------------------- bundle

def bundle_frames(mid, src, queue, payload, created_ms, ttl_ms=0):
    """MSG, CHUNKs, END of one message in a bundle (docs/formats.md 1.3:
    frame bodies up to 65,515 bytes, END's hash as zeros)."""
    out = [hw.msg(mid, src, "beta", queue, len(payload),
                  created_ms=created_ms, ttl_ms=ttl_ms)]
    for off in range(0, len(payload), BUNDLE_CHUNK):
        out.append(hw.chunk(mid, off, payload[off:off + BUNDLE_CHUNK]))
    out.append(hw.frame(hw.END, mid + struct.pack(">Q", len(payload)) +
                        bytes(32)))
    return b"".join(out)


def custody_on_stick(t):
    """Ids in the CUSTODY frames of beta's bundles for alpha on the stick
    (opened in Python); the bundles are removed."""
    ids = set()
    if not os.path.isdir(t.alpha_folder):
        return ids
    for name in sorted(os.listdir(t.alpha_folder)):
        if not name.endswith(".bundle"):
            continue
        path = os.path.join(t.alpha_folder, name)
        with open(path, "rb") as f:
            data = f.read()
        for ftype, body in bw.split_frames(
                bw.read_bundle(t.alpha.seed, t.beta_seed, data)):
            if ftype == hw.CUSTODY:
                ids.update(hw.parse_custody(body))
        os.unlink(path)
    return ids


def over_bundle(t, mid, src, queue, payload, ttl_ms=0, clock_ms=0,
                sender=None):
    """One bundle from sender (alpha unless said) holding the message,
    sealed by its clock, clock_ms off ours, imported; (what the import
    said, custody given)."""
    t.seq += 1
    created = now_ms() + clock_ms
    data = bw.write_bundle((sender or t.alpha).seed, t.beta_seed, t.seq,
                           bundle_frames(mid, src, queue, payload, created,
                                         ttl_ms),
                           created_ms=created)
    with open(os.path.join(t.beta_folder, os.urandom(8).hex() + ".bundle"),
              "wb") as f:
        f.write(data)
    p = t.agent.ferry_cmd(["import", t.stick, "-q"], timeout=STEP_SECS + 5)
    out = (p.stdout + p.stderr).decode(errors="replace").strip()
    if p.returncode != 0:
        raise Fail("ferry import: exit %d: %s" % (p.returncode, out))
    return out, mid in custody_on_stick(t)


# ------------------------------------------------------------ the table

class Test:
    pass


def receipt_payload(target_id, node):
    return ("ferry-receipt/1 acked %s %s %d\n" %
            (target_id, node, now_ms())).encode()


def run_case(t, transport, case):
    name, queue, size, expect = case.name, case.queue, case.size, \
        case.expect
    label = "%s: %s" % (transport, name)
    if transport == "tcp" and (case.contact == "none" or
                               case.expect == FUTURE):
        note("%s: skipped (a TCP peer always meets ferryd live, and "
             "dates nothing)" % label)
        return
    # The sending peer: alpha, or epsilon, which never meets beta live.
    sender = "alpha" if case.contact == "live" else "epsilon"
    src = sender if case.src == "peer" else case.src
    mid = os.urandom(16)
    hexid = mid.hex()
    target = None
    if isinstance(size, tuple):
        # A message of beta's to report on, new for each run.
        to, reporter = size
        target = t.agent.run(["send", "%s/in" % to, "--receipt"],
                             b"for %s" % to.encode()).strip()
        payload = receipt_payload(target, reporter)
    else:
        payload = os.urandom(size)
    count0, queues0 = t.agent.snapshot()
    log0 = t.agent.log_size()
    problems = []

    sent_ms = now_ms()
    if transport == "tcp":
        answer, custody = over_tcp(t, mid, src, queue, payload,
                                   case.ttl_ms, case.clock_ms)
        want = {STORED: "custody", FORGED: "ended",
                RESERVED: "refuse %d" % REFUSE_NO_ROUTE,
                TOO_BIG: "refuse %d" % REFUSE_TOO_BIG,
                RCPT_COUNTED: "custody", RCPT_IGNORED: None}[expect]
        said = "ferryd answered %s" % answer
        if want is not None and answer != want:
            problems.append("%s, not %s" % (said, want))
    else:
        if case.contact == "live" and case.clock_ms != 0:
            # ferryd learns alpha's clock the way it does: live.
            meet(t, case.clock_ms)
        answer, custody = over_bundle(
            t, mid, src, queue, payload, case.ttl_ms, case.clock_ms,
            t.epsilon if sender == "epsilon" else None)
        said = "import: %r" % answer.splitlines()[0] if answer else \
            "import: nothing said"
        if expect == STORED and "imported 1 message" not in answer:
            problems.append("%s: not imported" % said)
        if expect in REFUSED and "refused" not in answer:
            problems.append("%s: does not say refused" % said)
        if expect == FUTURE and "in the future" not in answer:
            problems.append("%s: does not say in the future" % said)
    if case.contact == "live" and case.clock_ms != 0:
        meet(t, 0)  # alpha's clock right again for the next case
    time.sleep(0.05)  # the log line may follow the answer
    log = t.agent.log_since(log0)
    count1, queues1 = t.agent.snapshot()
    st = t.agent.status(hexid)["status"]

    if expect == STORED:
        if not custody:
            problems.append("no custody for it")
        want_q = dict(queues0)
        want_q[queue] = want_q.get(queue, 0) + 1
        if count1 != count0 + 1 or queues1 != want_q:
            problems.append("stored %d -> %d, queues %s -> %s" %
                            (count0, count1, queues0, queues1))
        if st == "unknown":
            problems.append("ferry status ID: unknown")
        elif case.ttl_ms != 0:
            # Its TTL from now on this node's clock, whatever alpha's
            # clock says: not expired on arrival, not a year longer.
            exp = t.agent.status(hexid)["message"]["expires"]
            want_ms = sent_ms + case.ttl_ms
            off = None if exp is None else rfc3339_ms(exp) - want_ms
            if st != "queued" or off is None or abs(off) > SKEW_MS:
                problems.append(
                    "ferry status ID: %s, expires %s, not within %d s of "
                    "%s" % (st, exp, SKEW_MS // 1000,
                            time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                          time.gmtime(want_ms / 1000))))
            else:
                said += ", expires in %.0f s" % \
                    ((rfc3339_ms(exp) - now_ms()) / 1000)
        if st != "unknown":
            # The payload as sent; and the queues empty again (recv acks
            # what it gives).
            p = t.agent.ferry_cmd(["recv", queue])
            if p.returncode != 0 or p.stdout != payload:
                problems.append("ferry recv %s: exit %d, %d bytes, not "
                                "the %d sent" % (queue, p.returncode,
                                                 len(p.stdout),
                                                 len(payload)))
    elif expect in REFUSED:
        if custody:
            problems.append("custody given for it")
        if count1 != count0 or queues1 != queues0:
            problems.append("stored %d -> %d, queues %s -> %s" %
                            (count0, count1, queues0, queues1))
        if st != "unknown":
            problems.append("ferry status ID: %s, not unknown" % st)
        # What the log must say (TCP's too-big REFUSE is not logged).
        if expect == FUTURE:
            if "in the future" not in log:
                problems.append("the log does not say the bundle was "
                                "refused, dated in the future")
        elif not (transport == "tcp" and expect == TOO_BIG) and \
                not (hexid in log and "refused" in log):
            problems.append("the log does not say %s was refused" % hexid)
    else:
        rc = [r for r in t.agent.status(target).get("receipts", [])
              if r["event"] == "acked"]
        if expect == RCPT_COUNTED and not rc:
            problems.append("ferry status %s: no acked receipt" % target)
        if expect == RCPT_IGNORED and rc:
            problems.append("ferry status %s: receipt %s counted" %
                            (target, rc))
        if count1 != count0 or queues1 != queues0:
            problems.append("stored %d -> %d, queues %s -> %s" %
                            (count0, count1, queues0, queues1))
        said += ", custody %s" % ("given" if custody else "not given")

    # Whatever a failed case stored must not decide the next one.
    for q in t.agent.snapshot()[1]:
        t.agent.ferry_cmd(["queues", "purge", q])
    for line in log.splitlines():
        if hexid in line:
            note("log: " + line.split(" ", 1)[-1])
    if problems:
        report(False, "%s: %s" % (label, "; ".join(problems)))
        if log.strip():
            note("beta's log meanwhile:\n# " +
                 log.strip().replace("\n", "\n# "))
    else:
        report(True, "%s: %s (%s, %s)" % (
            label, expect, said,
            "status of %s: %s" % (target, "acked receipt" if expect ==
                                  RCPT_COUNTED else "no receipt")
            if target else "status %s" % st))


# ------------------------------------------------------- outside the table

def cli_reserved(t):
    count0, queues0 = t.agent.snapshot()
    for target in ("beta/ferry.receipts", "gamma/ferry.receipts",
                   "beta/ferry.secret"):
        line = receipt_payload("00" * 16, "beta")
        p = t.agent.ferry_cmd(["send", target], line)
        err = p.stderr.decode(errors="replace").strip()
        report(p.returncode == 5 and "reserved" in err,
               "ferry send %s: exit %d (5 wanted), %r" %
               (target, p.returncode, err or p.stdout.decode().strip()))
    count1, queues1 = t.agent.snapshot()
    report(count1 == count0 and queues1 == queues0,
           "nothing stored by those sends (stored %d -> %d, queues %s)" %
           (count0, count1, queues1))


def fifo_import(t):
    fifo = os.path.join(t.beta_folder, "0123456789abcdef.bundle")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    imp = subprocess.Popen(
        [t.agent.ferry, "--socket", t.agent.sock, "import", t.stick, "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.1)
        s0 = time.monotonic()
        try:
            p = t.agent.ferry_cmd(["send", "beta/in"], b"during the import",
                                  timeout=5)
            secs = time.monotonic() - s0
            report(p.returncode == 0 and secs < 1,
                   "ferry send during the import: exit %d after %.2f s" %
                   (p.returncode, secs))
            if p.returncode == 0:
                t.agent.ferry_cmd(["recv", "in"])
        except subprocess.TimeoutExpired:
            report(False, "ferry send during the import: no answer in 5 s")
        try:
            out = imp.communicate(timeout=max(0.1, 5 - (time.monotonic() -
                                                        t0)))[0]
            secs = time.monotonic() - t0
            out = out.decode(errors="replace").strip()
            report(imp.returncode == 0 and "not a regular file" in out,
                   "ferry import with a FIFO named like a bundle: exit %d "
                   "after %.2f s: %r" % (imp.returncode, secs, out))
        except subprocess.TimeoutExpired:
            report(False, "ferry import with a FIFO named like a bundle: "
                   "still running after 5 s")
        why = os.path.join(t.stick, "ferry", "rejected",
                           os.path.basename(fifo) + ".txt")
        text = None
        if os.path.exists(why):
            with open(why) as f:
                text = f.read().strip()
        report(text is not None and "not a regular file" in text and
               not os.path.exists(fifo),
               "the FIFO went to ferry/rejected/ with its reason: %r" % text)
    finally:
        unblock(fifo)
        if imp.poll() is None:
            try:
                imp.wait(5)
            except subprocess.TimeoutExpired:
                imp.kill()
                imp.wait()


def unblock(fifo):
    """A reader stuck opening the FIFO gets a writer, then EOF."""
    for path in (fifo, os.path.join(os.path.dirname(os.path.dirname(fifo)),
                                    "rejected", os.path.basename(fifo))):
        try:
            if stat.S_ISFIFO(os.lstat(path).st_mode):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


# ------------------------------------------------------------------ main

def main():
    global MAX_MESSAGE
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="ferry-ii.")
    t = Test()
    t.agent = None
    try:
        settings, cases = load_cases(CASES_FILE)
        MAX_MESSAGE = parse_size(settings["max_message"])
        t.agent = Agent(tmp, cmd_timeout=30)
        t.alpha = bw.Identity(os.urandom(32))
        alpha_hw = hw.Identity(t.alpha.seed)
        gamma = hw.Identity(os.urandom(32))
        t.epsilon = bw.Identity(os.urandom(32))  # never meets beta live
        # alpha's fingerprint (its folder on the stick), from ferry keygen
        adir = os.path.join(tmp, "alpha", "identity")
        os.makedirs(adir, mode=0o700)
        with open(os.path.join(adir, "secret"), "wb") as f:
            f.write(t.alpha.seed)
        os.chmod(os.path.join(adir, "secret"), 0o600)
        ainfo = json.loads(t.agent.run(["keygen", "--dir",
                                        os.path.dirname(adir), "--json"]))
        if ainfo["card"] != alpha_hw.card():
            raise Harness("alpha's card differs between Python and C")
        t.agent.init(["[limits]",
                      "max_message = %dK" % (MAX_MESSAGE // 1024),
                      "[peer alpha]", "key = %s" % alpha_hw.card(),
                      "[peer gamma]", "key = %s" % gamma.card(),
                      "[peer epsilon]",
                      "key = %s" % hw.Identity(t.epsilon.seed).card()])
        binfo = t.agent.keygen()
        _, t.beta_pk = hw.parse_card(binfo["card"])
        with open(os.path.join(t.agent.dir, "identity", "secret"),
                  "rb") as f:
            t.beta_seed = f.read()
        t.alpha_hw = alpha_hw  # the same keys, for the TCP side
        t.stick = os.path.join(tmp, "stick")
        t.beta_folder = os.path.join(t.stick, "ferry", binfo["fingerprint"])
        t.alpha_folder = os.path.join(t.stick, "ferry", ainfo["fingerprint"])
        os.makedirs(t.beta_folder)
        t.seq = 0
        t.agent.start()
        note("ferryd for beta on 127.0.0.1:%d, max_message %d" %
             (t.agent.port, MAX_MESSAGE))

        for transport in ("tcp", "bundle"):
            for case in cases:
                try:
                    run_case(t, transport, case)
                except (Fail, EOFError, ConnectionError, ValueError,
                        bw.BundleError) as e:
                    report(False, "%s: %s: %s" % (transport, case.name, e))
        cli_reserved(t)
        fifo_import(t)

        rc = t.agent.stop()
        report(rc == 0, "ferryd stopped on SIGTERM (status %s)" % rc)
        bad = [text for good, text in RESULTS if not good]
        note("%d checks, %d failed, %.1f s" % (len(RESULTS), len(bad),
                                               time.monotonic() - t0))
        if bad:
            print("--- last lines of beta's log\n" + t.agent.tail(30))
            print("FAIL: %s: %d of %d checks" % (NAME, len(bad),
                                                 len(RESULTS)))
            return 1
        print("PASS: %s" % NAME)
        return 0
    except (Harness, OSError, subprocess.SubprocessError) as e:
        print("ERROR: %s: harness: %s" % (NAME, e))
        if t.agent is not None:
            print("--- last lines of beta's log\n" + t.agent.tail(25))
        return 99
    finally:
        if t.agent is not None:
            t.agent.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
