//! cargo-fuzz target `ws_frame`: feeds libFuzzer's bytes to [`presence_fuzz::ws_frame`], which holds
//! the entry points and the properties (shared with `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| presence_fuzz::ws_frame(data));
