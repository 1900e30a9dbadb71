#!/usr/bin/python3
"""The GPU paths against their CPU references (tests/unit/gpu.c): the probe
trainer, and the network on random models of each family (models.py) in F32
and in the model's half type. They run with the CUDA flavour (`make test`
builds it as build-cuda/ wherever nvcc exists, LS_CUDA_UNIT) on a machine
with a GPU; elsewhere the whole file skips, saying why."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
from tap import UNIT, diag, done, ok, scratch  # noqa: E402

cuda_unit = os.environ.get("LS_CUDA_UNIT") or ""
exe = os.path.join(cuda_unit or UNIT, "gpu")
if not os.path.exists(exe):
    print("1..0 # SKIP no CUDA build: nvcc not found (see `make cuda-check`)")
    sys.exit(0)


def unit(args, what):
    """runs the unit; its results as ours, prefixed with what; None when it skipped"""
    p = subprocess.run([exe] + args, stdout=subprocess.PIPE, text=True)
    lines = p.stdout.splitlines()
    if lines and lines[0].startswith("1..0 # SKIP"):
        return lines[0]
    n = 0
    for line in lines:
        if line.startswith(("ok ", "not ok ")):
            n += 1
            ok(line.startswith("ok "), "%s: %s" % (what, line.split(" - ", 1)[-1]))
        elif line.startswith("#"):
            diag(line[1:].strip())
    ok(p.returncode == 0 and n > 0, "%s: ran to the end (%d checks)" % (what, n), p.stdout[-2000:])
    return None


skipped = unit([], "probes")
if skipped:
    print(skipped)
    sys.exit(0)

tmp = scratch()
for archs, dtype, head in [("resnet18,resnet50,vgg11_bn", "F32", "torchvision"), ("vgg11", "F32", "gap"),
                           ("resnet50", "F16", "torchvision"), ("resnet18", "BF16", "torchvision")]:
    d = os.path.join(tmp, dtype + head)
    os.makedirs(d)
    made = subprocess.run([sys.executable, os.path.join(HERE, "extract-feats", "models.py"), d, archs,
                           "--size", "64", "--n", "5", "--dtype", dtype, "--head", head],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not ok(made.returncode == 0, "%s %s: models made" % (archs, dtype), made.stderr):
        continue
    for arch in archs.split(","):
        unit([os.path.join(d, arch + ".st"), arch, head, os.path.join(d, "images.st")],
             "%s %s %s" % (arch, dtype, head))
done()
