"""Minimal TAP for the Python tests: ok/is_, running a tool, a scratch folder."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("LS_BIN", "bin")
UNIT = os.environ.get("LS_UNIT", "build/unit")
ASAN = os.environ.get("LS_ASAN") == "1"
TENSORS = os.path.join(BIN, "tensors")

_count = 0
_failed = 0


def ok(cond, desc, diag=None):
    global _count, _failed
    _count += 1
    if not cond:
        _failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", _count, desc.replace("\n", " ")))
    if not cond and diag is not None:
        for line in str(diag).splitlines() or [""]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def is_(got, expected, desc):
    return ok(got == expected, desc, "got:      %r\nexpected: %r" % (got, expected))


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line)


def done():
    print("1..%d" % _count)
    sys.exit(1 if _failed else 0)


def run(args, stdin=None, input=None, timeout=120):
    """Runs a command; returns (exit status, stdout bytes, stderr text)."""
    p = subprocess.run(args, stdin=stdin, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def tensors(*args, **kw):
    return run([TENSORS] + [str(a) for a in args], **kw)


def shell(cmd, timeout=120):
    """A pipeline through bash -o pipefail; returns (status, stdout bytes, stderr text)."""
    return run(["bash", "-o", "pipefail", "-c", cmd], timeout=timeout)


def scratch():
    d = tempfile.mkdtemp(prefix="ls-test-")
    atexit.register(shutil.rmtree, d, True)
    return d


def one_error_line(err, rule, desc):
    """stderr is exactly one line "tensors: ...", and it names rule."""
    lines = err.rstrip("\n").split("\n")
    return ok(len(lines) == 1 and lines[0].startswith("tensors: ") and rule in lines[0]
              and err.endswith("\n"), desc, "stderr: %r\nwanted one line with %r" % (err, rule))
