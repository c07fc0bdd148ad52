//! Budgets, enforced: an in-memory gate every provider hop passes before it is tried
//! (agents, both gateway dialects, streaming or not; cache hits never reach it), holding
//! each budget's spent and reserved amounts for its current period.
//!
//! How a call is held: [`Gate::reserve`] finds the budgets covering the hop (scope keys all
//! match, the period is current, a free model only if `include_free`), computes the hop's
//! maximum cost (prompt tokens + max output tokens at the current price), and under one
//! lock refuses it if `spent + reserved + max > limit` for a blocking budget, or adds
//! `max` to every covering budget's `reserved`. The [`Hold`] settles with the real cost
//! when the call's ledger row is written (or releases its reservation when dropped: a
//! failed hop, a cancelled call), so concurrent calls can overshoot a limit only by what
//! their estimates missed, never by the reservations in flight.
//!
//! What survives a crash: reservations are memory only. At start (and for a budget that is
//! new or changed on reload) `spent` is read from the rollups, which hold every committed
//! call, so a killed node leaves no stale reservation behind.
//! Alerts: a threshold crossed (or a call refused) fires once per budget and period; the
//! alerts task writes it (`budget_alerts`, `INSERT OR IGNORE`) with its feed event, so a
//! restart does not fire it again.
//!
//! Must never: do I/O or wait under the lock (the call path pays ~1 µs); charge a cache hit.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::period::{self, BucketSize};
use super::query::{self, CostFilter};
use super::settings::{BudgetAction, BudgetConfig, BudgetPeriod, Unpriced, WeekStart, parse_zone};
use crate::clock::SharedClock;
use crate::config::{Config, ConfigHandle};
use crate::providers::neutral::{ChatRequest, ContentPart};
use crate::providers::prices::Price;
use crate::store::{Store, StoreError};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Spent reached `threshold` % of the limit.
    Threshold,
    /// A blocking budget refused a call.
    Blocked,
    /// The burn forecast reaches the limit before the period ends.
    Projected,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Threshold => "threshold",
            Self::Blocked => "blocked",
            Self::Projected => "projected",
        }
    }

    /// The kind stored as `s` (`threshold` for anything unknown).
    pub fn parse(s: &str) -> Self {
        match s {
            "blocked" => Self::Blocked,
            "projected" => Self::Projected,
            _ => Self::Threshold,
        }
    }
}

/// A budget alert (the `costs` feed event, the webhook's body, a `budget_alerts` row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetAlert {
    pub budget: String,
    pub kind: AlertKind,
    /// % of the limit (100 for `blocked`).
    pub threshold: u32,
    pub period_start: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<DateTime<Utc>>,
    #[schema(value_type = String)]
    pub spent: Decimal,
    #[schema(value_type = String)]
    pub limit_usd: Decimal,
    pub action: BudgetAction,
    pub fired_at: DateTime<Utc>,
    /// What it means, for people.
    pub message: String,
}

/// Who and what a hop is, for the scope keys.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub client: &'a str,
    pub agent: Option<&'a str>,
    pub route: Option<&'a str>,
    pub provider: &'a str,
    pub model: &'a str,
    pub tags: &'a [String],
}

/// Why a hop was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The budget would be exceeded.
    Exceeded {
        budget: String,
        limit: Decimal,
        spent: Decimal,
        reserved: Decimal,
        needed: Decimal,
        /// When its period resets (none for a fixed window).
        resets_at: Option<DateTime<Utc>>,
    },
    /// The model has no price and a blocking budget covers it (`[costs] unpriced = "refuse"`).
    PriceUnknown { budget: String },
}

impl Refusal {
    pub fn message(&self, provider: &str, model: &str) -> String {
        match self {
            Self::Exceeded {
                budget,
                limit,
                spent,
                reserved,
                needed,
                resets_at,
            } => format!(
                "budget `{budget}` would be exceeded: ${} spent and ${} reserved of ${}; this call to {provider}/{model} may cost up to ${}{}",
                spent.round_dp(6).normalize(),
                reserved.round_dp(6).normalize(),
                limit.normalize(),
                needed.round_dp(6).normalize(),
                match resets_at {
                    Some(t) => format!(" (it resets at {})", t.to_rfc3339()),
                    None => " (a fixed window: raise the limit to continue)".into(),
                }
            ),
            Self::PriceUnknown { budget } => format!(
                "{provider}/{model} has no price, so budget `{budget}` cannot hold it: set [prices.\"{provider}/{model}\"] (or [costs] unpriced = \"allow\")"
            ),
        }
    }

