//! How values are stored: the one convention every domain's tables follow (documented in
//! ARCHITECTURE.md).
//!
//! - **Times**: `INTEGER`, milliseconds since the Unix epoch, UTC ([`time_to_db`],
//!   [`time_from_db`]). Integers sort, compare and index correctly; no time zones, no
//!   string formats.
//! - **Money**: `rust_decimal::Decimal` stored exactly as `TEXT` in its canonical form
//!   ([`money_to_db`], [`money_from_db`]); never `REAL`. Sums are done on `Decimal`, in
//!   Rust or in SQL with the functions every connection gets ([`register_functions`]):
//!   `dec_add(a, b)` and the aggregate `dec_sum(x)`; never with SQL `SUM` (which would go
//!   through floating point on text).
//! - **Enums**: their stable snake_case name as `TEXT` with a `CHECK (col IN (...))`
//!   constraint listing the names ([`StoredEnum`]); an unknown name read back is an error,
//!   not a default.
//! - **JSON**: `TEXT` with `CHECK (json_valid(col))`, written only from typed values through
//!   [`json_to_db`], so what is stored always parses.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::StoreError;

/// A time as stored: milliseconds since the epoch.
pub fn time_to_db(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// `at` as it reads back once stored (whole milliseconds), for values that are handed out
/// both before and after a round trip through the database.
pub fn at_stored_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time_to_db(at)).unwrap_or(at)
}

/// A stored time back; out-of-range values are an error (a damaged row, not a panic).
pub fn time_from_db(millis: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Integer,
            format!("time {millis} ms is out of range").into(),
        )
    })
}

/// An amount of money as stored: its canonical decimal text (trailing zeros removed).
pub fn money_to_db(amount: Decimal) -> String {
    amount.normalize().to_string()
}

/// Stored money back, exactly.
pub fn money_from_db(text: &str) -> rusqlite::Result<Decimal> {
    text.parse::<Decimal>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("amount {text:?}: {e}").into(),
        )
    })
}

/// A typed value as a JSON column.
pub fn json_to_db<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Encode {
        what: "JSON column",
        message: e.to_string(),
    })
}

/// An enum stored by its stable snake_case name.
pub trait StoredEnum: Sized + Copy + 'static {
    /// Every value, for CHECK constraints and tests.
    const ALL: &'static [Self];
    fn as_db(self) -> &'static str;

    /// The value named `name`; an unknown name is a conversion error.
    fn from_db(name: &str) -> rusqlite::Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_db() == name)
            .ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    format!("unknown value {name:?}").into(),
                )
            })
    }
}

/// Registers `dec_add(a, b)` (exact sum of two money texts; NULL counts as 0), `dec_neg(x)`
/// (its negation; NULL stays NULL) and the
/// aggregate `dec_sum(x)` (exact sum of a column of money texts, NULLs skipped; `'0'` over
/// no rows) on `conn`. A text that is not a decimal is an SQL error, never a zero.
pub fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::{Aggregate, Context, FunctionFlags};

    /// The amount in argument `i`, read in place (no copy of the text; `'0'`, the most
    /// common amount in the rollups, without parsing).
    fn arg(ctx: &Context<'_>, i: usize) -> rusqlite::Result<Option<Decimal>> {
        use rusqlite::types::ValueRef;
        let text = match ctx.get_raw(i) {
            ValueRef::Null => return Ok(None),
            ValueRef::Text(b) => std::str::from_utf8(b).map_err(|e| {
                rusqlite::Error::UserFunctionError(format!("not an amount: {e}").into())
            })?,
            other => {
                return Err(rusqlite::Error::UserFunctionError(
                    format!("not an amount: a {:?} value", other.data_type()).into(),
                ));
            }
        };
        if text == "0" {
            return Ok(Some(Decimal::ZERO));
        }
        money_from_db(text)
            .map(Some)
            .map_err(|e| rusqlite::Error::UserFunctionError(format!("not an amount: {e}").into()))
    }

    struct Sum;
    impl Aggregate<Decimal, String> for Sum {
        fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Decimal> {
            Ok(Decimal::ZERO)
        }
        fn step(&self, ctx: &mut Context<'_>, acc: &mut Decimal) -> rusqlite::Result<()> {
            if let Some(d) = arg(ctx, 0)? {
                *acc = acc
                    .checked_add(d)
                    .ok_or_else(|| rusqlite::Error::UserFunctionError("amount overflow".into()))?;
            }
            Ok(())
        }
        fn finalize(&self, _: &mut Context<'_>, acc: Option<Decimal>) -> rusqlite::Result<String> {
            Ok(money_to_db(acc.unwrap_or(Decimal::ZERO)))
        }
    }

    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("dec_add", 2, flags, |ctx| {
        let a = arg(ctx, 0)?.unwrap_or(Decimal::ZERO);
        let b = arg(ctx, 1)?.unwrap_or(Decimal::ZERO);
        a.checked_add(b)
            .map(money_to_db)
            .ok_or_else(|| rusqlite::Error::UserFunctionError("amount overflow".into()))
    })?;
    conn.create_scalar_function("dec_neg", 1, flags, |ctx| {
        Ok(arg(ctx, 0)?.map(|d| {
            if d.is_zero() {
                money_to_db(Decimal::ZERO)
            } else {
                money_to_db(-d)
            }
        }))
    })?;
    conn.create_aggregate_function("dec_sum", 1, flags, Sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_at_millisecond_precision() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:11:12.345678Z")
            .unwrap()
            .to_utc();
        let stored = time_to_db(at);
        assert_eq!(stored, 1_796_119_872_345);
        assert_eq!(
            time_from_db(stored).unwrap().to_rfc3339(),
            "2026-12-01T10:11:12.345+00:00"
        );
        assert!(time_from_db(i64::MAX).is_err());
    }

    #[test]
    fn money_is_exact() {
        let price: Decimal = "0.0000375".parse().unwrap();
        let cost = price * Decimal::from(7);
        assert_eq!(money_to_db(cost), "0.0002625");
        assert_eq!(money_from_db("0.0002625").unwrap(), cost);
        assert_eq!(money_to_db("1.500".parse().unwrap()), "1.5");
        assert!(money_from_db("1e999").is_err());
    }
}
