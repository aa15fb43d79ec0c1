//! `serve` runs all four endpoints: a kommune logs in to Sendemodul with the PIN from
//! endpoints.json and uploads with curl, SSB's operator API publishes its feedback on
//! filsluse, and the "1 New File Available" mail lands in the kommune's postmottak, read
//! through the mail capture's HTTP API — all as separate processes over loopback. The
//! mail and operator APIs want their tokens from endpoints.json; no address in
//! endpoints.json, in any captured mail or in the generated file uses a real domain.

use crate::reserved_domains::assert_reserved;
use crate::serve_support;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serve_support::{Server, kommune};

/// Runs curl with `args`; returns (HTTP status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs (Debian's curl; .ci/run installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.trim().parse().expect("status code"), body.to_string())
}

fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no field {name} in:\n{html}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    let tag = &html[start..end];
    tag.split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

fn generated_file(dir: &Path) -> std::path::PathBuf {
    let status = Command::new(serve_support::bin())
        .args([
            "generate",
            "--year",
            "2024",
            "--municipality",
            "0301",
            "--scale",
            "0.002",
            "--seed",
            "5",
            "--out",
        ])
        .arg(dir)
        .output()
        .expect("generate runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    dir.join("0301").join("melding.xml")
}

#[test]
fn a_kommune_uploads_with_curl_and_gets_its_feedback_mail() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut server = Server::start(&state, &["--seed", "11"], &[]);
    let ep = server.endpoints();
    let k = kommune(&ep, "0301");
    let pin = k["sendemodul_pin"].as_str().unwrap().to_string();
    let orgnr = k["orgnr"].as_str().unwrap().to_string();
    let postmottak = k["filsluse_username"].as_str().unwrap().to_string();
    let portal = ep["sendemodul"]["ordinary_url"]
        .as_str()
        .unwrap()
        .to_string();
    let jar = dir.path().join("cookies.txt");
    let jar_s = jar.to_str().unwrap();

    // The login page names the four fields; a wrong PIN is refused, the right one works.
    let (code, page) = curl(&[&portal]);
    assert_eq!(code, 200);
    for f in ["kommunenr", "bydel", "orgnr", "pin"] {
        assert!(
            page.contains(&format!("name=\"{f}\"")),
            "login page lacks {f}"
        );
    }
    let wrong = format!("{:06}", (pin.parse::<u32>().unwrap() + 1) % 1_000_000);
    let (code, _) = curl(&[
        "-c",
        jar_s,
        "-b",
        jar_s,
        "-d",
        "kommunenr=0301",
        "-d",
        "bydel=00",
        "-d",
        &format!("orgnr={orgnr}"),
        "-d",
        &format!("pin={wrong}"),
        &format!("{portal}login"),
    ]);
    assert_eq!(code, 401, "a wrong PIN is refused");
    let (code, _) = curl(&[
        "-c",
        jar_s,
        "-b",
        jar_s,
        "-d",
        "kommunenr=0301",
        "-d",
        "bydel=00",
        "-d",
        &format!("orgnr={orgnr}"),
        "-d",
        &format!("pin={pin}"),
        &format!("{portal}login"),
    ]);
    assert!(
        code == 200 || code == 303,
        "login with the PIN from endpoints.json: {code}"
    );

    // Upload a generated file with -F.
    let file = generated_file(&dir.path().join("gen"));
    let (code, upload_page) = curl(&["-b", jar_s, &format!("{portal}upload")]);
    assert_eq!(code, 200);
    let csrf = hidden(&upload_page, "csrf");
    let group = hidden(&upload_page, "gruppe");
    let (code, receipt) = curl(&[
        "-b",
        jar_s,
        "-F",
        &format!("fil=@{};filename=030100_iplos.xml", file.display()),
        "-F",
        "epost=iplos@oslo.kommune.test",
        "-F",
        "tilbakemeldingspassord=Hemmelig42",
        "-F",
        &format!("csrf={csrf}"),
        "-F",
        &format!("gruppe={group}"),
        &format!("{portal}upload"),
    ]);
    assert_eq!(code, 200, "{receipt}");
    assert!(receipt.contains("030100_iplos.xml"), "{receipt}");

    // SSB publishes the feedback; filsluse mails postmottak. The operator API wants its
    // token.
    let admin = ep["admin"]["url"].as_str().unwrap();
    let admin_auth = format!(
        "Authorization: Bearer {}",
        ep["admin"]["token"].as_str().unwrap()
    );
    let (code, _) = curl(&[
        "-X",
        "POST",
        &format!("{admin}/feedback/0301?kind=ordinary"),
    ]);
    assert_eq!(code, 401, "the operator API without its token");
    let (code, body) = curl(&[
        "-H",
        &admin_auth,
        "-X",
        "POST",
        &format!("{admin}/feedback/0301?kind=ordinary"),
    ]);
    assert_eq!(code, 200, "{body}");
    let published: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(published["name"], "030100_iplos.zip");
    let (code, _) = curl(&[
        "-H",
        &admin_auth,
        "-X",
        "POST",
        &format!("{admin}/feedback/0301?kind=test"),
    ]);
    assert_eq!(code, 404, "nothing was sent to the test portal");

    let mail_api = ep["mail"]["http_api"].as_str().unwrap();
    let mail_auth = format!(
        "Authorization: Bearer {}",
        ep["mail"]["token"].as_str().unwrap()
    );
    let (code, _) = curl(&[&format!("{mail_api}/mailboxes")]);
    assert_eq!(code, 401, "the mail API without its token");
    let (code, _) = curl(&[
        "-H",
        &mail_auth,
        &format!("{mail_api}/mailboxes/..%2f..%2fetc%2fpasswd/messages"),
    ]);
    assert!(code == 400 || code == 404, "a traversal as mailbox: {code}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, list) = curl(&[
            "-H",
            &mail_auth,
            &format!("{mail_api}/mailboxes/{postmottak}/messages"),
        ]);
        assert_eq!(code, 200);
        let msgs: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
        let subjects: Vec<&str> = msgs.iter().filter_map(|m| m["subject"].as_str()).collect();
        if subjects.iter().any(|s| s.contains("New File")) {
            assert!(
                subjects.iter().any(|s| s.contains("Ny bruker")),
                "postmottak also got the new-user mail: {subjects:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new-file mail: {subjects:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // No real domain anywhere: endpoints.json, every captured mail (raw), the generated file.
    assert_reserved(
        "endpoints.json",
        &std::fs::read_to_string(state.join("endpoints.json")).unwrap(),
    );
    let (code, boxes) = curl(&["-H", &mail_auth, &format!("{mail_api}/mailboxes")]);
    assert_eq!(code, 200);
    let boxes: Vec<serde_json::Value> = serde_json::from_str(&boxes).unwrap();
    let mut mails = 0;
    for b in &boxes {
        let address = b["address"].as_str().unwrap();
        assert_reserved("a mailbox", address);
        let (_, list) = curl(&[
            "-H",
            &mail_auth,
            &format!("{mail_api}/mailboxes/{address}/messages"),
        ]);
        let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
        for m in list {
            let (code, raw) = curl(&[
                "-H",
                &mail_auth,
                &format!("{mail_api}/messages/{}.eml", m["id"]),
            ]);
            assert_eq!(code, 200);
            assert_reserved(&format!("mail {} to {address}", m["id"]), &raw);
            mails += 1;
        }
    }
    assert!(
        mails > 357,
        "every kommune's new-user mail and more: {mails}"
    );
    let mut dirs = vec![dir.path().join("gen")];
    let mut files = 0;
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                assert_reserved(&p.display().to_string(), &String::from_utf8_lossy(&bytes));
                files += 1;
            }
        }
    }
    assert!(
        files >= 2,
        "the generated population and message: {files} files"
    );

    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(30)).success());
}

#[test]
fn a_relay_without_contacts_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(serve_support::bin())
        .args([
            "serve",
            "--year",
            "2024",
            "--smtp-relay",
            "smtp.example.org:25",
            "--state",
        ])
        .arg(dir.path().join("state"))
        .output()
        .expect("serve runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--contacts"), "{err}");
    assert!(err.contains("never mails real people"), "{err}");
    assert!(
        !dir.path().join("state").exists(),
        "nothing was started or written"
    );
}
