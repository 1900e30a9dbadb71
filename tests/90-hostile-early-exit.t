#!/usr/bin/python3
# early-exit on hostile inputs (issue 17; docs/security.md): the catalogue's
# rule for each case (tests/st/hostile.py): the inputs every tool must refuse,
# and names from the file that reach a message shown escaped, on one line.
import json
import os
import subprocess
import sys

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
L = base["prob"].shape[0]

common_inputs("early-exit")
layers = json.dumps(["a\n\x1b[2Jb"] * L)
case("early-exit", ["{d}/in.st"], 1, ["layer_flops"], desc="layer names holding ESC, bad layer_flops",
     files={"in.st": st.dumps(base, dict(meta, layers=layers, layer_flops=json.dumps(["x"] * L)))})
case("early-exit", ["{d}/in.st", "--report", "{d}/no/such/r.md"], 1, ["no/such"],
     desc="--report in a missing folder", files={"in.st": st.dumps(base, meta)})
for opt in ("--report", "--metrics"):
    case("early-exit", ["{d}/missing-input.st", opt, "{d}/no/such/r.md"], 1, ["no/such"],
         desc="%s checked before the input is read (the error names it, not the missing input)" % opt)
case("early-exit", ["{d}/in.st", "--q", "2"], 2, ["--q"], desc="--q 2", files={"in.st": st.dumps(base, meta)})
case("early-exit", ["{d}/in.st", "--grid-step", "1e-9"], 2, ["--grid-step", "0.005 to 0.5"],
     desc="--grid-step 1e-9 (ran for ever before issue 11 bounded it)", files={"in.st": st.dumps(base, meta)})
done()
