#!/usr/bin/env bash
# Prepare's pace for a group the plan creates: a generated tenant with a new group of MEMBERS
# users (proposed by name, as `licshift suggest` writes one), run through `licshift apply
# --stage prepare` against the sandbox answering each request after LATENCY, at Graph's
# documented write limit by default (3,000 per 150 s; --write-rate 20). Prints prepare's
# "Writes: N in T s" line (the member requests, 20 members each) and its wall time. With
# WAVE=1, wave 1 is run next (its users covered by the created group) and timed the same way.
#
#   cargo build --release && benches/prepare-pace.sh [WORKDIR]
set -euo pipefail
L="${LICSHIFT:-$(cd "$(dirname "$0")/.." && pwd)/target/release/licshift}"
W="${1:-$(mktemp -d)}"
MEMBERS="${MEMBERS:-4000}" QUOTA="${QUOTA:-3000}" WINDOW="${WINDOW:-150s}" RATE="${RATE:-20}"
LATENCY="${LATENCY:-300ms}"
mkdir -p "$W" && cd "$W"
rm -rf files plan
"$L" generate --users "$MEMBERS" --seed 21 --out files > /dev/null
# The generator writes groups by id; a group to create is named, so both files get a GroupName
# column (the generator quotes nothing in them).
awk -F, 'NR == 1 { print "GroupId,GroupName,SkuPartNumber,DisabledPlans,Status"; next }
    { print $1 ",," $2 "," $3 "," $4 }' files/templates.csv > t && mv t files/templates.csv
echo ",LIC Pilot EMS,EMS,,proposed" >> files/templates.csv
awk -F, 'NR == 1 { print "GroupId,GroupName,MemberId,UserPrincipalName,MemberType"; next }
    { print $1 ",," $2 ",," $3 }' files/members.csv > m && mv m files/members.csv
# users.csv: column 1 the object id, 2 the principal name.
tail -n +2 files/users.csv | head -n "$MEMBERS" |
    awk -F, '{ print ",LIC Pilot EMS," $1 "," $2 ",User" }' >> files/members.csv
"$L" plan files --out plan > /dev/null 2>&1 || true
grep -c '^add-member' plan/prepare.csv | sed 's/^/add-member rows: /'
"$L" sandbox files --write-quota "$QUOTA" --quota-window "$WINDOW" --read-quota 100000 \
    --processing-delay 200ms --latency "$LATENCY" --quiet > sandbox.out 2> sandbox.err &
SB=$!
trap 'kill $SB 2> /dev/null || true' EXIT
for _ in $(seq 100); do grep -q LICSHIFT_GRAPH_TOKEN sandbox.out 2> /dev/null && break; sleep 0.1; done
export $(grep -E '^LICSHIFT_GRAPH_(URL|TOKEN)=' sandbox.out | xargs)
start=$(date +%s.%N)
"$L" apply plan files --stage prepare --yes --write-rate "$RATE" 2> apply.err | grep -E '^(prepare|Writes|GO|NO-GO)' || true
echo "prepare: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s wall"
if [ "${WAVE:-0}" = 1 ]; then
    start=$(date +%s.%N)
    "$L" apply plan files --stage wave 1 --yes --write-rate "$RATE" 2>> apply.err | grep -E '^(wave|Writes|GO|NO-GO)' || true
    echo "wave 1: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s wall"
fi
