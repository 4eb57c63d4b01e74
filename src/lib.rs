//! assimetria-auth (work in progress)
#![forbid(unsafe_code)]
pub mod api_key;
pub mod audit;
pub mod clock;
pub mod config;
pub mod error;
pub mod mail;
pub mod password;
pub mod rate_limit;
pub mod rbac;
pub mod refresh;
pub mod secret;
pub mod service;
pub mod store;
pub mod token;
pub use config::AuthConfig;
pub use error::Error;
pub use service::AuthService;
