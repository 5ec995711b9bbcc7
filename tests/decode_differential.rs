//! The decoder's outcomes, pinned (issue 16 point 3): every notification frame of a fixed input
//! set goes through `decode::parse`, and the outcome (the message, or the rejection with its
//! evidence, as `Debug` prints it) must be the one recorded in
//! `tests/fixtures/decode/outcomes.txt`. A faster decoder has to keep every outcome, including
//! which malformed frames it refuses and why: this is the differential against the decoder as
//! it was when the file was written, kept in the repository so it runs with every `cargo test`.
//!
//! Inputs, all deterministic: simulator notifications (`tests/fixtures/decode/frames.jsonl`,
//! 15 of each topic kind, taken evenly from the bench's corpus, then one connected agent's
//! frame with its chat's state varied: offering, parked, held, dialing, contacting, terminated,
//! upper case, a second session tied on time, a call beside the chat), the Genesys samples of
//! `tests/fixtures/genesys`, every prefix of each at 64 cut points, and seeded mutations of each
//! (bytes replaced by JSON-significant ones, removed, inserted, spans repeated, cuts).
//! Outcomes are hashed (FNV-1a, 64 bits) and folded per block of [`BLOCK`] inputs; the file
//! holds one line per block. A mismatch names the block and prints its inputs' outcomes, to
//! compare with the same test run on the commit before the change.
//!
//! Rewrite the file only for an intended change of outcome: `PG_BLESS=1 cargo test --test
//! decode_differential`, and say why in the commit.

use std::fmt::Write as _;
use std::path::Path;

use presence_gateway::decode;

/// The rpi4 board's message limit (the limit itself is an outcome: `Oversize`).
const LIMIT: usize = 262_144;
/// Inputs per line of the outcomes file.
const BLOCK: usize = 200;
/// Mutated copies of each base input.
const MUTANTS: usize = 300;
/// Prefix cut points per base input.
const CUTS: usize = 64;

/// Bytes a mutation writes: JSON's structure, escapes, number and literal characters, a NUL,
/// invalid UTF-8 and a two-byte character.
const NOISE: &[u8] = b"\"{}[],:\\ 0-1.eEtrufalsn\x00\xff\xc3\xa9";

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A draw in `0..n` that is the same on every target: `fastrand`'s `usize` draws take a 32-bit
/// path on 32-bit targets (armv7 drew other mutations than x86_64 and aarch64), `u64` is one
/// path everywhere and, on 64-bit targets, the same draws as `usize`, so the recorded outcomes
/// hold.
fn below(rng: &mut fastrand::Rng, n: usize) -> usize {
    usize::try_from(rng.u64(..n as u64)).expect("below n")
}

fn mutate(base: &[u8], rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..=below(rng, 3) {
        if v.is_empty() {
            break;
        }
        let i = below(rng, v.len());
        // Mostly single-byte changes (a frame usually stays JSON, so its fields decode
        // differently), sometimes a cut.
        match rng.u8(..10) {
            0..=3 => v[i] = NOISE[below(rng, NOISE.len())],
            4 | 5 => {
                v.remove(i);
            }
            6 | 7 => v.insert(i, NOISE[below(rng, NOISE.len())]),
            8 => {
                let end = (i + 1 + below(rng, 64)).min(v.len());
                let span = v[i..end].to_vec();
                v.splice(i..i, span);
            }
            _ => v.truncate(i),
        }
    }
    v
}

/// The bases: simulator frames, then the Genesys samples (sorted by name).
fn bases() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let frames = std::fs::read_to_string(root.join("tests/fixtures/decode/frames.jsonl"))
        .expect("tests/fixtures/decode/frames.jsonl");
    let mut out: Vec<Vec<u8>> = frames
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let mut samples: Vec<_> = std::fs::read_dir(root.join("tests/fixtures/genesys"))
        .expect("tests/fixtures/genesys")
        .map(|e| e.expect("fixture").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    samples.sort();
    out.extend(samples.iter().map(|p| std::fs::read(p).expect("sample")));
    out
}

/// Every input, in a fixed order.
fn inputs() -> Vec<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(16);
    let mut all = Vec::new();
    for base in bases() {
        for k in 1..CUTS {
            all.push(base[..base.len() * k / CUTS].to_vec());
        }
        for _ in 0..MUTANTS {
            all.push(mutate(&base, &mut rng));
        }
        all.push(base);
    }
    all
}

fn outcome(input: &[u8]) -> String {
    format!("{:?}", decode::parse(input, LIMIT))
}

/// One line per block: block number, inputs, accepted, and the fold of the outcome hashes.
fn digest(inputs: &[Vec<u8>]) -> String {
    let mut text = String::new();
    for (b, block) in inputs.chunks(BLOCK).enumerate() {
        let mut fold = 0u64;
        let mut ok = 0;
        for input in block {
            let o = outcome(input);
            ok += usize::from(o.starts_with("Ok("));
            fold = fnv(&[fold.to_le_bytes().as_slice(), o.as_bytes()].concat());
        }
        let _ = writeln!(text, "{b} {} {ok} {fold:016x}", block.len());
    }
    text
}

/// What the input set covers, printed (`--nocapture`): outcomes by kind.
#[test]
fn the_inputs_reach_accepted_and_refused_outcomes_of_every_kind() {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for input in inputs() {
        let o = outcome(&input);
        let kind: String = o
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        *kinds.entry(kind).or_default() += 1;
    }
    println!("{kinds:#?}");
    for want in [
        "Ok Event Conversation",
        "Ok Event Activity",
        "Ok Event Member",
        "Err Malformed",
    ] {
        assert!(
            kinds.keys().any(|k| k.starts_with(want)),
            "no `{want}` outcome: {kinds:?}"
        );
    }
}

#[test]
fn every_outcome_is_the_recorded_one() {
    let inputs = inputs();
    assert!(inputs.len() > 10_000, "{} inputs", inputs.len());
    let now = digest(&inputs);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/decode/outcomes.txt");
    if std::env::var_os("PG_BLESS").is_some() {
        std::fs::write(&path, &now).expect("write outcomes");
        return;
    }
    let recorded = std::fs::read_to_string(&path).expect("tests/fixtures/decode/outcomes.txt");
    for (was, is) in recorded.lines().zip(now.lines()) {
        if was != is {
            let b: usize = is
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let mut listing = String::new();
            for (i, input) in inputs.iter().enumerate().skip(b * BLOCK).take(BLOCK) {
                let _ = writeln!(listing, "input {i}: {}", outcome(input));
            }
            panic!(
                "decode outcomes changed in block {b} (recorded `{was}`, now `{is}`); its \
                 outcomes now:\n{listing}"
            );
        }
    }
    assert_eq!(
        recorded.lines().count(),
        now.lines().count(),
        "the input set changed"
    );
}

/// The pin can fail: a changed outcome is caught (one rejection's evidence altered here).
#[test]
fn a_changed_outcome_changes_its_block() {
    let inputs = inputs();
    let block = &inputs[..BLOCK];
    let base = digest(block);
    let mut altered = block.to_vec();
    // An accepted frame made one that is refused: the fold must move.
    let i = altered
        .iter()
        .position(|x| outcome(x).starts_with("Ok("))
        .expect("an accepted input in the first block");
    altered[i].insert(0, b'x');
    assert_ne!(digest(&altered), base);
}
