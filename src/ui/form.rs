//! The request form: side, amount and pair typed like the line prompt
//! (value, Enter, next value), checked with the same parsers; a bad value
//! is explained under its field and nothing starts. A side of `2w` or
//! `two-way` asks for both sides (a bid and an offer).
//!
//! The `q` rule, so a typed request is never lost by accident: `q` quits
//! only while the form holds nothing typed by hand (every field empty or
//! still the untouched previous request). Once anything is typed, `q` is an
//! ordinary character; Esc clears the form, Ctrl+C always quits.
//!
//! A request above its notional limit is not sent by the Enter that
//! submitted it: the operator types `yes` or the amount again, then Enter,
//! as the line prompt asks, so no run of Enters can confirm a fat finger.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rust_decimal::Decimal;

use crate::desk::registry::Quotable;
use crate::market::{check_amount, Leg, MinimumSize, NotionalLimits, Pair, Side};
use crate::rfq::{ClientId, RfqSpec};

pub const SIDE: usize = 0;
pub const AMOUNT: usize = 1;
pub(crate) const PAIR: usize = 2;

/// One text field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Field {
    pub text: String,
    /// Holds the previous request's value, untouched: typing replaces it.
    pub(crate) prefilled: bool,
    /// Why the value was refused, shown under the field.
    pub error: Option<String>,
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FormOutcome {
    Editing,
    /// A checked request; `two_way`: both sides (the spec's side is then
    /// the offer's, as `quote two-way` sends it).
    Submit {
        spec: RfqSpec,
        two_way: bool,
    },
    Quit,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    pub fields: [Field; 3],
    pub focus: usize,
    /// MAX_NOTIONAL (and per-pair limits): a request above its pair's
    /// limit (or whose notional cannot be checked) waits for a typed
    /// confirmation. `None`: no limit.
    pub(crate) notional_limits: Option<NotionalLimits>,
    /// MIN_NOTIONAL (and per-pair minimums, the lot and the tick): a
    /// request under its pair's minimum is refused under the amount.
    /// `None`: no minimum beyond the lot.
    pub(crate) minimum: Option<MinimumSize>,
    /// The pairs the LPs quote: another pair is refused under its field.
    /// `None`: not known, every pair is asked.
    pub(crate) quotable: Option<Quotable>,
    /// A checked request waiting for that confirmation.
    pub(crate) confirm: Option<NotionalConfirmation>,
    /// The clients of the clients file and which one the request is for
    /// (F2 takes the next); `None` without a file: every request is the
    /// house's and the form does not ask.
    pub clients: Option<ClientChoice>,
}

/// The clients a request may be for, and the one chosen: it stays chosen
/// for the next request until F2 moves on.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientChoice {
    names: Vec<ClientId>,
    at: usize,
}

impl ClientChoice {
    /// `names` (a clients file's, never empty), the first chosen.
    pub fn new(names: Vec<ClientId>) -> Option<ClientChoice> {
        (!names.is_empty()).then_some(ClientChoice { names, at: 0 })
    }

    pub fn chosen(&self) -> &ClientId {
        &self.names[self.at]
    }

    /// The next client, after the last the first again.
    pub(crate) fn next(&mut self) {
        self.at = (self.at + 1) % self.names.len();
    }

    /// The names in order, for the form's hint.
    pub(crate) fn names(&self) -> &[ClientId] {
        &self.names
    }
}

/// A checked request above its notional limit, waiting for the operator to
/// type `yes` or the amount again and press Enter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NotionalConfirmation {
    pub(crate) spec: RfqSpec,
    pub(crate) two_way: bool,
    /// Why it waits, shown on the form (e.g. "notional 2,000,000.00 USDT
    /// is above MAX_NOTIONAL 1,000,000").
    pub(crate) warning: String,
    /// The answer typed so far.
    pub(crate) typed: String,
    /// The last answer that did not confirm, as typed (empty: Enter alone).
    pub(crate) refused: Option<String>,
}

impl NotionalConfirmation {
    /// Why the last answer did not confirm, for the line under the question.
    pub(crate) fn refusal(&self) -> Option<String> {
        let refused = self.refused.as_ref()?;
        let amount = self.spec.amount.normalize();
        Some(match refused.trim() {
            "" => format!("Enter alone does not confirm: type yes or {amount} first"),
            answer => format!("'{answer}' is neither yes nor the amount {amount}: nothing sent"),
        })
    }
}

impl Form {
    pub(crate) fn new() -> Form {
        Form::default()
    }

