#!/usr/bin/env python3
"""Regenerate the IPLOS 56.0.0 schema-agreement corpus (stdlib only).

Writes every fixture into this directory, runs
    xmllint --noout --schema <XPR(ipl).xsd> FILE
on each one and writes README.md with the verdict xmllint actually gave.
The committed files are what the tests use; this script only documents how
they were made and keeps the README honest.

Usage: python3 make_mutations.py [path/to/XPR(ipl).xsd]

Naming convention (checked by harness/tests/xsd_agreement.rs):
  valid-     schema-valid and content-correct (the checker reports nothing)
  schemaok-  schema-valid but content-wrong (only content findings allowed)
  invalid-   well-formed but schema-invalid (exactly one schema defect)
  malformed- not well-formed XML (or not namespace-well-formed)
"""

import hashlib
import os
import re
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_XSD = os.path.join(
    HERE, "..", "..", "..", "..", "..", "shared", "spec", "iplos-56.0.0", "XPR(ipl).xsd"
)
NS = "http://www.npr.no/xmlstds/56_0_0_ipl"
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"

# ---------------------------------------------------------------- identifiers


def mod11(digits, weights):
    """Check digit: 11 - (sum mod 11); 11 -> 0; 10 -> None (no valid digit)."""
    k = 11 - sum(int(d) * w for d, w in zip(digits, weights)) % 11
    return 0 if k == 11 else (None if k == 10 else k)


