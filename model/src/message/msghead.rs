//! MsgHead ("hodemelding", KITH v1.2, `http://www.kith.no/xmlstds/msghead/2006-05-24`):
//! the envelope around the IPLOS message inside the CMS payload.
//!
//! # What is written
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <mh:MsgHead xmlns:mh="http://www.kith.no/xmlstds/msghead/2006-05-24">
//!   <mh:MsgInfo>
//!     <mh:Type V="IPLOS" DN="IPLOS-melding til KPR"/>
//!     <mh:MIGversion>v1.2 2006-05-24</mh:MIGversion>
//!     <mh:GenDate>2019-01-03T10:15:00+01:00</mh:GenDate>
//!     <mh:MsgId>…GUID…</mh:MsgId>
//!     <mh:Sender><mh:Organisation>
//!       <mh:OrganisationName>…</mh:OrganisationName>
//!       <mh:Ident><mh:Id>…HER-id…</mh:Id>
//!         <mh:TypeId V="HER" S="2.16.578.1.12.4.1.1.9051" DN="HER-id"/></mh:Ident>
//!       <mh:Ident><mh:Id>…orgnr…</mh:Id>
//!         <mh:TypeId V="ENH" S="2.16.578.1.12.4.1.1.9051" DN="Organisasjonsnummeret i Enhetsregisteret"/></mh:Ident>
//!       (<mh:Organisation> for a sub-unit, same shape)
//!     </mh:Organisation></mh:Sender>
//!     <mh:Receiver>…</mh:Receiver>
//!   </mh:MsgInfo>
//!   <mh:Document><mh:RefDoc>
//!     <mh:IssueDate V="…"/><mh:MsgType V="XML" DN="XML-instans"/><mh:MimeType>text/xml</mh:MimeType>
//!     <mh:Content><Melding xmlns="http://www.npr.no/xmlstds/56_0_0_ipl" …>…</Melding></mh:Content>
//!   </mh:RefDoc></mh:Document>
//! </mh:MsgHead>
//! ```
//!
//! Element order and types follow the MsgHead v1.2 schema (MsgHead-v1_2.xsd): `MIGversion`
//! is fixed to `v1.2 2006-05-24`; `Ident/TypeId` is a CV, so it carries the code system
//! `S`. DOMAIN §4 writes `S="9051"`; the schema's `oid` type and every KITH example use the
//! full Volven OID `2.16.578.1.12.4.1.1.9051` (kodeverk 9051), which is what is written.
//!
//! **Message type.** No public source names the `MsgInfo/Type` of the IPLOS message to KPR.
//! Helsenorge-style services put the service bus message function (the AMQP `subject`) in
//! `MsgInfo/Type`; Helsedirektoratet's later HTTP API calls the message type `"IPLOS"`.
//! The default is therefore `V="IPLOS"` (**\[model\]**, configurable via [`MsgHead::msg_type`]).
//!
//! **Embedding.** The IPLOS document goes into `RefDoc/Content` as an inline XML element,
//! as the schema wants (`<any processContents="strict"/>`): its XML declaration (and a BOM)
//! is dropped, an ISO-8859-1 document is transcoded to UTF-8 (characters are unchanged),
//! and everything from the root element on is copied byte for byte. The MsgHead elements
//! use the `mh:` prefix so that the IPLOS root keeps its own default namespace and an
//! unqualified element inside the content is not pulled into the MsgHead namespace.
//!
//! **Reading** ([`read_msghead`]) parses the envelope into a small bounded tree but never
//! the content: the content is only checked for well-formedness while its byte range is
//! recorded. [`MsgHeadInfo::content_document`] gives the IPLOS document as a standalone
//! UTF-8 document; when the content relies on namespace declarations made outside it
//! (e.g. a MsgHead with a default namespace and an unqualified IPLOS root), the
//! declarations are added to its root start tag so that it means the same on its own.
//! `Document` inside `PatientReport` (the schema's alternative for registry reporting) is
//! read too.

use std::borrow::Cow;

use super::kith::{self, Coded, Limits, Node, OID_9051, XmlError};

