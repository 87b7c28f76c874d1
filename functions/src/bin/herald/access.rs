//! Who may do what: `herald users …` and `herald tokens …` (an admin's token).

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use crate::client::{Client, Failure};
use crate::output::{Shown, cell, key_values, rows, shown, table};

#[derive(Subcommand)]
pub enum Users {
    /// List the users (every page).
    List,
    /// Give a user new roles; their tokens follow at once.
    SetRoles {
        /// UUID, username or `me`.
        user: String,
        /// `admin`, `member`, or both, comma-separated.
        #[arg(value_delimiter = ',', required = true)]
        roles: Vec<String>,
    },
    /// Delete a user: their tokens stop working at once, they leave every recipient list.
    Delete {
        /// UUID, username or `me`.
        user: String,
    },
}

#[derive(Subcommand)]
pub enum Tokens {
    /// List the tokens (never a secret), with when each was last used.
    List,
    /// Revoke a token: it stops working at once.
    Revoke { id: String },
}

const USER_COLUMNS: &[&str] = &["id", "username", "email", "roles", "createdAt"];
const TOKEN_COLUMNS: &[&str] = &[
    "id",
    "userId",
    "permissions",
    "expiresAt",
    "createdAt",
    "lastUsedAt",
];

pub async fn users(c: &Client, command: Users) -> Result<Shown, Failure> {
    match command {
        Users::List => {
            let items = c.all(&c.org_path("/users")).await?;
            let human = table(USER_COLUMNS, &rows(&items, USER_COLUMNS));
            shown(json!(items), human)
        }
        Users::SetRoles { user, roles } => {
            let path = c.org_path(&format!("/users/{user}"));
            let answer = c
                .call(Method::PATCH, &path, Some(json!({"roles": roles})))
                .await?;
            let human = key_values(&answer["data"]);
            shown(answer["data"].clone(), human)
        }
        Users::Delete { user } => {
            let path = c.org_path(&format!("/users/{user}"));
            let answer = c.call(Method::DELETE, &path, None).await?;
            let human = format!("deleted user {}", cell(&answer["data"]["id"]));
            shown(answer["data"].clone(), human)
        }
    }
}

pub async fn tokens(c: &Client, command: Tokens) -> Result<Shown, Failure> {
    match command {
        Tokens::List => {
            let items = c.all(&c.org_path("/tokens")).await?;
            let human = table(TOKEN_COLUMNS, &rows(&items, TOKEN_COLUMNS));
            shown(json!(items), human)
        }
        Tokens::Revoke { id } => {
            let path = c.org_path(&format!("/tokens/{id}"));
            let answer = c.call(Method::DELETE, &path, None).await?;
            let human = format!("revoked token {}", cell(&answer["data"]["id"]));
            shown(answer["data"].clone(), human)
        }
    }
}
