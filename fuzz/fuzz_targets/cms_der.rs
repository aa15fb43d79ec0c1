//! The DER/CMS reading of the mocks (`mocks/src/cms/der.rs` through the public
//! `iplos_mocks::cms` functions) on arbitrary bytes: never a panic.
#![no_main]

use std::sync::OnceLock;

use iplos_mocks::cms::{self, TrustStore};
use libfuzzer_sys::fuzz_target;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};

/// A self-signed certificate and its key, made once per process.
fn identity() -> &'static (X509, PKey<Private>) {
    static ID: OnceLock<(X509, PKey<Private>)> = OnceLock::new();
    ID.get_or_init(|| {
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "fuzz").expect("cn");
        let name = name.build();
        let mut b = X509::builder().expect("builder");
        b.set_version(2).expect("version");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
            .expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(30).expect("time"))
            .expect("na");
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        (b.build(), key)
    })
}

fuzz_target!(|data: &[u8]| {
    let (cert, key) = identity();
    let _ = cms::content_encryption_algorithm(data);
    let _ = cms::decrypt(data, cert, key);
    let trust = TrustStore::new(vec![cert.clone()]);
    let _ = cms::verify_signed(data, &trust, None, chrono::Utc::now());
    if let Ok(x) = X509::from_der(data) {
        let _ = cms::key_usage(&x);
    }
});
