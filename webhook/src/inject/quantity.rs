//! A strict validator for Kubernetes resource quantities (`resource.Quantity`'s canonical grammar).
//!
//! ```text
//! quantity        ::= <signedNumber><suffix>
//! suffix          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! binarySI        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! decimalSI       ::= n | u | m | "" | k | M | G | T | P | E
//! decimalExponent ::= "e" <signedNumber> | "E" <signedNumber>
//! ```
//! Resource amounts cannot be negative, so a leading `-` is refused here.

/// What [`is_valid`] accepts, for error messages.
pub const ACCEPTED: &str = "a Kubernetes quantity such as 250m, 0.5, 64Mi, 1G or 0 (suffixes n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei; case matters)";

/// Whether `value` is a valid non-negative Kubernetes quantity.
pub fn is_valid(value: &str) -> bool {
    let s = value.strip_prefix('+').unwrap_or(value);
    let Some(rest) = number(s) else {
        return false;
    };
    match rest {
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
        _ => match rest.strip_prefix(['e', 'E']) {
            Some(exp) => {
                let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit())
            }
            None => false,
        },
    }
}

/// Consumes `digits[.digits]` or `.digits`; returns the rest, or `None` when there is no number.
fn number(s: &str) -> Option<&str> {
    let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (int, rest) = s.split_at(int_end);
    let Some(frac) = rest.strip_prefix('.') else {
        return (!int.is_empty()).then_some(rest);
    };
    let frac_end = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
    if int.is_empty() && frac_end == 0 {
        return None;
    }
    Some(&frac[frac_end..])
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn accepts_vault_k8s_examples() {
        for ok in [
            "500m", "250m", "128Mi", "64Mi", "500M", "128M", "500G", "500Gi", "128Gi", "1G", "0", "128m",
            "1", "0.5", ".5", "1.", "1e3", "1E-2", "+1Ki", "2Ei",
        ] {
            assert!(is_valid(ok), "{ok} should be valid");
        }
    }

    #[test]
    fn rejects_case_79_and_garbage() {
        for bad in [
            "500mi", "500gi", "128mb", "128g", "128gi", "", "Mi", "-1", "1.2.3", "1 Mi", "1e", "1ee2", "one",
            ".", "1KiB",
        ] {
            assert!(!is_valid(bad), "{bad} should be invalid");
        }
    }
}
