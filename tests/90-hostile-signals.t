#!/usr/bin/python3
# Signals (issue 17, points 4 and 7; docs/security.md):
#  - SIGBUS: train-probe maps its input; truncating the file while it trains
#    ends the run with one line naming the file, exit 1, no output;
#  - a signal that ends a run (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, ...)
#    removes its temporary; SIGQUIT does so even when the parent ignored it (a
#    shell's background job), SIGHUP ignored by nohup stays ignored.
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import BIN, ok, done, scratch, leftovers  # noqa: E402
import stwrite as st  # noqa: E402

d = scratch()
TENSORS = os.path.join(BIN, "tensors")


def wait_for(cond, seconds=60):
    end = time.time() + seconds
    while time.time() < end and not cond():
        time.sleep(0.01)
    return cond()


# ---- SIGBUS: the mapped input truncated under train-probe ----
rng = np.random.default_rng(0)
n, dim, k = 2000, 256, 8
feats = os.path.join(d, "feats.st")
st.write(feats, {"feat.00": rng.standard_normal((n, dim)).astype(np.float32),
                 "labels": (rng.random((n, k)) < 0.3).astype(np.float32), "split": np.zeros(n, np.uint8),
                 "logits": rng.standard_normal((n, k)).astype(np.float32)})
out = os.path.join(d, "probe.st")
p = subprocess.Popen([os.path.join(BIN, "train-probe"), feats, "--epochs", "5000", "--progress", "-t", "1", "-o", out],
                     stderr=subprocess.PIPE)
err = b""
while b"train-probe [" not in err and p.poll() is None:   # a first epoch is done: the mapping is in use
    err += os.read(p.stderr.fileno(), 4096)
os.truncate(feats, 4096)
try:
    p.wait(120)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
err = (err + p.stderr.read()).decode(errors="replace")
last = err.replace("\r", "\n").rstrip("\n").split("\n")[-1]
ok(p.returncode == 1 and last == "train-probe: %s: changed or was truncated while being read (was the stage "
   "writing it run again?)" % feats and not os.path.exists(out) and not leftovers(out),
   "train-probe, its input truncated while it trains: exit 1, one line naming the file, no output",
   "exit %s, last line %r" % (p.returncode, last))

# ---- signals: tensors pick waits on its input, its temporary open ----
src = os.path.join(d, "a.st")
st.write(src, {"x": np.arange(6, dtype=np.float32)})
data = open(src, "rb").read()


def finish_input(p, rest):
    """The input's last bytes, unless the process has gone."""
    try:
        p.stdin.write(rest)
        p.stdin.close()
    except BrokenPipeError:
        pass


def waiting_pick(name, ignore=()):
    """tensors pick with the temporary of `name` open, blocked on the last bytes of its input."""
    target = os.path.join(d, name)

    def prepare():
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # SIGQUIT dumps no core into the folder
        for s in ignore:
            signal.signal(s, signal.SIG_IGN)
    p = subprocess.Popen([TENSORS, "pick", "x", "-i", "-", "-o", target], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=prepare)
    p.stdin.write(data[:-4])
    p.stdin.flush()
    wait_for(lambda: leftovers(target))
    return p, target


for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
            signal.SIGALRM):
    p, target = waiting_pick("sig%d.st" % sig)
    had = leftovers(target)
    p.send_signal(sig)
    p.wait(60)
    finish_input(p, b"")
    ok(had and p.returncode == -sig and not leftovers(target) and not os.path.exists(target),
       "%s ends the run and removes its temporary" % signal.Signals(sig).name,
       "exit %s, temporaries before %s, after %s" % (p.returncode, had, leftovers(target)))

p, target = waiting_pick("quit-ignored.st", ignore=(signal.SIGQUIT,))
p.send_signal(signal.SIGQUIT)
wait_for(lambda: p.poll() is not None, 5)
if p.poll() is None:
    finish_input(p, data[-4:])
p.wait(60)
ok(p.returncode == -signal.SIGQUIT and not os.path.exists(target) and not leftovers(target),
   "SIGQUIT ignored by the parent (a background job) still ends the run like SIGTERM, nothing written",
   "exit %s, output %s" % (p.returncode, os.path.exists(target)))

p, target = waiting_pick("nohup.st", ignore=(signal.SIGHUP,))
p.send_signal(signal.SIGHUP)
time.sleep(0.3)
alive = p.poll() is None
finish_input(p, data[-4:])
p.wait(60)
ok(alive and p.returncode == 0 and os.path.exists(target) and not leftovers(target),
   "SIGHUP ignored by nohup stays ignored: the run goes on and writes its output", "exit %s" % p.returncode)

# ---- mosaic, which writes its tar as it goes ----
FMNIST = "/usr/share/datasets/fashion-mnist"
if os.path.isdir(FMNIST):
    tar = os.path.join(d, "m.tar")
    p = subprocess.Popen([os.path.join(BIN, "mosaic"), "--train", "200000", "--data", FMNIST, "-o", tar, "-q"],
                         stderr=subprocess.PIPE)
    had = wait_for(lambda: leftovers(tar) and os.path.getsize(leftovers(tar)[0]) > 0)
    p.send_signal(signal.SIGUSR1)
    p.wait(60)
    ok(had and p.returncode == -signal.SIGUSR1 and not leftovers(tar) and not os.path.exists(tar),
       "mosaic, SIGUSR1 while writing its tar: no temporary left", "exit %s" % p.returncode)
done()
