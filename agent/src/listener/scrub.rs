//! The proxy's second wall (pure): whatever a path said, no answer leaves the listener holding the
//! auto-auth token or its accessor. A JSON answer has every string that contains one blanked (and
//! every object member named by one dropped), at any depth; a non-JSON answer that holds one is
//! withheld whole; so is a header. The first wall is [`strip_self`]: Vault Agent's removal of the
//! token's `id`/`accessor` from a `lookup-self`/`renew-self` answer.

use hyper::body::Bytes;
use serde_json::Value;

/// The values no answer may carry (the empty ones are ignored).
#[derive(Debug, Clone, Copy)]
pub struct Secrets<'a> {
    values: [&'a str; 2],
}

impl<'a> Secrets<'a> {
    /// The auto-auth token and its accessor.
    pub fn new(token: &'a str, accessor: &'a str) -> Self {
        Self {
            values: [token, accessor],
        }
    }

    fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.values.iter().copied().filter(|v| !v.is_empty())
    }

    /// Whether `text` holds one of them.
    pub fn in_str(&self, text: &str) -> bool {
        self.iter().any(|s| text.contains(s))
    }

    /// Whether `bytes` hold one of them, verbatim.
    pub fn in_bytes(&self, bytes: &[u8]) -> bool {
        self.iter()
            .any(|s| bytes.windows(s.len()).any(|window| window == s.as_bytes()))
    }
}

/// What [`scrub`] did to an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scrubbed {
    /// Nothing to hide: send the answer as it is, byte for byte.
    Clean,
    /// A JSON answer with the secrets blanked.
    Blanked(Bytes),
    /// Not JSON, and it holds a secret: the answer must not be sent.
    Withheld,
}

/// Blanks the secrets out of an answer. Only an answer that holds one verbatim, or holds a JSON escape
/// (`\`, through which a string could spell one), is parsed; an answer with nothing to hide is left
/// untouched, so ordinary answers keep their bytes.
pub fn scrub(answer: &[u8], secrets: Secrets<'_>) -> Scrubbed {
    let verbatim = secrets.in_bytes(answer);
    if !verbatim && !answer.contains(&b'\\') {
        return Scrubbed::Clean;
    }
    match serde_json::from_slice::<Value>(answer) {
        Ok(mut value) => {
            if blank(&mut value, secrets) {
                Scrubbed::Blanked(Bytes::from(value.to_string()))
            } else {
                Scrubbed::Clean
            }
        }
        Err(_) if verbatim => Scrubbed::Withheld,
        Err(_) => Scrubbed::Clean,
    }
}

/// Blanks every string holding a secret, drops every member named by one; whether anything changed.
fn blank(value: &mut Value, secrets: Secrets<'_>) -> bool {
    match value {
        Value::String(s) if secrets.in_str(s) => {
            s.clear();
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| blank(item, secrets) | changed),
        Value::Object(members) => {
            let before = members.len();
            members.retain(|name, _| !secrets.in_str(name));
            let dropped = members.len() != before;
            members
                .values_mut()
                .fold(dropped, |changed, item| blank(item, secrets) | changed)
        }
        _ => false,
    }
}

/// Vault Agent's own stripping, for an answer about the auto-auth token (`lookup-self`,
/// `renew-self`, or `lookup`/`renew` of that token): `data.id` and `data.accessor` removed,
/// `auth.client_token` and `auth.accessor` emptied. `None`: not JSON, or nothing to strip.
pub fn strip_self(answer: &[u8]) -> Option<Bytes> {
    let mut secret = serde_json::from_slice::<Value>(answer).ok()?;
    let mut changed = false;
    if let Some(data) = secret.get_mut("data").and_then(Value::as_object_mut) {
        changed |= data.remove("id").is_some();
        changed |= data.remove("accessor").is_some();
    }
    if let Some(auth) = secret.get_mut("auth").and_then(Value::as_object_mut) {
        auth.insert("client_token".into(), Value::String(String::new()));
        auth.insert("accessor".into(), Value::String(String::new()));
        changed = true;
    }
    changed.then(|| Bytes::from(secret.to_string()))
}

