//! The mails the portal sends, and the [`Notifier`] it hands them to.
//!
//! The portal does not speak SMTP itself: it hands every outgoing mail to a [`Notifier`]
//! (the mail outbox, wired by the harness; [`RecordingNotifier`] in tests). Each mail is a
//! plain struct with the facts, plus `subject()` and `text()` that render the seeds' wording
//! (seeds 000–003: figures 4-2, 4-4/4-8 and 4-10), sender [`FROM`].
//!
//! **These are the only copies of the filsluse texts.** [`super::mails`]'s
//! builders (`new_user_mail`, `password_mail`, `new_file_mail`) render through the same
//! functions ([`new_user_text`], [`password_text`], [`new_file_text`]), and
//! [`FilsluseMail::outgoing`] turns a recorded mail into the outbox's
//! [`OutgoingMail`] (what [`super::MailNotifier`] sends). Where the seeds differ the
//! choice is stated at the function.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::mail::{MailAddress, OutgoingMail};

/// The sender of every filsluse mail (seeds: FAQ 5.11): [`SENDER_NAME`] and
/// [`SENDER_ADDRESS`].
pub const FROM: &str = "Statistisk sentralbyrå <MoveITFilsluse@ssb.test>";
/// The display name of the filsluse's sender.
pub const SENDER_NAME: &str = "Statistisk sentralbyrå";
/// The address of the filsluse's sender (seeds 000, 001, 003 give `MoveITFilsluse@ssb.no`;
/// the harness sends from the reserved `.test` domain and never claims a real sender).
pub const SENDER_ADDRESS: &str = "MoveITFilsluse@ssb.test";
/// Subject of the new-user mail (seed 001, Figur 4-2).
pub const NEW_USER_SUBJECT: &str = "Ny bruker for IPLOS tilbakemelding fra Statistisk sentralbyrå";
/// Subject of the password mail (seeds 000 and 003).
pub const PASSWORD_SUBJECT: &str = "IPLOS-tilbakemelding: Nytt passord - NB! Utløper på tid";
/// Subject of the new-file notification. **\[model\]** MOVEit's wording; seed 001's
/// new-user mail announces it as "New File Notifcation" (sic) and that text keeps the
/// seed's spelling ([`new_user_text`]), but the portal's own subject is taken to be
/// spelled right.
pub const NEW_FILE_SUBJECT: &str = "New File Notification";
/// The SSB guidance page the mails point to (seeds).
pub const GUIDANCE_URL: &str =
    "http://www.ssb.no/innrapportering/offentlig-sektor/iplos?fane=veiledning";

/// Receives the portal's outgoing mails. Called on the request's task: an implementation
/// must not block for long (queue the mail and return).
pub trait Notifier: Send + Sync {
    /// A user was created: "Ny bruker for IPLOS tilbakemelding" with the link to
    /// "New User Password Request".
    fn new_user(&self, mail: NewUserMail);
    /// A password link was requested (new user or forgotten password): the link that sets
    /// the password, valid for [`PasswordLinkMail::valid_minutes`].
    fn password_link(&self, mail: PasswordLinkMail);
    /// A file was uploaded to the user's folder: "1 New File Available".
    fn new_file(&self, mail: NewFileMail);
}

/// "Ny bruker" — the mail that tells postmottak an account exists (seed 001, figure 4-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserMail {
    /// Recipient: the user's e-mail address (the postmottak address).
    pub to: String,
    /// The username (the same address unless configured otherwise).
    pub username: String,
    /// The account's full name, e.g. "IPLOS-Tilbakemelding Hamar kommune".
    pub full_name: String,
    /// Link to the "New User Password Request" page.
    pub link: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl NewUserMail {
    /// The subject line.
    pub fn subject(&self) -> String {
        NEW_USER_SUBJECT.to_string()
    }

    /// The body, in the seed's wording ([`new_user_text`]).
    pub fn text(&self) -> String {
        new_user_text(&self.full_name, &self.username, &self.link)
    }
}

/// The body of the new-user mail (seed 001, Figur 4-2): the account's full name, the
/// username and the link to "New User Password Request" filled in.
pub fn new_user_text(full_name: &str, username: &str, link: &str) -> String {
    format!(
        "Velkommen til Statistisk sentralbyrå!\n\n\
         IPLOS (Individbasert Pleie og Omsorgsstatistikk)\n\n\
         En konto har blitt opprettet for IPLOS-kontakt i din kommune, {full_name}. \
         Kontoen gir tilgang for nedlasting av kryptert feillister og kontrolltabeller på \
         IPLOS-innrapportering. Denne nedlastingen skal erstatte tilbakerapportering per CD. \
         Feillistene og kontrolltabellene er unntatt offentligheten.\n\n\
         Brukernavnet til kontoen er: {username}\n\n\
         For å ta i bruk denne kontoen kan du bruke linken under. Du vil bli bedt om å skrive \
         inn brukernavn, etter det vil du motta ytterligere instruksjoner om hvordan du kan få \
         tilgang til systemet.\n\n\
         {link}\n\n\
         Når det blir lagt ut fil for nedlasting, vil det komme en egen epost om dette. \
         Epost om filnedlasting vil ha emne: New File Notifcation.\n\n\
         Dersom du trenger hjelp, kan du kontakte din kontaktperson i SSB ved epost til \
         iplos@ssb.test og iplos@helsedirektoratet.test.\n\n\
         Med vennlig hilsen\nIPLOS-gruppa\n\nStatistisk sentralbyrå\n"
    )
}