/// The MsgHead namespace.
pub const NS_MSGHEAD: &str = "http://www.kith.no/xmlstds/msghead/2006-05-24";
/// The fixed `MIGversion` of MsgHead v1.2.
pub const MIG_VERSION: &str = "v1.2 2006-05-24";
/// Default `MsgInfo/Type` of an IPLOS message (**\[model\]**, see the module docs).
pub const DEFAULT_MSG_TYPE: &str = "IPLOS";
/// Display name written with [`DEFAULT_MSG_TYPE`].
pub const DEFAULT_MSG_TYPE_DN: &str = "IPLOS-melding til KPR";

/// An organisation (sender or receiver), possibly with one sub-unit (the communication
/// party, e.g. a department with its own HER-id).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Organisation {
    /// `OrganisationName`.
    pub name: String,
    /// `Ident` with `TypeId V="HER"`.
    pub her_id: Option<String>,
    /// `Ident` with `TypeId V="ENH"` (organisation number).
    pub orgnr: Option<String>,
    /// A nested `Organisation`.
    pub unit: Option<Box<Organisation>>,
}

impl Organisation {
    /// An organisation with a name and HER-id.
    pub fn new(name: &str, her_id: &str) -> Organisation {
        Organisation {
            name: name.into(),
            her_id: Some(her_id.into()),
            orgnr: None,
            unit: None,
        }
    }

    /// The HER-id of the communication party: the innermost unit that has one.
    pub fn communication_her_id(&self) -> Option<&str> {
        self.unit
            .as_ref()
            .and_then(|u| u.communication_her_id())
            .or(self.her_id.as_deref())
    }

    fn write(&self, out: &mut String, indent: &str) {
        out.push_str(indent);
        out.push_str("<mh:Organisation>\n");
        let inner = format!("{indent}  ");
        kith::text_element(out, &inner, "mh:OrganisationName", &self.name);
        if let Some(h) = &self.her_id {
            write_ident(out, &inner, h, &Coded::cv("HER", OID_9051, "HER-id"));
        }
        if let Some(o) = &self.orgnr {
            write_ident(
                out,
                &inner,
                o,
                &Coded::cv("ENH", OID_9051, "Organisasjonsnummeret i Enhetsregisteret"),
            );
        }
        if let Some(u) = &self.unit {
            u.write(out, &inner);
        }
        out.push_str(indent);
        out.push_str("</mh:Organisation>\n");
    }

    fn read(n: &Node, depth: usize) -> Organisation {
        let mut o = Organisation {
            name: n
                .child_text(NS_MSGHEAD, "OrganisationName")
                .unwrap_or_default()
                .to_string(),
            ..Organisation::default()
        };
        for ident in n.children_named(NS_MSGHEAD, "Ident") {
            let id = ident.child_text(NS_MSGHEAD, "Id").unwrap_or_default();
            let ty = ident
                .child(NS_MSGHEAD, "TypeId")
                .and_then(|t| t.attr("V"))
                .unwrap_or_default();
            match ty {
                "HER" if o.her_id.is_none() => o.her_id = Some(id.to_string()),
                "ENH" if o.orgnr.is_none() => o.orgnr = Some(id.to_string()),
                _ => {}
            }
        }
        if depth < 4
            && let Some(sub) = n.child(NS_MSGHEAD, "Organisation")
        {
            o.unit = Some(Box::new(Organisation::read(sub, depth + 1)));
        }
        o
    }
}

fn write_ident(out: &mut String, indent: &str, id: &str, type_id: &Coded) {
    out.push_str(indent);
    out.push_str("<mh:Ident>\n");
    let inner = format!("{indent}  ");
    kith::text_element(out, &inner, "mh:Id", id);
    type_id.write(out, &inner, "mh:TypeId");
    out.push_str(indent);
    out.push_str("</mh:Ident>\n");
}

/// A MsgHead to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgHead {
    /// `MsgInfo/Type` (CS): the message function.
    pub msg_type: Coded,
    /// `MsgInfo/GenDate` (xs:dateTime, as written).
    pub gen_date: String,
    /// `MsgInfo/MsgId`: a GUID.
    pub msg_id: String,
    /// `MsgInfo/Sender/Organisation`.
    pub sender: Organisation,
    /// `MsgInfo/Receiver/Organisation`.
    pub receiver: Organisation,
    /// `RefDoc/IssueDate/@V` (defaults to `gen_date` when `None`).
    pub issue_date: Option<String>,
}

