#!/bin/sh
# The probe training core: sgemm path against the plain reference, threads,
# early stopping, standardisation, the RNG (tests/unit/probe.c).
exec "${LS_UNIT:-build/unit}/probe"