/// Why a password link was sent (stored as `new_user`, `password_change`, `admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum LinkReason {
    /// From "New User Password Request".
    NewUser,
    /// From "Password Change Request" (forgotten password).
    PasswordChange,
    /// Sent by the administrator through the handle.
    Admin,
}

/// The mail with the set-password link (seeds 000/003, figure 4-8: "Nytt passord - NB!
/// Utløper på tid").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordLinkMail {
    /// Recipient.
    pub to: String,
    /// The username the link is for.
    pub username: String,
    /// The single-use sign-on link.
    pub link: String,
    /// Why it was sent.
    pub reason: LinkReason,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// The lifetime in minutes (60 by default), as the text says it.
    pub valid_minutes: i64,
    /// The portal's address as the text names it.
    pub portal_url: String,
}

impl PasswordLinkMail {
    /// The subject line.
    pub fn subject(&self) -> String {
        PASSWORD_SUBJECT.to_string()
    }

    /// The body, in the seed's wording ([`password_text`]).
    pub fn text(&self) -> String {
        password_text(self.valid_minutes, &self.portal_url, &self.link)
    }
}

/// The body of the password mail: how many minutes the link works, the portal's address
/// and the link. The wording is seed 000's (January 2018, "bruk linkene nedenfor",
/// "IPLOS-innrapportering, (Individbasert …)"); seed 003 has the same mail with "linken"
/// and a full stop.
pub fn password_text(valid_minutes: i64, portal_url: &str, link: &str) -> String {
    format!(
        "Til IPLOS-kontakt/innsendingsansvarlig for IPLOS i kommunen\n\n\
         Passord må settes innen {m} minutter!\n\n\
         Du har bedt om nytt passord til brukerkonto for på {portal_url} hos Statistisk \
         sentralbyrå.\n\
         Hvis dette er riktig, vennligst bruk linkene nedenfor innen {m} minutter for å legge \
         inn et nytt passord og logge deg på systemet.\n\n\
         {link}\n\n\
         Kontoen gir tilgang for nedlasting av kryptert feillister og kontrolltabeller på \
         IPLOS-innrapportering, (Individbasert Pleie og Omsorgsstatistikk).\n\
         Nedlastingen erstatter tilbakerapportering på CD. Feillistene og kontrolltabellene \
         er personsensitive og unntatt offentlighet. Veiledning finnes på {GUIDANCE_URL}\n\n\
         Med vennlig hilsen\nIPLOS-gruppa\n\nStatistisk sentralbyrå\ne-post: iplos@ssb.test\n",
        m = valid_minutes,
    )
}

/// "1 New File Available" (seed 001, figure 4-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFileMail {
    /// Recipient.
    pub to: String,
    /// The username whose folder got the file.
    pub username: String,
    /// The folder path, `/Home/Ekstern/iplos/<username>/frassb`.
    pub folder_path: String,
    /// The file name, e.g. `040300_iplos_test.zip`.
    pub file_name: String,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// "Date and Time" as shown: Europe/Oslo, `dd.mm.yyyy HH:MM:SS`.
    pub date_and_time: String,
    /// Size in bytes.
    pub size: u64,
    /// Who uploaded it ("frassb").
    pub uploaded_by: String,
    /// The tracking id (the file id).
    pub tracking_id: String,
    /// Link to the file in the portal.
    pub link: String,
    /// Whether the stored bytes were read back and matched the upload's hash.
    pub integrity_verified: bool,
}

impl NewFileMail {
    /// The subject line.
    pub fn subject(&self) -> String {
        NEW_FILE_SUBJECT.to_string()
    }

    /// The body, in the seed's layout ([`new_file_text`]).
    pub fn text(&self) -> String {
        new_file_text(&NewFileFacts {
            folder_path: &self.folder_path,
            file_name: &self.file_name,
            date_and_time: &self.date_and_time,
            size: self.size,
            uploaded_by: &self.uploaded_by,
            tracking_id: &self.tracking_id,
            link: &self.link,
            integrity_verified: self.integrity_verified,
        })
    }
}

/// What the "1 New File Available" text names.
#[derive(Debug, Clone, Copy)]
pub struct NewFileFacts<'a> {
    /// `/Home/Ekstern/iplos/<username>/frassb`.
    pub folder_path: &'a str,
    /// The file name.
    pub file_name: &'a str,
    /// Europe/Oslo, `dd.mm.yyyy HH:MM:SS`.
    pub date_and_time: &'a str,
    /// Bytes (shown with `,` between thousands).
    pub size: u64,
    /// "frassb".
    pub uploaded_by: &'a str,
    /// The tracking id.
    pub tracking_id: &'a str,
    /// The link to the file.
    pub link: &'a str,
    /// "Integrity Verified: YES" or "NO".
    pub integrity_verified: bool,
}

