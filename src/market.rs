//! Market vocabulary: the client's side, trading pairs with their precisions,
//! amounts and basis points. Everything here is parsed once at the edge into
//! types that cannot hold a bad value.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An inclusive price range a pair's quotes must fall in (venues file): the
/// market's range, which the LPs' registry holds and the engine checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceBand {
    pub min: Decimal,
    pub max: Decimal,
}

/// Errors in what an operator or a flag typed for a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("side '{0}' is not one of b, buy, s, sell")]
    Side(String),
    #[error("pair '{0}' is not a pair: write it like BTCUSDT, BTC/USDT or btc-usdt")]
    PairShape(String),
    /// Pasted text can carry characters that show as nothing; the input is
    /// shown with each of them spelt out, since quoting it bare would look
    /// like a valid value.
    #[error("{what} '{shown}' contains an invisible character {code}: type it again without it")]
    Invisible {
        what: &'static str,
        shown: String,
        code: String,
    },
    #[error("pair '{input}' has no known quote asset (known: {known})")]
    PairQuote { input: String, known: String },
    #[error("amount '{0}' is not a number")]
    AmountNumber(String),
    #[error("amount '{0}' must be written out in full, without an exponent")]
    AmountExponent(String),
    #[error("amount '{0}' must be greater than zero")]
    AmountNotPositive(String),
    #[error("amount '{0}' is too large: a desk trades at most 1000000000000")]
    AmountTooLarge(String),
    #[error("amount '{input}' is below the lot size {lot} of {pair}")]
    AmountBelowLot {
        input: String,
        lot: Decimal,
        pair: String,
    },
    #[error("amount '{input}' has more than {max} decimals, the most {pair} allows")]
    AmountPrecision {
        input: String,
        max: u32,
        pair: String,
    },
    #[error("currency '{input}' (--in) is not a leg of {pair}: write {base} or {quote}")]
    Currency {
        input: String,
        pair: String,
        base: String,
        quote: String,
    },
}

wire_enum! {
    /// Which leg of a request the client fixed: the amount is in this
    /// leg's currency, and the other leg is derived from the price. A desk
    /// is asked "buy 1.5 BTC" (base) as often as "buy BTC for 1,000,000
    /// USDT" (quote), and the client must pay or receive exactly what it
    /// named.
    #[derive(Default)]
    pub enum Leg {
        /// The amount is in the base currency (BTC of BTCUSDT): today's
        /// requests.
        #[default]
        Base = "base",
        /// The amount is in the quote currency (USDT of BTCUSDT): the
        /// client pays (BUY) or receives (SELL) exactly it.
        Quote = "quote",
    }
}

impl Leg {
    /// The base leg: what a message that names no leg means.
    pub fn is_base(&self) -> bool {
        *self == Leg::Base
    }
}

/// The client's side of the trade. A client BUY is filled at the lowest LP
/// offer; a client SELL at the highest LP bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    /// Upper-case label used in the quote box ("BUY", "SELL").
    pub fn label(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }

    /// True when `candidate` is a strictly better LP price than `incumbent`
    /// for a client on this side.
    pub(crate) fn is_better(self, candidate: Decimal, incumbent: Decimal) -> bool {
        match self {
            Side::Buy => candidate < incumbent,
            Side::Sell => candidate > incumbent,
        }
    }
}

impl FromStr for Side {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "b" | "buy" => Ok(Side::Buy),
            "s" | "sell" => Ok(Side::Sell),
            _ => Err(InputError::Side(s.trim().to_string())),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Side {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Side {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_wire(d)
    }
}

/// A value read from the wire through its validated parser, so that what
/// arrives over a connection is held to the same rules as what an operator
/// types.
fn parse_wire<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: fmt::Display,
    D: Deserializer<'de>,
{
    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// Longest asset code we accept (covers every listed asset with room).
const ASSET_MAX: usize = 10;

/// An asset code such as BTC or USDT, stored inline so that a `Pair` is
/// `Copy` and handing it to every LP on every poll allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Asset {
    bytes: [u8; ASSET_MAX],
    len: u8,
}

impl Asset {
    /// Builds an asset from upper-case ASCII letters and digits.
    pub(crate) fn new(code: &str) -> Option<Asset> {
        if code.is_empty()
            || code.len() > ASSET_MAX
            || !code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return None;
        }
        let mut bytes = [0u8; ASSET_MAX];
        bytes[..code.len()].copy_from_slice(code.as_bytes());
        Some(Asset {
            bytes,
            len: code.len() as u8,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever stored (checked in `new`).
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_str())
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Asset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Asset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Asset::new(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{text}' is not an asset code (upper-case letters and digits, at most {ASSET_MAX})"
            ))
        })
    }
}

/// Quote assets a concatenated symbol such as BTCUSDT is split on, longest
/// first so that USDT wins over USD.
pub(crate) const QUOTE_ASSETS: [&str; 6] = ["USDT", "USDC", "USD", "EUR", "BTC", "ETH"];

/// A reference entry for a pair the desk knows well: its price precision
/// (tick), amount precision (lot) and the mid price the mock LPs start from.
struct KnownPair {
    symbol: &'static str,
    price_dp: u32,
    amount_dp: u32,
    reference_price: Decimal,
}

const fn known(
    symbol: &'static str,
    price_dp: u32,
    amount_dp: u32,
    mantissa: i64,
    scale: u32,
) -> KnownPair {
    KnownPair {
        symbol,
        price_dp,
        amount_dp,
        reference_price: Decimal::from_parts(
            mantissa as u32,
            (mantissa >> 32) as u32,
            0,
            false,
            scale,
        ),
    }
}

