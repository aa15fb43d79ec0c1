//! A minimal, bounds-checked DER reader: just enough to look at the outer content type of
//! a CMS blob, the recipient identifiers of an EnvelopedData and the key usage bits of a
//! certificate, without trusting lengths or recursing. Anything it does not understand is
//! `None`; callers then fall back to what OpenSSL says.

/// One tag-length-value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The (single-byte) tag.
    pub tag: u8,
    /// The content octets. For an indefinite length this is everything that follows.
    pub content: &'a [u8],
    /// Whether the length was indefinite (BER).
    pub indefinite: bool,
}

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;
pub(crate) const TAG_BOOLEAN: u8 = 0x01;

/// 1.2.840.113549.1.7.2 id-signedData
pub(crate) const OID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
/// 1.2.840.113549.1.7.3 id-envelopedData
pub(crate) const OID_ENVELOPED_DATA: &[u8] =
    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x03];
/// 2.5.29.15 id-ce-keyUsage
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x0F];

/// Reads one TLV from the front of `input`, returning it and the rest.
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1F == 0x1F {
        // Multi-byte tags do not occur in the structures we read.
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    if first == 0x80 {
        return Some((
            Tlv {
                tag,
                content: rest,
                indefinite: true,
            },
            &[],
        ));
    }
    let (len, rest) = if first & 0x80 == 0 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((
        Tlv {
            tag,
            content: &rest[..len],
            indefinite: false,
        },
        &rest[len..],
    ))
}

/// Reads a TLV with the expected tag.
fn expect(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    let (tlv, rest) = read(input)?;
    (tlv.tag == tag).then_some((tlv, rest))
}

/// The content type OID (content octets) of a CMS ContentInfo, or `None` when the bytes do
/// not start like one (`SEQUENCE { OBJECT IDENTIFIER, ... }`).
pub(crate) fn content_type(der: &[u8]) -> Option<&[u8]> {
    let (outer, _) = expect(der, TAG_SEQUENCE)?;
    let (oid, _) = expect(outer.content, TAG_OID)?;
    if oid.indefinite || oid.content.is_empty() {
        return None;
    }
    Some(oid.content)
}

/// Dotted form of an OID's content octets (for messages).
pub(crate) fn oid_to_string(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// How a recipient of an EnvelopedData is identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecipientId {
    /// KeyTransRecipientInfo with issuerAndSerialNumber: the issuer Name (full DER) and the
    /// serial (INTEGER content, leading zeros removed).
    IssuerSerial { issuer: Vec<u8>, serial: Vec<u8> },
    /// KeyTransRecipientInfo with subjectKeyIdentifier.
    SubjectKeyId(Vec<u8>),
    /// Any other kind of RecipientInfo (key agreement, KEK, password, other).
    Other,
}

/// The recipient identifiers of a DER EnvelopedData ContentInfo, or `None` if the structure
/// cannot be read this simply (e.g. BER with indefinite lengths).
pub(crate) fn recipients(der: &[u8]) -> Option<Vec<RecipientId>> {
    let (outer, _) = expect(der, TAG_SEQUENCE)?;
    let (oid, rest) = expect(outer.content, TAG_OID)?;
    if oid.content != OID_ENVELOPED_DATA {
        return None;
    }
    let (explicit, _) = expect(rest, 0xA0)?;
    let (env, _) = expect(explicit.content, TAG_SEQUENCE)?;
    if outer.indefinite || explicit.indefinite || env.indefinite {
        return None;
    }
    let (_version, mut rest) = expect(env.content, TAG_INTEGER)?;
    if rest.first() == Some(&0xA0) {
        let (_originator, r) = read(rest)?;
        rest = r;
    }
    let (set, _) = expect(rest, TAG_SET)?;
    let mut items = set.content;
    let mut out = Vec::new();
    while !items.is_empty() {
        let (ri, r) = read(items)?;
        items = r;
        if ri.tag != TAG_SEQUENCE {
            out.push(RecipientId::Other);
            continue;
        }
        let (_v, rid_rest) = expect(ri.content, TAG_INTEGER)?;
        let (rid, _) = read(rid_rest)?;
        match rid.tag {
            TAG_SEQUENCE => {
                let (issuer_tlv, after) = expect(rid.content, TAG_SEQUENCE)?;
                let issuer_len = rid.content.len() - after.len();
                let _ = issuer_tlv;
                let (serial, _) = expect(after, TAG_INTEGER)?;
                out.push(RecipientId::IssuerSerial {
                    issuer: rid.content[..issuer_len].to_vec(),
                    serial: strip_zeros(serial.content).to_vec(),
                });
            }
            0x80 => out.push(RecipientId::SubjectKeyId(rid.content.to_vec())),
            _ => out.push(RecipientId::Other),
        }
    }
    Some(out)
}