    /// The budget it names.
    pub fn budget(&self) -> &str {
        match self {
            Self::Exceeded { budget, .. } | Self::PriceUnknown { budget } => budget,
        }
    }

    pub fn resets_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Exceeded { resets_at, .. } => *resets_at,
            Self::PriceUnknown { .. } => None,
        }
    }
}

/// One budget's live figures.
#[derive(Debug, Clone)]
struct Live {
    name: String,
    def: BudgetConfig,
    /// What identifies the definition (a reload keeps the state of an unchanged budget).
    fingerprint: String,
    limit: Decimal,
    tz: Tz,
    ws: WeekStart,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    spent: Decimal,
    reserved: Decimal,
    unknown_calls: u64,
    fired: BTreeSet<(AlertKind, u32)>,
}

/// The calls a budget covers, as a cost filter.
pub(crate) fn filter_of(def: &BudgetConfig) -> CostFilter {
    CostFilter {
        agent: def.agent.clone(),
        client: def.client.clone(),
        route: def.route.clone(),
        provider: def.provider.clone(),
        model: def.model.clone(),
        node: None,
        tag: def.tag.clone(),
    }
}

/// The period of `def` containing `now`: `None` when a fixed window is not open.
fn period_of(
    def: &BudgetConfig,
    tz: Tz,
    ws: WeekStart,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let size = match def.period {
        BudgetPeriod::Daily => BucketSize::Day,
        BudgetPeriod::Weekly => BucketSize::Week,
        BudgetPeriod::Monthly => BucketSize::Month,
        BudgetPeriod::Fixed => {
            let (f, u) = (def.from?, def.until?);
            return (f <= now && now < u).then_some((f, Some(u)));
        }
    };
    let start = period::floor(now, size, tz, ws);
    Some((start, Some(period::next(start, size, tz))))
}

impl Live {
    fn new(name: &str, def: &BudgetConfig, config: &Config, now: DateTime<Utc>) -> Option<Self> {
        let tz = def
            .time_zone
            .as_deref()
            .and_then(parse_zone)
            .unwrap_or_else(|| config.costs.zone());
        let ws = config.costs.week_start;
        let limit = def.limit_usd.value()?;
        let (start, end) =
            period_of(def, tz, ws, now).unwrap_or((def.from.unwrap_or(now), def.until));
        Some(Self {
            name: name.to_string(),
            fingerprint: format!(
                "{}|{}|{:?}",
                serde_json::to_string(def).unwrap_or_default(),
                tz.name(),
                ws
            ),
            def: def.clone(),
            limit,
            tz,
            ws,
            start,
            end,
            spent: Decimal::ZERO,
            reserved: Decimal::ZERO,
            unknown_calls: 0,
            fired: BTreeSet::new(),
        })
    }

    /// Moves to the period containing `now` when the current one ended: spent starts at 0
    /// (calls still in flight keep their reservations until they settle).
    fn roll(&mut self, now: DateTime<Utc>) {
        if self.def.period == BudgetPeriod::Fixed {
            return;
        }
        if self.end.is_some_and(|e| now >= e)
            && let Some((s, e)) = period_of(&self.def, self.tz, self.ws, now)
        {
            self.start = s;
            self.end = e;
            self.spent = Decimal::ZERO;
            self.unknown_calls = 0;
            self.fired.clear();
        }
    }

    fn active(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && self.end.is_none_or(|e| now < e)
    }

    fn covers(&self, s: &Scope<'_>, free: bool) -> bool {
        let d = &self.def;
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        (!free || d.include_free)
            && eq(&d.client, Some(s.client))
            && eq(&d.agent, s.agent)
            && eq(&d.route, s.route)
            && eq(&d.provider, Some(s.provider))
            && d.model.as_deref().is_none_or(|m| match m.split_once('/') {
                Some((p, m)) => p == s.provider && m == s.model,
                None => m == s.model,
            })
            && d.tag
                .as_deref()
                .is_none_or(|t| s.tags.iter().any(|x| x == t))
    }

    fn blocks(&self) -> bool {
        self.def.action == BudgetAction::Block
    }

    fn filter(&self) -> CostFilter {
        filter_of(&self.def)
    }