const KNOWN_PAIRS: [KnownPair; 12] = [
    known("BTCUSDT", 2, 8, 100_000, 0),
    known("BTCUSDC", 2, 8, 100_000, 0),
    known("BTCUSD", 2, 8, 100_000, 0),
    known("BTCEUR", 2, 8, 92_000, 0),
    known("ETHUSDT", 2, 6, 3_500, 0),
    known("ETHUSDC", 2, 6, 3_500, 0),
    known("ETHUSD", 2, 6, 3_500, 0),
    known("ETHEUR", 2, 6, 3_220, 0),
    known("ETHBTC", 6, 6, 35, 3),
    known("SOLUSDT", 3, 4, 200, 0),
    known("XRPUSDT", 5, 2, 25, 1),
    known("USDTEUR", 5, 2, 92, 2),
];

/// The reference entry for base/quote, found without allocating (mock LPs
/// look it up on every quote).
/// Every pair with a reference price, tick and lot (the pairs the
/// built-in mock LPs quote).
pub(crate) fn known_pairs() -> impl Iterator<Item = Pair> {
    KNOWN_PAIRS
        .iter()
        .map(|known| known.symbol.parse().expect("the known pairs parse"))
}

fn known_pair(base: Asset, quote: Asset) -> Option<&'static KnownPair> {
    KNOWN_PAIRS.iter().find(|k| {
        k.symbol
            .strip_prefix(base.as_str())
            .is_some_and(|rest| rest == quote.as_str())
    })
}

/// Precisions used for a pair that is well formed but not in the reference
/// list: fine enough not to distort any realistic price.
const DEFAULT_PRICE_DP: u32 = 8;
const DEFAULT_AMOUNT_DP: u32 = 8;

/// A trading pair, e.g. BTC/USDT: the client trades `base` against `quote`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pair {
    pub base: Asset,
    pub quote: Asset,
    /// Decimals of a price in quote currency (the tick); client prices are
    /// rounded to this.
    pub(crate) price_dp: u32,
    /// Decimals of an amount in base currency (the lot size).
    pub(crate) amount_dp: u32,
}

impl Pair {
    /// The concatenated symbol, e.g. "BTCUSDT".
    pub fn symbol(&self) -> String {
        format!("{}{}", self.base, self.quote)
    }

    /// The pair as a venue spells it: `template` with `{base}` and
    /// `{quote}` replaced, e.g. `{base}{quote}.SPOT` gives `BTCUSDT.SPOT`,
    /// `{base}/{quote}` gives `BTC/USDT`.
    pub(crate) fn venue_symbol(&self, template: &str) -> String {
        template
            .replace("{base}", self.base.as_str())
            .replace("{quote}", self.quote.as_str())
    }

    /// The mid price this desk uses as a reference for the pair, if it has one.
    pub(crate) fn reference_price(&self) -> Option<Decimal> {
        known_pair(self.base, self.quote).map(|k| k.reference_price)
    }

    fn from_assets(base: Asset, quote: Asset) -> Pair {
        let (price_dp, amount_dp) = known_pair(base, quote)
            .map(|k| (k.price_dp, k.amount_dp))
            .unwrap_or((DEFAULT_PRICE_DP, DEFAULT_AMOUNT_DP));
        Pair {
            base,
            quote,
            price_dp,
            amount_dp,
        }
    }

    /// Parses and checks an amount of the base asset for this pair,
    /// exactly as typed: an amount finer than the lot is refused, never
    /// rounded.
    pub(crate) fn parse_amount(&self, input: &str) -> Result<Decimal, InputError> {
        let trimmed = input.trim();
        let number = check_number(trimmed)?;
        if number.magnitude() <= -i64::from(self.amount_dp) {
            return Err(InputError::AmountBelowLot {
                input: trimmed.to_string(),
                lot: Decimal::new(1, self.amount_dp),
                pair: self.to_string(),
            });
        }
        if number.decimals() > i64::from(self.amount_dp) {
            return Err(InputError::AmountPrecision {
                input: trimmed.to_string(),
                max: self.amount_dp,
                pair: self.to_string(),
            });
        }
        // At most 13 integer digits and the lot's decimals (at most 28):
        // exact in a Decimal.
        let mantissa: i128 = number.digits.parse().unwrap_or(0);
        let amount = if number.exponent >= 0 {
            Decimal::from_i128_with_scale(mantissa * 10i128.pow(number.exponent as u32), 0)
        } else {
            Decimal::from_i128_with_scale(mantissa, (-number.exponent) as u32)
        };
        Ok(amount.normalize())
    }

    /// The leg whose currency is `currency` (`--in USDT` of BTCUSDT is the
    /// quote leg), in any case; anything else is refused by name.
    pub fn leg_of(&self, currency: &str) -> Result<Leg, InputError> {
        let trimmed = currency.trim();
        refuse_invisible("currency", trimmed)?;
        let upper = trimmed.to_ascii_uppercase();
        if upper == self.base.as_str() {
            Ok(Leg::Base)
        } else if upper == self.quote.as_str() {
            Ok(Leg::Quote)
        } else {
            Err(InputError::Currency {
                input: trimmed.to_string(),
                pair: self.to_string(),
                base: self.base.to_string(),
                quote: self.quote.to_string(),
            })
        }
    }

    /// The currency of `leg`.
    pub fn asset_of(&self, leg: Leg) -> Asset {
        match leg {
            Leg::Base => self.base,
            Leg::Quote => self.quote,
        }
    }

    /// Decimals an amount of `leg` may carry: the lot for the base, the
    /// tick for the quote currency (a quote-currency amount finer than the
    /// tick could not be paid exactly).
    pub(crate) fn leg_dp(&self, leg: Leg) -> u32 {
        match leg {
            Leg::Base => self.amount_dp,
            Leg::Quote => self.price_dp,
        }
    }

    /// Parses and checks an amount of `leg`'s currency, exactly as typed,
    /// as [`Pair::parse_amount`] does for the base.
    pub(crate) fn parse_amount_in(&self, leg: Leg, input: &str) -> Result<Decimal, InputError> {
        match leg {
            Leg::Base => self.parse_amount(input),
            Leg::Quote => Pair {
                amount_dp: self.leg_dp(leg),
                ..*self
            }
            .parse_amount(input),
        }
    }

