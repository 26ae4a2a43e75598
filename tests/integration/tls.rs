//! `lp-rfq serve` with TLS, end to end from the binary: a throw-away CA
//! signs the desk's certificate for 127.0.0.1; the desk listens beyond
//! loopback without `--insecure`, and a `quote --desk wss://…` that
//! trusts the CA fills against the mock LPs. A console that does not
//! trust it, names the desk by a name its certificate lacks, or speaks
//! the wrong scheme is told why and exits 1; files that cannot be used
//! stop the server's start naming their setting.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{empty_dir, lp_rfq_in};

const TOKEN: &str = "carol-token-Vb93kP2sQw7e";
const ACME_TOKEN: &str = "acme-token-Jr48tL1nVc5u";

/// A CA named `ca_name` and a certificate it signed for `names`, written
/// into `dir`: `ca.pem`, `cert.pem` and `key.pem`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn issue(dir: &Path, ca_name: &str, names: &[&str]) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&pki.ca, ca_cert.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

/// `lp-rfq serve` in `dir` with the operator carol and `args`, until it
/// says where it listens.
struct Server {
    child: Child,
    /// The operators' listener as announced: `wss://0.0.0.0:PORT (TLS)`.
    banner: String,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Server {
        Server::start_until(dir, args, "desk serving on ")
    }