def person_number(day, month, yy, individ, month_offset=80):
    """Fødselsnummer-shaped id: month + 80 is Test-Norge synthetic, + 40 is H-nummer.

    Takes the first individnummer >= `individ` that gives valid check digits."""
    while True:
        base = f"{day:02d}{month + month_offset:02d}{yy:02d}{individ:03d}"
        k1 = mod11(base, [3, 7, 6, 1, 8, 9, 4, 5, 2])
        if k1 is not None:
            k2 = mod11(base + str(k1), [5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
            if k2 is not None:
                return f"{base}{k1}{k2}"
        individ += 1


def orgnr_ok(orgnr):
    return len(orgnr) == 9 and mod11(orgnr[:8], [3, 2, 7, 6, 5, 4, 3, 2]) == int(orgnr[8])


def guid(label):
    """A deterministic, v4-shaped GUID for a label (lower case, no braces)."""
    return str(uuid.UUID(bytes=hashlib.sha256(label.encode()).digest()[:16], version=4))


# Synthetic persons (Test-Norge: month + 80; individnummer 000-499 for 1900-1999).
P1 = person_number(15, 3, 40, 123)  # born 15.03.1940
P2 = person_number(2, 11, 33, 245)  # born 02.11.1933
P3 = person_number(24, 12, 28, 318)  # born 24.12.1928
P4 = person_number(7, 6, 45, 402)  # born 07.06.1945
P5 = person_number(30, 1, 38, 111)  # born 30.01.1938
P6 = person_number(19, 8, 41, 256)  # born 19.08.1941
H1 = person_number(15, 3, 40, 123, month_offset=40)  # an H-nummer (month + 40)
for p in (P1, P2, P3, P4, P5, P6):
    assert int(p[2:4]) > 80 and int(p[6:9]) < 500, p

# Real kommune organisation numbers (SSB classification 582) and one
# synthetic, checksum-valid provider number.
ORG_BERGEN = "964338531"  # BERGEN KOMMUNE, 4601
ORG_OSLO = "958935420"  # OSLO KOMMUNE, 0301
ORG_UTSIRA = "964979901"  # UTSIRA KOMMUNE, 1151
ORG_PROVIDER = "998877660"  # synthetic private care provider
for o in (ORG_BERGEN, ORG_OSLO, ORG_UTSIRA, ORG_PROVIDER):
    assert orgnr_ok(o), o

# ---------------------------------------------------------------- documents
#
# The mutation base: one long-term stay (tjenestetype 21) in Bergen going
# through all five event kinds, five notifications with status N.

B = {k: guid("base/" + k) for k in "n1 n2 n3 n4 n5 h1 h2 h3 h4 h5 p1".split()}

BRUKER1 = f'<Bruker pasientGUID="{B["p1"]}" brukerNr="4601-00417" fid="{P1}" typeID="1" bydel="460103"/>'

BASE = f"""<?xml version="1.0" encoding="UTF-8"?>
<Melding xmlns="{NS}" versjon="56.0.0" meldingstype="K"
         leverandor="Omsorgsdata AS" navnEPJ="OmsorgJournal" versjonEPJ="24.2.1" versjonUt="3.4.0">
  <Notifikasjon statusNotifikasjon="N" notifikasjonTid="2024-01-09T06:00:00+01:00" notifikasjonLopeNr="1"
                notifikasjonGUID="{B["n1"]}" notifikasjonForrigeGUID="{EMPTY_GUID}">
    <TjenesteStart tjenesteType="21" tjenesteID="LTO-000117" tjenesteOrgNr="{ORG_BERGEN}"
                   hendelseDato="2024-01-08" hendelseRegTid="2024-01-08T13:42:10+01:00" hendelseGUID="{B["h1"]}">
      {BRUKER1}
    </TjenesteStart>
  </Notifikasjon>
  <Notifikasjon statusNotifikasjon="N" notifikasjonTid="2024-03-11T06:00:00+01:00" notifikasjonLopeNr="2"
                notifikasjonGUID="{B["n2"]}" notifikasjonForrigeGUID="{B["n1"]}">
    <MidlertidigStoppFra tjenesteType="21" tjenesteID="LTO-000117" tjenesteOrgNr="{ORG_BERGEN}" midlertidigStoppID="STOPP-000031"
                         hendelseDato="2024-03-10" hendelseRegTid="2024-03-10T19:05:44+01:00" hendelseGUID="{B["h2"]}">
      {BRUKER1}
    </MidlertidigStoppFra>
  </Notifikasjon>
  <Notifikasjon statusNotifikasjon="N" notifikasjonTid="2024-03-19T06:00:00+01:00" notifikasjonLopeNr="3"
                notifikasjonGUID="{B["n3"]}" notifikasjonForrigeGUID="{B["n2"]}">
    <MidlertidigStoppTil tjenesteType="21" tjenesteID="LTO-000117" tjenesteOrgNr="{ORG_BERGEN}" midlertidigStoppID="STOPP-000031"
                         hendelseDato="2024-03-18" hendelseRegTid="2024-03-18T11:30:00+01:00" hendelseGUID="{B["h3"]}">
      {BRUKER1}
    </MidlertidigStoppTil>
  </Notifikasjon>
  <Notifikasjon statusNotifikasjon="N" notifikasjonTid="2024-04-02T06:00:00+02:00" notifikasjonLopeNr="4"
                notifikasjonGUID="{B["n4"]}" notifikasjonForrigeGUID="{B["n3"]}">
    <TjenesteutforerEndret tjenesteType="21" tjenesteID="LTO-000117" tjenesteOrgNr="{ORG_PROVIDER}"
                           hendelseDato="2024-04-01" hendelseRegTid="2024-04-01T09:12:00+02:00" hendelseGUID="{B["h4"]}">
      {BRUKER1}
    </TjenesteutforerEndret>
  </Notifikasjon>
  <Notifikasjon statusNotifikasjon="N" notifikasjonTid="2024-07-01T06:00:00+02:00" notifikasjonLopeNr="5"
                notifikasjonGUID="{B["n5"]}" notifikasjonForrigeGUID="{B["n4"]}">
    <TjenesteSlutt tjenesteType="21" tjenesteID="LTO-000117" tjenesteOrgNr="{ORG_PROVIDER}"
                   hendelseDato="2024-06-28" hendelseRegTid="2024-06-28T15:20:00+02:00" hendelseGUID="{B["h5"]}">
      {BRUKER1}
    </TjenesteSlutt>
  </Notifikasjon>
  <Kontaktperson kontPerson="Ingrid Haugland" meldTelefon="40000017" meldEpost1="ingrid.haugland@bergen.kommune.example"
                 typeKontaktperson="16"/>
  <Kontaktperson kontPerson="Per Nilsen" meldTelefon="40000018" meldEpost1="per.nilsen@bergen.kommune.example"
                 meldEpost2="iplos@bergen.kommune.example" typeKontaktperson="17"/>
  <Kommune kommuneNr="4601"/>
</Melding>
"""

MINIMAL = f"""<?xml version="1.0" encoding="UTF-8"?>
<Melding xmlns="{NS}" versjon="56.0.0" meldingstype="K"
         leverandor="Omsorgsdata AS" navnEPJ="OmsorgJournal" versjonEPJ="24.2.1" versjonUt="3.4.0">
  <Kontaktperson kontPerson="Ingrid Haugland" meldTelefon="40000017" meldEpost1="ingrid.haugland@bergen.kommune.example"
                 typeKontaktperson="16"/>
  <Kontaktperson kontPerson="Per Nilsen" meldTelefon="40000018" meldEpost1="per.nilsen@bergen.kommune.example"
                 typeKontaktperson="17"/>
  <Kommune kommuneNr="4601"/>
</Melding>
"""


def typical():
    """Oslo, several persons, all five event kinds, statuses N, M and C."""
    g = {k: guid("typical/" + k) for k in
         "n1 n2 n3 n4 n5 n6 n7 n8 n9 n10 h1 h2 h3 h4 h5 h6 h7 h8 h9 h10 p2 p3 p4 p5".split()}

    def bruker(p, fid, nr, bydel):
        return f'<Bruker pasientGUID="{g[p]}" brukerNr="{nr}" fid="{fid}" typeID="1" bydel="{bydel}"/>'

    b2 = bruker("p2", P2, "0301-118204", "030113")
    b3 = bruker("p3", P3, "0301-093311", "030105")
    b4 = bruker("p4", P4, "0301-120577", "030102")
    b5 = bruker("p5", P5, "0301-071940", "030108")
    rows = [
        # status, notifikasjonTid, event, attributes, bruker, notification referred to
        ("N", "2024-01-09T06:00:00+01:00", "TjenesteStart",
         f'tjenesteType="21" tjenesteID="SYE-2024-0007" tjenesteOrgNr="{ORG_OSLO}" '
         'hendelseDato="2024-01-08" hendelseRegTid="2024-01-08T10:14:03+01:00"', b2, None),
        ("N", "2024-01-16T06:00:00+01:00", "TjenesteStart",
         'tjenesteType="29" tjenesteID="BOL-2024-0112" '
         'hendelseDato="2024-01-15" hendelseRegTid="2024-01-15T12:40:00+01:00"', b3, None),
        ("N", "2024-02-02T06:00:00+01:00", "TjenesteStart",
         f'tjenesteType="18" tjenesteID="KOR-2024-0031" tjenesteOrgNr="{ORG_OSLO}" '
         'hendelseDato="2024-02-01" hendelseRegTid="2024-02-01T16:55:21+01:00"', b4, None),
        ("N", "2024-02-13T06:00:00+01:00", "TjenesteutforerEndret",
         f'tjenesteType="18" tjenesteID="KOR-2024-0031" tjenesteOrgNr="{ORG_PROVIDER}" '
         'hendelseDato="2024-02-12" hendelseRegTid="2024-02-12T08:03:47+01:00"', b4, None),
        ("N", "2024-02-21T06:00:00+01:00", "TjenesteSlutt",
         f'tjenesteType="18" tjenesteID="KOR-2024-0031" tjenesteOrgNr="{ORG_PROVIDER}" '
         'hendelseDato="2024-02-20" hendelseRegTid="2024-02-20T14:10:00+01:00"', b4, None),
        ("N", "2024-03-11T06:00:00+01:00", "MidlertidigStoppFra",
         f'tjenesteType="21" tjenesteID="SYE-2024-0007" tjenesteOrgNr="{ORG_OSLO}" midlertidigStoppID="SYE-2024-0007-S1" '
         'hendelseDato="2024-03-10" hendelseRegTid="2024-03-10T21:32:00+01:00"', b2, None),
        ("N", "2024-03-19T06:00:00+01:00", "MidlertidigStoppTil",
         f'tjenesteType="21" tjenesteID="SYE-2024-0007" tjenesteOrgNr="{ORG_OSLO}" midlertidigStoppID="SYE-2024-0007-S1" '
         'hendelseDato="2024-03-18" hendelseRegTid="2024-03-18T13:00:00+01:00"', b2, None),
        ("N", "2024-04-03T06:00:00+02:00", "TjenesteStart",
         f'tjenesteType="20" tjenesteID="KOA-2024-0044" tjenesteOrgNr="{ORG_OSLO}" '
         'hendelseDato="2024-04-02" hendelseRegTid="2024-04-02T11:20:00+02:00"', b5, None),
        # 9: KorrigerErstatt of 2 (the housing started a day later than first registered)
        ("M", "2024-04-04T06:00:00+02:00", "TjenesteStart",
         'tjenesteType="29" tjenesteID="BOL-2024-0112" '
         'hendelseDato="2024-01-16" hendelseRegTid="2024-04-03T09:45:10+02:00"', b3, 2),
        # 10: KorrigerAnnuller of 8 (the short stay was registered on the wrong person's record)
        ("C", "2024-04-05T06:00:00+02:00", "TjenesteStart",
         f'tjenesteType="20" tjenesteID="KOA-2024-0044" tjenesteOrgNr="{ORG_OSLO}" '
         'hendelseDato="2024-04-02" hendelseRegTid="2024-04-04T15:02:36+02:00"', b5, 8),
    ]
    out = []
    prev = EMPTY_GUID
    for i, (status, tid, event, attrs, bruker_line, ref) in enumerate(rows, start=1):
        n = g[f"n{i}"]
        ref_attr = f' notifikasjonRef="{g[f"n{ref}"]}"' if ref else ""
        out.append(
            f'  <Notifikasjon statusNotifikasjon="{status}" notifikasjonTid="{tid}" notifikasjonLopeNr="{i}"\n'
            f'                notifikasjonGUID="{n}" notifikasjonForrigeGUID="{prev}"{ref_attr}>\n'
            f'    <{event} {attrs.replace(" hendelseDato=", chr(10) + "        hendelseDato=", 1)}'
            f' hendelseGUID="{g[f"h{i}"]}">\n'
            f"      {bruker_line}\n"
            f"    </{event}>\n"
            f"  </Notifikasjon>\n"
        )
        prev = n
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Melding xmlns="{NS}" versjon="56.0.0" meldingstype="K"\n'
        '         leverandor="Omsorgsdata AS" navnEPJ="OmsorgJournal" versjonEPJ="24.2.1" versjonUt="3.4.0"\n'
        '         lokalident="0301-2024-04-05-001">\n'
        + "".join(out)
        + '  <Kontaktperson kontPerson="Nora Lie" meldTelefon="+4740000021" meldEpost1="nora.lie@oslo.kommune.example"\n'
        '                 typeKontaktperson="16"/>\n'
        '  <Kontaktperson kontPerson="Jonas Bakke" meldTelefon="+4740000022" meldEpost1="jonas.bakke@oslo.kommune.example"\n'
        '                 meldEpost2="iplos@oslo.kommune.example" typeKontaktperson="17"/>\n'
        '  <Kommune kommuneNr="0301"/>\n'
        "</Melding>\n"
    )


def norwegian(kommune, bydel, vendor, contact16, contact17, label, encoding):
    """One TjenesteStart for housing (29, no orgnr) with Norwegian letters."""
    g = {k: guid(label + "/" + k) for k in ("n1", "h1", "p6")}
    return f"""<?xml version="1.0" encoding="{encoding}"?>
<Melding xmlns="{NS}" versjon="56.0.0" meldingstype="K"
         leverandor="{vendor}" navnEPJ="Omsorgsjournal Nærmiljø" versjonEPJ="7.3" versjonUt="7.3.2"
         lokalident="Sending nr. 12: Åpen bolig">
  <Notifikasjon statusNotifikasjon="N" notifikasjonTid="2024-05-14T06:00:00+02:00" notifikasjonLopeNr="1"
                notifikasjonGUID="{g["n1"]}" notifikasjonForrigeGUID="{EMPTY_GUID}">
    <TjenesteStart tjenesteType="29" tjenesteID="BOLIG-Ø-0003"
                   hendelseDato="2024-05-13" hendelseRegTid="2024-05-13T10:05:00+02:00" hendelseGUID="{g["h1"]}">
      <Bruker pasientGUID="{g["p6"]}" brukerNr="ÆØÅ-0001" fid="{P6}" typeID="1"{bydel}/>
    </TjenesteStart>
  </Notifikasjon>
  <Kontaktperson kontPerson="{contact16}" meldTelefon="40000030" meldEpost1="kontakt@{kommune[1]}.kommune.example" typeKontaktperson="16"/>
  <Kontaktperson kontPerson="{contact17}" meldTelefon="40000031" meldEpost1="innsending@{kommune[1]}.kommune.example"
                 typeKontaktperson="17"/>
  <Kommune kommuneNr="{kommune[0]}"/>
</Melding>
"""


UTF8_NORWEGIAN = norwegian(("4601", "bergen"), ' bydel="460107"', "Pleie- og omsorgsdata Øst AS",
                           "Øystein Ærø Håland", "Åse Bjørnstad", "utf8", "UTF-8")
LATIN1 = norwegian(("1151", "utsira"), "", "Omsorgsløsninger Sørvest AS",
                   "Kåre Sæther", "Bjørg Ødegård Ås", "latin1", "ISO-8859-1")

# ---------------------------------------------------------------- mutation helpers


def once(text, old, new):
    """Replace `old` by `new`, insisting `old` occurs exactly once."""
    n = text.count(old)
    assert n == 1, f"expected exactly one {old!r}, found {n}"
    return text.replace(old, new)


def every(text, old, new):
    assert old in text, old
    return text.replace(old, new)


def block(text, event):
    """The whole <event ...>...</event> element (first occurrence)."""
    start = text.index(f"<{event} ")
    end = text.index(f"</{event}>", start) + len(f"</{event}>")
    return text[start:end]


def notification(text, nr):
    """The nr-th <Notifikasjon> element with its leading indentation and newline."""
    marker = f'notifikasjonLopeNr="{nr}"'
    pos = text.index(marker)
    start = text.rindex("  <Notifikasjon ", 0, pos)
    end = text.index("</Notifikasjon>\n", pos) + len("</Notifikasjon>\n")
    return text[start:end]


def first_bruker(new_line):
    """The base with the Bruker of notification 1 replaced by `new_line`."""
    return once(BASE, f'hendelseGUID="{B["h1"]}">\n      {BRUKER1}', f'hendelseGUID="{B["h1"]}">\n      {new_line}')


def with_notification(text, extra):
    """Append an extra notification after the last one."""
    last = text.rindex("</Notifikasjon>\n") + len("</Notifikasjon>\n")
    return text[:last] + extra + text[last:]


def correction(status, ref_attr, label):
    """A 6th notification correcting notification 5 (the TjenesteSlutt)."""
    return (
        f'  <Notifikasjon statusNotifikasjon="{status}" notifikasjonTid="2024-07-03T06:00:00+02:00" notifikasjonLopeNr="6"\n'
        f'                notifikasjonGUID="{guid(label + "/n6")}" notifikasjonForrigeGUID="{B["n5"]}"{ref_attr}>\n'
        f'    <TjenesteSlutt tjenesteType="21" tjenesteID="LTO-000117" tjenesteOrgNr="{ORG_PROVIDER}"\n'
        f'                   hendelseDato="2024-06-27" hendelseRegTid="2024-07-02T08:00:00+02:00" hendelseGUID="{guid(label + "/h6")}">\n'
        f"      {BRUKER1}\n"
        f"    </TjenesteSlutt>\n"
        f"  </Notifikasjon>\n"
    )


def prefixed(text, prefix="ipl"):
    text = once(text, f'xmlns="{NS}"', f'xmlns:{prefix}="{NS}"')
    return re.sub(r"<(/?)(?=[A-Z])", lambda m: f"<{m.group(1)}{prefix}:", text)


def all_guids(text):
    return set(re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)) - {EMPTY_GUID}