    /// An amount as an operator types it, with or without its currency:
    /// `1.5` (base), `1.5 BTC`, `1000000 USDT` (the quote leg).
    pub(crate) fn parse_leg_amount(&self, input: &str) -> Result<(Leg, Decimal), InputError> {
        let trimmed = input.trim();
        let (number, leg) = match trimmed.split_once(char::is_whitespace) {
            Some((number, currency)) => (number, self.leg_of(currency)?),
            None => (trimmed, Leg::Base),
        };
        Ok((leg, self.parse_amount_in(leg, number)?))
    }

    /// The base leg of a quote-currency amount `quote_amount` at `price`,
    /// rounded to the lot in the desk's favour: a buying client pays
    /// exactly `quote_amount` and gets no more base than it paid for
    /// (down), a selling client receives exactly `quote_amount` and gives
    /// at least the base it is worth (up).
    pub fn base_for_quote(&self, side: Side, quote_amount: Decimal, price: Decimal) -> Decimal {
        let strategy = match side {
            Side::Buy => RoundingStrategy::ToNegativeInfinity,
            Side::Sell => RoundingStrategy::ToPositiveInfinity,
        };
        let mut base = (quote_amount / price).round_dp_with_strategy(self.amount_dp, strategy);
        base.rescale(self.amount_dp);
        base
    }

    /// A request's notional in the quote currency: a quote-currency amount
    /// is its own notional; a base amount is estimated at the pair's
    /// reference price (`None` without one).
    pub(crate) fn notional_of(&self, leg: Leg, amount: Decimal) -> Option<Decimal> {
        match leg {
            Leg::Quote => Some(amount),
            // Both bounded (amount ≤ 10^12), so the product cannot overflow.
            Leg::Base => self.reference_price().map(|price| amount * price),
        }
    }

    /// An amount shown at the pair's lot precision, e.g. 1.50000000.
    pub(crate) fn format_amount(&self, amount: Decimal) -> Decimal {
        let mut shown = amount;
        shown.rescale(self.amount_dp);
        shown
    }

    /// Rounds a price to the pair's tick in the desk's favour: up when the
    /// client buys (the client pays more), down when the client sells.
    pub fn round_price_for_desk(&self, side: Side, price: Decimal) -> Decimal {
        round_for_desk(side, price, self.price_dp)
    }
}

/// A number as typed, kept exact: `digits × 10^exponent`, with no
/// leading or trailing zeros in `digits` (empty for zero).
struct TypedNumber {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl TypedNumber {
    /// Plain decimal notation (`1.5`, `.5`, `5.`); no exponent, no
    /// separators such as `1_000` or `1,000`, no spaces.
    fn lex(text: &str) -> Option<TypedNumber> {
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let joined = format!("{int}{frac}");
        let significant = joined.trim_start_matches('0');
        let digits = significant.trim_end_matches('0');
        let trailing = (significant.len() - digits.len()) as i64;
        Some(TypedNumber {
            negative,
            digits: digits.to_string(),
            exponent: trailing - frac.len() as i64,
        })
    }

    /// The power of ten just above the number: 1.5 → 1, 0.01 → -1.
    fn magnitude(&self) -> i64 {
        self.digits.len() as i64 + self.exponent
    }

    /// Decimals the number needs to be written exactly.
    fn decimals(&self) -> i64 {
        (-self.exponent).max(0)
    }
}

/// The largest amount a request may ask for: 10^12 is `1` at magnitude 13.
const MAX_AMOUNT_MAGNITUDE: i64 = 13;

/// Checks what can be checked of an amount before the pair (and so its lot
/// size) is known: a number, above zero, not above 10^12.
/// [`Pair::parse_amount`] adds the lot and its decimals.
/// A currency may follow the number (`1000000 USDT`); whether it is a leg
/// of the pair is checked with the pair ([`Pair::parse_leg_amount`]).
pub(crate) fn check_amount(input: &str) -> Result<(), InputError> {
    let trimmed = input.trim();
    let number = trimmed
        .split_once(char::is_whitespace)
        .map_or(trimmed, |(number, _)| number);
    check_number(number).map(|_| ())
}

fn check_number(trimmed: &str) -> Result<TypedNumber, InputError> {
    refuse_invisible("amount", trimmed)?;
    if written_with_exponent(trimmed) {
        return Err(InputError::AmountExponent(trimmed.to_string()));
    }
    let number =
        TypedNumber::lex(trimmed).ok_or_else(|| InputError::AmountNumber(trimmed.to_string()))?;
    if number.negative || number.digits.is_empty() {
        return Err(InputError::AmountNotPositive(trimmed.to_string()));
    }
    // Far above any real trade, and far enough below Decimal's range that
    // price × amount can never overflow.
    let magnitude = number.magnitude();
    if magnitude > MAX_AMOUNT_MAGNITUDE
        || (magnitude == MAX_AMOUNT_MAGNITUDE && number.digits != "1")
    {
        return Err(InputError::AmountTooLarge(trimmed.to_string()));
    }
    Ok(number)
}

/// Characters that take no room on screen (zero-width spaces and joiners,
/// direction marks, soft hyphens, byte-order marks, controls), which a
/// paste from a chat or a spreadsheet can carry into an input.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
}

/// Refuses `input` if it holds an invisible character, naming the first.
fn refuse_invisible(what: &'static str, input: &str) -> Result<(), InputError> {
    let Some(first) = input.chars().find(|c| is_invisible(*c)) else {
        return Ok(());
    };
    let code = |c: char| format!("U+{:04X}", u32::from(c));
    let shown = input
        .chars()
        .map(|c| {
            if is_invisible(c) {
                format!("<{}>", code(c))
            } else {
                c.to_string()
            }
        })
        .collect();
    Err(InputError::Invisible {
        what,
        shown,
        code: code(first),
    })
}

