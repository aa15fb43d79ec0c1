//! Schema-level (XSD) and well-formedness (WF) defects, and the content defect that needs
//! the XML itself (IPL28). They claim a notification in the model (adding one when
//! needed) and queue [`Edit`]s that change the serialized bytes.

use iplos_model::ids::{PersonId, Sex};
use iplos_model::message::{EMPTY_GUID, EventKind, Status};
use rand::Rng;

use super::DefectError;
use super::doc::{Edit, Loc};
use super::session::{Hit, Session};

type R = Result<Hit, DefectError>;

/// XSD01: the root in another namespace.
pub(crate) fn wrong_root_namespace(s: &mut Session<'_>) -> R {
    let ns = "http://www.npr.no/xmlstds/55_0_0_ipl";
    s.edits.push(Edit::SetAttr {
        loc: Loc::Root,
        name: "xmlns",
        raw: ns.into(),
    });
    Ok(Hit::message(format!("root namespace -> {ns}")))
}

/// XSD02: a second event after a notification's event (out of the schema's order, or a
/// second TjenesteStart).
pub(crate) fn event_order(s: &mut Session<'_>) -> R {
    let i = match s.pick(|_, _, e| e.kind != EventKind::TjenesteStart) {
        Some(i) => i,
        None => s.pick_or_fresh(|_, _, _| true),
    };
    s.edits.push(Edit::CopyAfter {
        src: Loc::Event(i),
        after: Loc::Event(i),
        rename: Some("TjenesteStart"),
    });
    let kind = s.m.notifikasjoner[i].events[0].kind.element();
    Ok(Hit::at(
        i,
        format!("a TjenesteStart copied in after the notification's {kind}"),
    ))
}

/// XSD02: an element the schema does not know, inside a notification.
pub(crate) fn unknown_element(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    s.edits.push(Edit::InsertAfter {
        loc: Loc::Event(i),
        bytes: b"\n    <Merknad tekst=\"registrert av vikar\"/>".to_vec(),
    });
    Ok(Hit::at(i, "element Merknad added after the event"))
}

/// XSD02: a Kontaktperson after the Kommune.
pub(crate) fn kontaktperson_after_kommune(s: &mut Session<'_>) -> R {
    if s.m.kontaktpersoner.is_empty() {
        return Err(DefectError::NotApplicable {
            defect: "kontaktperson-after-kommune",
            reason: "the message has no Kontaktperson".into(),
        });
    }
    let k = s.rng.gen_range(0..s.m.kontaktpersoner.len());
    s.edits.push(Edit::CopyToEnd {
        src: Loc::Kontaktperson(k),
    });
    Ok(Hit::message(format!(
        "a copy of Kontaktperson [{k}] placed after Kommune"
    )))
}

/// XSD03: an event without its Bruker.
pub(crate) fn missing_bruker(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    s.edits.push(Edit::Remove {
        loc: Loc::Bruker(i),
    });
    let kind = s.m.notifikasjoner[i].events[0].kind.element();
    Ok(Hit::at(i, format!("Bruker removed from {kind}")))
}

/// XSD03: no Kommune element.
pub(crate) fn missing_kommune(s: &mut Session<'_>) -> R {
    s.edits.push(Edit::RemoveAll { name: "Kommune" });
    Ok(Hit::message("every Kommune element removed"))
}

/// XSD04: text inside a Notifikasjon.
pub(crate) fn text_in_notifikasjon(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    s.edits.push(Edit::InsertAfterStartTag {
        loc: Loc::Notification(i),
        bytes: b"null".to_vec(),
    });
    Ok(Hit::at(i, "text \"null\" inside Notifikasjon"))
}

/// XSD04: whitespace inside the empty Bruker element.
pub(crate) fn whitespace_in_bruker(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    s.edits.push(Edit::Expand {
        loc: Loc::Bruker(i),
        bytes: b"\n      ".to_vec(),
    });
    Ok(Hit::at(
        i,
        "Bruker written as <Bruker ...> newline </Bruker>",
    ))
}

/// XSD05 (and IPL22): Kommune without kommuneNr.
pub(crate) fn missing_kommune_nr(s: &mut Session<'_>) -> R {
    if s.m.kommuner.is_empty() {
        let k = s.ctx.kommune_nr.clone();
        s.m.kommuner.push(k);
    }
    s.edits.push(Edit::RemoveAttr {
        loc: Loc::Kommune(0),
        name: "kommuneNr",
    });
    Ok(Hit::message("kommuneNr removed from Kommune [0]"))
}