def braces(text):
    for g in all_guids(text) | {EMPTY_GUID}:
        text = text.replace(f'"{g}"', f'"{{{g}}}"')
    return text


def upper_guids(text):
    for g in all_guids(text):
        text = text.replace(g, g.upper())
    return text


def comments_pi_whitespace():
    t = BASE
    t = once(t, '<?xml version="1.0" encoding="UTF-8"?>\n',
             '<?xml version = \'1.0\'   encoding = "UTF-8" ?>\n'
             "<!-- Eksport fra OmsorgJournal: sending 2024-07-01 -->\n"
             '<?epj-export batch="17" mode="daily"?>\n\n')
    t = once(t, 'leverandor="Omsorgsdata AS"', "leverandor = 'Omsorgsdata &amp; Co AS'")
    t = once(t, '  <Notifikasjon statusNotifikasjon="N" notifikasjonTid="2024-03-11',
             "  <!-- Innleggelse på sykehus: midlertidig stopp -->\n\n\n"
             '  <Notifikasjon statusNotifikasjon="N" notifikasjonTid="2024-03-11')
    t = once(t, f'notifikasjonGUID="{B["n3"]}"',
             f'notifikasjonGUID\t=\t"{B["n3"]}"\n\n               ')
    t = once(t, "    </MidlertidigStoppTil>\n", "    <?epj-trace id=\"4711\"?>\n    </MidlertidigStoppTil>\n")
    four = block(t, "TjenesteutforerEndret")
    t = once(t, four, four.replace(f"{BRUKER1}", BRUKER1[:-2] + "><!-- bruker uendret --></Bruker>"))
    t = once(t, 'kontPerson="Per Nilsen"', 'kontPerson="Per&#32;Nilsen"')
    t = once(t, "  <Kommune kommuneNr=\"4601\"/>\n", "  <Kommune\n      kommuneNr=\"4601\"\n  />\n  \n")
    return t + "<!-- slutt -->\n<?epj-export done?>\n\n"


# ---------------------------------------------------------------- the corpus
#
# Each entry: (file name, description, construct exercised, content as str or bytes).

CASES = []


def case(name, what, construct, content):
    CASES.append((name, what, construct, content))


# --- valid: schema-valid and content-correct --------------------------------
case("valid-minimal.xml", "no Notifikasjon; one contact of type 16 and one of 17, one Kommune",
     "Notifikasjon minOccurs=0; Kontaktperson/Kommune minOccurs=1", MINIMAL)
case("valid-mutation-base.xml",
     "Bergen, one long-term stay (21) through all five event kinds, N only; every invalid- file is this with one change",
     "the full Notifikasjon sequence, all attributes in use", BASE)
case("valid-typical.xml",
     "Oslo, four synthetic persons, ten notifications: all five event kinds, statuses N, M and C, types 18/20/21/29",
     "repeated Notifikasjon, notifikasjonRef, lokalident", typical())
case("valid-iso-8859-1.xml", "Utsira, encoding ISO-8859-1, æøå in leverandor/kontPerson/tjenesteID/brukerNr",
     "encoding declaration ISO-8859-1 (single-byte æøå)", LATIN1.encode("iso-8859-1"))
case("valid-utf8-norwegian.xml", "Bergen, UTF-8 with æøåÆØÅ in leverandor, navnEPJ, lokalident, kontPerson",
     "UTF-8 multi-byte characters in string attributes; bydelNr of 6 characters", UTF8_NORWEGIAN)
case("valid-utf8-bom.xml", "the base with a UTF-8 byte-order mark before the XML declaration",
     "BOM handling", b"\xef\xbb\xbf" + BASE.encode())
case("valid-no-xml-declaration.xml", "the base without the <?xml?> declaration (UTF-8 by default)",
     "missing XML declaration", BASE.split("\n", 1)[1])
case("valid-schema-location.xml", "the base with xsi:schemaLocation and xsi:noNamespaceSchemaLocation on Melding",
     "xsi attributes are always allowed (no anyAttribute needed)",
     once(BASE, f'<Melding xmlns="{NS}"',
          f'<Melding xmlns="{NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n'
          f'         xsi:schemaLocation="{NS} XPR(ipl).xsd" xsi:noNamespaceSchemaLocation="XPR(ipl).xsd"\n        '))
case("valid-guid-braces.xml", "the base with every GUID (also the empty GUID) in {braces}",
     "nprx:guid pattern, second alternative", braces(BASE))
case("valid-guid-uppercase.xml", "the base with every GUID in upper-case hex",
     "nprx:guid pattern [0-9a-fA-F]", upper_guids(BASE))
case("valid-comments-pi-whitespace.xml",
     "the base with comments and processing instructions (also inside Bruker), single quotes, blank lines, "
     "tabs and newlines inside tags, &amp; and &#32; references; no CDATA",
     "comments/PIs are ignored by content models; attribute syntax", comments_pi_whitespace())
case("valid-prefixed.xml", "the base with the namespace bound to prefix ipl: instead of the default namespace",
     "namespace prefixes; unqualified attributes (attributeFormDefault)", prefixed(BASE))
