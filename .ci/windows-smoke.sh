#!/usr/bin/env bash
# The Windows check (issue #29): licshift.exe cross-built for x86_64-pc-windows-gnu and run under
# Wine on the fixtures, with Windows paths (Z:\…, a space in a folder name); every output must
# be byte-identical to the Linux binary's. Run by .ci/run after the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# What it needs, installed here so a fresh machine has it.
rustup target add x86_64-pc-windows-gnu
if ! command -v x86_64-w64-mingw32-gcc >/dev/null || ! command -v wine >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc-mingw-w64-x86-64 wine64
fi
cargo build --release --target x86_64-pc-windows-gnu
exe_dir=target/x86_64-pc-windows-gnu/release
x86_64-w64-mingw32-gcc -O2 -shared -o "$exe_dir/bcryptprimitives.dll" .ci/wine-processprng.c -Wl,--kill-at
# The Linux side: the binary the README's test command just built (outputs do not depend on
# the profile: the tests hold 1 thread and N, CSV and JSON, to the same bytes).
cargo build
linux=$PWD/target/debug/licshift
exe=$PWD/$exe_dir/licshift.exe

# No NO_COLOR: with stdout and stderr not a console, neither side may colour its output.
unset NO_COLOR
export WINEDEBUG=-all WINEPREFIX="${WINEPREFIX:-$PWD/target/wineprefix}"
# A new Wine prefix says so on stderr the first time: made here, before anything is compared.
wine "$exe" --version >/dev/null 2>&1
work="$PWD/target/windows smoke"
rm -rf "$work"
mkdir -p "$work/linux" "$work/windows"
cp -r fixtures/contoso "$work/contoso"
cp fixtures/contoso.xlsx "$work/contoso.xlsx"
"$linux" generate --users 2000 --format json --out "$work/tenant-json" >/dev/null

# Z:\ is / under Wine: the same folders, named the Windows way.
win() { printf 'Z:%s' "$1" | tr '/' '\\'; }
failed=0
compare() { # what, linux file or folder, windows file or folder
  if diff -r "$2" "$3" >/dev/null; then
    echo "windows smoke: $1: identical"
  else
    echo "windows smoke: $1: DIFFERS"; { diff -r "$2" "$3" || true; } | head -20; failed=1
  fi
}
run() { # side, exit-file, args...
  local side=$1 out=$2; shift 2
  local code=0
  if [ "$side" = linux ]; then
    "$linux" "$@" >"$out.stdout" 2>"$out.stderr" || code=$?
  else
    wine "$exe" "$@" >"$out.stdout" 2>"$out.stderr" || code=$?
  fi
  echo "$code" >"$out.code"
}

for side in linux windows; do
  d="$work/$side"
  if [ "$side" = linux ]; then p() { printf '%s' "$1"; }; else p() { win "$1"; }; fi
  run $side "$d/plan1" plan "$(p "$work/contoso")" --out "$(p "$d/contoso plan")"
  run $side "$d/plan2" plan "$(p "$work/contoso")" --out "$(p "$d/contoso plan")" --force
  run $side "$d/verify" verify "$(p "$d/contoso plan")" "$(p "$work/contoso")"
  run $side "$d/inspect" inspect "$(p "$work/contoso.xlsx")" --format json
  run $side "$d/json" plan "$(p "$work/tenant-json")" --out "$(p "$d/json plan")"
  # The write rule with Windows paths: an --out inside the snapshot is refused, exit 2.
  run $side "$d/inside" plan "$(p "$work/contoso")" --out "$(p "$work/contoso/plan")" --force
done
for step in plan1 plan2 verify inspect json inside; do
  for part in code stdout stderr; do
    # Paths show where the user named them ("Plan written to …", inspect's inputs), each in its
    # own system's form: Z:\…\ (\\ in JSON) read as /…/, and each side's folder as SIDE.
    sed -e "s#/windows smoke/linux#/windows smoke/SIDE#g" "$work/linux/$step.$part" >"$work/linux/$step.$part.n"
    sed -e 's#\\\\#/#g' -e 's#\\#/#g' -e 's#Z:/#/#g' -e "s#/windows smoke/windows#/windows smoke/SIDE#g" \
      "$work/windows/$step.$part" >"$work/windows/$step.$part.n"
    if [ "$part" = stderr ]; then
      # Diagnostics wrap at a width, and a Windows path is two characters longer: compared
      # without the white space and margins wrapping moves.
      for side in linux windows; do
        tr -d ' \n│' <"$work/$side/$step.$part.n" >"$work/$side/$step.$part.u"
        mv "$work/$side/$step.$part.u" "$work/$side/$step.$part.n"
      done
    fi
    compare "$step $part" "$work/linux/$step.$part.n" "$work/windows/$step.$part.n"
  done
done
compare "contoso plan folder" "$work/linux/contoso plan" "$work/windows/contoso plan"
compare "generated JSON tenant's plan folder" "$work/linux/json plan" "$work/windows/json plan"
echo "windows smoke: $(( $(date +%s) - start )) s"
exit $failed
