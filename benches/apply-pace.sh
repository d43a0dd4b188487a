#!/usr/bin/env bash
# Issue 30's pace measurement: a 20,000-user wave through `licshift apply` against the sandbox
# with its write quota at 20,000 writes per 60 s, so the wave needs a minute at the limit.
# Prints the wave's "Writes: N in T s" line and the sandbox's report (throttled, lost plans).
#
#   cargo build --release && benches/apply-pace.sh [WORKDIR]
set -euo pipefail
L="$(cd "$(dirname "$0")/.." && pwd)/target/release/licshift"
W="${1:-$(mktemp -d)}"
mkdir -p "$W" && cd "$W"
rm -rf files plan
"$L" generate --users 22000 --seed 20 --out files > /dev/null
# Wave 1 a pilot of 200, wave 2 the next 20,000 users.
"$L" plan files --out plan --pilot 200 --growth 100 --max-wave 20000 > /dev/null 2>&1 || true
"$L" sandbox files --write-quota 20000 --quota-window 60s --read-quota 100000 \
    --processing-delay 200ms --quiet > sandbox.out 2> sandbox.err &
SB=$!
trap 'kill $SB 2> /dev/null || true' EXIT
for _ in $(seq 100); do grep -q LICSHIFT_GRAPH_TOKEN sandbox.out 2> /dev/null && break; sleep 0.1; done
export $(grep -E '^LICSHIFT_GRAPH_(URL|TOKEN)=' sandbox.out | xargs)
for stage in prepare "wave 1"; do
    "$L" apply plan files --stage $stage --yes --write-rate 333 > /dev/null 2>&1 || true
done
sleep 61 # a fresh quota window for the wave measured
"$L" apply plan files --stage wave 2 --yes --write-rate 333 2> /dev/null | grep -E '^(wave-2|Writes|GO|NO-GO)'
curl -s "${LICSHIFT_GRAPH_URL%/v1.0}/_sandbox/report"
echo
