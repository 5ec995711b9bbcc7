//! Board profiles: each shipped board loads from disk and from its embedded copy, fits its
//! memory budget, and an absurd board is refused with the arithmetic in the error. Also how
//! the site's `board` value is resolved (name → local `board/` dir → embedded; or a path).

use std::fs;
use std::path::Path;

use presence_gateway::config::{
    Board, BoardOrigin, Config, ConfigError, EMBEDDED, ENV_CLIENT_ID, ENV_CLIENT_SECRET,
};

const ENV: [(&str, &str); 2] = [(ENV_CLIENT_ID, "i"), (ENV_CLIENT_SECRET, "s")];

fn board_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("board")
}

#[test]
fn every_board_file_loads_and_fits_its_budget() {
    let mut names = Vec::new();
    for entry in fs::read_dir(board_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let board = Board::load(&path).unwrap();
            let est = board.check_budget().unwrap();
            assert!(est.total() <= board.memory_budget_mib * 1024 * 1024);
            assert!(board.memory_budget_mib <= board.ram_mib);
            assert_eq!(
                path.file_stem().unwrap().to_str(),
                Some(board.name.as_str())
            );
            names.push(board.name);
        }
    }
    names.sort();
    assert_eq!(names, ["armv7-512", "rpi4", "x86_64"]);
}

#[test]
fn embedded_boards_match_the_files() {
    for (name, _) in EMBEDDED {
        let embedded = Board::embedded(name).unwrap().unwrap();
        let file = Board::load(&board_dir().join(format!("{name}.toml"))).unwrap();
        assert_eq!(embedded.origin, BoardOrigin::Embedded(name));
        assert_eq!(
            Board {
                origin: file.origin.clone(),
                ..embedded
            },
            file,
            "{name}: rebuild to re-embed"
        );
    }
}

#[test]
fn boards_have_the_expected_targets_and_sizes() {
    let rpi4 = Board::embedded("rpi4").unwrap().unwrap();
    assert_eq!(rpi4.target, "aarch64-unknown-linux-musl");
    assert_eq!(rpi4.ram_mib, 1024);
    assert!(rpi4.capacity.max_agents >= 10_000 && rpi4.capacity.max_queues >= 500);
    let armv7 = Board::embedded("armv7-512").unwrap().unwrap();
    assert_eq!(armv7.target, "armv7-unknown-linux-musleabihf");
    assert_eq!(armv7.ram_mib, 512);
    assert!(armv7.capacity.max_agents < rpi4.capacity.max_agents);
    assert!(Board::embedded("x86_64").is_some());
    assert!(Board::embedded("vax").is_none());
}

#[test]
fn absurd_capacities_are_refused_with_the_arithmetic() {
    let text = EMBEDDED
        .iter()
        .find(|(n, _)| *n == "armv7-512")
        .unwrap()
        .1
        .replace("max_agents = 3000", "max_agents = 2000000")
        .replace("max_zone_members = 1000", "max_zone_members = 1000000")
        .replace(
            "sled_cache_bytes = 4194304",
            "sled_cache_bytes = 1073741824",
        );
    let err = Board::from_toml_str(&text, BoardOrigin::Embedded("absurd")).unwrap_err();
    match &err {
        ConfigError::OverBudget {
            board,
            needed,
            budget,
            breakdown,
        } => {
            assert_eq!(board, "armv7-512");
            assert_eq!(*budget, 96 * 1024 * 1024);
            assert!(needed > budget);
            assert!(
                breakdown.contains("2000000 × (96 B record + 64 B key map entry)"),
                "{breakdown}"
            );
            assert!(
                breakdown.contains("1073741824 B cache + 16777216 B fixed overhead"),
                "{breakdown}"
            );
            assert!(breakdown.contains("OVER BUDGET"), "{breakdown}");
        }
        other => panic!("{other}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("exceeds memory_budget_mib"), "{shown}");
    assert!(shown.contains("\n  agents "), "{shown}");
}

#[test]
fn overflowing_capacities_saturate_instead_of_wrapping() {
    // The largest agent count this target's `usize` and TOML's i64 can both hold.
    let huge = u64::try_from(usize::MAX)
        .unwrap_or(u64::MAX)
        .min(i64::MAX as u64);
    let text = EMBEDDED[0]
        .1
        .replace("max_agents = 10000", &format!("max_agents = {huge}"));
    let err = Board::from_toml_str(&text, BoardOrigin::Embedded("huge")).unwrap_err();
    let ConfigError::OverBudget { needed, budget, .. } = err else {
        panic!("{err}");
    };
    if usize::BITS == 64 {
        // i64::MAX × 160 B overflows u64: the sum saturates instead of wrapping to a small number.
        assert_eq!(needed, u64::MAX);
    } else {
        // 32-bit targets: u32::MAX agents fit the arithmetic without overflow, far over budget.
        assert!(needed > 600 * (1 << 30) && needed > budget, "{needed}");
    }
}

#[test]
fn unknown_board_key_is_a_toml_error_naming_it() {
    let text = format!("{}\nmax_widgets = 3\n", EMBEDDED[0].1);
    let err = Board::from_toml_str(&text, BoardOrigin::Embedded("t")).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Toml { message, .. } if message.contains("max_widgets")),
        "{err}"
    );
}

