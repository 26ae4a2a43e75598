//! The blotter in PostgreSQL, for desks whose servers, report readers and
//! back office live on several machines: where the database is
//! ([`PgUrl`], parsed from `--blotter postgres://…`, its password only
//! from `PGPASSWORD`), its schema and migrations (`schema`), the store the
//! writer's policy drives (`store`; its answers in the binary COPY format,
//! `binary_copy`) and the rows the report reads (`rows`), its orders on
//! record (`orders`), its clients' orders (`client_orders`) and its
//! operators' actions (`desk_actions`), and its streams copied for
//! replaying them (`replay`). The synchronous `postgres` client runs its
//! own small runtime, so every call here is made from a thread of its own (the writer's, the
//! report's), never from inside the desk's async runtime.

mod binary_copy;
mod client_orders;
mod desk_actions;
mod orders;
pub(crate) mod replay;
mod rows;
pub(crate) mod schema;
mod store;

pub use client_orders::PgClientOrders;
pub use desk_actions::PgDeskActions;
pub use orders::PgOrders;
pub(crate) use rows::PgRows;

pub use store::PostgresStore;

use std::fmt;
use std::time::Duration;

/// How long connecting may take before it counts as a failure (the
/// server down, a wrong host): the writer then holds and retries.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL database named by a `postgres://` or `postgresql://` URL,
/// with the password (if any) taken from `PGPASSWORD`. Shown without it.
#[derive(Clone)]
pub struct PgUrl {
    /// Boxed: the client's config is ~300 bytes, and a URL sits in
    /// settings beside a file path.
    config: Box<postgres::Config>,
    shown: String,
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PartialEq for PgUrl {
    fn eq(&self, other: &PgUrl) -> bool {
        self.shown == other.shown
    }
}

impl Eq for PgUrl {}

/// Whether `text` names a PostgreSQL database rather than a file.
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

impl PgUrl {
    /// Parses `text`, refusing a password written into it (it would sit in
    /// shell histories, process lists and `.env` files: `PGPASSWORD` is
    /// the place for it) and a URL that names no user or no database.
    /// `password` is `PGPASSWORD`'s value, if set.
    pub fn parse(text: &str, password: Option<String>) -> Result<PgUrl, String> {
        let text = text.trim();
        let mut config: postgres::Config = text.parse().map_err(|error| {
            format!("is not a PostgreSQL URL like postgres://USER@HOST:5432/DB ({error})")
        })?;
        if config.get_password().is_some() || has_url_password(text) {
            return Err(
                "has a password in it: leave it out of the URL and set PGPASSWORD instead"
                    .to_string(),
            );
        }
        let user = config
            .get_user()
            .filter(|user| !user.is_empty())
            .ok_or("names no user: postgres://USER@HOST/DB")?
            .to_string();
        let dbname = config
            .get_dbname()
            .filter(|db| !db.is_empty())
            .ok_or("names no database: postgres://USER@HOST/DB")?
            .to_string();
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|host| match host {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        if hosts.is_empty() {
            return Err("names no host: postgres://USER@HOST/DB (or ?host=/socket/dir)".into());
        }
        // The client fills in PostgreSQL's default port; shown only when
        // it is another.
        let port = match config.get_ports() {
            [port, ..] if *port != 5432 => format!(":{port}"),
            _ => String::new(),
        };
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            config.password(password);
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("lp-rfq");
        let shown = format!("postgres://{user}@{}{port}/{dbname}", hosts.join(","));
        Ok(PgUrl {
            config: Box::new(config),
            shown,
        })
    }

    /// The database name, for naming the fallback journal.
    pub(crate) fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or("blotter")
    }

    /// A new connection (no TLS: a desk's database is on its own network
    /// or a unix socket).
    pub fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        self.config.connect(postgres::NoTls)
    }
}

/// `user:password@` in the URL's authority (the parser may accept it
/// quietly, and an empty password is still a password written down).
fn has_url_password(text: &str) -> bool {
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Runs `work` on a thread of its own and waits for it: the `postgres`
/// client blocks on a runtime of its own, which must not be started (or
/// dropped) on a thread that is running the desk's async runtime.
pub fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Runs `read` on the report's rows of the database at `url` (every
/// desk's), on a connection of its own, its failure as one line. Call it
/// off the desk's runtime ([`off_runtime`]).
pub(crate) fn read_rows<T>(
    url: &PgUrl,
    read: impl FnOnce(&mut PgRows) -> Result<T, rows::PgReadError>,
) -> Result<T, String> {
    let client = url.connect().map_err(|error| describe(&error))?;
    let mut rows = PgRows::new(client, url, None);
    read(&mut rows).map_err(|error| error.to_string())
}

/// A PostgreSQL error as one line for the operator: the server's own
/// message when it sent one, else the client's (connection refused, …).
pub(crate) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text = format!("{text}: {cause_text}");
                }
                source = cause.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "postgres://desk@db.internal:5433/blotter",
        "postgres://desk@db.internal:5433/blotter"
    )]
    #[case(
        "postgresql://desk@db.internal/blotter",
        "postgres://desk@db.internal/blotter"
    )]
    #[case(
        "postgres://desk@%2Ftmp%2Fpg/blotter",
        "postgres://desk@/tmp/pg/blotter"
    )]
    #[case(
        "postgres://desk@/blotter?host=/run/postgresql",
        "postgres://desk@/run/postgresql/blotter"
    )]
    fn urls_name_user_host_and_database_and_show_no_password(
        #[case] text: &str,
        #[case] shown: &str,
    ) {
        let url = PgUrl::parse(text, Some("s3cret-pw".into())).unwrap();
        assert_eq!(url.to_string(), shown);
        assert!(!format!("{url:?}").contains("s3cret-pw"));
    }

    #[rstest]
    #[case(
        "postgres://desk:hunter2@db/blotter",
        "has a password in it: leave it out of the URL and set PGPASSWORD instead"
    )]
    #[case(
        "postgres://desk:@db/blotter",
        "has a password in it: leave it out of the URL and set PGPASSWORD instead"
    )]
    #[case(
        "postgres://desk@db/blotter?password=hunter2",
        "has a password in it: leave it out of the URL and set PGPASSWORD instead"
    )]
    #[case("postgres://db/blotter", "names no user: postgres://USER@HOST/DB")]
    #[case("postgres://desk@db", "names no database: postgres://USER@HOST/DB")]
    fn urls_with_a_password_or_missing_parts_are_refused(
        #[case] text: &str,
        #[case] problem: &str,
    ) {
        assert_eq!(PgUrl::parse(text, None).unwrap_err(), problem);
    }

    #[test]
    fn only_postgres_schemes_are_urls() {
        assert!(is_postgres_url("postgres://a@b/c"));
        assert!(is_postgres_url("PostgreSQL://a@b/c"));
        assert!(!is_postgres_url("./blotter.db"));
        assert!(!is_postgres_url("postgres.db"));
    }
}
