#!/usr/bin/env bash
# displays/web/check.sh PATH_TO_presence-gateway
#
# Owns the proof that displays/web is right, in three steps, from any working directory:
#  1. unit tests (`node --test test/*.test.mjs`): wire.js on the worked examples of WIRE.md §5 and
#     its edge cases, model.js (the wallboard's floor model); the page's scripts parse
#     (`node --check`), wallboard.bundle.js is what tools/bundle.mjs builds from the modules,
#     and vendor/mqtt.min.js has the sha256 vendor/VENDOR.md records;
#  2. the JavaScript decoder equals the Rust one: for every golden frame (wire/golden, when
#     present), every file of the wire fuzz corpus, every truncation and single-byte mutation of
#     the golden frames and hand-made cases (each rule of WIRE.md §3, §4, §7.2, and names that
#     test JSON escaping), the line `node tools/pwdecode.mjs FILE` prints must be identical to
#     `presence-gateway decode FILE`; fails on the first difference, printing both lines;
#  3. prints how many payloads it compared.
# Needs node ≥ 18 and coreutils.
set -euo pipefail
gateway=$(realpath "${1:?usage: check.sh PATH_TO_presence-gateway}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shopt -s nullglob

echo "== unit tests"
node --test "$here"/test/*.test.mjs > "${TMPDIR:-/tmp}/displays-web-unit.$$" 2>&1 || {
  cat "${TMPDIR:-/tmp}/displays-web-unit.$$"; rm -f "${TMPDIR:-/tmp}/displays-web-unit.$$"; exit 1; }
grep -E '^# (tests|pass|fail)' "${TMPDIR:-/tmp}/displays-web-unit.$$" | tr '\n' ' '; echo
rm -f "${TMPDIR:-/tmp}/displays-web-unit.$$"
for f in wire.js model.js wallboard.js wallboard.bundle.js tools/pwdecode.mjs tools/bundle.mjs; do
  node --check "$here/$f"
done
node "$here/tools/bundle.mjs" --check
want=$(grep -o '`mqtt.min.js`.*' "$here/vendor/VENDOR.md" | grep -o '[0-9a-f]\{64\}' | head -1)
have=$(sha256sum "$here/vendor/mqtt.min.js" | cut -d' ' -f1)
if [[ "$want" != "$have" ]]; then
  echo "vendor/mqtt.min.js has sha256 $have, VENDOR.md says $want"; exit 1
fi
echo "page scripts parse, bundle up to date, vendor/mqtt.min.js sha256 as recorded"

echo "== wire.js against $gateway decode"
cases=$(mktemp -d)
trap 'rm -rf "$cases"' EXIT
cd "$root"
n=0
add() { # add NAME < bytes
  cat > "$cases/$(printf '%05d' $n)-$1"
  n=$((n + 1))
}
golden=(wire/golden/*.bin)
[[ ${#golden[@]} -gt 0 ]] || echo "(no wire/golden/*.bin here: golden files skipped)"
for f in "${golden[@]}" fuzz/corpus/wire_codec/*; do
  add "$(basename "$f")" < "$f"
done
for f in "${golden[@]}"; do
  len=$(stat -c %s "$f")
  name=$(basename "$f" .bin)
  # Every truncation (the heatmap: its first 24 and its last).
  for ((k = 1; k < len; k++)); do
    if ((len > 64 && k > 24 && k != len - 1)); then continue; fi
    head -c "$k" "$f" | add "$name-cut$k"
  done
  # Every byte of a frame set to values that hit each rule (tags, varint ends, enum bounds).
  if ((len <= 64)); then
    for ((k = 0; k < len; k++)); do
      for v in 00 01 02 03 04 05 06 07 0a 0b 0f 10 20 21 7f 80 c0 ff; do
        { head -c "$k" "$f"; printf "\\x$v"; tail -c +$((k + 2)) "$f"; } | add "$name-b$k=$v"
      done
    done
  fi
done
# Hand-made, from WIRE.md alone (so they exist without wire/golden too).
agent='\x02\x03\xe8\x07\x00\x06\xee\xd4\xc9\xbb\x06\x03\x8f\xd5\xc9\xbb\x06\x01\x03\x8f\xd5\xc9\xbb\x06\x01'
queue='\x02\x01\x02\x01\x01\x0c\x01\x04\x01\x01\x01\x09\x01\x03\x01\x5f\xee\xd4\xc9\xbb\x06\x01\x78\x00\x01\x0a\x01\x57\x02'
printf "$agent" | add ex-agent
printf "$queue" | add ex-queue
printf '\x02\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' | add ex-queue-unknown
printf '\x02\x02\x05\x02\x03Ana' | add ex-name
printf '\x02\x01\x09\x03\xac\x02\x04\x02' | add ex-roster
{ printf '\x02\x01\x02\xc0\x82\xea\x0d\x01'; head -c 1438 /dev/zero; printf '\xac\x02'; } > "$cases/heatmap"
add ex-heatmap < "$cases/heatmap"
head -c 1447 "$cases/heatmap" | add ex-heatmap-cut-last
{ printf '\x02\x01\x02\xc0\x82\xea\x0d'; for ((i = 0; i < 1440; i++)); do printf '\xff\xff\x03'; done; } | add heatmap-largest
{ printf '\x02\x01\x02\xc0\x82\xea\x0d'; head -c 1439 /dev/zero; printf '\xff\xff\x04'; } | add heatmap-count-overflow
{ printf '\x03'; tail -c +2 "$cases/heatmap"; } | add heatmap-version-3
{ cat "$cases/heatmap"; printf '\x01\x02\x03'; } | add heatmap-trailing
rm "$cases/heatmap"
for ((k = 1; k < 25; k++)); do printf "$agent" | head -c "$k" | add "ex-agent-cut$k"; done
for ((k = 1; k < 29; k++)); do printf "$queue" | head -c "$k" | add "ex-queue-cut$k"; done
for ((k = 1; k < 8; k++)); do printf '\x02\x01\x09\x03\xac\x02\x04\x02' | head -c "$k" | add "ex-roster-cut$k"; done
for ((k = 1; k < 8; k++)); do printf '\x02\x02\x05\x02\x03Ana' | head -c "$k" | add "ex-name-cut$k"; done
: | add empty
printf '\x00' | add version-0
printf '\x01\x01\x09\x03\x01\x02\x03' | add version-1
printf '\x03\x01\x09\x03\x01\x02\x03' | add version-3
printf '\xff' | add version-255
printf '\x02' | add version-only
printf '\x02\x03\x07\x04\x42\x42' | add kind-4
printf '\x02\x03\x07\x04' | add kind-4-no-body
printf '\x02\x03\x07\x80\x01' | add kind-128
printf '\x02\x03\x07\xff\xff\xff\xff\x0f' | add kind-u32-max
printf '\x02\x03\x07\xff\xff\xff\xff\x10' | add kind-overflow
printf '\x02\x03\x07\x80' | add kind-cut
printf '\x02\x03\x07\x83\x00\x03\x01\x02' | add kind-3-non-minimal
printf '\x02\x80\x80\x80\x80\x80\x01\x00' | add varint-too-long
printf '\x02\x80\x80\x80\x80\x00\x01\x03\x01\x02\x03' | add varint-5-bytes-zero
printf '\x02\xff\xff\xff\xff\x0f\x01\x03\x01\x02\x03' | add session-u32-max
printf '\x02\xff\xff\xff\xff\x1f\x01\x03\x01\x02\x03' | add session-overflow
printf '\x02\x01\x01\x03\xff\xff\x03\x00\x00' | add roster-u16-max
printf '\x02\x01\x01\x03\xff\xff\x04\x00\x00' | add roster-u16-overflow
printf '\x02\x01\x01\x03\x80\x80\x80\x00\x00\x00' | add roster-u16-too-long
printf '\x02\x01\x01\x03\x80\x00\x00\x00' | add roster-u16-non-minimal
printf '\x02\x01\x01\x01\x01\xff\xff\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' | add queue-u16-overflow
printf '\x02\x01\x01\x00\x0b\x00\x00\x00\x00\x00\x00\x00' | add presence-11
printf '\x02\x01\x01\x00\x0a\x00\x05\x00\x07\x05\x00\xff' | add agent-max-enums
printf '\x02\x01\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00' | add routing-6
printf '\x02\x01\x01\x00\x00\x00\x00\x00\x08\x00\x00\x00' | add media-8
printf '\x02\x01\x01\x00\x00\x00\x00\x00\x00\x06\x00\x00' | add interaction-6
printf '\x02\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03' | add level-3
for ((k = 4; k < 16; k++)); do
  { printf '\x02\x01\x01\x01'; for ((i = 4; i < 16; i++)); do if ((i == k)); then printf '\x02'; else printf '\x00'; fi; done; } | add "queue-tag2-at$k"
done
printf '\x02\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xff\x00' | add queue-sl-255
printf '\x02\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01' | add queue-sl-cut
{ printf '\x02\x01\x01\x02\x21'; head -c 33 /dev/zero | tr '\0' x; } | add name-33
{ printf '\x02\x01\x01\x02\x20'; head -c 32 /dev/zero | tr '\0' x; } | add name-32
printf '\x02\x01\x01\x02\x21xx' | add name-33-cut
printf '\x02\x01\x01\x02\x00' | add name-empty
printf '\x02\x01\x01\x02\x02\xc3\x28' | add name-bad-utf8
printf '\x02\x01\x01\x02\x03\xed\xa0\x80' | add name-surrogate
printf '\x02\x01\x01\x02\x01\xc3' | add name-cut-char
printf '\x02\x01\x01\x02\x02\xc0\xaf' | add name-overlong
printf '\x02\x01\x01\x02\x04\xf4\x90\x80\x80' | add name-above-10ffff
printf '\x02\x01\x01\x02\x0c\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f\x7f\x20' | add name-controls
printf '\x02\x01\x01\x02\x08"\\/<>&\x27=' | add name-quotes
printf '\x02\x01\x01\x02\x0c\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf\xef\xbf\xbf' | add name-u2028-u2029-bom-ffff
printf '\x02\x01\x01\x02\x0b\xf0\x9f\x98\x80\xc2\x85\xc2\xa0\xe2\x82\xac' | add name-astral-nel-nbsp-euro
printf '\x02\x01\x01\x02\x83\x80\x80\x80\x80\x80\x80\x80\x80\x00Ana' | add name-len-10-bytes
printf '\x02\x01\x01\x02\x83\x80\x80\x80\x80\x80\x80\x80\x80\x02Ana' | add name-len-overflow
printf '\x02\x01\x01\x02\x83\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00Ana' | add name-len-11-bytes
printf '\x02\x01\x09\x03\x01\x02\x03\xde\xad\xbe\xef' | add roster-trailing
printf "$agent"'\x00\x00\x00' | add agent-trailing
{ printf '\x02\x01\x09\x03\x01\x02\x03'; head -c 93 /dev/zero; } | add long-not-heatmap
{ printf '\x02\x01\x09\x09\x01\x02\x03'; head -c 200 /dev/zero; } | add long-unknown-kind
{ printf '\x07'; head -c 120 /dev/urandom; } | add long-version-7

files=("$cases"/*)
node "$here/tools/pwdecode.mjs" "${files[@]}" > "$cases.js" || true
: > "$cases.rs"
for f in "${files[@]}"; do
  "$gateway" decode "$f" >> "$cases.rs" || true
done
if ! cmp -s "$cases.js" "$cases.rs"; then
  line=$(cmp "$cases.js" "$cases.rs" | sed -n 's/.* line \([0-9]*\).*/\1/p' || true)
  line=${line:-1}
  echo "MISMATCH on $(basename "${files[$((line - 1))]}") (bytes below)"
  od -An -tx1 "${files[$((line - 1))]}" | head -5
  echo "js:   $(sed -n "${line}p" "$cases.js" | cut -c1-400)"
  echo "rust: $(sed -n "${line}p" "$cases.rs" | cut -c1-400)"
  rm -f "$cases.js" "$cases.rs"
  exit 1
fi
echo "compared ${#files[@]} payloads: wire.js equals presence-gateway decode on every one ($(grep -c '"error"' "$cases.rs") of them rejected)"
rm -f "$cases.js" "$cases.rs"