    /// A form holding `spec`'s values (both sides when `two_way`), ready
    /// to be sent again with Enter.
    pub(crate) fn prefilled(spec: &RfqSpec, two_way: bool) -> Form {
        let field = |text: String| Field {
            text,
            prefilled: true,
            error: None,
        };
        Form {
            fields: [
                field(if two_way {
                    "two-way".to_string()
                } else {
                    spec.side.as_str().to_string()
                }),
                field(match spec.fixed {
                    Leg::Base => spec.amount.normalize().to_string(),
                    Leg::Quote => format!("{} {}", spec.amount.normalize(), spec.pair.quote),
                }),
                field(spec.pair.to_string()),
            ],
            focus: SIDE,
            notional_limits: None,
            minimum: None,
            quotable: None,
            confirm: None,
            clients: None,
        }
    }

    /// Nothing typed by hand: `q` may quit without losing anything.
    pub fn is_pristine(&self) -> bool {
        self.fields
            .iter()
            .all(|field| field.text.is_empty() || field.prefilled)
    }

    /// Empties the fields; the limit stays.
    pub(crate) fn clear(&mut self) {
        *self = Form {
            notional_limits: self.notional_limits.take(),
            minimum: self.minimum.take(),
            quotable: self.quotable.take(),
            clients: self.clients.take(),
            ..Form::new()
        };
    }

