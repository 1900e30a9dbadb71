#!/usr/bin/python3
# classify-samples on hostile inputs (issue 17; docs/security.md): the
# catalogue's rule for each case (tests/st/hostile.py).
import os
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import done, scratch  # noqa: E402
from hostile import case, common_inputs  # noqa: E402
import stwrite as st  # noqa: E402

d = scratch()
study = os.path.join(d, "s.st")
subprocess.run([sys.executable, os.path.join(here, "synth-study.py"), study, "--n", "200"], check=True)
T, meta = st.read(study)
base = {k: v[1] for k, v in T.items()}

common_inputs("classify-samples")
nop = st.dumps({k: v for k, v in base.items() if k != "prob"}, meta)
case("classify-samples", ["{d}/s.st", "--prob", "{d}/p.st"], 1, ["p.st", "header is not valid JSON"],
     desc="--prob FILE malformed", files={"s.st": nop, "p.st": b"\x08\0\0\0\0\0\0\0{\"a\":   "})
w = base["wdist"].copy()
w[1, 2] = -np.inf
case("classify-samples", ["{d}/in.st"], 1, ["wdist", "inf"], desc="an infinite distance",
     files={"in.st": st.dumps(dict(base, wdist=w), meta)})
case("classify-samples", ["{d}/in.st", "--summary", "{d}/no/such/s.md"], 1, ["no/such"],
     desc="--summary in a missing folder", files={"in.st": st.dumps(base, meta)})
case("classify-samples", ["{d}/missing-input.st", "--summary", "{d}/no/such/s.md"], 1, ["no/such"],
     desc="--summary checked before the input is read (the error names it, not the missing input)")
case("classify-samples", ["{d}/in.st", "--distance", "a\x1b[2Jb"], 1, ["a\\x1b[2Jb"],
     desc="--distance naming a tensor with ESC", files={"in.st": st.dumps(base, meta)})
done()
