//! Judging one message: header checks, CMS, MsgHead, the IPLOS check, and the reply
//! (an AppRec, an error message, or a dead letter). Synchronous and without I/O except
//! through the [`Chains`] the caller gives (the runner runs it on a blocking thread).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use fe2o3_amqp_types::messaging::{
    ApplicationProperties, Body, Data, Message, MessageId, Properties,
};
use fe2o3_amqp_types::primitives::Binary;
use iplos_model::ids::HerId;
use iplos_model::message::{
    AppRec, AppRecError, AppRecErrorCode, AppRecParty, AppRecStatus, Coded, MsgHeadInfo,
    MsgHeadReadError, OriginalMsgId, OutputEncoding, read_msghead, write_apprec, write_message,
};
use iplos_model::rules::{CheckOptions, ContentState, check_stream};

use super::config::{Injection, ReceiverConfig};
use super::directory::CertificateDirectory;
use super::mapping;
use super::verdict::{Answer, Stage, Verdict};
use crate::cms::{self, CmsError};
use crate::nhn::{self, ErrorCondition, Prop};
use crate::pki::Party;
use crate::servicebus::{AmqpMessage, QueueKind, parse_queue_name, target_queue};

/// The kommunes' content states (the notification chain carried from message to message).
pub(crate) trait Chains {
    /// The state of sender `from` (taken out; give it back with [`Chains::put`]).
    fn take(&mut self, from: HerId) -> ContentState;
    /// Puts a state back.
    fn put(&mut self, from: HerId, state: ContentState);
    /// The AppRec answered to an earlier message of sender `from` with this MsgHead MsgId
    /// (its status code and the encoded AMQP reply), if any.
    fn original_apprec(&mut self, _from: HerId, _msg_id: &str) -> Option<(String, Vec<u8>)> {
        None
    }
}

/// What the judge needs to know.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a ReceiverConfig,
    pub(crate) identity: &'a Party,
    pub(crate) directory: &'a dyn CertificateDirectory,
    pub(crate) queues: &'a HashSet<String>,
    pub(crate) namespace: &'a str,
    /// The HER-id whose `_async` queue the message came from.
    pub(crate) own_her: HerId,
    pub(crate) now: DateTime<Utc>,
}

/// The reply decided for a message.
pub(crate) enum Reply {
    /// Send this message to this queue.
    Send {
        queue: String,
        message_id: String,
        message: Box<AmqpMessage>,
    },
    /// No queue to answer on: dead-letter the message.
    DeadLetter(String),
}

/// The outcome of judging.
pub(crate) struct Judged {
    pub(crate) verdict: Verdict,
    /// The decrypted, verified content (MsgHead XML).
    pub(crate) content: Option<Vec<u8>>,
    /// Whether the content counts for the kommune's chain.
    pub(crate) replay: bool,
    /// The IPLOS document that counts instead of the content's (partial rejection).
    pub(crate) replay_document: Option<Vec<u8>>,
    pub(crate) reply: Reply,
}

/// Who the message says it is from, and where errors about it go.
struct Sender {
    from: Option<HerId>,
    error_queue: Option<String>,
}

fn parse_her(p: &Prop, name: &str) -> Result<HerId, String> {
    match p {
        Prop::Missing => Err(format!("application property '{name}' is missing")),
        Prop::OtherType(t) => Err(format!(
            "application property '{name}' has type {t}; a HER-id written as a string is expected"
        )),
        Prop::Text(s) if s.trim().is_empty() => {
            Err(format!("application property '{name}' is empty"))
        }
        Prop::Text(s) => HerId::parse(s.trim())
            .map_err(|e| format!("application property '{name}' = \"{s}\" is not a HER-id: {e}")),
    }
}

fn normalise_content_type(s: &str) -> String {
    s.split(';')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(";")
}

/// The queue a reply-to address names, if it is one of the broker's.
fn reply_to_queue(m: &AmqpMessage, ctx: &Ctx<'_>) -> Option<String> {
    let addr = m.properties.as_ref()?.reply_to.as_deref()?;
    let q = target_queue(addr, ctx.namespace).ok()?;
    ctx.queues.contains(&q).then_some(q)
}

