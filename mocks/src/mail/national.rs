//! The mails of the national side (DOMAIN.md §2, §5): SSB's 08:00 receipt and the
//! filsluse's (MOVEit) new-user, password and new-file mails.
//!
//! The texts are those of the seeds, in Norwegian where the seed is Norwegian; only
//! names, addresses, numbers, times and links are filled in:
//!
//! | mail | source |
//! |---|---|
//! | [`new_user_mail`] | seed 001 (`shared/seeds/001_*.txt`), Figur 4-2 "E-post om ny bruker" |
//! | [`password_mail`] | seed 000 (`000_*.txt`, January 2018), Figur 4-4-8 "Nytt passord - NB! Utløper på tid"; seed 003 has the same mail with small differences |
//! | [`new_file_mail`] | seed 001, Figur 4-10 "E-post med varsel om ny fil for nedlasting" |
//! | [`receipt_mail`] | **\[model\]**: no seed shows the receipt itself; seeds 000/002/003 say it goes out "hver morgen kl. 08.00", "første virkedag etter", and "inneholder informasjon om når data er ankommet". Its sentences are taken from those seeds where they exist |
//!
//! Links point at [`FilsluseLinks::base_url`], so a test points them at the filsluse mock.
//! The shapes of the links (`human.aspx?...`) are those of the seeds.
//!
//! The three filsluse texts (and their subjects and sender) live once, in
//! [`crate::filsluse::notify`]; the builders here only fill them in, so the portal's own
//! mails ([`crate::filsluse::MailNotifier`]) and these are word for word the same.

use chrono::{DateTime, Duration, Utc};
use iplos_model::calendar::{OSLO, receipt_time};
use serde::Serialize;

use super::MailError;
use super::outbox::{MailAddress, OutgoingMail};
use crate::filsluse::notify::{self, NewFileFacts};
pub use crate::filsluse::notify::{NEW_FILE_SUBJECT, NEW_USER_SUBJECT, PASSWORD_SUBJECT};

/// SSB's name as the display name of its mails.
pub const SSB_NAME: &str = "Statistisk sentralbyrå";

/// The sender address of every filsluse mail (seeds 000, 001, 003:
/// "Statistisk sentralbyrå <MoveITFilsluse@ssb.no>"; here on the reserved `.test` domain so
/// that no mail the harness sends claims a real sender, see [`crate::national`]).
pub const FILSLUSE_SENDER: &str = notify::SENDER_ADDRESS;

/// The sender address of the 08:00 receipts. **\[model\]**: the seeds give `iplos@ssb.no`
/// (here `iplos@ssb.test`, a reserved domain) as SSB's IPLOS contact address (seed 000 §5.3, seed 002), not as the receipts' sender.
pub const RECEIPT_SENDER: &str = "iplos@ssb.test";

/// How long the set-password link of [`password_mail`] is valid (seeds 000, 001, 003:
/// "Passord må settes innen 60 minutter!", "You will have 60 minutes to use the link").
pub const PASSWORD_LINK_VALIDITY: Duration = Duration::minutes(60);

/// Subject of the receipt. **\[model\]** (no seed shows the receipt; seed 000 speaks of
/// "Kvitteringene for mottatte data").
pub const RECEIPT_SUBJECT: &str = "Kvittering for mottatte IPLOS-data";

/// Who uploads feedback files on the filsluse (seed 001: "Uploaded By: frassb").
pub const UPLOADER: &str = crate::filsluse::DEFAULT_UPLOADER;

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
    format!(
        "{}/{username}/{}",
        crate::filsluse::HOME_ROOT,
        crate::filsluse::UPLOAD_FOLDER
    )
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

/// One file that arrived at SSB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arrival {
    /// The file's name as uploaded.
    pub file_name: String,
    /// When it arrived.
    pub arrived: DateTime<Utc>,
}

/// What SSB knows when it sends a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The contact e-mail given with the submission (entered at encryption time).
    pub contact_email: String,
    /// Kommunenummer, e.g. `0403`.
    pub kommunenr: String,
    /// Bydel, `00` unless agreed otherwise.
    pub bydel: String,
    /// The kommune's name, e.g. `Hamar`.
    pub kommune_name: String,
    /// The data year reported.
    pub data_year: i32,
    /// The files, in any order.
    pub arrivals: Vec<Arrival>,
}