case("valid-doctype-without-subset.xml", "the base with <!DOCTYPE Melding> (no internal subset, no external id)",
     "document type declaration ignored by schema validation",
     once(BASE, "?>\n<Melding", "?>\n<!DOCTYPE Melding>\n<Melding"))
case("valid-date-timezone.xml",
     "the base with hendelseDato 2024-03-10+01:00, notifikasjonTid in Z and hendelseRegTid with fractional seconds",
     "xs:date with timezone; xs:dateTime Z and fractions",
     once(once(once(BASE, 'hendelseDato="2024-03-10"', 'hendelseDato="2024-03-10+01:00"'),
               'notifikasjonTid="2024-03-11T06:00:00+01:00"', 'notifikasjonTid="2024-03-11T05:00:00Z"'),
          'hendelseRegTid="2024-03-10T19:05:44+01:00"', 'hendelseRegTid="2024-03-10T19:05:44.1234567+01:00"'))
case("valid-leap-day.xml", "the base with the stop starting on 2024-02-29",
     "xs:date leap year",
     once(once(BASE, 'hendelseDato="2024-03-10"', 'hendelseDato="2024-02-29"'),
          'hendelseRegTid="2024-03-10T19:05:44+01:00"', 'hendelseRegTid="2024-02-29T19:05:44+01:00"'))

# --- schemaok: schema-valid but content-wrong -------------------------------
case("schemaok-single-contact.xml", "one Kontaktperson (type 16) and one Kommune: no type 17 contact",
     "Kontaktperson minOccurs=1 (content: each kommune needs a 16 and a 17)",
     once(MINIMAL, '  <Kontaktperson kontPerson="Per Nilsen" meldTelefon="40000018" meldEpost1="per.nilsen@bergen.kommune.example"\n'
                   '                 typeKontaktperson="17"/>\n', ""))
case("schemaok-start-and-slutt-in-one-notifikasjon.xml",
     "notification 1 holds its TjenesteStart and also a TjenesteSlutt",
     "each event is 0..1 in the sequence, so two different events pass (content: XOR)",
     once(BASE, "    </TjenesteStart>\n",
          "    </TjenesteStart>\n" + "    " + block(BASE, "TjenesteSlutt").replace(B["h5"], guid("extra/h")) + "\n"))
case("schemaok-notifikasjon-without-event.xml", "notification 5 has no event element",
     "all events minOccurs=0 (content: exactly one event)",
     once(BASE, "    " + block(BASE, "TjenesteSlutt") + "\n", ""))
case("schemaok-status-t.xml", "a 6th notification with status T (KorrigerSuppler, not to be used yet) referring to notification 5",
     "statusNotifikasjon is a plain string (content: code 7316, T not in use)",
     with_notification(BASE, correction("T", f' notifikasjonRef="{B["n5"]}"', "status-t")))
case("schemaok-korriger-without-ref.xml", "a 6th notification with status M and no notifikasjonRef",
     "notifikasjonRef optional (content: required for M/T/C)",
     with_notification(BASE, correction("M", "", "m-no-ref")))
case("schemaok-retired-tjenestetype-6.xml", "tjenesteType 6 (Trygghetsalarm, retired) instead of 21 in every event",
     "iPLOS_tjenestetype is a plain string (content: code 9151, retired)",
     every(BASE, 'tjenesteType="21"', 'tjenesteType="6"'))
case("schemaok-typeid-3.xml", "the person identified by an H-nummer with typeID 3",
     "type_personidentifikasjon is a plain string (content: only 1, 2, 10 give a KPR-ID)",
     every(every(BASE, 'typeID="1"', 'typeID="3"'), P1, H1))
case("schemaok-fnr-bad-check-digit.xml", "the synthetic fødselsnummer with its last check digit changed",
     "fid is a plain string (content: mod-11 check digits)",
     every(BASE, P1, P1[:10] + str((int(P1[10]) + 1) % 10)))
case("schemaok-tjenesteorgnr-on-type-29.xml", "housing (29) with a tjenesteOrgNr",
     "tjenesteOrgNr optional (content: must not be given for 29 and 26)",
     once(UTF8_NORWEGIAN, 'tjenesteID="BOLIG-Ø-0003"', f'tjenesteID="BOLIG-Ø-0003" tjenesteOrgNr="{ORG_BERGEN}"'))
case("schemaok-stopptil-without-stoppfra.xml", "MidlertidigStoppTil with a midlertidigStoppID no MidlertidigStoppFra has",
     "midlertidigStoppID is a plain string (content: Til needs a Fra with the same id)",
     once(BASE,
          'midlertidigStoppID="STOPP-000031"\n                         hendelseDato="2024-03-18"',
          'midlertidigStoppID="STOPP-000032"\n                         hendelseDato="2024-03-18"'))
case("schemaok-chain-broken.xml", "notification 3 names notification 1 as its predecessor",
     "notifikasjonForrigeGUID any guid (content: chain)",
     once(BASE, f'notifikasjonForrigeGUID="{B["n2"]}"', f'notifikasjonForrigeGUID="{B["n1"]}"'))
case("schemaok-lopenr-not-increasing.xml", "notification 3 repeats notifikasjonLopeNr 2",
     "notifikasjonLopeNr is a plain string (content: strictly increasing)",
     once(BASE, 'notifikasjonLopeNr="3"', 'notifikasjonLopeNr="2"'))
case("schemaok-duplicate-hendelseguid.xml", "notifications 1 and 2 carry the same hendelseGUID",
     "the hendelseGUID unique constraints are scoped to one Notifikasjon (content: unique in the message)",
     once(BASE, f'hendelseGUID="{B["h2"]}"', f'hendelseGUID="{B["h1"]}"'))
case("schemaok-duplicate-notifikasjon-guid-case.xml",
     "notification 2's GUID is notification 1's in upper case (chain adjusted to match)",
     "unique NotifikasjonP_ID compares guid strings case-sensitively (content: GUIDs are case-insensitive)",
     every(BASE, B["n2"], B["n1"].upper()))
case("schemaok-kommune-duplicate-modulo-whitespace.xml", 'Kommune "4601" and Kommune " 4601"',
     "unique KommuneP_ID compares xs:string values, whitespace preserved (content: one reporting unit, valid kommunenummer)",
     once(BASE, '  <Kommune kommuneNr="4601"/>\n', '  <Kommune kommuneNr="4601"/>\n  <Kommune kommuneNr=" 4601"/>\n'))
case("schemaok-two-kommuner.xml", "Kommune 4601 and Kommune 0301 in one message",
     "Kommune maxOccurs=unbounded (content: one reporting unit per message)",
     once(BASE, '  <Kommune kommuneNr="4601"/>\n', '  <Kommune kommuneNr="4601"/>\n  <Kommune kommuneNr="0301"/>\n'))
case("schemaok-root-notifikasjon.xml", "a lone Notifikasjon as the document element",
     "every global element of the schema may be the validation root (content: root must be Melding)",
     '<?xml version="1.0" encoding="UTF-8"?>\n'
     + notification(BASE, 1).strip().replace("<Notifikasjon ", f'<Notifikasjon xmlns="{NS}"\n                ', 1)
     .replace("\n  ", "\n") + "\n")

# --- invalid: well-formed, exactly one schema defect ------------------------
ROOT = f'<Melding xmlns="{NS}"'


def inv(name, what, construct, content):
    case("invalid-" + name + ".xml", what, construct, content)


inv("root-wrong-name", "document element <Meldinger> instead of <Melding>", "global element declaration (root)",
    once(once(BASE, ROOT, f'<Meldinger xmlns="{NS}"'), "</Melding>", "</Meldinger>"))
inv("root-wrong-namespace", "Melding in the NPR.xsd namespace http://www.npr.no/xmlstds/56_0_0", "targetNamespace",
    once(BASE, ROOT, '<Melding xmlns="http://www.npr.no/xmlstds/56_0_0"'))
inv("root-no-namespace", "no namespace declaration at all", "targetNamespace",
    once(BASE, ROOT, "<Melding"))
inv("element-no-namespace", 'Kommune with xmlns="" (unqualified child)', "elementFormDefault=qualified",
    once(BASE, '<Kommune kommuneNr="4601"/>', '<Kommune xmlns="" kommuneNr="4601"/>'))
