//! AppRec (applikasjonskvittering): the receipt the register sends for each message.
//! Written as v1.1 (`http://www.kith.no/xmlstds/apprec/2012-02-15`), read as v1.0
//! (`http://www.kith.no/xmlstds/apprec/2004-11-21`) or v1.1; the two differ only in
//! namespace and `MIGversion` (AppRec-v1_1.xsd's change log).
//!
//! Structure (AppRec-v1_1.xsd): `MsgType` (CS, `APPREC`), `MIGversion`, `SoftwareName?`,
//! `SoftwareVersion?`, `GenDate`, `Id`, `Sender` and `Receiver` (`Role?`, `HCP/Inst` with
//! `Name`, `Id`, `TypeId` and optionally a `Dept` sub-unit), `Status` (CS, kodeverk 8258),
//! `Error*` (CV: `V` code, `S` = kodeverk 8221's OID, `DN` text, `OT` free text),
//! `OriginalMsgId` (`MsgType` CS, `IssueDate`, `Id`).
//!
//! `Inst/TypeId` is a CS in the schema (no `S` attribute), so the HER-id is written as
//! `<TypeId V="HER" DN="HER-id"/>`. The harness's rule ids and explanations go into the
//! error's `OT` ("original text"), the CV attribute for free text; `DN` keeps the code's
//! display name.

use super::kith::{self, Coded, Limits, Node, OID_8221, XmlError};

/// AppRec v1.0 namespace.
pub const NS_APPREC_V1_0: &str = "http://www.kith.no/xmlstds/apprec/2004-11-21";
/// AppRec v1.1 namespace.
pub const NS_APPREC_V1_1: &str = "http://www.kith.no/xmlstds/apprec/2012-02-15";
/// `MIGversion` written in v1.1 (the schema's default).
pub const MIG_VERSION_V1_1: &str = "v1.1 2012-02-15";

/// Which AppRec version a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AppRecVersion {
    /// v1.0 (2004-11-21).
    V1_0,
    /// v1.1 (2012-02-15).
    V1_1,
}

/// Status of the original message (kodeverk 8258).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AppRecStatus {
    /// 1 OK.
    Ok,
    /// 2 Avvist (rejected).
    Rejected,
    /// 3 OK, feil i delmelding (accepted with errors in part).
    OkWithErrors,
    /// Any other code, as sent.
    Other(String),
}

impl AppRecStatus {
    /// The code.
    pub fn code(&self) -> &str {
        match self {
            AppRecStatus::Ok => "1",
            AppRecStatus::Rejected => "2",
            AppRecStatus::OkWithErrors => "3",
            AppRecStatus::Other(s) => s,
        }
    }

    /// The display name of kodeverk 8258.
    pub fn display_name(&self) -> &str {
        match self {
            AppRecStatus::Ok => "OK",
            AppRecStatus::Rejected => "Avvist",
            AppRecStatus::OkWithErrors => "OK, feil i delmelding",
            AppRecStatus::Other(_) => "",
        }
    }

    /// Parses a code.
    pub fn from_code(code: &str) -> AppRecStatus {
        match code {
            "1" => AppRecStatus::Ok,
            "2" => AppRecStatus::Rejected,
            "3" => AppRecStatus::OkWithErrors,
            other => AppRecStatus::Other(other.to_string()),
        }
    }
}

/// The AppRec error codes the harness uses (kodeverk 8221, DOMAIN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AppRecErrorCode {
    /// T01: not XML / not well-formed.
    T01,
    /// T02: XML does not validate.
    T02,
    /// T10: format not supported.
    T10,
    /// T99: other format error.
    T99,
    /// S01: signature error.
    S01,
    /// S02: invalid certificate.
    S02,
    /// S03: revoked certificate.
    S03,
    /// S99: other signature error.
    S99,
    /// E10: invalid message id.
    E10,
    /// E21: receiver unknown.
    E21,
    /// E30: the patient's national id is missing.
    E30,
    /// E31: the patient's national id is wrong.
    E31,
    /// X99: other error.
    X99,
}

impl AppRecErrorCode {
    /// All codes.
    pub const ALL: [AppRecErrorCode; 13] = [
        AppRecErrorCode::T01,
        AppRecErrorCode::T02,
        AppRecErrorCode::T10,
        AppRecErrorCode::T99,
        AppRecErrorCode::S01,
        AppRecErrorCode::S02,
        AppRecErrorCode::S03,
        AppRecErrorCode::S99,
        AppRecErrorCode::E10,
        AppRecErrorCode::E21,
        AppRecErrorCode::E30,
        AppRecErrorCode::E31,
        AppRecErrorCode::X99,
    ];

