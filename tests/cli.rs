//! The binary's front door: `check-config` and `run` exit 64 with a message naming the
//! problem (a bad field, a board whose capacities exceed its memory budget, with the
//! arithmetic) before any socket opens; a good config checks out with exit 0.

mod support;

use std::process::Output;

fn gateway(args: &[&str], dir: &std::path::Path) -> Output {
    let mut cmd = support::gateway_command();
    cmd.args(args)
        .current_dir(dir)
        .env("GENESYS_CLIENT_ID", "id")
        .env("GENESYS_CLIENT_SECRET", "secret")
        .output()
        .expect("run the gateway binary")
}

fn site(board: &str) -> String {
    format!(
        "[site]\nid = \"lab\"\nboard = \"{board}\"\nstate_dir = \"state\"\n\n[genesys]\nregion = \"eu_west_1\"\n\n[watch]\nqueues = [\"788c3a6d-8b4f-4a2d-a2bc-ffc815bba881\"]\n\n[mqtt]\nhost = \"127.0.0.1\"\n"
    )
}

#[test]
fn check_config_accepts_a_good_config_and_prints_the_memory_arithmetic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.toml"), site("rpi4")).unwrap();
    let out = gateway(&["check-config", "--config", "site.toml"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("config OK"), "{stdout}");
    assert!(
        stdout.contains("MiB"),
        "memory arithmetic printed: {stdout}"
    );
}

#[test]
fn a_board_over_its_memory_budget_refuses_to_start_with_the_arithmetic() {
    let dir = tempfile::tempdir().unwrap();
    let board = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/board/rpi4.toml"))
        .unwrap()
        .replace("max_agents = ", "max_agents = 9000000 #");
    std::fs::write(dir.path().join("huge.toml"), board).unwrap();
    std::fs::write(dir.path().join("site.toml"), site("huge.toml")).unwrap();
    let out = gateway(&["run", "--config", "site.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("budget"), "{stderr}");
    assert!(
        stderr.contains("agent"),
        "the arithmetic names the agent records: {stderr}"
    );
    assert!(
        !dir.path().join("state").exists(),
        "refused before opening the state store"
    );
}

#[test]
fn a_bad_field_exits_64_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = site("rpi4").replace("id = \"lab\"", "id = \"Lab Site!\"");
    std::fs::write(dir.path().join("site.toml"), text).unwrap();
    let out = gateway(&["run", "--config", "site.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("site.id"), "{stderr}");
}