/// Whether `text` is a number in exponent notation (`1e3`, `1.5E-1`).
/// Amounts and settings are taken exactly as typed, so such a number is
/// refused rather than read: the digits an operator confirms must be the
/// digits that were typed.
pub(crate) fn written_with_exponent(text: &str) -> bool {
    let text = text.trim();
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let Some((mantissa, exponent)) = unsigned.split_once(['e', 'E']) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mantissa_is_number = (digits(int) || digits(frac))
        && (int.is_empty() || digits(int))
        && (frac.is_empty() || digits(frac));
    mantissa_is_number && digits(exponent.strip_prefix(['+', '-']).unwrap_or(exponent))
}

/// The desk's fat-finger limits on a request's notional, in the pair's
/// quote currency: `MAX_NOTIONAL` for every pair, and per pair where it
/// matters (`MAX_NOTIONAL_PAIRS`, e.g. a lower limit for a thin pair, a
/// higher one for BTCUSDT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotionalLimits {
    /// MAX_NOTIONAL: the limit of a pair without its own.
    pub default: Decimal,
    /// MAX_NOTIONAL_PAIRS: per pair symbol (`BTCUSDT`), its own limit.
    pub(crate) per_pair: std::collections::BTreeMap<String, Decimal>,
}

impl NotionalLimits {
    /// One limit for every pair.
    pub fn uniform(default: Decimal) -> NotionalLimits {
        NotionalLimits {
            default,
            per_pair: Default::default(),
        }
    }

    /// The limit for `pair`, and whether it is the pair's own.
    pub(crate) fn for_pair(&self, pair: Pair) -> (Decimal, bool) {
        match self.per_pair.get(&pair.symbol()) {
            Some(limit) => (*limit, true),
            None => (self.default, false),
        }
    }

    /// `amount` of `pair`'s `leg` against the pair's limit.
    pub fn check(&self, pair: Pair, leg: Leg, amount: Decimal) -> NotionalCheck {
        let (limit, own) = self.for_pair(pair);
        NotionalCheck::of_limit(pair, pair.notional_of(leg, amount), limit, own)
    }
}

/// A request's notional (amount × the pair's reference price, in the
/// pair's quote currency) against the desk's fat-finger limit
/// ([`NotionalLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotionalCheck {
    /// At or below the limit: no confirmation needed.
    Within,
    /// Above the limit: the operator must confirm.
    Above {
        notional: Decimal,
        limit: Decimal,
        pair: Pair,
        /// The pair's own limit (MAX_NOTIONAL_PAIRS), not MAX_NOTIONAL.
        own: bool,
    },
    /// The pair has no reference price, so the notional cannot be checked:
    /// the operator must confirm.
    Unknown {
        limit: Decimal,
        pair: Pair,
        own: bool,
    },
}

impl NotionalCheck {
    /// `amount` of `pair` against MAX_NOTIONAL `limit`.
    pub fn of(pair: Pair, amount: Decimal, limit: Decimal) -> NotionalCheck {
        NotionalCheck::of_limit(pair, pair.notional_of(Leg::Base, amount), limit, false)
    }

    fn of_limit(pair: Pair, notional: Option<Decimal>, limit: Decimal, own: bool) -> NotionalCheck {
        match notional {
            Some(notional) if notional <= limit => NotionalCheck::Within,
            Some(notional) => NotionalCheck::Above {
                notional,
                limit,
                pair,
                own,
            },
            None => NotionalCheck::Unknown { limit, pair, own },
        }
    }

    pub fn needs_confirmation(&self) -> bool {
        *self != NotionalCheck::Within
    }

    /// Why a confirmation is needed, e.g. "notional 2,000,000.00 USDT is
    /// above MAX_NOTIONAL 1,000,000"; `None` when it is not.
    pub(crate) fn warning(&self) -> Option<String> {
        match *self {
            NotionalCheck::Within => None,
            NotionalCheck::Above {
                notional,
                limit,
                pair,
                own,
            } => {
                let mut shown = notional.round_dp(pair.price_dp);
                shown.rescale(pair.price_dp);
                Some(format!(
                    "notional {} {} is above {}",
                    group_thousands(shown),
                    pair.quote,
                    limit_name(limit, pair, own)
                ))
            }
            NotionalCheck::Unknown { limit, pair, own } => Some(format!(
                "notional of {pair} cannot be checked against {} (no reference price for {pair})",
                limit_name(limit, pair, own)
            )),
        }
    }
}

/// The desk's smallest request per pair: below it a trade is dust that
/// costs the desk a ticket and leaves the client a leg worth nothing.
/// Three rules, in this order:
/// - the lot: an amount below the pair's lot (its smallest amount step) or
///   finer than it;
/// - the configured minimum notional (amount × the pair's reference price,
///   estimated as the MAX_NOTIONAL check does, in the pair's quote
///   currency): `MIN_NOTIONAL` for every pair, a pair's own from
///   `MIN_NOTIONAL_PAIRS`;
/// - the tick: a notional under one tick of the quote currency, which
///   would round the client's quote-currency leg to zero whatever the
///   configured minimum.
///
/// A pair without a reference price is held to its lot only (its notional
/// cannot be estimated; the MAX_NOTIONAL check asks for a confirmation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinimumSize {
    /// MIN_NOTIONAL: the minimum of a pair without its own; 0 leaves the
    /// lot and the tick.
    pub default: Decimal,
    /// MIN_NOTIONAL_PAIRS: per pair symbol (`BTCUSDT`), its own minimum.
    pub(crate) per_pair: std::collections::BTreeMap<String, Decimal>,
}

impl MinimumSize {
    /// Only the lot and the tick: no configured minimum notional.
    pub fn lot_only() -> MinimumSize {
        MinimumSize::uniform(Decimal::ZERO)
    }

    /// One minimum notional for every pair.
    pub fn uniform(default: Decimal) -> MinimumSize {
        MinimumSize {
            default,
            per_pair: Default::default(),
        }
    }

    /// The minimum notional for `pair`, and whether it is the pair's own.
    pub(crate) fn for_pair(&self, pair: Pair) -> (Decimal, bool) {
        match self.per_pair.get(&pair.symbol()) {
            Some(minimum) => (*minimum, true),
            None => (self.default, false),
        }
    }