    /// The code (`V`).
    pub fn code(self) -> &'static str {
        match self {
            AppRecErrorCode::T01 => "T01",
            AppRecErrorCode::T02 => "T02",
            AppRecErrorCode::T10 => "T10",
            AppRecErrorCode::T99 => "T99",
            AppRecErrorCode::S01 => "S01",
            AppRecErrorCode::S02 => "S02",
            AppRecErrorCode::S03 => "S03",
            AppRecErrorCode::S99 => "S99",
            AppRecErrorCode::E10 => "E10",
            AppRecErrorCode::E21 => "E21",
            AppRecErrorCode::E30 => "E30",
            AppRecErrorCode::E31 => "E31",
            AppRecErrorCode::X99 => "X99",
        }
    }

    /// A Norwegian display name (`DN`). E30's is the one in KITH's AppRec example; the
    /// others paraphrase DOMAIN §4's descriptions of kodeverk 8221 (**\[model\]**: check
    /// against Volven before relying on the exact wording).
    pub fn display_name(self) -> &'static str {
        match self {
            AppRecErrorCode::T01 => "Ikke XML / ikke velformet XML",
            AppRecErrorCode::T02 => "XML validerer ikke mot skjema",
            AppRecErrorCode::T10 => "Meldingsformatet støttes ikke",
            AppRecErrorCode::T99 => "Annen feil på format",
            AppRecErrorCode::S01 => "Feil på signatur",
            AppRecErrorCode::S02 => "Ugyldig sertifikat",
            AppRecErrorCode::S03 => "Tilbaketrukket sertifikat",
            AppRecErrorCode::S99 => "Annen feil på signatur",
            AppRecErrorCode::E10 => "Ugyldig meldingsidentifikator",
            AppRecErrorCode::E21 => "Mottaker finnes ikke",
            AppRecErrorCode::E30 => "Pasientens fødselsnummer mangler",
            AppRecErrorCode::E31 => "Pasientens fødselsnummer er feil",
            AppRecErrorCode::X99 => "Annen feil",
        }
    }

    /// Parses a code.
    pub fn from_code(code: &str) -> Option<AppRecErrorCode> {
        AppRecErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// An [`AppRecError`] with this code, its display name and a free text (`OT`).
    pub fn error(self, details: &str) -> AppRecError {
        AppRecError {
            code: self.code().into(),
            system: Some(OID_8221.into()),
            display_name: Some(self.display_name().into()),
            details: (!details.is_empty()).then(|| details.to_string()),
        }
    }
}

/// One `Error` of an AppRec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppRecError {
    /// `V`: the code (kodeverk 8221).
    pub code: String,
    /// `S`: the code system (normally 2.16.578.1.12.4.1.1.8221).
    pub system: Option<String>,
    /// `DN`: the code's display name.
    pub display_name: Option<String>,
    /// `OT`: free text — the harness's rule id and explanation.
    pub details: Option<String>,
}

/// Sender or receiver: `HCP/Inst` with an optional `Dept` (the communication party).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppRecParty {
    /// `Inst/Name`.
    pub name: String,
    /// `Inst/Id` with `TypeId V="HER"`.
    pub her_id: Option<String>,
    /// `Inst/Dept` name and HER-id.
    pub dept: Option<(String, String)>,
}

impl AppRecParty {
    /// An institution with a HER-id.
    pub fn new(name: &str, her_id: &str) -> AppRecParty {
        AppRecParty {
            name: name.into(),
            her_id: Some(her_id.into()),
            dept: None,
        }
    }

    /// The communication party's HER-id: the department's, else the institution's.
    pub fn communication_her_id(&self) -> Option<&str> {
        self.dept
            .as_ref()
            .map(|(_, h)| h.as_str())
            .or(self.her_id.as_deref())
    }

    fn write(&self, out: &mut String, role: &str) {
        out.push_str("  <");
        out.push_str(role);
        out.push_str(">\n    <HCP>\n      <Inst>\n");
        kith::text_element(out, "        ", "Name", &self.name);
        if let Some(h) = &self.her_id {
            kith::text_element(out, "        ", "Id", h);
            Coded::cs("HER", "HER-id").write(out, "        ", "TypeId");
        }
        if let Some((name, her)) = &self.dept {
            out.push_str("        <Dept>\n");
            kith::text_element(out, "          ", "Name", name);
            kith::text_element(out, "          ", "Id", her);
            Coded::cs("HER", "HER-id").write(out, "          ", "TypeId");
            out.push_str("        </Dept>\n");
        }
        out.push_str("      </Inst>\n    </HCP>\n  </");
        out.push_str(role);
        out.push_str(">\n");
    }

