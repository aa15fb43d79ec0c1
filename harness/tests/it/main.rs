//! The integration tests of this crate, one binary (linking once) with a module per
//! behaviour: the CLI end to end: check, generate, serve, rehearse, certify.

mod certify_support;
mod reserved_domains;
mod serve_support;
// The private RabbitMQ nodes of the mocks' tests, shared rather than copied.
#[path = "../../../mocks/tests/it/rabbitmq_support.rs"]
mod rabbitmq_support;
// Test certificates from the openssl command, shared with the mocks' TLS tests.
#[path = "../../../mocks/tests/it/openssl_ca.rs"]
mod openssl_ca;

mod certify_cli;
mod certify_guide;
mod certify_python;
mod certify_rabbitmq;
mod certify_run;
mod check_cli;
mod generate_cli;
mod house;
mod rabbitmq_tls;
mod rehearse;
mod rehearse_cluster;
mod rehearse_rabbitmq;
mod rehearse_report;
mod rehearse_resume;
mod serve_cli;
mod serve_proton;
mod serve_restart;
mod serve_sendemodul;
mod xsd_agreement;