    /// `amount` of `pair`'s `leg` against the pair's minimum (a
    /// quote-currency amount is its own notional, held to the tick).
    pub fn check(&self, pair: Pair, leg: Leg, amount: Decimal) -> Result<(), BelowMinimum> {
        let below = |rule| {
            Err(BelowMinimum {
                amount,
                asset: pair.asset_of(leg),
                pair,
                rule,
            })
        };
        if leg == Leg::Base {
            let lot = Decimal::new(1, pair.amount_dp);
            if amount < lot || amount.normalize().scale() > pair.amount_dp {
                return below(MinimumRule::Lot { lot });
            }
        }
        let Some(notional) = pair.notional_of(leg, amount) else {
            return Ok(());
        };
        // A quote-currency amount must buy at least one lot at the
        // reference price, or the client's base leg rounds to nothing.
        if let (Leg::Quote, Some(price)) = (leg, pair.reference_price()) {
            let lot = Decimal::new(1, pair.amount_dp);
            if notional < lot * price {
                return below(MinimumRule::Lot { lot });
            }
        }
        let (minimum, own) = self.for_pair(pair);
        if notional < minimum {
            return below(MinimumRule::Notional {
                notional,
                minimum,
                own,
            });
        }
        let tick = Decimal::new(1, pair.price_dp);
        if notional < tick {
            return below(MinimumRule::Tick { notional, tick });
        }
        Ok(())
    }
}

/// A request under its pair's minimum ([`MinimumSize`]), named by the rule
/// it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BelowMinimum {
    pub(crate) amount: Decimal,
    /// The currency `amount` is in (the fixed leg's).
    pub(crate) asset: Asset,
    pub(crate) pair: Pair,
    pub(crate) rule: MinimumRule,
}

/// Which minimum a request is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MinimumRule {
    /// Below the pair's lot, or finer than it.
    Lot { lot: Decimal },
    /// Its estimated notional is under MIN_NOTIONAL (or, `own`, the pair's
    /// MIN_NOTIONAL_PAIRS entry).
    Notional {
        notional: Decimal,
        minimum: Decimal,
        own: bool,
    },
    /// Its estimated notional is under one tick: the client's
    /// quote-currency leg would round to zero.
    Tick { notional: Decimal, tick: Decimal },
}

impl fmt::Display for BelowMinimum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let BelowMinimum {
            amount,
            asset,
            pair,
            rule,
        } = *self;
        let (base, quote, symbol) = (pair.base, pair.quote, pair.symbol());
        write!(
            f,
            "amount {} {asset} is below the minimum for {symbol}: ",
            amount.normalize()
        )?;
        let shown = |value: Decimal| group_thousands(value.normalize());
        match rule {
            MinimumRule::Lot { lot } => write!(f, "the lot is {lot} {base}"),
            MinimumRule::Notional {
                notional,
                minimum,
                own: false,
            } => write!(
                f,
                "notional {} {quote} is under MIN_NOTIONAL {} {quote}",
                shown(notional),
                shown(minimum)
            ),
            MinimumRule::Notional {
                notional,
                minimum,
                own: true,
            } => write!(
                f,
                "notional {} {quote} is under the {symbol} minimum {} {quote} (MIN_NOTIONAL_PAIRS)",
                shown(notional),
                shown(minimum)
            ),
            MinimumRule::Tick { notional, tick } => write!(
                f,
                "notional {} {quote} is under one tick ({tick} {quote}): the client's {quote} leg would round to zero",
                shown(notional)
            ),
        }
    }
}

impl std::error::Error for BelowMinimum {}

/// "MAX_NOTIONAL 1,000,000", or for a pair's own limit
/// "the BTCUSDT limit 500,000 (MAX_NOTIONAL_PAIRS)".
fn limit_name(limit: Decimal, pair: Pair, own: bool) -> String {
    let limit = group_thousands(limit.normalize());
    if own {
        format!("the {} limit {limit} (MAX_NOTIONAL_PAIRS)", pair.symbol())
    } else {
        format!("MAX_NOTIONAL {limit}")
    }
}

/// A decimal with thousands separators: 2000000.5 → "2,000,000.5".
pub(crate) fn group_thousands(value: Decimal) -> String {
    let text = value.abs().to_string();
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text.as_str(), None),
    };
    let mut grouped = String::new();
    for (index, digit) in int.chars().enumerate() {
        if index > 0 && (int.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value.is_sign_negative() && !value.is_zero() {
        "-"
    } else {
        ""
    };
    match frac {
        Some(frac) => format!("{sign}{grouped}.{frac}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Rounds `value` to `dp` decimals against the client: up for a client BUY,
/// down for a client SELL; the result always carries exactly `dp` decimals.
pub(crate) fn round_for_desk(side: Side, value: Decimal, dp: u32) -> Decimal {
    let strategy = match side {
        Side::Buy => RoundingStrategy::ToPositiveInfinity,
        Side::Sell => RoundingStrategy::ToNegativeInfinity,
    };
    let mut rounded = value.round_dp_with_strategy(dp, strategy);
    rounded.rescale(dp);
    rounded
}

impl FromStr for Pair {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = s.trim();
        refuse_invisible("pair", input)?;
        let upper = input.to_ascii_uppercase();
        let shape_error = || InputError::PairShape(input.to_string());
        if let Some((base, quote)) = upper.split_once(['/', '-', '_']) {
            let base = Asset::new(base).ok_or_else(shape_error)?;
            let quote = Asset::new(quote).ok_or_else(shape_error)?;
            if base == quote {
                return Err(shape_error());
            }
            return Ok(Pair::from_assets(base, quote));
        }
        let alphanumeric = !upper.is_empty()
            && upper
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !alphanumeric {
            return Err(shape_error());
        }
        let split = QUOTE_ASSETS.iter().find_map(|quote| {
            let base = upper.strip_suffix(quote)?;
            Some((Asset::new(base)?, Asset::new(quote)?))
        });
        match split {
            Some((base, quote)) if base != quote => Ok(Pair::from_assets(base, quote)),
            _ => Err(InputError::PairQuote {
                input: input.to_string(),
                known: QUOTE_ASSETS.join(", "),
            }),
        }
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.quote)
    }
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.quote)
    }
}