/// XSD05: a Notifikasjon without notifikasjonTid.
pub(crate) fn missing_notifikasjon_tid(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    s.edits.push(Edit::RemoveAttr {
        loc: Loc::Notification(i),
        name: "notifikasjonTid",
    });
    Ok(Hit::at(i, "notifikasjonTid removed"))
}

/// XSD05: a TjenesteutforerEndret without its (required) tjenesteOrgNr.
pub(crate) fn missing_utforer_orgnr(s: &mut Session<'_>) -> R {
    let i = match s
        .pick(|_, _, e| e.kind == EventKind::TjenesteutforerEndret && e.tjeneste_org_nr.is_some())
    {
        Some(i) => i,
        None => {
            let o = s.append_fresh_start();
            let base = s.m.notifikasjoner[o].events[0].clone();
            let d = base.date().unwrap_or_else(|| s.date())
                + chrono::Duration::days(s.rng.gen_range(1..30));
            let mut e = s.follow_up(&base, EventKind::TjenesteutforerEndret, d);
            e.tjeneste_org_nr = Some(s.orgnr());
            s.append(Status::N, None, vec![e])
        }
    };
    s.edits.push(Edit::RemoveAttr {
        loc: Loc::Event(i),
        name: "tjenesteOrgNr",
    });
    Ok(Hit::at(
        i,
        "tjenesteOrgNr removed from TjenesteutforerEndret",
    ))
}

/// XSD05: Melding without leverandor.
pub(crate) fn missing_leverandor(s: &mut Session<'_>) -> R {
    s.edits.push(Edit::RemoveAttr {
        loc: Loc::Root,
        name: "leverandor",
    });
    Ok(Hit::message("leverandor removed from Melding"))
}

/// XSD06: Bruker with the prohibited kjonn (from the old IPLOS format).
pub(crate) fn prohibited_kjonn(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    let fid = s.m.notifikasjoner[i].events[0].bruker.fid.clone();
    let code = match PersonId::parse(&fid).ok().and_then(|p| p.sex()) {
        Some(Sex::Female) => "2",
        _ => "1",
    };
    s.edits.push(Edit::SetAttr {
        loc: Loc::Bruker(i),
        name: "kjonn",
        raw: code.into(),
    });
    Ok(Hit::at(i, format!("Bruker given kjonn=\"{code}\"")))
}

/// XSD06: Melding with the prohibited period attributes of the annual format.
pub(crate) fn old_period_attributes(s: &mut Session<'_>) -> R {
    let y = s.year();
    s.edits.push(Edit::SetAttr {
        loc: Loc::Root,
        name: "fraDatoPeriode",
        raw: format!("{y}-01-01").into_bytes(),
    });
    s.edits.push(Edit::SetAttr {
        loc: Loc::Root,
        name: "tilDatoPeriode",
        raw: format!("{y}-12-31").into_bytes(),
    });
    Ok(Hit::message(format!(
        "Melding given fraDatoPeriode {y}-01-01 and tilDatoPeriode {y}-12-31"
    )))
}

/// XSD07: versjon is the schema file's version, not the message version.
pub(crate) fn wrong_versjon(s: &mut Session<'_>) -> R {
    s.edits.push(Edit::SetAttr {
        loc: Loc::Root,
        name: "versjon",
        raw: b"56.0.0.5".to_vec(),
    });
    Ok(Hit::message("versjon 56.0.0 -> 56.0.0.5"))
}

/// XSD08: hendelseDato with a time of day.
pub(crate) fn date_with_time(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, e| e.date().is_some() && e.hendelse_dato.len() == 10);
    let d = s.m.notifikasjoner[i].events[0].hendelse_dato.clone();
    let new = format!("{d}T00:00:00");
    s.edits.push(Edit::SetAttr {
        loc: Loc::Event(i),
        name: "hendelseDato",
        raw: new.clone().into_bytes(),
    });
    Ok(Hit::at(i, format!("hendelseDato {d} -> {new}")))
}

/// XSD08: pasientGUID without hyphens.
pub(crate) fn malformed_guid(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    let g = s.guid().replace('-', "").to_ascii_uppercase();
    s.edits.push(Edit::SetAttr {
        loc: Loc::Bruker(i),
        name: "pasientGUID",
        raw: g.clone().into_bytes(),
    });
    Ok(Hit::at(i, format!("pasientGUID -> {g}")))
}

