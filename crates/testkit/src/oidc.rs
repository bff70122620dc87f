//! A stand-in for Google's token issuer: an RSA key made at run time, its JWKS served on
//! `127.0.0.1` (give [`TestIssuer::jwks_url`] to the service as `OIDC_JWKS_URL`), and ID tokens
//! shaped like the ones Pub/Sub push, Eventarc and Cloud Scheduler send (`iss`
//! `https://accounts.google.com`, `aud`, `email`, `email_verified`, a `kid`).

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::net::SocketAddr;

pub const ISSUER: &str = "https://accounts.google.com";

/// A signing key and its key id.
pub struct TestKey {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
    /// PKCS#8 PEM, e.g. for a fake service-account key file.
    pub pem: String,
}

impl TestKey {
    pub fn generate(kid: &str) -> Self {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("RSA key generation");
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).expect("PKCS#8");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("PEM");
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).expect("JWK");
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Self {
            kid: kid.to_owned(),
            key,
            jwk,
            pem,
        }
    }

    /// Signs `claims` with this key (header `kid` = this key's id).
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

/// The issuer: its key, and the JWKS server (stopped on drop).
pub struct TestIssuer {
    pub key: TestKey,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl TestIssuer {
    /// Serves the JWKS of a fresh key at `http://127.0.0.1:<port>/certs`.
    pub async fn start() -> Self {
        let key = TestKey::generate("test-key-1");
        let jwks = serde_json::to_string(&JwkSet {
            keys: vec![key.jwk.clone()],
        })
        .expect("JWKS");
        let app = axum::Router::new().route(
            "/certs",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { key, addr, server }
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/certs", self.addr)
    }

    /// The claims Google puts in a push / trigger token, valid for an hour.
    pub fn claims(audience: &str, email: &str) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        serde_json::json!({
            "iss": ISSUER,
            "aud": audience,
            "azp": "112233445566778899000",
            "sub": "112233445566778899000",
            "email": email,
            "email_verified": true,
            "iat": now,
            "exp": now + 3600,
        })
    }

    /// A valid token for `audience`, issued to `email`.
    pub fn token(&self, audience: &str, email: &str) -> String {
        self.key.sign(&Self::claims(audience, email))
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
