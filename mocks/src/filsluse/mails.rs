//! The filsluse's (MOVEit) mails as the national side sends them (DOMAIN.md §5): the
//! new-user, password and new-file mails, as [`OutgoingMail`]s for the outbox.
//!
//! | mail | source |
//! |---|---|
//! | [`new_user_mail`] | seed 001 (`shared/seeds/001_*.txt`), Figur 4-2 "E-post om ny bruker" |
//! | [`password_mail`] | seed 000 (`000_*.txt`, January 2018), Figur 4-4-8 "Nytt passord - NB! Utløper på tid"; seed 003 has the same mail with small differences |
//! | [`new_file_mail`] | seed 001, Figur 4-10 "E-post med varsel om ny fil for nedlasting" |
//!
//! Links point at [`FilsluseLinks::base_url`], so a test points them at the filsluse mock.
//! The shapes of the links (`human.aspx?...`) are those of the seeds.
//!
//! The three texts (and their subjects and sender) live once, in [`super::notify`]; the
//! builders here only fill them in, so the portal's own mails ([`super::MailNotifier`])
//! and these are word for word the same.

use chrono::{DateTime, Duration, Utc};
use iplos_model::calendar::OSLO;
use serde::Serialize;

use super::notify::{self, NewFileFacts};
pub use super::notify::{NEW_FILE_SUBJECT, NEW_USER_SUBJECT, PASSWORD_SUBJECT};
use super::types::{DEFAULT_UPLOADER, HOME_ROOT, UPLOAD_FOLDER};
use crate::mail::{MailAddress, MailError, OutgoingMail};

/// The sender address of every filsluse mail (seeds 000, 001, 003:
/// "Statistisk sentralbyrå <MoveITFilsluse@ssb.no>"; here on the reserved `.test` domain so
/// that no mail the harness sends claims a real sender, see [`crate::national`]).
pub const FILSLUSE_SENDER: &str = notify::SENDER_ADDRESS;

/// How long the set-password link of [`password_mail`] is valid (seeds 000, 001, 003:
/// "Passord må settes innen 60 minutter!", "You will have 60 minutes to use the link").
pub const PASSWORD_LINK_VALIDITY: Duration = Duration::minutes(60);

/// Who uploads feedback files on the filsluse (seed 001: "Uploaded By: frassb").
pub const UPLOADER: &str = DEFAULT_UPLOADER;

/// The date-time format of the filsluse (seed 001: "20.10.2016 18:31:29"), Oslo time.
const FILSLUSE_TIME: &str = "%d.%m.%Y %H:%M:%S";

/// Where the links in the filsluse mails point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilsluseLinks {
    /// The portal's base URL, e.g. `https://filsluse.ssb.no` or the mock's
    /// `http://127.0.0.1:PORT` (a trailing `/` is ignored).
    pub base_url: String,
    /// MOVEit's organisation id (seeds: 5281).
    pub org_id: u32,
}

impl Default for FilsluseLinks {
    /// The real portal of the seeds: `https://filsluse.ssb.no`, OrgID 5281.
    fn default() -> Self {
        FilsluseLinks {
            base_url: "https://filsluse.ssb.no".to_string(),
            org_id: 5281,
        }
    }
}

impl FilsluseLinks {
    /// Links to a portal at `base_url` (OrgID 5281).
    pub fn new(base_url: impl Into<String>) -> FilsluseLinks {
        FilsluseLinks {
            base_url: base_url.into(),
            ..FilsluseLinks::default()
        }
    }

    fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// The portal's start page (the sign-on page).
    pub fn portal(&self) -> String {
        self.base().to_string()
    }

    /// The "New User Password Request" page (seed 001:
    /// `human.aspx?OrgID=5281&arg12=passchangerequest&arg11=newuser`).
    pub fn new_user_request(&self) -> String {
        format!(
            "{}/human.aspx?OrgID={}&arg12=passchangerequest&arg11=newuser",
            self.base(),
            self.org_id
        )
    }