    fn read(n: &Node, ns: &str) -> AppRecParty {
        let Some(inst) = n.child(ns, "HCP").and_then(|h| h.child(ns, "Inst")) else {
            return AppRecParty::default();
        };
        let her = |node: &Node| {
            let is_her = node
                .child(ns, "TypeId")
                .and_then(|t| t.attr("V"))
                .is_some_and(|v| v == "HER");
            node.child_text(ns, "Id")
                .filter(|id| is_her && !id.is_empty())
                .map(str::to_string)
        };
        AppRecParty {
            name: inst.child_text(ns, "Name").unwrap_or_default().to_string(),
            her_id: her(inst),
            dept: inst.child(ns, "Dept").and_then(|d| {
                her(d).map(|h| (d.child_text(ns, "Name").unwrap_or_default().to_string(), h))
            }),
        }
    }
}

/// `OriginalMsgId`: which message this receipt answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OriginalMsgId {
    /// `MsgType` (CS): the original's message type.
    pub msg_type: Coded,
    /// `IssueDate` (xs:dateTime).
    pub issue_date: String,
    /// `Id`: the original's MsgId.
    pub id: String,
}

/// An application receipt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppRec {
    /// Version read (writing always produces v1.1).
    pub version: AppRecVersion,
    /// `MIGversion`.
    pub mig_version: String,
    /// `SoftwareName`.
    pub software_name: Option<String>,
    /// `SoftwareVersion`.
    pub software_version: Option<String>,
    /// `GenDate` (xs:dateTime).
    pub gen_date: String,
    /// `Id`: this receipt's id (GUID).
    pub id: String,
    /// `Sender`.
    pub sender: AppRecParty,
    /// `Receiver`.
    pub receiver: AppRecParty,
    /// `Status`.
    pub status: AppRecStatus,
    /// `Error`s.
    pub errors: Vec<AppRecError>,
    /// `OriginalMsgId`.
    pub original: OriginalMsgId,
}

impl AppRec {
    /// A v1.1 receipt with the given status, no errors.
    pub fn new(
        id: &str,
        gen_date: &str,
        sender: AppRecParty,
        receiver: AppRecParty,
        status: AppRecStatus,
        original: OriginalMsgId,
    ) -> AppRec {
        AppRec {
            version: AppRecVersion::V1_1,
            mig_version: MIG_VERSION_V1_1.into(),
            software_name: Some("iplos-harness".into()),
            software_version: Some(env!("CARGO_PKG_VERSION").into()),
            gen_date: gen_date.into(),
            id: id.into(),
            sender,
            receiver,
            status,
            errors: Vec::new(),
            original,
        }
    }
}

/// Writes an AppRec v1.1 (UTF-8).
pub fn write_apprec(a: &AppRec) -> Vec<u8> {
    let mut out = String::with_capacity(2048);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AppRec");
    kith::attr(&mut out, "xmlns", NS_APPREC_V1_1);
    out.push_str(">\n");
    Coded::cs("APPREC", "Applikasjonskvittering").write(&mut out, "  ", "MsgType");
    kith::text_element(&mut out, "  ", "MIGversion", MIG_VERSION_V1_1);
    if let Some(s) = &a.software_name {
        kith::text_element(&mut out, "  ", "SoftwareName", s);
    }
    if let Some(s) = &a.software_version {
        kith::text_element(&mut out, "  ", "SoftwareVersion", s);
    }
    kith::text_element(&mut out, "  ", "GenDate", &a.gen_date);
    kith::text_element(&mut out, "  ", "Id", &a.id);
    a.sender.write(&mut out, "Sender");
    a.receiver.write(&mut out, "Receiver");
    Coded::cs(a.status.code(), a.status.display_name()).write(&mut out, "  ", "Status");
    for e in &a.errors {
        Coded {
            v: e.code.clone(),
            s: e.system.clone(),
            dn: e.display_name.clone(),
            ot: e.details.clone(),
        }
        .write(&mut out, "  ", "Error");
    }
    out.push_str("  <OriginalMsgId>\n");
    a.original.msg_type.write(&mut out, "    ", "MsgType");
    kith::text_element(&mut out, "    ", "IssueDate", &a.original.issue_date);
    kith::text_element(&mut out, "    ", "Id", &a.original.id);
    out.push_str("  </OriginalMsgId>\n</AppRec>\n");
    out.into_bytes()
}

