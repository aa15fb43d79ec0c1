//! Norwegian texts of the feedback files (rule titles, severities, consequences) and the
//! CSV/HTML escaping they share.
//!
//! The rule catalogue ([`iplos_model::rules::catalogue`]) has English titles only; the
//! feilliste gives each finding's English message and the Norwegian title below. These
//! are our own short renderings of the catalogue titles (**\[model\]**: SSB's real
//! feilliste texts are not public), in the spec's vocabulary where it has one
//! ("Slettemerk melding", "Sett verdi til NULL", …).

use iplos_model::rules::{Consequence, Severity};

/// Norwegian title of each rule id of the catalogue.
pub const RULE_TITLES_NB: &[(&str, &str)] = &[
    ("WF01", "Filen er ikke velformet XML"),
    (
        "WF02",
        "Bytene stemmer ikke med angitt tegnsett, eller tegnsettet støttes ikke",
    ),
    (
        "WF03",
        "Filen er tom eller slutter før rotelementet er lukket (avkortet fil)",
    ),
    (
        "WF04",
        "Entitetsdeklarasjoner og udefinerte entiteter avvises",
    ),
    (
        "WF05",
        "En grense for innlesing er overskredet (nøstingsdybde, lengde på ett ledd eller et navn)",
    ),
    (
        "XSD01",
        "Rotelementet er ikke Melding i navnerommet http://www.npr.no/xmlstds/56_0_0_ipl",
    ),
    (
        "XSD02",
        "Et element er ikke tillatt her (ukjent, i feil rekkefølge eller for mange)",
    ),
    ("XSD03", "Et påkrevd underelement mangler"),
    (
        "XSD04",
        "Tekst er ikke tillatt i et element som bare skal ha elementer eller være tomt",
    ),
    ("XSD05", "Et obligatorisk attributt mangler"),
    (
        "XSD06",
        "Et attributt er ikke definert for elementet, eller er forbudt",
    ),
    (
        "XSD07",
        "Et attributt med fast verdi har en annen verdi (versjon 56.0.0, meldingstype K)",
    ),
    (
        "XSD08",
        "En attributtverdi er ugyldig for sin type (dato, tidspunkt, GUID, lengde)",
    ),
    ("XSD09", "Et krav om unike verdier er brutt"),
    ("IPL01", "En Notifikasjon skal ha nøyaktig én hendelse"),
    (
        "IPL02",
        "notifikasjonLopeNr skal være et tall som øker for hver notifikasjon i kommunen",
    ),
    (
        "IPL03",
        "notifikasjonForrigeGUID skal peke på forrige notifikasjon; den første har tom GUID",
    ),
    (
        "IPL04",
        "notifikasjonRef er påkrevd for alle statuser unntatt N",
    ),
    (
        "IPL05",
        "notifikasjonRef skal peke på en notifikasjon med status N",
    ),
    (
        "IPL06",
        "notifikasjonRef peker på en notifikasjon som ikke finnes i meldingen eller tidligere meldinger",
    ),
    (
        "IPL07",
        "En notifikasjon med status N skal ikke vise til en annen notifikasjon",
    ),
    ("IPL08", "Status T (KorrigerSuppler) skal ikke brukes ennå"),
    (
        "IPL09",
        "statusNotifikasjon er ikke en kode i kodeverk 7316",
    ),
    ("IPL10", "hendelseGUID skal være unik i meldingen"),
    (
        "IPL11",
        "MidlertidigStoppTil mangler tilhørende MidlertidigStoppFra (samme midlertidigStoppID og tjenesteID, tidligere eller samme dato)",
    ),
    (
        "IPL12",
        "TjenesteSlutt er datert før TjenesteStart for samme tjenesteID",
    ),
    ("IPL13", "tjenesteType er ikke en kode i kodeverk 9151"),
    (
        "IPL14",
        "tjenesteType er en utgått kode (6, 14, 23, 24, 26, 27, 28)",
    ),
    ("IPL15", "tjenesteOrgNr er påkrevd for denne tjenestetypen"),
    (
        "IPL16",
        "tjenesteOrgNr skal ikke oppgis for tjenestetype 29 (bolig) eller 26 (GPS)",
    ),
    (
        "IPL17",
        "tjenesteOrgNr er ikke et gyldig organisasjonsnummer (9 siffer, modulus 11)",
    ),
    (
        "IPL18",
        "fid er ikke et gyldig nummer av den typen typeID angir (kontrollsiffer, dato)",
    ),
    (
        "IPL19",
        "fid er gyldig, men av en annen type enn typeID angir",
    ),
    (
        "IPL20",
        "typeID annet enn 1, 2 eller 10 gir ingen KPR-ID og rapporteres tilbake som mangel",
    ),
    ("IPL21", "typeID er ikke en kode i kodeverk 9032"),
    ("IPL22", "kommuneNr er ikke gyldig i dataåret"),
    (
        "IPL23",
        "Kommunen må ha minst én kontaktperson av type 16 og én av type 17",
    ),
    (
        "IPL24",
        "Et ekte (ikke-syntetisk) personnummer er sendt til et testmiljø",
    ),
    ("IPL25", "typeKontaktperson er ikke en kode i kodeverk 8471"),
    (
        "IPL26",
        "En melding skal inneholde data fra nøyaktig én rapporteringsenhet (én Kommune)",
    ),
    ("IPL27", "En tekst er lengre enn 100 tegn"),
    ("IPL28", "Rotelementet skal være Melding"),
    (
        "IPL29",
        "notifikasjonGUID skal være unik, også på tvers av meldinger og uavhengig av store/små bokstaver og klammer",
    ),
];

