//! The service's own access tokens: HS256 JWTs signed with `[jwt] secret_key`, issued by
//! `/auth_token` and checked on every other request.
//!
//! jsonwebtoken 11 needs a crypto backend; HS256 is all we use, so [`install_provider`] installs
//! an HMAC-only one on `ring` (already in the tree through rustls) instead of pulling in the
//! RSA/EC stacks. Verification accepts HS256 with our secret and nothing else, and every
//! failure maps to a [`TokenError`], never a panic.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::signature::{Error as SignatureError, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// The claims of our tokens; the original's `type`/`fresh` are kept for its clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub(crate) iat: u64,
    pub(crate) nbf: u64,
    pub(crate) exp: u64,
    pub(crate) jti: String,
    #[serde(default)]
    pub(crate) r#type: String,
    #[serde(default)]
    pub(crate) fresh: bool,
}

/// Why a presented token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    /// Anything else: the text is a short reason for the 422 body.
    Invalid(&'static str),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Expired => f.write_str("Token has expired"),
            TokenError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for TokenError {}

struct HmacSigner(hmac::Key);

impl Signer<Vec<u8>> for HmacSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignatureError> {
        Ok(hmac::sign(&self.0, msg).as_ref().to_vec())
    }
}

impl JwtSigner for HmacSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

struct HmacVerifier(hmac::Key);

impl Verifier<Vec<u8>> for HmacVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), SignatureError> {
        // ring compares in constant time
        hmac::verify(&self.0, msg, signature).map_err(|_| SignatureError::new())
    }
}

impl JwtVerifier for HmacVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if *alg != Algorithm::HS256 || key.family() != AlgorithmFamily::Hmac {
        return Err(JwtError::from(ErrorKind::InvalidAlgorithm));
    }
    Ok(Box::new(HmacSigner(hmac::Key::new(
        hmac::HMAC_SHA256,
        key.as_bytes(),
    ))))
}

fn verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if *alg != Algorithm::HS256 || key.family() != AlgorithmFamily::Hmac {
        return Err(JwtError::from(ErrorKind::InvalidAlgorithm));
    }
    let secret = key.try_get_as_bytes()?;
    Ok(Box::new(HmacVerifier(hmac::Key::new(
        hmac::HMAC_SHA256,
        secret,
    ))))
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Installs the HMAC-only provider for this process. Idempotent: when another provider is
/// already installed (a test build with jsonwebtoken's `rust_crypto`), that one stays.
pub(crate) fn install_provider() {
    let _ = PROVIDER.install_default();
}

/// Issues and verifies tokens with one secret.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
    rng: SystemRandom,
    /// `[jwt] not_before`: tokens issued earlier are refused.
    not_before: Option<u64>,
}

impl Tokens {
    pub fn new(secret: &[u8], lifetime: Duration) -> Tokens {
        install_provider();
        let mut validation = Validation::new(Algorithm::HS256);
        // We issue and check on the same clock: no leeway, as the original (flask-jwt-extended).
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
            rng: SystemRandom::new(),
            not_before: None,
        }
    }

    /// Refuses tokens issued before `not_before` (Unix seconds), if set.
    pub fn with_not_before(mut self, not_before: Option<u64>) -> Tokens {
        self.not_before = not_before;
        self
    }

    /// A token for `user`, valid from `now` (Unix seconds) for the configured lifetime.
    pub fn issue(&self, user: &str, now: u64) -> Result<String, TokenError> {
        let mut id = [0u8; 16];
        self.rng
            .fill(&mut id)
            .map_err(|_| TokenError::Invalid("no randomness for the token id"))?;
        let claims = Claims {
            sub: user.to_string(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(self.lifetime.as_secs()),
            jti: id.iter().map(|b| format!("{b:02x}")).collect(),
            r#type: "access".into(),
            fresh: false,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid("the token could not be signed"))
    }

    /// Checks a token at time `now` (Unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Invalid("Empty token"));
        }
        if token.split('.').count() != 3 {
            return Err(TokenError::Invalid("Not enough segments"));
        }
        // jsonwebtoken reads the clock itself; check the times against `now` ourselves so
        // the decision is testable, and let the library check signature and algorithm.
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(map_error)?;
        let c = data.claims;
        if c.exp <= now {
            return Err(TokenError::Expired);
        }
        if c.nbf > now {
            return Err(TokenError::Invalid("The token is not yet valid (nbf)"));
        }
        if self.not_before.is_some_and(|nb| c.iat < nb) {
            return Err(TokenError::Invalid(
                "The token was issued before [jwt] not_before; log in again",
            ));
        }
        Ok(c)
    }
}

