//! What a vendor must not have to guess (issue #13): the facts of a session that the
//! session README (`DIR/vendor/README.md`, written by [`readme`]) states for people and
//! `session.json` (the types of [`crate::certify::facts`], fields appended to
//! [`Session`](crate::certify::session::Session)) states for machines:
//!
//! - the message function (AMQP `subject`, MsgHead `MsgInfo/Type`) each register expects;
//! - each register's certificates (KPR 134197 and KPR Validering 131725 have a pair each),
//!   its queue, and its entry in the session's address register
//!   (`GET /adresseregister/<her-id>` on the live page);
//! - the `reply-to` form; `population.jsonl`'s JSON Schema; the kommune's contact persons
//!   (rule IPL23: types 16 and 17);
//! - the cut-off date of the initial load; the corrections and annulments expected (counts,
//!   persons and services, not the answer key's XML); what the test submission holds;
//! - what the wrong-password phase (`auth-refused`) asks of the EPJ.
//!
//! The README is in English (the session README is for a vendor's developer; the live page
//! and the plan are English too), with the protocol's Norwegian terms as they stand in the
//! specification.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::certify::facts::{
    ExpectedChange, ExpectedChanges, MessageFunction, RegisterEntry, TestSubmission, WrongPassword,
};
use crate::certify::phases::{ANTI_HAMMERING_GAP, PhaseKind};
use crate::certify::session::Session;
use anyhow::{Context, Result, anyhow};
use iplos_generators::{ErrorKind, KommuneData, population_schema};
use iplos_mocks::nhn;
use iplos_mocks::pki::{DEFAULT_REGISTER_NAME, Party, Pki};
use iplos_mocks::receiver::{KPR_PRODUCTION_HER_ID, KPR_VALIDATION_HER_ID, ReceiverConfig};
use iplos_model::calendar::Season;
use iplos_model::ids::{HerId, OrgNr};
use iplos_model::message::{DEFAULT_MSG_TYPE_DN, Status};

/// The vendor folder inside a session directory.
pub const VENDOR_DIR: &str = "vendor";
/// `population.jsonl`'s JSON Schema, in the vendor folder.
pub const POPULATION_SCHEMA: &str = "population.schema.json";
/// KPR Validering's name in its certificates and the address register.
pub const VALIDATION_REGISTER_NAME: &str = "Helsedirektoratet KPR Validering";
/// The contact types every IPLOS message needs (rule IPL23, kodeverk 8471).
pub const REQUIRED_CONTACT_TYPES: [&str; 2] = ["16", "17"];

/// Where a register's certificates are in the vendor folder.
pub fn register_cert_dir(her_id: u32) -> String {
    format!("pki/register/{her_id}")
}

/// The path of a register's entry on the live page.
pub fn address_register_path(her_id: u32) -> String {
    format!("/adresseregister/{her_id}")
}

/// The register a phase sends to (none on the wrong-host port or on Sendemodul).
pub fn phase_register(kind: PhaseKind) -> Option<u32> {
    match kind {
        PhaseKind::TlsWrongHost | PhaseKind::SendemodulUpload | PhaseKind::SendemodulRefused => {
            None
        }
        k if k.production() => Some(KPR_PRODUCTION_HER_ID),
        _ => Some(KPR_VALIDATION_HER_ID),
    }
}

fn phases_to(her_id: u32) -> Vec<String> {
    PhaseKind::ALL
        .into_iter()
        .filter(|k| phase_register(*k) == Some(her_id))
        .map(|k| k.as_str().to_string())
        .collect()
}

