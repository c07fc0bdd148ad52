//! A report as one self-contained HTML file: inline CSS, charts as `data:` PNGs, and a
//! Content-Security-Policy that forbids any request (so a mail client or browser opening it
//! fetches nothing). Rendered with minijinja, HTML auto-escaped.

use base64::Engine as _;
use minijinja::Environment;
use serde_json::{Value, json};

use super::ReportsError;
use super::gather::ReportData;

/// The report's stylesheet (its one `<style>` element).
pub fn inline_style() -> &'static str {
    let start = TEMPLATE.find("<style>").map_or(0, |i| i + "<style>".len());
    let end = TEMPLATE.find("</style>").unwrap_or(start);
    TEMPLATE.get(start..end).unwrap_or_default()
}

/// The CSP source that allows the report's stylesheet and nothing else inline
/// (`'sha256-…'`): the dashboard's and the desktop's CSP carry it, because a report opened
/// from the UI (a `blob:` page) is under the UI's CSP as well as its own.
pub fn style_source() -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(inline_style().as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

const TEMPLATE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
  body { font-family: "DejaVu Sans", system-ui, sans-serif; color: #1f2937; margin: 2rem auto; max-width: 62rem; padding: 0 1rem; line-height: 1.45; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; }
  h2 { font-size: 1.2rem; border-bottom: 1px solid #e5e7eb; padding-bottom: .3rem; margin-top: 2rem; }
  .meta { color: #6b7280; font-size: .9rem; }
  .tiles { display: flex; gap: 1rem; flex-wrap: wrap; }
  .tile { border: 1px solid #e5e7eb; border-radius: .5rem; padding: .7rem 1rem; min-width: 10rem; }
  .tile b { display: block; font-size: 1.3rem; }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: .5rem 0; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #f3f4f6; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .warn { color: #b45309; font-weight: 600; }
  .bad { color: #b91c1c; font-weight: 600; }
  .muted { color: #6b7280; }
  figure { margin: 1rem 0; }
  figure img { max-width: 100%; height: auto; border: 1px solid #e5e7eb; }
  figcaption { font-size: .85rem; color: #6b7280; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="meta">{{ from }} to {{ until }} ({{ time_zone }}) · node {{ node_id }} · generated {{ generated_at }}</p>

<h2>Spend</h2>
<div class="tiles">
  <div class="tile">Spend<b>{{ spend }}</b><span class="muted">{{ change }}</span></div>
  <div class="tile">Calls<b>{{ calls }}</b>{% if unknown_cost_calls %}<span class="warn">{{ unknown_cost_calls }} of unknown cost</span>{% endif %}</div>
  <div class="tile">Approvals requested<b>{{ approvals.requested }}</b><span class="muted">{{ approvals.decided_total }} decided</span></div>
  <div class="tile">Health incidents<b>{{ incidents|length }}</b></div>
  {% if score %}<div class="tile">Health score<b>{{ score }}</b><span class="muted">{{ score_change }}</span></div>{% endif %}
</div>
{% for f in figures %}{% if f.section == "spend" %}<figure><img alt="{{ f.caption }}" src="{{ f.src }}" width="{{ f.width }}" height="{{ f.height }}"><figcaption>{{ f.caption }}</figcaption></figure>{% endif %}{% endfor %}
<table><tr><th>Top agents</th><th class="n">Spend</th><th class="n">Calls</th></tr>
{% for s in top_agents %}<tr><td>{{ s.key }}</td><td class="n">{{ s.cost }}</td><td class="n">{{ s.calls }}</td></tr>{% else %}<tr><td colspan="3" class="muted">No agent calls</td></tr>{% endfor %}
</table>
<table><tr><th>Top models</th><th class="n">Spend</th><th class="n">Calls</th></tr>
{% for s in top_models %}<tr><td>{{ s.key }}</td><td class="n">{{ s.cost }}</td><td class="n">{{ s.calls }}</td></tr>{% else %}<tr><td colspan="3" class="muted">No calls</td></tr>{% endfor %}
</table>

<h2>Budgets</h2>
{% if budgets %}<p class="muted">As they stood when the report was made ({{ generated_at }}): each budget's current period.</p>
<table><tr><th>Budget</th><th class="n">Spent</th><th class="n">Limit</th><th class="n">Used</th><th>Period ends</th><th>Projection</th></tr>
{% for b in budgets %}<tr><td>{{ b.name }}</td><td class="n">{{ b.spent }}</td><td class="n">{{ b.limit }}</td><td class="n">{{ b.percent }}</td><td>{{ b.end }}</td><td class="{{ b.class }}">{{ b.projection }}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">No budgets configured.</p>{% endif %}
{% for f in figures %}{% if f.section == "budget" %}<figure><img alt="{{ f.caption }}" src="{{ f.src }}" width="{{ f.width }}" height="{{ f.height }}"><figcaption>{{ f.caption }}</figcaption></figure>{% endif %}{% endfor %}

<h2>Approvals</h2>
<table><tr><th>Requested</th><th>Decided</th><th class="n">Median wait</th><th class="n">95th percentile</th><th class="n">SLA breaches</th><th class="n">Still pending</th></tr>
<tr><td>{{ approvals.requested }} ({{ approvals.by_risk }})</td><td>{{ approvals.decided }}</td><td class="n">{{ approvals.p50 }}</td><td class="n">{{ approvals.p95 }}</td><td class="n">{{ approvals.breaches }}</td><td class="n">{{ approvals.pending }}</td></tr>
</table>

<h2>Health incidents</h2>
{% if incidents %}<table><tr><th>When</th><th>Dependency</th><th>Change</th><th>Message</th></tr>
{% for i in incidents %}<tr><td>{{ i.at }}</td><td>{{ i.dependency }}</td><td class="{{ i.class }}">{{ i.change }}</td><td>{{ i.message }}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">No dependency changed status.</p>{% endif %}

<h2>KPIs and forecasts</h2>
{% if kpis %}<table><tr><th>Series</th><th class="n">Last</th><th>Model</th><th>Next (80 % interval)</th><th class="n">Coverage 80 %</th><th>Anomalies in the period</th></tr>
{% for k in kpis %}<tr><td>{{ k.name }}</td><td class="n">{{ k.last }}</td><td>{{ k.model }}</td><td>{{ k.next }}</td><td class="n">{{ k.coverage }}</td><td class="{{ k.class }}">{{ k.anomalies }}</td></tr>{% endfor %}
</table>{% endif %}
{% for f in figures %}{% if f.section == "kpi" %}<figure><img alt="{{ f.caption }}" src="{{ f.src }}" width="{{ f.width }}" height="{{ f.height }}"><figcaption>{{ f.caption }}</figcaption></figure>{% endif %}{% endfor %}
{% if goals %}<h2>Goals</h2><table><tr><th>Goal</th><th>Series</th><th class="n">Target</th><th>Due</th><th class="n">Progress</th><th class="n">Probability</th></tr>
{% for g in goals %}<tr><td>{{ g.name }}</td><td>{{ g.series }}</td><td class="n">{{ g.target }}</td><td>{{ g.due }}</td><td class="n">{{ g.progress }}</td><td class="n {{ g.class }}">{{ g.probability }}</td></tr>{% endfor %}
</table>{% endif %}
{% if contributions %}<h2>Health score</h2><table><tr><th>KPI</th><th class="n">Value</th><th class="n">Target</th><th class="n">Weight</th><th class="n">Points</th><th class="n">Lost</th></tr>
{% for c in contributions %}<tr><td>{{ c.series }}</td><td class="n">{{ c.value }}</td><td class="n">{{ c.target }}</td><td class="n">{{ c.weight }}</td><td class="n">{{ c.points }}</td><td class="n">{{ c.lost }}</td></tr>{% endfor %}
</table>{% endif %}
</body>
</html>
"#;

/// The report's lines as text: shared by the HTML and the PDF.
pub(crate) fn context_of(d: &ReportData) -> Value {
    let usd = |v: &rust_decimal::Decimal| format!("${}", v.round_dp(2));
    let t = |x: chrono::DateTime<chrono::Utc>| x.format("%Y-%m-%d %H:%M UTC").to_string();
    let num = |v: f64| {
        if v.abs() >= 1000.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    let change = d.spend_change_pct().map_or_else(
        || "no spend the period before".to_string(),
        |c| format!("{c:+.1} % on the period before"),
    );
    let budgets: Vec<Value> = d
        .budgets
        .iter()
        .map(|b| {
            let (projection, class) = match b.forecast.as_ref() {
                Some(f) => match (&f.end, &f.exhaustion) {
                    (Some(end), Some(e)) => {
                        let runs = match e.status {
                            crate::costs::burn::ExhaustionStatus::Exhausted => {
                                ("exhausted".to_string(), "bad")
                            }
                            crate::costs::burn::ExhaustionStatus::Projected => (
                                format!(
                                    "runs out ~{} (95 %: {} to {})",
                                    e.at.map(t).unwrap_or_default(),
                                    e.earliest95.map(t).unwrap_or_default(),
                                    e.latest95.map_or_else(|| "after the period".to_string(), t)
                                ),
                                "warn",
                            ),
                            crate::costs::burn::ExhaustionStatus::NotWithinPeriod => {
                                ("not projected to run out".to_string(), "")
                            }
                        };
                        (
                            format!(
                                "${:.2} by the end (80 %: ${:.2}-${:.2}); {}",
                                end.mean, end.lo80, end.hi80, runs.0
                            ),
                            runs.1,
                        )
                    }
                    _ => (format!("no projection: {}", f.reason), "muted"),
                },
                None => ("no projection".to_string(), "muted"),
            };
            json!({
                "name": b.name, "spent": usd(&b.spent), "limit": usd(&b.limit_usd),
                "percent": format!("{:.1} %", b.percent),
                "end": b.period_end.map(t).unwrap_or_else(|| "-".into()),
                "projection": projection, "class": class,
            })
        })
        .collect();
    let a = &d.approvals;
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let secs = |s: Option<f64>| {
        s.map_or_else(
            || "-".to_string(),
            |s| {
                if s >= 3600.0 {
                    format!("{:.1} h", s / 3600.0)
                } else if s >= 60.0 {
                    format!("{:.1} min", s / 60.0)
                } else {
                    format!("{s:.0} s")
                }
            },
        )
    };
    let incidents: Vec<Value> = d
        .incidents
        .iter()
        .map(|i| {
            let to = i.to.as_str();
            json!({
                "at": t(i.at), "dependency": i.dependency,
                "change": format!("{} → {}", i.from.map_or("-", |f| f.as_str()), to),
                "message": i.message.clone().unwrap_or_default(),
                "class": if to == "down" { "bad" } else if to == "degraded" { "warn" } else { "" },
            })
        })
        .collect();
    let kpis: Vec<Value> = d
        .kpis
        .iter()
        .map(|k| {
            json!({
                "name": k.name,
                "last": k.last.map(num).unwrap_or_else(|| "-".into()),
                "model": k.model.clone().or_else(|| k.note.clone()).unwrap_or_default(),
                "next": k.next.map(|(ds, m, lo, hi)| format!("{}: {} ({} to {})", ds.format("%Y-%m-%d"), num(m), num(lo), num(hi))).unwrap_or_else(|| "-".into()),
                "coverage": k.coverage80.map(|c| format!("{:.0} %", c * 100.0)).unwrap_or_else(|| "-".into()),
                "anomalies": if k.anomalies.is_empty() { "none".to_string() } else {
                    k.anomalies.iter().map(|a| format!("{}: {} (expected {})", a.ds.format("%Y-%m-%d %H:%M"), num(a.value), num(a.expected))).collect::<Vec<_>>().join("; ")
                },
                "class": if k.anomalies.is_empty() { "" } else { "warn" },
            })
        })
        .collect();
    let goals: Vec<Value> = d
        .goals
        .iter()
        .map(|g| {
            json!({
                "name": g.name, "series": g.series, "target": num(g.target),
                "due": g.due.format("%Y-%m-%d").to_string(),
                "progress": g.progress.map(|p| format!("{:.0} %", p * 100.0)).unwrap_or_else(|| "-".into()),
                "probability": g.probability.map(|p| format!("{:.0} %", p * 100.0)).unwrap_or_else(|| "-".into()),
                "class": if g.at_risk { "warn" } else { "" },
            })
        })
        .collect();
    let contributions: Vec<Value> = d
        .score
        .as_ref()
        .map(|s| {
            s.contributions
                .iter()
                .map(|c| {
                    json!({
                        "series": c.series, "value": c.value.map(num).unwrap_or_else(|| "no data".into()),
                        "target": num(c.target), "weight": num(c.weight),
                        "points": format!("{:.1}", c.points), "lost": format!("{:.1}", c.lost),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let spender =
        |s: &crate::costs::Spender| json!({"key": s.key, "cost": usd(&s.cost), "calls": s.calls});
    json!({
        "title": d.title,
        "from": t(d.from), "until": t(d.until), "time_zone": d.time_zone,
        "generated_at": t(d.generated_at), "node_id": d.node_id,
        "spend": usd(&d.spend), "change": change, "calls": d.calls,
        "unknown_cost_calls": d.unknown_cost_calls,
        "top_agents": d.top_agents.iter().map(spender).collect::<Vec<_>>(),
        "top_models": d.top_models.iter().map(spender).collect::<Vec<_>>(),
        "budgets": budgets,
        "approvals": {
            "requested": a.requested, "by_risk": join(&a.by_risk), "decided": join(&a.decided),
            "decided_total": a.decided.values().sum::<u64>(),
            "p50": secs(a.time_to_decision_p50_secs), "p95": secs(a.time_to_decision_p95_secs),
            "breaches": a.breaches, "pending": a.pending_at_end,
        },
        "incidents": incidents,
        "kpis": kpis,
        "goals": goals,
        "score": d.score.as_ref().and_then(|s| s.score).map(|s| format!("{s:.0} / 100")),
        "score_change": d.score.as_ref().and_then(|s| s.change).map(|c| format!("{c:+.1} since the point before")).unwrap_or_default(),
        "contributions": contributions,
    })
}

/// The section a figure belongs to, by its caption.
pub(crate) fn section_of(caption: &str) -> &'static str {
    if caption.starts_with("Spend") {
        "spend"
    } else if caption.starts_with("Budget") {
        "budget"
    } else {
        "kpi"
    }
}

/// The report as HTML.
pub fn render(d: &ReportData) -> Result<String, ReportsError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report", TEMPLATE)
        .map_err(|e| ReportsError::Render(e.to_string()))?;
    let figures: Vec<Value> = d
        .figures
        .iter()
        .map(|f| {
            json!({
                "caption": f.caption,
                "section": section_of(&f.caption),
                "src": format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&f.png)),
                "width": f.width,
                "height": f.height,
            })
        })
        .collect();
    let mut ctx = context_of(d);
    if let Some(o) = ctx.as_object_mut() {
        o.insert("figures".into(), Value::Array(figures));
    }
    env.get_template("report")
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))))
        .map_err(|e| ReportsError::Render(e.to_string()))
}
