// pwdecode: `node displays/web/tools/pwdecode.mjs FILE…` prints one JSON line per file, the
// same line `presence-gateway decode FILE` prints (docs/WIRE.md §11), from wire.js.
//
// Owns: the file-mode line format only (key order, the heatmap guess for payloads over 64
// bytes, error lines with at most 96 bytes of hex). displays/web/check.sh compares its output
// with the Rust tool's, file by file.

import { readFileSync } from 'node:fs';
import { decode, decodeHeatmap, MAX_FRAME_LEN } from '../wire.js';

const ERROR_HEX_BYTES = 96;

const hex = (b) => Array.from(b.subarray(0, ERROR_HEX_BYTES), (x) => x.toString(16).padStart(2, '0')).join('');

function frameLine(bytes) {
  try {
    return decode(bytes);
  } catch (e) {
    if (!e.kind) throw e;
    return { kind: 'unknown', error: e.message, len: bytes.length, hex: hex(bytes) };
  }
}

function heatmapLine(h) {
  let total = 0;
  for (const c of h.counts) total += c;
  return {
    kind: 'heatmap', session: h.session, seq: h.seq,
    end_minute: h.end_minute, end: h.end_minute * 60, total, counts: h.counts,
  };
}

/** The line for one payload read from a file (no topic: the kind is guessed from the bytes). */
export function describe(bytes) {
  if (bytes.length > MAX_FRAME_LEN) {
    try {
      return heatmapLine(decodeHeatmap(bytes));
    } catch (e) {
      if (!e.kind) throw e;
    }
  }
  return frameLine(bytes);
}

let failed = false;
for (const path of process.argv.slice(2)) {
  const line = describe(new Uint8Array(readFileSync(path)));
  if (line.error) failed = true;
  process.stdout.write(JSON.stringify(line) + '\n');
}
process.exitCode = failed ? 1 : 0;
