"""Minimal TAP for the Python tests: ok/is_, running a tool, a scratch folder.

A test puts this folder on its path and imports what it uses:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
    from tap import BIN, ok, done, run, scratch

ok() numbers the tests, done() prints the plan "1..N" at the end and exits 1
if any failed; run() runs a command, scratch() makes a folder removed at exit.
"""
import atexit
import glob
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.path.abspath(os.environ.get("LS_BIN", "bin"))   # strace and chdir need it absolute
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


def skip(desc, why):
    """A check that cannot run here, counted as TAP's "ok N # SKIP why"."""
    global _count
    _count += 1
    print("ok %d - %s # SKIP %s" % (_count, desc.replace("\n", " "), why.replace("\n", " ")))
    sys.stdout.flush()


def is_(got, expected, desc):
    return ok(got == expected, desc, "got:      %r\nexpected: %r" % (got, expected))


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line)


def done():
    print("1..%d" % _count)
    sys.stdout.flush()
    sys.exit(1 if _failed else 0)


def run(args, stdin=None, input=None, timeout=120, text=False):
    """Runs a command; returns (exit status, stdout bytes, stderr text);
    text=True: stdout as text too. timeout=None waits as long as it takes."""
    p = subprocess.run(args, stdin=stdin, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    out = p.stdout.decode("utf-8", "replace") if text else p.stdout
    return p.returncode, out, p.stderr.decode("utf-8", "replace")


# Linux keeps a process's peak RSS across exec: the command is forked from a
# small interpreter, not from the test's own (hundreds of MB with numpy data)
_PEAK = ("import os, sys\np = os.fork()\nif p == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\n"
         "_, s, u = os.wait4(p, 0)\nprint(u.ru_maxrss, os.waitstatus_to_exitcode(s))")


def peak_rss(args, timeout=600):
    """Runs a command (stdout and stderr dropped); returns (exit status, its peak RSS in bytes)."""
    p = subprocess.run([sys.executable, "-c", _PEAK] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=timeout)
    kib, status = p.stdout.split()[-2:]
    return int(status), int(kib) * 1024


def tensors(*args, **kw):
    return run([TENSORS] + [str(a) for a in args], **kw)


def shell(cmd, timeout=120):
    """A pipeline through bash -o pipefail; returns (status, stdout bytes, stderr text)."""
    return run(["bash", "-o", "pipefail", "-c", cmd], timeout=timeout)


def scratch(prefix="ls-test-"):
    """A new folder, removed with all it holds when the test exits."""
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d


def leftovers(out):
    """The temporaries a run writing `out` could leave: out.tmp (older
    versions) and out.PID.HOST.XXXXXX.tmp."""
    return [p for p in [out + ".tmp"] + glob.glob(glob.escape(out) + ".*.tmp") if os.path.lexists(p)]


def names_error(err, tool, words=(), lines=1):
    """stderr's first line is "TOOL: ..." holding every word, stderr ends in a
    newline and has exactly `lines` lines (None: any number, for usage errors)."""
    got = err.rstrip("\n").split("\n")
    return (got[0].startswith(tool + ": ") and all(w in got[0] for w in words)
            and (lines is None or len(got) == lines) and err.endswith("\n"))


def one_error_line(err, rule, desc, tool="tensors"):
    """stderr is exactly one line "TOOL: ...", and it names rule."""
    return ok(names_error(err, tool, (rule,)), desc,
              "stderr: %r\nwanted one line with %r" % (err, rule))


def expect_failure(tool, args, status, needles=(), out=None, desc=None, **kw):
    """Runs TOOL (a path in BIN or a name there) with args and expects a clean
    refusal: exit `status`; stderr's first line "NAME: ..." holding every
    needle, and nothing else but, for a usage error (status 2), the usage line
    and the hint to --help; no file `out` (nor a temporary of it) left behind. kw goes to
    run(). Returns what ok() returned."""
    exe = tool if os.sep in tool else os.path.join(BIN, tool)
    name = os.path.basename(exe)
    needles = (needles,) if isinstance(needles, str) else tuple(needles)
    rc, _, err = run([exe] + [str(a) for a in args], **kw)
    lines = err.rstrip("\n").split("\n")
    good = (rc == status and lines[0].startswith(name + ": ") and all(w in lines[0] for w in needles)
            and err.endswith("\n") and (len(lines) == 1 if status != 2 else len(lines) <= 3)
            and not (out and (os.path.exists(out) or leftovers(out))))
    return ok(good, "%s: exit %d, one line naming %s%s" % (
        desc or " ".join(str(a) for a in args[:2]), status, ", ".join(repr(w) for w in needles) or "the cause",
        ", no output" if out else ""), "exit %d, stderr %r" % (rc, err))
