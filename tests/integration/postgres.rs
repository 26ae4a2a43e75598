//! The PostgreSQL blotter against a real server: a throw-away cluster this
//! test process starts (Debian's `postgresql` package: initdb, then
//! postgres on a unix socket in a temporary directory, as `nobody` when
//! the tests run as root, which initdb refuses). A server that cannot
//! start fails the tests with its reason; nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lp_rfq::blotter::postgres::{off_runtime, PgUrl};
use lp_rfq::blotter::report::{self, Filter};
use lp_rfq::blotter::{Blotter, BlotterAt};
use lp_rfq::rfq::event::{Released, Unverified};
use lp_rfq::rfq::{Channel, ClientId, EventKind, RfqEvent};
use rust_decimal_macros::dec;
use std::sync::Arc;

use crate::support::{empty_dir, lp_rfq_in};

/// A running PostgreSQL cluster, reached by its unix socket in `dir`.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    as_nobody: bool,
}

/// Where the tests' clusters live; a run's leftovers (its server ended
/// with the test process) are removed by the next run.
const PREFIX: &str = "lp-rfq-pg-";

impl Cluster {
    /// The cluster every test shares (one per test process).
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| Cluster::start().unwrap_or_else(|why| panic!("{why}")))
    }

    /// Starts a new cluster of its own (for a test that stops it).
    pub fn start() -> Result<Cluster, String> {
        sweep_leftovers();
        let bin = postgres_bin()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir()
            .map_err(|e| format!("cannot make a directory for PostgreSQL: {e}"))?
            .keep();
        let as_nobody = is_root();
        if as_nobody {
            run(Command::new("chown").arg("nobody").arg(&dir))?;
        }
        let cluster = Cluster {
            dir,
            bin,
            as_nobody,
        };
        let mut initdb = cluster.command("initdb");
        initdb
            .arg("-D")
            .arg(cluster.data())
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"]);
        run(&mut initdb).map_err(|why| format!("PostgreSQL's initdb failed: {why}"))?;
        cluster.serve()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// One of PostgreSQL's programs, as `nobody` when we are root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_nobody {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Starts the server and waits until it takes connections. It is this
    /// process's child, on a thread that lives as long as it: the server
    /// is told to stop (SIGINT, a fast shutdown) when this process ends,
    /// however it ends.
    fn serve(&self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join("server.log"))
            .map_err(|e| format!("cannot create the PostgreSQL log: {e}"))?;
        let mut server = if self.as_nobody {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .args(["--pdeathsig", "INT"])
                .arg(self.bin.join("postgres"));
            command
        } else {
            let mut command = Command::new("setpriv");
            command
                .args(["--pdeathsig", "INT"])
                .arg(self.bin.join("postgres"));
            command
        };
        server
            .arg("-D")
            .arg(self.data())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=", "-c", "fsync=off"])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let (started, outcome) = std::sync::mpsc::channel();
        std::thread::spawn(move || match server.spawn() {
            Ok(mut child) => {
                let _ = started.send(Ok(()));
                let _ = child.wait();
            }
            Err(error) => {
                let _ = started.send(Err(format!("cannot run postgres: {error}")));
            }
        });
        outcome.recv().map_err(|e| e.to_string())??;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let tried = off_runtime(|| self.admin().map(drop));
            match tried {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(error) => {
                    let log =
                        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                    return Err(format!(
                        "PostgreSQL did not start within 30 s ({error}); its log:\n{log}"
                    ));
                }
            }
        }
    }

    /// Stops the server at once (as a crash or a pulled cable would look
    /// to its clients).
    pub fn stop(&self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"]);
        run(&mut stop).expect("pg_ctl stop");
    }

    /// Starts it again after [`Cluster::stop`].
    pub fn restart(&self) {
        self.serve().expect("PostgreSQL starts again");
    }

    fn url_text(&self, database: &str) -> String {
        let socket = self.dir.display().to_string().replace('/', "%2F");
        format!("postgres://postgres@{socket}/{database}")
    }

    fn admin(&self) -> Result<postgres::Client, postgres::Error> {
        PgUrl::parse(&self.url_text("postgres"), None)
            .expect("the cluster's URL parses")
            .connect()
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        off_runtime(|| {
            self.admin()
                .and_then(|mut admin| admin.batch_execute(&format!("CREATE DATABASE {name}")))
                .expect("CREATE DATABASE")
        });
        self.url_text(&name)
    }
}

/// Runs `command`, its output kept for the message if it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{:?} exited with {}: {}{}",
        command.get_program(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The newest installed PostgreSQL's programs (Debian keeps them in
/// /usr/lib/postgresql/<version>/bin, off the PATH).
fn postgres_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            format!("PostgreSQL is not installed (/usr/lib/postgresql: {e}): apt-get install postgresql")
        })?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "PostgreSQL's initdb is not installed: apt-get install postgresql".into())
}

/// Removes the clusters of earlier test processes that have ended (their
/// servers ended with them). A directory is named after the process that
/// made it, so a cluster another running process is starting is kept.
fn sweep_leftovers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|name| name.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(owner.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The URL as the program reads it.
fn url(text: &str) -> PgUrl {
    PgUrl::parse(text, None).unwrap()
}

/// Records `streams` as `record` in blotter.rs does (interleaved), into
/// the blotter `at` written by desk `desk`.
async fn record_at(at: &BlotterAt, desk: &str, streams: &[Vec<RfqEvent>]) {
    let blotter = Blotter::open_at(at, desk).unwrap();
    let sink = blotter.sink();
    let longest = streams.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for stream in streams {
            if let Some(event) = stream.get(i) {
                sink.record(event.clone()).await;
            }
        }
    }
    drop(sink);
    let stats = blotter.close().await;
    let events: usize = streams.iter().map(Vec::len).sum();
    assert_eq!((stats.rows, stats.lost), (events as u64, 0), "{at}");
}