impl Serialize for Pair {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}{}", self.base, self.quote))
    }
}

/// Read back as typed: `BTCUSDT` splits on the known quote assets, and
/// `BASE/QUOTE` is taken as written.
impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_wire(d)
    }
}

/// Basis points: 1 bp = 0.01 % = 1/10000. Never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bps(Decimal);

impl Bps {
    pub const ZERO: Bps = Bps(Decimal::ZERO);

    /// A bps value; `None` when negative.
    pub fn new(value: Decimal) -> Option<Bps> {
        (value >= Decimal::ZERO).then(|| Bps(value.normalize()))
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    /// The bps as a plain fraction: 5 bps → 0.0005.
    pub fn fraction(self) -> Decimal {
        self.0 / Decimal::from(10_000)
    }
}

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Bps {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <Decimal as Deserialize>::deserialize(d)?;
        Bps::new(value)
            .ok_or_else(|| serde::de::Error::custom(format!("bps cannot be negative: '{value}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[rstest]
    #[case("b", Side::Buy)]
    #[case("BUY", Side::Buy)]
    #[case(" Buy ", Side::Buy)]
    #[case("s", Side::Sell)]
    #[case("SeLL", Side::Sell)]
    fn sides_parse_in_any_case(#[case] input: &str, #[case] side: Side) {
        assert_eq!(input.parse::<Side>(), Ok(side));
    }

    #[test]
    fn a_bad_side_names_the_choices() {
        let err = "long".parse::<Side>().unwrap_err();
        assert_eq!(err.to_string(), "side 'long' is not one of b, buy, s, sell");
    }

    #[rstest]
    #[case("BTCUSDT", "BTC", "USDT")]
    #[case("BTC/USDT", "BTC", "USDT")]
    #[case("btc-usdt", "BTC", "USDT")]
    #[case("btc_usdc", "BTC", "USDC")]
    #[case("ethbtc", "ETH", "BTC")]
    #[case("BTCUSD", "BTC", "USD")]
    #[case("SOLEUR", "SOL", "EUR")]
    fn pairs_parse_in_every_spelling(#[case] input: &str, #[case] base: &str, #[case] quote: &str) {
        let pair: Pair = input.parse().unwrap();
        assert_eq!(pair.base.as_str(), base);
        assert_eq!(pair.quote.as_str(), quote);
    }

    #[test]
    fn known_pairs_carry_their_precisions() {
        let btc: Pair = "BTCUSDT".parse().unwrap();
        assert_eq!((btc.price_dp, btc.amount_dp), (2, 8));
        assert_eq!(btc.reference_price(), Some(dec!(100000)));
        let ethbtc: Pair = "ETH/BTC".parse().unwrap();
        assert_eq!(ethbtc.reference_price(), Some(dec!(0.035)));
        let xrp: Pair = "XRPUSDT".parse().unwrap();
        assert_eq!(xrp.reference_price(), Some(dec!(2.5)));
        let unknown: Pair = "DOGEUSDT".parse().unwrap();
        assert_eq!((unknown.price_dp, unknown.amount_dp), (8, 8));
        assert_eq!(unknown.reference_price(), None);
    }

    #[rstest]
    #[case(
        "BTCXYZ",
        "pair 'BTCXYZ' has no known quote asset (known: USDT, USDC, USD, EUR, BTC, ETH)"
    )]
    #[case(
        "BTC/",
        "pair 'BTC/' is not a pair: write it like BTCUSDT, BTC/USDT or btc-usdt"
    )]
    #[case(
        "",
        "pair '' is not a pair: write it like BTCUSDT, BTC/USDT or btc-usdt"
    )]
    #[case(
        "USDT",
        "pair 'USDT' has no known quote asset (known: USDT, USDC, USD, EUR, BTC, ETH)"
    )]
    #[case(
        "BTC USDT",
        "pair 'BTC USDT' is not a pair: write it like BTCUSDT, BTC/USDT or btc-usdt"
    )]
    #[case(
        "BTC/BTC",
        "pair 'BTC/BTC' is not a pair: write it like BTCUSDT, BTC/USDT or btc-usdt"
    )]
    #[case(
        "BTC\u{200B}USDT",
        "pair 'BTC<U+200B>USDT' contains an invisible character U+200B: type it again without it"
    )]
    #[case(
        "\u{FEFF}BTC/USDT\u{200D}",
        "pair '<U+FEFF>BTC/USDT<U+200D>' contains an invisible character U+FEFF: type it again without it"
    )]
    fn bad_pairs_say_why(#[case] input: &str, #[case] message: &str) {
        assert_eq!(input.parse::<Pair>().unwrap_err().to_string(), message);
    }

    #[rstest]
    #[case("1.5", dec!(1.5))]
    #[case("0.00000001", dec!(0.00000001))]
    #[case("2.50000000", dec!(2.5))]
    #[case("+2", dec!(2))]
    #[case(".5", dec!(0.5))]
    #[case("5.", dec!(5))]
    #[case("0.12345678000000000000000000000000", dec!(0.12345678))]
    #[case("999999999999.99999999", dec!(999999999999.99999999))]
    fn amounts_parse(#[case] input: &str, #[case] amount: Decimal) {
        let pair: Pair = "BTCUSDT".parse().unwrap();
        assert_eq!(pair.parse_amount(input), Ok(amount));
    }

    #[rstest]
    #[case("abc", "amount 'abc' is not a number")]
    #[case("", "amount '' is not a number")]
    #[case("1_000", "amount '1_000' is not a number")]
    #[case("1,000", "amount '1,000' is not a number")]
    #[case("1 000", "amount '1 000' is not a number")]
    #[case(".", "amount '.' is not a number")]
    #[case("1e", "amount '1e' is not a number")]
    #[case("inf", "amount 'inf' is not a number")]
    #[case("0", "amount '0' must be greater than zero")]
    #[case("-1", "amount '-1' must be greater than zero")]
    #[case("0.000", "amount '0.000' must be greater than zero")]
    #[case(
        "1000000000000.00000001",
        "amount '1000000000000.00000001' is too large: a desk trades at most 1000000000000"
    )]
    #[case(
        "10000000000000",
        "amount '10000000000000' is too large: a desk trades at most 1000000000000"
    )]
    #[case(
        "0.000000001",
        "amount '0.000000001' is below the lot size 0.00000001 of BTC/USDT"
    )]
    #[case(
        "0.000000000000000000000000000000001",
        "amount '0.000000000000000000000000000000001' is below the lot size 0.00000001 of BTC/USDT"
    )]
    #[case(
        "0.000000015",
        "amount '0.000000015' has more than 8 decimals, the most BTC/USDT allows"
    )]
    #[case(
        "1.99999999999999999999999999999",
        "amount '1.99999999999999999999999999999' has more than 8 decimals, the most BTC/USDT allows"
    )]
    #[case("1e3", "amount '1e3' must be written out in full, without an exponent")]
    #[case(
        "1.5e-1",
        "amount '1.5e-1' must be written out in full, without an exponent"
    )]
    #[case("1E3", "amount '1E3' must be written out in full, without an exponent")]
    #[case(
        "+.5e+2",
        "amount '+.5e+2' must be written out in full, without an exponent"
    )]
    #[case(
        "1e99999999999999999999",
        "amount '1e99999999999999999999' must be written out in full, without an exponent"
    )]
    #[case(
        "-1e3",
        "amount '-1e3' must be written out in full, without an exponent"
    )]
    #[case("e3", "amount 'e3' is not a number")]
    #[case(
        "1.5\u{200B}",
        "amount '1.5<U+200B>' contains an invisible character U+200B: type it again without it"
    )]
    fn bad_amounts_say_why(#[case] input: &str, #[case] message: &str) {
        let pair: Pair = "BTCUSDT".parse().unwrap();
        assert_eq!(pair.parse_amount(input).unwrap_err().to_string(), message);
    }

    #[rstest]
    #[case("1.99999999999999999999999999999", Ok(()))]
    #[case("1_000", Err("amount '1_000' is not a number"))]
    #[case(
        "1e30",
        Err("amount '1e30' must be written out in full, without an exponent")
    )]
    #[case("-0.1", Err("amount '-0.1' must be greater than zero"))]
    fn amounts_check_before_the_pair_is_known(
        #[case] input: &str,
        #[case] expected: Result<(), &str>,
    ) {
        assert_eq!(
            check_amount(input).map_err(|error| error.to_string()),
            expected.map_err(str::to_string)
        );
    }

    #[test]
    fn a_lot_below_is_named_with_the_pairs_lot() {
        let xrp: Pair = "XRPUSDT".parse().unwrap();
        assert_eq!(
            xrp.parse_amount("0.001").unwrap_err().to_string(),
            "amount '0.001' is below the lot size 0.01 of XRP/USDT"
        );
    }

    #[test]
    fn the_largest_amount_is_a_trillion() {
        let pair: Pair = "BTCUSDT".parse().unwrap();
        assert_eq!(pair.parse_amount("1000000000000"), Ok(dec!(1000000000000)));
    }

    #[rstest]
    #[case("BTCUSDT", dec!(10), None)]
    #[case(
        "BTCUSDT",
        dec!(20),
        Some("notional 2,000,000.00 USDT is above MAX_NOTIONAL 1,000,000")
    )]
    #[case(
        "ETHBTC",
        dec!(1000),
        None
    )]
    #[case(
        "XRPUSDT",
        dec!(400000.01),
        Some("notional 1,000,000.02500 USDT is above MAX_NOTIONAL 1,000,000")
    )]
    #[case(
        "DOGEUSDT",
        dec!(1),
        Some("notional of DOGE/USDT cannot be checked against MAX_NOTIONAL 1,000,000 (no reference price for DOGE/USDT)")
    )]
    fn a_notional_above_the_limit_or_unknown_needs_confirmation(
        #[case] pair: &str,
        #[case] amount: Decimal,
        #[case] warning: Option<&str>,
    ) {
        let pair: Pair = pair.parse().unwrap();
        let check = NotionalCheck::of(pair, amount, dec!(1000000.0));
        assert_eq!(check.warning().as_deref(), warning);
        assert_eq!(check.needs_confirmation(), warning.is_some());
    }

    #[rstest]
    #[case("BTCUSDT", dec!(0.0001), None)]
    #[case(
        "BTCUSDT",
        dec!(0.00000001),
        Some("amount 0.00000001 BTC is below the minimum for BTCUSDT: notional 0.001 USDT is under MIN_NOTIONAL 10 USDT")
    )]
    #[case(
        "BTCUSDT",
        dec!(0.000000001),
        Some("amount 0.000000001 BTC is below the minimum for BTCUSDT: the lot is 0.00000001 BTC")
    )]
    #[case(
        "BTCUSDT",
        dec!(0.000000015),
        Some("amount 0.000000015 BTC is below the minimum for BTCUSDT: the lot is 0.00000001 BTC")
    )]
    #[case(
        "XRPUSDT",
        dec!(3.99),
        Some("amount 3.99 XRP is below the minimum for XRPUSDT: notional 9.975 USDT is under MIN_NOTIONAL 10 USDT")
    )]
    #[case("XRPUSDT", dec!(4), None)]
    #[case(
        "ETHBTC",
        dec!(0.002),
        Some("amount 0.002 ETH is below the minimum for ETHBTC: notional 0.00007 BTC is under the ETHBTC minimum 0.0001 BTC (MIN_NOTIONAL_PAIRS)")
    )]
    #[case("ETHBTC", dec!(0.003), None)]
    #[case("DOGEUSDT", dec!(0.00000001), None)]
    fn a_request_under_its_pairs_minimum_is_refused_by_name(
        #[case] pair: &str,
        #[case] amount: Decimal,
        #[case] refusal: Option<&str>,
    ) {
        let mut minimum = MinimumSize::uniform(dec!(10));
        minimum.per_pair.insert("ETHBTC".into(), dec!(0.0001));
        let pair: Pair = pair.parse().unwrap();
        assert_eq!(
            minimum
                .check(pair, Leg::Base, amount)
                .map_err(|below| below.to_string())
                .err()
                .as_deref(),
            refusal
        );
    }

    #[rstest]
    #[case("1.5", Leg::Base, dec!(1.5))]
    #[case("1.5 BTC", Leg::Base, dec!(1.5))]
    #[case(" 1000000   usdt ", Leg::Quote, dec!(1000000))]
    #[case("1000000.25 USDT", Leg::Quote, dec!(1000000.25))]
    fn an_amount_may_name_its_leg(#[case] input: &str, #[case] leg: Leg, #[case] amount: Decimal) {
        let btc: Pair = "BTCUSDT".parse().unwrap();
        assert_eq!(btc.parse_leg_amount(input), Ok((leg, amount)));
    }

    #[rstest]
    #[case(
        "1 EUR",
        "currency 'EUR' (--in) is not a leg of BTC/USDT: write BTC or USDT"
    )]
    #[case(
        "1.001 USDT",
        "amount '1.001' has more than 2 decimals, the most BTC/USDT allows"
    )]
    #[case(
        "1.000000001 BTC",
        "amount '1.000000001' has more than 8 decimals, the most BTC/USDT allows"
    )]
    fn a_bad_leg_or_amount_says_why(#[case] input: &str, #[case] message: &str) {
        let btc: Pair = "BTCUSDT".parse().unwrap();
        assert_eq!(
            btc.parse_leg_amount(input).unwrap_err().to_string(),
            message
        );
    }

    #[test]
    fn a_quote_amount_is_its_own_notional_and_must_buy_a_lot() {
        let btc: Pair = "BTCUSDT".parse().unwrap();
        let limits = NotionalLimits::uniform(dec!(1000000));
        assert!(!limits
            .check(btc, Leg::Quote, dec!(1000000))
            .needs_confirmation());
        assert_eq!(
            limits
                .check(btc, Leg::Quote, dec!(1000000.01))
                .warning()
                .unwrap(),
            "notional 1,000,000.01 USDT is above MAX_NOTIONAL 1,000,000"
        );
        let minimum = MinimumSize::uniform(dec!(10));
        assert_eq!(
            minimum.check(btc, Leg::Quote, dec!(9.99)).unwrap_err().to_string(),
            "amount 9.99 USDT is below the minimum for BTCUSDT: notional 9.99 USDT is under MIN_NOTIONAL 10 USDT"
        );
        // One lot (0.00000001 BTC) is worth 0.001 USDT at 100,000.
        assert_eq!(
            MinimumSize::lot_only()
                .check("XRPUSDT".parse().unwrap(), Leg::Quote, dec!(0.01))
                .unwrap_err()
                .to_string(),
            "amount 0.01 USDT is below the minimum for XRPUSDT: the lot is 0.01 XRP"
        );
        assert_eq!(minimum.check(btc, Leg::Quote, dec!(10)), Ok(()));
    }

    #[rstest]
    // 1000000 / 100070.01 = 9.993003897…: a buyer gets down, a seller gives up.
    #[case(Side::Buy, "9.99300389")]
    #[case(Side::Sell, "9.99300390")]
    fn the_base_of_a_quote_amount_rounds_to_the_lot_for_the_desk(
        #[case] side: Side,
        #[case] base: &str,
    ) {
        let btc: Pair = "BTCUSDT".parse().unwrap();
        assert_eq!(
            btc.base_for_quote(side, dec!(1000000), dec!(100070.01))
                .to_string(),
            base
        );
    }

    #[test]
    fn a_leg_that_rounds_to_zero_is_refused_without_a_configured_minimum() {
        let btc: Pair = "BTCUSDT".parse().unwrap();
        let lot_only = MinimumSize::lot_only();
        // 0.00000001 × 100,000 = 0.001 USDT: the client's USDT leg is 0.00.
        assert_eq!(
            lot_only.check(btc, Leg::Base, dec!(0.00000001)).unwrap_err().to_string(),
            "amount 0.00000001 BTC is below the minimum for BTCUSDT: notional 0.001 USDT is under one tick (0.01 USDT): the client's USDT leg would round to zero"
        );
        // 0.0000001 × 100,000 = 0.01 USDT: one tick, the least a leg can be.
        assert_eq!(lot_only.check(btc, Leg::Base, dec!(0.0000001)), Ok(()));
    }

    #[rstest]
    #[case(dec!(0), "0")]
    #[case(dec!(999), "999")]
    #[case(dec!(1000), "1,000")]
    #[case(dec!(1234567.891), "1,234,567.891")]
    #[case(dec!(-12345), "-12,345")]
    fn thousands_are_grouped(#[case] value: Decimal, #[case] shown: &str) {
        assert_eq!(group_thousands(value), shown);
    }

    #[test]
    fn amounts_show_at_lot_precision() {
        let pair: Pair = "BTCUSDT".parse().unwrap();
        assert_eq!(pair.format_amount(dec!(1.5)).to_string(), "1.50000000");
    }

    #[test]
    fn desk_rounding_goes_against_the_client() {
        assert_eq!(
            round_for_desk(Side::Buy, dec!(100.001), 2).to_string(),
            "100.01"
        );
        assert_eq!(
            round_for_desk(Side::Sell, dec!(100.009), 2).to_string(),
            "100.00"
        );
        assert_eq!(
            round_for_desk(Side::Buy, dec!(100), 2).to_string(),
            "100.00"
        );
    }

    #[test]
    fn bps_reject_negatives_and_convert() {
        assert_eq!(Bps::new(dec!(-0.1)), None);
        assert_eq!(Bps::new(dec!(5)).unwrap().fraction(), dec!(0.0005));
    }
}