fn sender_of(m: &AmqpMessage, ctx: &Ctx<'_>) -> Sender {
    let from = parse_her(&nhn::app_prop(m, nhn::FROM_HER_ID), nhn::FROM_HER_ID).ok();
    let own_error = from
        .map(|h| QueueKind::Error.queue_name(h))
        .filter(|q| ctx.queues.contains(q));
    let via_reply_to = || {
        let q = reply_to_queue(m, ctx)?;
        let (her, _) = parse_queue_name(&q)?;
        let e = QueueKind::Error.queue_name(her);
        ctx.queues.contains(&e).then_some(e)
    };
    Sender {
        from,
        error_queue: own_error.or_else(via_reply_to),
    }
}

/// What a judging carries from one step to the next (owned: the steps may run on
/// different threads).
pub(crate) struct Parts {
    sender: Sender,
    verdict: Verdict,
    content: Option<Vec<u8>>,
    replay: bool,
    replay_document: Option<Vec<u8>>,
}

/// A message after [`prepare`]: answered already, or decrypted and verified with its
/// MsgHead read, for the kommune's chain.
pub(crate) struct Prepared {
    parts: Parts,
    next: Result<Box<Ready>, Reply>,
}

impl Prepared {
    /// The sender and MsgHead MsgId, once the MsgHead was read.
    pub(crate) fn msg_key(&self) -> Option<(HerId, &str)> {
        Some((
            self.parts.sender.from?,
            self.parts.verdict.msg_id.as_deref()?,
        ))
    }

    /// Whether the kommune's chain decides (the message is not answered yet).
    pub(crate) fn is_ready(&self) -> bool {
        self.next.is_ok()
    }
}

/// A message decrypted and verified, its MsgHead read and accepted.
struct Ready {
    from: HerId,
    info: MsgHeadInfo,
    original: Original,
    content: Vec<u8>,
}

/// A message after [`check`]: answered already, or the AppRec to sign and encrypt.
pub(crate) struct Checked {
    parts: Parts,
    next: Result<Box<Decided>, Reply>,
}

/// The AppRec decided by the IPLOS check.
struct Decided {
    from: HerId,
    original: Original,
    status: AppRecStatus,
    errors: Vec<AppRecError>,
}

/// Step 1, without state (any thread, any order): the header, the CMS decryption and
/// signature, the MsgHead. Answers with an error message or a MsgHead-stage AppRec (signed
/// and encrypted here) when one of them decides.
pub(crate) fn prepare(m: &AmqpMessage, ctx: &Ctx<'_>, injection: Option<&Injection>) -> Prepared {
    let mut j = Judging::new(m, ctx, injection, fresh_parts(m, ctx));
    let next = j.prepare().map(Box::new);
    Prepared {
        parts: j.parts,
        next,
    }
}

/// Step 2, with the kommune's chain (one message of a kommune after the other, in arrival
/// order): an earlier message with the same MsgId, the IPLOS check.
pub(crate) fn check(
    m: &AmqpMessage,
    ctx: &Ctx<'_>,
    chains: &mut dyn Chains,
    injection: Option<&Injection>,
    prepared: Prepared,
) -> Checked {
    let Prepared { parts, next } = prepared;
    let mut j = Judging::new(m, ctx, injection, parts);
    let next = match next {
        Ok(ready) => j.check(*ready, chains).map(Box::new),
        Err(reply) => Err(reply),
    };
    Checked {
        parts: j.parts,
        next,
    }
}

/// Step 3, without state (any thread, any order): the AppRec signed and encrypted.
pub(crate) fn finish(
    m: &AmqpMessage,
    ctx: &Ctx<'_>,
    injection: Option<&Injection>,
    checked: Checked,
) -> Judged {
    let Checked { parts, next } = checked;
    let mut j = Judging::new(m, ctx, injection, parts);
    let reply = match next {
        Ok(d) => j.apprec(d.from, Some(d.original), d.status, d.errors),
        Err(reply) => reply,
    };
    j.judged(reply)
}