    /// The set-password link of a password mail (seed 000:
    /// `human.aspx?orgid=5281&transaction=signon&pxc=<token>`).
    pub fn set_password(&self, token: &str) -> String {
        format!(
            "{}/human.aspx?orgid={}&transaction=signon&pxc={}",
            self.base(),
            self.org_id,
            percent_encode(token)
        )
    }

    /// The link to a file (seed 001:
    /// `human.aspx?OrgID=5281&Arg12=fileview&Arg06=<file id>&Arg07=<tracking id>&username=<user>`).
    pub fn file_view(&self, file_id: u64, tracking_id: u64, username: &str) -> String {
        format!(
            "{}/human.aspx?OrgID={}&Arg12=fileview&Arg06={file_id}&Arg07={tracking_id}&username={}",
            self.base(),
            self.org_id,
            percent_encode(username)
        )
    }
}

/// A filsluse user: one per kommune, named by its postmottak address (DOMAIN.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilsluseUser {
    /// The username: the kommune's postmottak (or agreed impersonal) address.
    pub username: String,
    /// Where the portal's mails go; the username itself in the seeds.
    pub email: String,
    /// The account's full name, e.g. `IPLOS-Tilbakemelding Hamar kommune`.
    pub full_name: String,
}

impl FilsluseUser {
    /// The kommune's user: username and e-mail `postmottak`, full name
    /// `IPLOS-Tilbakemelding <kommune_name>` (seed 001, Figur 4-11: "Signed onto
    /// Statistisk sentralbyrå as IPLOS-Tilbakemelding Hamar kommune").
    pub fn for_kommune(postmottak: &str, kommune_name: &str) -> FilsluseUser {
        FilsluseUser {
            username: postmottak.to_string(),
            email: postmottak.to_string(),
            full_name: format!("IPLOS-Tilbakemelding {kommune_name}"),
        }
    }
}

/// The folder of a user's feedback files: `/Home/Ekstern/iplos/<username>/frassb`
/// (seed 001).
pub fn folder_path(username: &str) -> String {
    format!("{}/{username}/{}", HOME_ROOT, UPLOAD_FOLDER)
}

fn filsluse_sender() -> MailAddress {
    notify::sender()
}

/// The filsluse's mail to a new user with the link to "New User Password Request"
/// (seed 001, Figur 4-2). Dated by the outbox clock when sent.
pub fn new_user_mail(user: &FilsluseUser, links: &FilsluseLinks) -> OutgoingMail {
    let body = notify::new_user_text(&user.full_name, &user.username, &links.new_user_request());
    OutgoingMail {
        from: filsluse_sender(),
        to: vec![MailAddress::new(user.email.clone())],
        subject: NEW_USER_SUBJECT.to_string(),
        body,
        date: None,
        message_id: None,
    }
}

/// A password mail and when its link stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswordMail {
    /// The mail, dated when the password was requested.
    pub mail: OutgoingMail,
    /// The set-password link in it.
    pub link: String,
    /// `requested` + [`PASSWORD_LINK_VALIDITY`]: after this the link has expired.
    pub expires_at: DateTime<Utc>,
}

/// The filsluse's mail with a set-password link valid for 60 minutes, sent after a "New
/// User Password Request" or a "Request a password change" (seed 000, Figur 4-4-8: the
/// text is the same for both). `token` is the link's `pxc` value (the filsluse mock's
/// one-time token); `requested` is when the user asked.
pub fn password_mail(
    user: &FilsluseUser,
    links: &FilsluseLinks,
    token: &str,
    requested: DateTime<Utc>,
) -> Result<PasswordMail, MailError> {
    let link = links.set_password(token);
    let expires_at = requested
        .checked_add_signed(PASSWORD_LINK_VALIDITY)
        .ok_or_else(|| MailError::Time(format!("{requested} + 60 minutes")))?;
    let body = notify::password_text(PASSWORD_LINK_VALIDITY.num_minutes(), &links.portal(), &link);
    Ok(PasswordMail {
        mail: OutgoingMail {
            from: filsluse_sender(),
            to: vec![MailAddress::new(user.email.clone())],
            subject: PASSWORD_SUBJECT.to_string(),
            body,
            date: Some(requested),
            message_id: None,
        },
        link,
        expires_at,
    })
}

