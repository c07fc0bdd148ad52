//! Cursor pagination, the one convention for every list route (docs/api.md): `?limit=N`
//! (1..=500, default 100) and `?cursor=…` from the previous page's `next_cursor`, which is
//! `null` on the last page. Cursors are opaque to clients (base64url of the sort key).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 500;

/// `limit` and `cursor` query parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// Unknown parameters are refused (docs/api.md): a misspelt filter must not be ignored.
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The limit, checked.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "limit {n} is out of range: 1 to {MAX_LIMIT}"
            ))),
        }
    }

    /// The sort key the cursor carries, if any.
    pub fn after(&self) -> Result<Option<String>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request("malformed cursor: pass next_cursor of a previous page")
            })
    }
}

/// The `seq` a cursor of a list ordered by `seq`, newest first, names.
pub fn seq_cursor(query: &PageQuery) -> Result<Option<i64>, ApiError> {
    query
        .after()?
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                ApiError::bad_request("malformed cursor: pass next_cursor of a previous page")
            })
        })
        .transpose()
}

/// The page of `rows` (`(seq, item)`, fetched with one row more than `limit`): the items,
/// and the cursor of the last one when there are more.
pub fn seq_page<T>(mut rows: Vec<(i64, T)>, limit: u32) -> Page<T> {
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|(seq, _)| encode_cursor(&seq.to_string()))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
    }
}

/// A sort key as an opaque cursor.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `sorted` (ascending by `key`) after the query's cursor.
    pub fn of(
        sorted: Vec<T>,
        query: &PageQuery,
        key: impl Fn(&T) -> String,
    ) -> Result<Self, ApiError> {
        let limit = query.limit()? as usize;
        let after = query.after()?;
        let mut items: Vec<T> = sorted
            .into_iter()
            .filter(|t| after.as_deref().is_none_or(|a| key(t).as_str() > a))
            .take(limit + 1)
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|t| encode_cursor(&key(t)))
        } else {
            None
        };
        Ok(Self { items, next_cursor })
    }
}

/// `?limit=N` alone (1 to 200, default 50, newest first): the short lists that need no cursor
/// (reconciliations, reports).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// How many, newest first: 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl LimitQuery {
    /// The limit, checked.
    pub fn limit(&self) -> Result<u32, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if (1..=200).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::bad_request("limit is 1 to 200"))
        }
    }
}
