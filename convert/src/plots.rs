//! The CE chart of the gate (`*.ce.svg`), drawn with plotters: a binary
//! concern, so the library builds without a plotting dependency.

use std::path::Path;

use nyquist_convert::error::ConvertError;
use nyquist_convert::gate::ModelFigures;
use nyquist_corrupt::Corruption;

/// The SVG of CE per corruption for the models side by side (grouped bars).
pub fn ce_svg(figures: &[ModelFigures], path: &Path) -> Result<(), ConvertError> {
    use plotters::prelude::*;
    let corrs: Vec<Corruption> = Corruption::all()
        .filter(|c| {
            figures
                .iter()
                .any(|f| f.eval.corruptions.get(c).and_then(|x| x.ce).is_some())
        })
        .collect();
    let err = |e: String| ConvertError::Output {
        path: path.into(),
        what: e,
    };
    let ymax = figures
        .iter()
        .flat_map(|f| f.eval.corruptions.values().filter_map(|x| x.ce))
        .fold(1.2f64, f64::max)
        // Headroom above the tallest bar for the legend (top right).
        * 140.0;
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (60 + 46 * corrs.len() as u32, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "CE per corruption (% of the original's error)",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(110)
            .y_label_area_size(45)
            .build_cartesian_2d(0f64..corrs.len() as f64, 0f64..ymax)
            .map_err(|e| err(e.to_string()))?;
        // No x labels from the mesh (it places them at "nice" values, which
        // skipped every other group and drew them over the bars): every
        // corruption's name is written below the axis, centred on its group.
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("CE %")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        let font = ("sans-serif", 12)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK);
        for (i, c) in corrs.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            root.draw(&Text::new(
                c.name().to_string(),
                (px + 6, py + 6),
                font.clone(),
            ))
            .map_err(|e| err(e.to_string()))?;
        }
        let w = 0.8 / figures.len().max(1) as f64;
        for (k, f) in figures.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            chart
                .draw_series(corrs.iter().enumerate().filter_map(|(i, c)| {
                    let ce = f.eval.corruptions.get(c)?.ce? * 100.0;
                    let x0 = i as f64 + 0.1 + k as f64 * w;
                    Some(Rectangle::new([(x0, 0.0), (x0 + w, ce)], color.filled()))
                }))
                .map_err(|e| err(e.to_string()))?
                .label(format!(
                    "{} (mCE {:.1})",
                    f.role,
                    f.eval.mce.unwrap_or(f64::NAN)
                ))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}
