//! Stable replay of the committed fuzz corpus (`fuzz/corpus/<target>/*`, plus the Genesys
//! samples of `tests/fixtures/genesys` for the targets that read Genesys input, seeded from
//! there rather than stored twice): every file goes
//! through the same entry points and properties as its cargo-fuzz target (the checks are
//! `fuzz/src/lib.rs`, included here), so `cargo test` catches a regression on any input the
//! fuzzer ever kept or crashed on, without a fuzzer or a nightly compiler. Each target's
//! replay also has a time bound, so an input that makes a decoder hang fails here too.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A whole corpus directory must replay within this (a few hundred small files take
/// milliseconds; only a hang or a quadratic blow-up gets near it, even in a debug build).
const REPLAY_BOUND: Duration = Duration::from_secs(60);

/// Seed directories of `target` besides its own `fuzz/corpus/<target>` (CI's fuzz step passes
/// the same ones to libFuzzer).
fn seeds(target: &str) -> &'static [&'static str] {
    match target {
        "ws_frame" | "rest_bodies" => &["tests/fixtures/genesys"],
        _ => &[],
    }
}

fn corpus(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = root.join("fuzz/corpus").join(target);
    let dirs = std::iter::once(own.clone()).chain(seeds(target).iter().map(|d| root.join(d)));
    let mut files: Vec<PathBuf> = dirs
        .flat_map(|dir| {
            std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.expect("corpus entry").path())
        })
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{}: the seed corpus is missing",
        own.display()
    );
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    let start = Instant::now();
    let files = corpus(target);
    for f in &files {
        let data = std::fs::read(f).expect("corpus file");
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(
            result.is_ok(),
            "{target}: {} ({} bytes) fails its properties",
            f.display(),
            data.len()
        );
    }
    let took = start.elapsed();
    assert!(
        took < REPLAY_BOUND,
        "{target}: {} files took {took:?}",
        files.len()
    );
    println!(
        "{target}: {} corpus files replayed in {took:?}",
        files.len()
    );
}

#[test]
fn ws_frame_corpus_replays() {
    replay("ws_frame", checks::ws_frame);
}

#[test]
fn rest_bodies_corpus_replays() {
    replay("rest_bodies", checks::rest_bodies);
}

#[test]
fn wire_codec_corpus_replays() {
    replay("wire_codec", checks::wire_codec);
}

#[test]
fn command_corpus_replays() {
    replay("command", checks::command);
}

/// The seeds are real: the golden frames decode, and the Genesys samples include frames the
/// WebSocket decoder accepts, so the fuzzer starts from valid inputs, not only noise.
#[test]
fn seeds_include_valid_inputs() {
    let decodes = |target: &str, ok: fn(&[u8]) -> bool| {
        corpus(target)
            .iter()
            .filter(|f| ok(&std::fs::read(f).expect("corpus file")))
            .count()
    };
    assert!(decodes("wire_codec", |d| presence_wire::decode(d).is_ok()) >= 3);
    assert!(decodes("wire_codec", |d| presence_wire::decode_heatmap(d).is_ok()) >= 1);
    assert!(
        decodes("ws_frame", |d| presence_gateway::decode::parse(d, 1 << 20)
            .is_ok())
            >= 5
    );
    assert!(decodes("command", |d| presence_gateway::command::parse(d).is_ok()) >= 3);
}
