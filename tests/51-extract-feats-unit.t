#!/bin/sh
# The network compute core: im2col + sgemm convolution against the plain
# reference, max and adaptive pooling, --pool (tests/unit/net.c).
exec "${LS_UNIT:-build/unit}/net"
