#!/usr/bin/python3
# A real one-node Slurm cluster (tests/slurm/cluster.sh: munged, slurmctld,
# slurmd on localhost, everything in a scratch folder) running the whole tiny
# study through pipelines/slurm.mk (make slurm-study ENGINE=slurm SHARDS=3) with
# the real tools: a 420-image mosaic tar read as VOC, one random ResNet-18 of
# width 4. The shards run as a job array, the join waits for them (afterok);
# shard 1 is held (a wrapper in the scratch BIN waits for a file, then execs
# the real extract-feats) and cancelled while it runs: the run fails, its join,
# run and report jobs are cancelled, shards 0 and 2 are kept; the rerun
# submits shard 1 alone and completes; a third run submits nothing. Every file
# of the study (the Slurm logs aside) equals the single-machine `make study`'s:
# the .st files byte for byte but their 'history' metadata (header and data
# section), every other file (figures, tables, TSVs, report.md) byte for byte
# except the run's classes.md and exit.md, which name their input file and so
# the study's folder: they are equal once that folder's path is replaced. Then the cluster stops and no process of it is
# left. A cluster that cannot start is a failure, with the reason, never a skip.
import os, re, subprocess, sys, time
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import BIN, ok, diag, done, scratch  # noqa: E402
from shards import header_and_data  # noqa: E402

root = os.path.dirname(here)
cluster = os.path.join(here, "slurm", "cluster.sh")
tools = ["mosaic", "extract-feats", "train-probe", "sinkhorn", "classify-samples", "early-exit", "plot", "tensors"]
missing = [t for t in tools if not os.access(os.path.join(BIN, t), os.X_OK)]
if missing:
    print("1..0 # SKIP %s/%s is not built yet" % (BIN, missing[0]))
    sys.exit(0)

d = scratch("ls-slurm-")
os.chmod(d, 0o755)   # munged wants every folder above its socket searchable by all
cdir = os.path.join(d, "c")
hold = os.path.join(d, "hold")
os.mkdir(hold)
env = dict(os.environ, SLURM_CONF=os.path.join(cdir, "slurm.conf"), LS_HOLD=hold)
for k in [k for k in env if k.startswith(("SLURM_", "SBATCH_", "SQUEUE_")) and k != "SLURM_CONF"]:
    del env[k]   # a test run inside an allocation must not leak its job into ours

def sh(args, timeout=60, **kw):
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr

