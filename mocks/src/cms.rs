//! The payload protection of the service bus: sign, then encrypt (CMS), and the receiver's
//! decrypt-then-verify with precise errors.
//!
//! The shape is the default of .NET's `SignedCms`/`EnvelopedCms`, which Helsenorge.Messaging
//! uses: an attached SignedData (SHA-256, signer identified by issuer and serial number,
//! signer certificate included) whose DER is the `id-data` content of an EnvelopedData
//! (AES-256-CBC, RSA PKCS#1 v1.5 key transport, recipient by issuer and serial number).
//! Content is always handled as binary (OpenSSL's `CMS_BINARY`), so no LF is rewritten as
//! CRLF. It interoperates with `openssl cms -sign/-encrypt -binary -nodetach -outform DER`.
//!
//! # What the receiver checks, in order
//!
//! 1. size (before any parsing) → [`CmsError::TooLarge`]
//! 2. the outer ContentInfo is CMS → [`CmsError::NotCms`], and EnvelopedData →
//!    [`CmsError::NotEnveloped`]
//! 3. we are a recipient (issuer + serial or subject key id of our certificate) →
//!    [`CmsError::NotForUs`]; decryption with our key → [`CmsError::BadDecrypt`]
//! 4. the plaintext is a SignedData → [`CmsError::NotSigned`]
//! 5. the signer certificate: with an expected (registered) certificate, the signer must be
//!    that certificate ([`CmsError::SignerMismatch`], OpenSSL's `NOINTERN` with that
//!    certificate as the only candidate); without one, the message must carry it
//!    ([`CmsError::MissingCertificate`])
//! 6. the signature, with `NO_SIGNER_CERT_VERIFY` → [`CmsError::BadSignature`]
//! 7. the signer's chain with an `X509_STORE_CTX` at the given instant, S/MIME-signing
//!    purpose and CRL checking → [`CmsError::UnknownIssuer`], [`CmsError::Expired`],
//!    [`CmsError::NotYetValid`], [`CmsError::Revoked`], [`CmsError::WrongKeyUsage`],
//!    [`CmsError::Unverified`]
//! 8. the signer certificate has nonRepudiation (the rule of the Norwegian service bus; a
//!    digitalSignature-only certificate passes OpenSSL's purpose check but not this one) →
//!    [`CmsError::WrongKeyUsage`]
//!
//! # What each error answers
//!
//! [`CmsError::error_condition`] gives the service bus `errorCondition` (DOMAIN §4) and
//! [`CmsError::apprec_error`] the AppRec error code (kodeverk 8221):
//!
//! | error | errorCondition | AppRec |
//! |---|---|---|
//! | `TooLarge` | `transport:unsupported-message` | T99 |
//! | `NotCms` | `transport:unsupported-message` | T99 |
//! | `NotEnveloped` | `transport:unsupported-message` | T10 |
//! | `NotForUs` | `transport:invalid-certificate` | S99 |
//! | `BadDecrypt` | `transport:invalid-certificate` | S99 |
//! | `NotSigned` | `transport:invalid-certificate` | S99 |
//! | `BadSignature` | `transport:invalid-certificate` | S01 |
//! | `MissingCertificate` | `transport:missing-certificate` | S02 |
//! | `SignerMismatch` | `abuse:spoofing-attack` | S01 |
//! | `UnknownIssuer` | `transport:unverified-certificate` | S02 |
//! | `Unverified` | `transport:unverified-certificate` | S02 |
//! | `Expired`, `NotYetValid` | `transport:expired-certificate` | S02 |
//! | `Revoked` | `transport:revoked-certificate` | S03 |
//! | `WrongKeyUsage` | `transport:invalid-certificate` | S02 |
//! | `OpenSsl` | `transport:internal-error` | X99 |
//!
//! The certificate rows follow Helsenorge.Messaging's receiver (start or end date →
//! expired-certificate, usage → invalid-certificate, revoked → revoked-certificate, missing →
//! missing-certificate, failures inside decryption/verification → invalid-certificate);
//! `unverified-certificate` (listed in DOMAIN §4) is used for a chain that does not reach
//! the trusted CA, which Helsenorge.Messaging does not distinguish. A blob that is not the
//! advertised `application/pkcs7-mime` is an unsupported message, not an XML error: nothing
//! has been parsed as XML yet.

