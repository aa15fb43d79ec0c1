//! Streaming writer for IPLOS 56.0.0 messages.

use std::io::{self, Write};

use super::{Bruker, Event, Header, Kontaktperson, Melding, Notifikasjon};
use crate::schema::NS_IPL;

/// The encoding of the written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputEncoding {
    /// UTF-8.
    #[default]
    Utf8,
    /// ISO-8859-1, the schema's own encoding; characters outside it are written as
    /// character references.
    Latin1,
}

/// Writes a message as a stream: header, then notifications one by one, then the
/// contacts and kommuner. Memory does not grow with the number of notifications.
pub struct MessageWriter<W: Write> {
    out: W,
    encoding: OutputEncoding,
    buf: String,
    state: State,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum State {
    Notifications,
    Tail,
    Done,
}

impl<W: Write> MessageWriter<W> {
    /// Starts a message: writes the XML declaration and the `Melding` start tag.
    pub fn new(out: W, encoding: OutputEncoding, header: &Header) -> io::Result<Self> {
        let mut w = MessageWriter {
            out,
            encoding,
            buf: String::with_capacity(4096),
            state: State::Notifications,
        };
        let enc = match encoding {
            OutputEncoding::Utf8 => "UTF-8",
            OutputEncoding::Latin1 => "ISO-8859-1",
        };
        w.buf.push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"{enc}\"?>\n<Melding xmlns=\"{NS_IPL}\""
        ));
        attr(&mut w.buf, "versjon", &header.versjon);
        attr(&mut w.buf, "meldingstype", &header.meldingstype);
        attr(&mut w.buf, "leverandor", &header.leverandor);
        attr(&mut w.buf, "navnEPJ", &header.navn_epj);
        attr(&mut w.buf, "versjonEPJ", &header.versjon_epj);
        attr(&mut w.buf, "versjonUt", &header.versjon_ut);
        opt_attr(&mut w.buf, "lokalident", header.lokalident.as_deref());
        w.buf.push_str(">\n");
        w.flush_buf()?;
        Ok(w)
    }

    /// Writes one notification.
    pub fn notifikasjon(&mut self, n: &Notifikasjon) -> io::Result<()> {
        if self.state != State::Notifications {
            return Err(io::Error::other(
                "notifications must come before contacts and kommuner",
            ));
        }
        let b = &mut self.buf;
        b.push_str("  <Notifikasjon");
        attr(b, "statusNotifikasjon", n.status.code());
        attr(b, "notifikasjonTid", &n.tid);
        attr(b, "notifikasjonGUID", &n.guid);
        attr(b, "notifikasjonForrigeGUID", &n.forrige_guid);
        attr(b, "notifikasjonLopeNr", &n.lopenr);
        opt_attr(b, "notifikasjonRef", n.referanse.as_deref());
        b.push_str(">\n");
        for e in &n.events {
            event(b, e);
        }
        b.push_str("  </Notifikasjon>\n");
        self.maybe_flush()
    }

    /// Writes one contact person.
    pub fn kontaktperson(&mut self, k: &Kontaktperson) -> io::Result<()> {
        if self.state == State::Done {
            return Err(io::Error::other("message already finished"));
        }
        self.state = State::Tail;
        let b = &mut self.buf;
        b.push_str("  <Kontaktperson");
        attr(b, "kontPerson", &k.navn);
        opt_attr(b, "meldTelefon", k.telefon.as_deref());
        attr(b, "meldEpost1", &k.epost1);
        opt_attr(b, "meldEpost2", k.epost2.as_deref());
        attr(b, "typeKontaktperson", &k.type_kontaktperson);
        b.push_str("/>\n");
        self.maybe_flush()
    }

    /// Writes the kommuner and closes the message. Returns the inner writer.
    pub fn finish(mut self, kommuner: &[String]) -> io::Result<W> {
        for k in kommuner {
            self.buf.push_str("  <Kommune");
            attr(&mut self.buf, "kommuneNr", k);
            self.buf.push_str("/>\n");
        }
        self.buf.push_str("</Melding>\n");
        self.state = State::Done;
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= 64 * 1024 {
            self.flush_buf()
        } else {
            Ok(())
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        match self.encoding {
            OutputEncoding::Utf8 => self.out.write_all(self.buf.as_bytes())?,
            OutputEncoding::Latin1 => {
                let mut bytes = Vec::with_capacity(self.buf.len());
                for c in self.buf.chars() {
                    let cp = c as u32;
                    if cp <= 0xFF {
                        bytes.push(cp as u8);
                    } else {
                        bytes.extend_from_slice(format!("&#{cp};").as_bytes());
                    }
                }
                self.out.write_all(&bytes)?;
            }
        }
        self.buf.clear();
        Ok(())
    }
}

/// Writes a whole in-memory message.
pub fn write_message<W: Write>(m: &Melding, out: W, encoding: OutputEncoding) -> io::Result<W> {
    let mut w = MessageWriter::new(out, encoding, &m.header)?;
    for n in &m.notifikasjoner {
        w.notifikasjon(n)?;
    }
    for k in &m.kontaktpersoner {
        w.kontaktperson(k)?;
    }
    w.finish(&m.kommuner)
}

fn event(b: &mut String, e: &Event) {
    b.push_str("    <");
    b.push_str(e.kind.element());
    attr(b, "tjenesteType", &e.tjeneste_type);
    attr(b, "tjenesteID", &e.tjeneste_id);
    attr(b, "hendelseGUID", &e.hendelse_guid);
    attr(b, "hendelseDato", &e.hendelse_dato);
    attr(b, "hendelseRegTid", &e.hendelse_reg_tid);
    opt_attr(b, "tjenesteOrgNr", e.tjeneste_org_nr.as_deref());
    opt_attr(b, "midlertidigStoppID", e.midlertidig_stopp_id.as_deref());
    b.push_str(">\n      ");
    bruker(b, &e.bruker);
    b.push_str("\n    </");
    b.push_str(e.kind.element());
    b.push_str(">\n");
}

fn bruker(b: &mut String, p: &Bruker) {
    b.push_str("<Bruker");
    attr(b, "pasientGUID", &p.pasient_guid);
    attr(b, "brukerNr", &p.bruker_nr);
    attr(b, "fid", &p.fid);
    attr(b, "typeID", &p.type_id);
    opt_attr(b, "bydel", p.bydel.as_deref());
    b.push_str("/>");
}

fn opt_attr(b: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        attr(b, name, v);
    }
}

/// Appends ` name="value"` with the value escaped for an attribute.
fn attr(b: &mut String, name: &str, value: &str) {
    b.push(' ');
    b.push_str(name);
    b.push_str("=\"");
    for c in value.chars() {
        match c {
            '&' => b.push_str("&amp;"),
            '<' => b.push_str("&lt;"),
            '>' => b.push_str("&gt;"),
            '"' => b.push_str("&quot;"),
            '\t' => b.push_str("&#9;"),
            '\n' => b.push_str("&#10;"),
            '\r' => b.push_str("&#13;"),
            c => b.push(c),
        }
    }
    b.push('"');
}
