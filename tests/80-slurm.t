#!/usr/bin/python3
# A real one-node Slurm cluster (tests/slurm/cluster.sh: munged, slurmctld,
# slurmd on localhost, everything in a scratch folder) driving
# pipelines/slurm.mk's sharded extraction (make slurm-feats ENGINE=slurm
# SHARDS=3), with tests/slurm/fake-extract-feats standing in for extract-feats
# --shard: the shards run as a job array, the join waits for them (afterok),
# one shard cancelled midway fails the run and cancels the join, the rerun
# submits that shard alone, the joined file equals the unsharded one, a third
# run submits nothing; then the cluster stops and no process of it is left.
# A cluster that cannot start is a failure, with the reason, never a skip.
import os, shutil, subprocess, sys, time
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import BIN, ok, diag, done, scratch  # noqa: E402
import stwrite  # noqa: E402

root = os.path.dirname(here)
cluster = os.path.join(here, "slurm", "cluster.sh")
fake = os.path.join(here, "slurm", "fake-extract-feats")
if not os.access(os.path.join(BIN, "tensors"), os.X_OK):
    print("1..0 # SKIP %s/tensors is not built yet" % BIN)
    sys.exit(0)

d = scratch("ls-slurm-")
os.chmod(d, 0o755)   # munged wants every folder above its socket searchable by all
cdir = os.path.join(d, "c")
env = dict(os.environ, SLURM_CONF=os.path.join(cdir, "slurm.conf"), LS_FAKE_DIR=os.path.join(d, "ctl"))
for k in [k for k in env if k.startswith(("SLURM_", "SBATCH_", "SQUEUE_")) and k != "SLURM_CONF"]:
    del env[k]   # a test run inside an allocation must not leak its job into ours
os.mkdir(env["LS_FAKE_DIR"])

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
try:

    # the tools: the built ones, extract-feats the stand-in; make never rebuilds them
    fbin = os.path.join(d, "bin")
    os.mkdir(fbin)
    tools = ["mosaic", "extract-feats", "train-probe", "sinkhorn", "classify-samples", "early-exit", "plot", "tensors"]
    for t in tools:
        src = fake if t == "extract-feats" else os.path.abspath(os.path.join(BIN, t))
        os.symlink(src, os.path.join(fbin, t))
    for f in ("data.tar", "tiny.safetensors"):
        open(os.path.join(d, f), "w").close()
    study = os.path.join(d, "study")
    mk = ["make", "-s", "-C", root, "slurm-feats", "ENGINE=slurm", "SHARDS=3", "DATASET=voc",
          "VOC=" + os.path.join(d, "data.tar"), "MODEL=" + os.path.join(d, "tiny.safetensors"),
          "STUDY=" + study, "BIN=" + fbin, "POLL=0.2", "CPUS_shard=1", "MEM_shard=200M",
          "MEM_join=200M", "TIME_shard=5", "TIME_join=5"]
    for t in tools:
        mk += ["-o", os.path.join(fbin, t)]
    ctl = env["LS_FAKE_DIR"]
    def go(i):
        open(os.path.join(ctl, "go-%d" % i), "w").close()
    def shard(i):
        return os.path.join(study, "tiny", "feats.shard-%d-of-3.st" % i)
    def log(i):
        return os.path.join(study, "slurm", "tiny", "feats.shard-%d-of-3.log" % i)
    def queue():
        return [l for l in sh(["squeue", "-h", "-o", "%i|%j|%T|%r|%k"])[1].split("\n") if l]

    # 1. shards 0 and 2 run through, shard 1 holds until it is cancelled
    go(0)
    go(2)
    first = subprocess.Popen(mk, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held = wait_until(lambda: os.path.exists(os.path.join(ctl, "started-1")), 60)
    ok(held, "shard 1 of the array starts")
    wait_until(lambda: os.path.exists(shard(0)) and os.path.exists(shard(2)), 60)
    q = queue()
    join = [l for l in q if l.split("|")[1] == "tiny:feats.join"]
    ok(len(join) == 1 and join[0].split("|")[2:] == ["PENDING", "Dependency", "layerscope:" + study],
       "while shard 1 runs the join waits for it (PENDING, Dependency)", "\n".join(q))
    rc, out, err = sh(mk)
    ok(rc != 0 and "still queued" in err, "a second submission while jobs are queued is refused", err)
    task = [l.split("|")[0] for l in q if l.split("|")[2:4] == ["RUNNING", "None"] and l.split("|")[0].endswith("_1")]
    ok(len(task) == 1 and sh(["scancel", task[0]])[0] == 0, "scancel of array task 1 (%s)" % task, "\n".join(q))
    try:
        out, err = first.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        first.kill()
        out, err = first.communicate()
    ok(first.returncode != 0 and "without tiny/feats.st" in err,
       "the run fails: its join is cancelled with the shard", out + err)
    ok(os.path.exists(shard(0)) and os.path.exists(shard(2)) and not os.path.exists(shard(1))
       and not os.path.exists(os.path.join(study, "tiny", "feats.st")),
       "shards 0 and 2 are kept, shard 1 and the join are missing")
    ok(all(os.path.exists(log(i)) for i in range(3)) and "CANCELLED" in open(log(1)).read()
       and "rows 0..2" in open(log(0)).read() and "rows 6..9" in open(log(2)).read(),
       "a log per shard; shard 1's says CANCELLED")

    # 2. the rerun submits shard 1 alone
    go(1)
    t1 = time.time()
    rc, out, err = sh(mk, timeout=120)
    ok(rc == 0 and "shards 1 of 0..2" in out, "the rerun submits only shard 1 and completes (%.1f s)" % (time.time() - t1), out + err)
    runs = open(os.path.join(ctl, "runs.log")).read().split("\n")
    starts = [r for r in runs if r.startswith("start")]
    ok(sorted(starts[:3]) == ["start 0/3", "start 1/3", "start 2/3"] and starts[3:] == ["start 1/3"],
       "shards 0 and 2 ran once, shard 1 twice", "\n".join(runs))
    feats = os.path.join(study, "tiny", "feats.st")
    ref = os.path.join(d, "ref.st")
    subprocess.run([fake, "--model", "m", "--dataset", "voc:" + os.path.join(d, "data.tar"), "-o", ref],
                   env=dict(env, LS_FAKE_DIR=""), check=True, capture_output=True)
    if ok(os.path.exists(feats), "the join wrote feats.st"):
        got, gmeta = stwrite.read(feats)
        want, wmeta = stwrite.read(ref)
        gmeta.pop("history", None)
        gmeta["model"] = wmeta["model"] = ""
        ok(list(got) == list(want) and all(got[k][0] == want[k][0] and (got[k][1] == want[k][1]).all() for k in want)
           and gmeta == wmeta, "feats.st = the unsharded file: shards joined in order (history aside)")
    ok(not any(os.path.exists(shard(i)) for i in range(3)), "the shards are removed after the join")

    # 3. nothing left to do
    rc, out, err = sh(mk)
    ok(rc == 0 and "nothing to submit" in out and not queue(), "a third run submits nothing", out + err)
finally:
    t2 = time.time()
    rc, out, err = stop()
    ok(rc == 0, "the cluster stops (%.1f s)" % (time.time() - t2), err)
left = [n for n, p in pids.items() if os.path.exists("/proc/%d" % p)
        and open("/proc/%d/stat" % p).read().split()[2] != "Z"]
ok(not left, "no daemon is left", left)
done()
