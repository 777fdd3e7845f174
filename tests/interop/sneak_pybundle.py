#!/usr/bin/python3
"""sneak_pybundle.py - bundles sealed by an independent Python
implementation (bundlewire.py: Debian's python3-dissononce Noise K,
PyNaCl secretstream and Ed25519, hashlib), with frames built by
hopwire.py, imported by a live ferryd: a message in one is delivered, its
sender gets custody back; one dated two hours ahead is refused as beyond
the clock-skew allowance (moved to ferry/rejected/ with its reason), and
accepted with `ferry import --skew 3h`.

Exit 0, 1, 77 (skip: no dissononce or PyNaCl) or 99 (harness error).
Needs agent/ferryd and cli/ferry of the build (top_builddir).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import bundlewire as bw
    import hopwire as hw
except ImportError as e:
    print("sneak_pybundle: %s: skipped" % e)
    sys.exit(77)

top = os.environ.get("top_builddir", ".")
FERRY = os.path.join(top, "cli", "ferry")
FERRYD = os.path.join(top, "agent", "ferryd")


def fail(why):
    print("FAIL: sneak_pybundle: %s" % why)
    sys.exit(1)


def ok(what):
    print("ok - %s" % what)


def run(*args, sock=None, check=True):
    env = dict(os.environ)
    if sock:
        env["FERRY_SOCKET"] = sock
    p = subprocess.run([FERRY] + list(args), env=env, capture_output=True,
                       text=True)
    if check and p.returncode != 0:
        fail("ferry %s: exit %d: %s %s" % (" ".join(args), p.returncode,
                                          p.stdout, p.stderr))
    return p


def main():
    if not (os.access(FERRY, os.X_OK) and os.access(FERRYD, os.X_OK)):
        print("sneak_pybundle: no ferry/ferryd in %s" % top)
        return 99
    tmp = tempfile.mkdtemp(prefix="ferry-pyb.")
    agents = []
    try:
        nodes = {}
        for name in ("alpha", "beta"):
            d = os.path.join(tmp, name)
            subprocess.run([FERRY, "init", "--dir", d, "--name", name],
                           check=True, capture_output=True)
            info = json.loads(subprocess.run(
                [FERRY, "keygen", "--dir", d, "--json"], check=True,
                capture_output=True, text=True).stdout)
            seed = open(os.path.join(d, "identity", "secret"), "rb").read()
            nodes[name] = {"dir": d, "card": info["card"], "seed": seed,
                           "fpr": info["fingerprint"],
                           "sock": os.path.join(d, "ferry.sock")}
        # beta knows alpha; alpha's agent is not needed: Python is alpha.
        with open(os.path.join(nodes["beta"]["dir"], "ferry.conf"), "a") as f:
            f.write("[peer alpha]\nkey = %s\n" % nodes["alpha"]["card"])
        log = open(os.path.join(tmp, "beta.log"), "w")
        agents.append(subprocess.Popen(
            [FERRYD, "-c", os.path.join(nodes["beta"]["dir"], "ferry.conf")],
            stderr=log))
        for _ in range(100):
            if run("info", sock=nodes["beta"]["sock"],
                   check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            fail("beta did not start")
        sock = nodes["beta"]["sock"]
        stick = os.path.join(tmp, "stick")
        folder = os.path.join(stick, "ferry", nodes["beta"]["fpr"])
        os.makedirs(folder)

        def put(seq, payload, created_ms):
            mid = os.urandom(16)
            frames = (hw.msg(mid, "alpha", "beta", "in", len(payload),
                             created_ms=created_ms) +
                      hw.chunk(mid, 0, payload) +
                      hw.frame(5, mid + len(payload).to_bytes(8, "big") +
                               bytes(32)))
            data = bw.write_bundle(nodes["alpha"]["seed"],
                                   nodes["beta"]["seed"], seq, frames,
                                   created_ms=created_ms)
            name = os.urandom(16).hex() + ".bundle"
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            return mid, name

        now = int(time.time() * 1000)
        # 1. A bundle made in Python, now: delivered.
        mid1, _ = put(1, b"from python", now)
        out = run("import", stick, "-q", sock=sock).stdout
        if "imported 1 messages" not in out:
            fail("the Python bundle was not imported: %s" % out)
        got = run("recv", "in", sock=sock).stdout
        if got != "from python":
            fail("payload %r" % got)
        ok("a bundle sealed by the Python implementation is imported, "
           "its message delivered")
        # Custody for alpha went back onto the stick, readable in Python.
        afolder = os.path.join(stick, "ferry", nodes["alpha"]["fpr"])
        files = [f for f in os.listdir(afolder) if f.endswith(".bundle")]
        if len(files) != 1:
            fail("receipts for alpha: %s" % files)
        data = open(os.path.join(afolder, files[0]), "rb").read()
        frames = bw.read_bundle(nodes["alpha"]["seed"],
                                nodes["beta"]["seed"], data)
        if mid1 not in frames or frames[0] != 6:
            fail("the receipt bundle holds no CUSTODY for the message")
        ok("beta's custody receipt opens in Python and names the message")
        # 2. Dated two hours ahead: refused, kept with its reason.
        ahead = now + 2 * 3600 * 1000
        _, name = put(2, b"from the future", ahead)
        out = run("import", stick, "-q", sock=sock).stdout
        if "future" not in out:
            fail("a bundle from the future was not refused: %s" % out)
        why = open(os.path.join(stick, "ferry", "rejected",
                                name + ".txt")).read()
        if "future" not in why:
            fail("reason file: %r" % why)
        if run("recv", "in", sock=sock, check=False).returncode == 0:
            fail("a message from the refused bundle was stored")
        ok("a bundle dated 2 h ahead is refused (clock skew), kept in "
           "rejected/ with its reason, nothing stored")
        # 3. The same, with a larger allowance: accepted.
        put(2, b"from the future", ahead)
        out = run("import", stick, "-q", "--skew", "3h", sock=sock).stdout
        if "imported 1 messages" not in out:
            fail("--skew 3h did not accept it: %s" % out)
        ok("ferry import --skew 3h accepts it")
        print("PASS: sneak_pybundle")
        return 0
    finally:
        for a in agents:
            a.terminate()
            try:
                a.wait(10)
            except subprocess.TimeoutExpired:
                a.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
