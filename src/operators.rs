//! The operators file (`lp-rfq serve --operators PATH`): who may work on
//! the desk server, each with the environment variable that holds their
//! token. Read and checked once at the server's start; a token is held as
//! a [`Secret`] and only ever compared, never shown.
//!
//! ```toml
//! [[operator]]
//! name = "alice"
//! token_env = "DESK_TOKEN_ALICE"
//! ```

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::secret::Secret;

/// One operator the desk knows.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: Arc<str>,
    token: Secret,
}

/// Every operator of the desk; see the module docs.
#[derive(Debug, Clone)]
pub struct Operators {
    operators: Vec<Operator>,
}

/// Why the operators file cannot be used: each names the file and what
/// to fix, never a token.
#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("cannot read operators file '{file}': {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("operators file '{file}': {message}")]
    Syntax { file: String, message: String },
    #[error("operators file '{file}' names no operator: add at least one [[operator]] table")]
    NoOperators { file: String },
    #[error("operators file '{file}': operator #{index} has an empty name")]
    EmptyName { file: String, index: usize },
    #[error("operators file '{file}': operator '{name}' is named twice")]
    DuplicateName { file: String, name: String },
    #[error("operators file '{file}': operator '{name}': token_env '{var}': {problem}")]
    Token {
        file: String,
        name: String,
        var: String,
        problem: String,
    },
    #[error("operators file '{file}': operators '{first}' and '{second}' have the same token: each operator needs their own")]
    SharedToken {
        file: String,
        first: String,
        second: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    operator: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    token_env: String,
}

/// A token shorter than this is guessable: refused at start.
const MIN_TOKEN_CHARS: usize = 16;

impl Operators {
    /// Reads `path` and each operator's token from the variable it names.
    pub fn load(path: &Path) -> Result<Operators, OperatorsError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| OperatorsError::Read {
            file: file.clone(),
            source,
        })?;
        Operators::parse(&text, &file, |var| {
            Secret::from_env(var).map_err(|e| e.to_string())
        })
    }

    /// Parses the file's `text`, reading each token with `token_of`.
    pub(crate) fn parse(
        text: &str,
        file: &str,
        token_of: impl Fn(&str) -> Result<Secret, String>,
    ) -> Result<Operators, OperatorsError> {
        // The message and line only: toml's own display quotes the line,
        // which may hold a token someone pasted into the file.
        let parsed: File = toml::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = error.message().trim().replace('\n', " ");
            OperatorsError::Syntax {
                file: file.to_string(),
                message: match line {
                    Some(line) => format!("line {line}: {message}"),
                    None => message,
                },
            }
        })?;
        if parsed.operator.is_empty() {
            return Err(OperatorsError::NoOperators {
                file: file.to_string(),
            });
        }
        let mut operators: Vec<Operator> = Vec::new();
        for (index, entry) in parsed.operator.into_iter().enumerate() {
            let name = entry.name.trim().to_string();
            if name.is_empty() {
                return Err(OperatorsError::EmptyName {
                    file: file.to_string(),
                    index: index + 1,
                });
            }
            if operators.iter().any(|known| *known.name == *name) {
                return Err(OperatorsError::DuplicateName {
                    file: file.to_string(),
                    name,
                });
            }
            let token_error = |problem: String| OperatorsError::Token {
                file: file.to_string(),
                name: name.clone(),
                var: entry.token_env.clone(),
                problem,
            };
            let token = token_of(&entry.token_env).map_err(token_error)?;
            if token.expose().chars().count() < MIN_TOKEN_CHARS {
                return Err(token_error(format!(
                    "the token is shorter than {MIN_TOKEN_CHARS} characters"
                )));
            }
            if let Some(same) = operators.iter().find(|known| known.token == token) {
                return Err(OperatorsError::SharedToken {
                    file: file.to_string(),
                    first: same.name.to_string(),
                    second: name,
                });
            }
            operators.push(Operator {
                name: Arc::from(name),
                token,
            });
        }
        Ok(Operators { operators })
    }

    /// The operator whose token `token` is, compared in constant time so
    /// that the time taken says nothing of how close a guess came.
    pub fn who(&self, token: &Secret) -> Option<&Operator> {
        let mut found = None;
        for operator in &self.operators {
            if same_bytes(
                operator.token.expose().as_bytes(),
                token.expose().as_bytes(),
            ) {
                found = Some(operator);
            }
        }
        found
    }

    /// How many operators the file names.
    pub fn len(&self) -> usize {
        self.operators.len()
    }

    /// Never true for a loaded file (it names at least one).
    pub fn is_empty(&self) -> bool {
        self.operators.is_empty()
    }
}

