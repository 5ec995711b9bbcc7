#!/usr/bin/env bash
# displays/c/check.sh: proves the C decoder equal to the Rust one, output line for line.
#
# Usage: displays/c/check.sh PATH_TO_presence-gateway   (from any directory)
#
# Owns: building pwdecode (gcc -std=c99 -Wall -Wextra -Werror -pedantic; plus a sanitizer build
# with clang, or gcc when clang is missing), generating malformed and edge-case payloads, and
# comparing `pwdecode FILE` with `presence-gateway decode FILE` on every file of wire/golden/,
# fuzz/corpus/wire_codec/ and the generated set (exit statuses ignored, output compared byte for
# byte; the first difference fails with both lines). Then builds the ESP32 example sketch on the
# host with g++ and runs its host test. Does not own the Rust build: pass the binary in.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 PATH_TO_presence-gateway" >&2
    exit 2
fi
pg=$1
case $pg in /*) ;; *) pg=$PWD/$pg ;; esac
[ -x "$pg" ] || { echo "check: $pg is not an executable" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."   # the repository root: wire/golden and fuzz/corpus are relative to it

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- build --------------------------------------------------------------------------------
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -O2)
gcc "${cflags[@]}" -o "$tmp/pwdecode" displays/c/pwdecode.c
decoders=("$tmp/pwdecode")
echo "check: built pwdecode with gcc ${cflags[*]}"

san=(-std=c99 -Wall -Wextra -Werror -pedantic -g -fsanitize=address,undefined -fno-sanitize-recover=all)
if command -v clang >/dev/null; then
    clang "${san[@]}" -o "$tmp/pwdecode-san" displays/c/pwdecode.c
    decoders+=("$tmp/pwdecode-san")
    echo "check: built pwdecode with clang -fsanitize=address,undefined"
else
    echo "check: clang not installed: skipping the clang sanitizer build"
    if gcc "${san[@]}" -o "$tmp/pwdecode-san" displays/c/pwdecode.c 2>/dev/null; then
        decoders+=("$tmp/pwdecode-san")
        echo "check: built pwdecode with gcc -fsanitize=address,undefined instead"
    fi
fi

# ---- generated cases ----------------------------------------------------------------------
gen=$tmp/gen
mkdir -p "$gen"

# hexfile NAME "02 01 ..." writes those bytes to $gen/NAME.bin
hexfile() {
    printf "$(printf '%s' "$2" | tr -d ' \n' | sed 's/\(..\)/\\x\1/g')" >"$gen/$1.bin"
}

# the frames as hex (WIRE.md §5, version byte 2)
agent="02 03 e8 07 00 06 ee d4 c9 bb 06 03 8f d5 c9 bb 06 01 03 8f d5 c9 bb 06 01"
queue="02 01 02 01 01 0c 01 04 01 01 01 09 01 03 01 5f ee d4 c9 bb 06 01 78 00 01 0a 01 57 02"
queue_unknown="02 01 01 01 00 00 00 00 00 00 00 00 00 00 00 00"
name="02 02 05 02 03 41 6e 61"
roster="02 01 09 03 ac 02 04 02"
x33=$(printf '78%.0s' $(seq 33))
x32=$(printf '78%.0s' $(seq 32))

# truncated frames of every kind: every proper prefix
for kind in agent queue queue_unknown name roster; do
    bytes=$(printf '%s' "${!kind}" | tr -d ' ')
    n=$((${#bytes} / 2))
    for ((i = 1; i < n; i++)); do hexfile "trunc_${kind}_$i" "${bytes:0:$((2 * i))}"; done
done

# varints (§3.1)
hexfile varint_session_too_long "02 80 80 80 80 80 00 01 03 01 04 02"
hexfile varint_session_overflow "02 ff ff ff ff 10 01 03 01 04 02"
hexfile varint_session_max      "02 ff ff ff ff 0f ff ff ff ff 0f 03 01 04 02"
hexfile varint_non_minimal      "02 81 00 82 80 00 83 00 81 80 00 84 00 82 80 80 80 00"
hexfile varint_kind_too_long    "02 01 01 80 80 80 80 80 00"
hexfile u16_overflow_roster     "02 01 09 03 ff ff 04 04 02"
hexfile u16_max_roster          "02 01 09 03 ff ff 03 04 02"
hexfile u16_too_long_roster     "02 01 09 03 80 80 80 00 04 02"
hexfile u16_overflow_queue      "02 01 02 01 01 80 80 04 00 00 00 00 00 00 00 00 00 00 00 00"
hexfile u32_overflow_generation "02 01 09 03 01 01 ff ff ff ff 1f"

# enums: the last valid value and the first invalid one, per enum (§4.8)
agent_with() { # presence routing media interaction
    hexfile "$1" "02 01 01 00 $2 00 $3 00 $4 $5 00 00"
}
agent_with enum_presence_10 0a 00 00 00
agent_with enum_presence_11 0b 00 00 00
agent_with enum_presence_nonminimal "86 00" 00 00 00
agent_with enum_presence_huge "ff ff ff ff 0f" 00 00 00
agent_with enum_routing_5 00 05 00 00
agent_with enum_routing_6 00 06 00 00
agent_with enum_media_7 00 00 07 00
agent_with enum_media_8 00 00 08 00
agent_with enum_interaction_5 00 00 00 05
agent_with enum_interaction_6 00 00 00 06
hexfile enum_level_2 "${queue_unknown% 00} 02"
hexfile enum_level_3 "${queue_unknown% 00} 03"
hexfile agent_flags_reserved "02 01 01 00 00 00 00 00 00 00 00 ff"

# option tags (§3): tag 2 (and ff) at each option of the queue body
opts=(00 00 00 00 00 00 OBS 00 00 00 00)
for ((k = 0; k < 11; k++)); do
    [ "${opts[$k]}" = OBS ] && continue
    for tag in 02 ff; do
        body=""
        for ((j = 0; j < 11; j++)); do
            if [ $j -eq $k ]; then body+=" $tag"; else body+=" 00"; fi
        done
        hexfile "option_tag_${tag}_field_$k" "02 01 01 01$body 00"
    done
done
hexfile option_some_max "02 01 01 01 01 ff ff 03 01 00 01 00 01 00 01 00 01 ff ff ff ff 0f 00 01 00 01 00 01 00 01 ff 00"
hexfile option_sl_truncated "02 01 01 01 00 00 00 00 00 00 00 00 00 00 01"

# names (§4.5)
hexfile name_33 "02 01 01 02 21 $x33"
hexfile name_32 "02 01 01 02 20 $x32"
hexfile name_len_past_end "02 01 01 02 05 41 6e 61"
hexfile name_len_5_bytes "02 01 01 02 83 80 80 80 00 41 6e 61"
hexfile name_len_overflow "02 01 01 02 83 80 80 80 10 41 6e 61"
hexfile name_utf8_2byte_32 "02 01 01 02 20 $(printf 'c3a9%.0s' $(seq 16))"
hexfile name_utf8_emoji "02 01 01 02 04 f0 9f 98 80"
hexfile name_bad_continuation "02 01 01 02 03 41 80 61"
hexfile name_bad_overlong "02 01 01 02 02 c0 80"
hexfile name_bad_overlong3 "02 01 01 02 03 e0 80 80"
hexfile name_bad_surrogate "02 01 01 02 03 ed a0 80"
hexfile name_bad_above_10ffff "02 01 01 02 04 f4 90 80 80"
hexfile name_bad_f5 "02 01 01 02 04 f5 80 80 80"
hexfile name_bad_cut_char "02 01 01 02 02 e2 82"
hexfile name_bad_ff "02 01 01 02 01 ff"
hexfile name_escapes "02 01 01 02 0f 22 5c 2f 08 0c 0a 0d 09 00 01 1f 7f 41 c2 80"

# versions, kinds, empty, trailing bytes (§7.2)
hexfile version_0 "00 03 e8 07 00"
hexfile version_1_frame "01${agent#02}"
hexfile version_3 "03 01 01 03 01 01 01"
hexfile version_ff "ff"
hexfile kind_4 "02 03 07 04 42 42"
hexfile kind_128 "02 03 07 80 01"
hexfile kind_max "02 03 07 ff ff ff ff 0f"
hexfile kind_4_nothing_after "02 03 07 04"
: >"$gen/empty.bin"
hexfile trailing_agent "$agent 58 59 5a"
hexfile trailing_queue "$queue 00 00 00"
hexfile trailing_name "$name ff ff"
hexfile trailing_roster "$roster 02"

# heatmaps (§4.7) and the >64-byte guess
zeros() { printf '00%.0s' $(seq "$1"); }
hexfile heatmap_small "02 01 02 c0 82 ea 0d 01 $(zeros 1438) ac 02"
hexfile heatmap_trailing "02 01 02 c0 82 ea 0d 01 $(zeros 1438) ac 02 ff ff"
hexfile heatmap_max "02 ff ff ff ff 0f ff ff ff ff 0f ff ff ff ff 0f $(printf 'ffff03%.0s' $(seq 1440))"
hexfile heatmap_short_1 "02 01 02 c0 82 ea 0d 01 $(zeros 1438) ac"
hexfile heatmap_short_count "02 01 02 c0 82 ea 0d $(zeros 1439)"
hexfile heatmap_count_overflow "02 01 02 c0 82 ea 0d $(zeros 1439) ff ff 04"
hexfile heatmap_version_1 "01 01 02 c0 82 ea 0d $(zeros 1440)"
hexfile heatmap_end_minute_small "02 01 02 00 $(zeros 1440)"
hexfile over64_agent "$agent $(zeros 50)"
hexfile over64_garbage "02 $(printf 'ff%.0s' $(seq 99))"
hexfile over64_kind_9 "02 01 01 09 $(zeros 80)"
hexfile exactly64_agent "$agent $(zeros 39)"

# single-byte mutations of the golden frames: each byte set to 00, 01, 02, 7f, 80 and ff
for f in wire/golden/*.bin; do
    [ -s "$f" ] || continue
    [ "$(wc -c <"$f")" -le 64 ] || continue
    mapfile -t b < <(od -An -v -tx1 "$f" | tr -s ' ' '\n' | sed '/^$/d')
    base=$(basename "$f" .bin)
    for ((i = 0; i < ${#b[@]}; i++)); do
        for v in 00 01 02 7f 80 ff; do
            [ "${b[$i]}" = "$v" ] && continue
            m=("${b[@]}")
            m[$i]=$v
            hexfile "mut_${base}_${i}_$v" "${m[*]}"
        done
    done
done

# ---- compare --------------------------------------------------------------------------------
files=()
[ -d wire/golden ] && files+=(wire/golden/*.bin)
files+=(fuzz/corpus/wire_codec/* "$gen"/*.bin)

compared=0
for f in "${files[@]}"; do
    "$pg" decode "$f" >"$tmp/expected" 2>/dev/null || true
    for dec in "${decoders[@]}"; do
        "$dec" "$f" >"$tmp/got" 2>"$tmp/err" || true
        if [ -s "$tmp/err" ] && grep -q "runtime error\|AddressSanitizer" "$tmp/err"; then
            echo "check: FAIL: $(basename "$dec") on $f: sanitizer report:" >&2
            cat "$tmp/err" >&2
            exit 1
        fi
        if ! cmp -s "$tmp/expected" "$tmp/got"; then
            echo "check: FAIL: $f ($(basename "$dec")) differs" >&2
            echo "  rust: $(cat "$tmp/expected")" >&2
            echo "  c:    $(cat "$tmp/got")" >&2
            exit 1
        fi
    done
    compared=$((compared + 1))
done
echo "check: $compared files compared (golden, corpus, generated), every line identical" \
    "(${#decoders[@]} C builds)"

# A name length padded to 6 and to 10 varint bytes (WIRE.md §3: a length is read as a postcard
# usize, up to 10 bytes; the gateway writes one): the C decoder must agree with the Rust one.
for pad in "83 80 80 80 80 00" "83 80 80 80 80 80 80 80 80 00" "83 80 80 80 80 80 80 80 80 02"; do
    hexfile name_len_padded "02 01 01 02 $pad 41 6e 61"
    "$pg" decode "$gen/name_len_padded.bin" >"$tmp/expected" 2>/dev/null || true
    "$tmp/pwdecode" "$gen/name_len_padded.bin" >"$tmp/got" 2>/dev/null || true
    if ! cmp -s "$tmp/expected" "$tmp/got"; then
        echo "check: FAIL: a name length padded to '$pad' differs" >&2
        echo "  rust: $(cat "$tmp/expected")" >&2
        echo "  c:    $(cat "$tmp/got")" >&2
        exit 1
    fi
done

# ---- the example display, built and run on the host ------------------------------------------
ex=displays/c/examples/esp32_display
g++ -std=c++11 -Wall -Wextra -Werror -x c++ -I "$ex/stubs" -I displays/c \
    -o "$tmp/esp32_display_host" "$ex/host_test.cpp"
echo "check: example display built on the host with g++ -x c++ -Wall -Wextra -Werror"
if [ -d wire/golden ]; then
    "$tmp/esp32_display_host" wire/golden
else
    echo "check: no wire/golden: the example display's host test (it feeds golden frames) skipped"
fi
echo "check: OK"
