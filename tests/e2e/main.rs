//! The integration tests, one binary (as ripgrep's `tests/` is): the simulator, a real broker
//! and the gateway end to end, the command line, config loading, the decoders against samples.
//! One binary links once per target instead of once per file (CI builds and links these for
//! the host and two ARM targets). Kept apart, each its own binary: `broker_restart` (it reads
//! its own process's resident memory), `decode_alloc` (it installs a counting global
//! allocator) and `fuzz_corpus` (it includes `fuzz/src/lib.rs`).
//!
//! Run one file's tests with a filter: `cargo test --test e2e faults::`.

mod support;
mod tools;

mod burst;
mod cli;
mod config_board;
mod config_load;
mod config_secrets;
mod decode_cli;
mod decode_samples;
mod disk_full;
mod display;
mod end_to_end;
mod faults;
mod fleet;
mod floor;
mod hostile_rest;
mod json_mirror;
mod kill_restart;
mod mqtt_tls;
mod upgrade;
mod web;