/// The body of "1 New File Available" in seed 001's layout (Figur 4-10: a blank line
/// between the lines).
pub fn new_file_text(f: &NewFileFacts<'_>) -> String {
    format!(
        "1 New File Available\n\n\
         {folder}\n\n\
         File Name: {name}\n\n\
         Date and Time: {when}\n\n\
         Size: {size}\n\n\
         Uploaded By: {by}\n\n\
         Tracking ID: {id}\n\n\
         Link: {link}\n\n\
         Integrity Verified: {ok}\n\n\
         Regards,\nStatistisk sentralbyrå\n",
        folder = f.folder_path,
        name = f.file_name,
        when = f.date_and_time,
        size = thousands(f.size),
        by = f.uploaded_by,
        id = f.tracking_id,
        link = f.link,
        ok = if f.integrity_verified { "YES" } else { "NO" },
    )
}

/// The sender of every filsluse mail as the outbox takes it.
pub fn sender() -> MailAddress {
    MailAddress::named(SENDER_NAME, SENDER_ADDRESS)
}

/// `24544` → `24,544` (the seed's "Size:" format).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One recorded mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilsluseMail {
    /// See [`Notifier::new_user`].
    NewUser(NewUserMail),
    /// See [`Notifier::password_link`].
    PasswordLink(PasswordLinkMail),
    /// See [`Notifier::new_file`].
    NewFile(NewFileMail),
}

impl FilsluseMail {
    /// The recipient.
    pub fn to(&self) -> &str {
        match self {
            FilsluseMail::NewUser(m) => &m.to,
            FilsluseMail::PasswordLink(m) => &m.to,
            FilsluseMail::NewFile(m) => &m.to,
        }
    }

    /// The subject line.
    pub fn subject(&self) -> String {
        match self {
            FilsluseMail::NewUser(m) => m.subject(),
            FilsluseMail::PasswordLink(m) => m.subject(),
            FilsluseMail::NewFile(m) => m.subject(),
        }
    }

    /// The body.
    pub fn text(&self) -> String {
        match self {
            FilsluseMail::NewUser(m) => m.text(),
            FilsluseMail::PasswordLink(m) => m.text(),
            FilsluseMail::NewFile(m) => m.text(),
        }
    }

    /// When the portal sent it (account created, link requested, file uploaded): the
    /// mail's `Date`.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            FilsluseMail::NewUser(m) => m.created_at,
            FilsluseMail::PasswordLink(m) => m.requested_at,
            FilsluseMail::NewFile(m) => m.uploaded_at,
        }
    }

    /// The mail as the outbox sends it: from [`sender`], to the recipient, dated
    /// [`FilsluseMail::at`] (the portal's injected clock).
    pub fn outgoing(&self) -> OutgoingMail {
        OutgoingMail {
            from: sender(),
            to: vec![MailAddress::new(self.to().to_string())],
            subject: self.subject(),
            body: self.text(),
            date: Some(self.at()),
            message_id: None,
        }
    }
}

/// A [`Notifier`] that keeps every mail in memory, for tests.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    mails: Mutex<Vec<FilsluseMail>>,
}

impl RecordingNotifier {
    /// An empty recorder.
    pub fn new() -> RecordingNotifier {
        RecordingNotifier::default()
    }

    /// Every mail so far, oldest first.
    pub fn mails(&self) -> Vec<FilsluseMail> {
        self.mails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The latest password-link mail to `to`, if any.
    pub fn last_password_link(&self, to: &str) -> Option<PasswordLinkMail> {
        self.mails().into_iter().rev().find_map(|m| match m {
            FilsluseMail::PasswordLink(p) if p.to.eq_ignore_ascii_case(to) => Some(p),
            _ => None,
        })
    }

    /// The latest new-user mail to `to`, if any.
    pub fn last_new_user(&self, to: &str) -> Option<NewUserMail> {
        self.mails().into_iter().rev().find_map(|m| match m {
            FilsluseMail::NewUser(p) if p.to.eq_ignore_ascii_case(to) => Some(p),
            _ => None,
        })
    }

    /// Every new-file mail to `to`, oldest first.
    pub fn new_files(&self, to: &str) -> Vec<NewFileMail> {
        self.mails()
            .into_iter()
            .filter_map(|m| match m {
                FilsluseMail::NewFile(p) if p.to.eq_ignore_ascii_case(to) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn push(&self, mail: FilsluseMail) {
        self.mails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mail);
    }
}

impl Notifier for RecordingNotifier {
    fn new_user(&self, mail: NewUserMail) {
        self.push(FilsluseMail::NewUser(mail));
    }

    fn password_link(&self, mail: PasswordLinkMail) {
        self.push(FilsluseMail::PasswordLink(mail));
    }

    fn new_file(&self, mail: NewFileMail) {
        self.push(FilsluseMail::NewFile(mail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separator() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(24_544), "24,544");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