/// Whether a `lookup`/`renew` request body names a token other than the auto-auth token — only then
/// is the answer not about the auto-auth token. No body, `{}`, an empty or non-string `token`, or a
/// body that is not JSON: Vault looks up (or renews) the caller's own token.
pub fn names_another_token(body: &[u8], auto: &str) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
        .is_some_and(|t| !t.is_empty() && t != auto)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TOKEN: &str = "s.autoAuthTokenValue123";
    const ACCESSOR: &str = "acc3ss0rOfTheAutoToken";

    fn secrets() -> Secrets<'static> {
        Secrets::new(TOKEN, ACCESSOR)
    }

    fn scrubbed(v: &Value) -> Value {
        match scrub(v.to_string().as_bytes(), secrets()) {
            Scrubbed::Blanked(b) => serde_json::from_slice(&b).unwrap(),
            other => panic!("not blanked: {other:?}"),
        }
    }

    #[test]
    fn the_token_and_accessor_are_blanked_at_any_depth() {
        let answer = json!({
            "data": {"id": TOKEN, "accessor": ACCESSOR, "ttl": 30, "policies": ["default"]},
            "auth": {"client_token": TOKEN, "accessor": ACCESSOR, "metadata": {"deep": [[{"x": TOKEN}]]}},
            "warnings": [format!("token {TOKEN} is old")],
            "keyed": {TOKEN: "by the token", "other": 1},
        });
        let out = scrubbed(&answer);
        assert_eq!(
            out,
            json!({
                "data": {"id": "", "accessor": "", "ttl": 30, "policies": ["default"]},
                "auth": {"client_token": "", "accessor": "", "metadata": {"deep": [[{"x": ""}]]}},
                "warnings": [""],
                "keyed": {"other": 1},
            })
        );
        let text = out.to_string();
        assert!(!text.contains(TOKEN) && !text.contains(ACCESSOR), "{text}");
    }

    #[test]
    fn escapes_cannot_spell_the_token_past_the_wall() {
        // `s` as `\u0073`: not verbatim in the bytes, the same string once parsed
        let answer = format!(r#"{{"data":{{"id":"\u0073{}"}}}}"#, &TOKEN[1..]);
        assert!(!answer.contains(TOKEN));
        match scrub(answer.as_bytes(), secrets()) {
            Scrubbed::Blanked(b) => assert_eq!(&b[..], br#"{"data":{"id":""}}"#),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_without_secrets_keep_their_bytes() {
        // key order and number spelling are the server's: an untouched answer is not re-serialised
        let answer = br#"{"z": 1, "a": 1.50, "data": {"k": "a\nb"}}"#;
        assert_eq!(scrub(answer, secrets()), Scrubbed::Clean);
        assert_eq!(scrub(b"plain text", secrets()), Scrubbed::Clean);
        assert_eq!(scrub(b"", secrets()), Scrubbed::Clean);
        // no token known yet: nothing to hide
        assert_eq!(scrub(TOKEN.as_bytes(), Secrets::new("", "")), Scrubbed::Clean);
    }

    #[test]
    fn a_non_json_answer_with_the_token_is_withheld() {
        let answer = format!("<html>{TOKEN}</html>");
        assert_eq!(scrub(answer.as_bytes(), secrets()), Scrubbed::Withheld);
    }

    #[test]
    fn vault_agents_stripping_of_self_answers() {
        let out = strip_self(br#"{"data":{"id":"x","accessor":"a","ttl":30}}"#).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({"data": {"ttl": 30}})
        );
        let out = strip_self(br#"{"auth":{"client_token":"x","accessor":"a","lease_duration":30}}"#).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap(),
            json!({"auth": {"client_token": "", "accessor": "", "lease_duration": 30}})
        );
        assert_eq!(strip_self(b"not json"), None);
    }

    #[test]
    fn lookup_bodies_without_another_token_are_about_the_callers_own() {
        assert!(!names_another_token(b"", TOKEN));
        assert!(!names_another_token(b"{}", TOKEN));
        assert!(!names_another_token(br#"{"token":""}"#, TOKEN));
        assert!(!names_another_token(br#"{"token":7}"#, TOKEN));
        assert!(!names_another_token(b"token=x", TOKEN));
        assert!(!names_another_token(
            format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes(),
            TOKEN
        ));
        assert!(names_another_token(br#"{"token":"s.other"}"#, TOKEN));
    }
}