/// The contentEncryptionAlgorithm OID (content octets) of a DER EnvelopedData ContentInfo,
/// or `None` if the structure cannot be read this simply.
pub(crate) fn content_encryption(der: &[u8]) -> Option<&[u8]> {
    let (outer, _) = expect(der, TAG_SEQUENCE)?;
    let (oid, rest) = expect(outer.content, TAG_OID)?;
    if oid.content != OID_ENVELOPED_DATA || outer.indefinite {
        return None;
    }
    let (explicit, _) = expect(rest, 0xA0)?;
    let (env, _) = expect(explicit.content, TAG_SEQUENCE)?;
    if explicit.indefinite || env.indefinite {
        return None;
    }
    let (_version, mut rest) = expect(env.content, TAG_INTEGER)?;
    if rest.first() == Some(&0xA0) {
        let (_originator, r) = read(rest)?;
        rest = r;
    }
    let (_recipients, rest) = expect(rest, TAG_SET)?;
    let (eci, _) = expect(rest, TAG_SEQUENCE)?;
    let (_content_type, rest) = expect(eci.content, TAG_OID)?;
    let (alg, _) = expect(rest, TAG_SEQUENCE)?;
    let (alg_oid, _) = expect(alg.content, TAG_OID)?;
    (!alg_oid.indefinite && !alg_oid.content.is_empty()).then_some(alg_oid.content)
}

/// INTEGER content without leading zero octets (for comparing serial numbers).
pub(crate) fn strip_zeros(mut b: &[u8]) -> &[u8] {
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    b
}

/// The keyUsage bits of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsageBits {
    /// digitalSignature (0)
    pub digital_signature: bool,
    /// nonRepudiation / contentCommitment (1)
    pub non_repudiation: bool,
    /// keyEncipherment (2)
    pub key_encipherment: bool,
    /// dataEncipherment (3)
    pub data_encipherment: bool,
    /// keyAgreement (4)
    pub key_agreement: bool,
    /// keyCertSign (5)
    pub key_cert_sign: bool,
    /// cRLSign (6)
    pub crl_sign: bool,
}

/// The keyUsage extension of a DER certificate: `Some(None)` when the certificate has no
/// keyUsage extension, `None` when the certificate cannot be read.
pub(crate) fn key_usage(cert_der: &[u8]) -> Option<Option<KeyUsageBits>> {
    let (cert, _) = expect(cert_der, TAG_SEQUENCE)?;
    let (tbs, _) = expect(cert.content, TAG_SEQUENCE)?;
    let mut rest = tbs.content;
    // version [0], serial, signature, issuer, validity, subject, spki
    if rest.first() == Some(&0xA0) {
        rest = read(rest)?.1;
    }
    for tag in [
        TAG_INTEGER,
        TAG_SEQUENCE,
        TAG_SEQUENCE,
        TAG_SEQUENCE,
        TAG_SEQUENCE,
        TAG_SEQUENCE,
    ] {
        rest = expect(rest, tag)?.1;
    }
    while !rest.is_empty() {
        let (field, r) = read(rest)?;
        rest = r;
        if field.tag != 0xA3 {
            continue;
        }
        let (exts, _) = expect(field.content, TAG_SEQUENCE)?;
        let mut items = exts.content;
        while !items.is_empty() {
            let (ext, r) = expect(items, TAG_SEQUENCE)?;
            items = r;
            let (oid, mut after) = expect(ext.content, TAG_OID)?;
            if oid.content != OID_KEY_USAGE {
                continue;
            }
            if after.first() == Some(&TAG_BOOLEAN) {
                after = read(after)?.1;
            }
            let (octets, _) = expect(after, TAG_OCTET_STRING)?;
            let (bits, _) = expect(octets.content, TAG_BIT_STRING)?;
            let bytes = bits.content.get(1..).unwrap_or(&[]);
            let b0 = bytes.first().copied().unwrap_or(0);
            return Some(Some(KeyUsageBits {
                digital_signature: b0 & 0x80 != 0,
                non_repudiation: b0 & 0x40 != 0,
                key_encipherment: b0 & 0x20 != 0,
                data_encipherment: b0 & 0x10 != 0,
                key_agreement: b0 & 0x08 != 0,
                key_cert_sign: b0 & 0x04 != 0,
                crl_sign: b0 & 0x02 != 0,
            }));
        }
        return Some(None);
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_short_and_long_lengths() {
        let (t, rest) = read(&[0x04, 0x02, 0xAA, 0xBB, 0xFF]).unwrap();
        assert_eq!(t.tag, 0x04);
        assert_eq!(t.content, &[0xAA, 0xBB]);
        assert_eq!(rest, &[0xFF]);
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7u8, 0x80));
        let (t, rest) = read(&long).unwrap();
        assert_eq!(t.content.len(), 0x80);
        assert!(rest.is_empty());
    }

    #[test]
    fn truncated_or_oversized_lengths_are_none() {
        assert!(read(&[]).is_none());
        assert!(read(&[0x30]).is_none());
        assert!(read(&[0x30, 0x05, 0x00]).is_none());
        assert!(read(&[0x30, 0x85, 1, 2, 3, 4, 5]).is_none());
        assert!(read(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]).is_none());
        assert!(read(&[0x1F, 0x01, 0x00]).is_none());
    }

    #[test]
    fn content_type_of_garbage_is_none() {
        assert!(content_type(b"hello world").is_none());
        assert!(content_type(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
        let signed = [
            0x30, 0x0B, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02,
        ];
        assert_eq!(content_type(&signed), Some(OID_SIGNED_DATA));
    }

    #[test]
    fn oid_strings() {
        assert_eq!(oid_to_string(OID_ENVELOPED_DATA), "1.2.840.113549.1.7.3");
        assert_eq!(oid_to_string(OID_KEY_USAGE), "2.5.29.15");
    }

    #[test]
    fn strip_leading_zeros() {
        assert_eq!(strip_zeros(&[0, 0, 0x80]), &[0x80]);
        assert_eq!(strip_zeros(&[0]), &[0]);
    }
}
