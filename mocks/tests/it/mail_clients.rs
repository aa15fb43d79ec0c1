//! Clients that are not ours (Python's smtplib, curl) send to the capture server; the
//! mail is read back over the HTTP API with curl and in-process.

use crate::mail_support;
use iplos_mocks::mail::MailConfig;
use mail_support::{curl_smtp, http_get, http_json, py_send, start};
use serde_json::Value;

/// A message with an encoded subject and sender name, an 8-bit UTF-8 body, and lines
/// that need dot-stuffing (a lone ".", "..", ".x").
fn norwegian_message() -> Vec<u8> {
    [
        "From: =?utf-8?q?Statistisk_sentralbyr=C3=A5?= <iplos@ssb.test>",
        "To: Postmottak@Hamar.Kommune.TEST, iplos@hamar.kommune.test",
        "Subject: =?utf-8?q?Kvittering_for_mottatte_IPLOS-data_bl=C3=A5b=C3=A6r?=",
        "Date: Mon, 15 Jan 2018 08:00:00 +0100",
        "Message-ID: <receipt-0403@ssb.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        "Data er ankommet og lastet til registeret i SSB.",
        ".",
        "..",
        ".punktum først",
        "Ærlig talt: æøå ÆØÅ",
        "",
    ]
    .join("\r\n")
    .into_bytes()
}

