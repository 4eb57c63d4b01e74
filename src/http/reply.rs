//! [`Reply`]: what every endpoint answers, and the seed's error shape for both kinds of failure
//! (the core's [`Error`] and the transport's [`HttpError`]).

use std::fmt;

use serde::Serialize;

use super::HttpError;
use crate::error::Error;

/// A response to send: status, extra headers, JSON body. `Debug` shows the status, the header
/// names and the body's length only: a body or a cookie may hold a token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Headers besides `Content-Type: application/json` (which every reply has).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// The error body: `{"success": false, "error", "message"}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    success: bool,
    error: &'static str,
    message: &'a str,
}

impl Reply {
    /// A JSON reply.
    pub fn json<T: Serialize>(status: u16, body: &T) -> Self {
        let body = serde_json::to_vec(body).unwrap_or_else(|_| {
            br#"{"success":false,"error":"internal_error","message":"internal server error"}"#
                .to_vec()
        });
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn failure(status: u16, code: &'static str, message: &str) -> Self {
        let body = ErrorBody {
            success: false,
            error: code,
            message,
        };
        Self::json(status, &body)
    }

    /// The error reply for `err`, in the seed's shape. `token_presented` adds
    /// `error="invalid_token"` to the `WWW-Authenticate` header of a 401.
    pub fn error(err: &Error, token_presented: bool) -> Self {
        let status = err.status();
        if status >= 500 {
            tracing::error!(error = %err, source = ?std::error::Error::source(err), "request failed");
        }
        let mut reply = Self::failure(status, err.code(), &err.public_message());
        if status == 401 {
            let value = if token_presented {
                r#"Bearer error="invalid_token""#.to_owned()
            } else {
                "Bearer".to_owned()
            };
            reply.headers.push(("www-authenticate", value));
        }
        if let Error::RateLimited { retry_after } = err {
            reply
                .headers
                .push(("retry-after", retry_after.as_secs().max(1).to_string()));
        }
        reply
    }

    /// The seed's generic `500 internal_error`, for a failure whose detail belongs in a log the
    /// caller writes.
    pub(crate) fn internal_error() -> Self {
        Self::failure(500, "internal_error", "internal server error")
    }

    /// A `422 validation_error` in the seed's shape with the host's own `message`: for a host's
    /// routes that refuse a well-formed request whose content breaks their rules.
    pub fn invalid(message: &str) -> Self {
        Self::failure(422, "validation_error", message)
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The value of an extra header set on this reply.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Names the status only: a reply's body may hold tokens.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reply with status {}", self.status)
    }
}

/// The transport refusal in the seed's error shape.
impl From<&HttpError> for Reply {
    fn from(err: &HttpError) -> Self {
        Self::failure(err.status(), err.code(), &err.to_string())
    }
}

/// The transport refusal in the seed's error shape.
impl From<HttpError> for Reply {
    fn from(err: HttpError) -> Self {
        Self::from(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_have_the_seed_shape() {
        let r = Reply::error(&Error::InvalidCredentials, false);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["success"], false);
        assert_eq!(v["error"], "invalid_credentials");
        assert!(v["message"].is_string());
        let r = Reply::error(
            &Error::InvalidToken(crate::error::TokenError::Expired),
            true,
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
        let r = Reply::error(
            &Error::RateLimited {
                retry_after: std::time::Duration::from_secs(42),
            },
            false,
        );
        assert_eq!(r.header("retry-after"), Some("42"));
    }

    #[test]
    fn debug_shows_no_token() {
        let r = Reply::json(200, &serde_json::json!({"token": "secret-token"}))
            .with_header("set-cookie", "assimetria_jwt=secret-token".into());
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("set-cookie"), "{shown}");
    }

    #[test]
    fn host_validation_refusal() {
        let r = Reply::invalid("settings must be a JSON object");
        assert_eq!(r.status, 422);
        assert_eq!(
            r.body,
            br#"{"success":false,"error":"validation_error","message":"settings must be a JSON object"}"#
        );
    }

    #[test]
    fn transport_refusals_have_the_seed_shape() {
        let r = Reply::from(HttpError::PayloadTooLarge);
        assert_eq!(r.status, 413);
        assert!(r.headers.is_empty());
        assert_eq!(
            r.body,
            br#"{"success":false,"error":"payload_too_large","message":"request body too large"}"#
        );
        let r = Reply::from(&HttpError::MethodNotAllowed);
        assert_eq!(
            r.body,
            br#"{"success":false,"error":"method_not_allowed","message":"method not allowed"}"#
        );
    }
}
