//! Reading costs: totals and breakdowns over a span, by calendar bucket (in the configured
//! zone) and by one dimension, from the rollups plus raw scans of `calls` for the parts of
//! the span the rollups do not cover exactly ([`super::segments`]).
//!
//! Invariants: filters are bound parameters; money is summed exactly (`dec_sum`); a call of
//! unknown cost is counted in `unknown_cost_calls`, never as zero in `cost`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rollup::{ROLLUP_MEASURES, measures};
use super::segments::{Segment, Source, split};
use crate::store::values::{money_from_db, time_to_db};
use crate::store::{Db, StoreError};

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Agent,
    /// The caller: `token:<name>`, `agent:<name>`, `desktop:<user>`.
    Client,
    Route,
    Provider,
    /// `provider/model`.
    Model,
    Node,
    Tag,
}

impl Dimension {
    pub const ALL: [Dimension; 7] = [
        Self::Agent,
        Self::Client,
        Self::Route,
        Self::Provider,
        Self::Model,
        Self::Node,
        Self::Tag,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Client => "client",
            Self::Route => "route",
            Self::Provider => "provider",
            Self::Model => "model",
            Self::Node => "node",
            Self::Tag => "tag",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The key as computed on a rollup table (`rollup`) or on `calls` joined with its tags
    /// as `t`.
    fn expr(self, rollup: bool) -> &'static str {
        match (self, rollup) {
            (Self::Agent, true) => "agent",
            (Self::Agent, false) => "COALESCE(agent, '')",
            (Self::Client, _) => "client",
            (Self::Route, true) => "route",
            (Self::Route, false) => "COALESCE(route, '')",
            (Self::Provider, true) => "provider",
            (Self::Provider, false) => "COALESCE(provider, '')",
            (Self::Model, true) => "CASE WHEN model = '' THEN '' ELSE provider || '/' || model END",
            (Self::Model, false) => {
                "CASE WHEN model IS NULL THEN '' ELSE COALESCE(provider, '') || '/' || model END"
            }
            (Self::Node, _) => "node_id",
            (Self::Tag, true) => "tag",
            (Self::Tag, false) => "t.value",
        }
    }
}

/// Which calls count; every field narrows (`model` is `provider/model` or a bare model).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CostFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl CostFilter {
    /// SQL clauses and their arguments; `rollup` for the rollup tables, else `calls` (with
    /// its tags joined as `t` when `joined`, or tested with EXISTS).
    fn clauses(&self, rollup: bool, joined: bool) -> (Vec<String>, Vec<Value>) {
        let mut c = Vec::new();
        let mut a = Vec::new();
        let mut eq = |dim: Dimension, v: &Option<String>| {
            if let Some(v) = v {
                c.push(format!("{} = ?", dim.expr(rollup)));
                a.push(Value::Text(v.clone()));
            }
        };
        eq(Dimension::Agent, &self.agent);
        eq(Dimension::Client, &self.client);
        eq(Dimension::Route, &self.route);
        eq(Dimension::Provider, &self.provider);
        eq(Dimension::Node, &self.node);
        if let Some(m) = &self.model {
            match m.split_once('/') {
                Some((p, m)) => {
                    c.push(format!(
                        "{} = ? AND {} = ?",
                        Dimension::Provider.expr(rollup),
                        if rollup {
                            "model"
                        } else {
                            "COALESCE(model, '')"
                        }
                    ));
                    a.push(Value::Text(p.to_string()));
                    a.push(Value::Text(m.to_string()));
                }
                None => {
                    c.push(
                        if rollup {
                            "model = ?"
                        } else {
                            "COALESCE(model, '') = ?"
                        }
                        .into(),
                    );
                    a.push(Value::Text(m.clone()));
                }
            }
        }
        if let Some(tag) = &self.tag {
            c.push(if rollup {
                "tag = ?".into()
            } else if joined {
                "t.value = ?".into()
            } else {
                "EXISTS (SELECT 1 FROM json_each(calls.tags) WHERE json_each.value = ?)".into()
            });
            a.push(Value::Text(tag.clone()));
        }
        (c, a)
    }
}

/// Token counts by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