/// `lp-rfq report ARGS --blotter BLOTTER`'s standard output; it must
/// succeed, and print the same with every RFQ counted from its answers
/// (`LP_RFQ_REPORT_SCAN=1`) as from its `answer_summaries`.
fn report_output(blotter: &str, args: &[&str]) -> String {
    let run = |scan: bool| {
        let mut command = lp_rfq_in(empty_dir());
        command.env_remove(report::SCAN_ENV);
        if scan {
            command.env(report::SCAN_ENV, "1");
        }
        let output = command
            .arg("report")
            .args(args)
            .args(["--blotter", blotter])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "report {args:?} on {blotter}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let summed = run(false);
    assert_eq!(summed, run(true), "report {args:?} on {blotter}, scanned");
    summed
}

/// The by-hand fixture as a shared desk records it: RFQs for named
/// clients, asked by named operators or a client's own session, orders
/// with the ids their venues saw, and an LP's price held back as
/// unverified, then released by the operator.
fn desk_fixture() -> Vec<Vec<RfqEvent>> {
    let mut streams = crate::blotter::fixture();
    let who = [
        ("acme", Some("ana"), Channel::Ws),
        ("beta", Some("bo"), Channel::Operator),
        ("acme", None, Channel::Fix),
    ];
    assert_eq!(streams.len(), who.len());
    for (stream, (client, operator, channel)) in streams.iter_mut().zip(who) {
        for event in stream.iter_mut() {
            match &mut event.kind {
                EventKind::Started(started) => {
                    started.client = ClientId::new(client).unwrap();
                    started.operator = operator.map(Arc::from);
                    started.channel = channel;
                }
                EventKind::OrderSent(sent) => {
                    sent.client_order_id = Some(Arc::from(format!("cl-{}", sent.order_id)));
                }
                _ => {}
            }
        }
    }
    let first = &mut streams[0];
    let (rfq_id, t_ms) = (first[1].rfq_id.clone(), first[1].t_ms);
    let trust = |kind| RfqEvent {
        kind,
        rfq_id: rfq_id.clone(),
        t_ms,
        two_way_side: None,
    };
    let (lp, price) = (Arc::<str>::from("LP1"), dec!(100000.00));
    first.insert(
        2,
        trust(EventKind::Unverified(Unverified {
            lp: lp.clone(),
            price,
        })),
    );
    first.insert(3, trust(EventKind::Released(Released { lp, price })));
    streams
}

/// A two-way RFQ as it ran: both sides quoted and locked apart, B
/// improving the offer, the client selling at the bid.
fn two_way_stream() -> Vec<RfqEvent> {
    use crate::support::{params, run_two_way_with_commands, spec, with_reference};
    use lp_rfq::market::Side;
    use lp_rfq::rfq::StreamCommand;
    // Its own paused clock, on a thread of its own (the caller's runtime
    // is not paused, and a runtime cannot start inside another).
    let two_way = off_runtime(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(run_two_way_with_commands(
            spec(Side::Buy),
            crate::two_way::lps(),
            with_reference(params()),
            2_000,
            vec![(
                1_000,
                StreamCommand::AcceptSide {
                    side: Side::Sell,
                    quote_id: None,
                },
            )],
        ))
    });
    assert!(
        two_way.iter().any(|e| e.two_way_side == Some(Side::Sell))
            && two_way.iter().any(|e| e.two_way_side == Some(Side::Buy)),
        "both sides ran"
    );
    two_way
}

/// The two-way stream beside the by-hand one-sided ones: the sides go
/// into `answers.side` and `lock_events.side`, and the report counts the
/// side taken.
fn two_way_fixture() -> Vec<Vec<RfqEvent>> {
    let mut streams = crate::blotter::fixture();
    streams.insert(1, two_way_stream());
    streams
}

/// What a venue said later of the fixture's unknown order, appended as
/// reconciliation appends it (the same statement on both stores).
const RECONCILED: &str = "INSERT INTO executions (rfq, seq, t_ms, at, at_ms, event, order_id, lp,
     reason, venue_order_id, simulated, reconciled_by, reconciled_at)
     SELECT rfq, seq + 100, t_ms, '2026-11-23T09:00:00.000Z', 1795424400000, 'order_rejected',
            order_id, lp, 'not executed: the venue never saw it', 'T-404', 0,
            'LP1 status at start-up', '2026-11-23T09:00:00.000Z'
     FROM executions WHERE event = 'execution_unknown'";

/// A head of desk (cy) who attached to ana's RFQ R-A and accepted it, as
/// the desk server records it (the same statement on both stores).
const ACCEPTED_BY_ANOTHER: &str =
    "INSERT INTO desk_actions (at, at_ms, desk, operator, action, rfq_id)
     VALUES ('2026-11-23T09:01:00.000Z', 1795424460000, 'desk-a', 'cy', 'accept', 'R-A')";