fn fresh_parts(m: &AmqpMessage, ctx: &Ctx<'_>) -> Parts {
    Parts {
        sender: sender_of(m, ctx),
        verdict: Verdict {
            stage: Stage::Header,
            message_id: nhn::message_id(m),
            from_her: nhn::app_prop_text(m, nhn::FROM_HER_ID),
            to_her: nhn::app_prop_text(m, nhn::TO_HER_ID),
            msg_id: None,
            answer: Answer::DeadLetter {
                reason: String::new(),
            },
            report: None,
        },
        content: None,
        replay: false,
        replay_document: None,
    }
}

struct Judging<'a> {
    m: &'a AmqpMessage,
    ctx: &'a Ctx<'a>,
    parts: Parts,
    injection: Option<&'a Injection>,
}

impl<'a> Judging<'a> {
    fn new(
        m: &'a AmqpMessage,
        ctx: &'a Ctx<'a>,
        injection: Option<&'a Injection>,
        parts: Parts,
    ) -> Judging<'a> {
        Judging {
            m,
            ctx,
            parts,
            injection,
        }
    }

    fn judged(self, reply: Reply) -> Judged {
        let Parts {
            verdict,
            content,
            replay,
            replay_document,
            ..
        } = self.parts;
        Judged {
            verdict,
            content,
            replay,
            replay_document,
            reply,
        }
    }
}

/// Where the AppRec refers back to: the MsgHead's id, type and date when read.
struct Original {
    msg_type: Coded,
    issue_date: String,
    id: String,
    sender_name: Option<String>,
}

