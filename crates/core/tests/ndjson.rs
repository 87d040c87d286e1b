//! The NDJSON decoder: tolerance rules, error cases, and property tests (any chunking of a
//! body decodes exactly like the whole body; arbitrary bytes never panic).

use genesisdb_core::ndjson::{
    decode_all, EventParser, LineDecoder, LineError, LineParser, RowParser,
};
use genesisdb_core::Event;
use proptest::prelude::*;

const BIG: usize = 1 << 20;

fn chunked<P: LineParser + Clone>(
    body: &[u8],
    cuts: &[usize],
    parser: &P,
    max: usize,
) -> Result<Vec<P::Item>, LineError> {
    let mut p = parser.clone();
    let mut d = LineDecoder::new(max);
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    let mut start = 0;
    for &end in points.iter().chain(std::iter::once(&body.len())) {
        d.feed(&body[start..end], &mut p, &mut out)?;
        start = end;
    }
    d.finish(&mut p, &mut out)?;
    Ok(out)
}

fn events(body: &str) -> Result<Vec<Event>, LineError> {
    decode_all(body.as_bytes(), &mut EventParser, BIG)
}

fn types(body: &str) -> Vec<String> {
    match events(body) {
        Ok(v) => v.into_iter().filter_map(|e| e.r#type).collect(),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn tolerance_rules() {
    // CRLF, blank lines, data: prefix, heartbeats, a last line without newline.
    let body = "{\"type\":\"a\"}\r\n\r\n\n   \ndata: {\"type\":\"b\"}\n{\"payload\":\"\"}\n data:{\"type\":\"c\"}\r\n{\"type\":\"d\"}";
    assert_eq!(types(body), ["a", "b", "c", "d"]);
    assert!(types("").is_empty());
    assert!(types("\n\r\n").is_empty());
    // A payload object that is not exactly a heartbeat is an event.
    assert_eq!(
        events("{\"payload\":\"x\"}\n{\"payload\":\"\",\"type\":\"t\"}\n")
            .map(|v| v.len())
            .ok(),
        Some(2)
    );
}

#[test]
fn garbage_names_the_line() {
    let e = events("{\"type\":\"a\"}\n\nnot json\n{\"type\":\"b\"}\n");
    match e {
        Err(LineError { line, message }) => {
            assert_eq!(line, 3);
            assert!(message.contains("not json"), "{message}");
        }
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
    // Cut mid-line at the end of the body.
    assert_eq!(
        events("{\"type\":\"a\"}\n{\"type\":").err().map(|e| e.line),
        Some(2)
    );
    // Non-object events are refused; rows may be any JSON value.
    assert!(events("[1,2]\n").is_err());
    let rows = decode_all(
        b"1\n\"x\"\nnull\n{\"payload\":\"\"}\n[1]",
        &mut RowParser,
        BIG,
    );
    let rows: Vec<String> = rows
        .map(|r| r.iter().map(|v| v.get().to_owned()).collect())
        .unwrap_or_default();
    assert_eq!(rows, ["1", "\"x\"", "null", "[1]"]);
}

#[test]
fn line_length_is_bounded() {
    let long = format!("{{\"type\":\"{}\"}}\n", "x".repeat(100));
    let r = decode_all(long.as_bytes(), &mut EventParser, 50);
    assert_eq!(r.err().map(|e| e.line), Some(1));
    // A never-ending line fed in small chunks fails as soon as it passes the limit, and the
    // buffer never grows past it.
    let mut d = LineDecoder::new(1000);
    let mut out = Vec::new();
    let mut failed = false;
    for _ in 0..10_000 {
        if d.feed(&[b'a'; 64], &mut EventParser, &mut out).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed);
    assert!(out.is_empty());
    // Exactly at the limit is fine.
    let line = format!("{{\"type\":\"{}\"}}", "y".repeat(40));
    assert!(decode_all(line.as_bytes(), &mut EventParser, line.len()).is_ok());
    assert!(decode_all(line.as_bytes(), &mut EventParser, line.len() - 1).is_err());
}

#[test]
fn utf8_split_across_chunks() {
    let body = "{\"type\":\"é日本🎉\",\"data\":{\"k\":\"ü\"}}\n".as_bytes();
    for cut in 0..=body.len() {
        let r = chunked(body, &[cut], &EventParser, BIG);
        let t = r
            .ok()
            .and_then(|v| v.into_iter().next())
            .and_then(|e| e.r#type);
        assert_eq!(t.as_deref(), Some("é日本🎉"), "cut at {cut}");
    }
}

/// Inputs that once mattered, kept as regression cases.
#[test]
fn regression_corpus() {
    let cases: &[(&[u8], usize)] = &[
        (b"\n", 16),
        (b"\r", 16),
        (b"data:", 16),
        (b"data: \n", 16),
        (b"{}\n{}", 2),
        (b"{}\n{}\n", 1),
        (b"\xff\xfe\n", 16),
        (b"{\"data\":\x00}", 64),
        (b"{\"payload\":\"\"}", 14),
        (b"   {\"id\":null}   ", 64),
    ];
    for (body, max) in cases {
        let whole = decode_all(body, &mut EventParser, *max);
        for cut in 0..=body.len() {
            let r = chunked(body, &[cut], &EventParser, *max);
            assert_eq!(r, whole, "body {body:?} cut {cut}");
        }
    }
}

fn line_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   ".to_owned()),
        Just("{\"payload\":\"\"}".to_owned()),
        Just("not json".to_owned()),
        Just("{\"type\":".to_owned()),
        "[a-zé日🎉 ]{0,12}".prop_map(|s| format!("{{\"type\":\"t\",\"data\":{{\"s\":\"{s}\"}}}}")),
        "[a-z]{1,8}".prop_map(|s| format!("data: {{\"id\":\"{s}\",\"x\":[1,2,{{}}]}}")),
        "[0-9]{1,5}".prop_map(|s| format!("{{\"source\":\"s\",\"n\":{s},\"payload\":\"\"}}")),
    ]
}

proptest! {
    #[test]
    fn any_chunking_equals_whole(
        lines in prop::collection::vec(line_strategy(), 0..12),
        crlf in any::<bool>(),
        trailing in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max in prop_oneof![Just(BIG), 8usize..80],
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let mut body = lines.join(sep);
        if trailing {
            body.push_str(sep);
        }
        let whole = decode_all(body.as_bytes(), &mut EventParser, max);
        let parts = chunked(body.as_bytes(), &cuts, &EventParser, max);
        prop_assert_eq!(&parts, &whole);
        let whole_rows = decode_all(body.as_bytes(), &mut RowParser, max)
            .map(|v| v.iter().map(|r| r.get().to_owned()).collect::<Vec<_>>());
        let part_rows = chunked(body.as_bytes(), &cuts, &RowParser, max)
            .map(|v| v.iter().map(|r| r.get().to_owned()).collect::<Vec<_>>());
        prop_assert_eq!(part_rows, whole_rows);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        max in 1usize..400,
    ) {
        let whole = decode_all(&body, &mut EventParser, max);
        let parts = chunked(&body, &cuts, &EventParser, max);
        prop_assert_eq!(parts, whole);
        let _ = decode_all(&body, &mut RowParser, max);
    }
}
