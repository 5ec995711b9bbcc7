//! MQTT over TLS against a real mosquitto: the gateway verifies the broker's certificate
//! against the configured CA, presents a client certificate (mutual TLS) and a user name with
//! a password from the environment, and the display converges; with a CA that did not sign the
//! broker's certificate, or a wrong password, nothing is published and the gateway keeps
//! retrying. Skipped (with the reason printed) when `mosquitto` is not installed; CI installs it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;
use presence_gateway::config::{Config, ENV_MQTT_PASSWORD};
use presence_gateway::display::Subscriber;
use presence_gateway::topics::Topics;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const PASSWORD: &str = "correct horse battery staple";

/// PEM files of a throwaway PKI.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A CA that signed nothing here.
    other_ca: PathBuf,
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn ca(name: &str) -> (rcgen::Certificate, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    (cert, Issuer::new(params, key))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn pki(dir: &Path) -> Pki {
    let (ca_cert, issuer) = ca("presence-gateway test CA");
    let (other_cert, _) = ca("unrelated CA");
    let (server_cert, server_key) = leaf(
        &issuer,
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) =
        leaf(&issuer, &["gateway"], ExtendedKeyUsagePurpose::ClientAuth);
    let p = Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        other_ca: dir.join("other-ca.pem"),
    };
    std::fs::write(&p.ca, ca_cert.pem()).unwrap();
    std::fs::write(&p.other_ca, other_cert.pem()).unwrap();
    std::fs::write(&p.server_cert, server_cert).unwrap();
    write_private(&p.server_key, &server_key);
    std::fs::write(&p.client_cert, client_cert).unwrap();
    write_private(&p.client_key, &client_key);
    p
}

fn free_port() -> u16 {
    presence_gateway::demo::broker::free_port().expect("a free port")
}

