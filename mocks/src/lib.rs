//! The national side of IPLOS reporting as servers a vendor's unmodified client can talk to:
//! the NHN service bus (AMQP 1.0), the test PKI and CMS, and (later) Sendemodul, filsluse,
//! mail and the receiver. Each endpoint is a server with a handle; [`national`] assembles
//! them into one.

pub mod cms;
pub mod faultproxy;
pub mod feedback;
pub mod filsluse;
pub mod front;
pub mod http_auth;
pub mod http_limits;
pub mod intake;
pub mod mail;
pub mod national;
pub mod nhn;
pub mod pki;
pub mod rabbitmq;
pub mod receiver;
pub mod sendemodul;
pub mod sender;
pub mod servicebus;
mod text_enum;
pub mod tls_client;
