//! The JSON bodies of the endpoint table: what each endpoint reads, and the success bodies it
//! writes (errors have their one shape in [`Reply::error`](super::Reply::error)).

use serde::{Deserialize, Serialize};

use crate::api_key::Environment;
use crate::rbac::Role;
use crate::secret::{Password, RefreshToken, ResetToken, VerificationToken};
use crate::service::UserInfo;

/// `POST /api/auth/login` and `/register` request.
#[derive(Deserialize)]
pub(super) struct Credentials {
    pub(super) email: String,
    pub(super) password: Password,
}

/// `POST /api/auth/refresh` request. The token may be absent only when the refresh cookie is on
/// (it is then read from the cookie).
#[derive(Deserialize)]
pub(super) struct RefreshRequest {
    #[serde(default)]
    pub(super) refresh_token: Option<RefreshToken>,
}

/// `POST /api/auth/forgot-password` request.
#[derive(Deserialize)]
pub(super) struct ForgotRequest {
    pub(super) email: String,
}

/// `POST /api/auth/reset-password` request.
#[derive(Deserialize)]
pub(super) struct ResetRequest {
    pub(super) token: ResetToken,
    pub(super) password: Password,
}

/// `POST /api/auth/change-password` request.
#[derive(Deserialize)]
pub(super) struct ChangePasswordRequest {
    pub(super) current_password: Password,
    pub(super) new_password: Password,
}

/// `POST /api/auth/verify-email` request.
#[derive(Deserialize)]
pub(super) struct VerifyEmailRequest {
    pub(super) token: VerificationToken,
}

/// `POST /api/api-keys` request. The role defaults to viewer and is at most the creator's.
#[derive(Deserialize)]
pub(super) struct CreateApiKeyRequest {
    pub(super) name: String,
    pub(super) environment: Environment,
    #[serde(default)]
    pub(super) role: Option<Role>,
}

/// `PATCH /api/users/{id}` request.
#[derive(Deserialize)]
pub(super) struct SetRoleRequest {
    pub(super) role: Role,
}

/// Login and register: `{"success", "token", "refresh_token", "user"}`; refresh: the same
/// without `user`. `refresh_token` is left out when it travels in its cookie.
#[derive(Serialize)]
pub(super) struct SessionBody<'a> {
    pub(super) success: bool,
    pub(super) token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user: Option<&'a UserInfo>,
}

/// `{"success": true}`.
#[derive(Serialize)]
pub(super) struct Success {
    pub(super) success: bool,
}

/// `{"success": true, "message"}`.
#[derive(Serialize)]
pub(super) struct MessageBody {
    pub(super) success: bool,
    pub(super) message: &'static str,
}

/// `{"success": true, "user", "message"?}`.
#[derive(Serialize)]
pub(super) struct UserBody<'a> {
    pub(super) success: bool,
    pub(super) user: &'a UserInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) message: Option<&'static str>,
}