/// Fills the session's guide fields from the generated data (what `certify init` made).
pub fn fill(session: &mut Session, data: &KommuneData, register_orgnr: &str) -> Result<()> {
    let receiver = ReceiverConfig::default();
    session.message_function = MessageFunction {
        subject: receiver.subject.clone(),
        msghead_type: receiver.msg_type.clone(),
        msghead_type_dn: DEFAULT_MSG_TYPE_DN.to_string(),
        content_type: nhn::CONTENT_TYPE_SIGNED_ENVELOPED.to_string(),
        apprec_subject: nhn::SUBJECT_APPREC.to_string(),
    };
    session.registers = [
        (
            KPR_VALIDATION_HER_ID,
            VALIDATION_REGISTER_NAME,
            "test-submission",
        ),
        (KPR_PRODUCTION_HER_ID, DEFAULT_REGISTER_NAME, "ordinary"),
    ]
    .into_iter()
    .map(|(her_id, name, role)| RegisterEntry {
        her_id,
        name: name.to_string(),
        orgnr: register_orgnr.to_string(),
        role: role.to_string(),
        phases: phases_to(her_id),
        queue: format!("{her_id}_async"),
        subject: receiver.subject.clone(),
        msghead_type: receiver.msg_type.clone(),
        signing_certificate: format!("{}/signing.pem", register_cert_dir(her_id)),
        encryption_certificate: format!("{}/encryption.pem", register_cert_dir(her_id)),
        address_register: address_register_path(her_id),
    })
    .collect();
    session.reply_to = format!("{}_async", session.her_id);
    session.population_schema = POPULATION_SCHEMA.to_string();
    session.contact_persons = data.profile.contacts.clone();
    session.required_contact_types = REQUIRED_CONTACT_TYPES.map(String::from).to_vec();
    let season = Season::for_data_year(i32::from(data.year))
        .map_err(|e| anyhow!("data year {}: {e}", data.year))?;
    let (cutoff, _) = season
        .data_period()
        .ok_or_else(|| anyhow!("data year {} has no data period", data.year))?;
    session.cutoff = cutoff.format("%Y-%m-%d").to_string();
    let mut items = Vec::new();
    for p in &data.persons {
        for e in &p.registration_errors {
            let error = match &e.error {
                ErrorKind::WrongDate { .. } => "wrong_date",
                ErrorKind::WrongProvider { .. } => "wrong_provider",
                ErrorKind::SpuriousProviderChange { .. } => "spurious_provider_change",
                ErrorKind::SpuriousStop { .. } => "spurious_stop",
            };
            items.push(ExpectedChange {
                bruker_nr: p.bruker_nr.clone(),
                tjeneste_id: e.tjeneste_id.clone(),
                event: e.event.element().to_string(),
                correction: e.correction.clone(),
                error: error.to_string(),
                notifications: if matches!(e.error, ErrorKind::SpuriousStop { .. }) {
                    2
                } else {
                    1
                },
            });
        }
    }
    items.sort_by(|a, b| (&a.bruker_nr, &a.tjeneste_id).cmp(&(&b.bruker_nr, &b.tjeneste_id)));
    let count = |status: Status| {
        data.korreksjoner
            .notifikasjoner
            .iter()
            .filter(|n| n.status == status)
            .count()
    };
    session.expected_changes = ExpectedChanges {
        notifications: data.korreksjoner.notifikasjoner.len(),
        corrections: count(Status::M),
        annulments: count(Status::C),
        to_her_id: KPR_PRODUCTION_HER_ID,
        in_test_submission: false,
        items,
    };
    session.test_submission = TestSubmission {
        to_her_id: KPR_VALIDATION_HER_ID,
        content: "ordinary-export".into(),
        notifications: data.melding.notifikasjoner.len(),
        includes_corrections: false,
        phases: phases_to(KPR_VALIDATION_HER_ID),
    };
    session.wrong_password = WrongPassword {
        phase: PhaseKind::AuthRefused.as_str().into(),
        tester_enters_wrong_password: false,
        description: PhaseKind::AuthRefused.instruction().into(),
        min_attempt_gap_seconds: ANTI_HAMMERING_GAP.as_secs(),
    };
    Ok(())
}

/// Issues KPR Validering's own certificate pair (HER-id 131725, Helsedirektoratet's
/// organisation number) in the session's PKI, beside KPR's (134197, made by `Pki::init`).
pub fn issue_validation_register(pki: &mut Pki) -> Result<Party> {
    let orgnr = OrgNr::parse(&pki.config().register_orgnr)?;
    Ok(pki.issue(
        HerId::new(KPR_VALIDATION_HER_ID)?,
        &orgnr,
        VALIDATION_REGISTER_NAME,
    )?)
}

