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
use lp_rfq::rfq::RfqEvent;

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
/// succeed.
fn report_output(blotter: &str, args: &[&str]) -> String {
    let output = lp_rfq_in(empty_dir())
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
}

#[tokio::test]
async fn the_same_events_give_byte_identical_reports_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    for (name, streams) in [
        ("by-hand", crate::blotter::fixture()),
        ("interleaved", crate::blotter::interleaved_fixture()),
    ] {
        let file = dir.path().join(format!("{name}.db"));
        let database = Cluster::shared().database();
        record_at(&BlotterAt::File(file.clone()), "desk-a", &streams).await;
        record_at(&BlotterAt::Postgres(url(&database)), "desk-a", &streams).await;
        let file = file.display().to_string();
        for args in [
            &[][..],
            &["--json"],
            &["--csv", "--section", "rfqs"],
            &["--lp", "LP2", "--json"],
            &["--pair", "ETHUSDT"],
            &["--last", "2", "--json"],
        ] {
            let on_sqlite = report_output(&file, args);
            let on_postgres = report_output(&database, args);
            assert!(on_sqlite.len() > 30, "{name} {args:?}: {on_sqlite}");
            assert_eq!(on_postgres, on_sqlite, "{name} report {args:?}");
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
            report::load(Path::new(&file), &filter).unwrap(),
            "{name}"
        );
    }
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

#[tokio::test]
async fn the_views_have_the_same_names_columns_and_rows_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blotter.db");
    let database = Cluster::shared().database();
    let streams = crate::blotter::fixture();
    record_at(&BlotterAt::File(file.clone()), "desk-a", &streams).await;
    record_at(&BlotterAt::Postgres(url(&database)), "desk-a", &streams).await;
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
        "lp-rfq: blotter '{shown}' has schema version 99, newer than this lp-rfq understands (1): upgrade lp-rfq or use another --blotter\n"
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
