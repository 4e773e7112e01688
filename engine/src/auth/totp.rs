//! The second factor: RFC 6238 TOTP codes (6 digits, 30 s, SHA-1: what authenticator apps
//! expect), one step of clock skew allowed either way.

use totp_rs::{Algorithm, Secret, TOTP};

/// A new secret (160 bits, base32) and its `otpauth://` URL for an authenticator app.
pub fn new_secret(user: &str) -> (String, String) {
    let mut bytes = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let secret = Secret::Raw(bytes.to_vec()).to_encoded().to_string();
    let url = totp(&secret, user).map(|t| t.get_url()).unwrap_or_default();
    (secret, url)
}

fn totp(secret: &str, user: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, Some("itscam".into()), user.into()).ok()
}

/// Whether `code` is right for `secret` at `now_ms`.
pub fn check(secret: &str, user: &str, code: &str, now_ms: u64) -> bool {
    code.len() == 6 && totp(secret, user).is_some_and(|t| t.check(code, now_ms / 1000))
}

/// The code of `secret` at `now_ms` (what an authenticator app shows; for tests and the CLI).
pub fn code_at(secret: &str, user: &str, now_ms: u64) -> Option<String> {
    totp(secret, user).map(|t| t.generate(now_ms / 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_code_passes_and_others_do_not() {
        let (secret, url) = new_secret("ann");
        assert!(url.starts_with("otpauth://totp/itscam:ann?"), "{url}");
        let now = 1_800_000_000_000;
        let code = code_at(&secret, "ann", now).unwrap();
        assert!(check(&secret, "ann", &code, now));
        assert!(check(&secret, "ann", &code, now + 30_000), "one step of skew");
        assert!(!check(&secret, "ann", &code, now + 120_000));
        assert!(!check(&secret, "ann", "12345", now));
    }
}
