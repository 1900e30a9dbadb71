#!/usr/bin/python3
# Outputs (issue 17, points 2, 3, 7, 8; docs/security.md), through tools/lib/cli.c:
#  - a device, a FIFO, /dev/stdout, /dev/fd/N are written in place, never replaced;
#    a symlink is followed, its target replaced whole, the link kept;
#  - two runs writing one output: the last rename wins with a whole file;
#  - temporaries of dead processes are removed by the next run of the same output;
#  - -o and a terminal on standard output are checked before any work is spent.
import os
import pty
import socket
import stat
import subprocess
import sys
import threading

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import BIN, ok, done, scratch, leftovers  # noqa: E402
import stwrite as st  # noqa: E402

d = scratch()
TENSORS = os.path.join(BIN, "tensors")
src = os.path.join(d, "a.st")
st.write(src, {"x": np.arange(12, dtype=np.float32).reshape(4, 3)}, {"k": "v"})


def cat(out, **kw):
    return subprocess.run([TENSORS, "cat", src, "-o", out], capture_output=True, **kw)


def valid(data):
    try:
        T, meta = st.loads(data)
        return np.array_equal(T["x"][1], np.arange(12, dtype=np.float32).reshape(4, 3)) and meta["k"] == "v"
    except Exception:
        return False


def device(name, minor, fallback):
    """A character device like /dev/null (minor 3) or /dev/full (7): made in the
    scratch folder when we may (root), so that a broken build replaces that
    copy, never the system's; else the system's, which then cannot be replaced."""
    path = os.path.join(d, name)
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        return path
    except PermissionError:
        return fallback


# ---- devices, FIFOs, descriptors: in place ----
null = device("null", 3, "/dev/null")
p = cat(null)
ok(p.returncode == 0 and stat.S_ISCHR(os.stat(null).st_mode) and not leftovers(null),
   "-o a character device (like /dev/null): written in place, still a device", p.stderr)
p = subprocess.run([TENSORS, "info", src, "-o", null], capture_output=True)
ok(p.returncode == 0 and stat.S_ISCHR(os.stat(null).st_mode), "a text output to a device: in place too", p.stderr)

full = device("full", 7, "/dev/full")
p = cat(full)
ok(p.returncode == 1 and b"write error" in p.stderr and p.stderr.count(b"\n") == 1
   and stat.S_ISCHR(os.stat(full).st_mode) and not leftovers(full),
   "-o a full device (like /dev/full): exit 1, 'write error', the device left alone", p.stderr)

fifo = os.path.join(d, "fifo")
os.mkfifo(fifo)
got = []
reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
reader.start()
p = cat(fifo, timeout=60)
reader.join(60)
ok(p.returncode == 0 and got and valid(got[0]) and stat.S_ISFIFO(os.stat(fifo).st_mode) and not leftovers(fifo),
   "-o a FIFO: the reader gets the whole file, the FIFO stays a FIFO", p.stderr)

p = cat("/dev/stdout")
ok(p.returncode == 0 and valid(p.stdout), "-o /dev/stdout: the file on standard output", p.stderr)
appended = os.path.join(d, "appended")
with open(appended, "wb") as fp:
    fp.write(b"HEAD")
with open(appended, "ab") as fp:
    p = subprocess.run([TENSORS, "cat", src, "-o", "/dev/stdout"], stdout=fp, stderr=subprocess.PIPE)
data = open(appended, "rb").read()
ok(p.returncode == 0 and data.startswith(b"HEAD") and valid(data[4:]),
   "-o /dev/stdout on a file opened for appending: appended, as the shell asked", p.stderr)
r, w = os.pipe()
p = subprocess.Popen([TENSORS, "cat", src, "-o", "/dev/fd/%d" % w], pass_fds=(w,), stderr=subprocess.PIPE)
os.close(w)
data = os.fdopen(r, "rb").read()
p.wait()
ok(p.returncode == 0 and valid(data), "-o /dev/fd/N (a pipe): written to the descriptor", p.stderr.read())
p = subprocess.run([TENSORS, "cat", src, "-o", "/dev/fd/9"], capture_output=True)
ok(p.returncode == 1 and p.stderr.count(b"\n") == 1 and b"/dev/fd/9" in p.stderr,
   "-o /dev/fd/N not open: one line naming it", p.stderr)
sock = os.path.join(d, "sock")
server = socket.socket(socket.AF_UNIX)
server.bind(sock)
p = cat(sock)
ok(p.returncode == 1 and p.stderr.count(b"\n") == 1 and stat.S_ISSOCK(os.stat(sock).st_mode),
   "-o a socket: refused in one line, the socket left alone", p.stderr)

# ---- symlinks: the target replaced whole, the link kept ----
os.mkdir(os.path.join(d, "real"))
os.mkdir(os.path.join(d, "links"))
target = os.path.join(d, "real", "t.st")
with open(target, "wb") as fp:
    fp.write(b"old")
link = os.path.join(d, "links", "l.st")
os.symlink("../real/t.st", link)          # relative to the link's folder
link2 = os.path.join(d, "l2.st")
os.symlink(link, link2)                    # a link to a link
p = cat(link2)
ok(p.returncode == 0 and os.path.islink(link2) and os.path.islink(link) and os.readlink(link) == "../real/t.st"
   and valid(open(target, "rb").read()) and sorted(os.listdir(os.path.join(d, "links"))) == ["l.st"]
   and sorted(os.listdir(os.path.join(d, "real"))) == ["t.st"],
   "-o a link to a relative link: both links kept, the file they name replaced, no temporary left", p.stderr)
