//! Test files and the file UI: deterministic incompressible bytes, a BMP image any
//! browser decodes, picking files with the composer's Attach input, waiting for transfers.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

/// Deterministic bytes that do not compress and do not repeat (xorshift64*).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.max(1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A 24-bit BMP (which every browser decodes): a colour gradient with noise, so that any
/// slice of it is unique.
pub fn bmp(width: u32, height: u32) -> Vec<u8> {
    let row = (width * 3).div_ceil(4) * 4;
    let pixels = row * height;
    let mut out = Vec::with_capacity(54 + pixels as usize);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&(54 + pixels).to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&pixels.to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    let noise = pseudo_random(pixels as usize, 99);
    for y in 0..height {
        let start = out.len();
        for x in 0..width {
            let n = noise[(y * row + x * 3) as usize] & 0x1f;
            out.extend_from_slice(&[(x * 255 / width) as u8 ^ n, (y * 255 / height) as u8, 160 ^ n]);
        }
        out.resize(start + row as usize, 0);
    }
    out
}

/// Picks files with the composer's Attach input (several at once).
pub async fn attach(client: &Client, paths: &[&Path]) {
    let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let input = client.find(Locator::Css("#attach-input")).await.expect("the attach input");
    input.send_keys(&list.join("\n")).await.expect("pick files");
}

/// Waits until `n` transfers have completed in this page (the list's running count:
/// finished rows leave the list after a few seconds); fails at once, with the reason, if
/// one failed.
pub async fn wait_transfers_done(client: &Client, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let failed = client.find_all(Locator::Css(".transfer[data-status=\"failed\"]")).await.unwrap_or_default();
        if let Some(f) = failed.first() {
            panic!("a transfer failed: {}", f.text().await.unwrap_or_default());
        }
        let done = match client.find(Locator::Css("#transfers")).await {
            Ok(el) => el.attr("data-completed").await.ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0),
            Err(_) => 0,
        };
        if done >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {done} of {n} transfers completed in {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until a running transfer in this page has done at least `fraction` of its bytes.
pub async fn wait_transfer_progress(client: &Client, fraction: f64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let bars =
            client.find_all(Locator::Css(".transfer[data-status=\"running\"] progress")).await.unwrap_or_default();
        for bar in bars {
            let read = |name: &'static str| {
                let bar = bar.clone();
                async move { bar.attr(name).await.ok().flatten().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) }
            };
            let (value, max) = (read("value").await, read("max").await);
            if max > 0.0 && value / max >= fraction {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no transfer reached {:.0} % within {timeout:?}", fraction * 100.0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