impl MsgHead {
    /// A MsgHead with the default IPLOS message type.
    pub fn iplos(
        msg_id: &str,
        gen_date: &str,
        sender: Organisation,
        receiver: Organisation,
    ) -> MsgHead {
        MsgHead {
            msg_type: Coded::cs(DEFAULT_MSG_TYPE, DEFAULT_MSG_TYPE_DN),
            gen_date: gen_date.into(),
            msg_id: msg_id.into(),
            sender,
            receiver,
            issue_date: None,
        }
    }
}

/// Why a MsgHead could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The content is not a document that can be embedded.
    #[error("the IPLOS document cannot be embedded: {0}")]
    Content(String),
}

/// Writes a MsgHead (UTF-8) with `content` (a complete XML document, UTF-8 or ISO-8859-1)
/// embedded in `Document/RefDoc/Content`.
pub fn write_msghead(head: &MsgHead, content: &[u8]) -> Result<Vec<u8>, WriteError> {
    let body = embeddable(content)?;
    let mut out = String::with_capacity(body.len() + 2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<mh:MsgHead");
    kith::attr(&mut out, "xmlns:mh", NS_MSGHEAD);
    out.push_str(">\n  <mh:MsgInfo>\n");
    head.msg_type.write(&mut out, "    ", "mh:Type");
    kith::text_element(&mut out, "    ", "mh:MIGversion", MIG_VERSION);
    kith::text_element(&mut out, "    ", "mh:GenDate", &head.gen_date);
    kith::text_element(&mut out, "    ", "mh:MsgId", &head.msg_id);
    out.push_str("    <mh:Sender>\n");
    head.sender.write(&mut out, "      ");
    out.push_str("    </mh:Sender>\n    <mh:Receiver>\n");
    head.receiver.write(&mut out, "      ");
    out.push_str("    </mh:Receiver>\n  </mh:MsgInfo>\n  <mh:Document>\n    <mh:RefDoc>\n");
    out.push_str("      <mh:IssueDate");
    kith::attr(
        &mut out,
        "V",
        head.issue_date.as_deref().unwrap_or(&head.gen_date),
    );
    out.push_str("/>\n");
    Coded::cs("XML", "XML-instans").write(&mut out, "      ", "mh:MsgType");
    kith::text_element(&mut out, "      ", "mh:MimeType", "text/xml");
    out.push_str("      <mh:Content>");
    out.push_str(&body);
    out.push_str("</mh:Content>\n    </mh:RefDoc>\n  </mh:Document>\n</mh:MsgHead>\n");
    Ok(out.into_bytes())
}

/// The part of a document that can go inside an element: decoded to UTF-8, from the first
/// element (or comment) after the XML declaration.
fn embeddable(content: &[u8]) -> Result<Cow<'_, str>, WriteError> {
    let text = kith::decode(content).map_err(|e| WriteError::Content(e.to_string()))?;
    let mut rest: &str = &text;
    // `<?xml` and a blank: the declaration (`<?xml-stylesheet` is an ordinary PI).
    if rest.starts_with("<?xml") && rest[5..].starts_with(|c: char| c.is_ascii_whitespace()) {
        let end = rest
            .find("?>")
            .ok_or_else(|| WriteError::Content("unterminated XML declaration".into()))?;
        // It is dropped, so it must be well-formed: the document would change verdict.
        let decl = crate::xml_syntax::declaration(&rest[2..end]).map_err(|e| {
            WriteError::Content(format!("the XML declaration is not well-formed: {e:?}"))
        })?;
        if let Some(label) = decl.encoding
            && crate::xml_input::SourceEncoding::from_label(&label).is_none()
        {
            return Err(WriteError::Content(format!(
                "encoding \"{label}\" is not supported"
            )));
        }
        rest = &rest[end + 2..];
    }
    let rest = rest.trim_start();
    if rest.starts_with("<?xml") && rest[5..].starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(WriteError::Content(
            "the XML declaration is not at the very start of the document".into(),
        ));
    }
    if rest.starts_with("<!DOCTYPE") {
        return Err(WriteError::Content("a DOCTYPE cannot be embedded".into()));
    }
    if !rest.starts_with('<') {
        return Err(WriteError::Content("no root element".into()));
    }
    let rest = rest.trim_end();
    Ok(match text {
        Cow::Borrowed(_) => Cow::Owned(rest.to_string()),
        Cow::Owned(_) => Cow::Owned(rest.to_string()),
    })
}