    pub(crate) fn key(&mut self, key: KeyEvent) -> FormOutcome {
        let control = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.confirm.is_some() {
            return self.confirm_key(key);
        }
        match key.code {
            KeyCode::Char('q') if !control && self.is_pristine() => return FormOutcome::Quit,
            KeyCode::Char('u') if control => {
                self.fields[self.focus] = Field::default();
            }
            KeyCode::Char(c) if !control && !key.modifiers.contains(KeyModifiers::ALT) => {
                let field = &mut self.fields[self.focus];
                if field.prefilled {
                    field.text.clear();
                    field.prefilled = false;
                }
                field.text.push(c);
                field.error = None;
            }
            KeyCode::Backspace => {
                let field = &mut self.fields[self.focus];
                field.prefilled = false;
                field.text.pop();
                field.error = None;
            }
            KeyCode::F(2) => {
                if let Some(choice) = self.clients.as_mut() {
                    choice.next();
                }
            }
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % 3,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + 2) % 3,
            KeyCode::Esc => self.clear(),
            KeyCode::Enter => {
                if let Some((spec, two_way)) = self.enter() {
                    return FormOutcome::Submit { spec, two_way };
                }
            }
            _ => {}
        }
        FormOutcome::Editing
    }

    /// A key while a fat finger waits for its confirmation: the answer is
    /// typed and Enter judges it; moving away (Esc, Tab, the arrows) goes
    /// back to the form, the request unchanged, the amount focused.
    fn confirm_key(&mut self, key: KeyEvent) -> FormOutcome {
        let control = key.modifiers.contains(KeyModifiers::CONTROL);
        let Some(confirm) = self.confirm.as_mut() else {
            return FormOutcome::Editing;
        };
        match key.code {
            KeyCode::Enter if confirm.spec.confirmed_by(&confirm.typed) => {
                let (spec, two_way) = (confirm.spec, confirm.two_way);
                self.confirm = None;
                return FormOutcome::Submit { spec, two_way };
            }
            KeyCode::Enter => confirm.refused = Some(std::mem::take(&mut confirm.typed)),
            KeyCode::Char('u') if control => confirm.typed.clear(),
            KeyCode::Char(c) if !control && !key.modifiers.contains(KeyModifiers::ALT) => {
                confirm.typed.push(c);
            }
            KeyCode::Backspace => {
                confirm.typed.pop();
            }
            KeyCode::Esc | KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
                self.confirm = None;
                self.focus = AMOUNT;
            }
            _ => {}
        }
        FormOutcome::Editing
    }

    /// Enter: checks the focused field and moves on; on the pair field
    /// checks the whole request (the amount against the pair's lot size).
    fn enter(&mut self) -> Option<(RfqSpec, bool)> {
        match self.focus {
            SIDE => {
                if self.check_side().is_some() {
                    self.focus = AMOUNT;
                }
                None
            }
            AMOUNT => {
                if self.check_amount() {
                    self.focus = PAIR;
                }
                None
            }
            _ => self.submit(),
        }
    }

    fn refuse(&mut self, index: usize, error: impl ToString) {
        self.fields[index].error = Some(error.to_string());
    }

    /// The side, and whether it is both (`2w`, `two-way`: the offer's
    /// side, as the prompt sends it).
    fn check_side(&mut self) -> Option<(Side, bool)> {
        let text = &self.fields[SIDE].text;
        if crate::rfq::request::is_two_way(text) {
            self.fields[SIDE].error = None;
            return Some((Side::Buy, true));
        }
        match text.parse::<Side>() {
            Ok(side) => {
                self.fields[SIDE].error = None;
                Some((side, false))
            }
            Err(_) => {
                let why = format!(
                    "side '{}' is not one of b, buy, s, sell, 2w, two-way",
                    text.trim()
                );
                self.refuse(SIDE, why);
                None
            }
        }
    }

    fn check_amount(&mut self) -> bool {
        match check_amount(&self.fields[AMOUNT].text) {
            Ok(_) => {
                self.fields[AMOUNT].error = None;
                true
            }
            Err(error) => {
                self.refuse(AMOUNT, error);
                false
            }
        }
    }

    /// Why `amount` of `pair`'s `fixed` leg is dust, if it is.
    fn below_minimum(&self, pair: Pair, fixed: Leg, amount: Decimal) -> Option<String> {
        let minimum = self.minimum.as_ref()?;
        minimum
            .check(pair, fixed, amount)
            .err()
            .map(|below| below.to_string())
    }

    /// Every field checked; the first bad one takes the focus.
    fn submit(&mut self) -> Option<(RfqSpec, bool)> {
        let refusal = |pair: Pair| self.quotable.as_ref().and_then(|q| q.refusal(pair));
        let pair = match self.fields[PAIR].text.parse::<Pair>() {
            Ok(pair) if refusal(pair).is_some() => {
                let why = refusal(pair).unwrap_or_default();
                self.refuse(PAIR, why);
                None
            }
            Ok(pair) => {
                self.fields[PAIR].error = None;
                Some(pair)
            }
            Err(error) => {
                self.refuse(PAIR, error);
                None
            }
        };
        let side = self.check_side();
        let amount = match pair {
            Some(pair) => match pair.parse_leg_amount(&self.fields[AMOUNT].text) {
                Ok((fixed, amount)) if self.below_minimum(pair, fixed, amount).is_some() => {
                    let why = self.below_minimum(pair, fixed, amount).unwrap_or_default();
                    self.refuse(AMOUNT, why);
                    None
                }
                Ok(leg_amount) => {
                    self.fields[AMOUNT].error = None;
                    Some(leg_amount)
                }
                Err(error) => {
                    self.refuse(AMOUNT, error);
                    None
                }
            },
            None => self.check_amount().then_some((Leg::Base, Decimal::ZERO)),
        };
        match (side, amount, pair) {
            (Some((side, two_way)), Some((fixed, amount)), Some(pair)) => {
                let spec = RfqSpec {
                    side,
                    amount,
                    pair,
                    fixed,
                };
                let warning = self
                    .notional_limits
                    .as_ref()
                    .and_then(|limits| limits.check(pair, fixed, amount).warning());
                match warning {
                    Some(warning) => {
                        self.confirm = Some(NotionalConfirmation {
                            spec,
                            two_way,
                            warning,
                            typed: String::new(),
                            refused: None,
                        });
                        None
                    }
                    None => Some((spec, two_way)),
                }
            }
            _ => {
                self.focus = [SIDE, AMOUNT, PAIR]
                    .into_iter()
                    .find(|&index| self.fields[index].error.is_some())
                    .unwrap_or(PAIR);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn press(form: &mut Form, code: KeyCode) -> FormOutcome {
        form.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn type_text(form: &mut Form, text: &str) -> FormOutcome {
        let mut outcome = FormOutcome::Editing;
        for c in text.chars() {
            outcome = match c {
                '\n' => press(form, KeyCode::Enter),
                '\t' => press(form, KeyCode::Tab),
                c => press(form, KeyCode::Char(c)),
            };
        }
        outcome
    }

    #[test]
    fn an_amount_in_the_quote_currency_is_submitted_with_its_leg_and_prefilled_again() {
        let mut form = Form::new();
        let FormOutcome::Submit { spec, .. } = type_text(&mut form, "s\n1000000 USDT\nBTCUSDT\n")
        else {
            panic!("no submit: {form:?}");
        };
        assert_eq!(
            (spec.side, spec.amount, spec.fixed),
            (Side::Sell, dec!(1000000), Leg::Quote)
        );
        assert_eq!(
            Form::prefilled(&spec, false).fields[AMOUNT].text,
            "1000000 USDT"
        );
        let mut form = Form::new();
        assert!(matches!(
            type_text(&mut form, "b\n1000000 XRP\nBTCUSDT\n"),
            FormOutcome::Editing
        ));
        assert_eq!(
            form.fields[AMOUNT].error.as_deref(),
            Some("currency 'XRP' (--in) is not a leg of BTC/USDT: write BTC or USDT")
        );
    }

    #[test]
    fn side_amount_pair_with_enter_submits_like_the_prompt() {
        let mut form = Form::new();
        let outcome = type_text(&mut form, "b\n1.5\nBTCUSDT\n");
        let FormOutcome::Submit { spec, two_way } = outcome else {
            panic!("no submit: {form:?}");
        };
        assert_eq!(
            (spec.side, spec.amount, spec.pair.symbol().as_str(), two_way),
            (Side::Buy, dec!(1.5), "BTCUSDT", false)
        );
    }

    #[rstest::rstest]
    #[case("2w")]
    #[case("two-way")]
    #[case("2W")]
    fn two_way_asks_for_both_sides_and_is_prefilled_as_two_way(#[case] side: &str) {
        let mut form = Form::new();
        let outcome = type_text(&mut form, &format!("{side}\n1.5\nBTCUSDT\n"));
        let FormOutcome::Submit { spec, two_way } = outcome else {
            panic!("no submit: {form:?}");
        };
        // The spec carries the offer's side, as `quote two-way` sends it.
        assert_eq!(
            (spec.side, spec.amount, two_way),
            (Side::Buy, dec!(1.5), true)
        );
        let mut again = Form::prefilled(&spec, true);
        assert_eq!(again.fields[SIDE].text, "two-way");
        assert_eq!(
            type_text(&mut again, "\n\n\n"),
            FormOutcome::Submit {
                spec,
                two_way: true
            }
        );
    }

    #[test]
    fn a_two_way_request_above_the_limit_stays_two_way_once_confirmed() {
        let mut form = limited();
        assert_eq!(
            type_text(&mut form, "2w\n20\nBTCUSDT\n"),
            FormOutcome::Editing
        );
        assert!(matches!(
            type_text(&mut form, "yes\n"),
            FormOutcome::Submit { two_way: true, .. }
        ));
    }

    #[test]
    fn a_bad_value_is_explained_under_its_field_and_nothing_starts() {
        let mut form = Form::new();
        assert_eq!(type_text(&mut form, "long\n"), FormOutcome::Editing);
        assert_eq!(
            form.fields[SIDE].error.as_deref(),
            Some("side 'long' is not one of b, buy, s, sell, 2w, two-way")
        );
        assert_eq!(form.focus, SIDE);
        for _ in 0..4 {
            press(&mut form, KeyCode::Backspace);
        }
        type_text(&mut form, "s\n-2\n");
        assert_eq!(
            form.fields[AMOUNT].error.as_deref(),
            Some("amount '-2' must be greater than zero")
        );
        assert_eq!(form.focus, AMOUNT);
    }

    #[test]
    fn an_amount_too_fine_for_the_pair_sends_the_focus_back_to_it() {
        let mut form = Form::new();
        let outcome = type_text(&mut form, "b\n1.0000001\nETHUSDT\n");
        assert_eq!(outcome, FormOutcome::Editing);
        assert_eq!(form.focus, AMOUNT);
        assert_eq!(
            form.fields[AMOUNT].error.as_deref(),
            Some("amount '1.0000001' has more than 6 decimals, the most ETH/USDT allows")
        );
    }

    fn limited() -> Form {
        Form {
            notional_limits: Some(NotionalLimits::uniform(dec!(1000000))),
            ..Form::new()
        }
    }

    #[test]
    fn a_notional_above_the_limit_is_not_sent_by_more_enters() {
        let mut form = limited();
        assert_eq!(
            type_text(&mut form, "b\n20\nBTCUSDT\n\n\n"),
            FormOutcome::Editing
        );
        let confirm = form.confirm.as_ref().expect("still asking");
        assert_eq!(
            confirm.warning,
            "notional 2,000,000.00 USDT is above MAX_NOTIONAL 1,000,000"
        );
        assert_eq!(
            confirm.refusal().as_deref(),
            Some("Enter alone does not confirm: type yes or 20 first")
        );
    }

    #[rstest::rstest]
    #[case("yes\n")]
    #[case("20\n")]
    #[case("2\n20\n")]
    fn a_notional_above_the_limit_is_sent_after_yes_or_the_amount_again(#[case] answer: &str) {
        let mut form = limited();
        type_text(&mut form, "b\n20\nBTCUSDT\n");
        match type_text(&mut form, answer) {
            FormOutcome::Submit { spec, .. } => assert_eq!(spec.amount, dec!(20)),
            other => panic!("expected a submit, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_answer_is_said_and_nothing_is_sent() {
        let mut form = limited();
        type_text(&mut form, "b\n20\nBTCUSDT\n");
        assert_eq!(type_text(&mut form, "2\n"), FormOutcome::Editing);
        assert_eq!(
            form.confirm
                .as_ref()
                .and_then(NotionalConfirmation::refusal)
                .as_deref(),
            Some("'2' is neither yes nor the amount 20: nothing sent")
        );
    }

    #[test]
    fn esc_on_a_notional_confirmation_goes_back_to_the_amount() {
        let mut form = limited();
        type_text(&mut form, "b\n20\nBTCUSDT\n");
        assert_eq!(press(&mut form, KeyCode::Esc), FormOutcome::Editing);
        assert_eq!((form.confirm.is_none(), form.focus), (true, AMOUNT));
        assert_eq!(form.fields[AMOUNT].text, "20");
        press(&mut form, KeyCode::Backspace);
        press(&mut form, KeyCode::Backspace);
        match type_text(&mut form, "2\n\n") {
            FormOutcome::Submit { spec, .. } => assert_eq!(spec.amount, dec!(2)),
            other => panic!("expected a submit, got {other:?}"),
        }
    }

    #[test]
    fn a_pairs_own_limit_decides_its_confirmation() {
        let mut limits = NotionalLimits::uniform(dec!(1000000));
        limits.per_pair.insert("BTCUSDT".to_string(), dec!(100000));
        let mut form = Form {
            notional_limits: Some(limits),
            ..Form::new()
        };
        assert_eq!(
            type_text(&mut form, "b\n2\nBTCUSDT\n"),
            FormOutcome::Editing
        );
        assert_eq!(
            form.confirm
                .as_ref()
                .map(|confirm| confirm.warning.as_str()),
            Some(
                "notional 200,000.00 USDT is above the BTCUSDT limit 100,000 (MAX_NOTIONAL_PAIRS)"
            )
        );
    }

    #[test]
    fn a_pair_no_lp_quotes_is_refused_under_its_field() {
        let mut form = Form {
            quotable: Some(Quotable::Only(vec!["BTCUSDT".parse().unwrap()])),
            ..Form::new()
        };
        assert_eq!(
            type_text(&mut form, "b\n1\nDOGEUSDT\n"),
            FormOutcome::Editing
        );
        assert_eq!(form.focus, PAIR);
        assert_eq!(
            form.fields[PAIR].error.as_deref(),
            Some("no configured LP quotes DOGE/USDT (quotable: BTCUSDT)")
        );
    }

    #[test]
    fn within_the_limit_enter_starts_at_once() {
        let mut form = Form {
            notional_limits: Some(NotionalLimits::uniform(dec!(1000000))),
            ..Form::new()
        };
        assert!(matches!(
            type_text(&mut form, "b\n10\nBTCUSDT\n"),
            FormOutcome::Submit { .. }
        ));
    }

    #[test]
    fn q_quits_only_while_nothing_is_typed() {
        assert_eq!(type_text(&mut Form::new(), "q"), FormOutcome::Quit);
        let mut form = Form::new();
        type_text(&mut form, "b\n1\n");
        assert_eq!(type_text(&mut form, "q"), FormOutcome::Editing);
        assert_eq!(form.fields[PAIR].text, "q", "q is a character in a pair");
        press(&mut form, KeyCode::Esc);
        assert_eq!(type_text(&mut form, "q"), FormOutcome::Quit);
    }

    #[test]
    fn a_prefilled_form_resends_with_enter_and_typing_replaces_a_value() {
        let spec = RfqSpec {
            side: Side::Sell,
            amount: dec!(2),
            pair: "ETHUSDT".parse().unwrap(),
            fixed: crate::market::Leg::Base,
        };
        let mut form = Form::prefilled(&spec, false);
        assert!(form.is_pristine());
        assert_eq!(
            type_text(&mut form, "\n\n\n"),
            FormOutcome::Submit {
                spec,
                two_way: false
            }
        );
        let mut form = Form::prefilled(&spec, false);
        let FormOutcome::Submit { spec: changed, .. } = type_text(&mut form, "\n3\n\n") else {
            panic!("no submit");
        };
        assert_eq!(changed.amount, dec!(3));
        assert_eq!(type_text(&mut form, "\tq"), FormOutcome::Editing);
    }

    #[test]
    fn tab_and_shift_tab_move_between_fields() {
        let mut form = Form::new();
        press(&mut form, KeyCode::Tab);
        assert_eq!(form.focus, AMOUNT);
        press(&mut form, KeyCode::BackTab);
        press(&mut form, KeyCode::BackTab);
        assert_eq!(form.focus, PAIR);
    }
}