fn site_with_board(board: &str) -> String {
    format!(
        "[site]\nid = \"lab\"\nboard = \"{board}\"\n[genesys]\nregion = \"eu_west_1\"\n\
         [watch]\nqueues = [\"3b1e2c4d-5f60-4a7b-8c9d-0e1f2a3b4c5d\"]\n[mqtt]\nhost = \"localhost\"\n"
    )
}

#[test]
fn board_resolution_local_dir_then_embedded_or_a_path() {
    let dir = tempfile::tempdir().unwrap();
    // By name, nothing local: embedded.
    let c = Config::from_toml_str(&site_with_board("rpi4"), dir.path(), &ENV).unwrap();
    assert_eq!(c.board.origin, BoardOrigin::Embedded("rpi4"));

    // A local board/<name>.toml shadows the embedded copy.
    fs::create_dir(dir.path().join("board")).unwrap();
    let local = EMBEDDED[0]
        .1
        .replace("memory_budget_mib = 256", "memory_budget_mib = 200");
    fs::write(dir.path().join("board/rpi4.toml"), &local).unwrap();
    let c = Config::from_toml_str(&site_with_board("rpi4"), dir.path(), &ENV).unwrap();
    assert_eq!(c.board.memory_budget_mib, 200);
    assert_eq!(
        c.board.origin,
        BoardOrigin::File(dir.path().join("board/rpi4.toml"))
    );

    // An explicit relative path.
    fs::write(dir.path().join("custom.toml"), &local).unwrap();
    let c = Config::from_toml_str(&site_with_board("custom.toml"), dir.path(), &ENV).unwrap();
    assert_eq!(
        c.board.origin,
        BoardOrigin::File(dir.path().join("custom.toml"))
    );

    // A missing path is an I/O error naming the file.
    let err = Config::from_toml_str(&site_with_board("./nope.toml"), dir.path(), &ENV).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Io { path, .. } if path.ends_with("nope.toml")),
        "{err}"
    );
}

#[test]
fn site_watch_is_checked_against_board_capacity() {
    let mut users = String::new();
    for i in 0..3001u32 {
        users.push_str(&format!("\"00000000-0000-4000-8000-{i:012x}\","));
    }
    let text =
        site_with_board("armv7-512").replace("[mqtt]", &format!("users = [{users}]\n[mqtt]"));
    let err = Config::from_toml_str(&text, Path::new("."), &ENV).unwrap_err();
    match err {
        ConfigError::Invalid { field, reason } => {
            assert_eq!(field, "watch.users");
            assert!(reason.contains("max_agents (3000)"), "{reason}");
        }
        other => panic!("{other}"),
    }
}