    /// Thresholds now crossed and not fired yet (marked fired).
    fn crossed(&mut self, now: DateTime<Utc>) -> Vec<BudgetAlert> {
        let mut out = Vec::new();
        if self.limit <= Decimal::ZERO {
            return out;
        }
        let pct = self.spent * Decimal::from(100) / self.limit;
        let mut thresholds = self.def.thresholds.clone();
        thresholds.sort_unstable();
        thresholds.dedup();
        for t in thresholds {
            if pct >= Decimal::from(t) && self.fired.insert((AlertKind::Threshold, t)) {
                out.push(self.alert(AlertKind::Threshold, t, now));
            }
        }
        out
    }

    fn alert(&self, kind: AlertKind, threshold: u32, now: DateTime<Utc>) -> BudgetAlert {
        let spent = self.spent.round_dp(6).normalize();
        let message = match kind {
            AlertKind::Projected => format!(
                "budget `{}` is projected to run out before its period ends: ${spent} of ${} spent",
                self.name,
                self.limit.normalize()
            ),
            AlertKind::Threshold => format!(
                "budget `{}` reached {threshold}% of ${}: ${spent} spent",
                self.name,
                self.limit.normalize()
            ),
            AlertKind::Blocked => format!(
                "budget `{}` refused a call: ${spent} of ${} spent; calls it covers are blocked until it resets",
                self.name,
                self.limit.normalize()
            ),
        };
        BudgetAlert {
            budget: self.name.clone(),
            kind,
            threshold,
            period_start: self.start,
            period_end: self.end,
            spent: self.spent.normalize(),
            limit_usd: self.limit,
            action: self.def.action,
            fired_at: now,
            message,
        }
    }
}

/// A budget as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BudgetStatus {
    pub name: String,
    pub config: BudgetConfig,
    pub time_zone: String,
    /// Whether the period is open (a fixed window may not have started or be over).
    pub active: bool,
    pub period_start: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<DateTime<Utc>>,
    #[schema(value_type = String)]
    pub limit_usd: Decimal,
    /// Committed calls of the period, USD.
    #[schema(value_type = String)]
    pub spent: Decimal,
    /// Held by calls in flight (their maximum cost).
    #[schema(value_type = String)]
    pub reserved: Decimal,
    /// `limit - spent - reserved` (never below 0).
    #[schema(value_type = String)]
    pub remaining: Decimal,
    /// Calls it covered whose cost is unknown (not in `spent`).
    pub unknown_cost_calls: u64,
    /// `spent / limit`, in %.
    pub percent: f64,
    /// Thresholds that fired this period (with `blocked` and `projected` as their own
    /// entries).
    pub fired: Vec<FiredAlert>,
    /// Spend projected to the period's end and when the limit is reached (`costs::burn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<super::burn::BurnForecast>,
}

/// A fired alert, in a status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FiredAlert {
    pub kind: AlertKind,
    pub threshold: u32,
}

impl Live {
    fn status(&self, now: DateTime<Utc>) -> BudgetStatus {
        use rust_decimal::prelude::ToPrimitive;
        let remaining = (self.limit - self.spent - self.reserved).max(Decimal::ZERO);
        BudgetStatus {
            name: self.name.clone(),
            config: self.def.clone(),
            time_zone: self.tz.name().to_string(),
            active: self.active(now),
            period_start: self.start,
            period_end: self.end,
            limit_usd: self.limit,
            spent: self.spent.normalize(),
            reserved: self.reserved.normalize(),
            remaining: remaining.normalize(),
            unknown_cost_calls: self.unknown_calls,
            percent: (self.spent * Decimal::from(10_000) / self.limit)
                .round()
                .to_f64()
                .unwrap_or(0.0)
                / 100.0,
            fired: self
                .fired
                .iter()
                .map(|(kind, threshold)| FiredAlert {
                    kind: *kind,
                    threshold: *threshold,
                })
                .collect(),
            forecast: None,
        }
    }
}

/// A budget to read from the ledger: (index, scope, period start, period end, name).
type Seed = (
    usize,
    CostFilter,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
);

struct Table {
    /// The config the budgets were built from.
    config: Option<Arc<Config>>,
    budgets: Vec<Live>,
}

struct Inner {
    store: Store,
    clock: SharedClock,
    config: ConfigHandle,
    table: Mutex<Table>,
    alerts: mpsc::UnboundedSender<BudgetAlert>,
}

