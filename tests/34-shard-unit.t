#!/bin/sh
# The C interface of shard.h, --shard I/N (tests/unit/shard.c prints its own TAP).
exec "${LS_UNIT:-build/unit}/shard"
