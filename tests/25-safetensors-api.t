#!/bin/sh
# The C interface of st.h (tests/unit/st_api.c prints its own TAP).
exec "${LS_UNIT:-build/unit}/st_api"