/// The budgets of one node. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

/// A hop's reservation: settle it with the call's cost, or drop it to release it.
#[derive(Debug)]
pub struct Hold {
    gate: Gate,
    /// (budget name, fingerprint, period start, amount)
    entries: Vec<(String, String, DateTime<Utc>, Decimal)>,
    done: bool,
}

/// A prompt's token count from above without running a tokenizer: a BPE token is at least
/// one byte, plus the chat format's per-message overhead and a worst case per image.
pub fn prompt_upper_bound(request: &ChatRequest) -> u64 {
    let mut n: u64 = 8;
    let len = |s: &str| u64::try_from(s.len()).unwrap_or(u64::MAX);
    for s in &request.system {
        n = n.saturating_add(8 + len(s));
    }
    for m in &request.messages {
        n = n.saturating_add(8);
        for part in &m.content {
            n = n.saturating_add(match part {
                ContentPart::Text { text } => len(text),
                ContentPart::Image { .. } => 1_600,
            });
        }
        for c in &m.tool_calls {
            n = n.saturating_add(8 + len(&c.name) + len(&c.arguments));
        }
    }
    for t in &request.tools {
        n = n.saturating_add(
            8 + len(&t.name)
                + t.description.as_deref().map_or(0, len)
                + len(&t.parameters.to_string()),
        );
    }
    n
}

/// The most a call of `prompt` input tokens and `output` output tokens can cost at `price`:
/// input at the dearest input rate, output at the dearest output rate.
pub fn max_cost(price: &Price, prompt: u64, output: u64) -> Decimal {
    let input = price.input.max(price.cache_write).max(price.cached_input);
    let out = price.output.max(price.reasoning);
    (Decimal::from(prompt) * input + Decimal::from(output) * out) / Decimal::from(1_000_000u32)
}

fn is_free(p: &Price) -> bool {
    [
        p.input,
        p.output,
        p.cached_input,
        p.cache_write,
        p.reasoning,
    ]
    .iter()
    .all(|r| r.is_zero())
}

impl Gate {
    /// The gate, with its budgets read from the rollups; alerts that were crossed but not
    /// recorded (a crash in between) fire now. Spawns the alerts task.
    pub async fn open(
        store: Store,
        clock: SharedClock,
        config: ConfigHandle,
        tracker: &tokio_util::task::TaskTracker,
        cancel: tokio_util::sync::CancellationToken,
        secrets: Option<crate::secrets::SecretStore>,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = Self {
            inner: Arc::new(Inner {
                store: store.clone(),
                clock: clock.clone(),
                config: config.clone(),
                table: Mutex::new(Table {
                    config: None,
                    budgets: Vec::new(),
                }),
                alerts: tx,
            }),
        };
        super::alerts::spawn(
            super::alerts::Sender {
                store,
                clock,
                config,
                secrets,
            },
            rx,
            tracker,
            cancel,
        );
        gate.refresh().await?;
        Ok(gate)
    }