#[tokio::test]
async fn the_same_events_give_byte_identical_reports_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    for (name, streams) in [
        ("by-hand", crate::blotter::fixture()),
        ("shared-desk", desk_fixture()),
        ("interleaved", crate::blotter::interleaved_fixture()),
        ("two-way", two_way_fixture()),
    ] {
        let file = dir.path().join(format!("{name}.db"));
        let database = Cluster::shared().database();
        record_at(&BlotterAt::File(file.clone()), "desk-a", &streams).await;
        record_at(&BlotterAt::Postgres(url(&database)), "desk-a", &streams).await;
        if name == "shared-desk" {
            let appended = rusqlite::Connection::open(&file)
                .unwrap()
                .execute(RECONCILED, [])
                .unwrap();
            assert_eq!(appended, 1);
            let accepted = rusqlite::Connection::open(&file)
                .unwrap()
                .execute(ACCEPTED_BY_ANOTHER, [])
                .unwrap();
            assert_eq!(accepted, 1);
            off_runtime(|| {
                let mut db = url(&database).connect().unwrap();
                assert_eq!(db.execute(RECONCILED, &[]).unwrap(), 1);
                assert_eq!(db.execute(ACCEPTED_BY_ANOTHER, &[]).unwrap(), 1);
            });
        }
        let file = file.display().to_string();
        for args in [
            &[][..],
            &["--json"],
            &["--csv", "--section", "rfqs"],
            &["--lp", "LP2", "--json"],
            &["--pair", "ETHUSDT"],
            &["--last", "2", "--json"],
            &["--section", "clients"],
            &["--csv", "--section", "clients"],
            &["--section", "operators"],
            &["--csv", "--section", "operators"],
            &["--client", "acme", "--json"],
            &["--operator", "bo", "--json"],
            &["--operator", "cy", "--json"],
            &["--operator", "cy", "--section", "operators"],
        ] {
            let on_sqlite = report_output(&file, args);
            let on_postgres = report_output(&database, args);
            assert!(on_sqlite.len() > 30, "{name} {args:?}: {on_sqlite}");
            assert_eq!(on_postgres, on_sqlite, "{name} report {args:?}");
        }
        if name == "two-way" {
            // Counted once, by the side the client took.
            let json: serde_json::Value =
                serde_json::from_str(&report_output(&database, &["--json"])).unwrap();
            let sides: Vec<&str> = json["rfqs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|rfq| rfq["side"].as_str().unwrap())
                .collect();
            assert!(sides.contains(&"two-way sell"), "{sides:?}");
            assert_eq!(sides.len(), 4, "{sides:?}");
        }
        if name == "shared-desk" {
            // The sections and columns compared above hold what the
            // fixture gave them, not empty tables on both sides.
            let json = report_output(&database, &["--json"]);
            for shown in [
                "\"reconciled_by\":\"LP1 status at start-up\"",
                "\"client_order_id\":\"cl-O-2\"",
                "\"venue_order_id\":\"T-404\"",
            ] {
                assert!(json.contains(shown), "{shown} in {json}");
            }
            let clients = report_output(&database, &["--csv", "--section", "clients"]);
            assert_eq!(
                clients.lines().filter(|l| l.starts_with("acme,")).count(),
                1,
                "{clients}"
            );
            assert_eq!(
                clients.lines().filter(|l| l.starts_with("beta,")).count(),
                1,
                "{clients}"
            );
            let operators = report_output(&database, &["--csv", "--section", "operators"]);
            for operator in ["ana,", "bo,", "cy,"] {
                assert_eq!(
                    operators
                        .lines()
                        .filter(|l| l.starts_with(operator))
                        .count(),
                    1,
                    "{operators}"
                );
            }
            // cy only accepted ana's RFQ: `--operator cy` lists it, counted
            // as cy's accept and not as cy's RFQ.
            let cys: serde_json::Value =
                serde_json::from_str(&report_output(&database, &["--json", "--operator", "cy"]))
                    .unwrap();
            assert_eq!(
                (
                    cys["rfqs"].as_array().unwrap().len(),
                    &cys["rfqs"][0]["rfq_id"],
                    &cys["operators"][0]["operator"],
                    &cys["operators"][0]["rfqs"],
                    &cys["operators"][0]["accepted"],
                ),
                (
                    1,
                    &serde_json::json!("R-A"),
                    &serde_json::json!("cy"),
                    &serde_json::json!(0),
                    &serde_json::json!(1)
                ),
                "{cys}"
            );
        }
        // On several threads too: the answers pass's readers share the
        // first one's snapshot.
        let filter = Filter::default();
        let on_one =
            off_runtime(|| report::load_postgres(&url(&database), &filter, None, Some(1))).unwrap();
        for workers in [2, 5] {
            let on_many = off_runtime(|| {
                report::load_postgres(&url(&database), &filter, None, Some(workers))
            })
            .unwrap();
            assert_eq!(on_many, on_one, "{name}: {workers} readers");
        }
        assert_eq!(
            on_one,
            crate::blotter::load_checked(Path::new(&file), &filter).unwrap(),
            "{name}"
        );
    }
}

/// The same streams written to SQLite and to PostgreSQL replay to the same
/// events, each side of a two-way RFQ and a journal's late outcome (read
/// back as the stream ran, without it) included; a database never written
/// is refused as a missing blotter.
#[tokio::test]
async fn a_stream_written_to_postgres_replays_to_the_same_events_as_from_sqlite() {
    use lp_rfq::blotter::read::{stored_rfqs, stored_rfqs_at};
    let dir = tempfile::tempdir().unwrap();
    let mut streams = desk_fixture();
    streams.extend(crate::blotter::interleaved_fixture());
    streams.push(two_way_stream());
    let file = dir.path().join("blotter.db");
    let database = Cluster::shared().database();
    record_at(&BlotterAt::File(file.clone()), "desk-a", &streams).await;
    record_at(&BlotterAt::Postgres(url(&database)), "desk-a", &streams).await;
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute(RECONCILED, [])
        .unwrap();
    off_runtime(|| url(&database).connect().unwrap().execute(RECONCILED, &[])).unwrap();

    let events = |stored: Vec<lp_rfq::blotter::read::StoredRfq>| -> Vec<Vec<RfqEvent>> {
        stored.into_iter().map(|rfq| rfq.events).collect()
    };
    let from_sqlite = events(stored_rfqs(&file).unwrap());
    let from_postgres = events(stored_rfqs_at(&BlotterAt::Postgres(url(&database))).unwrap());
    assert_eq!(from_postgres.len(), streams.len());
    assert_eq!(from_postgres, from_sqlite);
    // The two-way stream, last started, is the one that ran, side by side.
    assert_eq!(from_postgres.last(), streams.last());
    assert_eq!(
        events(stored_rfqs_at(&BlotterAt::File(file.clone())).unwrap()),
        from_sqlite
    );

    let never_written = Cluster::shared().database();
    let refused = stored_rfqs_at(&BlotterAt::Postgres(url(&never_written))).unwrap_err();
    assert_eq!(
        refused.to_string(),
        format!(
            "blotter '{}' does not exist: nothing recorded yet",
            url(&never_written)
        )
    );
}