mod der;

use std::io::Write;

use chrono::{DateTime, Utc};
use iplos_model::message::AppRecErrorCode;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{HasPrivate, PKeyRef};
use openssl::ssl::SslFiletype;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::store::{X509Lookup, X509Store, X509StoreBuilder};
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509, X509Crl, X509NameRef, X509PurposeId, X509Ref, X509StoreContext};

use crate::nhn::ErrorCondition;

pub use der::KeyUsageBits;

/// Default limit on the size of a received blob: 256 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// The OID of AES-256-CBC (id-aes256-CBC), the content encryption NHN's profile uses.
pub const OID_AES256_CBC: &str = "2.16.840.1.101.3.4.1.42";

/// The content-encryption algorithm of a DER EnvelopedData, as a dotted OID (e.g.
/// [`OID_AES256_CBC`]); `None` when the bytes are not an EnvelopedData this reader can walk.
pub fn content_encryption_algorithm(der: &[u8]) -> Option<String> {
    der::content_encryption(der).map(der::oid_to_string)
}

/// One-line form of a name, most significant first (`C=NO, O=..., CN=...`).
pub fn name_to_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?").to_string();
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What went wrong with a CMS message, precisely enough to answer the sender. Its kind as
/// text (`NotForUs`, `Expired`, ...; `Internal` for OpenSSL and I/O failures) is
/// `<&str>::from(&error)`: the `errorConditionData` of the receiver's error message.
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
pub enum CmsError {
    /// The blob is larger than the limit; nothing was parsed.
    #[error("message is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the blob.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a CMS ContentInfo.
    #[error("not a CMS message: {0}")]
    NotCms(String),
    /// A CMS message, but not EnvelopedData (e.g. signed but not encrypted).
    #[error("CMS content type {content_type} is not EnvelopedData (1.2.840.113549.1.7.3)")]
    NotEnveloped {
        /// The dotted OID of the content type found.
        content_type: String,
    },
    /// The message is not encrypted for our certificate.
    #[error("the message is not encrypted for our certificate ({subject}, serial {serial})")]
    NotForUs {
        /// Our certificate's subject.
        subject: String,
        /// Our certificate's serial (decimal).
        serial: String,
    },
    /// Encrypted for our certificate, but our key does not decrypt it.
    #[error("decryption failed (right certificate, wrong key or damaged data): {0}")]
    BadDecrypt(String),
    /// The decrypted content is not a CMS SignedData.
    #[error("the encrypted content is not signed (no CMS SignedData inside): {0}")]
    NotSigned(String),
    /// The signature does not verify (content or signed attributes changed).
    #[error("signature does not verify: {0}")]
    BadSignature(String),
    /// No signer certificate: none in the message and none expected.
    #[error("the signer's certificate is not in the message and none is registered for the sender")]
    MissingCertificate,
    /// Signed by another certificate than the one registered for the sender.
    #[error(
        "signed by a different certificate than the one registered for the sender ({expected})"
    )]
    SignerMismatch {
        /// Subject and serial of the expected certificate.
        expected: String,
    },
    /// The chain does not lead to a trusted CA.
    #[error("certificate {subject}: issuer not trusted (X509 error {code}: {reason})")]
    UnknownIssuer {
        /// The certificate.
        subject: String,
        /// OpenSSL's X509_V_ERR code (2, 18, 19, 20, 21).
        code: i32,
        /// OpenSSL's text.
        reason: String,
    },
    /// Any other chain verification failure.
    #[error("certificate {subject} not verified (X509 error {code}: {reason})")]
    Unverified {
        /// The certificate.
        subject: String,
        /// OpenSSL's X509_V_ERR code.
        code: i32,
        /// OpenSSL's text.
        reason: String,
    },
    /// The certificate has expired.
    #[error("certificate {subject} has expired (notAfter {not_after})")]
    Expired {
        /// The certificate.
        subject: String,
        /// Its notAfter.
        not_after: String,
    },
    /// The certificate is not valid yet.
    #[error("certificate {subject} is not yet valid (notBefore {not_before})")]
    NotYetValid {
        /// The certificate.
        subject: String,
        /// Its notBefore.
        not_before: String,
    },
    /// The certificate is on its CA's CRL.
    #[error("certificate {subject} (serial {serial}) is revoked")]
    Revoked {
        /// The certificate.
        subject: String,
        /// Its serial (decimal).
        serial: String,
    },
    /// The certificate's key usage does not allow this use.
    #[error("certificate {subject}: wrong key usage: {what}")]
    WrongKeyUsage {
        /// The certificate.
        subject: String,
        /// What is missing.
        what: String,
    },
    /// OpenSSL failed for a reason that is not the message's fault.
    #[error("openssl: {0}")]
    #[strum(serialize = "Internal")]
    OpenSsl(#[from] ErrorStack),
    /// Writing a temporary CRL file for the trust store failed.
    #[error("trust store: {0}")]
    #[strum(serialize = "Internal")]
    Io(#[from] std::io::Error),
}

impl CmsError {
    /// The service bus `errorCondition` the receiver answers with (see the module table).
    pub fn error_condition(&self) -> ErrorCondition {
        match self {
            CmsError::TooLarge { .. } | CmsError::NotCms(_) | CmsError::NotEnveloped { .. } => {
                ErrorCondition::UnsupportedMessage
            }
            CmsError::NotForUs { .. }
            | CmsError::BadDecrypt(_)
            | CmsError::NotSigned(_)
            | CmsError::BadSignature(_)
            | CmsError::WrongKeyUsage { .. } => ErrorCondition::InvalidCertificate,
            CmsError::MissingCertificate => ErrorCondition::MissingCertificate,
            CmsError::SignerMismatch { .. } => ErrorCondition::SpoofingAttack,
            CmsError::UnknownIssuer { .. } | CmsError::Unverified { .. } => {
                ErrorCondition::UnverifiedCertificate
            }
            CmsError::Expired { .. } | CmsError::NotYetValid { .. } => {
                ErrorCondition::ExpiredCertificate
            }
            CmsError::Revoked { .. } => ErrorCondition::RevokedCertificate,
            CmsError::OpenSsl(_) | CmsError::Io(_) => ErrorCondition::InternalError,
        }
    }

    /// The AppRec error code (kodeverk 8221) for this error (see the module table).
    pub fn apprec_error(&self) -> AppRecErrorCode {
        match self {
            CmsError::TooLarge { .. } | CmsError::NotCms(_) => AppRecErrorCode::T99,
            CmsError::NotEnveloped { .. } => AppRecErrorCode::T10,
            CmsError::NotForUs { .. } | CmsError::BadDecrypt(_) | CmsError::NotSigned(_) => {
                AppRecErrorCode::S99
            }
            CmsError::BadSignature(_) | CmsError::SignerMismatch { .. } => AppRecErrorCode::S01,
            CmsError::MissingCertificate
            | CmsError::UnknownIssuer { .. }
            | CmsError::Unverified { .. }
            | CmsError::Expired { .. }
            | CmsError::NotYetValid { .. }
            | CmsError::WrongKeyUsage { .. } => AppRecErrorCode::S02,
            CmsError::Revoked { .. } => AppRecErrorCode::S03,
            CmsError::OpenSsl(_) | CmsError::Io(_) => AppRecErrorCode::X99,
        }
    }
}

/// The trusted CAs and their CRLs. With CRLs, revocation is checked (OpenSSL's
/// `CRL_CHECK`: every end-entity certificate then needs a current CRL from its issuer).
pub struct TrustStore {
    cas: Vec<X509>,
    crls: Vec<X509Crl>,
    // OpenSSL's crate loads CRLs into a store only from a file.
    crl_file: Option<tempfile::NamedTempFile>,
}

impl std::fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustStore")
            .field("cas", &self.cas)
            .field("crls", &self.crls.len())
            .finish()
    }
}