/// Equal bytes, looked at in full whatever differs first.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let mut differ = a.len() ^ b.len();
    for (index, byte) in a.iter().enumerate() {
        differ |= usize::from(byte ^ b.get(index).copied().unwrap_or(!byte));
    }
    differ == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(var: &str) -> Result<Secret, String> {
        match var {
            "ALICE" => Ok(Secret::new("alice-token-0123456789")),
            "BOB" => Ok(Secret::new("bob-token-0123456789ab")),
            "SHORT" => Ok(Secret::new("short")),
            "SAME" => Ok(Secret::new("alice-token-0123456789")),
            other => Err(format!("environment variable {other} is not set")),
        }
    }

    fn parse(text: &str) -> Result<Operators, String> {
        Operators::parse(text, "ops.toml", tokens).map_err(|e| e.to_string())
    }

    #[test]
    fn each_operator_is_found_by_their_own_token_only() {
        let operators = parse(
            "[[operator]]\nname = \"alice\"\ntoken_env = \"ALICE\"\n[[operator]]\nname = \"bob\"\ntoken_env = \"BOB\"\n",
        )
        .unwrap();
        assert_eq!(operators.len(), 2);
        let who = |token: &str| {
            operators
                .who(&Secret::new(token))
                .map(|op| op.name.to_string())
        };
        assert_eq!(who("alice-token-0123456789").as_deref(), Some("alice"));
        assert_eq!(who("bob-token-0123456789ab").as_deref(), Some("bob"));
        assert_eq!(who("alice-token-012345678"), None);
        assert_eq!(who("alice-token-0123456789x"), None);
        assert_eq!(who(""), None);
    }

    #[test]
    fn a_bad_file_is_refused_naming_what_to_fix_and_no_token() {
        let cases = [
            ("", "operators file 'ops.toml' names no operator: add at least one [[operator]] table"),
            (
                "[[operator]]\nname = \"carol\"\ntoken_env = \"CAROL\"\n",
                "operators file 'ops.toml': operator 'carol': token_env 'CAROL': environment variable CAROL is not set",
            ),
            (
                "[[operator]]\nname = \"dan\"\ntoken_env = \"SHORT\"\n",
                "operators file 'ops.toml': operator 'dan': token_env 'SHORT': the token is shorter than 16 characters",
            ),
            (
                "[[operator]]\nname = \"alice\"\ntoken_env = \"ALICE\"\n[[operator]]\nname = \"alice\"\ntoken_env = \"BOB\"\n",
                "operators file 'ops.toml': operator 'alice' is named twice",
            ),
            (
                "[[operator]]\nname = \"alice\"\ntoken_env = \"ALICE\"\n[[operator]]\nname = \"eve\"\ntoken_env = \"SAME\"\n",
                "operators file 'ops.toml': operators 'alice' and 'eve' have the same token: each operator needs their own",
            ),
            (
                "[[operator]]\nname = \" \"\ntoken_env = \"ALICE\"\n",
                "operators file 'ops.toml': operator #1 has an empty name",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).err().as_deref(), Some(expected), "{text}");
        }
        let unknown = parse("[[operator]]\nname = \"alice\"\ntoken = \"alice-token-0123456789\"\n")
            .unwrap_err();
        assert!(
            unknown.starts_with("operators file 'ops.toml': "),
            "{unknown}"
        );
        assert!(unknown.contains("line 3"), "{unknown}");
        assert!(unknown.contains("unknown field `token`"), "{unknown}");
        assert!(!unknown.contains("alice-token"), "{unknown}");
    }
}
