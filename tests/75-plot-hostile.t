#!/usr/bin/python3
# plot with hostile strings (issue 17, point 1): label names, layer names,
# sample ids, the arch, snapshot layer names, --title and --names holding
# backquotes, $(...), quotes, backslashes, newlines, @macros and system(...).
# For every plot kind: exit 0, no command ran (no marker file appears), and
# the text is drawn (found in the SVG, newlines as spaces).
import html, json, os, re, shutil, signal, subprocess, sys, time
import numpy as np
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import ok, done, scratch  # noqa: E402
import stwrite

bindir = os.environ.get("LS_BIN", "bin")
plot = os.path.join(bindir, "plot")
if not shutil.which("gnuplot"):
    print("1..0 # SKIP gnuplot is not installed (Debian package gnuplot-nox)")
    sys.exit(0)
d = scratch()
marks = os.path.join(d, "marks")
os.mkdir(marks)


def evil(tag):
    """A string that, were it script text, would create marks/TAG-n; and what it reads as drawn."""
    m = os.path.join(marks, tag)
    return (f"{tag} `touch {m}-1` $(touch {m}-2) system(\"touch {m}-3\") @m 'q\"x\\y\nz",
            f"{tag} `touch {m}-1` $(touch {m}-2) system(\"touch {m}-3\") @m 'q\"x\\y z")


s1 = os.path.join(d, "s1.st")
subprocess.run([sys.executable, os.path.join(here, "synth-study.py"), s1, "--n", "120", "--images", "--epochs", "4"],
               check=True)
T, meta = stwrite.read(s1)
L, K = T["prob"][1].shape[0], T["prob"][1].shape[2]
labels = [evil(f"label{k}")[0] for k in range(K)]
layers = [evil(f"layer{l}")[0] for l in range(L)]
meta = dict(meta, labels=json.dumps(labels), layers=json.dumps(layers), arch=evil("arch")[0],
            snapshot_layers=json.dumps([layers[2], layers[L - 2]]),
            ids=json.dumps([evil(f"id{i}")[0] for i in range(T["prob"][1].shape[1])]))
hostile = os.path.join(d, "hostile.st")
stwrite.write(hostile, {k: v[1] for k, v in T.items()}, meta)
# across training: 3 layers at 5 checkpoints, hostile layer names; bn-drift outputs
# with hostile stages, layers and arch
s3 = os.path.join(d, "s3.st")
subprocess.run([sys.executable, os.path.join(here, "synth-study.py"), s3, "--n", "120", "--checkpoints", "5"], check=True)
T3, _ = stwrite.read(s3)
train_layers = [evil(f"tlayer{l}")[0] for l in range(3)]
training = os.path.join(d, "training.st")
stwrite.write(training, {k: v[1] for k, v in T3.items()},
              dict(meta, layers=json.dumps(train_layers), checkpoint_epochs="[0.125,0.25,0.5,1,2]"))
bn = os.path.join(d, "bn.st")
stwrite.write(bn, {"bn_w2": np.full((4, 3), 0.5), "bn_w2_running": np.full((4, 3), 2.0)},
              {"stages": json.dumps([evil("stage0")[0], evil("stage0")[0], evil("stage1")[0]]),
               "layers": json.dumps([evil(f"bnlayer{b}")[0] for b in range(3)]), "arch": evil("bnarch")[0],
               "checkpoint_epochs": "[1,2,3,4,5]"})
ee, cs = os.path.join(d, "ee.st"), os.path.join(d, "cs.st")
subprocess.run([os.path.join(bindir, "early-exit"), hostile, "-o", ee, "-q"], check=True)
subprocess.run([os.path.join(bindir, "classify-samples"), hostile, "-o", cs, "-q"], check=True)

title, title_drawn = evil("title")
names, names_drawn = evil("run")
names = names.replace(",", ";")
names_drawn = names_drawn.replace(",", ";")
# each kind, its arguments, and strings it must draw
cases = [
    ("layers", [hostile, hostile, "--names", names], [names_drawn]),
    ("sample", [hostile, "--sample", "3"], [evil("label0")[1], evil("id3")[1]]),
    ("epochs", [hostile], [evil("layer2")[1]]),
    ("adjacent", [hostile], [evil(f"layer{L - 2}")[1]]),
    ("measures", [hostile, "--tensor", evil("tensor")[0]], []),
    ("overthinking", [ee], [evil("arch")[1]]),
    ("frontier", [ee], [evil("arch")[1]]),
    ("frontier", [ee, ee, "--names", names], [names_drawn]),
    ("categories", [cs, "--prob", hostile, "--images", hostile], [evil("label1")[1]]),
    ("epochs", [training], [evil("tlayer0")[1]]),
    ("adjacent", [training], [evil("tlayer2")[1]]),
    ("probe-epochs", [hostile], [evil("layer2")[1]]),
    ("probe-adjacent", [hostile], [evil(f"layer{L - 2}")[1]]),
    ("sample-epochs", [training, "--sample", "3"], [evil("label0")[1], evil("id3")[1], evil("tlayer2")[1]]),
    ("bn-drift", [bn, bn, "--names", names], [evil("stage0")[1], evil("stage1")[1], names_drawn.split(";")[0]]),
    ("bn-drift", [bn], [evil("bnarch")[1]]),
    ("resplit", [hostile, hostile, "--names", names], [names_drawn, evil("layer3")[1]]),
]


