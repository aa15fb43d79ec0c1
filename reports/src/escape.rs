//! The one place markup is escaped: HTML (the pages and their inline SVG, through
//! [`crate::html::esc`]) and XML (JUnit, through [`crate::junit::text`] and
//! [`crate::junit::attr`]).

/// Where escaped text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Markup {
    /// HTML element content or a double- or single-quoted attribute: `& < > " '` escaped;
    /// tab, LF and CR kept; other control characters (and DEL) dropped.
    Html,
    /// XML element text: `& < >` escaped; characters XML 1.0 forbids (control characters
    /// other than tab, LF and CR; U+FFFE, U+FFFF) replaced by U+FFFD.
    XmlText,
    /// A double-quoted XML attribute: as [`Markup::XmlText`], and `" '` escaped and tab, LF
    /// and CR written as character references so they survive attribute normalisation.
    XmlAttr,
}

/// `s` escaped for `to`.
pub(crate) fn escape(s: &str, to: Markup) -> String {
    let html = to == Markup::Html;
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        let c = match c {
            '\t' | '\n' | '\r' => c,
            c if html && ((c as u32) < 0x20 || c == '\u{7f}') => continue,
            c if !html && ((c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}') => '\u{FFFD}',
            c => c,
        };
        let reference = match (c, to) {
            ('&', _) => "&amp;",
            ('<', _) => "&lt;",
            ('>', _) => "&gt;",
            ('"', Markup::Html | Markup::XmlAttr) => "&quot;",
            ('\'', Markup::Html) => "&#39;",
            ('\'', Markup::XmlAttr) => "&apos;",
            ('\t', Markup::XmlAttr) => "&#9;",
            ('\n', Markup::XmlAttr) => "&#10;",
            ('\r', Markup::XmlAttr) => "&#13;",
            _ => {
                o.push(c);
                continue;
            }
        };
        o.push_str(reference);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_markup_escapes_what_it_must() {
        let s = "<a href='x'>\"&\"</a>\t\n\r\u{1}\u{7f}\u{FFFE}é";
        assert_eq!(
            escape(s, Markup::Html),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;\t\n\r\u{FFFE}é"
        );
        assert_eq!(
            escape(s, Markup::XmlText),
            "&lt;a href='x'&gt;\"&amp;\"&lt;/a&gt;\t\n\r\u{FFFD}\u{7f}\u{FFFD}é"
        );
        assert_eq!(
            escape(s, Markup::XmlAttr),
            "&lt;a href=&apos;x&apos;&gt;&quot;&amp;&quot;&lt;/a&gt;&#9;&#10;&#13;\u{FFFD}\u{7f}\u{FFFD}é"
        );
    }
}
