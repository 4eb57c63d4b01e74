//! The transport's own refusals: routing, body size and body shape. Decided before any flow
//! runs, so they are not [`crate::Error`]s; both kinds reach the client in the seed's error shape
//! (see [`Reply`](super::Reply)).

/// A request refused by the HTTP layer itself. Every variant is a `4xx`; the message is the
/// `Display` text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The path exists but not for this method. `405`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is larger than the configured limit. `413`.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body stream failed before its end. `400`.
    #[error("malformed request: the request body could not be read")]
    UnreadableBody,
    /// The body is not declared as `application/json`. `400`.
    #[error("malformed request: expected Content-Type: application/json")]
    NotJson,
    /// The body is not JSON. `400`.
    #[error("malformed request: the body is not valid JSON")]
    InvalidJson,
    /// The body is JSON but lacks a field or has one of the wrong type. `422`.
    #[error("the JSON body is missing a field or has a field of the wrong type")]
    WrongFields,
}

impl HttpError {
    /// The HTTP status this refusal answers with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::MethodNotAllowed => 405,
            HttpError::PayloadTooLarge => 413,
            HttpError::UnreadableBody | HttpError::NotJson | HttpError::InvalidJson => 400,
            HttpError::WrongFields => 422,
        }
    }

    /// The machine-readable `error` field of the wire body.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::MethodNotAllowed => "method_not_allowed",
            HttpError::PayloadTooLarge => "payload_too_large",
            HttpError::UnreadableBody | HttpError::NotJson | HttpError::InvalidJson => {
                "bad_request"
            }
            HttpError::WrongFields => "validation_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes `crate::Error`'s former transport variants answered with, unchanged.
    #[test]
    fn statuses_codes_and_messages() {
        let cases = [
            (
                HttpError::MethodNotAllowed,
                405,
                "method_not_allowed",
                "method not allowed",
            ),
            (
                HttpError::PayloadTooLarge,
                413,
                "payload_too_large",
                "request body too large",
            ),
            (
                HttpError::UnreadableBody,
                400,
                "bad_request",
                "malformed request: the request body could not be read",
            ),
            (
                HttpError::NotJson,
                400,
                "bad_request",
                "malformed request: expected Content-Type: application/json",
            ),
            (
                HttpError::InvalidJson,
                400,
                "bad_request",
                "malformed request: the body is not valid JSON",
            ),
            (
                HttpError::WrongFields,
                422,
                "validation_error",
                "the JSON body is missing a field or has a field of the wrong type",
            ),
        ];
        for (e, status, code, message) in cases {
            assert_eq!(
                (e.status(), e.code(), e.to_string().as_str()),
                (status, code, message)
            );
        }
    }
}
