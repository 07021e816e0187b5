//! The typed values of the contract: each is checked once, when it is made (by the webhook) or
//! read (by the agent, through serde), and crosses the wire as the same string as before.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::go;

/// A duration in the format Vault Agent reads (`parseutil.ParseDurationSecond`): whole seconds
/// (`30`), whole days (`1d`) or a Go duration (`1m30s`); never negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VaultDuration {
    text: String,
    value: Duration,
}

impl VaultDuration {
    /// The duration.
    pub fn get(&self) -> Duration {
        self.value
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for VaultDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        go::parse_vault_duration(text)
            .map(|value| VaultDuration {
                text: text.to_owned(),
                value,
            })
            .ok_or_else(|| {
                format!(
                    "{text:?} is not {}",
                    go::duration_expectation(text, go::VAULT_DURATION_ACCEPTED)
                )
            })
    }
}

/// A file mode from `000` to `0777`, written in octal (`0644`; a `0o` prefix is accepted): no
/// setuid, setgid or sticky bit, which Vault Agent would drop silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileMode {
    text: String,
    mode: u32,
}

impl FileMode {
    /// The mode bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }
}

impl FromStr for FileMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .map(|mode| FileMode {
                text: text.to_owned(),
                mode,
            })
            .ok_or_else(|| {
                format!(
                    "{text:?} is not an octal file mode from 000 to 0777 such as 0600 or 0644 \
                     (setuid, setgid and sticky bits are refused)"
                )
            })
    }
}

/// A template's command as written and the argv the agent runs without a shell
/// ([`crate::command_argv`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Command {
    text: String,
    argv: Vec<String>,
}

impl Command {
    /// The words to run (empty for a blank command).
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Command {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        command_argv(text)
            .map(|argv| Command {
                text: text.to_owned(),
                argv,
            })
            .map_err(|why| format!("{text:?} cannot run without a shell (the agent has none): {why}"))
    }
}

macro_rules! string_wire {
    ($($t:ident),*) => {$(
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                text.parse()
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.text
            }
        }
        /// The text as written (what crosses the wire).
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.text
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.text)
            }
        }
    )*};
}
string_wire!(VaultDuration, FileMode, Command);

/// A template's `command` as the argv the agent runs (no shell: the agent image has none): split
/// like a POSIX shell splits words, quotes and backslashes honoured. `Err` says why it cannot run
/// without a shell (an operator, a substitution, a variable) or cannot be split (an open quote).
pub fn command_argv(command: &str) -> Result<Vec<String>, String> {
    const SHELL_ONLY: [&str; 9] = ["|", ";", "&", ">", "<", "$", "`", "(", ")"];
    let argv = shlex::split(command).ok_or("it has an unclosed quote or a trailing backslash")?;
    if let Some(op) = SHELL_ONLY.iter().find(|op| {
        // Operators outside quotes are what a shell would interpret; inside quotes they are text.
        unquoted(command).contains(**op)
    }) {
        return Err(format!("it uses {op:?}, which needs a shell"));
    }
    Ok(argv)
}

/// The parts of `s` outside single and double quotes (backslash escapes skipped).
fn unquoted(s: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                chars.next();
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_check_once_and_keep_their_text_on_the_wire() {
        let d: VaultDuration = "1d".parse().unwrap();
        assert_eq!((d.get(), d.as_str()), (Duration::from_secs(86_400), "1d"));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1d\"");
        let err = serde_json::from_str::<VaultDuration>("\"-5s\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not negative"), "{err}");

        let m: FileMode = "0o640".parse().unwrap();
        assert_eq!((m.mode(), m.to_string().as_str()), (0o640, "0o640"));
        assert!("4755".parse::<FileMode>().unwrap_err().contains("setuid"));
        assert!("rw-r--r--".parse::<FileMode>().is_err());

        let c: Command = "  /bin/kill  -HUP 1 ".parse().unwrap();
        assert_eq!(c.argv(), ["/bin/kill", "-HUP", "1"]);
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"  /bin/kill  -HUP 1 \"");
        assert!(
            "kill $(pidof app)"
                .parse::<Command>()
                .unwrap_err()
                .contains("needs a shell")
        );
    }
}