fn map_error(e: JwtError) -> TokenError {
    TokenError::Invalid(match e.kind() {
        ErrorKind::ExpiredSignature => return TokenError::Expired,
        ErrorKind::InvalidSignature => "Signature verification failed",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "The specified alg value is not allowed"
        }
        ErrorKind::ImmatureSignature => "The token is not yet valid (nbf)",
        ErrorKind::MissingRequiredClaim(_) => "A required claim is missing",
        ErrorKind::InvalidToken => "Not enough segments",
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) => "Invalid token encoding",
        ErrorKind::Json(_) => "Invalid header or payload",
        _ => "Invalid token",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000;

    fn tokens() -> Tokens {
        Tokens::new(SECRET, Duration::from_secs(3600))
    }

    fn b64url(data: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    }

    fn forge(header: &str, claims: &str, secret: &[u8]) -> String {
        let msg = format!(
            "{}.{}",
            b64url(header.as_bytes()),
            b64url(claims.as_bytes())
        );
        let sig = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), msg.as_bytes());
        format!("{msg}.{}", b64url(sig.as_ref()))
    }

    #[test]
    fn issue_and_verify() {
        let t = tokens();
        let tok = t.issue("alice", NOW).unwrap();
        let c = t.verify(&tok, NOW + 10).unwrap();
        assert_eq!(c.sub, "alice");
        assert_eq!(c.exp, NOW + 3600);
        assert_eq!(c.jti.len(), 32);
        assert_ne!(t.issue("alice", NOW).unwrap(), tok, "jti differs");
    }

    #[test]
    fn expiry_and_not_before() {
        let t = tokens();
        let tok = t.issue("alice", NOW).unwrap();
        assert_eq!(t.verify(&tok, NOW + 3600), Err(TokenError::Expired));
        assert!(matches!(
            t.verify(&tok, NOW - 5),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn every_bad_token_is_rejected_without_panic() {
        let t = tokens();
        let good_claims = format!(
            r#"{{"sub":"alice","iat":{NOW},"nbf":{NOW},"exp":{},"jti":"x"}}"#,
            NOW + 100
        );
        let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
        assert!(t.verify(&forge(hs, &good_claims, SECRET), NOW).is_ok());
        let cases = [
            String::new(),
            "abc".into(),
            "a.b".into(),
            "a.b.c".into(),
            "....".into(),
            forge(hs, &good_claims, b"another secret of 32 bytes......"),
            forge(r#"{"alg":"none","typ":"JWT"}"#, &good_claims, SECRET),
            format!(
                "{}.{}.",
                b64url(br#"{"alg":"none"}"#),
                b64url(good_claims.as_bytes())
            ),
            forge(r#"{"alg":"HS512","typ":"JWT"}"#, &good_claims, SECRET),
            forge(r#"{"alg":"RS256","typ":"JWT"}"#, &good_claims, SECRET),
            forge(hs, "not json", SECRET),
            forge(hs, r#"{"iat":1}"#, SECRET),
            forge(hs, &good_claims.replace("alice", "mallory"), SECRET).replace(
                &forge(hs, &good_claims.replace("alice", "mallory"), SECRET)
                    .rsplit('.')
                    .next()
                    .unwrap()
                    .to_string(),
                forge(hs, &good_claims, SECRET).rsplit('.').next().unwrap(),
            ),
        ];
        for tok in cases {
            match t.verify(&tok, NOW) {
                Err(TokenError::Invalid(_)) => {}
                other => panic!("{tok:?} gave {other:?}"),
            }
        }
    }
}
