//! A newtype that keeps tokens and other credentials out of logs and error messages.

use std::fmt;

/// A credential. `Debug` and `Display` print `[redacted]`; use [`Credential::expose`] to send it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credential(String);

impl Credential {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the credential is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The auto-auth token and its accessor, as the runner hands them to the listener (through a watch
/// channel, at every login): the proxy sends the token and keeps both out of every answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoAuth {
    /// The token.
    pub token: Credential,
    /// Its accessor (empty when unknown, or for batch tokens).
    pub accessor: Credential,
}

#[cfg(test)]
mod tests {
    use super::Credential;

    #[test]
    fn never_prints_the_value() {
        let token = Credential::new("hvs.very-secret");
        assert_eq!(
            format!("{token:?} {token} {:?}", Some(&token)),
            "[redacted] [redacted] Some([redacted])"
        );
        assert_eq!(token.expose(), "hvs.very-secret");
    }
}
