//! A small `text/event-stream` reader: bytes in, whole events out.

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `event:` (`message` when absent).
    pub event: String,
    /// `id:`, if any.
    pub id: Option<String>,
    /// `data:` lines joined by newlines.
    pub data: String,
}

/// Splits a byte stream into events; keeps partial frames until the rest arrives.
#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
}

impl Parser {
    /// Adds `chunk` and returns the events it completes (keep-alive comments are dropped).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some((end, separator)) = frame_end(&self.buffer) {
            let frame: Vec<u8> = self.buffer.drain(..end + separator).collect();
            if let Some(event) = parse_frame(&String::from_utf8_lossy(&frame[..end])) {
                events.push(event);
            }
        }
        events
    }
}

/// Where the first frame ends (a blank line) and the separator's length.
fn frame_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn parse_frame(frame: &str) -> Option<Event> {
    let mut event = Event::default();
    let mut name = None;
    let mut data: Vec<&str> = Vec::new();
    for line in frame.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_owned()),
            "data" => data.push(value),
            "id" => event.id = Some(value.to_owned()),
            _ => {}
        }
    }
    if name.is_none() && data.is_empty() && event.id.is_none() {
        return None;
    }
    event.event = name.unwrap_or_else(|| "message".to_owned());
    event.data = data.join("\n");
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks() {
        let mut parser = Parser::default();
        assert!(parser.push(b"event: ready\nda").is_empty());
        let events = parser.push(
            b"ta: {}\n\n:keep-alive\n\nevent: post\nid: 01\ndata: {\"id\":\"01\"}\n\nevent: po",
        );
        assert_eq!(
            events,
            vec![
                Event {
                    event: "ready".into(),
                    id: None,
                    data: "{}".into()
                },
                Event {
                    event: "post".into(),
                    id: Some("01".into()),
                    data: "{\"id\":\"01\"}".into()
                },
            ]
        );
        let events = parser.push(b"st\r\ndata: a\r\ndata: b\r\n\r\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "post");
        assert_eq!(events[0].data, "a\nb");
    }

    #[test]
    fn unnamed_events_are_messages_and_comments_are_dropped() {
        let mut parser = Parser::default();
        let events = parser.push(b": ping\n\ndata:x\n\n");
        assert_eq!(
            events,
            vec![Event {
                event: "message".into(),
                id: None,
                data: "x".into()
            }]
        );
    }
}
