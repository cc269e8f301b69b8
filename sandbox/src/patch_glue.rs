//! Patch errors as API errors.

use crate::api_error::ApiError;
use crate::patch::PatchError;

/// The API server's answer to a patch that cannot be applied.
pub fn to_api_error(e: PatchError) -> ApiError {
    ApiError::Status {
        code: e.code(),
        body: e.status_body(),
    }
}