/// What a set of calls adds up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CostFigures {
    pub calls: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    /// In flight when the node stopped: tokens and cost unknown.
    pub unrecorded: u64,
    pub tokens: TokenCounts,
    /// USD, exact, over the calls whose cost is known.
    #[schema(value_type = String)]
    pub cost: Decimal,
    /// Calls that were billed but have no price (or were unrecorded): their cost is
    /// unknown and left out of `cost`, never counted as zero.
    pub unknown_cost_calls: u64,
    /// Calls whose tokens were estimated (the provider reported none).
    pub estimated_calls: u64,
    /// The part of `cost` from estimated tokens.
    #[schema(value_type = String)]
    pub estimated_cost: Decimal,
    pub cache_hits: u64,
    /// What the cache hits would have cost.
    #[schema(value_type = String)]
    pub saved_cost: Decimal,
}

impl CostFigures {
    pub(crate) fn add(&mut self, o: &CostFigures) {
        self.calls += o.calls;
        self.ok += o.ok;
        self.errors += o.errors;
        self.cancelled += o.cancelled;
        self.unrecorded += o.unrecorded;
        self.tokens.input += o.tokens.input;
        self.tokens.output += o.tokens.output;
        self.tokens.cached_input += o.tokens.cached_input;
        self.tokens.cache_write += o.tokens.cache_write;
        self.tokens.reasoning += o.tokens.reasoning;
        self.cost += o.cost;
        self.unknown_cost_calls += o.unknown_cost_calls;
        self.estimated_calls += o.estimated_calls;
        self.estimated_cost += o.estimated_cost;
        self.cache_hits += o.cache_hits;
        self.saved_cost += o.saved_cost;
    }

    /// Reads the 16 measure columns starting at `i`.
    fn read(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        let n = |k: usize| -> rusqlite::Result<u64> {
            Ok(u64::try_from(r.get::<_, Option<i64>>(i + k)?.unwrap_or(0)).unwrap_or(0))
        };
        let d = |k: usize| -> rusqlite::Result<Decimal> {
            match r.get::<_, Option<String>>(i + k)? {
                Some(t) => money_from_db(&t),
                None => Ok(Decimal::ZERO),
            }
        };
        Ok(Self {
            calls: n(0)?,
            ok: n(1)?,
            errors: n(2)?,
            cancelled: n(3)?,
            unrecorded: n(4)?,
            tokens: TokenCounts {
                input: n(5)?,
                output: n(6)?,
                cached_input: n(7)?,
                cache_write: n(8)?,
                reasoning: n(9)?,
            },
            cost: d(10)?,
            unknown_cost_calls: n(11)?,
            estimated_calls: n(12)?,
            estimated_cost: d(13)?,
            cache_hits: n(14)?,
            saved_cost: d(15)?,
        })
    }

    pub(crate) fn normalized(mut self) -> Self {
        self.cost = self.cost.normalize();
        self.estimated_cost = self.estimated_cost.normalize();
        self.saved_cost = self.saved_cost.normalize();
        self
    }
}

/// One cell of a breakdown: a bucket (by its start) and a key of the dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub bucket: usize,
    pub key: String,
    pub figures: CostFigures,
}

impl CostFigures {
    /// `self - o`, for the hours a whole-day row counted outside a span (never below 0:
    /// what is subtracted was added first).
    fn sub(&mut self, o: &CostFigures) {
        let s = |a: &mut u64, b: u64| *a = a.saturating_sub(b);
        s(&mut self.calls, o.calls);
        s(&mut self.ok, o.ok);
        s(&mut self.errors, o.errors);
        s(&mut self.cancelled, o.cancelled);
        s(&mut self.unrecorded, o.unrecorded);
        s(&mut self.tokens.input, o.tokens.input);
        s(&mut self.tokens.output, o.tokens.output);
        s(&mut self.tokens.cached_input, o.tokens.cached_input);
        s(&mut self.tokens.cache_write, o.tokens.cache_write);
        s(&mut self.tokens.reasoning, o.tokens.reasoning);
        self.cost -= o.cost;
        s(&mut self.unknown_cost_calls, o.unknown_cost_calls);
        s(&mut self.estimated_calls, o.estimated_calls);
        self.estimated_cost -= o.estimated_cost;
        s(&mut self.cache_hits, o.cache_hits);
        self.saved_cost -= o.saved_cost;
    }
}

