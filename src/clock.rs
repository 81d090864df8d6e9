//! Human times: "just now", "5 min ago", "yesterday 14:02", with a ticking clock so
//! relative times stay right while a page is open.

use leptos::prelude::*;

/// The current time in ms, refreshed every 30 s.
#[derive(Clone, Copy)]
pub struct Now(pub RwSignal<f64>);

/// Provides the ticking clock.
pub fn provide() {
    let now = RwSignal::new(js_sys::Date::now());
    leptos::task::spawn_local(async move {
        loop {
            gloo_timers::future::sleep(std::time::Duration::from_secs(30)).await;
            if now.try_set(js_sys::Date::now()).is_some() {
                break;
            }
        }
    });
    provide_context(Now(now));
}

fn date(ms: u64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64))
}

/// The local calendar day of `ms` (days since the epoch in this browser's time zone).
pub fn local_day(ms: u64) -> i64 {
    let offset_ms = date(ms).get_timezone_offset() * 60_000.0;
    ((ms as f64 - offset_ms) / 86_400_000.0).floor() as i64
}

/// What a day separator says: "Today", "Yesterday", else the weekday and date.
pub fn day_label(ms: u64, now: f64) -> String {
    match local_day(now as u64) - local_day(ms) {
        0 => "Today".to_owned(),
        1 => "Yesterday".to_owned(),
        _ => {
            let options = js_sys::Object::new();
            for (k, v) in [("weekday", "long"), ("year", "numeric"), ("month", "long"), ("day", "numeric")] {
                let _ = js_sys::Reflect::set(&options, &k.into(), &v.into());
            }
            date(ms).to_locale_date_string("default", &options).into()
        }
    }
}

/// The full local date and time (for tooltips).
pub fn full(ms: u64) -> String {
    date(ms).to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED).into()
}

/// A short relative time.
pub fn relative(ms: u64, now: f64) -> String {
    let secs = ((now - ms as f64) / 1000.0).max(0.0) as u64;
    let d = date(ms);
    let hm = format!("{:02}:{:02}", d.get_hours(), d.get_minutes());
    match secs {
        0..=44 => "just now".to_owned(),
        45..=3_599 => format!("{} min ago", secs.div_ceil(60)),
        3_600..=43_199 => hm,
        43_200..=172_799 => {
            let today = date(now as u64);
            if today.get_date() == d.get_date() { hm } else { format!("yesterday {hm}") }
        }
        _ => format!("{:04}-{:02}-{:02} {hm}", d.get_full_year(), d.get_month() + 1, d.get_date()),
    }
}
