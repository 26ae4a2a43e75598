//! The venues file's `[[reference]]` tables: the price sources that vouch
//! for an LP's price without being an LP (Binance's public spot ticker),
//! read into typed [`ReferenceSpec`]s with the file, line and field named
//! in every error.
//!
//! ```toml
//! [[reference]]
//! kind = "binance-ticker"
//! url = "https://api.binance.com"   # optional: this is the default
//! pairs = ["BTCUSDT", "ETHUSDT"]
//! refresh_ms = 2000                 # optional
//! max_age_ms = 10000                # optional
//! timeout_ms = 2000                 # optional
//! ```

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{Parser, VenuesError, URL, URL_WITHOUT_CREDENTIALS};
use crate::market::Pair;

/// Where a reference source's prices come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// Binance's public spot ticker: `GET /api/v3/ticker/price?symbol=…`,
    /// no key needed.
    BinanceTicker,
}

impl ReferenceKind {
    /// As the venues file spells it.
    pub fn label(self) -> &'static str {
        match self {
            ReferenceKind::BinanceTicker => "binance-ticker",
        }
    }
}

/// One `[[reference]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSpec {
    pub kind: ReferenceKind,
    /// The source's base address, without a trailing `/`.
    pub url: String,
    /// The pairs it is asked for, each by its own request.
    pub pairs: Vec<Pair>,
    /// How often each pair is asked, in ms.
    pub refresh_ms: u64,
    /// How long a price it gave vouches, in ms from when it was received.
    pub max_age_ms: u64,
    /// How long one request may take, in ms.
    pub timeout_ms: u64,
}

impl ReferenceSpec {
    /// One line for `lp-rfq lps`: kind, address, pairs and timings.
    pub fn describe(&self) -> String {
        let pairs: Vec<String> = self.pairs.iter().map(Pair::symbol).collect();
        format!(
            "{:<16} {}  {} · every {} ms, vouches {} ms, timeout {} ms",
            self.kind.label(),
            self.url,
            pairs.join(", "),
            self.refresh_ms,
            self.max_age_ms,
            self.timeout_ms
        )
    }
}

/// Binance's public API, when a table names no `url`.
pub const DEFAULT_URL: &str = "https://api.binance.com";
/// Each pair asked every 2 s: one request weight of Binance's 6000 a
/// minute per pair and second, fresh enough to judge a quote by.
pub const DEFAULT_REFRESH_MS: u64 = 2_000;
/// A price vouches for 10 s: a few missed refreshes, never a stale market.
pub const DEFAULT_MAX_AGE_MS: u64 = 10_000;
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;

const KINDS: &str = "binance-ticker";
const FIELDS: &str = "kind, url, pairs, refresh_ms, max_age_ms, timeout_ms";
const PAIRS: &str = "a non-empty list of pairs such as [\"BTCUSDT\", \"ETH/USDT\"]";
const REFRESH: &str = "a whole number of milliseconds from 100 to 600000";
const MAX_AGE: &str = "a whole number of milliseconds from 100 to 3600000, at least refresh_ms";
const TIMEOUT: &str = "a whole number of milliseconds from 1 to 60000";

/// The `[[reference]]` tables of `root`, in file order (none: empty).
pub(super) fn parse_references(
    parser: &Parser<'_>,
    root: &DeTable<'_>,
) -> Result<Vec<ReferenceSpec>, VenuesError> {
    let Some(value) = root.get("reference") else {
        return Ok(Vec::new());
    };
    let line = parser.line_at(value.span().start);
    let not_tables = || VenuesError::Reference {
        file: parser.file.to_string(),
        line,
        table: 1,
        problem: "write each reference source as a [[reference]] table".to_string(),
    };
    let DeValue::Array(items) = value.get_ref() else {
        return Err(not_tables());
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item.get_ref() {
            DeValue::Table(table) => Source {
                parser,
                table,
                header: item.span().start,
                number: index + 1,
            }
            .read(),
            _ => Err(not_tables()),
        })
        .collect()
}

/// One `[[reference]]` table being read.
struct Source<'p, 't, 'i> {
    parser: &'p Parser<'p>,
    table: &'t DeTable<'i>,
    header: usize,
    /// Its place among the `[[reference]]` tables, from 1.
    number: usize,
}