impl Judging<'_> {
    /// Step 1: up to the MsgHead read and accepted, or the answer.
    fn prepare(&mut self) -> Result<Ready, Reply> {
        let ctx = self.ctx;
        let m = self.m;

        // 1. Header.
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        if self.parts.verdict.message_id.is_none() {
            problems.push(("message-id", "the message has no message-id".into()));
        }
        match parse_her(&nhn::app_prop(m, nhn::TO_HER_ID), nhn::TO_HER_ID) {
            Err(e) => problems.push((nhn::TO_HER_ID, e)),
            Ok(h) if h != ctx.own_her => problems.push((
                nhn::TO_HER_ID,
                format!(
                    "application property 'toHerId' = {h} is not the HER-id of this queue's owner ({})",
                    ctx.own_her
                ),
            )),
            Ok(_) => {}
        }
        if let Err(e) = parse_her(&nhn::app_prop(m, nhn::FROM_HER_ID), nhn::FROM_HER_ID) {
            problems.push((nhn::FROM_HER_ID, e));
        }
        let props = m.properties.as_ref();
        let subject = props.and_then(|p| p.subject.as_deref()).unwrap_or("");
        if subject.trim().is_empty() {
            problems.push((
                "subject",
                "property 'subject' (the message function) is missing".into(),
            ));
        }
        match nhn::app_prop(m, nhn::APPLICATION_TIMESTAMP) {
            Prop::Missing => problems.push((
                nhn::APPLICATION_TIMESTAMP,
                "application property 'applicationTimeStamp' is missing".into(),
            )),
            Prop::OtherType(t) => problems.push((
                nhn::APPLICATION_TIMESTAMP,
                format!("application property 'applicationTimeStamp' has type {t}; a string yyyy-MM-ddTHH:mm:ssK is expected"),
            )),
            Prop::Text(s) => {
                if let Err(e) = nhn::check_timestamp(&s) {
                    problems.push((
                        nhn::APPLICATION_TIMESTAMP,
                        format!("application property 'applicationTimeStamp': {e}"),
                    ));
                }
            }
        }
        match props
            .and_then(|p| p.content_type.as_ref())
            .map(|c| c.as_str())
        {
            None | Some("") => problems.push((
                "content-type",
                format!(
                    "property 'content-type' is missing; expected '{}'",
                    nhn::CONTENT_TYPE_SIGNED_ENVELOPED
                ),
            )),
            Some(ct)
                if normalise_content_type(ct)
                    != normalise_content_type(nhn::CONTENT_TYPE_SIGNED_ENVELOPED) =>
            {
                problems.push((
                    "content-type",
                    format!(
                        "property 'content-type' is '{ct}'; expected '{}'",
                        nhn::CONTENT_TYPE_SIGNED_ENVELOPED
                    ),
                ))
            }
            Some(_) => {}
        }
        if !problems.is_empty() {
            let description = problems
                .iter()
                .map(|(_, d)| d.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let data = problems
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(",");
            return Err(self.error(ErrorCondition::InvalidFieldValue, description, data));
        }
        let from = self.parts.sender.from.expect("fromHerId checked above");
        if subject != ctx.config.subject {
            return Err(self.error(
                ErrorCondition::UnsupportedMessage,
                format!(
                    "subject (message function) '{subject}' is not handled by this receiver; expected '{}'",
                    ctx.config.subject
                ),
                "subject".into(),
            ));
        }

        // 2. Body.
        self.parts.verdict.stage = Stage::Body;
        let data = match nhn::single_data(m) {
            Ok(d) => d,
            Err(shape) => {
                return Err(self.error(
                    ErrorCondition::UnsupportedMessage,
                    format!("the message has {shape}; exactly one data section with the CMS payload is expected"),
                    "body".into(),
                ));
            }
        };

        // 3. CMS.
        self.parts.verdict.stage = Stage::Cms;
        if data.len() > ctx.config.max_message_bytes {
            return Err(self.cms_error(CmsError::TooLarge {
                size: data.len(),
                limit: ctx.config.max_message_bytes,
            }));
        }
        let signed = match cms::decrypt(
            data,
            &ctx.identity.encryption.cert,
            &ctx.identity.encryption.key,
        ) {
            Ok(s) => s,
            Err(e) => return Err(self.cms_error(e)),
        };
        let Some(registered) = ctx.directory.signing_cert(from) else {
            return Err(self.error(
                ErrorCondition::MissingCertificate,
                format!(
                    "no signing certificate is registered for HER-id {from}; {}",
                    CmsError::MissingCertificate
                ),
                format!("fromHerId={from}"),
            ));
        };
        let trust = match ctx.directory.trust_store() {
            Ok(t) => t,
            Err(e) => {
                return Err(self.error(
                    ErrorCondition::InternalError,
                    format!("the receiver's trust store could not be loaded: {e}"),
                    String::new(),
                ));
            }
        };
        let verified = match cms::verify_signed(&signed, &trust, Some(&registered), ctx.now) {
            Ok(v) => v,
            Err(e) => return Err(self.cms_error(e)),
        };
        drop(signed);

        // 4. MsgHead.
        self.parts.verdict.stage = Stage::MsgHead;
        let info = match read_msghead(&verified.content) {
            Ok(info) => info,
            Err(e) => {
                let text = e.to_string();
                self.parts.content = Some(verified.content);
                return Err(match e {
                    MsgHeadReadError::Xml(_) => self.error(
                        ErrorCondition::NotWellFormedXml,
                        format!("the signed content is not well-formed XML: {text}"),
                        "MsgHead".into(),
                    ),
                    MsgHeadReadError::NotMsgHead { .. } => self.error(
                        ErrorCondition::UnsupportedMessage,
                        format!(
                            "the signed content is not a MsgHead ({}): {text}",
                            msghead_ns()
                        ),
                        "MsgHead".into(),
                    ),
                    MsgHeadReadError::Missing("MsgInfo/MsgId") => self.apprec(
                        from,
                        None,
                        AppRecStatus::Rejected,
                        vec![AppRecErrorCode::E10.error(&text)],
                    ),
                    MsgHeadReadError::Missing(_) => self.apprec(
                        from,
                        None,
                        AppRecStatus::Rejected,
                        vec![AppRecErrorCode::T02.error(&text)],
                    ),
                    MsgHeadReadError::FileReference => self.apprec(
                        from,
                        None,
                        AppRecStatus::Rejected,
                        vec![AppRecErrorCode::T10.error(&text)],
                    ),
                });
            }
        };
        self.parts.verdict.msg_id = Some(info.msg_id.clone());
        let original = Original {
            msg_type: info.msg_type.clone(),
            issue_date: info.gen_date.clone(),
            id: info.msg_id.clone(),
            sender_name: Some(info.sender.name.clone()).filter(|n| !n.is_empty()),
        };
        let sender_her = info.sender_her_id().to_string();
        if HerId::parse(sender_her.trim()).ok() != Some(from) {
            self.parts.content = Some(verified.content.clone());
            return Err(self.error(
                ErrorCondition::SpoofingAttack,
                format!(
                    "the MsgHead's sender HER-id '{sender_her}' is not the fromHerId {from} the message was sent as"
                ),
                format!("MsgHead sender={sender_her}; fromHerId={from}"),
            ));
        }
        let receiver_her = info.receiver_her_id().to_string();
        let mut head_errors = Vec::new();
        if HerId::parse(receiver_her.trim()).ok() != Some(ctx.own_her) {
            head_errors.push(AppRecErrorCode::E21.error(&format!(
                "MsgHead MsgInfo/Receiver: HER-id '{receiver_her}' is not this receiver ({})",
                ctx.own_her
            )));
        }
        if info.msg_type.v != ctx.config.msg_type {
            head_errors.push(AppRecErrorCode::T10.error(&format!(
                "MsgHead MsgInfo/Type '{}' is not handled by this receiver; expected '{}'",
                info.msg_type.v, ctx.config.msg_type
            )));
        }
        if !nhn::is_guid(&info.msg_id) {
            head_errors.push(AppRecErrorCode::E10.error(&format!(
                "MsgHead MsgInfo/MsgId '{}' is not a GUID",
                info.msg_id
            )));
        }
        if !head_errors.is_empty() {
            self.parts.content = Some(verified.content.clone());
            return Err(self.apprec(from, Some(original), AppRecStatus::Rejected, head_errors));
        }
        Ok(Ready {
            from,
            info,
            original,
            content: verified.content,
        })
    }

    /// Step 2: the IPLOS check against the kommune's chain, or the answer.
    fn check(&mut self, ready: Ready, chains: &mut dyn Chains) -> Result<Decided, Reply> {
        let ctx = self.ctx;
        let Ready {
            from,
            info,
            original,
            content,
        } = ready;
        // A resend of a message the register already has (the same MsgId): the original
        // AppRec again, the content not counted a second time.
        if let Some((status, reply)) = chains.original_apprec(from, &info.msg_id)
            && let Some(r) = self.original_again(from, &status, &reply)
        {
            self.parts.content = Some(content);
            return Err(r);
        }

        // 5. IPLOS.
        self.parts.verdict.stage = Stage::Iplos;
        let doc = info.content_document();
        let options = CheckOptions {
            data_year: ctx.config.data_year,
            test_mode: ctx.config.test_mode,
            ..CheckOptions::default()
        };
        // Checked tentatively: a rejected message is undone from the journal of what it
        // changed, whatever the length of the kommune's history.
        let mut state = chains.take(from);
        state.begin();
        let report = check_stream(&doc[..], &options, &mut state, &mut |_| {});
        let mut status = mapping::status(&report);
        let mut partly_nothing = false;
        let mut errors = mapping::errors(&report, ctx.config.max_apprec_errors);
        match self.injection {
            // The AppRec itself is changed in `apprec`.
            Some(Injection::Rejected { .. }) => status = AppRecStatus::Rejected,
            Some(Injection::PartlyRejected { count, reason })
                if status != AppRecStatus::Rejected =>
            {
                if let Some((named, accepted)) = partly_rejected(&doc, &options, &mut state, *count)
                {
                    status = AppRecStatus::OkWithErrors;
                    let named = named.iter().map(|guid| {
                        AppRecErrorCode::X99.error(&format!(
                            "notification notifikasjonGUID {guid} rejected: {reason}"
                        ))
                    });
                    errors.splice(0..0, named);
                    match accepted {
                        Some(document) => self.parts.replay_document = Some(document),
                        // Nothing of the message counts.
                        None => partly_nothing = true,
                    }
                }
            }
            _ => {}
        }
        drop(doc);
        if status == AppRecStatus::Rejected {
            state.rollback();
        } else {
            state.commit();
            self.parts.replay = !partly_nothing;
        }
        chains.put(from, state);
        self.parts.verdict.report = Some(report);
        drop(info);
        self.parts.content = Some(content);
        Ok(Decided {
            from,
            original,
            status,
            errors,
        })
    }

    /// An error message to the sender's error queue, or a dead letter without one.
    fn error(&mut self, condition: ErrorCondition, description: String, data: String) -> Reply {
        self.parts.verdict.answer = Answer::Error {
            condition,
            description: description.clone(),
            data: data.clone(),
        };
        let Some(queue) = self.parts.sender.error_queue.clone() else {
            let reason = format!(
                "{condition}: {description} (no error queue: fromHerId and reply-to name no known HER-id)"
            );
            self.parts.verdict.answer = Answer::DeadLetter {
                reason: reason.clone(),
            };
            return Reply::DeadLetter(reason);
        };
        let ctx = self.ctx;
        let message_id = nhn::new_guid();
        let original = self.parts.verdict.message_id.clone().unwrap_or_default();
        let mut props = Properties::builder()
            .message_id(MessageId::String(message_id.clone()))
            .to(queue.clone());
        if let Some(orig) = &self.parts.verdict.message_id {
            props = props.correlation_id(MessageId::String(orig.clone()));
        }
        let mut app = ApplicationProperties::builder()
            .insert(nhn::ORIGINAL_MESSAGE_ID, original)
            .insert(nhn::RECEIVER_TIMESTAMP, nhn::format_timestamp(ctx.now))
            .insert(nhn::ERROR_CONDITION, condition.as_str())
            .insert(nhn::ERROR_DESCRIPTION, description)
            .insert(nhn::ERROR_CONDITION_DATA, data)
            .insert(nhn::FROM_HER_ID, ctx.own_her.to_string());
        if let Some(from) = self.parts.sender.from {
            app = app.insert(nhn::TO_HER_ID, from.to_string());
        }
        let message = Message::builder()
            .properties(props.build())
            .application_properties(app.build())
            .body(Body::Empty)
            .build();
        Reply::Send {
            queue,
            message_id,
            message: Box::new(message),
        }
    }

    fn cms_error(&mut self, e: CmsError) -> Reply {
        // errorConditionData: the kind of CMS error (`NotForUs`, `Expired`, ...).
        let data: &'static str = (&e).into();
        self.error(e.error_condition(), e.to_string(), data.into())
    }

    /// The AppRec sent for the original message with this MsgId, sent again (same body,
    /// a new message-id, correlated with this message) to where this message asks.
    fn original_again(&mut self, from: HerId, status: &str, reply: &[u8]) -> Option<Reply> {
        let ctx = self.ctx;
        let mut message = crate::servicebus::decode_message(reply).ok()?;
        let queue = reply_to_queue(self.m, ctx).or_else(|| {
            let q = QueueKind::Async.queue_name(from);
            ctx.queues.contains(&q).then_some(q)
        })?;
        let message_id = nhn::new_guid();
        let props = message.properties.get_or_insert_with(Properties::default);
        props.message_id = Some(MessageId::String(message_id.clone()));
        props.to = Some(queue.clone());
        props.correlation_id = self.parts.verdict.message_id.clone().map(MessageId::String);
        // Decided after the MsgHead was read (the IPLOS check is the original's).
        self.parts.verdict.stage = Stage::Iplos;
        self.parts.verdict.answer = Answer::AppRec {
            status: status.to_string(),
            errors: Vec::new(),
        };
        self.parts.replay = false;
        Some(Reply::Send {
            queue,
            message_id,
            message: Box::new(message),
        })
    }

    /// A signed and encrypted AppRec to the sender's queue.
    fn apprec(
        &mut self,
        from: HerId,
        original: Option<Original>,
        mut status: AppRecStatus,
        mut errors: Vec<AppRecError>,
    ) -> Reply {
        let ctx = self.ctx;
        if let Some(Injection::Rejected { reason }) = self.injection {
            status = AppRecStatus::Rejected;
            errors.insert(0, AppRecErrorCode::X99.error(reason));
        }
        self.parts.verdict.answer = Answer::AppRec {
            status: status.code().to_string(),
            errors: errors.clone(),
        };
        let original = original.unwrap_or_else(|| Original {
            msg_type: Coded::cs(&ctx.config.msg_type, "IPLOS-melding til KPR"),
            issue_date: nhn::app_prop_text(self.m, nhn::APPLICATION_TIMESTAMP).unwrap_or_default(),
            id: self.parts.verdict.message_id.clone().unwrap_or_default(),
            sender_name: None,
        });
        let mut apprec = AppRec::new(
            &nhn::new_guid(),
            &nhn::format_timestamp(ctx.now),
            AppRecParty::new(&ctx.config.name, &ctx.own_her.to_string()),
            AppRecParty::new(
                original
                    .sender_name
                    .as_deref()
                    .unwrap_or(&format!("HER-id {from}")),
                &from.to_string(),
            ),
            status,
            OriginalMsgId {
                msg_type: original.msg_type,
                issue_date: original.issue_date,
                id: original.id,
            },
        );
        apprec.errors = errors;
        let xml = write_apprec(&apprec);
        let Some(recipient) = ctx.directory.encryption_cert(from) else {
            return self.error(
                ErrorCondition::MissingCertificate,
                format!(
                    "no encryption certificate is registered for HER-id {from}: the receipt cannot be encrypted"
                ),
                format!("toHerId={from}"),
            );
        };
        let payload = match cms::sign_then_encrypt(
            &xml,
            &ctx.identity.signing.cert,
            &ctx.identity.signing.key,
            &recipient,
            ctx.now,
        ) {
            Ok(p) => p,
            Err(e) => {
                return self.error(
                    e.error_condition(),
                    format!("the receipt cannot be encrypted for HER-id {from}'s registered certificate: {e}"),
                    format!("toHerId={from}"),
                );
            }
        };
        let Some(queue) = reply_to_queue(self.m, ctx).or_else(|| {
            let q = QueueKind::Async.queue_name(from);
            ctx.queues.contains(&q).then_some(q)
        }) else {
            let reason = format!(
                "AppRec status {} could not be addressed: neither reply-to nor {from}_async is a queue",
                apprec.status.code()
            );
            self.parts.verdict.answer = Answer::DeadLetter {
                reason: reason.clone(),
            };
            return Reply::DeadLetter(reason);
        };
        let message_id = nhn::new_guid();
        let mut props = Properties::builder()
            .message_id(MessageId::String(message_id.clone()))
            .to(queue.clone())
            .reply_to(QueueKind::Async.queue_name(ctx.own_her))
            .subject(nhn::SUBJECT_APPREC)
            .content_type(nhn::CONTENT_TYPE_SIGNED_ENVELOPED);
        if let Some(orig) = &self.parts.verdict.message_id {
            props = props.correlation_id(MessageId::String(orig.clone()));
        }
        let app = ApplicationProperties::builder()
            .insert(nhn::FROM_HER_ID, ctx.own_her.to_string())
            .insert(nhn::TO_HER_ID, from.to_string())
            .insert(nhn::APPLICATION_TIMESTAMP, nhn::format_timestamp(ctx.now))
            .build();
        let message = Message::builder()
            .properties(props.build())
            .application_properties(app)
            .body(Body::Data(vec![Data(Binary::from(payload))].into()))
            .build();
        Reply::Send {
            queue,
            message_id,
            message: Box::new(message),
        }
    }
}