/// What a received MsgHead says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgHeadInfo {
    /// `MsgInfo/Type`.
    pub msg_type: Coded,
    /// `MsgInfo/MIGversion`.
    pub mig_version: String,
    /// `MsgInfo/GenDate`.
    pub gen_date: String,
    /// `MsgInfo/MsgId`.
    pub msg_id: String,
    /// `MsgInfo/Sender/Organisation`.
    pub sender: Organisation,
    /// `MsgInfo/Receiver/Organisation`.
    pub receiver: Organisation,
    /// `RefDoc/MsgType`.
    pub ref_doc_type: Option<Coded>,
    /// `RefDoc/MimeType`.
    pub mime_type: Option<String>,
    /// The document text (UTF-8) the content range refers to.
    text: String,
    raw: kith::RawContent,
}

impl MsgHeadInfo {
    /// The sender's communication HER-id (innermost unit with a HER-id).
    pub fn sender_her_id(&self) -> &str {
        self.sender.communication_her_id().unwrap_or_default()
    }

    /// The receiver's communication HER-id.
    pub fn receiver_her_id(&self) -> &str {
        self.receiver.communication_her_id().unwrap_or_default()
    }

    /// The bytes between `<Content>` and `</Content>` exactly as they stand in the
    /// (UTF-8-decoded) MsgHead, surrounding whitespace included.
    pub fn raw_content(&self) -> &[u8] {
        &self.text.as_bytes()[self.raw.range.clone()]
    }

    /// The namespace declarations the content inherits from the envelope (see the module
    /// docs); empty for a self-contained content.
    pub fn inherited_namespaces(&self) -> &[(String, String)] {
        &self.raw.inherited
    }

    /// The IPLOS document as a standalone UTF-8 document (no XML declaration, surrounding
    /// whitespace removed). Byte-identical to the raw content when it needs no inherited
    /// declarations.
    pub fn content_document(&self) -> Cow<'_, [u8]> {
        let raw = self.raw_content();
        let start = raw
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        let end = raw
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map(|i| i + 1)
            .unwrap_or(start);
        let trimmed = &raw[start..end];
        let (Some(at), false) = (self.raw.root_insert_at, self.raw.inherited.is_empty()) else {
            return Cow::Borrowed(trimmed);
        };
        let at = at - self.raw.range.start - start;
        let mut out = Vec::with_capacity(trimmed.len() + 128);
        out.extend_from_slice(&trimmed[..at]);
        for (p, uri) in &self.raw.inherited {
            let mut s = String::new();
            if p.is_empty() {
                kith::attr(&mut s, "xmlns", uri);
            } else {
                kith::attr(&mut s, &format!("xmlns:{p}"), uri);
            }
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&trimmed[at..]);
        Cow::Owned(out)
    }
}