impl TrustStore {
    /// Trust these CAs; no revocation checking.
    pub fn new(cas: Vec<X509>) -> TrustStore {
        TrustStore {
            cas,
            crls: Vec::new(),
            crl_file: None,
        }
    }

    /// Adds CRLs (and turns revocation checking on).
    pub fn with_crls(mut self, crls: Vec<X509Crl>) -> Result<TrustStore, CmsError> {
        self.crls.extend(crls);
        let mut file = tempfile::Builder::new()
            .prefix("iplos-crl-")
            .suffix(".pem")
            .tempfile()?;
        for crl in &self.crls {
            file.write_all(&crl.to_pem()?)?;
        }
        file.flush()?;
        self.crl_file = Some(file);
        Ok(self)
    }

    /// The trusted CA certificates.
    pub fn cas(&self) -> &[X509] {
        &self.cas
    }

    /// The CRLs.
    pub fn crls(&self) -> &[X509Crl] {
        &self.crls
    }

    fn store(&self, at: DateTime<Utc>, purpose: X509PurposeId) -> Result<X509Store, ErrorStack> {
        let mut b = X509StoreBuilder::new()?;
        for ca in &self.cas {
            b.add_cert(ca.clone())?;
        }
        let mut flags = X509VerifyFlags::USE_CHECK_TIME;
        if let Some(file) = &self.crl_file
            && !self.crls.is_empty()
        {
            b.add_lookup(X509Lookup::file())?
                .load_crl_file(file.path(), SslFiletype::PEM)?;
            flags |= X509VerifyFlags::CRL_CHECK;
        }
        let mut param = X509VerifyParam::new()?;
        param.set_time(at.timestamp());
        param.set_flags(flags)?;
        param.set_purpose(purpose)?;
        b.set_param(&param)?;
        Ok(b.build())
    }

