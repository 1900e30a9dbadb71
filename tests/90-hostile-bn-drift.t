#!/usr/bin/python3
# bn-drift on hostile inputs (issue 17; docs/security.md): the catalogue's rule
# for each case (tests/st/hostile.py): checkpoints that are not safetensors,
# checkpoint lists with broken lines, names with control characters.
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import done  # noqa: E402
from hostile import case, common_inputs  # noqa: E402

ck = os.path.join(here, "..", "fixtures", "checkpoints")
first, second = (os.path.join(ck, "fmnist-resnet18-e0%s.safetensors" % e) for e in ("1", "2"))

common_inputs("bn-drift", [first])
case("bn-drift", [second, first], 1, ["training order"], desc="checkpoints out of order")
case("bn-drift", [first], 2, ["at least 2"], desc="one checkpoint")
case("bn-drift", ["--list", "{d}/l.list"], 1, ["l.list line 2", "EPOCH<TAB>PATH"], desc="a list line without a tab",
     files={"l.list": ("1\t%s\n2 %s\n" % (first, second)).encode()})
case("bn-drift", ["--list", "{d}/l.list"], 1, ["l.list line 1", "not a finite number"], desc="an epoch of nan",
     files={"l.list": ("nan\t%s\n2\t%s\n" % (first, second)).encode()})
case("bn-drift", ["--list", "{d}/l.list"], 1, ["l.list line 2", "control character"], desc="a path holding ESC",
     files={"l.list": ("1\t%s\n2\t%s\x1b[2J\n" % (first, second)).encode()})
case("bn-drift", ["--list", "{d}/l.list"], 1, ["/dev/zero"], desc="a checkpoint that is /dev/zero",
     files={"l.list": ("1\t%s\n2\t/dev/zero\n" % first).encode()})
case("bn-drift", ["--list", "/dev/zero"], 1, ["/dev/zero"], desc="a list that is /dev/zero")
case("bn-drift", ["--list", "{d}/no/such.list"], 1, ["no/such.list"], desc="a missing list")
done()
