#!/usr/bin/python3
# The malformed-file catalogue (tests/st/malformed.py): every file is refused with
# exit status 1 and one line naming its rule, read from a file and from a pipe,
# and a refused `pick -o OUT` leaves no OUT behind. The edge cases are read.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
import malformed  # noqa: E402
import stwrite as st  # noqa: E402
from tap import TENSORS, ok, done, tensors, shell, scratch, one_error_line, leftovers  # noqa: E402

d = scratch()
cases = malformed.cases()
ok(len(cases) >= 30, "the catalogue holds %d malformed files (at least 30)" % len(cases))

for name, data, rule in cases:
    path = os.path.join(d, name + ".st")
    with open(path, "wb") as fp:
        fp.write(data)

    rc, out, err = tensors("info", path)
    ok(rc == 1 and out == b"", "%s: info exits 1, prints nothing" % name, "status %d, stderr %r" % (rc, err))
    one_error_line(err, rule, "%s: one line naming '%s'" % (name, rule))
    ok(path in err, "%s: the message names the file" % name, err)

    out_path = os.path.join(d, name + ".out")
    rc, out, err = tensors("pick", "a", "-i", path, "-o", out_path)
    ok(rc == 1 and rule in err, "%s: pick -o exits 1 with '%s'" % (name, rule), "status %d, stderr %r" % (rc, err))
    ok(not os.path.exists(out_path) and not leftovers(out_path),
       "%s: pick -o leaves no output file" % name)

    rc, out, err = shell("cat '%s' | '%s' info" % (path, TENSORS))
    ok(rc == 1 and out == b"", "%s: from a pipe, exit 1, prints nothing" % name,
       "status %d, stdout %r, stderr %r" % (rc, out[:200], err))
    one_error_line(err, rule, "%s: from a pipe, one line naming '%s'" % (name, rule))
    ok("tensors: standard input: " in err, "%s: from a pipe, the message names standard input" % name, err)

for name, data, expect in malformed.edge_cases():
    path = os.path.join(d, name + ".st")
    with open(path, "wb") as fp:
        fp.write(data)
    rc, out, err = tensors("info", path)
    text = out.decode("utf-8", "replace")
    ok(rc == 0 and err == "", "edge %s: accepted" % name, "status %d, stderr %r" % (rc, err))
    for tname, (dtype, shape) in expect.items():
        row = [l for l in text.splitlines() if l.startswith(tname + " ")]
        want = "[%s]" % ",".join(str(x) for x in shape)
        ok(len(row) == 1 and dtype in row[0].split() and want in row[0].split(),
           "edge %s: info lists %s %s %s" % (name, tname, dtype, want), text)
    if not expect:
        continue
    # pick of every tensor: the numpy peer reads the result
    rc, out, err = tensors("pick", *expect, "-i", path)
    ok(rc == 0, "edge %s: pick of every tensor" % name, err)
    try:
        got, _ = st.loads(out)
        same = {k: (v[0], list(v[1].shape)) for k, v in got.items()} == \
            {k: (v[0], list(v[1])) for k, v in expect.items()}
    except Exception as e:  # noqa: BLE001
        same, got = False, e
    ok(same, "edge %s: the numpy peer reads pick's output" % name, got)

done()
