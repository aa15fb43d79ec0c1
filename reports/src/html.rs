//! Building blocks of the self-contained HTML reports: escaping, the page shell with its
//! inline stylesheet and script, status badges, stacked outcome bars, tables.
//!
//! A page is one file: inline CSS, inline SVG, a small inline script, no external fetch of
//! any kind (no fonts, no CDN, no images). It reads fully without JavaScript; the script
//! only adds filtering to tables marked `data-filterable` (progressive enhancement: the
//! filter controls carry `hidden` until the script shows them). Everything interpolated is
//! escaped with [`esc`].

use std::fmt::Write as _;

use crate::escape::{Markup, escape};
use crate::i18n::Lang;

/// Escapes text for HTML element content and double- or single-quoted attributes.
/// Control characters other than tab/LF/CR are dropped.
pub fn esc(s: &str) -> String {
    escape(s, Markup::Html)
}

/// The shared stylesheet. Status classes `st-<status>` colour badges and bar segments.
pub const CSS: &str = r#"
:root{--ok:#2e7d32;--late:#ef8f00;--fail:#c62828;--none:#616161;--na:#bdbdbd;--ink:#1d1d1f;--muted:#5f6368;--line:#e0e0e0;--bg:#fafafa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--ink);background:var(--bg)}
header.page{background:#0b3d5c;color:#fff;padding:18px 28px}
header.page h1{margin:0 0 4px;font-size:22px}
header.page .meta{color:#cfe3ef;font-size:13px}
main{padding:8px 28px 40px;max-width:1280px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 18px;margin:16px 0}
section h2{margin:0 0 10px;font-size:17px}
p.note{color:var(--muted);margin:4px 0 10px;font-size:12.5px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f3f5f7;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;min-width:64px;text-align:center;padding:1px 6px;border-radius:9px;font-size:11.5px;color:#fff;white-space:nowrap}
.st-on_time{background:var(--ok)}.st-late{background:var(--late)}.st-failed{background:var(--fail)}
.st-not_attempted{background:var(--none)}.st-not_applicable{background:var(--na);color:#333}
.sev-error{background:var(--fail)}.sev-warning{background:var(--late)}
.verdict{display:grid;grid-template-columns:minmax(220px,300px) 1fr 150px;gap:6px 14px;align-items:center}
.verdict .name{font-weight:600}
.verdict .figure{font-variant-numeric:tabular-nums;text-align:right}
.verdict .figure b{font-size:18px}
.stack{display:flex;height:18px;border-radius:4px;overflow:hidden;background:#eee}
.stack span{display:block;height:100%}
.legend-inline span{display:inline-block;margin-right:14px;font-size:12px}
.legend-inline i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
svg.chart{width:100%;height:auto;display:block}
.stats{display:flex;gap:26px;margin:8px 0}
.stats div{font-size:12px;color:var(--muted)}.stats b{display:block;font-size:18px;color:var(--ink)}
.klist a{display:inline-block;margin:0 6px 2px 0;color:#0b3d5c;text-decoration:none;font-size:12.5px}
.klist a:hover{text-decoration:underline}
details summary{cursor:pointer}
ol.timeline{margin:6px 0 4px;padding-left:18px;font-size:12.5px}
ol.timeline time{color:var(--muted);font-variant-numeric:tabular-nums;margin-right:6px}
ol.timeline .kind{font-weight:600;margin-right:6px}
.filter{margin:6px 0 10px;display:flex;gap:16px;align-items:center}
.filter input[type=search]{width:320px;padding:5px 8px;font-size:14px;border:1px solid #bbb;border-radius:4px}
tr.hidden{display:none}
footer{color:var(--muted);font-size:12px;padding:0 28px 24px}
nav.toc{font-size:12.5px;margin:10px 0 0}nav.toc a{color:#0b3d5c;margin-right:12px}
th[data-sort]{cursor:pointer}
pre.xml,pre.mail{background:#f3f5f7;padding:8px;font-size:12px;overflow:auto;max-height:240px}
.st-extension{background:#1565c0}
dl.calendar{display:grid;grid-template-columns:minmax(200px,260px) 1fr;gap:4px 14px;margin:0}
dl.calendar dt{font-weight:600}dl.calendar dd{margin:0}
.up{color:var(--ok)}.down{color:var(--fail)}
"#;

/// The filtering script: for every `table[data-filterable]` it wires the controls named by
/// `data-search` (a search input: rows whose `data-search` text contains every word are
/// shown) and `data-problems` (a checkbox: only rows with `data-problem="1"`), and writes
/// the number of rows shown into the element named by `data-count`. A `?q=words` in the
/// page's URL pre-fills the search (a link to one kommune: `index.html?q=0301`).
pub const SCRIPT: &str = r#"
(function(){
  document.querySelectorAll('table[data-filterable]').forEach(function(t){
    var q=document.getElementById(t.dataset.search), p=document.getElementById(t.dataset.problems),
        c=document.getElementById(t.dataset.count), rows=t.tBodies[0].rows;
    [q,p].forEach(function(e){ if(e){ var w=e.closest('[hidden]'); if(w) w.hidden=false; } });
    function apply(){
      var words=(q&&q.value||'').toLowerCase().split(/\s+/).filter(Boolean), only=p&&p.checked, n=0;
      for(var i=0;i<rows.length;i++){
        var r=rows[i], s=r.getAttribute('data-search')||'', ok=true;
        for(var j=0;j<words.length&&ok;j++) ok=s.indexOf(words[j])>=0;
        if(only&&r.getAttribute('data-problem')!=='1') ok=false;
        r.classList.toggle('hidden',!ok); if(ok) n++;
      }
      if(c) c.textContent=String(n);
    }
    var m=/[?&]q=([^&]*)/.exec(location.search);
    if(q&&m){ try{ q.value=decodeURIComponent(m[1].replace(/\+/g,' ')); }catch(e){} }
    if(q) q.addEventListener('input',apply);
    if(p) p.addEventListener('change',apply);
    apply();
  });
  document.querySelectorAll('table').forEach(function(t){
    if(!t.tHead||!t.tBodies[0]) return;
    var ths=t.tHead.rows[0].cells;
    for(var i=0;i<ths.length;i++){ (function(i){ var th=ths[i]; th.setAttribute('data-sort','');
      th.addEventListener('click',function(){
        var b=t.tBodies[0], rows=Array.prototype.slice.call(b.rows), dir=th.getAttribute('data-sort')==='asc'?-1:1;
        function key(r){ var c=r.cells[i]; if(!c) return ''; var v=c.getAttribute('data-key')||c.textContent.trim(); var n=parseFloat(v.replace(/\s/g,'').replace(',','.')); return isNaN(n)?v.toLowerCase():n; }
        rows.sort(function(a,b){ var x=key(a), y=key(b); return (x<y?-1:x>y?1:0)*dir; });
        rows.forEach(function(r){ b.appendChild(r); });
        for(var j=0;j<ths.length;j++) ths[j].setAttribute('data-sort','');
        th.setAttribute('data-sort',dir>0?'asc':'desc');
      }); })(i); }
  });
})();
"#;

/// A whole page: `title` in `<title>` and the header, `meta` (already HTML) under it,
/// `body` (already HTML) in `<main>`, `footer` (already HTML) at the end.
pub fn page(title: &str, meta: &str, body: &str, footer: &str) -> String {
    page_lang(Lang::En, title, meta, body, footer)
}

/// [`page`] in a language: `<html lang>` is the language's code.
pub fn page_lang(lang: Lang, title: &str, meta: &str, body: &str, footer: &str) -> String {
    let mut o = String::with_capacity(body.len() + CSS.len() + SCRIPT.len() + 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{l}\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
<title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
<header class=\"page\"><h1>{t}</h1><div class=\"meta\">{meta}</div></header>\n\
<main>\n{body}\n</main>\n<footer>{footer}</footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        t = esc(title),
        l = lang.code(),
    );
    o
}

/// A `<section>` with an id and a heading.
pub fn section(id: &str, title: &str, content: &str) -> String {
    format!(
        "<section id=\"{}\"><h2>{}</h2>\n{}\n</section>\n",
        esc(id),
        esc(title),
        content
    )
}

/// A coloured status badge: `class` is the CSS suffix (`st-<class>`), `label` the text.
pub fn badge(prefix: &str, class: &str, label: &str) -> String {
    format!(
        "<span class=\"badge {}-{}\">{}</span>",
        esc(prefix),
        esc(class),
        esc(label)
    )
}

/// A horizontal stacked bar of `(css class, count, label)` parts; widths are shares of the
/// sum. Each part has a tooltip "label: count".
pub fn stacked_bar(parts: &[(&str, u64, &str)]) -> String {
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let mut o = String::from("<div class=\"stack\">");
    if total > 0 {
        for (class, n, label) in parts {
            if *n == 0 {
                continue;
            }
            let pct = *n as f64 * 100.0 / total as f64;
            let _ = write!(
                o,
                "<span class=\"{}\" style=\"width:{pct:.2}%\" title=\"{}: {n}\"></span>",
                esc(class),
                esc(label)
            );
        }
    }
    o.push_str("</div>");
    o
}

/// A table from a header row and body rows of already-escaped HTML cells. Header cells
/// starting with `#` are right-aligned numbers (the `#` is removed); body cells in those
/// columns get `class="num"` too.
pub fn table(id: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    let num: Vec<bool> = header.iter().map(|h| h.starts_with('#')).collect();
    let mut o = String::new();
    let _ = write!(o, "<table id=\"{}\"><thead><tr>", esc(id));
    for h in header {
        match h.strip_prefix('#') {
            Some(h) => {
                let _ = write!(o, "<th class=\"num\">{}</th>", esc(h));
            }
            None => {
                let _ = write!(o, "<th>{}</th>", esc(h));
            }
        }
    }
    o.push_str("</tr></thead><tbody>\n");
    for r in rows {
        o.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            if num.get(i).copied().unwrap_or(false) {
                let _ = write!(o, "<td class=\"num\">{c}</td>");
            } else {
                let _ = write!(o, "<td>{c}</td>");
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<script>\"a\" & 'b'\u{0}</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn page_is_self_contained() {
        let p = page("T<", "m", "<p>x</p>", "f");
        assert!(p.starts_with("<!DOCTYPE html>"));
        assert!(p.contains("<title>T&lt;</title>"));
        assert!(!p.contains("http://") && !p.contains("https://"));
    }
}
