//! A little formatting in message text, read from what people already type: links
//! (`http://` and `https://` only), `**bold**`, `*italic*` or `_italic_`, `` `code` `` and
//! lines starting with `> ` as a quote. The result is plain data the message row renders
//! as elements and text nodes, never HTML, so a message cannot inject markup; nothing is
//! fetched for a link (no previews), and links open with `rel="noopener noreferrer"`.

/// One run of text within a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    Text(String),
    Bold(String),
    Italic(String),
    Code(String),
    /// An `http(s)` URL, shown as itself.
    Link(String),
}

/// One line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line started with `> `.
    pub quote: bool,
    pub spans: Vec<Span>,
}

/// Characters that end a URL when they are its last one (sentence punctuation).
const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', ')', ']', '\'', '"'];

/// The lines of `text` with their spans.
pub fn lines(text: &str) -> Vec<Line> {
    text.split('\n')
        .map(|line| match line.strip_prefix("> ").or_else(|| (line == ">").then_some("")) {
            Some(rest) => Line { quote: true, spans: spans(rest) },
            None => Line { quote: false, spans: spans(line) },
        })
        .collect()
}

/// The spans of one line.
pub fn spans(line: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = line;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        // Marks count only at a word's edge ("snake_case_name" stays as typed).
        let at_edge = !prev.is_some_and(char::is_alphanumeric);
        let found = link_at(rest).or_else(|| if at_edge { marked_at(rest) } else { None });
        if let Some((span, used)) = found {
            if !plain.is_empty() {
                out.push(Span::Text(std::mem::take(&mut plain)));
            }
            out.push(span);
            prev = rest[..used].chars().next_back();
            rest = &rest[used..];
            continue;
        }
        plain.push(c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    if !plain.is_empty() {
        out.push(Span::Text(plain));
    }
    out
}

/// A URL starting at the beginning of `s`, and how many bytes it takes.
fn link_at(s: &str) -> Option<(Span, usize)> {
    if !(s.starts_with("https://") || s.starts_with("http://")) {
        return None;
    }
    let end = s.find(|c: char| c.is_whitespace() || c == '<' || c == '>').unwrap_or(s.len());
    let url = s[..end].trim_end_matches(TRAILING);
    // Nothing after the scheme: not a link.
    if url.ends_with("//") {
        return None;
    }
    Some((Span::Link(url.to_owned()), url.len()))
}

/// A `**bold**`, `*italic*`, `_italic_` or `` `code` `` run at the start of `s`.
fn marked_at(s: &str) -> Option<(Span, usize)> {
    for (mark, make) in [
        ("**", Span::Bold as fn(String) -> Span),
        ("`", Span::Code as fn(String) -> Span),
        ("*", Span::Italic as fn(String) -> Span),
        ("_", Span::Italic as fn(String) -> Span),
    ] {
        let Some(after) = s.strip_prefix(mark) else { continue };
        let Some(close) = after.find(mark) else { continue };
        let inner = &after[..close];
        // "* not emphasis *", "2 * 3 * 4", "**" alone: left as typed.
        let glued_after = after[close + mark.len()..].starts_with(char::is_alphanumeric);
        if inner.is_empty()
            || inner.starts_with(char::is_whitespace)
            || inner.ends_with(char::is_whitespace)
            || glued_after
        {
            continue;
        }
        return Some((make(inner.to_owned()), mark.len() * 2 + inner.len()));
    }
    None
}