dangling = os.path.join(d, "dangling.st")
os.symlink("real/new.st", dangling)
p = cat(dangling)
ok(p.returncode == 0 and os.path.islink(dangling) and valid(open(os.path.join(d, "real", "new.st"), "rb").read()),
   "-o a dangling symlink: the file it names is created, the link kept", p.stderr)
loop = os.path.join(d, "loop.st")
os.symlink("loop.st", loop)
p = cat(loop)
ok(p.returncode == 1 and p.stderr.count(b"\n") == 1 and b"loop.st" in p.stderr and os.path.islink(loop),
   "-o a symlink loop: one line, exit 1", p.stderr)
mode_file = os.path.join(d, "mode.st")
old = os.umask(0o027)
p = cat(mode_file)
os.umask(old)
ok(p.returncode == 0 and stat.S_IMODE(os.stat(mode_file).st_mode) == 0o640,
   "a new output gets 0666 less the umask, as a file the shell creates", oct(os.stat(mode_file).st_mode))

# ---- two runs, one output: the last rename wins with a whole file ----
big = {}
for i in (0, 1):
    big[i] = os.path.join(d, "big%d.st" % i)
    st.write(big[i], {"x": np.full((1 << 19, 4), i, np.float32)})
shared = os.path.join(d, "shared.st")
whole = 0
for trial in range(12):
    procs = [subprocess.Popen([TENSORS, "cat", big[i], big[i], "-o", shared], stderr=subprocess.PIPE) for i in (0, 1)]
    codes = [q.wait() for q in procs]
    try:
        T, _ = st.read(shared)
        x = T["x"][1]
        good = codes == [0, 0] and x.shape == (1 << 20, 4) and (np.all(x == 0) or np.all(x == 1))
    except Exception:
        good = False
    whole += good and not leftovers(shared)
ok(whole == 12, "two runs writing one output at once, 12 times: always a whole file of one of them (%d/12)" % whole)

# ---- temporaries of dead processes: removed by the next run of the output ----
host = socket.gethostname().replace(".", "_").replace("/", "_") or "localhost"
dead = subprocess.Popen(["true"])
dead.wait()
out = os.path.join(d, "stale.st")
stale = "%s.%d.%s.AbCdEf.tmp" % (out, dead.pid, host)
alive = "%s.%d.%s.GhIjKl.tmp" % (out, os.getpid(), host)
other = "%s.%d.otherhost.MnOpQr.tmp" % (out, dead.pid)
for f in (stale, alive, other):
    open(f, "wb").close()
p = cat(out)
ok(p.returncode == 0 and not os.path.exists(stale) and os.path.exists(alive) and os.path.exists(other),
   "a dead process's temporary is removed; a live one's and another host's are kept", p.stderr)
ok(b"removed" in p.stderr and b"no longer runs" in p.stderr, "and the removal is said", p.stderr)

# a real SIGKILL: tensors pick waits on its input with its temporary open
killed = os.path.join(d, "killed.st")
data = open(src, "rb").read()
p = subprocess.Popen([TENSORS, "pick", "x", "-i", "-", "-o", killed], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
p.stdin.write(data[:-8])
p.stdin.flush()
for _ in range(500):
    if leftovers(killed):
        break
    threading.Event().wait(0.01)
left = leftovers(killed)
p.kill()
p.wait()
p.stdin.close()
ok(len(left) == 1 and os.path.exists(left[0]), "SIGKILL leaves its temporary behind", left)
p = cat(killed)
ok(p.returncode == 0 and not leftovers(killed) and valid(open(killed, "rb").read()),
   "the next run of that output removes it", p.stderr)

# ---- -o and a terminal are checked before the work ----
# inputs that fail late (a NaN, a missing tensor): the output's error must come first
nan = os.path.join(d, "nan.st")
st.write(nan, {"prob": np.full((1, 2, 3), np.nan, np.float32), "labels": np.ones((2, 3), np.float32),
               "wdist": np.ones((1, 2), np.float32), "feat.00": np.ones((2, 3), np.float32)})
tools = [("sinkhorn", [nan]), ("train-probe", [nan]), ("classify-samples", [nan]), ("early-exit", [nan]),
         ("tensors", ["cat", nan, os.path.join(d, "missing.st")]), ("plot", ["layers", nan])]
for tool, args in tools:
    p = subprocess.run([os.path.join(BIN, tool)] + args + ["-o", os.path.join(d, "no", "such", "x.st")],
                       capture_output=True)
    err = p.stderr.decode(errors="replace")
    ok(p.returncode == 1 and err.count("\n") == 1 and "no/such" in err and "cannot create" in err,
       "%s: -o in a missing folder is refused before the input is read" % tool, err)
    p = subprocess.run([os.path.join(BIN, tool)] + args + ["-o", d], capture_output=True)
    err = p.stderr.decode(errors="replace")
    ok(p.returncode == 1 and err.count("\n") == 1 and "it is a folder" in err,
       "%s: -o a folder is refused before the input is read" % tool, err)
    master, slave = pty.openpty()
    p = subprocess.run([os.path.join(BIN, tool)] + args, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    os.close(master)
    err = p.stderr.decode(errors="replace")
    ok(p.returncode == 2 and "terminal" in err, "%s: a terminal on standard output is refused before the input is read"
       % tool, err)
master, slave = pty.openpty()
p = subprocess.run([TENSORS, "info", src], stdout=slave, stderr=subprocess.PIPE)
os.close(slave)
os.close(master)
ok(p.returncode == 0, "tensors info still writes its text to a terminal", p.stderr)
done()