    /// Verifies a certificate chain at an instant for a purpose, mapping OpenSSL's verify
    /// codes to [`CmsError`]. `untrusted` are extra certificates that may help build the
    /// chain (e.g. those carried in the message).
    pub fn verify_cert(
        &self,
        cert: &X509Ref,
        untrusted: &[X509],
        at: DateTime<Utc>,
        purpose: X509PurposeId,
    ) -> Result<(), CmsError> {
        let store = self.store(at, purpose)?;
        let mut chain = Stack::new()?;
        for c in untrusted {
            chain.push(c.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        let (ok, code, reason, failed) = ctx.init(&store, cert, &chain, |c| {
            let ok = c.verify_cert()?;
            let err = c.error();
            let failed = c.current_cert().map(|x| x.to_owned());
            Ok((ok, err.as_raw(), err.error_string().to_string(), failed))
        })?;
        if ok {
            return Ok(());
        }
        let failed = failed.unwrap_or_else(|| cert.to_owned());
        Err(map_verify_code(&failed, code, reason))
    }
}

// X509_V_ERR_* codes (stable across OpenSSL 1.1 and 3).
const V_UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
const V_CERT_NOT_YET_VALID: i32 = 9;
const V_CERT_HAS_EXPIRED: i32 = 10;
const V_DEPTH_ZERO_SELF_SIGNED: i32 = 18;
const V_SELF_SIGNED_IN_CHAIN: i32 = 19;
const V_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
const V_UNABLE_TO_VERIFY_LEAF_SIGNATURE: i32 = 21;
const V_CERT_REVOKED: i32 = 23;
const V_INVALID_PURPOSE: i32 = 26;

fn map_verify_code(cert: &X509Ref, code: i32, reason: String) -> CmsError {
    let subject = name_to_string(cert.subject_name());
    match code {
        V_CERT_HAS_EXPIRED => CmsError::Expired {
            subject,
            not_after: cert.not_after().to_string(),
        },
        V_CERT_NOT_YET_VALID => CmsError::NotYetValid {
            subject,
            not_before: cert.not_before().to_string(),
        },
        V_CERT_REVOKED => CmsError::Revoked {
            subject,
            serial: serial_string(cert),
        },
        V_INVALID_PURPOSE => CmsError::WrongKeyUsage {
            subject,
            what: reason,
        },
        V_UNABLE_TO_GET_ISSUER_CERT
        | V_DEPTH_ZERO_SELF_SIGNED
        | V_SELF_SIGNED_IN_CHAIN
        | V_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | V_UNABLE_TO_VERIFY_LEAF_SIGNATURE => CmsError::UnknownIssuer {
            subject,
            code,
            reason,
        },
        _ => CmsError::Unverified {
            subject,
            code,
            reason,
        },
    }
}

fn serial_string(cert: &X509Ref) -> String {
    cert.serial_number()
        .to_bn()
        .ok()
        .and_then(|b| b.to_dec_str().ok().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn describe(cert: &X509Ref) -> String {
    format!(
        "{}, serial {}",
        name_to_string(cert.subject_name()),
        serial_string(cert)
    )
}

/// The keyUsage bits of a certificate (`None` when it has no keyUsage extension).
pub fn key_usage(cert: &X509Ref) -> Result<Option<KeyUsageBits>, CmsError> {
    let der = cert.to_der()?;
    der::key_usage(&der).ok_or_else(|| CmsError::NotCms("certificate DER could not be read".into()))
}

/// Checks a certificate's validity at an instant (no chain, no CRL).
pub fn check_validity(cert: &X509Ref, at: DateTime<Utc>) -> Result<(), CmsError> {
    let now = openssl::asn1::Asn1Time::from_unix(at.timestamp())?;
    if cert.not_before() > now {
        return Err(CmsError::NotYetValid {
            subject: name_to_string(cert.subject_name()),
            not_before: cert.not_before().to_string(),
        });
    }
    if cert.not_after() < now {
        return Err(CmsError::Expired {
            subject: name_to_string(cert.subject_name()),
            not_after: cert.not_after().to_string(),
        });
    }
    Ok(())
}

/// Checks that a recipient certificate may be encrypted to at `at`: valid then, with
/// keyEncipherment in its key usage (OpenSSL itself checks neither).
pub fn check_recipient(cert: &X509Ref, at: DateTime<Utc>) -> Result<(), CmsError> {
    check_validity(cert, at)?;
    match key_usage(cert)? {
        Some(ku) if ku.key_encipherment => Ok(()),
        Some(_) => Err(CmsError::WrongKeyUsage {
            subject: name_to_string(cert.subject_name()),
            what: "keyEncipherment missing (not an encryption certificate)".into(),
        }),
        None => Err(CmsError::WrongKeyUsage {
            subject: name_to_string(cert.subject_name()),
            what: "no keyUsage extension (an encryption certificate must have keyEncipherment)"
                .into(),
        }),
    }
}

/// Attached SignedData (SHA-256, signer by issuer + serial, signer certificate included),
/// DER. The content is signed as binary.
pub fn sign<T: HasPrivate>(
    content: &[u8],
    signer_cert: &X509Ref,
    signer_key: &PKeyRef<T>,
) -> Result<Vec<u8>, CmsError> {
    let signed = CmsContentInfo::sign(
        Some(signer_cert),
        Some(signer_key),
        None,
        Some(content),
        CMSOptions::BINARY,
    )?;
    Ok(signed.to_der()?)
}

/// EnvelopedData (AES-256-CBC, RSA PKCS#1 v1.5 key transport, recipient by issuer +
/// serial) of `data` for one recipient, DER. Checks nothing about the certificate; see
/// [`check_recipient`].
pub fn encrypt(data: &[u8], recipient_cert: &X509Ref) -> Result<Vec<u8>, CmsError> {
    let mut certs = Stack::new()?;
    certs.push(recipient_cert.to_owned())?;
    let env = CmsContentInfo::encrypt(&certs, data, Cipher::aes_256_cbc(), CMSOptions::BINARY)?;
    Ok(env.to_der()?)
}

/// Signs `content`, then encrypts the SignedData for the recipient: the payload of a
/// service bus message (DER). The recipient certificate is checked first
/// ([`check_recipient`] at `at`).
pub fn sign_then_encrypt<T: HasPrivate>(
    content: &[u8],
    signer_cert: &X509Ref,
    signer_key: &PKeyRef<T>,
    recipient_cert: &X509Ref,
    at: DateTime<Utc>,
) -> Result<Vec<u8>, CmsError> {
    check_recipient(recipient_cert, at)?;
    let signed = sign(content, signer_cert, signer_key)?;
    encrypt(&signed, recipient_cert)
}

/// A message that decrypted and verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signed content (the MsgHead XML).
    pub content: Vec<u8>,
    /// The certificate that signed it.
    pub signer_cert: X509,
}

/// Decrypts with our certificate and key, then verifies the signature and the signer's
/// certificate (see the module documentation for the order and the errors), with the
/// default size limit.
pub fn decrypt_then_verify<T: HasPrivate>(
    der: &[u8],
    my_cert: &X509Ref,
    my_key: &PKeyRef<T>,
    trust: &TrustStore,
    expected_signer: Option<&X509Ref>,
    at: DateTime<Utc>,
) -> Result<Verified, CmsError> {
    decrypt_then_verify_limited(
        der,
        my_cert,
        my_key,
        trust,
        expected_signer,
        at,
        DEFAULT_MAX_MESSAGE_BYTES,
    )
}

/// [`decrypt_then_verify`] with an explicit size limit in bytes.
pub fn decrypt_then_verify_limited<T: HasPrivate>(
    der: &[u8],
    my_cert: &X509Ref,
    my_key: &PKeyRef<T>,
    trust: &TrustStore,
    expected_signer: Option<&X509Ref>,
    at: DateTime<Utc>,
    max_bytes: usize,
) -> Result<Verified, CmsError> {
    if der.len() > max_bytes {
        return Err(CmsError::TooLarge {
            size: der.len(),
            limit: max_bytes,
        });
    }
    let signed_der = decrypt(der, my_cert, my_key)?;
    verify_signed(&signed_der, trust, expected_signer, at)
}

/// Step 2–3: the EnvelopedData, decrypted with our key.
pub fn decrypt<T: HasPrivate>(
    der: &[u8],
    my_cert: &X509Ref,
    my_key: &PKeyRef<T>,
) -> Result<Vec<u8>, CmsError> {
    let Some(ct) = der::content_type(der) else {
        return Err(CmsError::NotCms(
            "does not start with a DER ContentInfo (SEQUENCE, OBJECT IDENTIFIER)".into(),
        ));
    };
    if ct != der::OID_ENVELOPED_DATA {
        return Err(CmsError::NotEnveloped {
            content_type: der::oid_to_string(ct),
        });
    }
    let cms = CmsContentInfo::from_der(der).map_err(|e| CmsError::NotCms(first_reason(&e)))?;
    let not_for_us = || CmsError::NotForUs {
        subject: name_to_string(my_cert.subject_name()),
        serial: serial_string(my_cert),
    };
    if let Some(recipients) = der::recipients(der)
        && !is_recipient(&recipients, my_cert)?
    {
        return Err(not_for_us());
    }
    let owned = my_cert.to_owned();
    match cms.decrypt(my_key, &owned) {
        Ok(plain) => Ok(plain),
        Err(e) => {
            // OpenSSL leaves the error stack empty when no recipient matches the
            // certificate; anything else is a failed decryption.
            if e.errors().is_empty()
                || e.errors().iter().any(|x| {
                    x.reason()
                        .is_some_and(|r| r.contains("no matching recipient"))
                })
            {
                Err(not_for_us())
            } else {
                Err(CmsError::BadDecrypt(first_reason(&e)))
            }
        }
    }
}

fn is_recipient(recipients: &[der::RecipientId], cert: &X509Ref) -> Result<bool, CmsError> {
    let issuer = cert.issuer_name().to_der()?;
    let serial = cert.serial_number().to_bn()?.to_vec();
    let serial = der::strip_zeros(if serial.is_empty() { &[0] } else { &serial }).to_vec();
    let ski = cert.subject_key_id().map(|s| s.as_slice().to_vec());
    Ok(recipients.iter().any(|r| match r {
        der::RecipientId::IssuerSerial {
            issuer: i,
            serial: s,
        } => *i == issuer && *s == serial,
        der::RecipientId::SubjectKeyId(k) => ski.as_ref() == Some(k),
        // A kind we do not parse: let OpenSSL decide.
        der::RecipientId::Other => true,
    }))
}

/// Steps 4–8: verify a SignedData (DER) and return its content and signer.
pub fn verify_signed(
    signed_der: &[u8],
    trust: &TrustStore,
    expected_signer: Option<&X509Ref>,
    at: DateTime<Utc>,
) -> Result<Verified, CmsError> {
    match der::content_type(signed_der) {
        Some(ct) if ct == der::OID_SIGNED_DATA => {}
        Some(ct) => {
            return Err(CmsError::NotSigned(format!(
                "content type {}",
                der::oid_to_string(ct)
            )));
        }
        None => {
            return Err(CmsError::NotSigned(
                "the decrypted content is not CMS (plain content was encrypted)".into(),
            ));
        }
    }
    let mut cms =
        CmsContentInfo::from_der(signed_der).map_err(|e| CmsError::NotSigned(first_reason(&e)))?;

    // The signer certificate: pinned to the expected one, or taken from the message.
    let p7 = Pkcs7::from_der(signed_der).ok();
    let embedded: Vec<X509> = p7
        .as_ref()
        .and_then(|p| p.signed())
        .and_then(|s| s.certificates())
        .map(|st| st.iter().map(|c| c.to_owned()).collect())
        .unwrap_or_default();
    let mut candidates = Stack::new()?;
    let signer: X509 = match expected_signer {
        Some(expected) => {
            candidates.push(expected.to_owned())?;
            if let Some(p7) = &p7 {
                p7.signers(&candidates, Pkcs7Flags::NOINTERN).map_err(|_| {
                    CmsError::SignerMismatch {
                        expected: describe(expected),
                    }
                })?;
            }
            expected.to_owned()
        }
        None => {
            let Some(p7) = &p7 else {
                return Err(CmsError::MissingCertificate);
            };
            let found = p7
                .signers(&candidates, Pkcs7Flags::empty())
                .map_err(|_| CmsError::MissingCertificate)?;
            let first = found.iter().next().ok_or(CmsError::MissingCertificate)?;
            let signer = first.to_owned();
            candidates.push(signer.clone())?;
            signer
        }
    };

    // The signature (certificate checks come after, with exact codes).
    let mut flags = CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY;
    if expected_signer.is_some() {
        flags |= CMSOptions::NOINTERN;
    }
    let mut content = Vec::new();
    if let Err(e) = cms.verify(Some(&candidates), None, None, Some(&mut content), flags) {
        let reason = first_reason(&e);
        if reason.contains("signer certificate not found") {
            return Err(match expected_signer {
                Some(x) => CmsError::SignerMismatch {
                    expected: describe(x),
                },
                None => CmsError::MissingCertificate,
            });
        }
        return Err(CmsError::BadSignature(reason));
    }

    // The chain, at the instant, for S/MIME signing, with CRLs.
    trust.verify_cert(&signer, &embedded, at, X509PurposeId::SMIME_SIGN)?;

    // The service bus wants nonRepudiation on the signing certificate.
    match key_usage(&signer)? {
        Some(ku) if ku.non_repudiation => {}
        _ => {
            return Err(CmsError::WrongKeyUsage {
                subject: name_to_string(signer.subject_name()),
                what: "nonRepudiation missing (not a signing certificate)".into(),
            });
        }
    }
    Ok(Verified {
        content,
        signer_cert: signer,
    })
}

fn first_reason(e: &ErrorStack) -> String {
    let reasons: Vec<String> = e
        .errors()
        .iter()
        .map(|x| x.reason().unwrap_or("unknown").to_string())
        .collect();
    if reasons.is_empty() {
        "no detail from OpenSSL".into()
    } else {
        reasons.join("; ")
    }
}
