//! A MOVEit Transfer REST client written from the public API documentation only
//! (`mocks/tests/peers/moveit_client.py`, Python's standard library) works against the
//! filsluse unchanged: info, token, refresh, users/self, folders, folder content, files,
//! file details, the folder-scoped download (302) and revoke.

use crate::filsluse_support;
use crate::mail_support::{peers_dir, python};

use filsluse_support::*;

#[tokio::test]
async fn a_client_written_from_the_moveit_docs_downloads_the_feedback() {
    let env = start().await;
    env.user_with_password(HAMAR, GOOD).await;
    let zip = stored_zip("feilliste.csv", "kommune;feil\n0403;0\n".as_bytes());
    let other = stored_zip("kontroll.html", b"<p>ok</p>");
    env.fs.upload(HAMAR, "040300_iplos.zip", &zip).unwrap();
    env.fs
        .upload(HAMAR, "040300_iplos_test.zip", &other)
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(python());
    cmd.arg(peers_dir().join("moveit_client.py"))
        .arg(&env.base)
        .arg(HAMAR)
        .arg(GOOD)
        .arg(out.path());
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("python3 runs (Debian's python3; .ci/run installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["org"], "Statistisk sentralbyrå");
    assert_eq!(summary["username"], HAMAR);
    let frassb = format!("/Home/Ekstern/iplos/{HAMAR}/frassb");
    assert_eq!(
        summary["content"][frassb.as_str()],
        serde_json::json!(["File:040300_iplos.zip", "File:040300_iplos_test.zip"])
    );
    assert_eq!(
        summary["content"][format!("/Home/Ekstern/iplos/{HAMAR}").as_str()],
        serde_json::json!(["Folder:frassb"])
    );
    assert_eq!(summary["files"].as_array().unwrap().len(), 2);
    assert_eq!(
        std::fs::read(out.path().join("040300_iplos.zip")).unwrap(),
        zip
    );
    assert_eq!(
        std::fs::read(out.path().join("040300_iplos_test.zip")).unwrap(),
        other
    );
}