/// Every row of `sql` as text, on SQLite.
fn sqlite_rows(file: &Path, sql: &str) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let conn = rusqlite::Connection::open(file).unwrap();
    let mut select = conn.prepare(sql).unwrap();
    let columns: Vec<String> = select
        .column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let count = columns.len();
    let rows = select
        .query_map([], |row| {
            (0..count)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => None,
                        rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                        rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                        rusqlite::types::ValueRef::Text(t) => {
                            Some(String::from_utf8_lossy(t).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(_) => Some("<blob>".into()),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (columns, rows)
}

/// Every row of `sql` as text, on PostgreSQL (each column cast to text
/// by the query).
fn postgres_rows(database: &str, sql: &str) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    off_runtime(|| {
        let mut client = url(database).connect().unwrap();
        let statement = client.prepare(sql).unwrap();
        let columns = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let rows = client
            .query(&statement, &[])
            .unwrap()
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.get::<_, Option<String>>(i))
                    .collect()
            })
            .collect();
        (columns, rows)
    })
}

/// Every row of `sql` on the database at `database`, each column as text
/// (NULL as empty): what a test compares with its expectation.
pub fn rows_of(database: &str, sql: &str) -> Vec<Vec<String>> {
    let as_text = format!("SELECT * FROM ({sql}) AS q");
    off_runtime(|| {
        let mut client = url(database).connect().unwrap();
        let statement = client.prepare(&as_text).unwrap();
        let count = statement.columns().len();
        let casts: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| format!("coalesce(q.{}::text, '')", c.name()))
            .collect();
        assert_eq!(casts.len(), count);
        client
            .query(
                &format!("SELECT {} FROM ({sql}) AS q", casts.join(", ")),
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| (0..count).map(|i| row.get::<_, String>(i)).collect())
            .collect()
    })
}

#[tokio::test]
async fn the_views_have_the_same_names_columns_and_rows_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blotter.db");
    let database = Cluster::shared().database();
    let mut streams = desk_fixture();
    {
        // Both ways a decimal is stored: packed (eight decimals, a whole
        // number) and, too large to pack, as its text.
        let mut quotes = streams
            .iter_mut()
            .flatten()
            .filter_map(|event| match &mut event.kind {
                EventKind::LpQuote(quote) => Some(quote),
                _ => None,
            });
        let (first, second) = (quotes.next().unwrap(), quotes.next().unwrap());
        (first.price, first.quantity) = (dec!(100000000000000000000.00), dec!(0.00000001));
        (second.price, second.quantity) = (dec!(99999.99), dec!(150));
    }
    streams.push(two_way_stream());
    record_at(&BlotterAt::File(file.clone()), "desk-a", &streams).await;
    record_at(&BlotterAt::Postgres(url(&database)), "desk-a", &streams).await;
    let (_, stored) = postgres_rows(
        &database,
        "SELECT price, quantity FROM lp_quotes
         WHERE price IN ('100000000000000000000.00', '99999.99') ORDER BY price COLLATE \"C\"",
    );
    assert_eq!(
        stored,
        [
            [
                Some("100000000000000000000.00".into()),
                Some("0.00000001".into())
            ],
            [Some("99999.99".into()), Some("150".into())]
        ]
    );
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute(RECONCILED, [])
        .unwrap();
    off_runtime(|| url(&database).connect().unwrap().execute(RECONCILED, &[])).unwrap();
    // The tables' columns the views leave out: who asked, by which
    // channel, and the trust decisions among the lock events.
    for (table, sql) in [
        (
            "rfqs",
            "SELECT id, rfq_id, client, operator, channel, fixed, desk, two_way FROM rfqs
             ORDER BY rfqs.id",
        ),
        (
            "lock_events",
            "SELECT rfq, seq, event, lp, price, previous_lp, reason, side FROM lock_events
             ORDER BY lock_events.rfq, lock_events.seq",
        ),
        (
            "executions",
            "SELECT rfq, seq, event, order_id, client_order_id, venue_order_id, reconciled_by,
             reconciled_at FROM executions ORDER BY executions.rfq, executions.seq",
        ),
    ] {
        // Ordered by the table's columns, not the text the query makes of
        // them.
        let (columns, rows) = sqlite_rows(&file, sql);
        let as_text: Vec<String> = columns.iter().map(|c| format!("{c}::text")).collect();
        let from = sql.split_once(" FROM ").unwrap().1;
        let (_, pg_rows) = postgres_rows(
            &database,
            &format!("SELECT {} FROM {from}", as_text.join(", ")),
        );
        assert!(!rows.is_empty(), "{table} has rows");
        assert_eq!(pg_rows, rows, "{table}'s rows");
    }
    let (_, trust) = sqlite_rows(
        &file,
        "SELECT event FROM lock_events WHERE event IN ('unverified', 'released') ORDER BY seq",
    );
    assert_eq!(trust.len(), 2, "the fixture's unverified and released rows");
    for view in ["lp_answers", "lp_quotes", "lp_errors", "orders", "fills"] {
        let (columns, rows) = sqlite_rows(&file, &format!("SELECT * FROM {view} ORDER BY 1, 2, 3"));
        let (pg_columns, _) = postgres_rows(&database, &format!("SELECT * FROM {view} LIMIT 0"));
        assert_eq!(pg_columns, columns, "{view}'s columns");
        let as_text: Vec<String> = columns.iter().map(|c| format!("{c}::text")).collect();
        // Ordered by the columns themselves, not their text.
        let order: Vec<String> = columns[..3].iter().map(|c| format!("{view}.{c}")).collect();
        let (_, pg_rows) = postgres_rows(
            &database,
            &format!(
                "SELECT {} FROM {view} ORDER BY {}",
                as_text.join(", "),
                order.join(", ")
            ),
        );
        assert!(!rows.is_empty() || view == "fills", "{view} has rows");
        assert_eq!(pg_rows, rows, "{view}'s rows");
    }
}

