#!/usr/bin/python3
"""Writes the pickle fuzzer's seeds into tests/fuzz-corpus/pickle/ (run
once; the seeds are committed): the data.pkl of small real torch.save
files (state dicts of every dtype and view, a DataParallel one, a
checkpoint dict with an optimizer and an argparse.Namespace, parameters),
legacy streams, and a few refused shapes, all under the fuzzer's 4 KB.

    /usr/bin/python3 tests/fuzz/make_pickle_seeds.py
"""
import argparse
import collections
import io
import os
import sys
import zipfile

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pth"))
from hostile import Call, Storage, Tensor, dumps, legacy_state  # noqa: E402

OUT = os.path.join(HERE, "..", "fuzz-corpus", "pickle")


def data_pkl(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


def legacy_file(obj):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    base = torch.arange(24.0).reshape(2, 3, 4)
    views = {"t": base[0].t(), "s": base[:, ::2, 1:], "e": torch.ones(2, 1).expand(2, 3), "z": torch.tensor(1.5),
             "h": torch.ones(2).half(), "b": torch.ones(2).bfloat16(), "i": torch.arange(3), "u": torch.ones(2).byte(),
             "q": torch.tensor([True]), "shared": base[1]}
    opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    seeds = {
        "state_dict.pkl": data_pkl(lin.state_dict()),
        "views.pkl": data_pkl(views),
        "dataparallel.pkl": data_pkl(nn.DataParallel(lin).state_dict()),
        "checkpoint.pkl": data_pkl({"epoch": 3, "state_dict": lin.state_dict(), "optimizer": opt.state_dict(),
                                    "args": argparse.Namespace(lr=0.1), "best": 0.5}),
        "parameters.pkl": data_pkl({"w": nn.Parameter(torch.ones(2))}),
        "legacy_state_dict": legacy_file(lin.state_dict()),
        "legacy_checkpoint": legacy_file({"state_dict": lin.state_dict(), "epoch": 1}),
        "legacy_hand.bin": legacy_state(),
        "protocol4.pkl": dumps(collections.OrderedDict(w=Tensor(Storage())), protocol=4),
        "refused_global.pkl": dumps({"w": Call(os.system, "true")}),
        "strided.pkl": dumps({"w": Tensor(Storage(numel=16), offset=1, size=(3, 2), stride=(4, 2))}),
    }
    for name, data in seeds.items():
        assert len(data) <= 4096, (name, len(data))
        with open(os.path.join(OUT, name), "wb") as fp:
            fp.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
