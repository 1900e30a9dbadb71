#!/usr/bin/python3
# plot on hostile inputs (issue 17; docs/security.md): the catalogue's rule for
# each case (tests/st/hostile.py): refused in one line, nothing left behind --
# the temporary folder under TMPDIR included, which the case's folder holds.
# Hostile strings that must be drawn, not run, are tests/75-plot-hostile.t's.
import os
import shutil
import subprocess
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import done, scratch  # noqa: E402
from hostile import case, common_inputs  # noqa: E402
import stwrite as st  # noqa: E402

if not shutil.which("gnuplot"):
    print("1..0 # SKIP gnuplot is not installed (Debian package gnuplot-nox)")
    sys.exit(0)
d = scratch()
study = os.path.join(d, "s.st")
subprocess.run([sys.executable, os.path.join(here, "synth-study.py"), study, "--n", "100"], check=True)
T, meta = st.read(study)
base = {k: v[1] for k, v in T.items()}

common_inputs("plot", ["layers"], ["--format", "svg"], picked=("empty", "not-json", "bad-utf8", "hole"))
common_inputs("plot", ["epochs"], ["--format", "svg"], picked=("truncated-header",))
w = base["wdist"].copy()
w[0, 3] = np.inf
case("plot", ["layers", "{d}/in.st", "--split", "all"], 1, ["wdist"], desc="layers: an infinite distance",
     files={"in.st": st.dumps(dict(base, wdist=w), meta)})
case("plot", ["sample", "{d}/in.st", "--sample", "100000"], 2, ["100000"], desc="sample: a row out of range",
     files={"in.st": st.dumps(base, meta)})
case("plot", ["layers", "{d}/in.st", "--tensor", "x\n\x1b[2J"], 1, ["x\\n\\x1b[2J"],
     desc="--tensor holding a newline and ESC", files={"in.st": st.dumps(base, meta)})
case("plot", ["layers", "{d}/in.st", "--format", "gif"], 2, ["gif"], desc="--format gif",
     files={"in.st": st.dumps(base, meta)})
case("plot", ["layers", "{d}/in.st", "--script", "{d}/no/such/dir"], 1, ["no/such/dir"],
     desc="--script in a missing folder", files={"in.st": st.dumps(base, meta)})
done()