    /// [`Server::start`], reading what it says until a line with `last`.
    fn start_until(dir: &Path, args: &[&str], last: &str) -> Server {
        let mut child = serve(dir, args).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let marker = "desk serving on ";
        let mut banner = String::new();
        loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .unwrap();
            stderr.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(at) = line.find(marker) {
                banner = line[at + marker.len()..].to_string();
            }
            if line.contains(last) {
                break;
            }
        }
        let address = banner.split_whitespace().next().unwrap();
        let port = address.rsplit(':').next().unwrap().parse().unwrap();
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server {
            child,
            banner,
            port,
            stderr,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lp-rfq serve ARGS` in `dir` with carol in its operators file, the
/// mocks always answering and filling, recording nothing.
fn serve(dir: &Path, args: &[&str]) -> std::process::Command {
    let operators = dir.join("operators.toml");
    std::fs::write(
        &operators,
        "[[operator]]\nname = \"carol\"\ntoken_env = \"DESK_TOKEN_CAROL\"\n",
    )
    .unwrap();
    let mut command = lp_rfq_in(dir);
    command
        .env("DESK_TOKEN_CAROL", TOKEN)
        .env("CLIENT_TOKEN_ACME", ACME_TOKEN)
        .args(["serve", "--operators"])
        .arg(&operators)
        .args([
            "--no-blotter",
            "--mock-failure-rate",
            "0",
            "--mock-reject-rate",
            "0",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// `lp-rfq quote buy 1 BTCUSDT --json --accept-after 500ms --desk URL`
/// as carol, with `extra` arguments: its output and how long it took.
async fn quote(url: &str, extra: &[&str]) -> (Output, Duration) {
    let mut command = lp_rfq_in(empty_dir());
    command
        .env("LP_RFQ_TOKEN", TOKEN)
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--accept-after",
            "500ms",
            "--desk",
            url,
        ])
        .args(extra);
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (output, started.elapsed())
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A TLS desk on every address (no `--insecure`), and a quote over
/// `wss://` that trusts the desk's CA: it fills, and the token shows
/// nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_desk_beyond_loopback_fills_a_quote_over_wss() {
    let dir = tempfile::tempdir().unwrap();
    let pki = issue(&dir.path().join("pki"), "desk CA", &["127.0.0.1"]);
    let server = Server::start(
        dir.path(),
        &[
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ],
    );
    assert!(
        server.banner.starts_with(&format!(
            "wss://0.0.0.0:{} (TLS) · 1 operators · 3 LPs (SIMULATED)",
            server.port
        )),
        "{}",
        server.banner
    );
    let url = format!("wss://127.0.0.1:{}", server.port);
    let (output, _) = quote(&url, &["--desk-ca", pki.ca.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", said(&output));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let filled = lines
        .iter()
        .filter(|line| line["event"] == "filled")
        .count();
    assert_eq!(filled, 1, "{}", said(&output));
    assert_eq!(lines.last().unwrap()["outcome"], "filled");
    // The same CA from the environment.
    let mut command = lp_rfq_in(empty_dir());
    command
        .env("LP_RFQ_TOKEN", TOKEN)
        .env("DESK_CA_FILE", &pki.ca)
        .args(["quote", "sell", "1", "BTCUSDT", "--accept-after", "500ms"])
        .args(["--desk", &url]);
    let from_env = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(from_env.status.success(), "{}", said(&from_env));
    assert!(!said(&output).contains(TOKEN));
    assert!(!said(&from_env).contains(TOKEN));
    assert!(!server.stderr.lock().unwrap().contains(TOKEN));
}

/// A console that does not trust the desk's CA, or names the desk by a
/// name its certificate lacks, is told which and exits 1, before any
/// request is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_the_console_cannot_trust_is_refused_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let pki = issue(&dir.path().join("pki"), "desk CA", &["127.0.0.1"]);
    let other = issue(&dir.path().join("other"), "another CA", &["127.0.0.1"]);
    let same_name = issue(&dir.path().join("same"), "desk CA", &["127.0.0.1"]);
    let server = Server::start(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ],
    );
    let url = format!("wss://127.0.0.1:{}", server.port);
    for extra in [&["--desk-ca", other.ca.to_str().unwrap()][..], &[]] {
        let (output, _) = quote(&url, extra).await;
        assert_eq!(output.status.code(), Some(1), "{}", said(&output));
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("lp-rfq: no secure connection to the desk at '{url}': the desk's certificate is not signed by a CA this console trusts (unknown issuer): give the desk's CA certificate with --desk-ca or DESK_CA_FILE\n")
        );
        assert!(output.stdout.is_empty());
    }
    let (output, _) = quote(&url, &["--desk-ca", same_name.ca.to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(1), "{}", said(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("lp-rfq: no secure connection to the desk at '{url}': the desk's certificate does not verify against the CA of its issuer's name this console trusts (bad signature): check that --desk-ca or DESK_CA_FILE is the desk's CA\n")
    );
    let by_name = format!("wss://localhost:{}", server.port);
    let (output, _) = quote(&by_name, &["--desk-ca", pki.ca.to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(1), "{}", said(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("lp-rfq: no secure connection to the desk at '{by_name}': the desk's certificate is not valid for 'localhost' (name mismatch): connect by a name or address its certificate lists\n")
    );
    let missing = dir.path().join("missing-ca.pem");
    let (output, _) = quote(&url, &["--desk-ca", missing.to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(2), "{}", said(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "lp-rfq: invalid DESK_CA_FILE '{}' (--desk-ca): cannot read it: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// `ws://` to a TLS desk, and `wss://` to a plain one, fail at once
/// saying which scheme the desk may want, rather than hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_scheme_fails_at_once_naming_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let pki = issue(&dir.path().join("pki"), "desk CA", &["127.0.0.1"]);
    let tls = Server::start(
        &dir.path().join("pki"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ],
    );
    let plain = Server::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    assert!(
        plain
            .banner
            .starts_with(&format!("ws://127.0.0.1:{} (no TLS) · ", plain.port)),
        "{}",
        plain.banner
    );
    let url = format!("ws://127.0.0.1:{}", tls.port);
    let (output, took) = quote(&url, &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", said(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("lp-rfq: cannot reach the desk at '{url}': "))
            && stderr.ends_with(": the desk may serve TLS (--tls-cert); then use wss://\n"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    let url = format!("wss://127.0.0.1:{}", plain.port);
    let (output, took) = quote(&url, &["--desk-ca", pki.ca.to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(1), "{}", said(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("lp-rfq: no secure connection to the desk at '{url}': the desk did not answer in TLS: it may serve plain ws:// (no --tls-cert); then use ws://\n")
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// A key file without a key, a certificate without its key, and an
/// address beyond loopback without TLS each stop the start (exit 2)
/// naming what to fix; the key file's contents are never repeated.
#[test]
fn files_that_cannot_be_used_stop_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let pki = issue(&dir.path().join("pki"), "desk CA", &["127.0.0.1"]);
    let junk = dir.path().join("junk-key.pem");
    std::fs::write(&junk, "not-a-key-Mw7qZ3\n").unwrap();
    let cert = pki.cert.to_str().unwrap();
    let cases: [(Vec<&str>, String); 3] = [
        (
            vec!["--tls-cert", cert, "--tls-key", junk.to_str().unwrap()],
            "lp-rfq: invalid DESK_TLS_KEY (--tls-key): no PEM private key in it (-----BEGIN PRIVATE KEY-----, RSA or EC)\n".to_string(),
        ),
        (
            vec!["--tls-cert", cert],
            format!("lp-rfq: invalid DESK_TLS_CERT '{cert}' (--tls-cert): needs its key: give --tls-key too\n"),
        ),
        (
            vec!["--listen", "0.0.0.0:0"],
            "lp-rfq: --listen '0.0.0.0:0' is not a loopback address: operators' tokens and trades would cross the network in the clear; give the desk a certificate (--tls-cert and --tls-key), listen on 127.0.0.1, or pass --insecure to accept that\n".to_string(),
        ),
    ];
    for (args, expected) in cases {
        let output = serve(dir.path(), &args)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr, expected, "{args:?}");
        assert!(!stderr.contains("Mw7qZ3"));
    }
}

/// A deployment that puts the key itself in DESK_TLS_KEY (or a path that
/// cannot be read) is refused without the variable's text in stderr.
#[test]
fn a_key_given_instead_of_its_path_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = issue(&dir.path().join("pki"), "desk CA", &["127.0.0.1"]);
    let key_text = std::fs::read_to_string(&pki.key).unwrap();
    let key_body: String = key_text.lines().nth(1).unwrap().to_string();
    let missing = dir.path().join("no-such-key-Vr52.pem");
    let cases = [
        (
            key_text.clone(),
            "lp-rfq: invalid DESK_TLS_KEY (--tls-key): it holds a PEM key, not a path: give a file path, not the key itself\n",
        ),
        (
            missing.to_str().unwrap().to_string(),
            "lp-rfq: invalid DESK_TLS_KEY (--tls-key): the key file it names cannot be read (No such file or directory (os error 2)): give the path of a PEM private key file\n",
        ),
    ];
    for (value, expected) in cases {
        let output = serve(dir.path(), &["--tls-cert", pki.cert.to_str().unwrap()])
            .env("DESK_TLS_KEY", &value)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr, expected);
        assert!(!stderr.contains(&key_body[..20]));
        assert!(!stderr.contains("Vr52"));
    }
}

/// The port after `marker` in what the server said.
fn port_after(said: &str, marker: &str) -> u16 {
    let at = said.find(marker).unwrap_or_else(|| panic!("{said}")) + marker.len();
    let address = said[at..].split_whitespace().next().unwrap();
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// TLS to 127.0.0.1:`port`, trusting only the CA in `ca`: a client of
/// the test's own, not the console's code.
async fn tls_to(port: u16, ca: &Path) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), socket)
        .await
        .unwrap()
}

/// With TLS, the client listeners serve it too, beyond loopback without
/// `--insecure`: a client's WebSocket over TLS is quoted, and a FIX
/// client logs on over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_apis_serve_tls_too() {
    use futures::{SinkExt, StreamExt};
    use lp_rfq::lp::fix::codec::{msg_type, tag, utc_timestamp, Framer, Message};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let dir = tempfile::tempdir().unwrap();
    let pki = issue(&dir.path().join("pki"), "desk CA", &["127.0.0.1"]);
    let clients = dir.path().join("clients.toml");
    std::fs::write(
        &clients,
        "[[client]]\nname = \"acme\"\nmarkup_bps = \"8\"\ntoken_env = \"CLIENT_TOKEN_ACME\"\nfix_comp_id = \"ACMEFIX\"\n",
    )
    .unwrap();
    let server = Server::start_until(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--client-ws",
            "0.0.0.0:0",
            "--client-fix",
            "0.0.0.0:0",
            "--clients",
            clients.to_str().unwrap(),
            "--tls-cert",
            pki.cert.to_str().unwrap(),
            "--tls-key",
            pki.key.to_str().unwrap(),
        ],
        "client API (FIX 4.4)",
    );
    let said = server.stderr.lock().unwrap().clone();
    assert!(said.contains(" as LPRFQ (TLS)\n"), "{said}");
    let ws_port = port_after(&said, "client API (WebSocket) on wss://0.0.0.0:");
    let fix_port = port_after(&said, "client API (FIX 4.4) on 0.0.0.0:");

    let url = format!("wss://127.0.0.1:{ws_port}");
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {ACME_TOKEN}").parse().unwrap(),
    );
    let stream = tls_to(ws_port, &pki.ca).await;
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let ask = serde_json::json!({"type": "quote_request", "client_rfq_id": "r-1", "pair": "BTCUSDT", "side": "buy", "amount": "1"});
    socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            ask.to_string(),
        ))
        .await
        .unwrap();
    let quote = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a quote within 10 s")
            .expect("the connection is open")
            .unwrap();
        let Ok(text) = frame.to_text() else { continue };
        let message: Value = serde_json::from_str(text).unwrap();
        if message["type"] == "quote" {
            break message;
        }
    };
    assert_eq!(quote["client_rfq_id"], "r-1");
    // A client buy is offered, at acme's markup over a simulated price.
    assert!(
        quote["offer"].is_string() && quote["bid"].is_null(),
        "{quote}"
    );
    assert_eq!(quote["amount"], "1.00000000");
    assert_eq!(quote["simulated"], true);

    let mut fix = tls_to(fix_port, &pki.ca).await;
    let logon = Message::new(msg_type::LOGON)
        .with(tag::MSG_SEQ_NUM, 1)
        .with(tag::SENDER_COMP_ID, "ACMEFIX")
        .with(tag::TARGET_COMP_ID, "LPRFQ")
        .with(tag::SENDING_TIME, utc_timestamp(chrono::Utc::now()))
        .with(tag::ENCRYPT_METHOD, 0)
        .with(tag::HEART_BT_INT, 30);
    fix.write_all(&logon.encode()).await.unwrap();
    let mut framer = Framer::new();
    let mut buf = [0u8; 4096];
    let answer = loop {
        if let Some(frame) = framer.next_frame() {
            break frame.unwrap().message;
        }
        let read = tokio::time::timeout(Duration::from_secs(10), fix.read(&mut buf))
            .await
            .expect("an answer to the Logon within 10 s")
            .unwrap();
        assert_ne!(read, 0, "the desk closed the FIX session");
        framer.push(&buf[..read]);
    };
    assert_eq!(answer.msg_type(), msg_type::LOGON);
    assert_eq!(answer.get(tag::TARGET_COMP_ID), Some("ACMEFIX"));
}
