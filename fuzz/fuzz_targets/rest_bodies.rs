//! cargo-fuzz target `rest_bodies`: feeds libFuzzer's bytes to [`presence_fuzz::rest_bodies`], which holds
//! the entry points and the properties (shared with `tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| presence_fuzz::rest_bodies(data));