/// XSD08: a bydel of seven characters.
pub(crate) fn bydel_too_long(s: &mut Session<'_>) -> R {
    let i = s.pick_or_fresh(|_, _, _| true);
    let k = s.ctx.kommune_nr.clone();
    let bydel = format!("{k}-{:02}", s.rng.gen_range(1..20));
    s.edits.push(Edit::SetAttr {
        loc: Loc::Bruker(i),
        name: "bydel",
        raw: bydel.clone().into_bytes(),
    });
    Ok(Hit::at(
        i,
        format!(
            "bydel -> \"{bydel}\" ({} characters)",
            bydel.chars().count()
        ),
    ))
}

/// IPL28: a lone Notifikasjon as the document (the XSD accepts any global element as root).
pub(crate) fn root_not_melding(s: &mut Session<'_>) -> R {
    let c = s.candidates(|_, n, e| {
        n.status == Status::N && n.referanse.is_none() && e.kind != EventKind::MidlertidigStoppTil
    });
    match s.choose(&c) {
        Some(i) => {
            s.claim(i);
            s.edits.push(Edit::Extract {
                loc: Loc::Notification(i),
                set: vec![("notifikasjonForrigeGUID", EMPTY_GUID.to_string())],
            });
            Ok(Hit::at(
                i,
                "the document is this Notifikasjon alone, without Melding",
            ))
        }
        None => {
            if s.m.kommuner.is_empty() {
                let k = s.ctx.kommune_nr.clone();
                s.m.kommuner.push(k);
            }
            s.edits.push(Edit::Extract {
                loc: Loc::Kommune(0),
                set: Vec::new(),
            });
            Ok(Hit::message(
                "the document is the Kommune element alone, without Melding",
            ))
        }
    }
}

/// WF03: the file cut off inside the root element.
pub(crate) fn truncated(s: &mut Session<'_>) -> R {
    let draw = s.rng.r#gen::<u64>();
    s.edits.push(Edit::Truncate { draw });
    Ok(Hit::message("the file is cut off before </Melding>"))
}

/// The contact whose name the encoding defects spoil.
fn contact(s: &mut Session<'_>, defect: &'static str) -> Result<usize, DefectError> {
    if s.m.kontaktpersoner.is_empty() {
        return Err(DefectError::NotApplicable {
            defect,
            reason: "the message has no Kontaktperson".into(),
        });
    }
    Ok(s.rng.gen_range(0..s.m.kontaktpersoner.len()))
}

/// WF02: ISO-8859-1 bytes in a file declared UTF-8.
pub(crate) fn invalid_utf8(s: &mut Session<'_>) -> R {
    let k = contact(s, "invalid-utf8")?;
    let name = ["Bjørg Sæther", "Åse Kjærnes", "Øystein Lærum"][s.rng.gen_range(0..3)];
    s.m.kontaktpersoner[k].navn = name.into();
    s.edits.push(Edit::Latin1Attr {
        loc: Loc::Kontaktperson(k),
        name: "kontPerson",
    });
    Ok(Hit::message(format!(
        "kontPerson of Kontaktperson [{k}] \"{name}\" written in ISO-8859-1 in a UTF-8 file"
    )))
}

/// WF04: an HTML entity (undefined in XML).
pub(crate) fn undefined_entity(s: &mut Session<'_>) -> R {
    let k = contact(s, "undefined-entity")?;
    let raw = "Bj&oslash;rg S&aelig;ther";
    s.edits.push(Edit::SetAttr {
        loc: Loc::Kontaktperson(k),
        name: "kontPerson",
        raw: raw.into(),
    });
    Ok(Hit::message(format!(
        "kontPerson of Kontaktperson [{k}] -> \"{raw}\""
    )))
}

/// WF01: an unescaped ampersand.
pub(crate) fn unescaped_ampersand(s: &mut Session<'_>) -> R {
    let raw = "Omsorg & Data AS";
    s.edits.push(Edit::SetAttr {
        loc: Loc::Root,
        name: "leverandor",
        raw: raw.into(),
    });
    Ok(Hit::message(format!(
        "leverandor -> \"{raw}\" (& not escaped)"
    )))
}
