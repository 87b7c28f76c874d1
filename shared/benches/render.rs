//! Renders per second on one core: every system template in every language, with realistic data
//! (`SystemTemplate::sample_data`), after the one-time parse. Run: `cargo bench -p shared --bench
//! render` (also part of `bench/run`). Target (issue 5): ≥ 200,000 renders/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use shared::model::Language;
use shared::templates;

fn main() {
    let cases: Vec<_> = templates::all()
        .iter()
        .flat_map(|t| {
            let data = t.sample_data();
            Language::ALL.iter().map(move |&l| (t, l, data.clone()))
        })
        .collect();
    // The first render parses every template; it is not part of the rate.
    let first = Instant::now();
    black_box(cases[0].0.render(cases[0].1, &cases[0].2));
    println!(
        "first render (parses all templates): {:.2} ms",
        ms(first.elapsed())
    );

    let mut rates = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut renders = 0u64;
        while start.elapsed() < Duration::from_secs(1) {
            for (template, language, data) in &cases {
                black_box(template.render(*language, black_box(data)));
            }
            renders += cases.len() as u64;
        }
        rates.push(renders as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "renders/s on one thread (title + body + action; {} template×language cases; 5 rounds of 1 s): median {:.0}, min {:.0}, max {:.0}",
        cases.len(),
        rates[2],
        rates[0],
        rates[4]
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