/// Why a MsgHead could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not readable as XML.
    #[error("MsgHead: {0}")]
    Xml(#[from] XmlError),
    /// The root element is not `{http://www.kith.no/xmlstds/msghead/2006-05-24}MsgHead`.
    #[error("not a MsgHead: the root element is {{{ns}}}{name}")]
    NotMsgHead {
        /// Namespace of the root.
        ns: String,
        /// Local name of the root.
        name: String,
    },
    /// A required part is missing or empty.
    #[error("MsgHead: {0} is missing")]
    Missing(&'static str),
    /// The document is referenced by `FileReference` instead of being in `Content`.
    #[error("MsgHead: the document is referenced by FileReference, not included in Content")]
    FileReference,
}

/// Reads a MsgHead (bounded by [`Limits::default`]).
pub fn read_msghead(bytes: &[u8]) -> Result<MsgHeadInfo, ReadError> {
    read_msghead_with(bytes, Limits::default())
}

/// Reads a MsgHead with explicit limits.
pub fn read_msghead_with(bytes: &[u8], limits: Limits) -> Result<MsgHeadInfo, ReadError> {
    let text = kith::decode(bytes)?.into_owned();
    let capture = |path: &[&str], ns: &str| {
        ns == NS_MSGHEAD && path.len() >= 4 && path.ends_with(&["Document", "RefDoc", "Content"])
    };
    let root = kith::parse(&text, limits, &capture)?;
    if root.ns != NS_MSGHEAD || root.name != "MsgHead" {
        return Err(ReadError::NotMsgHead {
            ns: root.ns,
            name: root.name,
        });
    }
    let info = root
        .child(NS_MSGHEAD, "MsgInfo")
        .ok_or(ReadError::Missing("MsgInfo"))?;
    let msg_type = info
        .child(NS_MSGHEAD, "Type")
        .map(Coded::from_node)
        .filter(|c| !c.v.is_empty())
        .ok_or(ReadError::Missing("MsgInfo/Type/@V"))?;
    let non_empty = |name: &'static str, what: &'static str| {
        info.child_text(NS_MSGHEAD, name)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(ReadError::Missing(what))
    };
    let mig_version = non_empty("MIGversion", "MsgInfo/MIGversion")?;
    let gen_date = non_empty("GenDate", "MsgInfo/GenDate")?;
    let msg_id = non_empty("MsgId", "MsgInfo/MsgId")?;
    let party = |name: &'static str, missing_org: &'static str, missing_her: &'static str| {
        let org = info
            .child(NS_MSGHEAD, name)
            .and_then(|s| s.child(NS_MSGHEAD, "Organisation"))
            .ok_or(ReadError::Missing(missing_org))?;
        let o = Organisation::read(org, 0);
        if o.communication_her_id().is_none_or(str::is_empty) {
            return Err(ReadError::Missing(missing_her));
        }
        Ok(o)
    };
    let sender = party(
        "Sender",
        "MsgInfo/Sender/Organisation",
        "the Sender's HER-id (Ident with TypeId V=\"HER\")",
    )?;
    let receiver = party(
        "Receiver",
        "MsgInfo/Receiver/Organisation",
        "the Receiver's HER-id (Ident with TypeId V=\"HER\")",
    )?;
    let document = root
        .child(NS_MSGHEAD, "Document")
        .or_else(|| {
            root.child(NS_MSGHEAD, "PatientReport")
                .and_then(|p| p.child(NS_MSGHEAD, "Document"))
        })
        .ok_or(ReadError::Missing("Document"))?;
    let refdoc = document
        .child(NS_MSGHEAD, "RefDoc")
        .ok_or(ReadError::Missing("Document/RefDoc"))?;
    let content = match refdoc.child(NS_MSGHEAD, "Content") {
        Some(c) => c,
        None if refdoc.child(NS_MSGHEAD, "FileReference").is_some() => {
            return Err(ReadError::FileReference);
        }
        None => return Err(ReadError::Missing("Document/RefDoc/Content")),
    };
    let raw = content.raw.clone().unwrap_or_default();
    if raw.root_insert_at.is_none() {
        return Err(ReadError::Missing(
            "the IPLOS document in Document/RefDoc/Content",
        ));
    }
    Ok(MsgHeadInfo {
        msg_type,
        mig_version,
        gen_date,
        msg_id,
        sender,
        receiver,
        ref_doc_type: refdoc.child(NS_MSGHEAD, "MsgType").map(Coded::from_node),
        mime_type: refdoc
            .child_text(NS_MSGHEAD, "MimeType")
            .map(str::to_string),
        text,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPLOS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Melding xmlns=\"http://www.npr.no/xmlstds/56_0_0_ipl\" versjon=\"56.0.0\">\n  <Kommune kommuneNr=\"0301\"/>\n  <!-- æøå &amp; -->\n</Melding>\n";

    fn head() -> MsgHead {
        let mut sender = Organisation::new("Oslo kommune", "12345");
        sender.orgnr = Some("974778874".into());
        sender.unit = Some(Box::new(Organisation::new("Helseetaten IPLOS", "67890")));
        MsgHead::iplos(
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "2019-01-03T10:15:00+01:00",
            sender,
            Organisation::new("KPR", "134197"),
        )
    }

    #[test]
    fn round_trip_keeps_content_bytes() {
        let xml = write_msghead(&head(), IPLOS.as_bytes()).unwrap();
        let info = read_msghead(&xml).unwrap();
        assert_eq!(info.msg_type.v, "IPLOS");
        assert_eq!(info.mig_version, MIG_VERSION);
        assert_eq!(info.msg_id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
        assert_eq!(info.sender_her_id(), "67890");
        assert_eq!(info.sender.her_id.as_deref(), Some("12345"));
        assert_eq!(info.sender.orgnr.as_deref(), Some("974778874"));
        assert_eq!(info.receiver_her_id(), "134197");
        assert!(info.inherited_namespaces().is_empty());
        let body = &IPLOS[IPLOS.find("<Melding").unwrap()..].trim_end();
        assert_eq!(info.content_document().as_ref(), body.as_bytes());
        assert_eq!(info.ref_doc_type.as_ref().unwrap().v, "XML");
        assert_eq!(info.mime_type.as_deref(), Some("text/xml"));
    }

    #[test]
    fn latin1_content_is_transcoded() {
        let latin: Vec<u8> = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Melding xmlns=\"urn:i\" leverandor=\"\xC6ble\"/>".to_vec();
        let xml = write_msghead(&head(), &latin).unwrap();
        let info = read_msghead(&xml).unwrap();
        assert_eq!(
            std::str::from_utf8(&info.content_document()).unwrap(),
            "<Melding xmlns=\"urn:i\" leverandor=\"Æble\"/>"
        );
    }

    #[test]
    fn documents_that_cannot_be_embedded_faithfully_are_refused() {
        for doc in [
            &b"\n<?xml version=\"1.0\"?><a/>"[..],
            b"<!DOCTYPE a><a/>",
            b"just text",
            b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>",
        ] {
            assert!(
                matches!(write_msghead(&head(), doc), Err(WriteError::Content(_))),
                "{}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn inherited_default_namespace_is_added() {
        let doc = format!(
            "<MsgHead xmlns=\"{NS_MSGHEAD}\"><MsgInfo><Type V=\"IPLOS\"/><MIGversion>v1.2 2006-05-24</MIGversion><GenDate>2019-01-01T00:00:00</GenDate><MsgId>x</MsgId><Sender><Organisation><OrganisationName>A</OrganisationName><Ident><Id>1</Id><TypeId V=\"HER\"/></Ident></Organisation></Sender><Receiver><Organisation><OrganisationName>B</OrganisationName><Ident><Id>2</Id><TypeId V=\"HER\"/></Ident></Organisation></Receiver></MsgInfo><Document><RefDoc><MsgType V=\"XML\"/><Content><Melding a=\"1\"><x/></Melding></Content></RefDoc></Document></MsgHead>"
        );
        let info = read_msghead(doc.as_bytes()).unwrap();
        assert_eq!(
            std::str::from_utf8(&info.content_document()).unwrap(),
            format!("<Melding xmlns=\"{NS_MSGHEAD}\" a=\"1\"><x/></Melding>")
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let full = String::from_utf8(write_msghead(&head(), IPLOS.as_bytes()).unwrap()).unwrap();
        let cut = |from: &str, to: &str| {
            let a = full.find(from).unwrap();
            let b = full[a..].find(to).unwrap() + a + to.len();
            format!("{}{}", &full[..a], &full[b..])
        };
        let err = |s: String| read_msghead(s.as_bytes()).unwrap_err();
        assert_eq!(
            err(cut("<mh:MsgInfo>", "</mh:MsgInfo>")),
            ReadError::Missing("MsgInfo")
        );
        assert_eq!(
            err(cut("<mh:MsgId>", "</mh:MsgId>")),
            ReadError::Missing("MsgInfo/MsgId")
        );
        assert!(matches!(
            err(cut("<mh:Sender>", "</mh:Sender>")),
            ReadError::Missing("MsgInfo/Sender/Organisation")
        ));
        assert_eq!(
            err(cut("<mh:Content>", "</mh:Content>")),
            ReadError::Missing("Document/RefDoc/Content")
        );
        assert!(matches!(
            err(full.replace("V=\"HER\"", "V=\"XYZ\"")),
            ReadError::Missing(m) if m.starts_with("the Sender's HER-id")
        ));
        assert!(matches!(
            err("<AppRec xmlns=\"urn:x\"/>".into()),
            ReadError::NotMsgHead { .. }
        ));
        assert!(matches!(err("garbage".into()), ReadError::Xml(_)));
        assert!(matches!(
            err(full.replace("</Melding>", "")),
            ReadError::Xml(_)
        ));
    }
}