CONTACT16 = ('  <Kontaktperson kontPerson="Ingrid Haugland" meldTelefon="40000017" '
             'meldEpost1="ingrid.haugland@bergen.kommune.example"\n'
             '                 typeKontaktperson="16"/>\n')
inv("order-kontaktperson-before-notifikasjon", "the type 16 Kontaktperson moved before the first Notifikasjon",
    "Melding sequence order",
    once(BASE, CONTACT16, "").replace("  <Notifikasjon ", CONTACT16 + "  <Notifikasjon ", 1))
inv("order-kommune-before-kontaktperson", "Kommune placed before the Kontaktperson elements", "Melding sequence order",
    once(once(BASE, '  <Kommune kommuneNr="4601"/>\n', ""),
         '  <Kontaktperson kontPerson="Ingrid Haugland"',
         '  <Kommune kommuneNr="4601"/>\n  <Kontaktperson kontPerson="Ingrid Haugland"'))
inv("order-stoppfra-before-stopptil", "notification 3 holds MidlertidigStoppFra followed by its MidlertidigStoppTil",
    "Notifikasjon sequence order (Start, StoppTil, StoppFra, UtforerEndret, Slutt)",
    once(BASE, "    <MidlertidigStoppTil ",
         "    " + block(BASE, "MidlertidigStoppFra").replace(B["h2"], guid("order/h")) + "\n    <MidlertidigStoppTil "))
inv("order-slutt-before-start", "notification 1 holds a TjenesteSlutt before its TjenesteStart",
    "Notifikasjon sequence order",
    once(BASE, "    <TjenesteStart ",
         "    " + block(BASE, "TjenesteSlutt").replace(B["h5"], guid("order2/h")) + "\n    <TjenesteStart "))
inv("no-kontaktperson", "both Kontaktperson elements removed", "Kontaktperson minOccurs=1",
    re.sub(r"  <Kontaktperson [^>]*/>\n", "", BASE))
inv("no-kommune", "Kommune removed", "Kommune minOccurs=1", once(BASE, '  <Kommune kommuneNr="4601"/>\n', ""))
inv("two-tjenestestart", "notification 1 holds two TjenesteStart (different hendelseGUIDs)", "TjenesteStart maxOccurs=1",
    once(BASE, "    </TjenesteStart>\n",
         "    </TjenesteStart>\n    " + block(BASE, "TjenesteStart").replace(B["h1"], guid("two/h")) + "\n"))
inv("event-without-bruker", "TjenesteStart with no Bruker child", "Bruker minOccurs=1 (default)",
    once(BASE, f'hendelseGUID="{B["h1"]}">\n      {BRUKER1}\n    </TjenesteStart>', f'hendelseGUID="{B["h1"]}"/>'))
inv("two-bruker", "TjenesteStart with two Bruker children", "Bruker maxOccurs=1",
    once(BASE, f'hendelseGUID="{B["h1"]}">\n      {BRUKER1}\n',
         f'hendelseGUID="{B["h1"]}">\n      {BRUKER1}\n      {BRUKER1}\n'))
inv("unknown-child-element", "an undeclared <Vedtak/> inside notification 1", "Notifikasjon content model (no wildcard)",
    once(BASE, "    </TjenesteStart>\n", '    </TjenesteStart>\n    <Vedtak vedtakDato="2024-01-05"/>\n'))
inv("child-in-bruker", "an element inside Bruker, whose content type is empty", "empty content type",
    once(BASE, f'hendelseGUID="{B["h1"]}">\n      {BRUKER1}\n',
         f'hendelseGUID="{B["h1"]}">\n      {BRUKER1[:-2]}><Adresse/></Bruker>\n'))
inv("text-in-notifikasjon", "text inside notification 1, next to its event", "element-only content",
    once(BASE, "    </TjenesteStart>\n", "    </TjenesteStart>\n    Innflyttet i sykehjem\n"))
inv("whitespace-in-bruker", "Bruker written as <Bruker ...>newline+spaces</Bruker> instead of <Bruker .../>",
    "empty content type: libxml2 rejects even whitespace",
    once(BASE, f'hendelseGUID="{B["h1"]}">\n      {BRUKER1}\n',
         f'hendelseGUID="{B["h1"]}">\n      {BRUKER1[:-2]}>\n      </Bruker>\n'))
inv("cdata-whitespace-in-notifikasjon", "a CDATA section holding only spaces inside notification 1",
    "element-only content: libxml2 counts CDATA whitespace as character content",
    once(BASE, "    </TjenesteStart>\n", "    </TjenesteStart>\n    <![CDATA[  ]]>\n"))
# required attributes
inv("missing-melding-leverandor", "Melding without leverandor", "use=required",
    once(BASE, ' leverandor="Omsorgsdata AS"', ""))
inv("missing-melding-versjon", "Melding without versjon", "use=required with fixed",
    once(BASE, ' versjon="56.0.0"', ""))
inv("missing-notifikasjon-guid", "notification 1 without notifikasjonGUID", "use=required",
    once(BASE, f'notifikasjonGUID="{B["n1"]}" ', ""))
inv("missing-tjenestestart-tjenestetype", "TjenesteStart without tjenesteType", "use=required",
    once(BASE, '<TjenesteStart tjenesteType="21" ', "<TjenesteStart "))
inv("missing-stopptil-hendelseguid", "MidlertidigStoppTil without hendelseGUID", "use=required",
    once(BASE, f' hendelseGUID="{B["h3"]}"', ""))
inv("missing-stoppfra-stoppid", "MidlertidigStoppFra without midlertidigStoppID", "use=required",
    once(BASE, f'tjenesteOrgNr="{ORG_BERGEN}" midlertidigStoppID="STOPP-000031"\n                         hendelseDato="2024-03-10"',
         f'tjenesteOrgNr="{ORG_BERGEN}"\n                         hendelseDato="2024-03-10"'))
inv("missing-utforerendret-orgnr", "TjenesteutforerEndret without tjenesteOrgNr", "use=required (optional elsewhere)",
    once(BASE, f'<TjenesteutforerEndret tjenesteType="21" tjenesteID="LTO-000117" tjenesteOrgNr="{ORG_PROVIDER}"',
         '<TjenesteutforerEndret tjenesteType="21" tjenesteID="LTO-000117"'))
inv("missing-slutt-tjenesteid", "TjenesteSlutt without tjenesteID", "use=required",
    once(BASE, '<TjenesteSlutt tjenesteType="21" tjenesteID="LTO-000117" ', '<TjenesteSlutt tjenesteType="21" '))
inv("missing-bruker-fid", "the first Bruker without fid", "use=required",
    first_bruker(BRUKER1.replace(' fid="' + P1 + '"', "")))
inv("missing-kontaktperson-epost1", "the type 16 Kontaktperson without meldEpost1", "use=required",
    once(BASE, ' meldEpost1="ingrid.haugland@bergen.kommune.example"', ""))
inv("missing-kommune-nr", "Kommune without kommuneNr", "use=required",
    once(BASE, '<Kommune kommuneNr="4601"/>', "<Kommune/>"))
# prohibited attributes
for attr, value, where, what in [
    ("lopenr", "12", ROOT, "Melding@lopenr"),
    ("uttakDato", "2024-07-01", ROOT, "Melding@uttakDato"),
]:
    inv(f"prohibited-melding-{attr.lower()}", f'{what}="{value}"', "use=prohibited",
        once(BASE, where, f'{where} {attr}="{value}"'))
inv("prohibited-kommune-orgnr", f'Kommune@kommuneOrgNr="{ORG_BERGEN}"', "use=prohibited",
    once(BASE, '<Kommune kommuneNr="4601"/>', f'<Kommune kommuneNr="4601" kommuneOrgNr="{ORG_BERGEN}"/>'))
for attr, value in [("kjonn", "2"), ("komNrHjem", "4601"), ("fodselsar", "1940")]:
    inv(f"prohibited-bruker-{attr.lower()}", f'the first Bruker with {attr}="{value}"', "use=prohibited",
        first_bruker(BRUKER1.replace(" typeID=", " " + attr + '="' + value + '" typeID=')))
# fixed values
inv("fixed-versjon", 'versjon="56.0.1"', "fixed=56.0.0", once(BASE, 'versjon="56.0.0"', 'versjon="56.0.1"'))
inv("fixed-versjon-whitespace", 'versjon=" 56.0.0" (leading space)', "fixed on xs:string compares with whitespace preserved",
    once(BASE, 'versjon="56.0.0"', 'versjon=" 56.0.0"'))
