//! The venues file's reference sources at work: each `[[reference]]`
//! polled on its own task, every pair on its own request, each price put
//! into the desk's [`References`] with the source's age limit. A source
//! that fails is logged once per change of its trouble and costs only its
//! own vouching: no stream ever waits for it.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::task::JoinHandle;

use crate::lp::http::{self, Answer};
use crate::market::Pair;
use crate::rfq::reference::{ReferenceSource, References};
use crate::venues::{ReferenceKind, ReferenceSpec};

/// The desk's reference sources; dropping it stops their polling.
pub(crate) struct ReferenceFeeds {
    sources: Vec<Arc<Source>>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// One source with its client and, per pair, the trouble last logged.
struct Source {
    spec: ReferenceSpec,
    client: reqwest::Client,
    references: References,
    /// Per pair (as in `spec.pairs`): what was wrong at the last ask, so
    /// that a source failing every 2 s logs it once.
    trouble: std::sync::Mutex<Vec<Option<String>>>,
}

impl ReferenceFeeds {
    /// The sources `specs` name, feeding `references`; nothing is asked
    /// until [`ReferenceFeeds::start`].
    pub(crate) fn new(specs: &[ReferenceSpec], references: &References) -> ReferenceFeeds {
        let sources = specs
            .iter()
            .filter_map(|spec| {
                let client = reqwest::Client::builder()
                    .connect_timeout(Duration::from_millis(spec.timeout_ms))
                    .tcp_nodelay(true)
                    .user_agent(concat!("lp-rfq/", env!("CARGO_PKG_VERSION")))
                    .build();
                match client {
                    Ok(client) => Some(Arc::new(Source {
                        spec: spec.clone(),
                        client,
                        references: references.clone(),
                        trouble: std::sync::Mutex::new(vec![None; spec.pairs.len()]),
                    })),
                    Err(error) => {
                        tracing::warn!(
                            url = %spec.url,
                            "reference source not started: {}",
                            http::root_cause(&error)
                        );
                        None
                    }
                }
            })
            .collect();
        ReferenceFeeds {
            sources,
            tasks: std::sync::Mutex::default(),
        }
    }

    /// Asks every source for every pair once (each within its source's
    /// `timeout_ms`), so that the first stream already has their prices,
    /// then keeps asking each every `refresh_ms` on a task of its own.
    pub(crate) async fn start(&self) {
        futures::future::join_all(self.sources.iter().map(|source| source.ask_all())).await;
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for source in &self.sources {
            let source = source.clone();
            tasks.push(tokio::spawn(async move {
                let period = Duration::from_millis(source.spec.refresh_ms);
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                // A slow answer delays the next ask; it never bunches them.
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    source.ask_all().await;
                }
            }));
        }
    }
}

impl Drop for ReferenceFeeds {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Source {
    /// One round: every pair asked at once, each price noted as it comes.
    async fn ask_all(&self) {
        let asks = self
            .spec
            .pairs
            .iter()
            .enumerate()
            .map(|(index, pair)| async move {
                let outcome = self.ask(*pair).await;
                self.noted(index, *pair, outcome);
            });
        futures::future::join_all(asks).await;
    }

    async fn ask(&self, pair: Pair) -> Result<Decimal, String> {
        let symbol = pair.symbol();
        let request = match self.spec.kind {
            ReferenceKind::BinanceTicker => self
                .client
                .get(format!("{}/api/v3/ticker/price", self.spec.url))
                .query(&[("symbol", symbol.as_str())]),
        };
        let limit = Duration::from_millis(self.spec.timeout_ms);
        let answer = http::exchange(request, limit)
            .await
            .map_err(|failure| failure.describe())?;
        read_ticker(&answer, &symbol)
    }

    /// Notes a price, and logs a change of the pair's trouble (a new one,
    /// or its end).
    fn noted(&self, index: usize, pair: Pair, outcome: Result<Decimal, String>) {
        let symbol = pair.symbol();
        let now_trouble = match outcome {
            Ok(price) => {
                let now_ms = chrono::Utc::now().timestamp_millis();
                self.references.note(
                    &symbol,
                    ReferenceSource::Feed,
                    price,
                    now_ms,
                    self.spec.max_age_ms,
                );
                None
            }
            Err(problem) => Some(problem),
        };
        let mut trouble = self.trouble.lock().unwrap_or_else(|p| p.into_inner());
        let Some(last) = trouble.get_mut(index) else {
            return;
        };
        if *last == now_trouble {
            return;
        }
        match &now_trouble {
            Some(problem) => tracing::warn!(
                "reference source {} for {symbol}: {problem} (its price vouches for {} ms after the last answer)",
                self.spec.url,
                self.spec.max_age_ms
            ),
            None => tracing::info!(
                "reference source {} for {symbol} answers again",
                self.spec.url
            ),
        }
        *last = now_trouble;
    }
}

/// Binance's ticker answer: `{"symbol":"BTCUSDT","price":"104000.12000000"}`,
/// or an error `{"code":-1121,"msg":"Invalid symbol."}` with a 4xx.
fn read_ticker(answer: &Answer, symbol: &str) -> Result<Decimal, String> {
    #[derive(serde::Deserialize)]
    struct Ticker {
        symbol: String,
        price: String,
    }
    #[derive(serde::Deserialize)]
    struct Refusal {
        code: i64,
        msg: String,
    }
    if !answer.status.is_success() {
        return Err(match serde_json::from_slice::<Refusal>(answer.bytes()) {
            Ok(refusal) => format!(
                "answered {}: {} (code {})",
                answer.status.as_u16(),
                refusal.msg,
                refusal.code
            ),
            Err(_) => format!(
                "answered {}: {}",
                answer.status.as_u16(),
                answer.snippet(&[])
            ),
        });
    }
    let ticker: Ticker = serde_json::from_slice(answer.bytes())
        .map_err(|_| format!("not a ticker answer: {}", answer.snippet(&[])))?;
    if ticker.symbol != symbol {
        return Err(format!(
            "answered for {} when asked for {symbol}",
            ticker.symbol
        ));
    }
    ticker
        .price
        .parse::<Decimal>()
        .ok()
        .filter(|price| *price > Decimal::ZERO)
        .ok_or_else(|| format!("price '{}' is not a price above 0", ticker.price))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers: reqwest::header::HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_ticker_answer_is_read_exactly_and_a_refusal_is_named() {
        assert_eq!(
            read_ticker(
                &answer(200, r#"{"symbol":"BTCUSDT","price":"104000.12000000"}"#),
                "BTCUSDT"
            ),
            Ok(dec!(104000.12000000))
        );
        assert_eq!(
            read_ticker(
                &answer(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#),
                "BTCUSDX"
            ),
            Err("answered 400: Invalid symbol. (code -1121)".to_string())
        );
        assert_eq!(
            read_ticker(
                &answer(200, r#"{"symbol":"ETHUSDT","price":"3000.00"}"#),
                "BTCUSDT"
            ),
            Err("answered for ETHUSDT when asked for BTCUSDT".to_string())
        );
        assert_eq!(
            read_ticker(
                &answer(200, r#"{"symbol":"BTCUSDT","price":"0"}"#),
                "BTCUSDT"
            ),
            Err("price '0' is not a price above 0".to_string())
        );
    }
}
