//! Eval results for people: the SVG of error by corruption and severity, one
//! line per result file (the Markdown table is the library's
//! `nyquist_runtime::eval::markdown_table`, which the converter's gate report
//! uses too).

use std::path::Path;

use nyquist_corrupt::Corruption;
use plotters::prelude::*;

use nyquist_runtime::error::{Result, RuntimeError};
use nyquist_runtime::eval::EvalResult;

/// An SVG with one small panel per corruption: top-1 error against severity,
/// one coloured line per result file.
pub fn svg(results: &[(&str, &EvalResult)], path: &Path) -> Result<()> {
    let corrs: Vec<Corruption> = Corruption::all()
        .filter(|c| results.iter().any(|(_, r)| r.corruptions.contains_key(c)))
        .collect();
    let cols = 5usize;
    let rows = corrs.len().div_ceil(cols).max(1);
    let (pw, ph) = (220u32, 170u32);
    let tmp = path.with_extension("svg.tmp");
    let err = |e: String| RuntimeError::Config(format!("{}: {e}", path.display()));
    {
        let root =
            SVGBackend::new(&tmp, (pw * cols as u32, ph * rows as u32 + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let (legend, grid) = root.split_vertically(40);
        for (k, (name, r)) in results.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let name = match r.consistency {
                Some(c) => format!("{name} (shift consistency {:.1}%)", 100.0 * c),
                None => name.to_string(),
            };
            let x = 10 + 330 * k as i32;
            legend
                .draw(&PathElement::new(
                    vec![(x, 20), (x + 30, 20)],
                    color.stroke_width(3),
                ))
                .map_err(|e| err(e.to_string()))?;
            legend
                .draw(&Text::new(name, (x + 36, 13), ("sans-serif", 14)))
                .map_err(|e| err(e.to_string()))?;
        }
        let panels = grid.split_evenly((rows, cols));
        for (c, area) in corrs.iter().zip(panels) {
            let mut chart = ChartBuilder::on(&area)
                .caption(c.name(), ("sans-serif", 13))
                .margin(6)
                .x_label_area_size(18)
                .y_label_area_size(30)
                .build_cartesian_2d(0.5f64..5.5f64, 0.0f64..100.0f64)
                .map_err(|e| err(e.to_string()))?;
            chart
                .configure_mesh()
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .label_style(("sans-serif", 10))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            for (k, (_, r)) in results.iter().enumerate() {
                let Some(x) = r.corruptions.get(c) else {
                    continue;
                };
                let pts: Vec<(f64, f64)> = x
                    .errors
                    .iter()
                    .enumerate()
                    .filter_map(|(s, e)| e.map(|e| (s as f64 + 1.0, 100.0 * e)))
                    .collect();
                let color = Palette99::pick(k).to_rgba();
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(|e| err(e.to_string()))?;
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.filled())))
                    .map_err(|e| err(e.to_string()))?;
            }
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}
