//! Reading the process's metrics back in unit tests.

/// The value of the `name` series with exactly these labels, from the exposition the workers
/// serve; `None` when there is no such series.
pub(crate) fn counter(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    ticketflow_telemetry::metrics::render()
        .lines()
        .find_map(|line| {
            let (set, value) = line
                .strip_prefix(name)?
                .strip_prefix('{')?
                .split_once("} ")?;
            let got: Vec<&str> = set.split(',').collect();
            let same = got.len() == want.len() && want.iter().all(|w| got.contains(&w.as_str()));
            same.then(|| value.parse().ok()).flatten()
        })
}
