//! Access and refresh tokens: JWTs signed with HS256 (`jsonwebtoken`). Verification pins the
//! algorithm, so a token with `alg: none` or any other algorithm, a wrong key, a changed byte or
//! a past `exp` is refused. A token names its user and session (`sid`); what the user may do is
//! read from the directory at each request, so a role change or a disable takes effect at once.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUse {
    /// Calls the API (`Authorization: Bearer`).
    Access,
    /// Gets a new access token (`POST /api/v1/auth/refresh`) and nothing else.
    Refresh,
}

/// The claims of our tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's name.
    pub sub: String,
    /// The session: a login's access and refresh tokens share it; logout ends it.
    pub sid: String,
    /// Access or refresh.
    #[serde(rename = "use")]
    pub token_use: TokenUse,
    /// Issued at (s, the JWT claim).
    pub iat: u64,
    /// Issued at (ms): compared with the user's `tokens_after_ms`.
    pub iat_ms: u64,
    /// Expires at (s).
    pub exp: u64,
}

/// Signs and checks tokens with one HS256 key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    /// Keys from a secret (at least 32 bytes).
    pub fn new(secret: &[u8]) -> TokenKeys {
        TokenKeys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }

    /// A signed token for `user`'s session `sid`, valid `ttl_ms` from `now_ms`.
    pub fn issue(&self, user: &str, sid: &str, token_use: TokenUse, now_ms: u64, ttl_ms: u64) -> String {
        let claims = Claims { sub: user.into(), sid: sid.into(), token_use, iat: now_ms / 1000, iat_ms: now_ms, exp: (now_ms + ttl_ms).div_ceil(1000) };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing of plain claims cannot fail")
    }

    /// The claims of a valid, unexpired token of this use signed with this key.
    pub fn verify(&self, token: &str, token_use: TokenUse, now_ms: u64) -> Result<Claims, String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.validate_exp = false; // checked below, against the injected clock
        v.required_spec_claims = ["exp", "sub"].into_iter().map(String::from).collect();
        let claims = decode::<Claims>(token, &self.decoding, &v).map_err(|e| format!("invalid token ({e})"))?.claims;
        if claims.exp * 1000 <= now_ms {
            return Err("the token has expired".into());
        }
        if claims.token_use != token_use {
            return Err(format!("a {:?} token cannot be used here", claims.token_use).to_lowercase());
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const NOW: u64 = 1_800_000_000_000;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_only_for_its_use() {
        let t = keys().issue("ann", "s1", TokenUse::Access, NOW, 60_000);
        let c = keys().verify(&t, TokenUse::Access, NOW + 59_000).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str(), c.iat_ms), ("ann", "s1", NOW));
        assert!(keys().verify(&t, TokenUse::Access, NOW + 60_000).unwrap_err().contains("expired"));
        assert!(keys().verify(&t, TokenUse::Refresh, NOW).is_err());
    }

    #[test]
    fn tampered_unsigned_and_foreign_tokens_are_refused() {
        let t = keys().issue("ann", "s1", TokenUse::Access, NOW, 60_000);
        let parts: Vec<&str> = t.split('.').collect();
        // Another user in the payload, the old signature.
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap().replace("\"ann\"", "\"adm\"");
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload), parts[2]);
        assert!(keys().verify(&forged, TokenUse::Access, NOW).is_err());
        // alg: none, no signature.
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(keys().verify(&none, TokenUse::Access, NOW).is_err());
        // Signed with another key.
        let other = TokenKeys::new(b"another key of thirty-two bytes!").issue("ann", "s1", TokenUse::Access, NOW, 60_000);
        assert!(keys().verify(&other, TokenUse::Access, NOW).is_err());
        assert!(keys().verify("garbage", TokenUse::Access, NOW).is_err());
    }
}