inv("fixed-meldingstype", 'meldingstype="B" (Satsvis melding)', "fixed=K",
    once(BASE, 'meldingstype="K"', 'meldingstype="B"'))
# undeclared attributes and foreign namespaces
inv("undeclared-attribute", 'the first Bruker with fodselsdato="150340"', "no attribute wildcard",
    first_bruker(BRUKER1.replace(" typeID=", ' fodselsdato="150340" typeID=')))
inv("foreign-namespace-attribute", 'Melding with epj:eksportId="17" in namespace urn:example:epj',
    "no attribute wildcard (only xsi: is implicitly allowed)",
    once(BASE, ROOT, f'{ROOT} xmlns:epj="urn:example:epj" epj:eksportId="17"'))
inv("qualified-attribute", "Melding with ipl:lokalident (attribute in the target namespace)",
    "attributeFormDefault=unqualified",
    once(BASE, ROOT, f'{ROOT} xmlns:ipl="{NS}" ipl:lokalident="x"'))
inv("xml-lang-attribute", 'Kontaktperson with xml:lang="nb"', "xml: attributes are not implicitly allowed",
    once(BASE, '<Kontaktperson kontPerson="Per Nilsen"', '<Kontaktperson xml:lang="nb" kontPerson="Per Nilsen"'))
inv("xsi-nil-false", 'Melding with xsi:nil="false"', "xsi:nil on a non-nillable element (even false)",
    once(BASE, ROOT, f'{ROOT} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="false"'))
inv("xsi-unknown-attribute", 'Melding with xsi:version="1"', "only xsi:type/nil/schemaLocation/noNamespaceSchemaLocation exist",
    once(BASE, ROOT, f'{ROOT} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:version="1"'))
# dateTime
inv("datetime-month-13", 'notifikasjonTid="2024-13-01T10:00:00"', "xs:dateTime month range",
    once(BASE, 'notifikasjonTid="2024-01-09T06:00:00+01:00"', 'notifikasjonTid="2024-13-01T10:00:00"'))
inv("datetime-space-separator", 'notifikasjonTid="2024-01-01 10:00:00"', "xs:dateTime lexical form (T separator)",
    once(BASE, 'notifikasjonTid="2024-01-09T06:00:00+01:00"', 'notifikasjonTid="2024-01-01 10:00:00"'))
inv("datetime-timezone-no-colon", 'hendelseRegTid="2024-01-08T13:42:10+0100"', "xs:dateTime timezone form",
    once(BASE, 'hendelseRegTid="2024-01-08T13:42:10+01:00"', 'hendelseRegTid="2024-01-08T13:42:10+0100"'))
inv("datetime-timezone-out-of-range", 'hendelseRegTid="2024-01-08T13:42:10+14:30"', "xs:dateTime timezone range (max 14:00)",
    once(BASE, 'hendelseRegTid="2024-01-08T13:42:10+01:00"', 'hendelseRegTid="2024-01-08T13:42:10+14:30"'))
inv("datetime-no-seconds", 'hendelseRegTid="2024-01-08T13:42"', "xs:dateTime seconds are required",
    once(BASE, 'hendelseRegTid="2024-01-08T13:42:10+01:00"', 'hendelseRegTid="2024-01-08T13:42"'))
inv("datetime-surrounding-spaces", 'notifikasjonTid=" 2024-01-09T06:00:00+01:00 "',
    "xs:dateTime whitespace: libxml2 does not collapse attribute values of date types",
    once(BASE, 'notifikasjonTid="2024-01-09T06:00:00+01:00"', 'notifikasjonTid=" 2024-01-09T06:00:00+01:00 "'))
# date
inv("date-feb-30", 'hendelseDato="2024-02-30"', "xs:date day range",
    once(BASE, 'hendelseDato="2024-01-08"', 'hendelseDato="2024-02-30"'))
inv("date-non-leap-feb-29", 'hendelseDato="2023-02-29"', "xs:date leap years",
    once(BASE, 'hendelseDato="2024-01-08"', 'hendelseDato="2023-02-29"'))
inv("date-no-zero-padding", 'hendelseDato="2024-1-5"', "xs:date lexical form",
    once(BASE, 'hendelseDato="2024-01-08"', 'hendelseDato="2024-1-5"'))
inv("date-with-time", 'hendelseDato="2024-01-08T00:00:00"', "xs:date has no time part",
    once(BASE, 'hendelseDato="2024-01-08"', 'hendelseDato="2024-01-08T00:00:00"'))
inv("date-surrounding-spaces", 'hendelseDato=" 2024-01-08 "',
    "xs:date whitespace: libxml2 does not collapse attribute values of date types",
    once(BASE, 'hendelseDato="2024-01-08"', 'hendelseDato=" 2024-01-08 "'))
# guid
inv("guid-too-short", "notifikasjonGUID of notification 1 one hex digit short", "nprx:guid pattern",
    once(BASE, f'notifikasjonGUID="{B["n1"]}"', f'notifikasjonGUID="{B["n1"][:-1]}"'))
inv("guid-non-hex", 'hendelseGUID with a "g"', "nprx:guid pattern",
    once(BASE, f'hendelseGUID="{B["h1"]}"', f'hendelseGUID="{B["h1"][:-1]}g"'))
inv("guid-unbalanced-brace", "pasientGUID with an opening brace only", "nprx:guid pattern alternatives",
    first_bruker(BRUKER1.replace(B["p1"], "{" + B["p1"])))
inv("guid-no-hyphens", "hendelseGUID of notification 2 as 32 hex digits without hyphens", "nprx:guid pattern",
    once(BASE, f'hendelseGUID="{B["h2"]}"', f'hendelseGUID="{B["h2"].replace("-", "")}"'))
inv("guid-empty-forrige", 'notifikasjonForrigeGUID=""', "nprx:guid pattern (empty string)",
    once(BASE, f'notifikasjonForrigeGUID="{EMPTY_GUID}"', 'notifikasjonForrigeGUID=""'))
inv("guid-surrounding-spaces", "notifikasjonGUID with a leading and a trailing space",
    "nprx:guid restricts xs:string: whitespace preserved, pattern fails",
    once(BASE, f'notifikasjonGUID="{B["n1"]}"', f'notifikasjonGUID=" {B["n1"]} "'))
# bydelNr
inv("bydel-empty", 'bydel=""', "nprx:bydelNr minLength=1",
    first_bruker(BRUKER1.replace('bydel="460103"', 'bydel=""')))
inv("bydel-seven-chars", 'bydel="4601031"', "nprx:bydelNr maxLength=6",
    first_bruker(BRUKER1.replace('bydel="460103"', 'bydel="4601031"')))
# identity constraints
inv("duplicate-notifikasjon-guid", "notification 2 reuses notification 1's notifikasjonGUID (chain adjusted)",
    "unique NotifikasjonP_ID", every(BASE, B["n2"], B["n1"]))
inv("duplicate-kommunenr", "two Kommune elements with kommuneNr 4601", "unique KommuneP_ID",
    once(BASE, '  <Kommune kommuneNr="4601"/>\n', '  <Kommune kommuneNr="4601"/>\n  <Kommune kommuneNr="4601"/>\n'))
inv("duplicate-kommunenr-charref", 'Kommune "4601" and Kommune "&#x34;601" (the same value after parsing)',
    "unique KommuneP_ID compares parsed values",
    once(BASE, '  <Kommune kommuneNr="4601"/>\n', '  <Kommune kommuneNr="4601"/>\n  <Kommune kommuneNr="&#x34;601"/>\n'))

# --- malformed: not well-formed -------------------------------------------
BOMB = """<!DOCTYPE Melding [
  <!ENTITY a "ha">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
"""
case("malformed-unclosed-tag.xml", "the </Notifikasjon> end tag of notification 5 is missing", "element nesting",
     once(BASE, "    </TjenesteSlutt>\n  </Notifikasjon>\n", "    </TjenesteSlutt>\n"))
case("malformed-mismatched-tag.xml", "<TjenesteStart> closed by </TjenesteSlutt>", "element nesting",
     once(BASE, "    </TjenesteStart>\n", "    </TjenesteSlutt>\n"))
case("malformed-undefined-entity.xml", "leverandor=\"Omsorgsdata&nbsp;AS\" (HTML entity, undeclared in XML)",
     "entity references", once(BASE, 'leverandor="Omsorgsdata AS"', 'leverandor="Omsorgsdata&nbsp;AS"'))
