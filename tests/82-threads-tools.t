#!/usr/bin/python3
"""Every tool's default thread count follows the CPUs the process may use
(issue 14): its affinity (taskset, Slurm's task/affinity) and, where this
machine lets the test make one, a cgroup with a CPU quota of one CPU;
--threads still wins. The threads a run really starts are counted with
strace. The rule itself, on made-up trees: tests/unit/threads.c."""
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
from tap import BIN, done, is_, ok, run, scratch, skip  # noqa: E402

TOOLS = ["extract-feats", "train-probe", "sinkhorn", "classify-samples", "early-exit",
         "plot", "tensors", "mosaic", "bn-drift"]
affinity = len(os.sched_getaffinity(0))


def default_threads(prefix=()):
    """The default --help shows for --threads, per tool"""
    got = {}
    for t in TOOLS:
        rc, out, err = run(list(prefix) + [os.path.join(BIN, t), "--help"], text=True)
        m = re.search(r"--threads N .*\[(\d+)\]", out)
        got[t] = int(m.group(1)) if rc == 0 and m else (rc, err)
    return got


plain = default_threads()
ok(all(isinstance(v, int) and 1 <= v <= affinity for v in plain.values()),
   "--help shows a default thread count within the %d CPUs of the affinity mask" % affinity, plain)
one = default_threads(["taskset", "-c", "0"])
is_(one, {t: 1 for t in TOOLS}, "under taskset -c 0 every tool's default is 1 thread")


def quota_cgroup():
    """A new cgroup limited to one CPU (v1 cpu or v2 cpu.max): (folder, None)
    or (None, why not)."""
    if os.geteuid() != 0:
        return None, "not root: cannot make a cgroup"
    mounts = {}
    with open("/proc/self/mountinfo") as fp:
        for line in fp:
            pre, _, post = line.partition(" - ")
            f, g = pre.split(), post.split()
            if len(f) >= 5 and len(g) >= 3:
                if g[0] == "cgroup2":
                    mounts.setdefault("v2", (f[3], f[4]))
                elif g[0] == "cgroup" and "cpu" in g[2].split(","):
                    mounts.setdefault("v1", (f[3], f[4]))
    paths = {}
    with open("/proc/self/cgroup") as fp:
        for line in fp:
            i, ctl, p = line.rstrip("\n").split(":", 2)
            if i == "0" and ctl == "":
                paths["v2"] = p
            elif "cpu" in ctl.split(","):
                paths["v1"] = p
    whys = []
    for v, quota in (("v1", [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "100000")]),
                     ("v2", [("cpu.max", "100000 100000")])):
        if v not in mounts or v not in paths:
            whys.append("no %s cpu hierarchy" % v)
            continue
        mroot, point = mounts[v]
        p = paths[v]
        base = point + (p if mroot == "/" else p[len(mroot):] if p.startswith(mroot) else "")
        folder = os.path.join(base, "ls-test-%d" % os.getpid())
        try:
            os.mkdir(folder)
        except OSError as e:
            whys.append("%s: %s" % (v, e.strerror))
            continue
        try:
            for name, value in quota:
                with open(os.path.join(folder, name), "w") as fp:
                    fp.write(value)
            return folder, None
        except OSError as e:
            whys.append("%s: %s: %s" % (v, name, e.strerror))
            os.rmdir(folder)
    return None, "; ".join(whys)


if affinity < 2:
    skip("a cgroup quota of one CPU gives 1 thread", "one CPU here: nothing to tell apart")
else:
    cg, why = quota_cgroup()
    if not cg:
        skip("a cgroup quota of one CPU gives 1 thread", why)
    else:
        try:
            got = {}
            for t in TOOLS:
                rc, out, err = run(["sh", "-c", 'echo $$ > "$1/cgroup.procs" && exec "$2" --help', "sh",
                                    cg, os.path.join(BIN, t)], text=True)
                m = re.search(r"--threads N .*\[(\d+)\]", out)
                got[t] = int(m.group(1)) if rc == 0 and m else (rc, err)
            is_(got, {t: 1 for t in TOOLS},
                "in a cgroup with a quota of one CPU (%s) every tool's default is 1 thread" % cg)
        finally:
            os.rmdir(cg)

# the threads a run starts, counted by strace (the sanitizers' own included:
# only differences between runs are compared)
if not shutil.which("strace"):
    ok(False, "strace is installed (make deps)")
else:
    import json
    import numpy as np
    sys.path.insert(0, os.path.join(HERE, "sinkhorn"))
    import oracle  # noqa: E402
    import stwrite as st  # noqa: E402
    d = scratch()
    names = json.loads(oracle.embeddings("voc")[1]["labels"])
    rng = np.random.default_rng(82)
    y = (rng.random((64, len(names))) < 0.2).astype(np.uint8)
    y[:, 0] = 1
    src = os.path.join(d, "prob.st")
    st.write(src, {"prob": rng.random((2, 64, len(names))).astype(np.float32), "labels": y},
             {"labels": json.dumps(names)})

    def clones(prefix, args):
        trace = os.path.join(d, "trace")
        # LeakSanitizer cannot run under ptrace: leaks are the other tests' business
        asan = "ASAN_OPTIONS=%s:detect_leaks=0" % os.environ.get("ASAN_OPTIONS", "")
        rc, _, err = run(list(prefix) + ["env", asan, "strace", "-f", "-qq", "-e", "trace=clone,clone3", "-o", trace,
                                         os.path.join(BIN, "sinkhorn"), "-q", "--embeddings",
                                         oracle.EMBED["voc"], src, "-o", os.path.join(d, "out.st")] + args,
                         text=True)
        if rc:
            return "exit %d: %s" % (rc, err)
        with open(trace) as fp:
            return sum(1 for line in fp if "clone" in line and "resumed" not in line)

    pin = ["taskset", "-c", "0"]
    c_one, c_pin, c_three, c_pin3 = (clones([], ["-t", "1"]), clones(pin, []),
                                     clones([], ["-t", "3"]), clones(pin, ["-t", "3"]))
    ok(c_pin == c_one, "sinkhorn under taskset -c 0 starts the threads of -t 1 (%s and %s)" % (c_pin, c_one))
    ok(isinstance(c_three, int) and isinstance(c_one, int) and c_three > c_one and c_pin3 == c_three,
       "--threads 3 wins over the affinity: the same threads with and without taskset -c 0 (%s, %s), "
       "more than -t 1's" % (c_pin3, c_three))
done()