/// Writes the guide's files into the vendor folder: `README.md`, `session.json`,
/// `population.schema.json` (each register's certificates are written by
/// `Pki::export_party`, under the paths `session.registers` names).
pub fn write_vendor_files(vendor_dir: &Path, session: &Session) -> Result<()> {
    fs::create_dir_all(vendor_dir)
        .with_context(|| format!("cannot make {}", vendor_dir.display()))?;
    let mut schema = serde_json::to_vec_pretty(&population_schema())?;
    schema.push(b'\n');
    fs::write(vendor_dir.join(&session.population_schema), schema)?;
    fs::write(
        vendor_dir.join("session.json"),
        serde_json::to_vec_pretty(session)?,
    )?;
    fs::write(vendor_dir.join("README.md"), readme(session))?;
    Ok(())
}

/// The session README (`DIR/vendor/README.md`): the tester's instructions and every fact of
/// the session a vendor would otherwise have to guess, each under its own heading naming
/// the `session.json` field that holds it for programs.
pub fn readme(s: &Session) -> String {
    let mut o = String::new();
    let her = s.her_id;
    let mf = &s.message_function;
    let _ = write!(
        o,
        "# IPLOS certification session — {vendor}\n\n\
         Kommune {knr} {name}, data year {year}, the kommune's HER-id {her} (made by {tool}).\n\n\
         This folder is what the vendor gets. Paths below are relative to it; `DIR` is the\n\
         session directory that holds it (the operator's, for the `iplos-harness` commands).\n\
         Every fact below is also in `session.json`, in the field named in brackets.\n\n\
         ## Files\n\n\
         | file | what |\n|---|---|\n\
         | `population.jsonl` | the synthetic population to load into the EPJ: {persons} persons, one JSON object per line |\n\
         | `population.schema.json` | its JSON Schema (draft 2020-12) |\n\
         | `perf/population.jsonl` | the throughput test's population (PERF-01): the largest kommune's, Oslo 0301, at this session's scale; the `perf-load` phase asks for its initial load, sent to KPR Validering 131725 |\n\
         | `session.json` | this session's facts, for programs |\n\
         | `credentials.json` | the kommune's service bus username and password |\n\
         | `pki/{her}/` | the kommune's own virksomhetssertifikater (signing and encryption: `.pem`, `.key.pem`, `.p12`) |\n\
         | `pki/register/<her-id>/` | each register's certificates (`signing.pem`, `encryption.pem`; no keys) |\n\
         | `pki/ca.pem` | the test CA of the virksomhetssertifikater |\n\
         | `tls/ca.pem` | the CA of the broker's TLS certificate (trust it for amqps) |\n\n\
         ## Steps for the tester\n\n\
         1. Load `population.jsonl` into the EPJ, and the kommune's contact persons (below).\n\
         2. Export the year's IPLOS message (version 56.0.0) for kommune {knr}, as for the\n\
         \x20  ordinary submission, and the corrections message (below).\n\
         3. Offline check (files): `iplos-harness certify check DIR --files EXPORT.xml\n\
         \x20  [--corrections CORRECTIONS.xml]` checks well-formedness, the official XSD and every\n\
         \x20  content rule, and compares the export with the events the harness expects: missing,\n\
         \x20  extra and wrong events, each with the message, field, rule and line\n\
         \x20  (`DIR/check/result.json`). Without the transport session its verdict is at best\n\
         \x20  INCOMPLETE.\n\
         4. Transport (AMQP 1.0 over TLS, signed then encrypted, AppRec): `iplos-harness certify\n\
         \x20  run DIR` prints the broker's amqps URL, the live page and `DIR/run/endpoints.json`\n\
         \x20  (the same for programs). The live page says, phase by phase, what to do and what the\n\
         \x20  harness waits for (`status.json` for programs). The report is written to `DIR/run/`.\n\n",
        vendor = s.vendor,
        knr = s.kommune,
        name = s.kommune_name,
        year = s.year,
        tool = s.tool,
        persons = s.persons,
    );

    // The message function.
    let _ = write!(
        o,
        "## The message function [`message_function`]\n\n\
         Every IPLOS message, to either register, has the AMQP `subject` **`{subject}`** and, in\n\
         the MsgHead, `MsgInfo/Type` **V=\"{ty}\"** (DN=\"{dn}\"); its `content-type` is\n\
         `{ct}`. The register's receipts (AppRec) come with the `subject` `{apprec}`. Another\n\
         `subject` is answered with `transport:unsupported-message` on the kommune's `_error`\n\
         queue; another `MsgInfo/Type` with AppRec status 2 (T10).\n\n\
         | register | HER-id | `subject` | MsgHead `MsgInfo/Type` |\n|---|---|---|---|\n",
        subject = mf.subject,
        ty = mf.msghead_type,
        dn = mf.msghead_type_dn,
        ct = mf.content_type,
        apprec = mf.apprec_subject,
    );
    for r in &s.registers {
        let _ = writeln!(
            o,
            "| {} | {} | `{}` | `{}` |",
            r.name, r.her_id, r.subject, r.msghead_type
        );
    }

    // The registers and their certificates.
    let _ = write!(
        o,
        "\n## The registers and their certificates [`registers`]\n\n\
         Each register has its own certificate pair. Encrypt a message to the encryption\n\
         certificate of the register it is addressed to (`toHerId`), and verify an AppRec's\n\
         signature with the signing certificate of the register that sent it: KPR Validering\n\
         cannot decrypt a message encrypted for KPR, and signs its AppRecs with its own key.\n\n\
         | HER-id | name | used for | queue | signing certificate | encryption certificate |\n\
         |---|---|---|---|---|---|\n"
    );
    for r in &s.registers {
        let _ = writeln!(
            o,
            "| {} | {} | {} (phases {}) | `{}` | `{}` | `{}` |",
            r.her_id,
            r.name,
            r.role,
            r.phases.join(", "),
            r.queue,
            r.signing_certificate,
            r.encryption_certificate
        );
    }
    let _ = write!(
        o,
        "\nAs in NHN's Adresseregister, the certificates can also be looked up while `certify run`\n\
         runs: **`GET <web>adresseregister/<her-id>`** on the live page (`web` and\n\
         `address_register` in `DIR/run/endpoints.json`) answers JSON `{{her_id, name, orgnr,\n\
         role, queue, address, signing_certificate, encryption_certificate}}` (the certificates\n\
         as PEM) for the two registers and the kommune ({her}), and 404 with a JSON `error` for a\n\
         HER-id the session does not know.\n\n"
    );

    // Addressing and reply-to.
    let _ = write!(
        o,
        "## Addressing and `reply-to` [`reply_to`]\n\n\
         - The sending link's target is `/exchange/<namespace>/<queue>` (the register's queue\n\
         \x20 above; the namespace is in `DIR/run/endpoints.json`), and `to` is the queue's name.\n\
         - **`reply-to` is `{reply}`**: the bare name of the kommune's own `_async` queue (the\n\
         \x20 address form `/exchange/<namespace>/{reply}` is accepted too).\n\
         - `fromHerId` is {her}; `toHerId` is the register's HER-id, the same as in the MsgHead's\n\
         \x20 `Receiver`; `message-id` is a new GUID for every message (a resend of the same\n\
         \x20 message keeps its message-id); `applicationTimeStamp` is `yyyy-MM-ddTHH:mm:ssK`.\n\
         - AppRecs arrive on the kommune's queue `{reply}` (receiving link source\n\
         \x20 `/amq/queue/{reply}`); transport errors on `{her}_error`.\n\n",
        reply = s.reply_to,
    );

    // population.jsonl.
    let _ = write!(
        o,
        "## `population.jsonl` and its schema [`population_schema`]\n\n\
         One person per line. Every field is described in **`{schema}`** (JSON Schema draft\n\
         2020-12, made from the generator's own types). The fields a vendor asked about:\n\n\
         - `services[].reported`: whether the service type is reported in IPLOS 56.0.0 (18, 19,\n\
         \x20 20, 21 and 29). A service with `reported: false` is in the EPJ but none of its events\n\
         \x20 is in any message.\n\
         - `services[].active_at_cutoff`: the service was active at the cut-off ({cutoff}): its\n\
         \x20 start belongs to the initial load (below).\n\
         - `services[].provider`, `services[].provider_changes`: the provider's organisation\n\
         \x20 number at the start (at the cut-off for the initial load), and each change within the\n\
         \x20 year — one `TjenesteutforerEndret` event each (`date`, `registered`, new `orgnr`).\n\
         - `services[].stops`: temporary stops (`MidlertidigStoppFra` on `from`,\n\
         \x20 `MidlertidigStoppTil` on `to` when the service resumed within the year).\n\
         - `services[].end`, `end_reason`: `TjenesteSlutt`.\n\
         - `registration_errors`: registrations the EPJ first sent wrong and the kommune then\n\
         \x20 corrected: the ordinary message holds the wrong registration, the corrections message\n\
         \x20 repairs it (see the corrections below).\n\
         - `welfare_technology`: the safety alarm (kodeverk 9346), never in a message.\n\
         - `*_registered`: when the EPJ registered the event (`hendelseRegTid`).\n\n",
        schema = s.population_schema,
        cutoff = s.cutoff,
    );

    // Contact persons.
    let _ = write!(
        o,
        "## Contact persons [`contact_persons`, `required_contact_types`]\n\n\
         Every message (the test submission, the ordinary message and the corrections) carries\n\
         the kommune's contact persons as `Kontaktperson` elements. Rule IPL23 requires at least\n\
         one of **type 16** (IPLOS kontaktperson) and one of **type 17** (IPLOS\n\
         innsendingsansvarlig); the same person may have both. The kommune's (synthetic) contact\n\
         persons, as the harness expects them:\n\n\
         | `typeKontaktperson` | `kontPerson` | `meldTelefon` | `meldEpost1` | `meldEpost2` |\n\
         |---|---|---|---|---|\n"
    );
    for c in &s.contact_persons {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            c.type_kontaktperson,
            c.navn,
            c.telefon.as_deref().unwrap_or(""),
            c.epost1,
            c.epost2.as_deref().unwrap_or("")
        );
    }

    // The initial load.
    let _ = write!(
        o,
        "\n## The initial load and the cut-off date [`cutoff`, `initial_load`]\n\n\
         The **cut-off date is {cutoff}** (1 January of the data year). The initial load is, for\n\
         every reported service active at the cut-off (`active_at_cutoff: true`), its\n\
         `TjenesteStart` (with its real start date and the provider at the cut-off) and a\n\
         `MidlertidigStoppFra` for each stop that began before the cut-off: **{initial}\n\
         notifications**, first in the ordinary message, sent to KPR {prod} in the phase\n\
         `initial-load`. The year's events after the cut-off ({year_events} notifications) follow\n\
         in the phase `year-events`, continuing the same chain (`forrigeGUID`, `lopenr`).\n\n",
        cutoff = s.cutoff,
        initial = s.initial_load,
        prod = KPR_PRODUCTION_HER_ID,
        year_events = s.expected_notifications.saturating_sub(s.initial_load),
    );

    // Corrections and annulments.
    let ch = &s.expected_changes;
    let _ = write!(
        o,
        "## Corrections and annulments [`expected_changes`]\n\n\
         The session expects **{n} correction notifications: {m} corrections\n\
         (KorrigerErstatt, status M) and {c} annulments (KorrigerAnnuller, status C)**, one\n\
         message sent to KPR {to} in the phase `corrections`, after the year's events and\n\
         continuing their chain. A correction references the notification it replaces, an\n\
         annulment the one it annuls. They come from `registration_errors` in\n\
         `population.jsonl`:\n\n\
         | `brukerNr` | `tjenesteID` | event first sent | correction | what was wrong | notifications |\n\
         |---|---|---|---|---|---|\n",
        n = ch.notifications,
        m = ch.corrections,
        c = ch.annulments,
        to = ch.to_her_id,
    );
    for i in &ch.items {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            i.bruker_nr, i.tjeneste_id, i.event, i.correction, i.error, i.notifications
        );
    }
    if ch.items.is_empty() {
        o.push_str("| (none) | | | | | |\n");
    }
    let _ = write!(
        o,
        "\nA spurious stop is annulled with both its events (2 notifications). **The corrections\n\
         do not belong in the test submission.**\n\n"
    );

    // The test submission.
    let ts = &s.test_submission;
    let _ = write!(
        o,
        "## The test submission [`test_submission`]\n\n\
         The test submission goes to **KPR Validering {to}**: the EPJ's whole ordinary export of\n\
         the loaded population as one message — the initial load followed by the year's events,\n\
         {n} notifications — **without the corrections**. It is sent in every phase to KPR\n\
         Validering ({phases}); each of them starts a fresh validation register, so the same\n\
         message can be sent each time. Test data never goes to KPR {prod}.\n\n",
        to = ts.to_her_id,
        n = ts.notifications,
        phases = ts.phases.join(", "),
        prod = KPR_PRODUCTION_HER_ID,
    );

    // The wrong-password phase.
    let wp = &s.wrong_password;
    let _ = write!(
        o,
        "## The wrong-password phase [`wrong_password`]\n\n\
         In the phase `{phase}` **the tester does not enter a wrong password**: the harness\n\
         refuses the kommune's issued (right) password for the length of the phase, as if it had\n\
         been changed. Send the test submission as usual: the EPJ must show the authentication\n\
         error and must not try again sooner than {gap} seconds after the previous attempt (this\n\
         rule is never scaled). When the phase ends, the password works again.\n\n",
        phase = wp.phase,
        gap = wp.min_attempt_gap_seconds,
    );

    // What comes back, and when to send again.
    let _ = write!(
        o,
        "## Receipts, transport errors and resends\n\n\
         - **AppRec** (AMQP `subject` `{apprec}`) comes on `reply-to`. Status 1: accepted.\n\
         \x20 Status 2 (Avvist): nothing of the message counts; fix it and send the same\n\
         \x20 notifications again (same GUIDs) in a new message with a new message-id and MsgId.\n\
         \x20 Status 3 (Delvis avvist): the rest counts; each `Error` is a kodeverk 8221 code\n\
         \x20 (`V`, `S`, `DN`) with the rule and explanation in `OT`; a rejected notification is\n\
         \x20 named there as `notification notifikasjonGUID <guid> rejected: <reason>`. Send\n\
         \x20 those events again, corrected, as new notifications whose chain continues from the\n\
         \x20 last *accepted* notification.\n\
         - **Transport errors** come on the kommune's `_error` queue instead of an AppRec, with\n\
         \x20 the application properties `{orig}` (the message-id of the message it is about),\n\
         \x20 `{cond}` (e.g. `transport:invalid-field-value`), `{desc}` (for people),\n\
         \x20 `{data}` (the property or certificate concerned) and `{rts}`.\n\
         - **A missing AppRec**: send the same message again — the same message-id, MsgId and\n\
         \x20 notifications. In `lost-apprec` the harness watches for that resend for 300 s times\n\
         \x20 the run's `--time-scale` (at least 10 s). The register answers a resend of a message\n\
         \x20 it already has (same MsgId) with the original AppRec; a *different* message must\n\
         \x20 never reuse a MsgId.\n\
         - **A dropped connection**: reconnect (no sooner than the gap above) and send the\n\
         \x20 unsettled message again with the same message-id.\n\n",
        apprec = nhn::SUBJECT_APPREC,
        orig = nhn::ORIGINAL_MESSAGE_ID,
        cond = nhn::ERROR_CONDITION,
        desc = nhn::ERROR_DESCRIPTION,
        data = nhn::ERROR_CONDITION_DATA,
        rts = nhn::RECEIVER_TIMESTAMP,
    );

    // The phases.
    o.push_str(
        "## The phases of `certify run`\n\n\
         | phase | to HER-id | what to do |\n|---|---|---|\n",
    );
    for k in PhaseKind::ALL {
        let _ = writeln!(
            o,
            "| `{}` | {} | {} |",
            k.as_str(),
            phase_register(k).map(|h| h.to_string()).unwrap_or_default(),
            k.instruction()
        );
    }
    o.push_str(
        "\nThe answer key (what a perfect export would be) stays with the harness; it is not in\n\
         this folder.\n",
    );
    o
}
