#!/usr/bin/env bash
# displays/web/check.sh PATH_TO_presence-gateway
#
# Proves the JavaScript decoder (wire.js) equal to the Rust one: for every golden frame
# (wire/golden), every file of the wire fuzz corpus, every truncation and single-byte
# mutation of the golden frames and a few hand-made malformed cases, the line
# `node tools/pwdecode.mjs FILE` prints must be identical to `presence-gateway decode FILE`.
# Fails on the first difference, printing both lines. Needs node ≥ 18.
set -euo pipefail
gateway=$(realpath "${1:?usage: check.sh PATH_TO_presence-gateway}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cases=$(mktemp -d)
trap 'rm -rf "$cases"' EXIT

n=0
add() { # add NAME < bytes
  cat > "$cases/$(printf '%05d' $n)-$1"
  n=$((n + 1))
}
for f in wire/golden/*.bin fuzz/corpus/wire_codec/*; do
  add "$(basename "$f")" < "$f"
done
for f in wire/golden/*.bin; do
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
# Hand-made: a varint too long, a u16 overflow, a name of 33 bytes, invalid UTF-8, trailing
# bytes, a 100-byte payload that is not a heatmap, a name length as a 10-byte varint.
printf '\x02\x80\x80\x80\x80\x80\x01\x00' | add varint-too-long
printf '\x02\x01\x01\x03\xff\xff\x04\x00\x00' | add roster-u16-overflow
{ printf '\x02\x01\x01\x02\x21'; head -c 33 /dev/zero | tr '\0' x; } | add name-33
printf '\x02\x01\x01\x02\x02\xc3\x28' | add name-bad-utf8
printf '\x02\x01\x01\x02\x03\xed\xa0\x80' | add name-surrogate
printf '\x02\x01\x09\x03\x01\x02\x03\xde\xad\xbe\xef' | add roster-trailing
{ printf '\x02\x01\x09\x03\x01\x02\x03'; head -c 93 /dev/zero; } | add long-not-heatmap
printf '\x02\x01\x01\x02\x83\x80\x80\x80\x80\x80\x80\x80\x80\x00Ana' | add name-len-10-bytes
printf '\x02\x01\x01\x02\x83\x80\x80\x80\x80\x80\x80\x80\x80\x02Ana' | add name-len-overflow

files=("$cases"/*)
node "$here/tools/pwdecode.mjs" "${files[@]}" > "$cases.js" || true
: > "$cases.rs"
for f in "${files[@]}"; do
  "$gateway" decode "$f" >> "$cases.rs" || true
done
if ! cmp -s "$cases.js" "$cases.rs"; then
  line=$(cmp "$cases.js" "$cases.rs" | sed -n 's/.* line \([0-9]*\).*/\1/p' || true)
  line=${line:-1}
  echo "MISMATCH on $(basename "${files[$((line - 1))]}") (xxd below)"
  xxd "${files[$((line - 1))]}" | head -5
  echo "js:   $(sed -n "${line}p" "$cases.js" | cut -c1-400)"
  echo "rust: $(sed -n "${line}p" "$cases.rs" | cut -c1-400)"
  rm -f "$cases.js" "$cases.rs"
  exit 1
fi
echo "wire.js equals presence-gateway decode on ${#files[@]} payloads ($(grep -c '"error"' "$cases.rs") of them rejected)"
rm -f "$cases.js" "$cases.rs"