impl Source<'_, '_, '_> {
    fn error(&self, at: usize, problem: String) -> VenuesError {
        VenuesError::Reference {
            file: self.parser.file.to_string(),
            line: self.parser.line_at(at),
            table: self.number,
            problem,
        }
    }

    fn value(&self, key: &str) -> Option<&Spanned<DeValue<'_>>> {
        self.table.get(key)
    }

    /// `key`'s value is not `must_be`: said with the value as written.
    fn bad(&self, key: &str, must_be: &str) -> VenuesError {
        let span = self
            .value(key)
            .map_or(self.header..self.header, |v| v.span());
        let written = self.parser.text.get(span.clone()).unwrap_or("");
        self.error(span.start, format!("{key} '{written}' must be {must_be}"))
    }

    fn read(self) -> Result<ReferenceSpec, VenuesError> {
        for (key, _) in self.table.iter() {
            let key_name = key.get_ref();
            if !FIELDS.split(", ").any(|field| field == key_name.as_ref()) {
                return Err(self.error(
                    key.span().start,
                    format!("unknown field '{key_name}' (expected one of {FIELDS})"),
                ));
            }
        }
        let kind = match self.value("kind").map(|v| v.get_ref()) {
            None => return Err(self.error(self.header, "needs kind".to_string())),
            Some(DeValue::String(kind)) if kind.as_ref() == "binance-ticker" => {
                ReferenceKind::BinanceTicker
            }
            Some(_) => return Err(self.bad("kind", KINDS)),
        };
        let url = self.url()?;
        let pairs = self.pairs()?;
        let refresh_ms = self.ms("refresh_ms", DEFAULT_REFRESH_MS, 100, 600_000, REFRESH)?;
        let max_age_ms = self.ms("max_age_ms", DEFAULT_MAX_AGE_MS, 100, 3_600_000, MAX_AGE)?;
        if max_age_ms < refresh_ms {
            // A price that expires before the next one is asked for leaves
            // a gap in every refresh.
            return Err(self.bad("max_age_ms", MAX_AGE));
        }
        let timeout_ms = self.ms("timeout_ms", DEFAULT_TIMEOUT_MS, 1, 60_000, TIMEOUT)?;
        Ok(ReferenceSpec {
            kind,
            url,
            pairs,
            refresh_ms,
            max_age_ms,
            timeout_ms,
        })
    }

    fn url(&self) -> Result<String, VenuesError> {
        let Some(value) = self.value("url") else {
            return Ok(DEFAULT_URL.to_string());
        };
        let DeValue::String(text) = value.get_ref() else {
            return Err(self.bad("url", URL));
        };
        // Refused before anything else and never shown: the part before
        // the `@` is a password.
        if text.contains('@') {
            return Err(self.error(
                value.span().start,
                format!("url must be {URL_WITHOUT_CREDENTIALS} (its value is not shown: it may be a secret)"),
            ));
        }
        let trimmed = text.trim().trim_end_matches('/');
        let valid = reqwest::Url::parse(trimmed).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty())
        });
        if !valid {
            return Err(self.bad("url", URL));
        }
        Ok(trimmed.to_string())
    }

    fn pairs(&self) -> Result<Vec<Pair>, VenuesError> {
        let Some(value) = self.value("pairs") else {
            return Err(self.error(self.header, "needs pairs".to_string()));
        };
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.bad("pairs", PAIRS));
        };
        if items.is_empty() {
            return Err(self.bad("pairs", PAIRS));
        }
        let mut pairs: Vec<Pair> = Vec::with_capacity(items.len());
        for item in items {
            let pair = match item.get_ref() {
                DeValue::String(text) => text.parse::<Pair>().map_err(|error| {
                    self.error(
                        item.span().start,
                        format!("pairs: '{}': {error}", text.as_ref()),
                    )
                })?,
                _ => return Err(self.bad("pairs", PAIRS)),
            };
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
        Ok(pairs)
    }

    fn ms(
        &self,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
        must_be: &str,
    ) -> Result<u64, VenuesError> {
        let Some(value) = self.value(key) else {
            return Ok(default);
        };
        let DeValue::Integer(integer) = value.get_ref() else {
            return Err(self.bad(key, must_be));
        };
        let digits = integer.as_str().replace('_', "");
        match u64::from_str_radix(&digits, integer.radix()) {
            Ok(ms) if (min..=max).contains(&ms) => Ok(ms),
            _ => Err(self.bad(key, must_be)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ReferenceSpec>, String> {
        let parser = Parser {
            file: "lps.toml",
            text,
        };
        let root = DeTable::parse(text).unwrap();
        parse_references(&parser, root.get_ref()).map_err(|error| error.to_string())
    }

    #[test]
    fn a_reference_table_is_read_with_its_defaults() {
        let specs = parse(
            "[[reference]]\nkind = \"binance-ticker\"\npairs = [\"BTCUSDT\", \"ETH/USDT\"]\n\n\
             [[reference]]\nkind = \"binance-ticker\"\nurl = \"http://127.0.0.1:9/\"\npairs = [\"BTCUSD\"]\n\
             refresh_ms = 500\nmax_age_ms = 1_500\ntimeout_ms = 300\n",
        )
        .unwrap();
        assert_eq!(
            specs,
            [
                ReferenceSpec {
                    kind: ReferenceKind::BinanceTicker,
                    url: "https://api.binance.com".into(),
                    pairs: vec!["BTCUSDT".parse().unwrap(), "ETHUSDT".parse().unwrap()],
                    refresh_ms: 2_000,
                    max_age_ms: 10_000,
                    timeout_ms: 2_000,
                },
                ReferenceSpec {
                    kind: ReferenceKind::BinanceTicker,
                    url: "http://127.0.0.1:9".into(),
                    pairs: vec!["BTCUSD".parse().unwrap()],
                    refresh_ms: 500,
                    max_age_ms: 1_500,
                    timeout_ms: 300,
                },
            ]
        );
        assert_eq!(parse("[[lp]]\nname = \"x\"\n"), Ok(Vec::new()));
    }

    #[rstest::rstest]
    #[case::unknown_field(
        "pairs = [\"BTCUSDT\"]\nsymbol = \"x\"",
        "venues file 'lps.toml' line 5: [[reference]] 1: unknown field 'symbol' (expected one of kind, url, pairs, refresh_ms, max_age_ms, timeout_ms)"
    )]
    #[case::no_pairs("", "venues file 'lps.toml' line 2: [[reference]] 1: needs pairs")]
    #[case::empty_pairs(
        "pairs = []",
        "venues file 'lps.toml' line 4: [[reference]] 1: pairs '[]' must be a non-empty list of pairs such as [\"BTCUSDT\", \"ETH/USDT\"]"
    )]
    #[case::bad_refresh(
        "pairs = [\"BTCUSDT\"]\nrefresh_ms = 10",
        "venues file 'lps.toml' line 5: [[reference]] 1: refresh_ms '10' must be a whole number of milliseconds from 100 to 600000"
    )]
    #[case::max_age_below_refresh(
        "pairs = [\"BTCUSDT\"]\nrefresh_ms = 5000\nmax_age_ms = 1000",
        "venues file 'lps.toml' line 6: [[reference]] 1: max_age_ms '1000' must be a whole number of milliseconds from 100 to 3600000, at least refresh_ms"
    )]
    #[case::bad_url(
        "pairs = [\"BTCUSDT\"]\nurl = \"ftp://x\"",
        "venues file 'lps.toml' line 5: [[reference]] 1: url '\"ftp://x\"' must be an http:// or https:// address with a host"
    )]
    #[case::credentials(
        "pairs = [\"BTCUSDT\"]\nurl = \"https://me:hunter2@api.binance.com\"",
        "venues file 'lps.toml' line 5: [[reference]] 1: url must be an address without credentials (no user:password@; secrets come from the environment) (its value is not shown: it may be a secret)"
    )]
    fn a_bad_reference_table_names_the_line_and_the_field(
        #[case] fields: &str,
        #[case] expected: &str,
    ) {
        let text = format!("\n[[reference]]\nkind = \"binance-ticker\"\n{fields}\n");
        assert_eq!(parse(&text).unwrap_err(), expected);
    }

    #[test]
    fn a_reference_of_unknown_kind_is_refused() {
        assert_eq!(
            parse("[[reference]]\nkind = \"coingecko\"\npairs = [\"BTCUSDT\"]\n").unwrap_err(),
            "venues file 'lps.toml' line 2: [[reference]] 1: kind '\"coingecko\"' must be binance-ticker"
        );
    }
}
