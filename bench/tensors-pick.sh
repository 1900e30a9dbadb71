#!/usr/bin/env bash
# tensors pick of a 1 GiB F32 tensor from a pipe to a pipe, against cat on the same data.
# Target (issue 2): at least 0.5x cat's rate.
set -euo pipefail
BIN=${LS_BIN:-bin}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
MIB=${PICK_MIB:-1024}
/usr/bin/python3 - "$dir/big.st" "$MIB" <<'PY'
import json, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
n = mib * (1 << 20)
hdr = {"small": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
       "big": {"dtype": "F32", "shape": [n // 4], "data_offsets": [16, 16 + n]}}
h = json.dumps(hdr).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + bytes(16))
    chunk = bytes(range(256)) * 4096
    for _ in range(n // len(chunk)): f.write(chunk)
PY
cat "$dir/big.st" > /dev/null   # warm the page cache for both runs
/usr/bin/python3 - "$dir/big.st" "$MIB" "$BIN/tensors" <<'PY'
import subprocess, sys, time
path, mib, tensors = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def best(cmd):
    times = []
    for _ in range(3):
        t0 = time.perf_counter(); subprocess.run(["bash", "-c", cmd], check=True); times.append(time.perf_counter() - t0)
    return min(times)
t_cat = best(f"cat '{path}' | cat | cat > /dev/null")
t_pick = best(f"cat '{path}' | '{tensors}' pick big | cat > /dev/null")
print(f"cat | cat          : {mib / t_cat:8.0f} MiB/s ({t_cat:.3f} s)")
print(f"cat | tensors pick : {mib / t_pick:8.0f} MiB/s ({t_pick:.3f} s)")
print(f"ratio pick/cat     : {t_cat / t_pick:.2f}x (target >= 0.5x)")
PY
