//! Finding a user the way the routes name one.

use uuid::Uuid;

use crate::model::User;
use crate::model::{OrgId, Username};
use crate::ports::store::{StoreResult, UserStore};

/// The user `name` names in `org`: `me` (the caller, `caller`), a UUID, or a username. `None`
/// when there is no such user (or `name` is none of those forms).
pub async fn find(
    users: &dyn UserStore,
    org: &OrgId,
    caller: Uuid,
    name: &str,
) -> StoreResult<Option<User>> {
    if name == "me" {
        users.get_user(org, caller).await
    } else if let Ok(id) = Uuid::parse_str(name) {
        users.get_user(org, id).await
    } else if let Ok(username) = Username::parse(name) {
        users.find_user_by_username(org, &username).await
    } else {
        Ok(None)
    }
}
