#!/usr/bin/python3
"""The network plan the GPU runs (tools/lib/net_plan.h), checked on the CPU by
tests/unit/net_plan.c: run in the GPU's layout by plain loops, it agrees with
net_forward at every tap and the logits for ResNets (basic and bottleneck
blocks), VGG with both heads, F16 and BF16 weights, every --pool kind."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
from tap import UNIT, diag, done, ok, scratch  # noqa: E402

tmp = scratch()
POOLS = ["avg", "max", "avgmax", "grid:2", "grid:3"]
GROUPS = [("resnet18,resnet50,vgg11_bn", "F32", "torchvision"), ("vgg11", "F32", "gap"),
          ("resnet18", "F16", "torchvision"), ("resnet50", "BF16", "torchvision")]

for archs, dtype, head in GROUPS:
    d = os.path.join(tmp, "%s-%s" % (dtype, head))
    os.makedirs(d)
    made = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "extract-feats", "models.py"), d, archs,
                           "--size", "40", "--n", "2", "--dtype", dtype, "--head", head],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not ok(made.returncode == 0, "%s %s %s: models made" % (archs, dtype, head), made.stderr):
        continue
    for arch in archs.split(","):
        p = subprocess.run([os.path.join(UNIT, "net_plan"), os.path.join(d, arch + ".st"), arch, head,
                            os.path.join(d, "images.st")] + POOLS, stdout=subprocess.PIPE, text=True)
        lines = p.stdout.splitlines()
        results = [line for line in lines if line.startswith(("ok ", "not ok "))]
        for line in lines:
            if line.startswith("#"):
                diag(line[1:].strip())
        for r in results:
            desc = r.split(" - ", 1)[1] if " - " in r else r
            ok(r.startswith("ok "), "%s %s: %s" % (dtype, head, desc))
        ok(p.returncode == 0 and len(results) == 3 + len(POOLS),
           "%s %s %s: all %d checks ran and passed" % (arch, dtype, head, 3 + len(POOLS)), p.stdout[-2000:])
done()