/// Answers as schema 5 stored them: prices and quantities as text, no
/// packed columns (the views that show them go with the columns).
const AS_SCHEMA_5: &str = "
    UPDATE answers SET price = coalesce(price, unpacked_decimal(price_packed)),
                       quantity = coalesce(quantity, unpacked_decimal(quantity_packed));
    ALTER TABLE answers DROP COLUMN price_packed CASCADE;
    ALTER TABLE answers DROP COLUMN quantity_packed CASCADE;
    UPDATE schema_version SET version = 5;";

#[tokio::test]
async fn a_report_reads_a_database_an_older_lp_rfq_wrote_as_it_is_with_the_same_figures() {
    let database = Cluster::shared().database();
    record_at(
        &BlotterAt::Postgres(url(&database)),
        "desk-a",
        &crate::blotter::interleaved_fixture(),
    )
    .await;
    let packed = report_output(&database, &[]);
    off_runtime(|| url(&database).connect().unwrap().batch_execute(AS_SCHEMA_5)).unwrap();
    assert_eq!(report_output(&database, &[]), packed);
    let version: i32 = off_runtime(|| {
        url(&database)
            .connect()
            .unwrap()
            .query_one("SELECT version FROM schema_version", &[])
            .unwrap()
            .get(0)
    });
    assert_eq!(
        version, 5,
        "the report reads it as it is, never upgrading it"
    );
}

#[test]
fn a_database_written_by_a_newer_lp_rfq_is_refused_naming_both_versions() {
    let database = Cluster::shared().database();
    off_runtime(|| {
        let mut client = url(&database).connect().unwrap();
        client
            .batch_execute(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version VALUES (99);",
            )
            .unwrap();
    });
    let shown = url(&database).to_string();
    let expected = format!(
        "lp-rfq: blotter '{shown}' has schema version 99, newer than this lp-rfq understands (9): upgrade lp-rfq or use another --blotter\n"
    );
    let report = lp_rfq_in(empty_dir())
        .args(["report", "--blotter", &database])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&report.stderr), expected);
    assert_eq!(report.status.code(), Some(2));
    let quote = lp_rfq_in(empty_dir())
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--scenario",
            "last-look",
            "--plain",
        ])
        .args(["--blotter", &database])
        .output()
        .unwrap();
    assert!(!quote.status.success());
    assert_eq!(String::from_utf8_lossy(&quote.stderr), expected);
}

/// Three streams from the binary into `blotter`, one by desk-a and two by
/// desk-b; `report --desk-name` must take each desk's alone.
fn three_streams_by_two_desks_are_reported_per_desk(blotter: &str) {
    for desk in ["desk-a", "desk-b", "desk-b"] {
        let output = lp_rfq_in(empty_dir())
            .args(["quote", "buy", "1", "BTCUSDT", "--scenario", "last-look"])
            .args([
                "--speed",
                "20",
                "--duration",
                "5",
                "--accept-after",
                "1s",
                "--plain",
            ])
            .args(["--blotter", blotter, "--desk-name", desk])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let rfqs = |args: &[&str]| -> usize {
        let json: serde_json::Value =
            serde_json::from_str(&report_output(blotter, &[&["--json"], args].concat())).unwrap();
        json["rfqs"].as_array().unwrap().len()
    };
    assert_eq!(rfqs(&[]), 3, "{blotter}");
    assert_eq!(rfqs(&["--desk-name", "desk-a"]), 1, "{blotter}");
    assert_eq!(rfqs(&["--desk-name", "desk-b"]), 2, "{blotter}");
    assert_eq!(rfqs(&["--desk-name", "desk-c"]), 0, "{blotter}");
}

#[test]
fn an_sqlite_blotter_names_its_desk_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blotter.db");
    three_streams_by_two_desks_are_reported_per_desk(&file.display().to_string());
    let (_, desks) = sqlite_rows(
        &file,
        "SELECT desk, count(*) FROM rfqs GROUP BY desk ORDER BY desk",
    );
    let some = |text: &str| Some(text.to_string());
    assert_eq!(
        desks,
        [
            vec![some("desk-a"), some("1")],
            vec![some("desk-b"), some("2")]
        ]
    );
}

#[test]
fn streams_run_from_the_binary_are_recorded_and_reported_per_desk() {
    let database = Cluster::shared().database();
    three_streams_by_two_desks_are_reported_per_desk(&database);
    // Every RFQ row names its desk; store ids are one sequence.
    let (_, desks) = postgres_rows(
        &database,
        "SELECT desk, count(*)::text, count(DISTINCT id)::text FROM rfqs GROUP BY desk ORDER BY desk",
    );
    let some = |text: &str| Some(text.to_string());
    assert_eq!(
        desks,
        [
            vec![some("desk-a"), some("1"), some("1")],
            vec![some("desk-b"), some("2"), some("2")]
        ]
    );
}

