"""ferryagent.py - a real ferryd for the interop tests, and one TCP
connection to it, for link_interop.py and intake_interop.py.

Agent runs ferryd for one node (default "beta") in a private directory,
listening on a free loopback port, and `ferry` on its socket.  Conn is
the byte and record layer of one connection to it: connect, buffered
reads with deadlines, Noise transport records (docs/noise.md) once the
caller has set tx and rx from its handshake.  The tests keep what they
check themselves: the handshake, the frames, the verdicts.

Fail means ferryd did not do what the documents say; Harness that the
test could not run (exit 99).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import hopwire as hw
from free_port import free_port


class Fail(Exception):
    """ferryd did not do what the documents say."""


class Harness(Exception):
    """The test could not run (not built, cannot start ferryd, ...)."""


def check(cond, what):
    if not cond:
        raise Fail(what)


def now_ms():
    return int(time.time() * 1000)


# ------------------------------------------------------------ the agent

class Agent:
    """ferryd for node NAME in TMP/NAME, plus `ferry` on it; each `ferry`
    command may take cmd_timeout seconds."""

    def __init__(self, tmp, name="beta", cmd_timeout=60):
        top = os.environ.get("top_builddir", ".")
        self.ferryd = os.path.join(top, "agent", "ferryd")
        self.ferry = os.path.join(top, "cli", "ferry")
        for exe in (self.ferryd, self.ferry):
            if not os.access(exe, os.X_OK):
                raise Harness("%s is not built (make, or set top_builddir)"
                              % exe)
        self.name = name
        self.cmd_timeout = cmd_timeout
        self.dir = os.path.join(tmp, name)
        self.conf = os.path.join(self.dir, "ferry.conf")
        self.log = os.path.join(self.dir, "log")
        self.sock = os.path.join(self.dir, "ferry.sock")
        self.sock_dir = None  # a short directory for the socket, if used
        self.proc = None
        self.port = None

    def ferry_cmd(self, args, stdin=b"", timeout=None):
        """Run `ferry ARGS` on the node's socket: the CompletedProcess."""
        env = dict(os.environ, FERRY_SOCKET=self.sock, LC_ALL="C")
        return subprocess.run(
            [self.ferry] + args, env=env, input=stdin,
            timeout=self.cmd_timeout if timeout is None else timeout,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, args, stdin=b"", check_rc=True):
        """Run `ferry ARGS`; its stdout (a Harness error if it fails)."""
        p = self.ferry_cmd(args, stdin)
        if check_rc and p.returncode != 0:
            raise Harness("ferry %s: exit %d: %s" % (
                " ".join(args), p.returncode,
                p.stderr.decode(errors="replace").strip()))
        return p.stdout.decode()

    def init(self, conf_lines):
        """ferry init; listen on a free port; then conf_lines (peers,
        limits) appended to ferry.conf."""
        self.run(["init", "--dir", self.dir, "--name", self.name])
        self.port = free_port()
        lines = ["[node]", "listen = 127.0.0.1:%d" % self.port]
        if len(self.sock) > 100:  # too long for a Unix socket address
            self.sock_dir = tempfile.mkdtemp(prefix="ferry-s.", dir="/tmp")
            self.sock = os.path.join(self.sock_dir, self.name + ".sock")
            lines.append("socket = %s" % self.sock)
        with open(self.conf, "a") as f:
            f.write("\n".join(lines + list(conf_lines)) + "\n")

    def keygen(self):
        """`ferry keygen --json` of the node: card, fingerprint, ..."""
        return json.loads(self.run(["keygen", "--dir", self.dir, "--json"]))

    def start(self):
        """Start ferryd and wait until it answers `ferry info` (10 s)."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.ferryd, "-c", self.conf],
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Harness("ferryd exited with %d: %s" %
                              (self.proc.returncode, self.tail(5)))
            if self.ferry_cmd(["info"]).returncode == 0:
                return
            time.sleep(0.1)
        raise Harness("ferryd did not answer within 10 s: " + self.tail(5))

    def stop(self):
        """SIGTERM; ferryd's exit status, None if it still runs 10 s
        later."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        """At exit: no ferryd left behind, no socket directory either."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sock_dir is not None:
            shutil.rmtree(self.sock_dir, ignore_errors=True)

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, off):
        with open(self.log, "rb") as f:
            f.seek(off)
            return f.read().decode(errors="replace")

    def tail(self, n):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


# ------------------------------------------------------- one connection

class Conn:
    """One TCP connection to ferryd, as caller.  tx and rx are the Noise
    cipher states the caller's handshake sets."""

    def __init__(self, port):
        deadline = time.monotonic() + 5
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port), 5)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise Harness("ferryd does not accept on port %d" % port)
                time.sleep(0.1)
        self.buf = b""
        self.tx = self.rx = None
        self.last_tx = time.monotonic()

    def close(self):
        self.s.close()

    # --- bytes

    def send(self, data):
        self.s.sendall(data)
        self.last_tx = time.monotonic()

    def fill(self, n, deadline):
        """Until n bytes are buffered: True, False at the deadline (the
        bytes read so far stay buffered); EOFError if ferryd hung up."""
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(min(left, 0.5))
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""  # a close with unread data may reset
            if not data:
                raise EOFError("ferryd closed the connection")
            self.buf += data
        return True

    def take(self, n):
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    # --- records

    def send_record(self, plain):
        check(0 < len(plain) <= hw.PLAIN_MAX, "record of %d bytes" %
              len(plain))
        self.send(hw.u16(self.tx.encrypt_with_ad(b"", plain)))

    def recv_record(self, deadline):
        """The next decrypted record, or None at the deadline."""
        if not self.fill(2, deadline):
            return None
        n = int.from_bytes(self.buf[:2], "big")
        check(n >= hw.TAG_LEN + 1, "record of %d bytes" % n)
        if not self.fill(2 + n, deadline):
            return None
        self.take(2)
        try:
            return self.rx.decrypt_with_ad(b"", self.take(n))
        except Exception as e:  # dissononce raises cryptography's errors
            raise Fail("a record from ferryd does not decrypt: %r" % e)
