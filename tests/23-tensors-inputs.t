#!/usr/bin/python3
# `tensors` at the edges of its command line: terminals, missing files, folders,
# a full disk, usage errors, --help/--version, and a header with many tensors
# (the reader must stay near linear in their number).
import os
import pty
import resource
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
import stwrite as st  # noqa: E402
from tap import ASAN, TENSORS, ok, done, tensors, scratch, one_error_line  # noqa: E402

d = scratch()
good = os.path.join(d, "good.st")
st.write(good, {"x": np.arange(6, dtype=np.float32).reshape(3, 2)}, {"k": "v"})


def with_tty(args, stdin_tty, stdout_tty, stdin_path=None):
    """Runs args with a pseudo-terminal as stdin and/or stdout; (status, stderr)."""
    master, slave = pty.openpty()
    try:
        stdin = slave if stdin_tty else open(stdin_path or good, "rb")
        stdout = slave if stdout_tty else open(os.devnull, "wb")
        p = subprocess.run(args, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stderr.decode("utf-8", "replace")
    finally:
        os.close(master)
        os.close(slave)


for cmd in (["info"], ["dump", "x"], ["pick", "x"], ["to-npy", "x"], ["merge", "-"]):
    rc, err = with_tty([TENSORS] + cmd, stdin_tty=True, stdout_tty=False)
    ok(rc == 2 and "terminal" in err, "%s refuses a terminal on standard input (exit 2)" % cmd[0], "%d %r" % (rc, err))
for cmd in (["pick", "x"], ["drop", "x"], ["to-npy", "x"]):
    rc, err = with_tty([TENSORS] + cmd, stdin_tty=False, stdout_tty=True)
    ok(rc == 2 and "terminal" in err, "%s refuses to write binary to a terminal (exit 2)" % cmd[0], "%d %r" % (rc, err))
rc, err = with_tty([TENSORS, "dump", "x"], stdin_tty=False, stdout_tty=True)
ok(rc == 0 and err == "", "dump writes text to a terminal", err)

missing = os.path.join(d, "nothere.st")
for cmd in (["info", missing], ["dump", "x", missing], ["pick", "x", "-i", missing], ["merge", good, missing]):
    rc, out, err = tensors(*cmd)
    ok(rc == 1 and out == b"", "%s of a missing file: exit 1" % cmd[0], err)
    one_error_line(err, missing, "%s of a missing file: one line naming it" % cmd[0])
for cmd in (["info", d], ["dump", "x", d], ["pick", "x", "-i", d], ["cat", d]):
    rc, out, err = tensors(*cmd)
    ok(rc == 1 and out == b"" and "directory" in err.lower(), "%s of a folder: exit 1, says it is a directory" % cmd[0],
       err)
    one_error_line(err, d, "%s of a folder: one line naming it" % cmd[0])

# a write that fails (a full disk) is an error, found at the latest on close
for cmd in (["pick", "x", "-i", good], ["dump", "x", good], ["info", good], ["merge", good]):
    with open("/dev/full", "wb") as full:
        p = subprocess.run([TENSORS] + cmd, stdout=full, stderr=subprocess.PIPE, timeout=60)
    ok(p.returncode == 1, "%s to a full disk: exit 1" % cmd[0], p.stderr)
    one_error_line(p.stderr.decode(), "", "%s to a full disk: one line" % cmd[0])
rc, out, err = tensors("pick", "x", "-i", good, "-o", os.path.join(d, "no", "such", "dir.st"))
ok(rc == 1, "-o into a missing folder: exit 1", err)

# usage
for cmd in ([], ["frobnicate"], ["info", "--no-such-option"], ["dump"], ["pick"], ["from-npy"],
            ["from-npy", "novalue"], ["info", good, good], ["merge", "-", "-"]):
    rc, out, err = tensors(*cmd, input=b"")
    ok(rc == 2 and out == b"" and err.startswith("tensors: "),
       "usage error %s: exit 2, message on standard error" % (cmd or "(no command)"), "%d %r" % (rc, err))
rc, out, err = tensors("--help")
text = out.decode()
ok(rc == 0, "--help exits 0")
for word in ("info", "dump", "pick", "drop", "merge", "cat", "stack", "from-npy", "to-npy", "--rows", "-o", "[-]"):
    ok(word in text, "--help mentions %s" % word)
rc, out, err = tensors("--version")
ok(rc == 0 and out.decode().strip() != "", "--version", out)

# many tensors: 20000 one-byte entries (a 1.3 MB header) must not take quadratic time
n = 2000 if ASAN else 20000
many = os.path.join(d, "many.st")
st.write(many, {"t%05d" % i: np.array([i % 256], np.uint8) for i in range(n)})
before = resource.getrusage(resource.RUSAGE_CHILDREN)
rc, out, err = tensors("pick", "t%05d" % (n - 1), "t00000", "-i", many, timeout=600)
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
got, _ = st.loads(out) if rc == 0 else ({}, {})
ok(rc == 0 and sorted(got) == ["t00000", "t%05d" % (n - 1)] and got["t%05d" % (n - 1)][1][0] == (n - 1) % 256,
   "pick from a file of %d tensors" % n, "status %d, %r" % (rc, err))
if not ASAN:
    ok(cpu < 1.0, "reading %d tensors takes %.2f s of CPU (under 1 s: no quadratic name lookups)" % (n, cpu))

done()