#[test]
fn a_password_in_the_url_is_refused_without_repeating_it() {
    let output = lp_rfq_in(empty_dir())
        .args([
            "report",
            "--blotter",
            "postgres://desk:hunter2@localhost/blotter",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid BLOTTER_PATH 'postgres://desk:***@localhost/blotter' (--blotter): has a password in it: leave it out of the URL and set PGPASSWORD instead\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_server_holds_the_writes_fails_closed_and_writes_them_on_reconnect() {
    let cluster = Cluster::start().unwrap_or_else(|why| panic!("{why}"));
    let database = cluster.database();
    let at = BlotterAt::Postgres(url(&database));
    let streams = crate::blotter::fixture();
    let (first, rest) = streams.split_at(1);
    let blotter = Blotter::open_at(&at, "desk-a").unwrap();
    let sink = blotter.sink();
    for event in &first[0] {
        sink.record(event.clone()).await;
    }
    sink.flush().await;
    assert_eq!(blotter.failure(), None);

    cluster.stop();
    // The writer's check notices within a second, with nothing written.
    let deadline = Instant::now() + Duration::from_secs(10);
    while blotter.failure().is_none() {
        assert!(
            Instant::now() < deadline,
            "the lost server is never noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failure = blotter.failure().unwrap();
    assert!(
        failure.starts_with(&format!("blotter '{}'", url(&database))),
        "{failure}"
    );
    for stream in rest {
        for event in stream {
            sink.record(event.clone()).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.held() == 0 {
        assert!(Instant::now() < deadline, "the writes are never held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(blotter.failure().is_some(), "still failing closed");

    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while blotter.failure().is_some() {
        assert!(Instant::now() < deadline, "writing never resumes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(sink);
    let stats = blotter.close().await;
    let events: usize = streams.iter().map(Vec::len).sum();
    assert_eq!((stats.rows, stats.lost), (events as u64, 0));
    // Everything is there once, as if the server had never gone.
    let file = tempfile::tempdir().unwrap();
    let sqlite = BlotterAt::File(file.path().join("b.db"));
    record_at(&sqlite, "desk-a", &streams).await;
    assert_eq!(
        report_output(&database, &["--json"]),
        report_output(&sqlite.to_string(), &["--json"])
    );
    cluster.stop();
}

#[test]
fn a_bench_into_postgres_puts_every_valid_answer_on_disk_and_the_report_counts_them() {
    let database = Cluster::shared().database();
    let output = lp_rfq_in(empty_dir())
        .args(["bench", "--sessions", "50", "--lps", "4", "--duration", "1"])
        .args(["--poll-ms", "100", "--lp-delay-ms", "5"])
        .args(["--blotter", &database])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bench: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let valid = bench["valid_answers"].as_u64().unwrap();
    // Every LP answer (valid or not) is a row; the report counts them.
    let answers =
        valid + bench["timeouts"].as_u64().unwrap() + bench["lp_errors"].as_u64().unwrap();
    assert!(valid > 50 * 4, "{bench}");
    assert_eq!(bench["blotter_rows"].as_u64(), Some(answers), "{bench}");
    let report: serde_json::Value =
        serde_json::from_str(&report_output(&database, &["--json"])).unwrap();
    let reported: u64 = report["lps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lp| lp["answers"].as_u64().unwrap())
        .sum();
    assert_eq!(reported, valid, "{report}");
    assert_eq!(report["rfqs"].as_array().unwrap().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_desks_writing_one_database_at_once_each_get_their_own_report() {
    let database = Cluster::shared().database();
    let streams = crate::blotter::interleaved_fixture();
    let at = BlotterAt::Postgres(url(&database));
    // The same RFQ ids from both desks, their batches interleaved in one
    // database: the store's ids and each RFQ's answer span keep them apart.
    tokio::join!(
        record_at(&at, "desk-a", &streams),
        record_at(&at, "desk-b", &streams)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one-desk.db");
    record_at(&BlotterAt::File(file.clone()), "desk-a", &streams).await;
    let alone = report_output(&file.display().to_string(), &["--json"]);
    for desk in ["desk-a", "desk-b"] {
        assert_eq!(
            report_output(&database, &["--json", "--desk-name", desk]),
            alone,
            "{desk}"
        );
    }
    let both: serde_json::Value =
        serde_json::from_str(&report_output(&database, &["--json"])).unwrap();
    assert_eq!(
        both["rfqs"].as_array().unwrap().len(),
        2 * streams.len(),
        "both desks' RFQs"
    );
}

/// `lp-rfq ARGS --blotter DATABASE` in `dir` with the fake venues' secrets,
/// off the test's runtime (the fakes run on it).
async fn run_on(dir: &Path, database: &str, args: &[&str]) -> std::process::Output {
    let dir = dir.to_path_buf();
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.extend(["--blotter".to_string(), database.to_string()]);
    tokio::task::spawn_blocking(move || {
        lp_rfq_in(&dir)
            .env("E2E_B2C2_TOKEN", crate::fake_venues::B2C2_TOKEN)
            .env("E2E_BINANCE_KEY", crate::fake_venues::BINANCE_KEY)
            .env("E2E_BINANCE_SECRET", crate::fake_venues::BINANCE_SECRET)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_lines_of(output: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Start-up reconciliation and `lp-rfq orders` on PostgreSQL, from the
/// binary: an order whose answer never came is listed as unknown with the
/// id the venue saw; the venue fills it while lp-rfq is down; the next
/// start asks the venue, appends the fill after the earlier rows (kept as
/// they were) and says so; `orders` and `report` agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_order_on_postgres_is_resolved_with_its_venue_at_the_next_start() {
    use crate::fake_venues::{FakeB2c2, FakeBinance, Reply};
    let database = Cluster::shared().database();
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    b2c2.answer_next_order(Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lps.toml"),
        format!(
            r#"
[[lp]]
name = "B2C2"
kind = "b2c2"
url = "{}"
token_env = "E2E_B2C2_TOKEN"
symbol = "{{base}}{{quote}}.SPOT"
timeout_ms = 800
order_timeout_ms = 500

[[lp]]
name = "Binance"
kind = "binance-convert"
url = "{}"
key_env = "E2E_BINANCE_KEY"
secret_env = "E2E_BINANCE_SECRET"
order_timeout_ms = 1000
"#,
            b2c2.url, binance.url
        ),
    )
    .unwrap();
    let quote = [
        "quote", "buy", "1", "BTCUSDT", "--json", "--lps", "lps.toml",
    ];
    let first = run_on(
        dir.path(),
        &database,
        &[&quote[..], &["--duration", "4", "--accept-after", "1s"]].concat(),
    )
    .await;
    assert_eq!(first.status.code(), Some(3), "{}", stderr_of(&first));
    let sent = json_lines_of(&first)
        .into_iter()
        .find(|e| e["event"] == "order_sent")
        .expect("an order was sent");
    let order_id = sent["order_id"].as_str().unwrap().to_string();
    let client_order_id = sent["client_order_id"].as_str().unwrap().to_string();

    let open = run_on(dir.path(), &database, &["orders", "--unresolved", "--json"]).await;
    assert!(open.status.success(), "{}", stderr_of(&open));
    let listed = json_lines_of(&open);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["order_id"], order_id.as_str());
    assert_eq!(listed[0]["client_order_id"], client_order_id.as_str());
    assert_eq!(listed[0]["lp"], "B2C2");
    assert_eq!(listed[0]["price"], "100010.00");
    assert_eq!(listed[0]["outcome"], "unknown");

    assert_eq!(b2c2.fill_last_order_later(), client_order_id);
    let second = run_on(
        dir.path(),
        &database,
        &[&quote[..], &["--duration", "1"]].concat(),
    )
    .await;
    assert!(second.status.success(), "{}", stderr_of(&second));
    assert_eq!(
        stderr_of(&second),
        "lp-rfq: 1 order without an outcome on record: 1 filled, 0 not executed, 0 still open (asked B2C2 by GET /order/<client_order_id>/)\n"
    );
    let (_, rows) = postgres_rows(
        &database,
        &format!(
            "SELECT event, coalesce(desk_pnl, '-'), coalesce(client_order_id, '-'),
                    coalesce(reconciled_by, '-'), (reconciled_at IS NOT NULL)::text
             FROM executions WHERE order_id = '{order_id}' ORDER BY seq"
        ),
    );
    let rows: Vec<String> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(Option::unwrap)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        rows,
        [
            format!("order_sent - {client_order_id} - false"),
            "execution_unknown - - - false".to_string(),
            // Client price 100010.00 × 1.0005 → 100060.01: the desk keeps 50.01.
            "filled 50.01 - B2C2 GET /order/<client_order_id>/ at start-up true".to_string(),
        ]
    );
    let open = run_on(dir.path(), &database, &["orders", "--unresolved"]).await;
    assert_eq!(
        String::from_utf8_lossy(&open.stdout),
        "no orders without an outcome\n"
    );
    let report = run_on(dir.path(), &database, &["report", "--json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let b2c2_row = report["lps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["lp"] == "B2C2")
        .unwrap()
        .clone();
    assert_eq!(
        (
            b2c2_row["orders"].as_u64(),
            b2c2_row["fills"].as_u64(),
            b2c2_row["unknown"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    // A third start finds nothing left to ask.
    let third = run_on(
        dir.path(),
        &database,
        &[&quote[..], &["--duration", "1"]].concat(),
    )
    .await;
    assert_eq!(stderr_of(&third), "");
    assert_eq!(b2c2.status_requests(), 2);
}

/// A client's daily limit counts what a PostgreSQL blotter holds across a
/// restart, as an SQLite file's.
#[test]
fn the_daily_limit_counts_what_a_postgres_blotter_holds_across_a_restart() {
    let database = Cluster::shared().database();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clients.toml"),
        "[[client]]\nname = \"acme\"\nmarkup_bps = \"8\"\ndaily_notional = \"150000\"\n",
    )
    .unwrap();
    let quote = |args: &[&str]| {
        lp_rfq_in(dir.path())
            .arg("quote")
            .args(args)
            .args(["--clients", "clients.toml", "--json", "--seed", "7"])
            .args(["--speed", "10", "--blotter", &database])
            .output()
            .unwrap()
    };
    let first = quote(&[
        "buy",
        "1",
        "BTCUSDT",
        "--client",
        "acme",
        "--duration",
        "2",
        "--accept-after",
        "1s",
    ]);
    assert!(first.status.success(), "{}", stderr_of(&first));
    let filled = json_lines_of(&first)
        .into_iter()
        .find(|line| line["event"] == "filled")
        .expect("the first run fills");
    let pays: rust_decimal::Decimal = filled["client_pays"].as_str().unwrap().parse().unwrap();
    let left = rust_decimal::Decimal::from(150_000) - pays;
    let second = quote(&["buy", "0.5", "BTCUSDT", "--client", "acme"]);
    assert_eq!(second.status.code(), Some(2));
    assert_eq!(
        stderr_of(&second),
        format!(
            "lp-rfq: client 'acme': notional 50,000.00 USDT is above what is left of its daily_notional of 150,000 USDT (filled today, UTC: {} USDT; headroom {} USDT)\n",
            crate::clients::grouped(pays),
            crate::clients::grouped(left)
        )
    );
}

/// The desk's own reference prices come back from a PostgreSQL blotter
/// at a restart, as from a file: B2C2 alone is held back on an empty
/// database, offered at once after a corroborated lock there, and held
/// back again once that lock is older than the age limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_restarted_on_postgres_offers_a_lone_lp_near_its_recent_lock() {
    use crate::fake_venues::{FakeB2c2, FakeBinance};
    let database = Cluster::shared().database();
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    let dir = tempfile::tempdir().unwrap();
    let b2c2_lp = format!(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"{}\"\ntoken_env = \"E2E_B2C2_TOKEN\"\n",
        b2c2.url
    );
    let binance_lp = format!(
        "\n[[lp]]\nname = \"Binance\"\nkind = \"binance-convert\"\nurl = \"{}\"\n\
         key_env = \"E2E_BINANCE_KEY\"\nsecret_env = \"E2E_BINANCE_SECRET\"\n",
        binance.url
    );
    std::fs::write(dir.path().join("alone.toml"), &b2c2_lp).unwrap();
    std::fs::write(dir.path().join("both.toml"), b2c2_lp + &binance_lp).unwrap();
    let first_moment = |output: &std::process::Output| -> Vec<String> {
        json_lines_of(output)
            .iter()
            .take(3)
            .map(|event| event["event"].as_str().unwrap().to_string())
            .collect()
    };
    let quote = ["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "1"];
    let alone = [&quote[..], &["--lps", "alone.toml"]].concat();

    let lone = run_on(dir.path(), &database, &alone).await;
    assert_eq!(first_moment(&lone), ["started", "lp_quote", "unverified"]);
    let both = run_on(
        dir.path(),
        &database,
        &[&quote[..], &["--lps", "both.toml"]].concat(),
    )
    .await;
    assert!(both.status.success(), "{}", stderr_of(&both));
    let second = run_on(dir.path(), &database, &alone).await;
    assert_eq!(
        first_moment(&second),
        ["started", "lp_quote", "client_quote"]
    );
    // Ten minutes old: beyond the 300 s default.
    off_runtime(|| {
        url(&database)
            .connect()
            .unwrap()
            .execute("UPDATE lock_events SET at_ms = at_ms - 600000", &[])
            .unwrap()
    });
    let third = run_on(dir.path(), &database, &alone).await;
    assert_eq!(first_moment(&third), ["started", "lp_quote", "unverified"]);
}

/// PostgreSQL's `desk_actions` give back what SQLite's do: the latest
/// pause row of each client and of the kill switch, one desk's own rows
/// only, after every row handed over before (the writer keeps order).
#[test]
fn the_pauses_in_force_are_each_desk_s_latest_pause_rows() {
    use lp_rfq::blotter::desk_actions::{DeskAction, DeskActionRecords, DeskActionRow};
    use lp_rfq::blotter::postgres::PgDeskActions;
    let database = Cluster::shared().database();
    // The desk brings the database to the current schema first.
    off_runtime(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(record_at(
            &BlotterAt::Postgres(url(&database)),
            "desk-a",
            &[],
        ));
    });
    let pause = |operator: &str, action, client: Option<&str>| DeskActionRow {
        operator: operator.into(),
        action,
        client: client.map(str::to_string),
        rfq_id: None,
        quote_id: None,
        side: None,
    };
    let actions = PgDeskActions::open(&url(&database), "desk-a").unwrap();
    for (operator, action, client) in [
        ("alice", DeskAction::PauseClient, Some("acme")),
        ("alice", DeskAction::PauseClient, Some("beta")),
        ("bob", DeskAction::ResumeClient, Some("acme")),
        ("bob", DeskAction::KillSwitchOn, None),
        ("bob", DeskAction::KillSwitchOff, None),
        ("alice", DeskAction::KillSwitchOn, None),
    ] {
        actions.record(&pause(operator, action, client)).unwrap();
    }
    let other = PgDeskActions::open(&url(&database), "desk-b").unwrap();
    other
        .record(&pause("carol", DeskAction::PauseClient, Some("acme")))
        .unwrap();
    let in_force = |actions: &PgDeskActions| -> Vec<(Option<String>, String)> {
        actions
            .pauses_in_force()
            .unwrap()
            .into_iter()
            .map(|pause| (pause.client, pause.operator))
            .collect()
    };
    assert_eq!(
        in_force(&actions),
        [
            (Some("beta".to_string()), "alice".to_string()),
            (None, "alice".to_string())
        ]
    );
    drop(other);
    drop(actions);
    let reopened = PgDeskActions::open(&url(&database), "desk-b").unwrap();
    assert_eq!(
        in_force(&reopened),
        [(Some("acme".to_string()), "carol".to_string())]
    );
    assert_eq!(
        rows_of(&database, "SELECT count(*)::text FROM desk_actions"),
        [["7"]]
    );
}

/// The summaries a PostgreSQL writer leaves are the ones SQLite's writer
/// leaves for the same streams, row for row, and the report read from
/// them is the one counted from every answer, whatever the filter or the
/// number of readers.
#[tokio::test]
async fn ended_rfqs_are_summed_alike_on_both_stores_and_reported_as_from_every_answer() {
    use lp_rfq::blotter::report::Answers;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blotter.db");
    let database = Cluster::shared().database();
    let mut streams = crate::blotter::interleaved_fixture();
    streams.extend(crate::blotter::two_way_interleaved_fixture());
    record_at(&BlotterAt::File(file.clone()), "desk-a", &streams).await;
    record_at(&BlotterAt::Postgres(url(&database)), "desk-a", &streams).await;
    let summaries = "SELECT r.rfq_id, s.side, l.name,
                            CASE WHEN s.first_answer > 0 THEN 'yes' END AS first_answer,
                            CAST(s.answers AS TEXT) AS answers, s.errors, s.latencies,
                            s.distance_units, s.distance_spilled,
                            CAST(s.distances AS TEXT) AS distances
                     FROM answer_summaries s JOIN rfqs r ON r.id = s.rfq
                     JOIN lps l ON l.id = s.lp
                     ORDER BY r.rfq_id, s.side, l.name";
    let on_postgres = postgres_rows(&database, summaries);
    assert_eq!(on_postgres, sqlite_rows(&file, summaries));
    // 20 one-sided RFQs ended with 4 LPs each, 8 two-way ones with 4 LPs
    // on each side.
    assert_eq!(on_postgres.1.len(), 20 * 4 + 8 * 2 * 4);
    let parse = |since, until, pair, lp, last| Filter::parse(since, until, pair, lp, last).unwrap();
    for filter in [
        Filter::default(),
        parse(None, None, None, Some("LP2"), None),
        parse(None, None, Some("ETHUSDT"), None, Some("9")),
        parse(
            Some("2026-11-22T10:05:00Z"),
            Some("2026-11-22T10:17:00Z"),
            None,
            None,
            None,
        ),
    ] {
        let scanned = off_runtime(|| {
            report::load_postgres_from(&url(&database), &filter, None, Some(1), Answers::Scan)
        })
        .unwrap();
        for workers in [1, 3] {
            let summed = off_runtime(|| {
                report::load_postgres_from(
                    &url(&database),
                    &filter,
                    None,
                    Some(workers),
                    Answers::Summaries,
                )
            })
            .unwrap();
            assert_eq!(summed, scanned, "{workers} readers, {filter:?}");
        }
        assert_eq!(
            crate::blotter::load_checked(&file, &filter).unwrap(),
            scanned,
            "{filter:?}"
        );
    }
}
