#!/bin/sh
# The default thread count follows the CPUs the process may use
# (tests/unit/threads.c: the rule on made-up /proc and cgroup trees).
exec "${LS_UNIT:-build/unit}/threads"