/// The key columns of `by` on a rollup table (`rollup`) or on `calls`, joined with a unit
/// separator into one text ('' for no dimension).
fn key_expr(by: &[Dimension], rollup: bool) -> String {
    match by {
        [] => "''".into(),
        [one] => one.expr(rollup).into(),
        many => many
            .iter()
            .map(|d| d.expr(rollup))
            .collect::<Vec<_>>()
            .join(" || char(31) || "),
    }
}

/// Adds up the calls started in `bounds[i]..bounds[i+1]` for each `i`, by `by` (all in
/// one key `""` when `None`). `bounds` are increasing instants.
pub(crate) fn cells(
    db: &Db<'_>,
    bounds: &[DateTime<Utc>],
    by: Option<Dimension>,
    filter: &CostFilter,
) -> Result<Vec<Cell>, StoreError> {
    let by: Vec<Dimension> = by.into_iter().collect();
    cells_by(db, bounds, &by, filter)
}

/// [`cells`] by several dimensions at once: the key is their values joined by `\u{1f}`.
pub(crate) fn cells_by(
    db: &Db<'_>,
    bounds: &[DateTime<Utc>],
    by: &[Dimension],
    filter: &CostFilter,
) -> Result<Vec<Cell>, StoreError> {
    let ms: Vec<i64> = bounds.iter().map(|b| time_to_db(*b)).collect();
    let tagged = by.contains(&Dimension::Tag) || filter.tag.is_some();
    // Segments inside their bucket are merged into runs and placed by their rows' times;
    // the others (a whole day read for a part of it, and what is subtracted) are read one
    // by one for their bucket.
    let mut runs: BTreeMap<Source, Vec<(i64, i64)>> = BTreeMap::new();
    let mut single: Vec<(usize, Segment)> = Vec::new();
    for (i, w) in ms.windows(2).enumerate() {
        for seg in split(w[0], w[1]) {
            let inside = seg.from >= w[0] && seg.until <= w[1];
            if seg.source == Source::Raw || seg.negative || !inside {
                single.push((i, seg));
                continue;
            }
            let list = runs.entry(seg.source).or_default();
            match list.last_mut() {
                Some(last) if last.1 == seg.from => last.1 = seg.until,
                _ => list.push((seg.from, seg.until)),
            }
        }
    }
    // By tag and filtered by tag at most: the rollups by tag alone (a few rows an hour).
    let by_tag_only = tagged
        && by.iter().all(|d| *d == Dimension::Tag)
        && CostFilter {
            tag: None,
            ..filter.clone()
        } == CostFilter::default();
    let table = |source: Source| match (source, tagged, by_tag_only) {
        (Source::Daily, _, true) => "cost_by_tag_daily",
        (_, _, true) => "cost_by_tag_hourly",
        (Source::Daily, false, _) => "cost_daily",
        (Source::Daily, true, _) => "cost_tag_daily",
        (_, false, _) => "cost_hourly",
        (_, true, _) => "cost_tag_hourly",
    };
    let mut plus: BTreeMap<(usize, String), CostFigures> = BTreeMap::new();
    let mut minus: BTreeMap<(usize, String), CostFigures> = BTreeMap::new();
    let key_roll = key_expr(by, true);
    let (fc, fa) = filter.clauses(true, false);
    let rollup_sql = |source: Source, with_bucket: bool| {
        let mut sql = format!(
            "SELECT {}{key_roll}, {ROLLUP_MEASURES} FROM {} WHERE bucket >= ? AND bucket < ?",
            if with_bucket { "bucket, " } else { "" },
            table(source)
        );
        for c in &fc {
            sql.push_str(" AND ");
            sql.push_str(c);
        }
        sql.push_str(if with_bucket {
            " GROUP BY 1, 2"
        } else {
            " GROUP BY 1"
        });
        sql
    };
    for (source, list) in &runs {
        let sql = rollup_sql(*source, true);
        for (from, until) in list {
            let mut args = vec![Value::Integer(*from), Value::Integer(*until)];
            args.extend(fa.iter().cloned());
            let rows = db.query_all(&sql, rusqlite::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    CostFigures::read(r, 2)?,
                ))
            })?;
            for (bucket, key, f) in rows {
                let i = ms.partition_point(|b| *b <= bucket).saturating_sub(1);
                plus.entry((i, key)).or_default().add(&f);
            }
        }
    }
    let key_raw = key_expr(by, false);
    let (rc, ra) = filter.clauses(false, tagged);
    let raw_sql = {
        let join = if tagged {
            ", json_each(calls.tags) AS t"
        } else {
            ""
        };
        let mut sql = format!(
            "SELECT {key_raw}, {} FROM calls{join} WHERE started_at >= ? AND started_at < ?",
            measures()
        );
        for c in &rc {
            sql.push_str(" AND ");
            sql.push_str(c);
        }
        sql.push_str(" GROUP BY 1");
        sql
    };
    for (i, seg) in single {
        let (sql, extra) = match seg.source {
            Source::Raw => (raw_sql.clone(), &ra),
            s => (rollup_sql(s, false), &fa),
        };
        let mut args = vec![Value::Integer(seg.from), Value::Integer(seg.until)];
        args.extend(extra.iter().cloned());
        let rows = db.query_all(&sql, rusqlite::params_from_iter(args), |r| {
            Ok((r.get::<_, String>(0)?, CostFigures::read(r, 1)?))
        })?;
        let into = if seg.negative { &mut minus } else { &mut plus };
        for (key, f) in rows {
            into.entry((i, key)).or_default().add(&f);
        }
    }
    for (k, f) in &minus {
        if let Some(p) = plus.get_mut(k) {
            p.sub(f);
        }
    }
    Ok(plus
        .into_iter()
        .filter(|(_, f)| f.calls > 0)
        .map(|((bucket, key), figures)| Cell {
            bucket,
            key,
            figures: figures.normalized(),
        })
        .collect())
}