/// A file put on the filsluse for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFile {
    /// The file name, e.g. `040300_iplos_test.zip` (kommunenr 0403, bydel 00).
    pub file_name: String,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// Its size in bytes.
    pub size: u64,
    /// The portal's file id (the link's `Arg06`).
    pub file_id: u64,
    /// The upload's tracking id (`Tracking ID`, the link's `Arg07`).
    pub tracking_id: u64,
}

/// The filsluse's "1 New File Available" notification (seed 001, Figur 4-10), dated at
/// the upload.
pub fn new_file_mail(user: &FilsluseUser, links: &FilsluseLinks, file: &NewFile) -> OutgoingMail {
    let body = notify::new_file_text(&NewFileFacts {
        folder_path: &folder_path(&user.username),
        file_name: &file.file_name,
        date_and_time: &oslo_format(file.uploaded_at, FILSLUSE_TIME),
        size: file.size,
        uploaded_by: UPLOADER,
        tracking_id: &file.tracking_id.to_string(),
        link: &links.file_view(file.file_id, file.tracking_id, &user.username),
        integrity_verified: true,
    });
    OutgoingMail {
        from: filsluse_sender(),
        to: vec![MailAddress::new(user.email.clone())],
        subject: NEW_FILE_SUBJECT.to_string(),
        body,
        date: Some(file.uploaded_at),
        message_id: None,
    }
}

/// Percent-encodes all but RFC 3986 unreserved characters (`@` → `%40`, as in seed 001).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An instant formatted in Europe/Oslo time.
fn oslo_format(t: DateTime<Utc>, format: &str) -> String {
    t.with_timezone(&OSLO).format(format).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filsluse::notify::thousands;
    use chrono::TimeZone;

    #[test]
    fn sizes_and_encoding() {
        assert_eq!(thousands(24_544), "24,544");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            percent_encode("postmottak@hamar.kommune.test"),
            "postmottak%40hamar.kommune.test"
        );
        assert_eq!(percent_encode("a b/æ"), "a%20b%2F%C3%A6");
    }

    #[test]
    fn the_seed_notification_is_reproduced() {
        let user = FilsluseUser::for_kommune("postmottak@hamar.kommune.test", "Hamar kommune");
        let file = NewFile {
            file_name: "040300_iplos_test.zip".into(),
            // 20.10.2016 18:31:29 Oslo (CEST) = 16:31:29 UTC
            uploaded_at: Utc.with_ymd_and_hms(2016, 10, 20, 16, 31, 29).unwrap(),
            size: 24_544,
            file_id: 330_483_371,
            tracking_id: 330_435_303,
        };
        let mail = new_file_mail(&user, &FilsluseLinks::default(), &file);
        let expected = "1 New File Available\n\n\
            /Home/Ekstern/iplos/postmottak@hamar.kommune.test/frassb\n\n\
            File Name: 040300_iplos_test.zip\n\n\
            Date and Time: 20.10.2016 18:31:29\n\n\
            Size: 24,544\n\n\
            Uploaded By: frassb\n\n\
            Tracking ID: 330435303\n\n\
            Link: https://filsluse.ssb.no/human.aspx?OrgID=5281&Arg12=fileview&Arg06=330483371&Arg07=330435303&username=postmottak%40hamar.kommune.test\n\n\
            Integrity Verified: YES\n\n\
            Regards,\nStatistisk sentralbyrå\n";
        assert_eq!(mail.body, expected);
        assert_eq!(
            mail.from.to_string(),
            "Statistisk sentralbyrå <MoveITFilsluse@ssb.test>"
        );
    }

    #[test]
    fn links_follow_the_configured_base() {
        let links = FilsluseLinks::new("http://127.0.0.1:8080/");
        assert_eq!(
            links.new_user_request(),
            "http://127.0.0.1:8080/human.aspx?OrgID=5281&arg12=passchangerequest&arg11=newuser"
        );
        assert_eq!(
            links.set_password("1325"),
            "http://127.0.0.1:8080/human.aspx?orgid=5281&transaction=signon&pxc=1325"
        );
    }
}
