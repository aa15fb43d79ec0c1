//! Edits on the serialized message: schema- and well-formedness defects cannot be expressed
//! in the [`Melding`](iplos_model::message::Melding) model, so they are queued as [`Edit`]s
//! while the defects are applied and carried out on the bytes the model's writer produced.
//!
//! The scanner understands exactly what `write_message` writes (an XML declaration,
//! elements with double-quoted attributes, whitespace): it is not a general XML parser.

use super::DefectError;

/// Where an edit applies, in terms of the message's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// The root element.
    Root,
    /// The n-th `Notifikasjon` (0-based).
    Notification(usize),
    /// The (first) event element of the n-th `Notifikasjon`.
    Event(usize),
    /// The `Bruker` of the event of the n-th `Notifikasjon`.
    Bruker(usize),
    /// The k-th `Kontaktperson`.
    Kontaktperson(usize),
    /// The k-th `Kommune`.
    Kommune(usize),
}

/// One change to the serialized message.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    /// Sets an attribute to raw bytes (written between double quotes as they are, so they
    /// may hold an unescaped `&` or an undefined entity); adds it when missing.
    SetAttr {
        loc: Loc,
        name: &'static str,
        raw: Vec<u8>,
    },
    /// Removes an attribute.
    RemoveAttr { loc: Loc, name: &'static str },
    /// Re-encodes an attribute value from UTF-8 to ISO-8859-1 bytes.
    Latin1Attr { loc: Loc, name: &'static str },
    /// Inserts bytes right after the start tag.
    InsertAfterStartTag { loc: Loc, bytes: Vec<u8> },
    /// Inserts bytes right after the element.
    InsertAfter { loc: Loc, bytes: Vec<u8> },
    /// Inserts a copy of the element `src` (optionally renamed) after the element `after`.
    CopyAfter {
        src: Loc,
        after: Loc,
        rename: Option<&'static str>,
    },
    /// Inserts a copy of the element `src` just before the end tag of the root.
    CopyToEnd { src: Loc },
    /// Gives an empty element (`<X .../>`) the content `bytes` (`<X ...>bytes</X>`).
    Expand { loc: Loc, bytes: Vec<u8> },
    /// Removes the element.
    Remove { loc: Loc },
    /// Removes every child of the root with this name.
    RemoveAll { name: &'static str },
    /// Makes the element the document's root: the XML declaration, then the element with
    /// the root's namespace declaration and the given attributes set.
    Extract {
        loc: Loc,
        set: Vec<(&'static str, String)>,
    },
    /// Cuts the document inside its root element, at a position derived from `draw`,
    /// never inside a character or an entity reference.
    Truncate { draw: u64 },
}

/// An element found by the scanner.
#[derive(Debug, Clone)]
struct Element {
    name: String,
    /// Offset of `<`.
    start: usize,
    /// Offset just after the start tag's `>`.
    tag_end: usize,
    /// Offset just after the element (after `/>` or the end tag's `>`).
    end: usize,
    /// Whether the start tag is `<X .../>`.
    empty: bool,
    depth: usize,
    parent: Option<usize>,
}

fn err(what: impl Into<String>) -> DefectError {
    DefectError::Edit(what.into())
}

/// Finds every element of the document.
fn scan(doc: &[u8]) -> Result<Vec<Element>, DefectError> {
    let mut out: Vec<Element> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(off) = doc[i..].iter().position(|&b| b == b'<') {
        let lt = i + off;
        match doc.get(lt + 1) {
            Some(b'?') | Some(b'!') => {
                let close = find(doc, lt, b">").ok_or_else(|| err("unclosed declaration"))?;
                i = close + 1;
            }
            Some(b'/') => {
                let close = find(doc, lt, b">").ok_or_else(|| err("unclosed end tag"))?;
                let open = stack
                    .pop()
                    .ok_or_else(|| err("end tag without start tag"))?;
                out[open].end = close + 1;
                i = close + 1;
            }
            _ => {
                let close = tag_close(doc, lt).ok_or_else(|| err("unclosed start tag"))?;
                let name_end = doc[lt + 1..close]
                    .iter()
                    .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
                    .map_or(close, |p| lt + 1 + p);
                let name = String::from_utf8_lossy(&doc[lt + 1..name_end]).into_owned();
                let empty = doc[close - 1] == b'/';
                out.push(Element {
                    name,
                    start: lt,
                    tag_end: close + 1,
                    end: close + 1,
                    empty,
                    depth: stack.len(),
                    parent: stack.last().copied(),
                });
                if !empty {
                    stack.push(out.len() - 1);
                }
                i = close + 1;
            }
        }
    }
    if !stack.is_empty() {
        return Err(err("the document ends inside an element"));
    }
    Ok(out)
}

fn find(doc: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    doc[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The offset of the `>` closing the start tag at `lt`, skipping quoted values.
fn tag_close(doc: &[u8], lt: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in doc.iter().enumerate().skip(lt + 1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

fn nth_child(els: &[Element], parent: usize, name: Option<&str>, n: usize) -> Option<usize> {
    els.iter()
        .enumerate()
        .filter(|(_, e)| e.parent == Some(parent) && name.is_none_or(|x| e.name == x))
        .nth(n)
        .map(|(i, _)| i)
}

fn resolve(els: &[Element], loc: Loc) -> Result<usize, DefectError> {
    let root = els
        .iter()
        .position(|e| e.depth == 0)
        .ok_or_else(|| err("the document has no root element"))?;
    let found = match loc {
        Loc::Root => Some(root),
        Loc::Notification(n) => nth_child(els, root, Some("Notifikasjon"), n),
        Loc::Event(n) => {
            nth_child(els, root, Some("Notifikasjon"), n).and_then(|p| nth_child(els, p, None, 0))
        }
        Loc::Bruker(n) => nth_child(els, root, Some("Notifikasjon"), n)
            .and_then(|p| nth_child(els, p, None, 0))
            .and_then(|e| nth_child(els, e, Some("Bruker"), 0)),
        Loc::Kontaktperson(k) => nth_child(els, root, Some("Kontaktperson"), k),
        Loc::Kommune(k) => nth_child(els, root, Some("Kommune"), k),
    };
    found.ok_or_else(|| err(format!("{loc:?} is not in the document")))
}

/// The value range of attribute `name` in the start tag of `e`, if present, with the
/// range of the whole ` name="value"` text.
fn attr_range(
    doc: &[u8],
    e: &Element,
    name: &str,
) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let needle = format!(" {name}=\"");
    let tag = &doc[e.start..e.tag_end];
    let p = tag
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())?;
    let vstart = e.start + p + needle.len();
    let vend = vstart + doc[vstart..e.tag_end].iter().position(|&b| b == b'"')?;
    Some((vstart..vend, e.start + p..vend + 1))
}

/// Where a new attribute goes: before `/>` or `>`.
fn attr_insert_point(e: &Element) -> usize {
    if e.empty {
        e.tag_end - 2
    } else {
        e.tag_end - 1
    }
}

/// Applies the edits in order.
pub(crate) fn apply(doc: &mut Vec<u8>, edits: &[Edit]) -> Result<(), DefectError> {
    for edit in edits {
        apply_one(doc, edit)?;
    }
    Ok(())
}

fn apply_one(doc: &mut Vec<u8>, edit: &Edit) -> Result<(), DefectError> {
    let els = scan(doc)?;
    match edit {
        Edit::SetAttr { loc, name, raw } => {
            let e = &els[resolve(&els, *loc)?];
            match attr_range(doc, e, name) {
                Some((v, _)) => {
                    doc.splice(v, raw.iter().copied());
                }
                None => {
                    let mut ins = format!(" {name}=\"").into_bytes();
                    ins.extend_from_slice(raw);
                    ins.push(b'"');
                    let at = attr_insert_point(e);
                    doc.splice(at..at, ins);
                }
            }
        }
        Edit::RemoveAttr { loc, name } => {
            let e = &els[resolve(&els, *loc)?];
            let (_, whole) =
                attr_range(doc, e, name).ok_or_else(|| err(format!("no attribute {name}")))?;
            doc.drain(whole);
        }
        Edit::Latin1Attr { loc, name } => {
            let e = &els[resolve(&els, *loc)?];
            let (v, _) =
                attr_range(doc, e, name).ok_or_else(|| err(format!("no attribute {name}")))?;
            let text = String::from_utf8_lossy(&doc[v.clone()]).into_owned();
            let latin1: Vec<u8> = text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect();
            doc.splice(v, latin1);
        }
        Edit::InsertAfterStartTag { loc, bytes } => {
            let e = &els[resolve(&els, *loc)?];
            if e.empty {
                return Err(err(format!("{loc:?} is an empty element")));
            }
            let at = e.tag_end;
            doc.splice(at..at, bytes.iter().copied());
        }
        Edit::InsertAfter { loc, bytes } => {
            let at = els[resolve(&els, *loc)?].end;
            doc.splice(at..at, bytes.iter().copied());
        }
        Edit::CopyAfter { src, after, rename } => {
            let s = &els[resolve(&els, *src)?];
            let mut copy = doc[s.start..s.end].to_vec();
            if let Some(new) = rename {
                copy = renamed(&copy, &s.name, new);
            }
            let mut ins = b"\n    ".to_vec();
            ins.extend_from_slice(&copy);
            let at = els[resolve(&els, *after)?].end;
            doc.splice(at..at, ins);
        }
        Edit::CopyToEnd { src } => {
            let s = &els[resolve(&els, *src)?];
            let mut ins = b"  ".to_vec();
            ins.extend_from_slice(&doc[s.start..s.end]);
            ins.push(b'\n');
            let root = &els[resolve(&els, Loc::Root)?];
            let at = end_tag_start(doc, root)?;
            doc.splice(at..at, ins);
        }
        Edit::Expand { loc, bytes } => {
            let e = &els[resolve(&els, *loc)?];
            if !e.empty {
                return Err(err(format!("{loc:?} is not an empty element")));
            }
            let mut ins = b">".to_vec();
            ins.extend_from_slice(bytes);
            ins.extend_from_slice(format!("</{}>", e.name).as_bytes());
            doc.splice(e.tag_end - 2..e.tag_end, ins);
        }
        Edit::Remove { loc } => {
            let e = &els[resolve(&els, *loc)?];
            doc.drain(e.start..e.end);
        }
        Edit::RemoveAll { name } => {
            let root = resolve(&els, Loc::Root)?;
            let mut ranges: Vec<(usize, usize)> = els
                .iter()
                .filter(|e| e.parent == Some(root) && e.name == *name)
                .map(|e| {
                    // Take the indentation and the line end with the element.
                    let mut s = e.start;
                    while s > 0 && doc[s - 1] == b' ' {
                        s -= 1;
                    }
                    let end = if doc.get(e.end) == Some(&b'\n') {
                        e.end + 1
                    } else {
                        e.end
                    };
                    (s, end)
                })
                .collect();
            ranges.reverse();
            for (s, e) in ranges {
                doc.drain(s..e);
            }
        }
        Edit::Extract { loc, set } => {
            let root = &els[resolve(&els, Loc::Root)?];
            let ns = attr_range(doc, root, "xmlns")
                .map(|(v, _)| doc[v].to_vec())
                .ok_or_else(|| err("the root has no namespace declaration"))?;
            let e = &els[resolve(&els, *loc)?];
            let body = doc[e.start..e.end].to_vec();
            let mut new = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec();
            new.extend_from_slice(&body);
            new.push(b'\n');
            *doc = new;
            apply_one(
                doc,
                &Edit::SetAttr {
                    loc: Loc::Root,
                    name: "xmlns",
                    raw: ns,
                },
            )?;
            for (name, value) in set {
                apply_one(
                    doc,
                    &Edit::SetAttr {
                        loc: Loc::Root,
                        name,
                        raw: value.clone().into_bytes(),
                    },
                )?;
            }
        }
        Edit::Truncate { draw } => {
            let root = &els[resolve(&els, Loc::Root)?];
            let lo = root.tag_end;
            // Up to, not including, the `>` of the root's end tag.
            let hi = root.end - 1;
            if hi <= lo {
                return Err(err("the root element is empty"));
            }
            let span = u64::try_from(hi - lo).unwrap_or(u64::MAX);
            let mut cut = lo + usize::try_from(draw % span).unwrap_or(0);
            // Never inside a UTF-8 character...
            while cut > lo && (doc[cut] & 0xC0) == 0x80 {
                cut -= 1;
            }
            // ... nor inside an entity or character reference.
            if let Some(amp) = doc[lo..cut].iter().rposition(|&b| b == b'&') {
                let amp = lo + amp;
                if !doc[amp..cut].contains(&b';') {
                    cut = amp;
                }
            }
            doc.truncate(cut);
        }
    }
    Ok(())
}

fn end_tag_start(doc: &[u8], e: &Element) -> Result<usize, DefectError> {
    doc[..e.end]
        .windows(2)
        .rposition(|w| w == b"</")
        .filter(|&p| p >= e.tag_end)
        .ok_or_else(|| err(format!("{} has no end tag", e.name)))
}

/// The element bytes with its start and end tag renamed.
fn renamed(el: &[u8], old: &str, new: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(el.len() + 2 * new.len());
    out.push(b'<');
    out.extend_from_slice(new.as_bytes());
    let rest = &el[1 + old.len()..];
    let close = format!("</{old}>");
    if rest.ends_with(close.as_bytes()) {
        out.extend_from_slice(&rest[..rest.len() - close.len()]);
        out.extend_from_slice(format!("</{new}>").as_bytes());
    } else {
        out.extend_from_slice(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<?xml version=\"1.0\"?>\n<Melding xmlns=\"urn:x\" a=\"1\">\n  <Notifikasjon b=\"2\">\n    <E c=\"3\">\n      <Bruker d=\"4\"/>\n    </E>\n  </Notifikasjon>\n  <Kommune k=\"x\"/>\n</Melding>\n";

    fn run(edit: Edit) -> String {
        let mut d = DOC.as_bytes().to_vec();
        apply(&mut d, &[edit]).unwrap();
        String::from_utf8(d).unwrap()
    }

    #[test]
    fn attributes() {
        let s = run(Edit::SetAttr {
            loc: Loc::Bruker(0),
            name: "d",
            raw: b"&x;".to_vec(),
        });
        assert!(s.contains("<Bruker d=\"&x;\"/>"), "{s}");
        let s = run(Edit::SetAttr {
            loc: Loc::Bruker(0),
            name: "z",
            raw: b"9".to_vec(),
        });
        assert!(s.contains("<Bruker d=\"4\" z=\"9\"/>"), "{s}");
        let s = run(Edit::RemoveAttr {
            loc: Loc::Notification(0),
            name: "b",
        });
        assert!(s.contains("  <Notifikasjon>\n"), "{s}");
    }

    #[test]
    fn elements() {
        let s = run(Edit::CopyAfter {
            src: Loc::Event(0),
            after: Loc::Event(0),
            rename: Some("S"),
        });
        assert!(
            s.contains("</E>\n    <S c=\"3\">\n      <Bruker d=\"4\"/>\n    </S>"),
            "{s}"
        );
        let s = run(Edit::Expand {
            loc: Loc::Bruker(0),
            bytes: b" ".to_vec(),
        });
        assert!(s.contains("<Bruker d=\"4\"> </Bruker>"), "{s}");
        let s = run(Edit::RemoveAll { name: "Kommune" });
        assert!(s.ends_with("</Notifikasjon>\n</Melding>\n"), "{s}");
        let s = run(Edit::CopyToEnd {
            src: Loc::Kommune(0),
        });
        assert!(
            s.ends_with("<Kommune k=\"x\"/>\n  <Kommune k=\"x\"/>\n</Melding>\n"),
            "{s}"
        );
        let s = run(Edit::Extract {
            loc: Loc::Notification(0),
            set: vec![("b", "7".into())],
        });
        assert!(
            s.starts_with(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Notifikasjon b=\"7\" xmlns=\"urn:x\">"
            ),
            "{s}"
        );
    }

    #[test]
    fn truncation_stays_inside_the_root() {
        for draw in 0..200 {
            let s = run(Edit::Truncate { draw });
            assert!(s.len() > DOC.find("a=\"1\">").unwrap());
            assert!(
                !s.ends_with("</Melding>") && !s.ends_with("</Melding>\n"),
                "{s}"
            );
        }
    }

    /// Every cut the truncation can make in a real message is reported as WF03 alone.
    #[test]
    fn every_cut_of_a_sample_is_wf03() {
        use iplos_model::rules::{self, CheckOptions};
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../model/tests/documents/schema/valid-mutation-base.xml"
        );
        let (m, _) =
            rules::read_message(&std::fs::read(path).unwrap()[..], &CheckOptions::default());
        let mut doc = iplos_model::message::write_message(
            &m,
            Vec::new(),
            iplos_model::message::OutputEncoding::Utf8,
        )
        .unwrap();
        // A multi-byte character and an entity, so those guards are exercised.
        let at = doc.windows(9).position(|w| w == b"Haugland\"").unwrap() + 8;
        doc.splice(at..at, "ø &amp; Ø".bytes());
        let els = scan(&doc).unwrap();
        let root = &els[resolve(&els, Loc::Root).unwrap()];
        let span = (root.end - 1 - root.tag_end) as u64;
        for draw in 0..span {
            let mut d = doc.clone();
            apply(&mut d, &[Edit::Truncate { draw }]).unwrap();
            let found: Vec<&str> = rules::check(&d[..], &CheckOptions::default())
                .findings
                .iter()
                .map(|f| f.rule)
                .collect();
            assert_eq!(
                found,
                ["WF03"],
                "cut at {draw}: {:?}",
                String::from_utf8_lossy(&d[d.len() - 30..])
            );
        }
    }
}