def wait_until(cond, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()

# the tiny study's inputs: the model, label embeddings, the mosaics
rc, out, err = sh(["/usr/bin/python3", "-c", r'''
import json, os, sys
import numpy as np, torch
sys.path.insert(0, "tests/extract-feats"); sys.path.insert(0, "tests/st")
import models, stwrite
d = sys.argv[1]
labels = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
torch.manual_seed(0)
m, _ = models.build("resnet18", 4, classes=10)
models.randomise(m, torch.Generator().manual_seed(0))
stwrite.write(os.path.join(d, "resnet18.safetensors"), models.state_tensors(m, "F32"),
              {"arch": "resnet18", "labels": json.dumps(labels), "resize": "56", "crop": "56",
               "mean": "[0.5,0.5,0.5]", "std": "[0.25,0.25,0.25]"})
emb = np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32)
stwrite.write(os.path.join(d, "emb.safetensors"), {"embeddings": emb}, {"labels": json.dumps(labels)})
''', d], cwd=root)
if rc:
    print("1..0 # SKIP cannot build the test backbone: %s" % err.strip().split("\n")[-1])
    sys.exit(0)
rc, out, err = sh([os.path.join(BIN, "mosaic"), "-q", "--seed", "3", "--train", "240", "--val", "80", "--test", "100",
                   "-o", os.path.join(d, "mosaic.tar")])
if rc:
    print("1..0 # SKIP no mosaics (Fashion-MNIST missing?): %s" % err.strip())
    sys.exit(0)

# the tools: the built ones, extract-feats behind a wrapper that holds shard 1
# until $LS_HOLD/go-1 exists and logs every start; make never rebuilds them
fbin = os.path.join(d, "bin")
os.mkdir(fbin)
for t in tools:
    if t != "extract-feats":
        os.symlink(os.path.abspath(os.path.join(BIN, t)), os.path.join(fbin, t))
with open(os.path.join(fbin, "extract-feats"), "w") as f:
    f.write('''#!/bin/bash
spec= prev=
for a in "$@"; do [ "$prev" = --shard ] && spec=$a; prev=$a; done
echo "start ${spec:-all}" >> "$LS_HOLD/runs.log"
if [ "$spec" = 1/3 ]; then
	touch "$LS_HOLD/started-1"
	for ((k = 0; k < 1200; k++)); do [ -e "$LS_HOLD/go-1" ] && break; sleep 0.1; done
	[ -e "$LS_HOLD/go-1" ] || { echo "extract-feats wrapper: no $LS_HOLD/go-1 within 120 s" >&2; exit 1; }
fi
exec %s "$@"
''' % os.path.abspath(os.path.join(BIN, "extract-feats")))
os.chmod(os.path.join(fbin, "extract-feats"), 0o755)

common = ["make", "-s", "-C", root, "DATASET=voc", "VOC=" + os.path.join(d, "mosaic.tar"),
          "MODEL=" + os.path.join(d, "resnet18.safetensors"), "EMBEDDINGS=" + os.path.join(d, "emb.safetensors"),
          "PROBE_ARGS=--epochs 4 --lr-step 2 --standardize", "SNAPSHOT_EVERY=2", "SNAPSHOTS=all", "SAMPLE=330",
          # no EXTRACT_ARGS: the single machine's extract-feats runs on every CPU, the
          # shards on CPUS_shard (1), and the outputs must still be the same bits
          "BIN=" + fbin] + sum([["-o", os.path.join(fbin, t)] for t in tools], [])
local = os.path.join(d, "local")
study = os.path.join(d, "slurm")
mk = common + ["slurm-study", "ENGINE=slurm", "SHARDS=3", "STUDY=" + study, "POLL=0.2"] + \
    ["%s_%s=%s" % (v, k, x) for k in ("shard", "join", "run", "report")
     for v, x in (("CPUS", "1"), ("MEM", "1G"), ("TIME", "10"))]

# the single-machine study first (no cluster needed)
t0 = time.time()
rc, out, err = sh(common + ["study", "STUDY=" + local], timeout=600)
t_local = time.time() - t0
ok(rc == 0 and os.path.exists(os.path.join(local, "report.md")),
   "make study on this machine (%.1f s)" % t_local, (out + err)[-2000:])

stopped = False
def stop():
    global stopped
    if not stopped:
        stopped = True
        return sh([cluster, "stop", cdir])
    return 0, "", ""

t0 = time.time()
rc, out, err = sh([cluster, "start", cdir])
started = time.time() - t0
if not ok(rc == 0, "the cluster starts (%.1f s)" % started, err):
    diag("tests/slurm/cluster.sh could not start the daemons; the reason is above")
    stop()
    done()
pids = {n: int(open(os.path.join(cdir, "run", n + ".pid")).read()) for n in ("munged", "slurmctld", "slurmd")}

# a job's tools use the CPUs it was given (task/affinity binds them), not the node's
ncpu = len(os.sched_getaffinity(0))
given = {}
for c in sorted({1, ncpu}):
    rc, out, err = sh(["srun", "-c", str(c), "-t", "1", os.path.join(BIN, "sinkhorn"), "--help"], timeout=120)
    m = re.search(r"--threads N .*\[(\d+)\]", out)
    given[c] = int(m.group(1)) if rc == 0 and m else err.strip()[-300:]
ok(all(given[c] == c for c in given), "srun -c C: sinkhorn's default --threads is C (%s)" % given)

def shard(i):
    return os.path.join(study, "resnet18", "feats.shard-%d-of-3.st" % i)

def log(i):
    return os.path.join(study, "slurm", "resnet18", "feats.shard-%d-of-3.log" % i)

def queue():
    return [l for l in sh(["squeue", "-h", "-o", "%i|%j|%T|%r|%k"])[1].split("\n") if l]

try:
    # 1. shards 0 and 2 run through, shard 1 is held until it is cancelled
    first = subprocess.Popen(mk, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held = wait_until(lambda: os.path.exists(os.path.join(hold, "started-1")), 60)
    ok(held, "shard 1 of the array starts")
    wait_until(lambda: os.path.exists(shard(0)) and os.path.exists(shard(2)), 120)
    q = queue()
    names = {l.split("|")[1]: l.split("|")[2:] for l in q}
    ok(names.get("resnet18:feats.join") == ["PENDING", "Dependency", "layerscope:" + study]
       and names.get("resnet18:run", [""])[0] == "PENDING" and names.get("report", [""])[0] == "PENDING",
       "while shard 1 runs the join, the run's job and the report wait (PENDING, Dependency)", "\n".join(q))
    rc, out, err = sh(mk)
    ok(rc != 0 and "still queued" in err, "a second submission while jobs are queued is refused", err)
    task = [l.split("|")[0] for l in q if l.split("|")[2:4] == ["RUNNING", "None"] and l.split("|")[0].endswith("_1")]
    ok(len(task) == 1 and sh(["scancel", task[0]])[0] == 0, "scancel of array task 1 (%s) while it runs" % task,
       "\n".join(q))
    try:
        out, err = first.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        first.kill()
        out, err = first.communicate()
    ok(first.returncode != 0 and "is not complete" in err,
       "the run fails: the join, the run's job and the report are cancelled with the shard", out + err)
    ok(os.path.exists(shard(0)) and os.path.exists(shard(2)) and not os.path.exists(shard(1))
       and not os.path.exists(os.path.join(study, "resnet18", "feats.st"))
       and not os.path.exists(os.path.join(study, "report.md")),
       "shards 0 and 2 are kept; shard 1, the join and the report are missing")
    ok(all(os.path.exists(log(i)) for i in range(3)) and "CANCELLED" in open(log(1)).read(),
       "a log per shard; shard 1's says CANCELLED")

    # 2. the rerun submits shard 1 alone, the join and the rest
    open(os.path.join(hold, "go-1"), "w").close()
    t1 = time.time()
    rc, out, err = sh(mk, timeout=600)
    t_rerun = time.time() - t1
    ok(rc == 0 and "shards 1 of 0..2" in out and os.path.exists(os.path.join(study, "report.md")),
       "the rerun submits only shard 1 and completes (%.1f s)" % t_rerun, out + err)
    runs = open(os.path.join(hold, "runs.log")).read().split("\n")
    starts = sorted(r for r in runs if r.startswith("start") and r != "start all")   # all: the local study
    ok(starts == ["start 0/3", "start 1/3", "start 1/3", "start 2/3"], "shards 0 and 2 ran once, shard 1 twice",
       "\n".join(runs))
    ok(not any(os.path.exists(shard(i)) for i in range(3)), "the shards are removed after the join")

    # 3. every file equals the single-machine study's
    def files(top, skip=()):
        got = set()
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [x for x in dirnames if os.path.join(dirpath, x) not in skip]
            got |= {os.path.relpath(os.path.join(dirpath, f), top) for f in filenames}
        return got
    want, have = files(local), files(study, {os.path.join(study, "slurm")})
    ok(want == have, "the same %d files as the single-machine study (the Slurm logs aside)" % len(want),
       "only here: %s\nonly there: %s" % (sorted(have - want), sorted(want - have)))
    same, paths_only, differ = [], [], []
    for f in sorted(want & have):
        a, b = os.path.join(local, f), os.path.join(study, f)
        if f.endswith(".st"):
            (same if header_and_data(a) == header_and_data(b) else differ).append(f)
            continue
        x, y = open(a, "rb").read(), open(b, "rb").read()
        if x == y:
            same.append(f)
        elif x.replace(local.encode(), b"STUDY") == y.replace(study.encode(), b"STUDY"):
            paths_only.append(f)
        else:
            differ.append(f)
    ok(not differ and paths_only == ["resnet18/classes.md", "resnet18/exit.md"],
       "every file equal: %d byte for byte (.st files but 'history'), %s only in the study's path"
       % (len(same), ", ".join(paths_only) or "none"), "differ: %s\npaths only: %s" % (differ, paths_only))

    # 4. nothing left to do
    rc, out, err = sh(mk)
    ok(rc == 0 and "nothing to submit" in out and not queue(), "a third run submits nothing", out + err)
    diag("tiny study: make study %.1f s here; through Slurm, the rerun (shard 1, join, run, report) %.1f s"
         % (t_local, t_rerun))
finally:
    t2 = time.time()
    rc, out, err = stop()
    ok(rc == 0, "the cluster stops (%.1f s)" % (time.time() - t2), err)
left = [n for n, p in pids.items() if os.path.exists("/proc/%d" % p)
        and open("/proc/%d/stat" % p).read().split()[2] != "Z"]
ok(not left, "no daemon is left", left)
done()