case("malformed-dtd-entity-bomb.xml",
     "internal DTD subset with nested entities (10x10x10) used in leverandor: a small billion-laughs",
     "entity expansion (libxml2 stops with 'entity reference loop')",
     once(once(BASE, "?>\n<Melding", "?>\n" + BOMB + "<Melding"), 'leverandor="Omsorgsdata AS"', 'leverandor="&d;"'))
case("malformed-non-xml-text.xml", "a CSV-like text file with a .xml name", "document element required",
     "Dette er ikke XML.\nkommune;antall\n4601;12\n")
case("malformed-empty-file.xml", "zero bytes", "document element required", b"")
case("malformed-truncated.xml", "the base cut off in the middle of an element", "end of input inside markup",
     BASE[: BASE.index("<MidlertidigStoppTil ") + 40])
case("malformed-invalid-utf8.xml", "declares UTF-8 but holds the ISO-8859-1 bytes of æøå",
     "character encoding", LATIN1.replace('encoding="ISO-8859-1"', 'encoding="UTF-8"').encode("iso-8859-1"))
case("malformed-duplicate-attribute.xml", "Kommune with kommuneNr twice", "attribute uniqueness (well-formedness)",
     once(BASE, '<Kommune kommuneNr="4601"/>', '<Kommune kommuneNr="4601" kommuneNr="4601"/>'))
case("malformed-duplicate-expanded-attribute.xml",
     "Melding with a:x and b:x where a and b are bound to the same namespace URI",
     "Namespaces in XML: expanded attribute names unique (libxml2: a non-fatal namespace error; "
     "the schema then rejects the undeclared attributes, exit 3)",
     once(BASE, ROOT, f'{ROOT} xmlns:a="urn:example:epj" xmlns:b="urn:example:epj" a:x="1" b:x="2"'))
case("malformed-undeclared-prefix.xml", "<epj:Kommentar/> with the prefix epj never declared",
     "Namespaces in XML: prefix must be declared (libxml2: a non-fatal namespace error; "
     "the schema then rejects the element, exit 3)",
     once(BASE, '  <Kommune kommuneNr="4601"/>\n', '  <Kommune kommuneNr="4601"/>\n  <epj:Kommentar/>\n'))
case("malformed-content-after-root.xml", "a second <Melding/> after the document element", "one document element",
     BASE + f'<Melding xmlns="{NS}"/>\n')
case("malformed-xml-declaration-not-first.xml", "a blank line before the <?xml?> declaration", "XML declaration position",
     "\n" + BASE)


# ---------------------------------------------------------------- write + verify

INTRO = """# Schema-agreement corpus for IPLOS 56.0.0

Small hand-shaped IPLOS messages (`XPR(ipl).xsd`, namespace
`http://www.npr.no/xmlstds/56_0_0_ipl`) used by `harness/tests/xsd_agreement.rs` to prove that
`iplos-harness check` gives the same schema verdict as

    xmllint --noout --schema shared/spec/iplos-56.0.0/XPR(ipl).xsd FILE

and that it does not call content errors schema errors.

## Naming convention (enforced by the test)

| prefix | xmllint | `iplos-harness check` |
|---|---|---|
| `valid-` | valid | `"conformant": true`, exit 0, no findings of category `wellformed`/`schema` |
| `schemaok-` | valid | no `wellformed`/`schema` findings, at least one `content` finding |
| `invalid-` | invalid (well-formed, one schema defect) | at least one `wellformed`/`schema` finding |
| `malformed-` | invalid (not well-formed, or not namespace-well-formed) | at least one `wellformed`/`schema` finding |

Every `invalid-` file is `valid-mutation-base.xml` with exactly one change (the
`schemaok-` files likewise, except where noted). Person ids are Test-Norge synthetic
fødselsnummer (month + 80) with valid check digits; kommuner and their organisation numbers are
real (0301 Oslo 958935420, 4601 Bergen 964338531, 1151 Utsira 964979901), `998877660` is a
synthetic, checksum-valid provider; e-mail domains are under the reserved `.example` TLD.

## Regenerating

The files are committed; the tests read the committed bytes (`.gitattributes` keeps git from
touching them). `make_mutations.py` (Python 3, stdlib only) rewrites every `*.xml` here, runs
xmllint on each and rewrites this README with the verdict xmllint actually gave. It exits non-zero
if a verdict contradicts a file's prefix. Verdicts below were observed with
`@XMLLINT_VERSION@`; exit 1 = parse error, exit 3 = validation error.

## How libxml2 treats this schema (what the checker must match)

- **Whitespace in date types is not collapsed.** XSD says xs:date/xs:dateTime collapse
  whitespace, but libxml2 rejects `hendelseDato=" 2024-01-08 "` and
  `notifikasjonTid=" 2024-01-09T06:00:00+01:00 "` (also a single leading or trailing space, tab or
  newline). The xs:string-based types keep whitespace as the spec says: a guid with spaces fails
  its pattern, `versjon=" 56.0.0"` fails the fixed value, `bydel="   "` is valid (length 3).
- **Dates and times.** Timezone must be `Z` or `±hh:mm` with at most `±14:00` (`+0100`, `+01`,
  `+14:01`, `+13:60`, lower-case `z` fail); seconds required, fractions of any length allowed
  (`.` alone fails); `24:00:00` is accepted, `24:00:01` and second `60` are not; a lower-case `t`
  fails. xs:date accepts a timezone (`2024-01-05Z`, `2024-01-05+01:00`), negative years and
  5-digit years, rejects year `0000` and zero-padded 5-digit years (`02024`). Leap days follow the
  Gregorian rule (2024-02-29 and 2000-02-29 valid, 2023-02-29 and 1900-02-29 invalid); day ranges
  are per month (2024-04-31 invalid).
- **GUIDs** (`nprx:guid`, a pattern on xs:string): both `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` and
  `{...}` forms, upper or lower case; a lone `{` or `}`, no hyphens, a `g`, a missing digit or the
  empty string fail.
- **Identity constraints compare strings exactly**: two Notifikasjon whose GUIDs differ only in
  case or braces are not duplicates, nor are kommuneNr `4601` and ` 4601`; `&#x34;601` and `4601`
  are (character references are resolved first). The five hendelseGUID unique constraints are
  scoped to one Notifikasjon, where each event occurs at most once, so they can never fire: the
  same hendelseGUID in two notifications is schema-valid.
- **Any global element can be the root.** All elements are global, so a document whose root is
  `Notifikasjon`, `Kommune` or `Bruker` validates.
- **Empty content is strict.** `Bruker` and `Kontaktperson` and `Kommune` have empty content:
  `<Bruker ...>` + newline + `</Bruker>` is invalid (whitespace counts as character content), a
  CDATA section (even `<![CDATA[]]>`) is invalid, comments and processing instructions are fine.
  In element-only content (`Melding`, `Notifikasjon`, the events) whitespace text and `&#32;` are
  fine, but a CDATA section, even an empty one or one holding only spaces, is rejected.
- **Attributes.** Only `xsi:schemaLocation` and `xsi:noNamespaceSchemaLocation` are accepted
  without a declaration (their value is not checked; xmllint with `--schema` does not load it);
  `xsi:nil` (also `"false"`), an unknown `xsi:` attribute, a bad `xsi:type`, `xml:lang`,
  `xml:space`, any attribute in another namespace and an attribute prefixed with the target
  namespace are rejected. Empty values of required xs:string attributes (`leverandor=""`, `fid=""`)
  are valid.
- **Not well-formed vs. schema.** Parse errors end with exit 1 and no schema validation.
  An undeclared prefix and a duplicate expanded attribute name are libxml2 *namespace errors*:
  parsing goes on and only the schema decides: `<epj:Kommentar/>` with `epj` undeclared fails
  as an unexpected element, but `a:schemaLocation` plus `b:schemaLocation` with `a` and `b` both
  bound to the xsi namespace **validates** (exit 0) although the document is not
  namespace-well-formed (no fixture: a checker that rejects it disagrees with xmllint). A small
  billion-laughs (10×10×10 expansions) is stopped by libxml2 as "Detected an entity reference
  loop" (exit 1). A DOCTYPE without
  entities, an internal entity used in an attribute, an ATTLIST default (not applied: no
  `--dtdattr`) and an external DTD id (not loaded) all leave the document valid.
- **Encodings.** ISO-8859-1 (also spelled `latin1`), windows-1252, UTF-16 and a UTF-8 BOM are
  accepted; UTF-8 declared (or defaulted) with a Latin-1 byte is a fatal parse error; an unknown
  encoding name is a fatal error; `version="1.1"` is accepted with a warning.

## Files (@COUNT@)
"""