/// The Norwegian title of a rule; `None` for an id the table does not know.
pub fn rule_title_nb(id: &str) -> Option<&'static str> {
    RULE_TITLES_NB
        .iter()
        .find(|(r, _)| *r == id)
        .map(|(_, t)| *t)
}

/// "Feil" / "Advarsel".
pub fn severity_nb(s: Severity) -> &'static str {
    match s {
        Severity::Error => "Feil",
        Severity::Warning => "Advarsel",
    }
}

/// The severity's stable key in summaries: `error` / `warning`.
pub fn severity_key(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The spec's "Konsekvens" wording.
pub fn consequence_nb(c: Consequence) -> &'static str {
    match c {
        Consequence::RejectMessage => "Slettemerk melding",
        Consequence::RejectRow => "Slettemerk rad med underelementer",
        Consequence::SetNull => "Sett verdi til NULL",
        Consequence::UnknownCode => "Sett verdi til -1",
        Consequence::Deficiency => "Mangel rapporteres tilbake",
    }
}

/// A CSV writer: `;` separator, CRLF line ends, fields quoted when they hold `;`, `"`, a
/// line break or outer spaces (quotes doubled). Text cells that start with `=`, `+`,
/// `-`, `@`, tab or CR get a leading `'` so Excel does not run them as formulas (the
/// messages quote the kommune's own data).
pub struct Csv {
    out: String,
}

impl Default for Csv {
    fn default() -> Self {
        Csv::new()
    }
}

impl Csv {
    /// A CSV starting with the UTF-8 BOM (Excel then reads it as UTF-8).
    pub fn new() -> Csv {
        Csv {
            out: String::from("\u{feff}"),
        }
    }

    /// Writes one row.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                self.out.push(';');
            }
            self.cell(c.as_ref());
        }
        self.out.push_str("\r\n");
    }

    fn cell(&mut self, c: &str) {
        let guarded;
        let c = if c.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            guarded = format!("'{c}");
            guarded.as_str()
        } else {
            c
        };
        let quote = c.contains([';', '"', '\n', '\r'])
            || c.starts_with(' ')
            || c.ends_with(' ')
            || c.starts_with('\'');
        if quote {
            self.out.push('"');
            self.out.push_str(&c.replace('"', "\"\""));
            self.out.push('"');
        } else {
            self.out.push_str(c);
        }
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The inline style sheet of both HTML pages.
pub const CSS: &str = "body{font-family:Segoe UI,Arial,sans-serif;margin:2em;color:#222}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em}\
p.meta{color:#555;margin-top:0}\
table{border-collapse:collapse;margin:.6em 0 1.2em}\
th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#e8eef4}td.n{text-align:right;font-variant-numeric:tabular-nums}\
tr:nth-child(even) td{background:#f7f7f7}.feil{color:#a40000;font-weight:bold}\
.advarsel{color:#8a5a00}code{font-size:.95em}.test{background:#fff3cd;padding:.5em;border:1px solid #e0c36c}";

/// The opening of an HTML page up to `<body>` and its heading.
pub fn html_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"nb\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = html(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use iplos_model::rules::catalogue;

    #[test]
    fn every_rule_has_a_norwegian_title() {
        for r in catalogue::ALL {
            assert!(
                rule_title_nb(r.id).is_some(),
                "{} has no Norwegian title",
                r.id
            );
        }
        assert_eq!(RULE_TITLES_NB.len(), catalogue::ALL.len());
    }

    #[test]
    fn csv_quoting() {
        let mut c = Csv::new();
        c.row(&[
            "a",
            "b;c",
            "say \"hi\"",
            "two\nlines",
            "=SUM(A1)",
            " pad",
            "-1",
        ]);
        assert_eq!(
            c.finish(),
            "\u{feff}a;\"b;c\";\"say \"\"hi\"\"\";\"two\nlines\";\"'=SUM(A1)\";\" pad\";\"'-1\"\r\n"
        );
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            html("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
