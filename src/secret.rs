//! Secrets (API tokens, keys, FIX passwords): read once from the
//! environment variable the venues file names, and held in a type that
//! cannot be printed, so no output, log, error or blotter row can show one
//! by accident. Only `Secret::expose` reveals the value, at the one place
//! that puts it on the wire.

use std::fmt;

/// A secret value. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    Missing(String),
    #[error("environment variable {0} is empty")]
    Empty(String),
    #[error("environment variable {0} is not valid UTF-8")]
    NotUnicode(String),
}

impl Secret {
    /// Wraps a value (tests; production reads [`Secret::from_env`]).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Reads the secret from environment variable `var`; the error names
    /// the variable, never the value.
    pub fn from_env(var: &str) -> Result<Secret, SecretError> {
        match std::env::var(var) {
            Ok(value) if value.is_empty() => Err(SecretError::Empty(var.to_string())),
            Ok(value) => Ok(Secret(value)),
            Err(std::env::VarError::NotPresent) => Err(SecretError::Missing(var.to_string())),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::NotUnicode(var.to_string())),
        }
    }

    /// The value itself, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// True when `candidate` is this secret, compared in full whatever
    /// differs first, so that the time taken says nothing of how close a
    /// guess came.
    pub(crate) fn matches(&self, candidate: &str) -> bool {
        same_bytes(self.0.as_bytes(), candidate.as_bytes())
    }

    /// True when `text` contains the secret (for masking audit logs).
    pub(crate) fn appears_in(&self, text: &str) -> bool {
        !self.0.is_empty() && text.contains(&self.0)
    }
}

/// A token shorter than this is guessable: refused at start.
pub(crate) const MIN_TOKEN_CHARS: usize = 16;

/// What a `token_env` (or any field naming a secret's variable) must be,
/// as the files' errors say it.
pub(crate) const ENV_VAR_RULE: &str =
    "the name of an environment variable: capital letters, digits and _";

/// True when `name` is an environment variable's name in the
/// conventional capitals. A token pasted where its variable's name
/// belongs (`sk_live_…`, hex, base64) fails this, so it is refused before
/// an "is not set" could print it.
pub(crate) fn is_env_var_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// A desk token (an operator's, a client's) from the variable `var`:
/// refused when missing, empty or shorter than [`MIN_TOKEN_CHARS`]; the
/// error names the variable, never the value.
pub(crate) fn desk_token(var: &str) -> Result<Secret, String> {
    let token = Secret::from_env(var).map_err(|error| error.to_string())?;
    check_token_length(token)
}

/// `token` if it is long enough not to be guessed.
pub(crate) fn check_token_length(token: Secret) -> Result<Secret, String> {
    if token.0.chars().count() < MIN_TOKEN_CHARS {
        return Err(format!(
            "the token is shorter than {MIN_TOKEN_CHARS} characters"
        ));
    }
    Ok(token)
}

/// Equal bytes, looked at in full whatever differs first.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let mut differ = a.len() ^ b.len();
    for (index, byte) in a.iter().enumerate() {
        differ |= usize::from(byte ^ b.get(index).copied().unwrap_or(!byte));
    }
    differ == 0
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(
            format!("{secret} {secret:?} {:?}", Some(&secret)),
            "[redacted] [redacted] Some([redacted])"
        );
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_secret_matches_only_itself() {
        let secret = Secret::new("alice-token-0123456789");
        assert!(secret.matches("alice-token-0123456789"));
        assert!(!secret.matches("alice-token-012345678"));
        assert!(!secret.matches("alice-token-0123456789x"));
        assert!(!secret.matches(""));
    }

    #[test]
    fn only_capitalised_names_are_variable_names() {
        for name in ["B2C2_API_TOKEN", "T", "_X1"] {
            assert!(is_env_var_name(name), "{name}");
        }
        for name in ["", "sk_live_abc123", "9F86D081", "MY TOKEN", "desk_token"] {
            assert!(!is_env_var_name(name), "{name}");
        }
    }

    #[test]
    fn a_missing_variable_is_named() {
        let error = Secret::from_env("LP_RFQ_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable LP_RFQ_TEST_SURELY_UNSET_VAR is not set"
        );
    }
}