/// Why an AppRec could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppRecReadError {
    /// Not readable as XML.
    #[error("AppRec: {0}")]
    Xml(#[from] XmlError),
    /// The root is not AppRec in the v1.0 or v1.1 namespace.
    #[error("not an AppRec v1.0/v1.1: the root element is {{{ns}}}{name}")]
    NotAppRec {
        /// Namespace of the root.
        ns: String,
        /// Local name.
        name: String,
    },
    /// A required part is missing or empty.
    #[error("AppRec: {0} is missing")]
    Missing(&'static str),
}

/// Reads an AppRec v1.0 or v1.1.
pub fn read_apprec(bytes: &[u8]) -> Result<AppRec, AppRecReadError> {
    let text = kith::decode(bytes)?;
    let root = kith::parse(&text, Limits::default(), &|_, _| false)?;
    let version = match (root.ns.as_str(), root.name.as_str()) {
        (NS_APPREC_V1_0, "AppRec") => AppRecVersion::V1_0,
        (NS_APPREC_V1_1, "AppRec") => AppRecVersion::V1_1,
        _ => {
            return Err(AppRecReadError::NotAppRec {
                ns: root.ns,
                name: root.name,
            });
        }
    };
    let ns = root.ns.as_str();
    let text_of = |name: &'static str| {
        root.child_text(ns, name)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or(AppRecReadError::Missing(name))
    };
    let status = root
        .child(ns, "Status")
        .and_then(|s| s.attr("V"))
        .filter(|v| !v.is_empty())
        .ok_or(AppRecReadError::Missing("Status/@V"))?;
    let orig = root
        .child(ns, "OriginalMsgId")
        .ok_or(AppRecReadError::Missing("OriginalMsgId"))?;
    let sender = root
        .child(ns, "Sender")
        .ok_or(AppRecReadError::Missing("Sender"))?;
    let receiver = root
        .child(ns, "Receiver")
        .ok_or(AppRecReadError::Missing("Receiver"))?;
    Ok(AppRec {
        version,
        mig_version: root.child_text(ns, "MIGversion").unwrap_or_default().into(),
        software_name: root.child_text(ns, "SoftwareName").map(str::to_string),
        software_version: root.child_text(ns, "SoftwareVersion").map(str::to_string),
        gen_date: text_of("GenDate")?,
        id: text_of("Id")?,
        sender: AppRecParty::read(sender, ns),
        receiver: AppRecParty::read(receiver, ns),
        status: AppRecStatus::from_code(status),
        errors: root
            .children_named(ns, "Error")
            .map(|e| {
                let c = Coded::from_node(e);
                AppRecError {
                    code: c.v,
                    system: c.s,
                    display_name: c.dn,
                    details: c.ot,
                }
            })
            .collect(),
        original: OriginalMsgId {
            msg_type: orig
                .child(ns, "MsgType")
                .map(Coded::from_node)
                .unwrap_or_default(),
            issue_date: orig
                .child_text(ns, "IssueDate")
                .unwrap_or_default()
                .to_string(),
            id: orig
                .child_text(ns, "Id")
                .filter(|s| !s.is_empty())
                .ok_or(AppRecReadError::Missing("OriginalMsgId/Id"))?
                .to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AppRec {
        let mut a = AppRec::new(
            "8f1c0e5e-0000-4000-8000-000000000001",
            "2019-01-04T08:00:00+01:00",
            AppRecParty::new("Helsedirektoratet KPR", "134197"),
            AppRecParty {
                name: "Oslo kommune".into(),
                her_id: Some("12345".into()),
                dept: Some(("Helseetaten <IPLOS> & co".into(), "67890".into())),
            },
            AppRecStatus::OkWithErrors,
            OriginalMsgId {
                msg_type: Coded::cs("IPLOS", "IPLOS-melding til KPR"),
                issue_date: "2019-01-03T10:15:00+01:00".into(),
                id: "3f2504e0-4f89-11d3-9a0c-0305e82c3301".into(),
            },
        );
        a.errors
            .push(AppRecErrorCode::T02.error("IPL12: \"fid\" mangler på linje 7"));
        a.errors.push(AppRecErrorCode::E31.error(""));
        a
    }

    #[test]
    fn v1_1_round_trip() {
        let a = sample();
        let xml = write_apprec(&a);
        let back = read_apprec(&xml).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.receiver.communication_her_id(), Some("67890"));
        let s = String::from_utf8(xml).unwrap();
        assert!(s.contains("<Status V=\"3\" DN=\"OK, feil i delmelding\"/>"));
        assert!(s.contains("S=\"2.16.578.1.12.4.1.1.8221\""));
        assert!(s.contains("OT=\"IPL12: &quot;fid&quot; mangler på linje 7\""));
    }

    #[test]
    fn reads_v1_0_example() {
        // Shape of KITH's published v1.0 example (status 2, one error, ISO-8859-1).
        let doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<AppRec xmlns=\"http://www.kith.no/xmlstds/apprec/2004-11-21\">\n\t<MsgType V=\"APPREC\"/>\n\t<MIGversion>1.0 2004-11-21</MIGversion>\n\t<GenDate>2004-12-17T09:30:47</GenDate>\n\t<Id>4a0a523a-be46-4895-b822-26a0becc405d</Id>\n\t<Sender>\n\t\t<Role V=\"SENDER\"/>\n\t\t<HCP><Inst><Name>K\xF8fri sykehus HF</Name><Id>974744570</Id><TypeId V=\"ENH\"/></Inst></HCP>\n\t</Sender>\n\t<Receiver><HCP><Inst><Name>Legesenter</Name><Id>4711</Id><TypeId V=\"HER\"/></Inst></HCP></Receiver>\n\t<Status V=\"2\" DN=\"Avvist\"/>\n\t<Error S=\"2.16.578.1.12.4.1.1.8221\" V=\"E30\" DN=\"Pasientens f\xF8dselsnummer mangler\"/>\n\t<OriginalMsgId>\n\t\t<MsgType V=\"SVAR_KKL\" DN=\"Svarrapport-KKL\"/>\n\t\t<IssueDate>2004-12-17T09:32:15</IssueDate>\n\t\t<Id>a6967e6a-8c0a-4be4-a647-c921d3086423</Id>\n\t</OriginalMsgId>\n</AppRec>";
        let a = read_apprec(doc).unwrap();
        assert_eq!(a.version, AppRecVersion::V1_0);
        assert_eq!(a.mig_version, "1.0 2004-11-21");
        assert_eq!(a.status, AppRecStatus::Rejected);
        assert_eq!(a.sender.name, "Køfri sykehus HF");
        assert_eq!(a.sender.her_id, None, "an ENH id is not a HER-id");
        assert_eq!(a.receiver.her_id.as_deref(), Some("4711"));
        assert_eq!(a.errors.len(), 1);
        assert_eq!(a.errors[0].code, "E30");
        assert_eq!(
            AppRecErrorCode::from_code(&a.errors[0].code).map(|c| c.display_name()),
            a.errors[0].display_name.as_deref()
        );
        assert_eq!(a.original.msg_type.v, "SVAR_KKL");
        assert_eq!(a.original.id, "a6967e6a-8c0a-4be4-a647-c921d3086423");
    }

    #[test]
    fn errors_name_what_is_missing() {
        let xml = String::from_utf8(write_apprec(&sample())).unwrap();
        let without = |from: &str, to: &str| {
            let a = xml.find(from).unwrap();
            let b = xml[a..].find(to).unwrap() + a + to.len();
            read_apprec(format!("{}{}", &xml[..a], &xml[b..]).as_bytes()).unwrap_err()
        };
        assert_eq!(
            without("<OriginalMsgId>", "</OriginalMsgId>"),
            AppRecReadError::Missing("OriginalMsgId")
        );
        assert_eq!(
            without("<Status", "/>"),
            AppRecReadError::Missing("Status/@V")
        );
        assert_eq!(without("<Id>", "</Id>"), AppRecReadError::Missing("Id"));
        assert!(matches!(
            read_apprec(xml.replace(NS_APPREC_V1_1, "urn:other").as_bytes()),
            Err(AppRecReadError::NotAppRec { .. })
        ));
        assert!(matches!(
            read_apprec(b"<AppRec"),
            Err(AppRecReadError::Xml(_))
        ));
    }

    #[test]
    fn codes_round_trip() {
        for c in AppRecErrorCode::ALL {
            assert_eq!(AppRecErrorCode::from_code(c.code()), Some(c));
        }
        for s in ["1", "2", "3", "9"] {
            assert_eq!(AppRecStatus::from_code(s).code(), s);
        }
    }
}