def svg_text(path):
    """Every text the SVG draws, XML entities decoded, runs of space folded."""
    s = open(path, encoding="utf-8", errors="replace").read()
    texts = re.findall(r"<text[^>]*>(.*?)</text>", s, re.S)
    return " ".join(re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", t))) for t in texts)


for kind, args, drawn in cases:
    for with_title in (False, True):
        out = os.path.join(d, f"{kind}{int(with_title)}.svg")
        extra = ["--title", title] if with_title else []
        r = subprocess.run([plot, kind] + args + extra + ["--format", "svg", "-o", out], capture_output=True)
        text = svg_text(out) if os.path.exists(out) else ""
        # a --title replaces the default title (where sample ids are, and sample-epochs' layer)
        in_title = ("id", "tlayer") if kind == "sample-epochs" else ("id",)
        want = [w for w in drawn if not (with_title and w.startswith(in_title))] + ([title_drawn] if with_title else [])
        missing = [w for w in want if re.sub(r"\s+", " ", w) not in text]
        ok(r.returncode == 0 and os.listdir(marks) == [] and not missing,
           f"{kind}{' with --title' if with_title else ''}: drawn as text, no command run",
           f"exit {r.returncode}, stderr {r.stderr.decode()!r}, marks {os.listdir(marks)}, missing {missing!r}")



def outside_single_quotes(script):
    """The script's text outside gnuplot's single-quoted strings ('' is a quote
    inside them), double-quoted strings (where gnuplot would substitute) included."""
    out, i, inside = [], 0, None
    while i < len(script):
        c = script[i]
        if inside == "'":
            if c == "'" and script[i + 1:i + 2] == "'":
                i += 1
            elif c == "'":
                inside = None
        elif inside == '"':
            out.append(c)
            if c == "\\":
                out.append(script[i + 1:i + 2])
                i += 1
            elif c == '"':
                inside = None
        else:
            out.append(c)
            if c in "'\"":
                inside = c
        i += 1
    return "".join(out), inside is not None


# every hostile string of every kind's script lies inside single quotes
bad = []
for kind, args, _ in cases:
    sd = os.path.join(d, "script-" + kind)
    subprocess.run([plot, kind] + args + ["--title", title, "--script", sd, "-q"], check=True)
    text, unclosed = outside_single_quotes(open(os.path.join(sd, "plot.gp"), encoding="utf-8").read())
    if unclosed or "`" in text or "touch" in text or "@m" in text:
        bad.append(kind)
ok(not bad, "plot.gp of every kind: hostile text only inside single-quoted literals", f"offending: {bad}")

# failures after the job's folder exists leave nothing in TMPDIR (issue 17, point 8)
tmp = os.path.join(d, "tmp")
os.mkdir(tmp)
fake = os.path.join(d, "fakebin")
os.mkdir(fake)
env = dict(os.environ, TMPDIR=tmp, PATH=fake)
r = subprocess.run([plot, "layers", hostile, "-o", os.path.join(d, "x.png")], env=env, capture_output=True)
ok(r.returncode == 1 and b"gnuplot" in r.stderr and os.listdir(tmp) == [],
   "gnuplot missing: exit 1, the temporary folder removed", f"{r.returncode} {r.stderr!r} {os.listdir(tmp)}")
with open(os.path.join(fake, "gnuplot"), "w") as f:
    f.write("#!/bin/sh\nexit 3\n")
os.chmod(os.path.join(fake, "gnuplot"), 0o755)
r = subprocess.run([plot, "layers", hostile, "-o", os.path.join(d, "x.png")], env=env, capture_output=True)
ok(r.returncode == 1 and os.listdir(tmp) == [] and not os.path.exists(os.path.join(d, "x.png")),
   "gnuplot failing: exit 1, no figure, the temporary folder removed", f"{r.returncode} {os.listdir(tmp)}")
with open(os.path.join(fake, "gnuplot"), "w") as f:
    f.write("#!/bin/sh\nexec /bin/sleep 30\n")
p = subprocess.Popen([plot, "layers", hostile, "-o", os.path.join(d, "x.png")], env=env,
                     stderr=subprocess.DEVNULL, start_new_session=True)
for _ in range(100):   # until gnuplot (the sleep) runs
    if os.listdir(tmp) and os.path.exists(os.path.join(tmp, os.listdir(tmp)[0], "plot.gp")):
        break
    time.sleep(0.05)
time.sleep(0.2)
p.send_signal(signal.SIGTERM)
rc = p.wait(timeout=10)
try:
    os.killpg(p.pid, signal.SIGKILL)   # the stand-in gnuplot, if still there
except ProcessLookupError:
    pass
ok(rc == -signal.SIGTERM and os.listdir(tmp) == [], "SIGTERM while gnuplot runs: the temporary folder removed",
   f"{rc} {os.listdir(tmp)}")
done()
