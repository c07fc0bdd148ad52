//! Tests of charts: SVG that parses, in both themes; PNG of the asked size that is not
//! blank; an empty chart says why; bad sizes are refused.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::forecast::kpi::{Point, SeriesForecast, SeriesInfo};

fn series_forecast() -> SeriesForecast {
    let start: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
    let points: Vec<(DateTime<Utc>, f64)> = (0..120)
        .map(|i| {
            let w = [1.0, 1.1, 1.2, 1.15, 1.3, 0.6, 0.5][i % 7];
            (start + Duration::days(i as i64), (100.0 + i as f64) * w)
        })
        .collect();
    let s = crate::forecast::series::from_points(points.clone()).unwrap();
    let f = crate::forecast::forecast(&s, 30, None).unwrap();
    SeriesForecast {
        series: SeriesInfo {
            name: "revenue".into(),
            description: String::new(),
            unit: "USD".into(),
            builtin: false,
            points: 120,
            first: Some(start),
            last: points.last().map(|p| p.0),
            last_value: points.last().map(|p| p.1),
            updated_at: None,
            anomalies: 1,
        },
        history: points[30..]
            .iter()
            .map(|(ds, value)| Point {
                ds: *ds,
                value: *value,
            })
            .collect(),
        anomalies: vec![crate::forecast::kpi::Anomaly {
            series: "revenue".into(),
            ds: points[100].0,
            value: points[100].1,
            expected: 1.0,
            lo95: 0.0,
            hi95: 2.0,
            source: crate::forecast::kpi::AnomalySource::Backtest,
            detected_at: start,
        }],
        forecast: f,
    }
}

#[test]
fn svg_parses_and_follows_the_theme() {
    let chart = build::forecast(&series_forecast());
    for (theme, background) in [(Theme::Light, "#FFFFFF"), (Theme::Dark, "#111827")] {
        let svg = String::from_utf8(render(&chart, theme, Format::Svg, 800, 360).unwrap()).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.attribute("width"), Some("800"));
        assert_eq!(root.attribute("height"), Some("360"));
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert!(
            texts.iter().any(|t| t.contains("revenue (USD): forecast")),
            "{texts:?}"
        );
        assert!(texts.iter().any(|t| t.contains("80 % interval")));
        assert!(texts.iter().any(|t| t.contains("anomalies")));
        assert!(svg.to_uppercase().contains(background), "{theme:?}");
        assert!(doc.descendants().any(|n| n.has_tag_name("polygon")));
        assert!(doc.descendants().any(|n| n.has_tag_name("circle")));
    }
}

#[test]
fn png_has_the_asked_size_and_is_not_blank() {
    let chart = build::forecast(&series_forecast());
    let png = render(&chart, Theme::Light, Format::Png, 640, 300).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (640, 300));
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
    let inked = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
    let colours: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    assert!(
        inked * 20 > pixels.len(),
        "{inked} of {} pixels drawn",
        pixels.len()
    );
    assert!(colours.len() > 30, "{} colours", colours.len());
}

#[test]
fn an_empty_chart_says_why_and_bad_sizes_are_refused() {
    let chart = Chart {
        title: "Cumulative spend by agent".into(),
        y_label: "USD".into(),
        layers: vec![],
        empty_message: Some("No spend in this period".into()),
    };
    let svg =
        String::from_utf8(render(&chart, Theme::Dark, Format::Svg, 400, 200).unwrap()).unwrap();
    assert!(svg.contains("No spend in this period"));
    roxmltree::Document::parse(&svg).unwrap();
    assert!(matches!(
        render(&chart, Theme::Light, Format::Png, 10, 10),
        Err(ChartError::BadRequest(_))
    ));
}
