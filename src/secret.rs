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

    /// True when `text` contains the secret (for masking audit logs).
    pub(crate) fn appears_in(&self, text: &str) -> bool {
        !self.0.is_empty() && text.contains(&self.0)
    }
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
    fn a_missing_variable_is_named() {
        let error = Secret::from_env("LP_RFQ_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable LP_RFQ_TEST_SURELY_UNSET_VAR is not set"
        );
    }
}
