//! The desk server's edges, from the binary: a socket that never
//! finishes its WebSocket upgrade does not keep `serve` from stopping, and
//! a token pasted where its variable's name belongs (in the operators
//! or the clients file) is refused without being shown, as is a token
//! shared between a client and an operator.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::lp_rfq_in;

const ALICE_TOKEN: &str = "alice-token-Zq81mW0pXr";
const ACME_TOKEN: &str = "acme-token-Vb31xQ9zKw";

/// `lp-rfq serve` in `dir` (simulated LPs) with the operators file
/// `operators` and the clients file `clients`, the client API on.
fn serve(dir: &Path, operators: &str, clients: &str, client_token: &str) -> Command {
    std::fs::write(dir.join("operators.toml"), operators).unwrap();
    std::fs::write(dir.join("clients.toml"), clients).unwrap();
    let mut command = lp_rfq_in(dir);
    command
        .env("DESK_TOKEN_ALICE", ALICE_TOKEN)
        .env("CLIENT_TOKEN_ACME", client_token)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--client-ws",
            "127.0.0.1:0",
            "--operators",
            "operators.toml",
            "--clients",
            "clients.toml",
            "--blotter",
            "desk.db",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

const OPERATORS: &str = "[[operator]]\nname = \"alice\"\ntoken_env = \"DESK_TOKEN_ALICE\"\n";
const CLIENTS: &str = "[[client]]\nname = \"acme\"\ntoken_env = \"CLIENT_TOKEN_ACME\"\n";

/// The address after `marker` in `line`, if it is there.
fn address_after(line: &str, marker: &str) -> Option<String> {
    let at = line.find(marker)? + marker.len();
    Some(line[at..].split_whitespace().next()?.to_string())
}

/// Raw TCP connections to both listeners that never send a byte, then
/// SIGTERM: the server stops at once (well within the 10 s an upgrade
/// may take), says so and exits 0.
#[test]
fn a_connection_that_never_upgrades_does_not_hold_up_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(dir.path(), OPERATORS, CLIENTS, ACME_TOKEN)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut operators_at, mut clients_at) = (None, None);
    while operators_at.is_none() || clients_at.is_none() {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        operators_at = operators_at.or_else(|| address_after(&line, "desk serving on ws://"));
        clients_at = clients_at.or_else(|| address_after(&line, "client API (WebSocket) on ws://"));
    }
    let silent: Vec<std::net::TcpStream> = [operators_at.unwrap(), clients_at.unwrap()]
        .iter()
        .map(|at| std::net::TcpStream::connect(at).unwrap())
        .collect();
    // Let the server take both sockets into their handshakes.
    std::thread::sleep(Duration::from_millis(300));
    let sigterm = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sigterm.success());
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if asked.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("serve still running 5 s after SIGTERM with a silent connection open");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let said: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "{status:?} {said:?}");
    assert_eq!(
        said.last().map(String::as_str),
        Some("lp-rfq: desk stopped")
    );
    drop(silent);
}

/// What `serve` says when it refuses to start, and its exit code.
fn refusal(operators: &str, clients: &str, client_token: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = serve(dir.path(), operators, clients, client_token)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    (output.status.code(), said)
}

#[test]
fn a_token_pasted_into_the_operators_file_is_refused_unseen() {
    let pasted = "9f86d081884c7d659a2feaa0c55ad015";
    let (code, said) = refusal(
        &format!("[[operator]]\nname = \"alice\"\ntoken_env = \"{pasted}\"\n"),
        CLIENTS,
        ACME_TOKEN,
    );
    assert_eq!(code, Some(2), "{said}");
    assert_eq!(
        said,
        "lp-rfq: operators file 'operators.toml': operator 'alice': token_env must be the name of an environment variable: capital letters, digits and _, such as DESK_TOKEN_ALICE (its value is not shown: it may be a secret)\n"
    );
    assert!(!said.contains("9f86d081"));
}

#[test]
fn a_token_pasted_into_the_clients_file_is_refused_unseen() {
    let pasted = "sk_live_acme0123456789";
    let (code, said) = refusal(
        OPERATORS,
        &format!("[[client]]\nname = \"acme\"\ntoken_env = \"{pasted}\"\n"),
        ACME_TOKEN,
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.ends_with("clients file 'clients.toml' line 3: token_env in [[client]] 'acme' must be the name of an environment variable: capital letters, digits and _, such as CLIENT_TOKEN_ACME (its value is not shown: it may be a secret)\n"),
        "{said}"
    );
    assert!(
        !said.contains("sk_live") && !said.contains("0123456789"),
        "{said}"
    );
}

#[test]
fn a_client_with_an_operators_token_is_refused_naming_both() {
    let (code, said) = refusal(OPERATORS, CLIENTS, ALICE_TOKEN);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.ends_with("lp-rfq: client 'acme' has the same token as operator 'alice': each client and operator needs their own\n"),
        "{said}"
    );
    assert!(!said.contains(ALICE_TOKEN), "{said}");
}
