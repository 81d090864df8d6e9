//! File names that are safe to show and to save under.
//!
//! A shared file's name comes from its uploader, inside the encrypted message, so it is
//! untrusted text. [`safe_file_name`] removes what could make a name lie about itself or
//! escape the download folder: Unicode format characters (general category Cf, which
//! includes the bidirectional controls such as U+202E RIGHT-TO-LEFT OVERRIDE that turn
//! `invoice\u{202E}fdp.exe` into what looks like `invoiceexe.pdf`, and invisible ones
//! such as U+200B and U+FEFF), line and paragraph separators, control characters and
//! path separators. It also trims, refuses names that are only dots, defuses Windows
//! device names and bounds the length (keeping a short extension), so the browser's save
//! dialog and the timeline show exactly the name that will be written.

/// Longest name produced, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 120;
/// Longest name produced, in UTF-8 bytes (file systems allow 255).
pub const MAX_FILE_NAME_BYTES: usize = 240;
/// Longest extension kept whole when a name is shortened, in characters (dot included).
const MAX_KEPT_EXTENSION_CHARS: usize = 16;
/// The name used when nothing usable is left.
pub const FALLBACK_FILE_NAME: &str = "download";

/// Unicode 15.1 general category Cf (format characters), as inclusive ranges.
const FORMAT_RANGES: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// True for a Unicode format character (category Cf): bidi controls, zero-width
/// characters, the byte-order mark, tags and the like. All are invisible or reorder text.
pub fn is_format_char(c: char) -> bool {
    let c = u32::from(c);
    FORMAT_RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Characters dropped without a trace: invisible ones that would change how the rest reads.
fn dropped(c: char) -> bool {
    is_format_char(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters replaced by `_`: controls, path separators and what Windows refuses in names.
fn replaced(c: char) -> bool {
    c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
}

/// Windows device names, which cannot be file names there whatever the extension.
fn is_device_name(stem: &str) -> bool {
    let upper = stem.trim_end().to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit())
}

/// Shortens `name` to the length limits, keeping a short extension whole.
fn bounded(name: &str) -> String {
    let fits = |s: &str| s.chars().count() <= MAX_FILE_NAME_CHARS && s.len() <= MAX_FILE_NAME_BYTES;
    if fits(name) {
        return name.to_owned();
    }
    let ext = match name.rfind('.') {
        Some(dot) if dot > 0 && name[dot..].chars().count() <= MAX_KEPT_EXTENSION_CHARS => &name[dot..],
        _ => "",
    };
    let mut stem: String = name[..name.len() - ext.len()].to_owned();
    while !fits(&format!("{stem}{ext}")) {
        stem.pop();
    }
    let stem = stem.trim_end();
    format!("{stem}{ext}")
}

/// The name to show for, and save, a shared file called `name` (see the module docs).
/// Never empty, never a path, at most [`MAX_FILE_NAME_CHARS`] characters and
/// [`MAX_FILE_NAME_BYTES`] bytes.
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String = name.chars().filter(|&c| !dropped(c)).map(|c| if replaced(c) { '_' } else { c }).collect();
    // Leading dots hide files (and `..` is a parent); trailing dots and spaces are
    // dropped by Windows, which would change the extension the user saw.
    let trimmed = cleaned.trim().trim_start_matches('.').trim_end_matches(['.', ' ']).trim();
    if trimmed.is_empty() {
        return FALLBACK_FILE_NAME.into();
    }
    let stem = trimmed.split('.').next().unwrap_or_default();
    let named = if is_device_name(stem) { format!("_{trimmed}") } else { trimmed.to_owned() };
    bounded(&named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_cannot_disguise_an_extension() {
        assert_eq!(safe_file_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(safe_file_name("photo\u{202D}\u{2066}gpj.scr\u{2069}\u{202C}"), "photogpj.scr");
        for c in ['\u{200B}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{2067}', '\u{FEFF}', '\u{00AD}', '\u{E0041}'] {
            assert_eq!(safe_file_name(&format!("a{c}b.txt")), "ab.txt", "U+{:04X}", u32::from(c));
        }
        assert_eq!(safe_file_name("line\u{2028}break.txt"), "linebreak.txt");
    }

    #[test]
    fn format_ranges_at_their_edges() {
        assert!(is_format_char('\u{202A}') && is_format_char('\u{202E}'));
        assert!(!is_format_char('\u{2029}') && !is_format_char('\u{202F}'));
        assert!(is_format_char('\u{2066}') && is_format_char('\u{206F}'));
        assert!(!is_format_char('\u{2065}') && !is_format_char('\u{2070}'));
        assert!(is_format_char('\u{200B}') && is_format_char('\u{200F}'));
        assert!(!is_format_char('\u{200A}') && !is_format_char('\u{2010}'));
        assert!(is_format_char('\u{E0020}') && is_format_char('\u{E007F}') && !is_format_char('\u{E0080}'));
        // Ordinary letters of right-to-left scripts stay: only the invisible controls go.
        assert_eq!(safe_file_name("שלום.txt"), "שלום.txt");
        assert_eq!(safe_file_name("تقرير.pdf"), "تقرير.pdf");
        assert_eq!(safe_file_name("Übersicht 2024 – final.pdf"), "Übersicht 2024 – final.pdf");
    }

    #[test]
    fn separators_controls_and_dots() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("..\\..\\boot.ini"), "_.._boot.ini");
        assert_eq!(safe_file_name("a\u{0}b\u{7}c\nd\u{1b}[31m.txt"), "a_b_c_d_[31m.txt");
        assert_eq!(safe_file_name("C:report?.txt"), "C_report_.txt");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name("  spaced name.txt  "), "spaced name.txt");
        assert_eq!(safe_file_name("trailing.exe. . "), "trailing.exe");
        assert_eq!(safe_file_name(""), FALLBACK_FILE_NAME);
        assert_eq!(safe_file_name("..."), FALLBACK_FILE_NAME);
        assert_eq!(safe_file_name("\u{202E}\u{200B}"), FALLBACK_FILE_NAME);
        assert_eq!(safe_file_name("CON.txt"), "_CON.txt");
        assert_eq!(safe_file_name("lpt1"), "_lpt1");
        assert_eq!(safe_file_name("COM10.txt"), "COM10.txt");
        assert_eq!(safe_file_name("console.txt"), "console.txt");
    }

    #[test]
    fn length_at_and_past_the_limits() {
        let at = format!("{}.pdf", "a".repeat(MAX_FILE_NAME_CHARS - 4));
        assert_eq!(safe_file_name(&at), at);
        let past = format!("{}.pdf", "a".repeat(MAX_FILE_NAME_CHARS - 3));
        let cut = safe_file_name(&past);
        assert_eq!(cut.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(cut.ends_with(".pdf"), "the extension is kept: {cut}");
        // Multi-byte characters: the byte limit binds first (3 bytes each).
        let wide = format!("{}.txt", "€".repeat(100));
        let cut = safe_file_name(&wide);
        assert!(cut.len() <= MAX_FILE_NAME_BYTES && cut.ends_with(".txt"), "{cut}");
        assert_eq!(cut.len(), MAX_FILE_NAME_BYTES - (MAX_FILE_NAME_BYTES - 4) % 3);
        // A long "extension" is not kept whole.
        let long_ext = format!("x.{}", "y".repeat(300));
        assert_eq!(safe_file_name(&long_ext).chars().count(), MAX_FILE_NAME_CHARS);
        // Removed characters do not count towards the limit.
        let padded = format!("{}{}.pdf", "\u{200B}".repeat(500), "a".repeat(10));
        assert_eq!(safe_file_name(&padded), format!("{}.pdf", "a".repeat(10)));
    }
}
