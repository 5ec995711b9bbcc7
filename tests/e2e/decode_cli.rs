//! `presence-gateway decode` (issue 5 item 6), run as a user runs it: one frame from a file
//! (raw or hex) or stdin to one JSON line, and a live subscription that prints one line per
//! message, a bad frame included, until `--count`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use presence_wire::Body;
use serde_json::Value;

fn decode(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = crate::support::gateway_command();
    cmd.arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the gateway binary");
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn one_line(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one JSON line: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {}", lines[0]))
}

#[test]
fn a_frame_file_decodes_to_one_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let agent = crate::tools::agent_frames(crate::tools::NOW)[0];
    let bytes = crate::tools::frame(7, Body::Agent(agent));
    std::fs::write(dir.path().join("agent.bin"), &bytes).unwrap();
    let out = decode(&[dir.path().join("agent.bin").to_str().unwrap()], None);
    assert!(out.status.success(), "{out:?}");
    let v = one_line(&out);
    assert_eq!(v["kind"], "agent");
    assert_eq!(v["session"], crate::tools::SESSION);
    assert_eq!(v["seq"], 7);
    assert_eq!(v["presence"], "OnQueue");
    assert_eq!(v["routing"], "Interacting");
    assert_eq!(v["media"], "Call");
    assert_eq!(v["interaction"], "Connected");
    assert_eq!(v["presence_since"], crate::tools::NOW - 723);
    assert!(v.get("topic").is_none() && v.get("error").is_none());

    // The same frame as hex text on stdin, as `xxd -p` prints it.
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let out = decode(&["--hex", "-"], Some(format!("{hex}\n").as_bytes()));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(one_line(&out)["presence"], "OnQueue");

    // A heatmap (longer than any frame) is recognised by itself.
    std::fs::write(
        dir.path().join("heatmap.bin"),
        crate::tools::heatmap_bytes(&crate::tools::heatmap(crate::tools::NOW)),
    )
    .unwrap();
    let out = decode(&[dir.path().join("heatmap.bin").to_str().unwrap()], None);
    let v = one_line(&out);
    assert_eq!(v["kind"], "heatmap");
    assert_eq!(v["end"], crate::tools::NOW / 60 * 60);
    assert_eq!(v["counts"].as_array().map(Vec::len), Some(1440));
}

#[test]
fn a_bad_frame_prints_an_error_line_and_exits_1() {
    let out = decode(&["--hex"], Some(b"09 01 02"));
    assert_eq!(out.status.code(), Some(1));
    let v = one_line(&out);
    assert_eq!(v["error"], "decode: unknown wire version 9");
    assert_eq!(v["hex"], "090102");

    let out = decode(&["--hex"], Some(b"0g"));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a hex digit"),
        "{out:?}"
    );
}

#[test]
fn live_mode_prints_one_line_per_message_until_count() {
    let broker = crate::support::broker();
    let site = crate::support::site_id("dec");
    let base = format!("presence/{site}");
    let gateway = crate::tools::Publisher::connect(&broker);
    // 3 queues + 5 agents + 4 names + roster + heatmap + $state = 15 retained messages.
    gateway.fixed_floor(&base, "all", "online", crate::tools::NOW);
    let retained = 15;
    let live = 3;

    let mut cmd = crate::support::gateway_command();
    cmd.args([
        "decode",
        "--broker",
        &format!("{}:{}", broker.0, broker.1),
        "--site",
        &site,
        "--count",
        &(retained + live).to_string(),
        "--timeout",
        "120",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the gateway binary");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = |what: &str| -> Value {
        let line = rx
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("no line for {what} within 90 s"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let mut lines = Vec::new();
    for i in 0..retained {
        lines.push(next(&format!("retained message {i}")));
    }
    // Subscribed: now live messages, a bad frame and a cleared topic among them.
    let bad_topic = format!("{base}/zone/all/agent/{}", crate::tools::AGENTS[0].0);
    gateway.publish(&bad_topic, vec![presence_wire::WIRE_VERSION, 0xff], false);
    gateway.publish(&format!("{base}/zone/all/agent/gone-1"), Vec::new(), false);
    gateway.publish(
        &format!("{base}/gateway/health"),
        br#"{"status":"ok","session":3}"#.to_vec(),
        false,
    );
    for i in 0..live {
        lines.push(next(&format!("live message {i}")));
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "exits 0 after --count lines: {status:?}");

    let of_kind = |k: &str| lines.iter().filter(|v| v["kind"] == k).count();
    assert_eq!(of_kind("queue"), 3, "{lines:#?}");
    assert_eq!(of_kind("name"), 4);
    assert_eq!(of_kind("roster"), 1);
    assert_eq!(of_kind("heatmap"), 1);
    assert_eq!(of_kind("state"), 1);
    assert_eq!(of_kind("cleared"), 1);
    assert_eq!(of_kind("json"), 1);
    let queue = lines
        .iter()
        .find(|v| v["id"] == crate::tools::QUEUES[0])
        .expect("the critical queue");
    assert_eq!(
        queue["topic"],
        format!("{base}/zone/all/queue/{}", crate::tools::QUEUES[0])
    );
    assert_eq!(queue["zone"], "all");
    assert_eq!(queue["level"], "Critical");
    assert_eq!(queue["waiting"], 12);
    assert_eq!(queue["session"], crate::tools::SESSION);
    let ana = lines
        .iter()
        .find(|v| v["id"] == crate::tools::AGENTS[0].0 && v["kind"] == "name")
        .unwrap();
    assert_eq!(ana["name"], "Ana Lopez");
    let bad = lines
        .iter()
        .find(|v| v.get("error").is_some())
        .expect("an error line");
    assert_eq!(bad["topic"], bad_topic);
    assert_eq!(bad["error"], "decode: malformed body");
    // The stream went on after it: the live health document came after the bad frame.
    let health = lines.iter().position(|v| v["kind"] == "json").unwrap();
    let bad_at = lines.iter().position(|v| v.get("error").is_some()).unwrap();
    assert!(health > bad_at);
    assert_eq!(lines[health]["json"]["status"], "ok");
    // 5 agent frames, all decoded.
    assert_eq!(
        lines
            .iter()
            .filter(|v| v["kind"] == "agent" && v.get("error").is_none())
            .count(),
        5
    );
}

#[test]
fn live_mode_gives_up_at_the_timeout_when_count_is_not_reached() {
    let broker = crate::support::broker();
    let site = crate::support::site_id("quiet");
    let mut cmd = crate::support::gateway_command();
    let out = cmd
        .args([
            "decode",
            "--broker",
            &format!("{}:{}", broker.0, broker.1),
            "--site",
            &site,
            "--count",
            "1",
            "--timeout",
            "2",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out after 0 of 1"),
        "{out:?}"
    );
}