# --- found by the differential run (model/examples/differential) --------------
# Each is the smallest file showing one disagreement the checker had with xmllint.
DECL = '<?xml version="1.0" encoding="UTF-8"?>'
BODY = BASE.split("\n", 1)[1]


def found(name, what, construct, content):
    """Inserts a case after the last one of the same prefix, so the README keeps its sections."""
    prefix = name.split("-", 1)[0]
    at = max(i for i, c in enumerate(CASES) if c[0].split("-", 1)[0] == prefix) + 1
    CASES.insert(at, (name, what, construct, content))


found("valid-xml-stylesheet-pi-first.xml",
      "a leading <?xml-stylesheet ... encoding=\"ISO-8859-1\"?> and no XML declaration, UTF-8 æøå",
      "a processing instruction is not the XML declaration (encoding sniffing)",
      '<?xml-stylesheet href="v.xsl" encoding="ISO-8859-1"?>\n' + UTF8_NORWEGIAN.split("\n", 1)[1])
found("valid-bom-and-iso-8859-1.xml", "a UTF-8 byte order mark before a declaration of ISO-8859-1, Latin-1 æøå",
      "libxml2 honours the declared encoding after a BOM", b"\xef\xbb\xbf" + LATIN1.encode("iso-8859-1"))
found("valid-decl-utf8-standalone-without-blank.xml",
      'encoding="UTF-8"standalone="no" (no blank between them)',
      "libxml2 needs no blank before standalone after a UTF-8 encoding declaration",
      '<?xml version="1.0" encoding="UTF-8"standalone="no"?>\n' + BODY)
found("valid-date-negative-leap-year.xml", "hendelseDato -0004-02-29 on the first event",
      "xs:date: libxml2's leap rule on the signed year (-0004 is a leap year)",
      once(BASE, 'hendelseDato="2024-01-08"', 'hendelseDato="-0004-02-29"'))
found("invalid-date-negative-year-not-leap.xml", "hendelseDato -0001-02-29 on the first event",
      "xs:date: -0001 is not a leap year for libxml2",
      once(BASE, 'hendelseDato="2024-01-08"', 'hendelseDato="-0001-02-29"'))
found("invalid-charref-space-in-bruker.xml", "the first Bruker holds only &#x20;",
      "empty content: a whitespace character reference is character content",
      BASE.replace(BRUKER1, BRUKER1[:-2] + ">&#x20;</Bruker>", 1))
found("malformed-decl-misspelt-encoding.xml", "encodin=\"UTF-8\" in the XML declaration",
      "XML declaration pseudo-attributes", BASE.replace('encoding="UTF-8"', 'encodin="UTF-8"', 1))
found("malformed-decl-no-version.xml", "<?xml encoding=\"UTF-8\"?>", "XML declaration: version required",
      '<?xml encoding="UTF-8"?>\n' + BODY)
found("malformed-decl-standalone-maybe.xml", "standalone=\"maybe\"", "XML declaration: standalone yes or no",
      '<?xml version="1.0" standalone="maybe"?>\n' + BODY)
found("malformed-decl-encoding-leading-space.xml", "encoding=\" UTF-8\"", "XML declaration: EncName",
      '<?xml version="1.0" encoding=" UTF-8"?>\n' + BODY)
found("malformed-decl-nul.xml", "a NUL byte inside the XML declaration", "XML declaration: characters",
      '<?xml version="1.0" encoding="UTF-8"\0?>\n' + BODY)
found("malformed-pi-without-target.xml", "<? pi?> after the declaration", "processing instruction target",
      DECL + "<? pi?>\n" + BODY)
found("malformed-attributes-without-blank.xml", "versjon=\"56.0.0\"meldingstype=\"K\" on Melding",
      "a blank is required between attributes",
      BASE.replace('versjon="56.0.0" meldingstype="K"', 'versjon="56.0.0"meldingstype="K"', 1))
found("malformed-attribute-name-paren.xml", "an attribute named b(c on Melding", "attribute names",
      BASE.replace('versjon="56.0.0"', 'b(c="1" versjon="56.0.0"', 1))
found("malformed-attribute-name-nul.xml", "a NUL byte in an attribute name on Melding", "attribute names",
      BASE.replace('versjon="56.0.0"', 'b\0c="1" versjon="56.0.0"', 1))
found("malformed-cdata-end-in-content.xml", "]]> as text between Melding's children", "']]>' in content",
      BASE.replace("  <Kommune ", "  ]]>\n  <Kommune ", 1))
found("malformed-two-doctypes.xml", "<!DOCTYPE Melding> twice", "one document type declaration",
      DECL + "<!DOCTYPE Melding><!DOCTYPE Melding>\n" + BODY)
found("malformed-two-boms.xml", "two UTF-8 byte order marks", "one byte order mark",
      b"\xef\xbb\xbf\xef\xbb\xbf" + BASE.encode())
found("malformed-charref-space-before-root.xml", "&#x20; between the declaration and Melding",
      "character references are content: none outside the root", DECL + "&#x20;\n" + BODY)
found("valid-datetime-whitespace-after-timezone.xml", "notifikasjonTid ends in a tab (&#9;) after +01:00",
      "xs:dateTime: libxml2 accepts whitespace after the timezone (not before the value, not without a timezone)",
      BASE.replace('notifikasjonTid="2024-01-09T06:00:00+01:00"', 'notifikasjonTid="2024-01-09T06:00:00+01:00&#9;"', 1))
found("malformed-decl-unsupported-encoding-far.xml", "an unsupported encoding named after 600 blanks in the declaration",
      "the encoding declaration is read whole, however long", '<?xml version="1.0"' + " " * 600 + 'encoding="EBCDIC-X"?>\n' + BODY)

def xmllint(xsd, name):
    r = subprocess.run(["xmllint", "--noout", "--schema", xsd, name], cwd=HERE, capture_output=True)
    err = r.stderr.decode("utf-8", "replace")
    lines = [l for l in err.splitlines() if l.strip() and not l.endswith(" validates")]
    first = lines[0] if lines else ""
    m = re.match(r"^[^:]*:(\d+): (?:element \w+: )?(Schemas validity error|parser error|namespace error) : (.*)$", first)
    if m:
        first = f"line {m.group(1)}: {m.group(2)}: {m.group(3)}"
    first = re.sub(r"'\(\[0-9a-fA-F\]\{8\}.*\}\)'", "'<guid pattern>'", first)
    first = first.replace("{" + NS + "}", "{ipl}")
    return r.returncode, first


def main():
    xsd = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_XSD)
    version = subprocess.run(["xmllint", "--version"], capture_output=True).stderr.decode().splitlines()[0]
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate file names"
    for old in os.listdir(HERE):
        if old.endswith(".xml"):
            os.remove(os.path.join(HERE, old))
    for name, _, _, content in CASES:
        assert content is not None, name
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)

    lines = []
    bad = []
    section = None
    titles = {
        "valid": "Valid: schema-valid and content-correct (`valid-`)",
        "schemaok": "Schema-valid but content-wrong (`schemaok-`)",
        "invalid": "Schema-invalid, one defect each (`invalid-`)",
        "malformed": "Not well-formed (`malformed-`)",
    }
    for name, what, construct, _ in CASES:
        prefix = name.split("-", 1)[0]
        if prefix != section:
            section = prefix
            lines.append(f"\n### {titles[prefix]}\n")
        rc, first = xmllint(xsd, name)
        valid = rc == 0
        if rc not in (0, 1, 3):
            bad.append(f"{name}: xmllint exit {rc}: {first}")
        if valid != (prefix in ("valid", "schemaok")):
            bad.append(f"{name}: xmllint says {'valid' if valid else 'invalid'} ({first})")
        verdict = "**valid**" if valid else f"**invalid** (exit {rc}: {first})"
        lines.append(f"- `{name}` — {verdict} — {what}. Exercises: {construct}.")
    with open(os.path.join(HERE, "README.md"), "w", encoding="utf-8") as f:
        f.write(INTRO.replace("@XMLLINT_VERSION@", version).replace("@COUNT@", str(len(CASES))))
        f.write("\n".join(lines) + "\n")
    print(f"{len(CASES)} files written; README.md updated ({version})")
    if bad:
        print("prefix/verdict mismatches:\n  " + "\n  ".join(bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