/// SSB's receipt for `receipt.arrivals`, listing when each file arrived, dated (and due
/// to be sent) at [`receipt_time`] of the latest arrival: 08:00 Europe/Oslo on the first
/// working day after it. Give it the files of one receipt slot ([`receipt_mails`] splits
/// them). **\[model\]** text: see the module documentation.
///
/// Errors: no arrivals, or a time outside chrono's range.
pub fn receipt_mail(receipt: &Receipt) -> Result<OutgoingMail, MailError> {
    let mut arrivals = receipt.arrivals.clone();
    arrivals.sort_by(|a, b| {
        a.arrived
            .cmp(&b.arrived)
            .then(a.file_name.cmp(&b.file_name))
    });
    let last = arrivals
        .last()
        .ok_or_else(|| MailError::Build("a receipt needs at least one arrival".into()))?;
    let due = receipt_time(last.arrived)
        .ok_or_else(|| MailError::Time(format!("receipt time of {}", last.arrived)))?;
    let lines: Vec<String> = arrivals
        .iter()
        .map(|a| {
            format!(
                "- {}, ankommet {}",
                a.file_name,
                oslo_format(a.arrived, FILSLUSE_TIME)
            )
        })
        .collect();
    let body = format!(
        "Til IPLOS-kontakt/innsendingsansvarlig for IPLOS i kommunen\n\
         \n\
         Kvittering for mottatte IPLOS-data for {year} fra kommune {nr} {name}, bydel {bydel}.\n\
         \n\
         Data er ankommet og lastet til registeret i SSB:\n\
         \n\
         {lines}\n\
         \n\
         Kommunene vil få særskilt tilbakemelding på feil og mangler i innsendte data.\n\
         \n\
         Ved spørsmål, ta kontakt med iplos@ssb.test.\n\
         \n\
         Med vennlig hilsen\n\
         IPLOS-gruppa\n\
         \n\
         Statistisk sentralbyrå\n\
         e-post: iplos@ssb.test\n",
        year = receipt.data_year,
        nr = receipt.kommunenr,
        name = receipt.kommune_name,
        bydel = receipt.bydel,
        lines = lines.join("\n"),
    );
    Ok(OutgoingMail {
        from: MailAddress::named(SSB_NAME, RECEIPT_SENDER),
        to: vec![MailAddress::new(receipt.contact_email.clone())],
        subject: RECEIPT_SUBJECT.to_string(),
        body,
        date: Some(due),
        message_id: None,
    })
}

/// The receipts for files that may have arrived on different days: one per receipt
/// slot (files arriving before the same 08:00 share one receipt), earliest first.
pub fn receipt_mails(receipt: &Receipt) -> Result<Vec<OutgoingMail>, MailError> {
    let mut slots: std::collections::BTreeMap<DateTime<Utc>, Vec<Arrival>> =
        std::collections::BTreeMap::new();
    for a in &receipt.arrivals {
        let due = receipt_time(a.arrived)
            .ok_or_else(|| MailError::Time(format!("receipt time of {}", a.arrived)))?;
        slots.entry(due).or_default().push(a.clone());
    }
    slots
        .into_values()
        .map(|arrivals| {
            receipt_mail(&Receipt {
                arrivals,
                ..receipt.clone()
            })
        })
        .collect()
}

/// An instant formatted in Europe/Oslo time.
fn oslo_format(t: DateTime<Utc>, format: &str) -> String {
    t.with_timezone(&OSLO).format(format).to_string()
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

    #[test]
    fn receipts_split_by_slot() {
        let r = Receipt {
            contact_email: "iplos@hamar.kommune.test".into(),
            kommunenr: "0403".into(),
            bydel: "00".into(),
            kommune_name: "Hamar".into(),
            data_year: 2017,
            arrivals: vec![
                // Tuesday 9 Jan 2018 10:00 and 23:00 Oslo, Wednesday 10 Jan 07:59 Oslo
                Arrival {
                    file_name: "a.zip".into(),
                    arrived: Utc.with_ymd_and_hms(2018, 1, 9, 9, 0, 0).unwrap(),
                },
                Arrival {
                    file_name: "b.zip".into(),
                    arrived: Utc.with_ymd_and_hms(2018, 1, 9, 22, 0, 0).unwrap(),
                },
                Arrival {
                    file_name: "c.zip".into(),
                    arrived: Utc.with_ymd_and_hms(2018, 1, 10, 6, 59, 0).unwrap(),
                },
            ],
        };
        let mails = receipt_mails(&r).unwrap();
        assert_eq!(mails.len(), 2);
        assert_eq!(
            mails[0].date,
            Some(Utc.with_ymd_and_hms(2018, 1, 10, 7, 0, 0).unwrap())
        );
        assert!(
            mails[0]
                .body
                .contains("- a.zip, ankommet 09.01.2018 10:00:00\n")
        );
        assert!(
            mails[0]
                .body
                .contains("- b.zip, ankommet 09.01.2018 23:00:00\n")
        );
        assert!(!mails[0].body.contains("c.zip"));
        assert_eq!(
            mails[1].date,
            Some(Utc.with_ymd_and_hms(2018, 1, 11, 7, 0, 0).unwrap())
        );
        assert!(
            receipt_mail(&Receipt {
                arrivals: vec![],
                ..r
            })
            .is_err()
        );
    }
}