/// What counts of a partly rejected message: the copy without the rejected notifications;
/// `None` when nothing counts.
type Accepted = Option<Vec<u8>>;

/// For [`Injection::PartlyRejected`]: the `notifikasjonGUID`s of the last `count`
/// notifications of `doc`, and what counts: a copy of `doc` without them. `state` has
/// checked `doc` tentatively ([`ContentState::begin`]); when this returns `Some` it has
/// instead checked what counts (still tentatively: nothing when nothing counts). `None`
/// (and `state` untouched) when the document cannot be read as a `Melding`, has no
/// notification, or `count` is 0 (the normal answer stands).
fn partly_rejected(
    doc: &[u8],
    options: &CheckOptions,
    state: &mut ContentState,
    count: usize,
) -> Option<(Vec<String>, Accepted)> {
    let received = iplos_model::compare::read_received(doc, options).ok()?;
    let mut melding = received.melding;
    let n = melding.notifikasjoner.len();
    if n == 0 || count == 0 {
        return None;
    }
    let keep = n.saturating_sub(count);
    let named = melding
        .notifikasjoner
        .drain(keep..)
        .map(|n| n.guid)
        .collect::<Vec<_>>();
    let bytes = if keep == 0 {
        None
    } else {
        Some(write_message(&melding, Vec::new(), OutputEncoding::Utf8).ok()?)
    };
    // Back to the state before the message, then the copy on its own.
    state.rollback();
    state.begin();
    let Some(bytes) = bytes else {
        return Some((named, None));
    };
    let report = check_stream(&bytes[..], options, state, &mut |_| {});
    if mapping::status(&report) == AppRecStatus::Rejected {
        // The copy is rejected on its own (should not happen for a message that was not):
        // nothing of it is accepted.
        tracing::warn!("the copy without the rejected notifications is itself rejected");
        state.rollback();
        state.begin();
        return Some((named, None));
    }
    Some((named, Some(bytes)))
}

