#!/usr/bin/env bash
# Issue 30's pace measurement: a wave through `licshift apply` against the sandbox. By default
# 20,000 users with the sandbox's write quota at 20,000 writes per 60 s, so the wave needs a
# minute at the limit. With LATENCY (e.g. 300ms) every Graph request waits that long before it
# is answered, as Graph's own do: then run it at Graph's documented limit, e.g.
#   WAVE=3000 QUOTA=3000 WINDOW=150s RATE=20 LATENCY=300ms benches/apply-pace.sh
# Prints the wave's "Writes: N in T s" line and the sandbox's report (throttled, lost plans).
# With ROLLBACK=1 the wave is then rolled back in a fresh window, and its pace printed too.
#
#   cargo build --release && benches/apply-pace.sh [WORKDIR]
set -euo pipefail
L="${LICSHIFT:-$(cd "$(dirname "$0")/.." && pwd)/target/release/licshift}"
W="${1:-$(mktemp -d)}"
WAVE="${WAVE:-20000}" QUOTA="${QUOTA:-20000}" WINDOW="${WINDOW:-60s}" RATE="${RATE:-333}"
LATENCY="${LATENCY:-0s}"
mkdir -p "$W" && cd "$W"
rm -rf files plan
"$L" generate --users $((WAVE + 2000)) --seed 20 --out files > /dev/null
# Wave 1 a pilot of 200, wave 2 the next WAVE users.
"$L" plan files --out plan --pilot 200 --growth 100 --max-wave "$WAVE" > /dev/null 2>&1 || true
"$L" sandbox files --write-quota "$QUOTA" --quota-window "$WINDOW" --read-quota 100000 \
    --processing-delay 200ms --latency "$LATENCY" --quiet > sandbox.out 2> sandbox.err &
SB=$!
trap 'kill $SB 2> /dev/null || true' EXIT
for _ in $(seq 100); do grep -q LICSHIFT_GRAPH_TOKEN sandbox.out 2> /dev/null && break; sleep 0.1; done
export $(grep -E '^LICSHIFT_GRAPH_(URL|TOKEN)=' sandbox.out | xargs)
for stage in prepare "wave 1"; do
    "$L" apply plan files --stage $stage --yes --write-rate "$RATE" > /dev/null 2>&1 || true
done
sleep "${WINDOW%s}" # a fresh quota window for the wave measured
"$L" apply plan files --stage wave 2 --yes --write-rate "$RATE" 2> /dev/null | grep -E '^(wave-2|Writes|GO|NO-GO)'
if [ "${ROLLBACK:-0}" = 1 ]; then
    sleep "${WINDOW%s}"
    "$L" apply plan files --stage rollback wave 2 --yes --write-rate "$RATE" 2> /dev/null |
        grep -E '^(rollback|Writes)'
fi
curl -s "${LICSHIFT_GRAPH_URL%/v1.0}/_sandbox/report"
echo