fn entry<'a>(list: &'a Value, address: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|e| e["address"] == address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_mail_is_read_back_over_http() {
    let handle = start(MailConfig::default()).await;
    let base = handle.http_url().expect("http runs");
    let msg = norwegian_message();
    let v = py_send(
        handle.smtp_addr(),
        "iplos@ssb.test",
        &["Postmottak@Hamar.Kommune.TEST", "iplos@hamar.kommune.test"],
        &msg,
        &["--user", "hamar", "--password", "hemmelig1"],
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["refused"], serde_json::json!({}));
    let features: Vec<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for f in [
        "auth",
        "size",
        "8bitmime",
        "pipelining",
        "enhancedstatuscodes",
    ] {
        assert!(features.contains(&f), "EHLO lacks {f}: {features:?}");
    }
    assert!(!features.contains(&"starttls"));

    // GET /mailboxes: one mailbox per recipient, the domain folded to lower case.
    let (code, boxes) = http_json(&format!("{base}/mailboxes")).await;
    assert_eq!(code, 200);
    assert_eq!(boxes.as_array().unwrap().len(), 2, "{boxes}");
    assert_eq!(
        entry(&boxes, "Postmottak@hamar.kommune.test").unwrap()["count"],
        1
    );
    assert_eq!(
        entry(&boxes, "iplos@hamar.kommune.test").unwrap()["count"],
        1
    );

    // GET /mailboxes/{address}/messages: any spelling of the domain, not of the local part.
    let (code, list) = http_json(&format!(
        "{base}/mailboxes/Postmottak@HAMAR.kommune.test/messages"
    ))
    .await;
    assert_eq!(code, 200);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    let row = &list[0];
    assert_eq!(row["subject"], "Kvittering for mottatte IPLOS-data blåbær");
    assert_eq!(row["from"], "Statistisk sentralbyrå <iplos@ssb.test>");
    assert_eq!(row["date"], "Mon, 15 Jan 2018 08:00:00 +0100");
    assert_eq!(row["size"], msg.len());
    let id = row["id"].as_u64().unwrap();
    let (_, other) = http_json(&format!(
        "{base}/mailboxes/postmottak@hamar.kommune.test/messages"
    ))
    .await;
    assert_eq!(other, serde_json::json!([]), "local part is case-sensitive");

    // GET /messages/{id}: headers, envelope, text.
    let (code, m) = http_json(&format!("{base}/messages/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(m["envelope"]["from"], "iplos@ssb.test");
    assert_eq!(
        m["envelope"]["to"],
        serde_json::json!(["Postmottak@Hamar.Kommune.TEST", "iplos@hamar.kommune.test"])
    );
    assert_eq!(m["helo"], "python-peer.invalid");
    assert_eq!(m["auth_user"], "hamar");
    assert_eq!(m["message_id"], "<receipt-0403@ssb.test>");
    assert_eq!(
        m["text"],
        "Data er ankommet og lastet til registeret i SSB.\r\n.\r\n..\r\n.punktum først\r\n\
         Ærlig talt: æøå ÆØÅ\r\n"
    );
    let headers = m["headers"].as_array().unwrap();
    assert_eq!(headers.len(), 8);
    assert_eq!(headers[7]["name"], "Content-Transfer-Encoding");
    assert_eq!(headers[7]["value"], "8bit");

    // GET /messages/{id}.eml: the exact bytes sent, dot-stuffing undone.
    let (code, eml) = http_get(&format!("{base}/messages/{id}.eml")).await;
    assert_eq!(code, 200);
    assert_eq!(eml, msg);

    // The same in-process.
    let captured = handle.message(id).unwrap().unwrap();
    assert_eq!(captured.raw, msg);
    assert_eq!(
        captured.subject.as_deref(),
        Some("Kvittering for mottatte IPLOS-data blåbær")
    );
    assert!(captured.is_for("iplos@HAMAR.kommune.test"));
    assert_eq!(
        handle.messages("iplos@hamar.kommune.test").unwrap()[0].id,
        id
    );

    // Errors.
    let (code, e) = http_json(&format!("{base}/messages/999")).await;
    assert_eq!(code, 404);
    assert!(e["error"].as_str().unwrap().contains("999"));
    assert_eq!(http_get(&format!("{base}/messages/999.eml")).await.0, 404);
    assert_eq!(http_get(&format!("{base}/messages/abc")).await.0, 400);
    assert_eq!(http_get(&format!("{base}/nothing")).await.0, 404);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_smtp_upload_is_captured_byte_for_byte() {
    let handle = start(MailConfig::default()).await;
    let base = handle.http_url().unwrap();
    let msg = norwegian_message();
    let out = curl_smtp(
        handle.smtp_addr(),
        "iplos@ssb.test",
        &["postmottak@hamar.kommune.test", "kopi@hamar.kommune.test"],
        &msg,
    )
    .await;
    assert!(
        out.status.success(),
        "curl smtp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, list) = http_json(&format!(
        "{base}/mailboxes/kopi@hamar.kommune.test/messages"
    ))
    .await;
    let id = list[0]["id"].as_u64().expect("one message");
    let (code, eml) = http_get(&format!("{base}/messages/{id}.eml")).await;
    assert_eq!(code, 200);
    assert_eq!(eml, msg);
    let (_, m) = http_json(&format!("{base}/messages/{id}")).await;
    assert_eq!(m["envelope"]["from"], "iplos@ssb.test");
    assert_eq!(m["subject"], "Kvittering for mottatte IPLOS-data blåbær");
    assert_eq!(m["auth_user"], Value::Null);
    handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helo_and_auth_login_clients() {
    let handle = start(MailConfig::default()).await;
    let msg = mail_support::simple_message("a@example.org", "b@example.org", "helo", "x");
    let v = py_send(
        handle.smtp_addr(),
        "a@example.org",
        &["b@example.org"],
        &msg,
        &["--helo"],
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
    let v = py_send(
        handle.smtp_addr(),
        "a@example.org",
        &["c@example.org"],
        &msg,
        &[
            "--user",
            "someone",
            "--password",
            "anything",
            "--mech",
            "LOGIN",
        ],
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
    let b = handle.messages("b@example.org").unwrap();
    let c = handle.messages("c@example.org").unwrap();
    assert_eq!((b.len(), c.len()), (1, 1));
    let b = handle.message(b[0].id).unwrap().unwrap();
    let c = handle.message(c[0].id).unwrap().unwrap();
    assert_eq!(b.auth_user, None);
    assert_eq!(c.auth_user.as_deref(), Some("someone"));
    assert_eq!(b.raw, msg);
    handle.shutdown().await.unwrap();
}