/// The same figures straight from `calls` (no rollups): the reference the rollups are
/// tested against, and the fallback of nothing.
pub(crate) fn scan(
    db: &Db<'_>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    filter: &CostFilter,
) -> Result<CostFigures, StoreError> {
    let join = if filter.tag.is_some() {
        ", json_each(calls.tags) AS t"
    } else {
        ""
    };
    let (rc, ra) = filter.clauses(false, filter.tag.is_some());
    let mut sql = format!(
        "SELECT {} FROM calls{join} WHERE started_at >= ? AND started_at < ?",
        measures()
    );
    for c in &rc {
        sql.push_str(" AND ");
        sql.push_str(c);
    }
    let mut args = vec![
        Value::Integer(time_to_db(from)),
        Value::Integer(time_to_db(until)),
    ];
    args.extend(ra);
    let f = db.query_one(&sql, rusqlite::params_from_iter(args), |r| {
        CostFigures::read(r, 0)
    })?;
    Ok(f.normalized())
}

/// Cost of the tasks that succeeded in the span: how many, what their calls cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskCost {
    /// Tasks that finished `succeeded` in the span and made at least one call.
    pub tasks: u64,
    /// What all their calls cost (whenever the calls ran), USD.
    #[schema(value_type = String)]
    pub cost: Decimal,
    /// `cost / tasks`, to 8 decimals; absent with no task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub per_task: Option<Decimal>,
    /// Calls of those tasks whose cost is unknown (left out of `cost`).
    pub unknown_cost_calls: u64,
}

pub(crate) fn task_cost(
    db: &Db<'_>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    filter: &CostFilter,
) -> Result<TaskCost, StoreError> {
    let (rc, ra) = filter.clauses(false, false);
    let mut sql = format!(
        "SELECT COUNT(DISTINCT task_id), dec_sum(cost), SUM({}) FROM calls \
         WHERE task_id IN (SELECT id FROM tasks WHERE state = 'succeeded' \
           AND finished_at >= ? AND finished_at < ?)",
        super::rollup::UNKNOWN_COST
    );
    for c in &rc {
        sql.push_str(" AND ");
        sql.push_str(c);
    }
    let mut args = vec![
        Value::Integer(time_to_db(from)),
        Value::Integer(time_to_db(until)),
    ];
    args.extend(ra);
    let (tasks, cost, unknown) = db.query_one(&sql, rusqlite::params_from_iter(args), |r| {
        Ok((
            u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
            money_from_db(&r.get::<_, String>(1)?)?,
            u64::try_from(r.get::<_, Option<i64>>(2)?.unwrap_or(0)).unwrap_or(0),
        ))
    })?;
    Ok(TaskCost {
        tasks,
        cost: cost.normalize(),
        per_task: (tasks > 0).then(|| (cost / Decimal::from(tasks)).round_dp(8).normalize()),
        unknown_cost_calls: unknown,
    })
}
