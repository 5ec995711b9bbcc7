//! The binary's front door: `check-config` and `run` exit 64 with a message naming the
//! problem (a bad field, a board whose capacities exceed its memory budget, with the
//! arithmetic) before any socket opens; a good config checks out with exit 0.

use std::process::Output;

fn gateway(args: &[&str], dir: &std::path::Path) -> Output {
    let mut cmd = crate::support::gateway_command();
    cmd.args(args)
        .current_dir(dir)
        .env("GENESYS_CLIENT_ID", "id")
        .env("GENESYS_CLIENT_SECRET", "secret")
        .output()
        .expect("run the gateway binary")
}

fn site(board: &str) -> String {
    site_with(board, "", "max_agents = 5000\n")
}

fn site_with(board: &str, genesys: &str, watch: &str) -> String {
    format!(
        "[site]\nid = \"lab\"\nboard = \"{board}\"\nstate_dir = \"state\"\n\n[genesys]\nregion = \"eu_west_1\"\n{genesys}\n[watch]\nqueues = [\"788c3a6d-8b4f-4a2d-a2bc-ffc815bba881\"]\n{watch}\n[mqtt]\nhost = \"127.0.0.1\"\n"
    )
}

/// The rpi4 board's 10,000 agents (members of a watched queue are only known at run time, so
/// that is the worst case) need 21 channels: one OAuth client carries 19, so `check-config`
/// refuses with exit 64 naming `genesys.client` and what would fit; two clients carry it.
#[test]
fn check_config_refuses_a_watch_set_one_client_cannot_carry_and_accepts_two() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.toml"), site_with("rpi4", "", "")).unwrap();
    let out = gateway(&["check-config", "--config", "site.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("genesys.client"), "{stderr}");
    assert!(stderr.contains("21 channels"), "{stderr}");
    assert!(stderr.contains("max_agents to at most 9489"), "{stderr}");

    let two = "[[genesys.client]]\nname = \"a\"\n[[genesys.client]]\nname = \"b\"\n";
    std::fs::write(dir.path().join("site.toml"), site_with("rpi4", two, "")).unwrap();
    let mut cmd = crate::support::gateway_command();
    let out = cmd
        .args(["check-config", "--config", "site.toml"])
        .current_dir(dir.path())
        .envs([
            ("GENESYS_CLIENT_ID_A", "id-a"),
            ("GENESYS_CLIENT_SECRET_A", "secret-a"),
            ("GENESYS_CLIENT_ID_B", "id-b"),
            ("GENESYS_CLIENT_SECRET_B", "secret-b"),
        ])
        .output()
        .expect("run the gateway binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 client(s) carry 38 channels"), "{stdout}");
    assert!(stdout.contains("2 OAuth client(s) (a, b)"), "{stdout}");
    assert!(!stdout.contains("secret-a"), "no secret printed: {stdout}");
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