    /// A gate that is not on any call path (the CLI on a stopped node): its alerts go
    /// nowhere.
    pub fn detached(store: Store, clock: SharedClock, config: ConfigHandle) -> Self {
        let (tx, _) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                table: Mutex::new(Table {
                    config: None,
                    budgets: Vec::new(),
                }),
                alerts: tx,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        match self.inner.table.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        }
    }

    /// Rebuilds the budgets from the current config: unchanged ones keep their live state;
    /// new or changed ones read their period's spent from the rollups (and which alerts
    /// fired). Call after the ledger is flushed (start, reload).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let config = self.inner.config.current();
        let now = self.inner.clock.now();
        let mut fresh: Vec<Live> = Vec::new();
        {
            let table = self.lock();
            if table
                .config
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &config))
            {
                return Ok(());
            }
            for (name, def) in &config.budgets {
                let Some(mut live) = Live::new(name, def, &config, now) else {
                    continue;
                };
                if let Some(old) = table
                    .budgets
                    .iter()
                    .find(|b| b.name == *name && b.fingerprint == live.fingerprint)
                {
                    live = old.clone();
                    live.fingerprint = String::new(); // kept: no seeding
                }
                fresh.push(live);
            }
        }
        // Seed the new ones outside the lock.
        let to_seed: Vec<Seed> = fresh
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.fingerprint.is_empty())
            .map(|(i, l)| (i, l.filter(), l.start, l.end, l.name.clone()))
            .collect();
        let seeds = self
            .inner
            .store
            .read(move |db| {
                let mut out = Vec::new();
                for (i, filter, start, end, name) in to_seed {
                    let until = end.unwrap_or(now).max(start);
                    let cells = query::cells(db, &[start, until], None, &filter)?;
                    let (spent, unknown) = cells
                        .first()
                        .map_or((Decimal::ZERO, 0), |c| (c.figures.cost, c.figures.unknown_cost_calls));
                    let fired: Vec<(String, u32)> = db.query_all(
                        "SELECT kind, threshold FROM budget_alerts WHERE budget = ?1 AND period_start = ?2",
                        rusqlite::params![name, crate::store::values::time_to_db(start)],
                        |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.try_into().unwrap_or(0))),
                    )?;
                    out.push((i, spent, unknown, fired));
                }
                Ok::<_, StoreError>(out)
            })
            .await?;
        for (i, spent, unknown, fired) in seeds {
            if let Some(l) = fresh.get_mut(i) {
                l.spent = spent;
                l.unknown_calls = unknown;
                for (kind, t) in fired {
                    let k = AlertKind::parse(&kind);
                    l.fired.insert((k, t));
                }
            }
        }
        let mut alerts = Vec::new();
        {
            let mut table = self.lock();
            // Keep what moved meanwhile for the budgets that were kept.
            for l in &mut fresh {
                if l.fingerprint.is_empty() {
                    if let Some(old) = table.budgets.iter().find(|b| b.name == l.name) {
                        let fp = old.fingerprint.clone();
                        *l = old.clone();
                        l.fingerprint = fp;
                    }
                } else {
                    // Reservations of calls in flight under the old definition carry over.
                    if let Some(old) = table.budgets.iter().find(|b| b.name == l.name) {
                        l.reserved = old.reserved;
                    }
                }
                l.roll(now);
                alerts.extend(l.crossed(now));
            }
            table.budgets = fresh;
            table.config = Some(config);
        }
        for a in alerts {
            let _ = self.inner.alerts.send(a);
        }
        Ok(())
    }

    /// Holds the most `request` can cost on `scope`'s hop against every budget covering it,
    /// or refuses it. `price` is the hop's price now (`None`: unpriced); `max_output` the
    /// output tokens to assume when the request sets no `max_tokens`.
    pub fn reserve(
        &self,
        scope: &Scope<'_>,
        price: Option<&Price>,
        request: &ChatRequest,
    ) -> Result<Option<Hold>, Refusal> {
        let now = self.inner.clock.now();
        let free = price.is_some_and(is_free);
        let mut table = self.lock();
        if table.budgets.is_empty() {
            return Ok(None);
        }
        let unpriced = table
            .config
            .as_ref()
            .map_or(Unpriced::Refuse, |c| c.costs.unpriced);
        let default_out = table
            .config
            .as_ref()
            .map_or(4096, |c| c.costs.default_max_output_tokens);
        let mut covering = Vec::new();
        for (i, b) in table.budgets.iter_mut().enumerate() {
            b.roll(now);
            if b.active(now) && b.covers(scope, free) {
                covering.push(i);
            }
        }
        if covering.is_empty() {
            return Ok(None);
        }
        let output = u64::from(request.max_tokens.unwrap_or(default_out));
        let needed = match price {
            None => {
                if unpriced == Unpriced::Refuse
                    && let Some(b) = covering
                        .iter()
                        .filter_map(|i| table.budgets.get(*i))
                        .find(|b| b.blocks())
                {
                    return Err(Refusal::PriceUnknown {
                        budget: b.name.clone(),
                    });
                }
                Decimal::ZERO
            }
            Some(p) => max_cost(p, prompt_upper_bound(request), output),
        };
        let over = |table: &Table, needed: Decimal| {
            covering
                .iter()
                .filter_map(|i| table.budgets.get(*i))
                .find(|b| b.blocks() && b.spent + b.reserved + needed > b.limit)
                .map(|b| b.name.clone())
        };
        let mut needed = needed;
        if over(&table, needed).is_some()
            && let Some(p) = price
        {
            // The byte bound would refuse: count the prompt exactly (outside the lock),
            // with a margin for other vendors' tokenizers, and look again.
            drop(table);
            let exact = crate::providers::tokens::count_request(request);
            let exact = exact + exact / 10 + 16;
            needed = needed.min(max_cost(p, exact, output));
            table = self.lock();
            for i in &covering {
                if let Some(b) = table.budgets.get_mut(*i) {
                    b.roll(now);
                }
            }
        }
        if let Some(name) = over(&table, needed) {
            let mut alert = None;
            let refusal = match table.budgets.iter_mut().find(|b| b.name == name) {
                Some(b) => {
                    if b.fired.insert((AlertKind::Blocked, 100)) {
                        alert = Some(b.alert(AlertKind::Blocked, 100, now));
                    }
                    Refusal::Exceeded {
                        budget: name,
                        limit: b.limit,
                        spent: b.spent,
                        reserved: b.reserved,
                        needed,
                        resets_at: if b.def.period == BudgetPeriod::Fixed {
                            None
                        } else {
                            b.end
                        },
                    }
                }
                None => Refusal::PriceUnknown { budget: name },
            };
            drop(table);
            if let Some(a) = alert {
                let _ = self.inner.alerts.send(a);
            }
            return Err(refusal);
        }
        let mut entries = Vec::with_capacity(covering.len());
        for i in covering {
            if let Some(b) = table.budgets.get_mut(i) {
                b.reserved += needed;
                entries.push((b.name.clone(), b.fingerprint.clone(), b.start, needed));
            }
        }
        Ok(Some(Hold {
            gate: self.clone(),
            entries,
            done: false,
        }))
    }

    /// Fires the `projected` alert of budget `name` (its burn forecast reaches the limit
    /// before the period ends) with `message`, once per period: whether it fired now.
    pub(crate) fn fire_projected(&self, name: &str, message: String) -> bool {
        let now = self.inner.clock.now();
        let alert = {
            let mut table = self.lock();
            let Some(b) = table.budgets.iter_mut().find(|b| b.name == name) else {
                return false;
            };
            b.roll(now);
            if !b.active(now) || !b.fired.insert((AlertKind::Projected, 100)) {
                return false;
            }
            let mut a = b.alert(AlertKind::Projected, 100, now);
            a.message = message;
            a
        };
        let _ = self.inner.alerts.send(alert);
        true
    }

    /// Whether no budget is configured (the call path's fast way out).
    pub fn is_empty(&self) -> bool {
        self.lock().budgets.is_empty()
    }

    /// Every budget with its figures now.
    pub fn status(&self) -> Vec<BudgetStatus> {
        let now = self.inner.clock.now();
        let mut table = self.lock();
        table
            .budgets
            .iter_mut()
            .map(|b| {
                b.roll(now);
                b.status(now)
            })
            .collect()
    }

    fn release(
        &self,
        entries: &[(String, String, DateTime<Utc>, Decimal)],
        cost: Option<Option<Decimal>>,
    ) {
        let now = self.inner.clock.now();
        let mut alerts = Vec::new();
        {
            let mut table = self.lock();
            for (name, fingerprint, start, amount) in entries {
                let Some(b) = table.budgets.iter_mut().find(|b| b.name == *name) else {
                    continue;
                };
                b.reserved = (b.reserved - *amount).max(Decimal::ZERO);
                b.roll(now);
                if b.start != *start || b.fingerprint != *fingerprint {
                    // Its period is over (it counts there), or the budget was redefined
                    // and read its spent from the ledger since.
                    continue;
                }
                match cost {
                    Some(Some(c)) => {
                        b.spent += c;
                        alerts.extend(b.crossed(now));
                    }
                    Some(None) => b.unknown_calls += 1,
                    None => {}
                }
            }
        }
        for a in alerts {
            let _ = self.inner.alerts.send(a);
        }
    }
}

impl Hold {
    /// The call ended: its cost (`None`: unknown although billed) replaces its reservation.
    pub fn settle(mut self, cost: Option<Decimal>) {
        self.done = true;
        self.gate.release(&self.entries, Some(cost));
    }

    /// The hop ended without a billed answer: the reservation is released.
    pub fn release(mut self) {
        self.done = true;
        self.gate.release(&self.entries, None);
    }

    /// The most the call was held for.
    pub fn amount(&self) -> Decimal {
        self.entries.first().map_or(Decimal::ZERO, |e| e.3)
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.done {
            self.gate.release(&self.entries, None);
        }
    }
}