fn msghead_ns() -> &'static str {
    iplos_model::message::NS_MSGHEAD
}

/// The verdict on one attempt at a message, as both receivers (on our broker and as a
/// client of RabbitMQ) reach it: an injected transport error, the give-up after more than
/// `ctx.config.max_attempts` attempts, or the register's judgement with the kommune's chain;
/// `injection` (Rejected or PartlyRejected) changes the AppRec as the module docs of
/// [`super`] describe (other injections are the runner's business). The three steps
/// [`prepare_attempt`], [`check`] and [`finish`] at once (the in-process receiver runs them
/// apart, see [`super::run::consume`]).
pub(crate) fn judge_attempt(
    m: &AmqpMessage,
    ctx: &Ctx<'_>,
    chains: &mut dyn Chains,
    injection: Option<&Injection>,
    attempts: u32,
) -> Judged {
    let prepared = prepare_attempt(m, ctx, injection, attempts);
    let checked = check(m, ctx, chains, injection, prepared);
    finish(m, ctx, injection, checked)
}

/// [`prepare`] for one attempt at a message: the injected transport error and the give-up
/// of [`judge_attempt`] are decided here (no chain is touched for them).
pub(crate) fn prepare_attempt(
    m: &AmqpMessage,
    ctx: &Ctx<'_>,
    injection: Option<&Injection>,
    attempts: u32,
) -> Prepared {
    if let Some(Injection::TransportError { description }) = injection {
        return internal_error(m, ctx, description.clone());
    }
    if attempts > ctx.config.max_attempts {
        return internal_error(
            m,
            ctx,
            format!(
                "the receiver failed {} times while handling this message and gives up",
                attempts - 1
            ),
        );
    }
    prepare(m, ctx, injection)
}

/// An error reply for a message the receiver gave up on (internal error), addressed the
/// same way as any error.
fn internal_error(m: &AmqpMessage, ctx: &Ctx<'_>, description: String) -> Prepared {
    let mut parts = fresh_parts(m, ctx);
    parts.verdict.stage = Stage::Internal;
    let mut j = Judging::new(m, ctx, None, parts);
    let reply = j.error(ErrorCondition::InternalError, description, String::new());
    Prepared {
        parts: j.parts,
        next: Err(reply),
    }
}
