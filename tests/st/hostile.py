"""The catalogue of hostile inputs (tests/90-hostile-*.t, issue 17; docs/security.md).

Every case runs one tool in a folder of its own (its working directory, with
TMPDIR and HOME inside it) and holds it to the project's rule for bad input:

  - the exit status asked for (1; 2 for a usage error);
  - stderr is one line "TOOL: ..." holding every needle (a usage error adds
    the usage line and the hint to --help), ending in a newline; warnings
    ("TOOL: warning: ...", one line each) may come first;
  - nothing on standard output;
  - no output file, no temporary of it, no other file appears in the folder;
  - no file is created, nor opened for writing, outside the folder: the run
    is traced with strace (children too) and every path it creates or opens
    for writing is checked. Where strace cannot trace (no ptrace in a
    container), that part is skipped and says so.

    from hostile import case, folder_file
    case("sinkhorn", ["{d}/in.st"], 1, ["in.st", "non-finite"], files={"in.st": data})

Arguments may hold "{d}", the case's folder. files: {name: bytes} written
there first (or a callable(d) that makes what it needs). With out=True (the
default) the tool gets "-o {d}/out.st" last; -q always (the information
lines a run prints on its way are not the error).
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

from tap import ASAN, BIN, ok, scratch, skip

ROOT = scratch("ls-hostile-")
_cases = 0


def _strace_works():
    if not shutil.which("strace"):
        return "strace is not installed"
    p = subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "true"], capture_output=True)
    return None if p.returncode == 0 else "strace cannot trace here: " + p.stderr.decode(errors="replace").strip()[:80]


_STRACE_MISSING = _strace_works()
_TRACED = ("open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,"
           "symlink,symlinkat,mknod,mknodat,truncate")
# opened for writing outside the folder, and harmless: the streams a test gives
_DEVICES = re.compile(r"^(/dev/(null|full|tty|pts/\d+)|pipe:|socket:|anon_inode:)")


def listing(d):
    """Every path below d, relative, folders marked with a trailing '/'."""
    out = set()
    for root, dirs, files in os.walk(d):
        rel = os.path.relpath(root, d)
        for n in dirs:
            out.add(os.path.normpath(os.path.join(rel, n)) + "/")
        for n in files:
            out.add(os.path.normpath(os.path.join(rel, n)))
    return out


def _written_outside(trace_prefix, d):
    """Paths outside d that the traced processes created or opened for writing."""
    bad = []
    real_d = os.path.realpath(d)
    for path in glob.glob(trace_prefix + ".*"):
        with open(path, errors="replace") as fp:
            for line in fp:
                m = re.match(r"(\w+)\((.*)\) = (-?\d+)(<([^>]*)>)?", line)
                if not m or int(m.group(3)) < 0:
                    continue
                call, args, fdpath = m.group(1), m.group(2), m.group(5)
                if call.startswith("open") or call == "creat":
                    if call != "creat" and not re.search(r"O_CREAT|O_WRONLY|O_RDWR|O_TRUNC", args):
                        continue
                    targets = [fdpath] if fdpath else re.findall(r'"([^"]*)"', args)[:1]
                else:   # the new name of mkdir, rename, link, symlink, mknod, truncate
                    names = re.findall(r'"([^"]*)"', args)
                    targets = names[-1:] if names else []
                for t in targets:
                    t = t if os.path.isabs(t) or _DEVICES.match(t) else os.path.join(real_d, t)
                    if _DEVICES.match(t):
                        continue
                    if not os.path.realpath(os.path.dirname(t)).startswith(real_d):
                        bad.append("%s %s" % (call, t))
    return bad


def folder_file(d, name, data):
    path = os.path.join(d, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fp:
        fp.write(data)
    return path


def case(tool, args, status, needles=(), desc=None, files=None, stdin=None, out=True, timeout=60, env=None):
    """Runs TOOL on args in a new folder and checks the rule above (two TAP
    lines: the refusal, and nothing written outside). stdin: bytes, or None
    for /dev/null. Returns (status, stderr)."""
    global _cases
    _cases += 1
    d = tempfile.mkdtemp(prefix="case%03d-" % _cases, dir=ROOT)
    for sub in ("tmp", "home"):
        os.mkdir(os.path.join(d, sub))
    if callable(files):
        files(d)
    else:
        for name, data in (files or {}).items():
            folder_file(d, name, data)
    before = listing(d)
    exe = os.path.join(BIN, tool)
    argv = [exe] + [str(a).replace("{d}", d) for a in args] + ["-q"] + (["-o", os.path.join(d, "out.st")] if out else [])
    e = dict(os.environ, TMPDIR=os.path.join(d, "tmp"), HOME=os.path.join(d, "home"), **(env or {}))
    trace = os.path.join(ROOT, "trace%03d" % _cases)
    if not _STRACE_MISSING:
        if ASAN:   # LeakSanitizer stops the threads with ptrace, which a traced process cannot
            e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        argv = ["strace", "-ff", "-qq", "-y", "-o", trace, "-e", "trace=" + _TRACED] + argv
    kw = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": subprocess.DEVNULL}
    try:
        p = subprocess.run(argv, cwd=d, env=e, capture_output=True, timeout=timeout, **kw)
        rc, so, err = p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        rc, so, err = "timeout", b"", "(ran past %d s)" % timeout
    name = os.path.basename(exe)
    needles = (needles,) if isinstance(needles, str) else tuple(needles)
    lines = err.rstrip("\n").split("\n")
    while len(lines) > 1 and lines[0].startswith(os.path.basename(exe) + ": warning: "):
        lines.pop(0)
    one_line = (lines[0].startswith(name + ": ") and err.endswith("\n")
                and (len(lines) == 1 if status != 2 else len(lines) <= 3 and lines[-1].startswith("Try '")))
    stray = sorted(listing(d) - before)
    gone = sorted(before - listing(d))
    what = desc or " ".join(str(a) for a in args)[:70]
    ok(rc == status and one_line and all(n in lines[0] for n in needles) and so == b"" and not stray and not gone,
       "%s %s: exit %s, one line naming %s, no output, no stray file" % (
           tool, what, status, ", ".join(repr(n) for n in needles) or "the cause"),
       "exit %s\nstderr %r\nstdout %r\nnew files %s\nremoved %s" % (rc, err, so[:200], stray, gone))
    if _STRACE_MISSING:
        skip("%s %s: nothing written outside its folder" % (tool, what), _STRACE_MISSING)
    else:
        outside = _written_outside(trace, d)
        ok(not outside, "%s %s: nothing written outside its folder" % (tool, what), "\n".join(outside))
    for t in glob.glob(trace + ".*"):
        os.unlink(t)
    shutil.rmtree(d, ignore_errors=True)
    return rc, err


def common_inputs(tool, before=(), after=(), picked=("empty", "length-u64-max", "truncated-header", "not-json",
                                                      "deep-nesting", "bad-utf8", "newline-in-name",
                                                      "shape-product-overflow", "hole")):
    """The inputs every tool reading safetensors must refuse in one line: a
    sample of tests/st/malformed.py's files, /dev/zero, a folder, a missing
    file, a file name holding a newline and an escape sequence, an empty
    standard input. before/after: arguments around the input."""
    import malformed
    before, after = list(before), list(after)
    for name, data, rule in malformed.cases():
        if name in picked:
            case(tool, before + ["{d}/in.st"] + after, 1, ["in.st", rule], desc="malformed: " + name,
                 files={"in.st": data})
    case(tool, before + ["/dev/zero"] + after, 1, ["/dev/zero"], desc="/dev/zero as input")
    case(tool, before + ["{d}"] + after, 1, [], desc="a folder as input")
    case(tool, before + ["{d}/no/such.st"] + after, 1, ["no/such.st"], desc="a missing input")
    case(tool, before + ["{d}/a\nb\x1b[31m.st"] + after, 1, ["a\\nb\\x1b[31m.st"],
         desc="an input name holding a newline and ESC")
    case(tool, before + ["-"] + after, 1, ["standard input"], desc="an empty standard input", stdin=b"")
