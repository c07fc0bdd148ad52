//! A report as PDF (krilla): A4 pages, the shipped DejaVu Sans embedded (subset), the same
//! lines as the HTML report and its charts as images, flowing onto a new page when one is
//! full.

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{Point, Size, Transform};
use krilla::image::Image;
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use serde_json::Value;

use super::ReportsError;
use super::gather::ReportData;

const W: f32 = 595.0;
const H: f32 = 842.0;
const MARGIN: f32 = 48.0;

/// One thing to lay out.
enum Block {
    Title(String),
    Heading(String),
    Text(String, Tone),
    Image(Vec<u8>, f32, f32, String),
}

#[derive(Clone, Copy)]
enum Tone {
    Normal,
    Muted,
    Warn,
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The report's blocks in reading order.
fn blocks(d: &ReportData) -> Vec<Block> {
    let c = super::html::context_of(d);
    let mut b = vec![
        Block::Title(d.title.clone()),
        Block::Text(
            format!(
                "{} to {} ({}) · node {} · generated {}",
                s(&c, "from"),
                s(&c, "until"),
                s(&c, "time_zone"),
                s(&c, "node_id"),
                s(&c, "generated_at")
            ),
            Tone::Muted,
        ),
        Block::Heading("Spend".into()),
        Block::Text(
            format!(
                "{} ({}) · {} calls{}",
                s(&c, "spend"),
                s(&c, "change"),
                s(&c, "calls"),
                if d.unknown_cost_calls > 0 {
                    format!(", {} of unknown cost", d.unknown_cost_calls)
                } else {
                    String::new()
                }
            ),
            Tone::Normal,
        ),
    ];
    let figures = |section: &str, out: &mut Vec<Block>| {
        for f in d
            .figures
            .iter()
            .filter(|f| super::html::section_of(&f.caption) == section)
        {
            out.push(Block::Image(
                f.png.clone(),
                f.width as f32,
                f.height as f32,
                f.caption.clone(),
            ));
        }
    };
    figures("spend", &mut b);
    for (label, key) in [("Top agents", "top_agents"), ("Top models", "top_models")] {
        let rows = c[key].as_array().cloned().unwrap_or_default();
        let list = if rows.is_empty() {
            "none".to_string()
        } else {
            rows.iter()
                .map(|r| format!("{} {} ({} calls)", s(r, "key"), s(r, "cost"), s(r, "calls")))
                .collect::<Vec<_>>()
                .join("; ")
        };
        b.push(Block::Text(format!("{label}: {list}"), Tone::Normal));
    }
    b.push(Block::Heading("Budgets".into()));
    let budgets = c["budgets"].as_array().cloned().unwrap_or_default();
    if budgets.is_empty() {
        b.push(Block::Text("No budgets configured.".into(), Tone::Muted));
    } else {
        b.push(Block::Text(
            format!(
                "As they stood when the report was made ({}): each budget's current period.",
                s(&c, "generated_at")
            ),
            Tone::Muted,
        ));
    }
    for r in &budgets {
        let tone = if s(r, "class") == "warn" || s(r, "class") == "bad" {
            Tone::Warn
        } else {
            Tone::Normal
        };
        b.push(Block::Text(
            format!(
                "{}: {} of {} ({}), period ends {}; {}",
                s(r, "name"),
                s(r, "spent"),
                s(r, "limit"),
                s(r, "percent"),
                s(r, "end"),
                s(r, "projection")
            ),
            tone,
        ));
    }
    figures("budget", &mut b);
    b.push(Block::Heading("Approvals".into()));
    let a = &c["approvals"];
    b.push(Block::Text(
        format!(
            "{} requested ({}); decided: {}; median wait {}, 95th percentile {}; {} SLA breach(es); {} still pending",
            s(a, "requested"),
            s(a, "by_risk"),
            s(a, "decided"),
            s(a, "p50"),
            s(a, "p95"),
            s(a, "breaches"),
            s(a, "pending")
        ),
        Tone::Normal,
    ));
    b.push(Block::Heading("Health incidents".into()));
    let incidents = c["incidents"].as_array().cloned().unwrap_or_default();
    if incidents.is_empty() {
        b.push(Block::Text(
            "No dependency changed status.".into(),
            Tone::Muted,
        ));
    }
    for i in &incidents {
        b.push(Block::Text(
            format!(
                "{} {} {} {}",
                s(i, "at"),
                s(i, "dependency"),
                s(i, "change"),
                s(i, "message")
            ),
            if s(i, "class").is_empty() {
                Tone::Normal
            } else {
                Tone::Warn
            },
        ));
    }
    b.push(Block::Heading("KPIs and forecasts".into()));
    for k in c["kpis"].as_array().cloned().unwrap_or_default() {
        b.push(Block::Text(
            format!(
                "{}: last {}; {}; next {}; 80 % coverage {}; anomalies: {}",
                s(&k, "name"),
                s(&k, "last"),
                s(&k, "model"),
                s(&k, "next"),
                s(&k, "coverage"),
                s(&k, "anomalies")
            ),
            if s(&k, "class").is_empty() {
                Tone::Normal
            } else {
                Tone::Warn
            },
        ));
    }
    figures("kpi", &mut b);
    let goals = c["goals"].as_array().cloned().unwrap_or_default();
    if !goals.is_empty() {
        b.push(Block::Heading("Goals".into()));
        for g in goals {
            b.push(Block::Text(
                format!(
                    "{} ({}): {} by {}; progress {}; probability {}",
                    s(&g, "name"),
                    s(&g, "series"),
                    s(&g, "target"),
                    s(&g, "due"),
                    s(&g, "progress"),
                    s(&g, "probability")
                ),
                if s(&g, "class").is_empty() {
                    Tone::Normal
                } else {
                    Tone::Warn
                },
            ));
        }
    }
    let parts = c["contributions"].as_array().cloned().unwrap_or_default();
    if !parts.is_empty() {
        b.push(Block::Heading(format!("Health score {}", s(&c, "score"))));
        for p in parts {
            b.push(Block::Text(
                format!(
                    "{}: {} of target {} (weight {}): {} points, {} lost",
                    s(&p, "series"),
                    s(&p, "value"),
                    s(&p, "target"),
                    s(&p, "weight"),
                    s(&p, "points"),
                    s(&p, "lost")
                ),
                Tone::Normal,
            ));
        }
    }
    b
}

/// Lines of at most `chars` characters, broken at spaces.
fn wrap(text: &str, chars: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > chars {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The report as PDF, and its page count.
pub fn render(d: &ReportData) -> Result<(Vec<u8>, usize), ReportsError> {
    let font = Font::new(super::FONT.to_vec().into(), 0)
        .ok_or_else(|| ReportsError::Render("the report font cannot be read".into()))?;
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(d.title.clone())
            .creator("Flightdeck".into()),
    );
    let blocks = blocks(d);
    // Pages as lists of (y, block) placements, laid out first.
    let mut pages: Vec<Vec<(f32, &Block)>> = vec![Vec::new()];
    let mut y = MARGIN;
    let width = W - 2.0 * MARGIN;
    let height_of = |b: &Block| -> f32 {
        match b {
            Block::Title(t) => wrap(t, 52).len() as f32 * 22.0 + 8.0,
            Block::Heading(_) => 28.0,
            Block::Text(t, _) => wrap(t, 95).len() as f32 * 13.0 + 4.0,
            Block::Image(_, w, h, _) => width * h / w + 22.0,
        }
    };
    for b in &blocks {
        let h = height_of(b);
        // A heading keeps at least a line under it on its page.
        let need = if matches!(b, Block::Heading(_)) {
            h + 40.0
        } else {
            h
        };
        if y + need > H - MARGIN && !pages.last().is_some_and(Vec::is_empty) {
            pages.push(Vec::new());
            y = MARGIN;
        }
        if let Some(p) = pages.last_mut() {
            p.push((y, b));
        }
        y += h;
    }
    let count = pages.len();
    let fill = |r: u8, g: u8, b: u8| Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    };
    for (n, placed) in pages.iter().enumerate() {
        let settings = PageSettings::from_wh(W, H)
            .ok_or_else(|| ReportsError::Render("bad page size".into()))?;
        let mut page = doc.start_page_with(settings);
        let mut surface = page.surface();
        for (y, b) in placed {
            match b {
                Block::Title(t) => {
                    surface.set_fill(Some(fill(17, 24, 39)));
                    for (i, line) in wrap(t, 52).iter().enumerate() {
                        surface.draw_text(
                            Point::from_xy(MARGIN, y + 20.0 + i as f32 * 22.0),
                            font.clone(),
                            17.0,
                            line,
                            false,
                            TextDirection::Auto,
                        );
                    }
                }
                Block::Heading(t) => {
                    surface.set_fill(Some(fill(17, 24, 39)));
                    surface.draw_text(
                        Point::from_xy(MARGIN, y + 20.0),
                        font.clone(),
                        13.0,
                        t,
                        false,
                        TextDirection::Auto,
                    );
                }
                Block::Text(t, tone) => {
                    let (r, g, bl) = match tone {
                        Tone::Normal => (31, 41, 55),
                        Tone::Muted => (107, 114, 128),
                        Tone::Warn => (180, 83, 9),
                    };
                    surface.set_fill(Some(fill(r, g, bl)));
                    for (i, line) in wrap(t, 95).iter().enumerate() {
                        surface.draw_text(
                            Point::from_xy(MARGIN, y + 11.0 + i as f32 * 13.0),
                            font.clone(),
                            9.0,
                            line,
                            false,
                            TextDirection::Auto,
                        );
                    }
                }
                Block::Image(png, w, h, caption) => {
                    let img = Image::from_png(png.clone().into(), true)
                        .map_err(|e| ReportsError::Render(format!("a chart image: {e}")))?;
                    let ih = width * h / w;
                    let size = Size::from_wh(width, ih)
                        .ok_or_else(|| ReportsError::Render("bad image size".into()))?;
                    surface.push_transform(&Transform::from_translate(MARGIN, *y));
                    surface.draw_image(img, size);
                    surface.pop();
                    surface.set_fill(Some(fill(107, 114, 128)));
                    surface.draw_text(
                        Point::from_xy(MARGIN, y + ih + 13.0),
                        font.clone(),
                        8.0,
                        caption,
                        false,
                        TextDirection::Auto,
                    );
                }
            }
        }
        surface.set_fill(Some(fill(156, 163, 175)));
        surface.draw_text(
            Point::from_xy(W - MARGIN - 60.0, H - 24.0),
            font.clone(),
            8.0,
            &format!("page {} of {count}", n + 1),
            false,
            TextDirection::Auto,
        );
        surface.finish();
        page.finish();
    }
    let bytes = doc
        .finish()
        .map_err(|e| ReportsError::Render(format!("the PDF: {e:?}")))?;
    Ok((bytes, count))
}
