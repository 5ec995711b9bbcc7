//! The bench's plots, as SVG (plotters, SVG backend only, no font files): the latency
//! distribution at 2,000 events/s and RSS over the soak. Owns drawing only; the numbers come
//! from the run (`main`).

use std::path::Path;

use plotters::prelude::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Histogram of end-to-end latency samples (µs), with the gateway's own percentiles (added
/// latency, from its metrics documents) drawn as vertical lines.
pub fn latency(path: &Path, e2e_us: &[u32], gateway: &[(&str, f64)], title: &str) -> Result<()> {
    let mut sorted = e2e_us.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Ok(());
    }
    // Show up to the 99.9th percentile of the end-to-end samples (the tail beyond is listed in
    // BENCHMARKS.md), and at least every gateway percentile.
    let p999 = sorted[((sorted.len() - 1) as f64 * 0.999) as usize] as f64;
    let gmax = gateway.iter().map(|g| g.1).fold(0.0, f64::max);
    let xmax = (p999.max(gmax) * 1.1).max(10.0);
    let bins = 80usize;
    let width = xmax / bins as f64;
    let mut counts = vec![0u64; bins];
    for &s in &sorted {
        let i = (s as f64 / width) as usize;
        if i < bins {
            counts[i] += 1;
        }
    }
    let total = sorted.len() as f64;
    let share: Vec<f64> = counts.iter().map(|&c| 100.0 * c as f64 / total).collect();
    let ymax = share.iter().copied().fold(0.0, f64::max) * 1.15 + 0.1;

    let root = SVGBackend::new(path, (960, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("latency (µs)")
        .y_desc("share of samples (%)")
        .light_line_style(WHITE)
        .draw()?;
    let blue = RGBColor(70, 110, 180);
    chart
        .draw_series(share.iter().enumerate().map(|(i, &s)| {
            let x0 = i as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width * 0.92, s)], blue.mix(0.7).filled())
        }))?
        .label(format!(
            "end to end: simulator → gateway → broker → display ({} samples)",
            sorted.len()
        ))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], blue.filled()));
    let colours = [
        RGBColor(40, 160, 60),
        RGBColor(230, 140, 0),
        RGBColor(200, 30, 30),
    ];
    for (i, (name, v)) in gateway.iter().enumerate() {
        let c = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(
                vec![(*v, 0.0), (*v, ymax * 0.95)],
                c.stroke_width(2),
            ))?
            .label(format!("gateway added latency {name} = {v:.0} µs"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// RSS (MiB) against events processed (millions), one line per series.
pub fn rss(path: &Path, series: &[(&str, Vec<(f64, f64)>)], title: &str) -> Result<()> {
    let xmax = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(0.001);
    let ymax = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        * 1.25
        + 0.5;
    let root = SVGBackend::new(path, (960, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_desc("events through the pipeline (millions)")
        .y_desc("MiB")
        .light_line_style(WHITE)
        .draw()?;
    let colours = [
        RGBColor(70, 110, 180),
        RGBColor(200, 30, 30),
        RGBColor(40, 160, 60),
    ];
    for (i, (name, points)) in series.iter().enumerate() {
        let c = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
