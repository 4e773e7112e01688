//! Secrets at rest: passwords as argon2id hashes (PHC strings, salted, OWASP's parameters);
//! API keys as `itk_<id>_<secret>` with only the SHA-256 of the secret kept (a key is 32 random
//! bytes, so a fast hash is enough); random ids and token keys.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted (bounds the hashing work of one request).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Argon2id with 19 MiB, 2 passes, 1 lane (OWASP's recommended minimum).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a password is refused.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("a password needs at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("a password has at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// The PHC string of `password` (CPU-heavy: call it off the async workers).
pub fn hash_password(password: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes are a valid salt");
    argon2().hash_password(password.as_bytes(), &salt).expect("argon2 hashing of a bounded password cannot fail").to_string()
}

/// Whether `password` matches `phc` (CPU-heavy: call it off the async workers).
pub fn verify_password(password: &str, phc: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES && PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the user does not exist, so a missing user takes as long as
/// a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing"))
}

/// `n` random bytes, URL-safe base64.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A short random id (hex, 12 characters).
pub fn random_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new API key: (the key to show once, its id, the hash to keep).
pub fn new_api_key() -> (String, String, String) {
    let id = random_id();
    let secret = random_token(32);
    (format!("itk_{id}_{secret}"), id, sha256_hex(secret.as_bytes()))
}

/// An API key's (id, secret), when it has the shape of one.
pub fn parse_api_key(key: &str) -> Option<(&str, &str)> {
    let (id, secret) = key.strip_prefix("itk_")?.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty() && secret.len() <= 64).then_some((id, secret))
}

/// Compares in time independent of where the inputs differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let phc = hash_password("correct horse battery");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterx", &phc));
        assert!(!verify_password("correct horse battery", "not a phc string"));
        assert_ne!(phc, hash_password("correct horse battery"), "salted");
        assert!(check_password("short").is_err() && check_password("long enough!").is_ok());
    }

    #[test]
    fn an_api_key_parses_to_its_id_and_the_kept_hash_matches() {
        let (key, id, hash) = new_api_key();
        let (pid, secret) = parse_api_key(&key).unwrap();
        assert_eq!(pid, id);
        assert!(same(&sha256_hex(secret.as_bytes()), &hash));
        assert!(!key.contains(&hash), "the kept hash is not the key");
        assert_eq!(parse_api_key("itk_nothex_abc"), None);
        assert_eq!(parse_api_key("Bearer x"), None);
    }
}
