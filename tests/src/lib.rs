//! Helpers for pinpipe's integration tests, one module per service or concern: the fixtures and
//! the `pinpipe` command ([`fixtures`]), moto ([`moto`], [`kinesis`]), tansu ([`tansu`]), MariaDB
//! ([`mariadb`]), `pinpipe serve` ([`server`]), a connection outage ([`outage`]), processes and the Python stand-ins ([`process`]),
//! the template as CloudFormation sees it ([`template`], [`cfn`]), the ingest fuzzer ([`fuzz`]) and
//! reading the lake back ([`insights`]).

pub mod athena;
pub mod cfn;
pub mod fixtures;
pub mod fuzz;
pub mod insights;
pub mod kinesis;
pub mod mariadb;
pub mod moto;
pub mod outage;
pub mod process;
pub mod server;
pub mod tansu;
pub mod template;

pub use fixtures::{Run, TempDir, data_file, emulator_payloads, lines, pinpipe, shared_dir};
pub use mariadb::MariaDb;
pub use moto::Moto;
pub use outage::Outage;
pub use process::{Background, PythonProxy, free_port};
pub use server::Server;
pub use tansu::Tansu;
pub use template::{sam_transform, template_json};