/// mosquitto with a TLS listener (client certificate and password required) and a plain
/// loopback listener for the display. Killed on drop.
struct Mosquitto {
    child: Child,
    tls_port: u16,
    plain_port: u16,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto(dir: &Path, pki: &Pki) -> Option<Mosquitto> {
    let passwd = dir.join("passwd");
    let made = Command::new("mosquitto_passwd")
        .arg("-c")
        .arg("-b")
        .arg(&passwd)
        .arg("gateway")
        .arg(PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(made, Ok(s) if s.success()) {
        return None;
    }
    let (tls_port, plain_port) = (free_port(), free_port());
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "per_listener_settings true\n\
             user root\n\
             log_dest stderr\n\
             listener {tls_port} 127.0.0.1\n\
             cafile {ca}\n\
             certfile {cert}\n\
             keyfile {key}\n\
             require_certificate true\n\
             allow_anonymous false\n\
             password_file {passwd}\n\
             listener {plain_port} 127.0.0.1\n\
             allow_anonymous true\n",
            ca = pki.ca.display(),
            cert = pki.server_cert.display(),
            key = pki.server_key.display(),
            passwd = passwd.display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .ok()?;
    let m = Mosquitto {
        child,
        tls_port,
        plain_port,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", plain_port)).is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
        {
            return Some(m);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "mosquitto did not listen: {}",
        std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default()
    );
}

/// A gateway config for `sim` publishing to the TLS listener.
fn tls_config(
    sim: &genesys_sim::Sim,
    m: &Mosquitto,
    dir: &Path,
    site: &str,
    ca: &Path,
    pki: &Pki,
    password: &str,
) -> Config {
    let state = dir.join(format!("state-{site}"));
    let toml = presence_gateway::demo::site_toml(
        &sim.api_base(),
        &sim.queues(),
        ("127.0.0.1", m.tls_port),
        &state,
    )
    .replace("id = \"demo\"", &format!("id = \"{site}\""))
    .replace(
        "[mqtt]\n",
        &format!(
            "[mqtt]\ntls = true\nca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\nusername = \"gateway\"\n",
            ca.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        ),
    );
    let mut env = presence_gateway::demo::sim_env(&sim.config());
    env.insert(ENV_MQTT_PASSWORD.to_string(), password.to_string());
    Config::from_toml_str(&toml, dir, &env).expect("valid TLS config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_password_publishes_and_bad_trust_or_password_publishes_nothing() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let Some(m) = mosquitto(dir.path(), &pki) else {
        println!("SKIPPED: mosquitto or mosquitto_passwd not installed");
        return;
    };
    let sim = sim(40, 2, 17).await;
    let plain = ("127.0.0.1".to_string(), m.plain_port);

    // Right CA, client certificate, password: frames reach a display on the plain listener.
    let site = site_id("tls");
    let config = tls_config(&sim, &m, dir.path(), &site, &pki.ca, &pki, PASSWORD);
    let display = Subscriber::start(plain.clone(), &Topics::new("presence", &site), "all");
    let gw = presence_gateway::app::start(config).await.expect("gateway");
    converge(&sim, &display, Duration::from_secs(60)).await;
    assert_eq!(display.snapshot().gateway_state.as_deref(), Some("online"));

    // Issue 18: the display tools reach the same secured listener as the gateway. The display's
    // eye over mutual TLS with the password converges too…
    let _ = rustls::crypto::ring::default_provider().install_default();
    let security = presence_gateway::display::BrokerSecurity {
        tls: Some(
            presence_gateway::tls::client_config(
                Some(&pki.ca),
                Some((pki.client_cert.as_path(), pki.client_key.as_path())),
            )
            .unwrap(),
        ),
        credentials: Some((
            "gateway".to_string(),
            presence_gateway::config::Secret::new(PASSWORD.to_string()),
        )),
    };
    let tls_display = Subscriber::connect(
        ("127.0.0.1".to_string(), m.tls_port),
        &security,
        &Topics::new("presence", &site),
        "all",
    );
    converge(&sim, &tls_display, Duration::from_secs(60)).await;
    // …and `decode` reads the live stream with the same settings as flags (the password from
    // MQTT_PASSWORD), the site left to its `+` default.
    let out = gateway_command()
        .args(["decode", "--broker", &format!("127.0.0.1:{}", m.tls_port)])
        .arg("--ca-file")
        .arg(&pki.ca)
        .arg("--client-cert")
        .arg(&pki.client_cert)
        .arg("--client-key")
        .arg(&pki.client_key)
        .args(["--username", "gateway", "--count", "3", "--timeout", "30"])
        .env(ENV_MQTT_PASSWORD, PASSWORD)
        .output()
        .expect("decode runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().count() == 3,
        "decode over TLS: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    gw.stop().await;

    // A CA that did not sign the broker: the handshake fails, nothing is published.
    let bad_ca_site = site_id("tls-bad-ca");
    let config = tls_config(
        &sim,
        &m,
        dir.path(),
        &bad_ca_site,
        &pki.other_ca,
        &pki,
        PASSWORD,
    );
    let bad_ca_display =
        Subscriber::start(plain.clone(), &Topics::new("presence", &bad_ca_site), "all");
    let bad_ca = presence_gateway::app::start(config).await.expect("gateway");

    // A wrong password: the broker refuses the connection, nothing is published.
    let bad_pw_site = site_id("tls-bad-pw");
    let config = tls_config(&sim, &m, dir.path(), &bad_pw_site, &pki.ca, &pki, "wrong");
    let bad_pw_display =
        Subscriber::start(plain.clone(), &Topics::new("presence", &bad_pw_site), "all");
    let bad_pw = presence_gateway::app::start(config).await.expect("gateway");

    // Both have read the cloud (the table is full) but neither ever connected to the broker.
    wait_for(
        "both tables filled from the cloud",
        Duration::from_secs(30),
        || bad_ca.metrics.state.agents.get() == 40 && bad_pw.metrics.state.agents.get() == 40,
    )
    .await;
    // Each has tried the broker and been refused more than once (rumqttc retries once a second).
    wait_for(
        "two refused connection attempts each",
        Duration::from_secs(30),
        || {
            bad_ca.metrics.publish.connect_failures.get() >= 2
                && bad_pw.metrics.publish.connect_failures.get() >= 2
        },
    )
    .await;
    for (what, gw, display) in [
        ("untrusted broker", &bad_ca, &bad_ca_display),
        ("wrong password", &bad_pw, &bad_pw_display),
    ] {
        assert_eq!(gw.metrics.publish.connects.get(), 0, "{what}: connected");
        let floor = display.snapshot();
        assert_eq!(floor.frames, 0, "{what}: frames reached the broker");
        assert_eq!(floor.gateway_state, None, "{what}: $state published");
    }
    bad_ca.stop().await;
    bad_pw.stop().await;
}
